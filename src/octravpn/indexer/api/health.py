"""The indexer's health: how far the index is behind the chain (a load balancer's check)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from octravpn.chain.errors import ChainError
from octravpn.indexer.api.common import Index, index
from octravpn.indexer.models import Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Indexer lag behind the chain"
)
def healthz(index: Index = Depends(index)) -> JSONResponse:
    progress = index.queries.progress()
    indexed = progress["block_number"] if progress else None
    health = {
        "indexed_block": indexed,
        "chain_head": None,
        "lag_blocks": None,
        "confirmations": index.confirmations,
        "max_lag": index.max_lag,
    }
    if index.chain is None:
        return JSONResponse(
            {**health, "status": "ok" if progress else "not started"}, status_code=200 if progress else 503
        )
    try:
        head = index.chain.head()
    except ChainError as exc:
        return JSONResponse({**health, "status": "chain unreachable", "reason": str(exc)}, status_code=503)
    health.update(chain_head=head)
    if indexed is None:
        return JSONResponse({**health, "status": "not started"}, status_code=503)
    lag = max(0, head - indexed)
    healthy = lag <= index.confirmations + index.max_lag
    return JSONResponse(
        {**health, "lag_blocks": lag, "status": "ok" if healthy else "lagging"}, status_code=200 if healthy else 503
    )
