"""Sessions, newest first; one with its events; and the network's totals."""

from __future__ import annotations

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, Query

from octravpn.indexer.api.common import (
    ADDRESS_PATTERN,
    BAD_PARAMETERS,
    MAX_ID,
    MAX_OFFSET,
    NOT_FOUND,
    Index,
    found,
    index,
)
from octravpn.indexer.models import Session, SessionDetail, SessionPage, Stats, amount
from octravpn.indexer.queries import SESSION_STATUSES
from octravpn.serving import ErrorBody

router = APIRouter(prefix="/v1", responses=BAD_PARAMETERS, tags=["sessions"])


@router.get("/sessions", response_model=SessionPage, summary="Sessions, newest first")
def list_sessions(
    tailnet: int | None = Query(None, ge=0, le=MAX_ID),
    exit: str | None = Query(None, pattern=ADDRESS_PATTERN),
    opener: str | None = Query(None, pattern=ADDRESS_PATTERN),
    status: str | None = Query(None, pattern="^(" + "|".join(SESSION_STATUSES) + ")$"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    index: Index = Depends(index),
) -> SessionPage:
    page = index.queries.sessions(
        tailnet=tailnet,
        exit_address=exit and to_checksum_address(exit),
        opener=opener and to_checksum_address(opener),
        status=status,
        limit=limit,
        offset=offset,
    )
    return SessionPage(items=[Session.of(r) for r in page.items], total=page.total, limit=limit, offset=offset)


@router.get(
    "/sessions/{session_id}", response_model=SessionDetail, responses=NOT_FOUND, summary="A session and its events"
)
def get_session(session_id: int = Path(..., ge=0, le=MAX_ID), index: Index = Depends(index)) -> SessionDetail:
    row = found(index.queries.session(session_id), f"session {session_id}")
    return SessionDetail.of(row, events=row["events"])


@router.get("/stats", response_model=Stats, responses={503: {"model": ErrorBody}}, summary="Network totals")
def stats(index: Index = Depends(index)) -> Stats:
    block = index.indexed_block()
    values = index.queries.stats()
    for name in ("staked", "unbonding", "volume_paid", "program_treasury"):
        values[name] = amount(values[name])
    return Stats(**values, indexed_block=block)
