"""Run inside a network namespace: TCP and UDP services to probe a filter with (`serve`), and the probe.

python -m tests.acl.netns_services serve SECONDS TCP_PORTS UDP_PORTS   # answers "ok"; stops by itself
python -m tests.acl.netns_services probe tcp|udp HOST PORT            # exit 0 if it answered
python -m tests.acl.netns_services echo SECONDS PORT                  # TCP: echoes on connections kept open
python -m tests.acl.netns_services hold HOST PORT                     # one connection: each stdin line sent, its
                                                                      # echo (or "timeout") printed
`HeldConnection` runs the last two from a test: an echo service in one namespace, one connection to it kept
open from another.
"""

import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _listen(selector, kind: str, port: int, data: str) -> None:
    """A socket of `kind` ("tcp" or "udp") on `port`, each family on its own, registered with `data`."""
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        server = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.bind((host, port))
        if kind == "tcp":
            server.listen()
        selector.register(server, selectors.EVENT_READ, data)


def serve(seconds: float, tcp_ports: list[int], udp_ports: list[int]) -> None:
    selector = selectors.DefaultSelector()
    for port in tcp_ports:
        _listen(selector, "tcp", port, "tcp")
    for port in udp_ports:
        _listen(selector, "udp", port, "udp")
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            if key.data == "tcp":
                connection, _ = key.fileobj.accept()
                connection.sendall(b"ok")
                connection.close()
            else:
                _, peer = key.fileobj.recvfrom(64)
                key.fileobj.sendto(b"ok", peer)


def probe(protocol: str, host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as client:
        client.settimeout(2)
        try:
            client.connect((host, port))
            if protocol == "udp":
                client.send(b"hi")
            return client.recv(2) == b"ok"
        except OSError:
            return False


def echo(seconds: float, port: int) -> None:
    selector = selectors.DefaultSelector()
    _listen(selector, "tcp", port, "listen")
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            if key.data == "listen":
                connection, _ = key.fileobj.accept()
                selector.register(connection, selectors.EVENT_READ, "echo")
                continue
            try:
                data = key.fileobj.recv(64)
            except OSError:
                data = b""
            if data:
                key.fileobj.sendall(data)
            else:
                selector.unregister(key.fileobj)
                key.fileobj.close()


def hold(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(3)
        client.connect((host, port))
        print("connected", flush=True)
        for line in sys.stdin:
            try:
                client.sendall(line.strip().encode())
                print(client.recv(64).decode() or "closed", flush=True)
            except OSError:
                print("timeout", flush=True)


class HeldConnection:
    """The echo service on `port` in namespace `server`, and one TCP connection to it at `address`, opened from
    namespace `client` and kept open; `say` sends a word and answers the echo, or "timeout"."""

    def __init__(self, server: str, client: str, address: str, port: int, *, seconds: int = 90) -> None:
        self.processes: list[subprocess.Popen] = []
        try:
            echo = self._start(server, "echo", str(seconds), str(port))
            assert echo.stdout.readline().strip() == "ready"
            self.held = self._start(client, "hold", address, str(port), stdin=subprocess.PIPE)
            assert self.held.stdout.readline().strip() == "connected"
        except BaseException:
            self.close()
            raise

    def _start(self, namespace: str, *argv: str, stdin=None) -> subprocess.Popen:
        command = ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.acl.netns_services", *argv]
        process = subprocess.Popen(command, cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        return process

    def say(self, word: str) -> str:
        self.held.stdin.write(word + "\n")
        self.held.stdin.flush()
        return self.held.stdout.readline().strip()

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(float(sys.argv[2]), [int(p) for p in sys.argv[3].split(",")], [int(p) for p in sys.argv[4].split(",")])
    elif sys.argv[1] == "echo":
        echo(float(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "hold":
        hold(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(0 if probe(sys.argv[2], sys.argv[3], int(sys.argv[4])) else 1)
