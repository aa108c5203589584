"""Running the exit agent as a service: the HTTP API (uvicorn) on the main
thread, the metering tick and the chain watch on worker threads, the metrics
on their own listener. SIGTERM or SIGINT stop it cleanly (interface and egress
policy removed); `kill -9` is survived by the store."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import uvicorn
from prometheus_client import start_http_server

from octravpn.node.agent import ExitAgent, NodeError
from octravpn.node.metrics import registry_for
from octravpn.serving import http_server

log = logging.getLogger("octravpn.node")


def _loop(
    name: str, step: Callable[[], None], every: float, stopping: threading.Event, count_error: Callable[[str], None]
) -> threading.Thread:
    def run() -> None:
        last_failure = None
        while not stopping.wait(every):
            try:
                step()
                last_failure = None
            except Exception as exc:  # the loop must outlive one bad step; a repeated failure is logged once
                count_error(name)
                if repr(exc) != last_failure:
                    log.exception("%s failed", name)
                last_failure = repr(exc)

    return threading.Thread(target=run, name=f"octravpn-{name}", daemon=True)


def serve(agent: ExitAgent, *, metrics_address: tuple[str, int] | None) -> None:
    stopping = threading.Event()
    server: uvicorn.Server | None = None

    def stop(*_) -> None:
        stopping.set()
        if server is not None:
            server.should_exit = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        agent.start()
    except BaseException:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        raise
    loops = [
        _loop("tick", agent.tick, agent.settings.tick_seconds, stopping, agent.count_error),
        _loop("chain", agent.watch_chain, agent.settings.chain_poll_seconds, stopping, agent.count_error),
    ]
    metrics_server = None
    try:
        if metrics_address is not None:
            try:
                metrics_server, _ = start_http_server(
                    metrics_address[1], metrics_address[0], registry=registry_for(agent.collector())
                )
            except OSError as exc:
                raise NodeError(
                    f"cannot serve metrics on {metrics_address[0]}:{metrics_address[1]}: {exc.strerror}"
                ) from exc
        for loop in loops:
            loop.start()
        server = http_server(agent.app(), host=agent.settings.api_host, port=agent.port)
        if not stopping.is_set():
            try:
                server.run()
            except SystemExit:  # uvicorn exits when it cannot bind; say why instead
                pass
            if not server.started and not stopping.is_set():
                raise NodeError(
                    f"cannot serve the handshake API on {agent.settings.api_host}:{agent.port} (TCP): "
                    "is the port taken?"
                )
    finally:
        stopping.set()
        for loop in loops:
            if loop.is_alive():
                loop.join(timeout=30)
        if metrics_server is not None:
            metrics_server.shutdown()
        agent.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("exit stopped: interface and egress policy removed, sessions kept in the store")
