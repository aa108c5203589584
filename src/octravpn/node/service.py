"""Running the exit agent as a service: the HTTP API (uvicorn) on the main
thread, the tick on a worker thread, the metrics on their own listener.
SIGTERM or SIGINT stop it cleanly; `kill -9` is survived by the store."""

from __future__ import annotations

import logging
import threading

import uvicorn
from prometheus_client import start_http_server

from octravpn.node.agent import ExitAgent, NodeError
from octravpn.node.metrics import registry_for

log = logging.getLogger("octravpn.node")


def serve(agent: ExitAgent, *, metrics_address: tuple[str, int] | None) -> None:
    agent.start()
    stopping = threading.Event()

    def ticking() -> None:
        while not stopping.wait(agent.settings.tick_seconds):
            try:
                agent.tick()
            except Exception:  # the loop must outlive one bad tick; the error is logged and counted
                agent.count_error("tick")
                log.exception("tick failed")

    ticker = threading.Thread(target=ticking, name="octravpn-tick", daemon=True)
    metrics_server = None
    try:
        if metrics_address is not None:
            try:
                metrics_server, _ = start_http_server(metrics_address[1], metrics_address[0], registry=registry_for(agent.collector()))
            except OSError as exc:
                raise NodeError(f"cannot serve metrics on {metrics_address[0]}:{metrics_address[1]}: {exc.strerror}") from exc
        ticker.start()
        config = uvicorn.Config(agent.app(), host=agent.settings.api_host, port=agent.port, log_level="warning",
                                lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise NodeError(f"cannot serve the handshake API on {agent.settings.api_host}:{agent.port} (TCP): is the port taken?")
    finally:
        stopping.set()
        if ticker.is_alive():
            ticker.join(timeout=30)
        if metrics_server is not None:
            metrics_server.shutdown()
        agent.stop()
        log.info("exit stopped: interface and egress policy removed, sessions kept in the store")
