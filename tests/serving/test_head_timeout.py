"""A request head that never ends does not hold a connection: every service's server (`serving.http_server`)
closes it after `HEAD_TIMEOUT`, on a fresh connection and on one kept alive after a response. Run here on the
daemon's read socket (a Unix socket anyone on the machine may open), as `octravpn.daemon.run` serves it."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import SimpleNamespace

import pytest

from octravpn.daemon.localapi import build_app
from octravpn.daemon.run import bind
from octravpn.serving import HEAD_TIMEOUT, http_server

# Far longer than HEAD_TIMEOUT: a connection still open then is held for good (uvicorn's own behaviour).
PATIENCE = 10 * HEAD_TIMEOUT


@pytest.fixture
def read_socket(tmp_path):
    """The local API's read socket, served in a thread; stopped (and the socket removed) after the test."""
    path = tmp_path / "octravpnd.sock.read"
    sock = bind(path, mode=0o666, group=None)
    daemon = SimpleNamespace(status=lambda: {"status": "down"})
    server = http_server(build_app(daemon, control=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield path
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
    path.unlink(missing_ok=True)


def _connect(path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(PATIENCE)
    client.connect(str(path))
    return client


def _closed_by_server(client: socket.socket) -> bool:
    """Whether the server closed the connection (reading what it sent first) before PATIENCE ran out."""
    try:
        while chunk := client.recv(4096):
            del chunk
        return True
    except TimeoutError:
        return False


def test_a_head_that_never_ends_is_dropped(read_socket):
    client = _connect(read_socket)
    try:
        client.sendall(b"GET /v1/status HTTP/1.1\r\nHost: local\r\n")  # and never the blank line
        assert _closed_by_server(client)
    finally:
        client.close()


def test_a_kept_alive_connection_whose_next_head_stalls_is_dropped(read_socket):
    """Any byte disarms uvicorn's keep-alive timer: one byte of a next request once held the connection."""
    client = _connect(read_socket)
    try:
        client.sendall(b"GET /v1/status HTTP/1.1\r\nHost: local\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            answer += client.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200") and b'"status":"down"' in answer
        client.sendall(b"G")
        assert _closed_by_server(client)
    finally:
        client.close()
