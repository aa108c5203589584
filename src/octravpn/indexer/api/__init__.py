"""The discovery API (FastAPI): exits, tailnets, sessions, operators, stats, health, the tailnets' policy
documents (as their events carry them), and the mesh's mailbox of device announcements; one router per resource.

Every refusal is `octravpn.serving`'s JSON envelope with a 4xx status: bad query or path parameters are 400
(never FastAPI's 422 or a 500), unknown things 404.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI

from octravpn.chain.errors import ChainError
from octravpn.indexer.api import exits, health, mailbox, sessions, tailnets
from octravpn.indexer.api.common import ApiError, ChainReader, Index
from octravpn.indexer.queries import Queries
from octravpn.serving import Answer, BodyGuard, BodyLimits, install_error_handlers

__all__ = ["ChainReader", "create_app"]
# The only body is an announcement: JSON, a few hundred bytes, nested two deep.
BODY_LIMITS = BodyLimits(max_bytes=8 * 1024, max_json_depth=4)


def create_app(
    queries: Queries,
    chain: ChainReader | None,
    *,
    confirmations: int = 0,
    max_lag: int = 20,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    app = FastAPI(
        title="OctraVPN indexer",
        version="1",
        description="Discovery of exits, tailnets, sessions and operators, rebuilt from the contract's events.",
    )
    app.state.index = Index(queries=queries, chain=chain, confirmations=confirmations, max_lag=max_lag, clock=clock)
    app.add_middleware(BodyGuard, limits=BODY_LIMITS)
    install_error_handlers(app, {ApiError: Answer(), ChainError: Answer(503, "the chain node is unavailable: ")})
    for resource in (exits, tailnets, mailbox, sessions, health):
        app.include_router(resource.router)
    return app
