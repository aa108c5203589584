"""Running the indexer: the follower on a worker thread, the API (uvicorn) on the main thread.

SIGTERM or SIGINT stop both; everything committed stays, and the next start
resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import signal
import threading

import uvicorn

from octravpn.errors import OctraVPNError, ServiceError
from octravpn.indexer.api import ChainReader, create_app
from octravpn.indexer.follower import Follower
from octravpn.indexer.queries import Queries
from octravpn.serving import http_server

log = logging.getLogger("octravpn.indexer")


class ServeError(ServiceError):
    """The indexer cannot serve as configured (its address is taken, its chain unreadable)."""


def serve(
    follower: Follower | None,
    queries: Queries,
    chain: ChainReader | None,
    *,
    host: str,
    port: int | None,
    confirmations: int,
    max_lag: int,
) -> None:
    """Follow the chain (when `follower` is given) and serve the API (when `port` is given) until stopped."""
    stopping = threading.Event()
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def following(follower: Follower) -> None:
        try:
            follower.run(stopping)
        except BaseException as exc:  # reported after the API stops: a follower that died must not go unnoticed
            failure.append(exc)
            log.error("indexer stopped following the chain: %s", exc)
            if server is not None:
                server.should_exit = True
            stopping.set()

    def stop(*_) -> None:
        stopping.set()
        if server is not None:
            server.should_exit = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    thread = (
        threading.Thread(target=following, args=(follower,), name="octravpn-follow", daemon=True) if follower else None
    )
    try:
        if thread:
            thread.start()
        if port is None:
            while thread is not None and thread.is_alive() and not stopping.is_set():
                stopping.wait(1)
        else:
            app = create_app(queries, chain, confirmations=confirmations, max_lag=max_lag)
            server = http_server(app, host=host, port=port)
            if not stopping.is_set():
                try:
                    server.run()
                except SystemExit:  # uvicorn exits when it cannot bind; say why instead
                    pass
                if not server.started and not failure and not stopping.is_set():
                    raise ServeError(
                        f"cannot serve the API on {host}:{port}: is the port taken? Choose another with --listen"
                    )
    finally:
        stopping.set()
        if thread and thread.is_alive():
            thread.join(timeout=30)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failure:
        if isinstance(failure[0], OctraVPNError):
            raise failure[0]
        raise ServeError(f"the follower failed: {failure[0]!r}") from failure[0]
