"""Running octravpnd: the two API sockets on the main thread (uvicorn), the tick and the chain loop on
worker threads. SIGTERM or SIGINT stop it and leave the exit connection in place (interface, routes, kill
switch): a restarted daemon resumes it, and nothing leaks in between. `octravpn down` disconnects.
The mesh is taken down with the daemon: nobody would apply the chain's changes to it meanwhile."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from octravpn.daemon.localapi import build_app
from octravpn.daemon.paths import read_socket
from octravpn.daemon.service import Daemon
from octravpn.errors import ConfigError
from octravpn.serving import http_server

log = logging.getLogger("octravpn.daemon")


def _loop(name: str, step: Callable[[], None], every: float, stopping: threading.Event) -> threading.Thread:
    def run() -> None:
        last_failure = None
        while not stopping.wait(every):
            try:
                step()
                last_failure = None
            except Exception as exc:  # the loop outlives one bad step; a repeated failure is logged once
                if repr(exc) != last_failure:
                    log.exception("%s failed", name)
                last_failure = repr(exc)

    return threading.Thread(target=run, name=f"octravpnd-{name}", daemon=True)


def single_instance(state_dir: Path):
    """An exclusive lock on the state directory for the daemon's lifetime: two daemons never share a state."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = open(state_dir / "daemon.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"another octravpnd uses {state_dir}: stop it first (or give this one --state-dir)") from None
    return handle


def bind(path: Path, *, mode: int, group: int | None) -> socket.socket:
    """A listening Unix socket at `path` with `mode` (and `group`), replacing a stale one left by a crash."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # nobody listens: left over
        else:
            raise ConfigError(f"something already listens on {path}: is another octravpnd running?")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, mode)
    if group is not None:
        os.chown(path, -1, group)
    sock.listen(64)
    return sock


def serve(
    daemon: Daemon, *, control_path: Path, group: int | None, on_ready: Callable[[], None] = lambda: None
) -> None:
    lock = single_instance(daemon.settings.state_dir)
    stopping = threading.Event()
    servers: list[uvicorn.Server] = []

    def stop(*_) -> None:
        stopping.set()
        for server in servers:
            server.should_exit = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    sockets = []
    try:
        daemon.start()
        read_path = read_socket(control_path)
        sockets = [
            (bind(control_path, mode=0o660, group=group), control_path),
            (bind(read_path, mode=0o666, group=None), read_path),
        ]
        servers.extend(http_server(build_app(daemon, control=control)) for control in (True, False))
        loops = [
            _loop("tick", daemon.tick, daemon.settings.tick_seconds, stopping),
            _loop("chain", daemon.chain_step, 0.5, stopping),
            _loop("mesh", daemon.mesh.step, daemon.mesh.settings.step_seconds, stopping),
        ]
        for loop in loops:
            loop.start()
        on_ready()
        log.info("octravpnd: device %s, control %s, status %s", daemon.account.address, control_path, read_path)

        async def main() -> None:
            await asyncio.gather(
                *(server.serve(sockets=[sock]) for server, (sock, _) in zip(servers, sockets, strict=True))
            )

        if not stopping.is_set():
            asyncio.run(main())
        stopping.set()
        for loop in loops:
            loop.join(timeout=15)
        daemon.mesh.stop()
    finally:
        for sock, path in sockets:
            sock.close()
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        daemon.save()
        lock.close()
