"""Exits and their operators: find exits by region, price, stake, reputation and tailnet; one exit; an
operator's stake and earnings."""

from __future__ import annotations

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from octravpn.indexer.api.common import (
    ADDRESS_PATTERN,
    BAD_PARAMETERS,
    MAX_ID,
    MAX_OFFSET,
    MAX_UINT256,
    NOT_FOUND,
    ApiError,
    Index,
    found,
    index,
)
from octravpn.indexer.models import Exit, ExitPage, Operator
from octravpn.indexer.queries import EXIT_SORTS, ExitFilter

SORT_PATTERN = "^-?(" + "|".join(EXIT_SORTS) + ")$"
router = APIRouter(prefix="/v1", responses=BAD_PARAMETERS, tags=["exits"])


@router.get("/exits", response_model=ExitPage, summary="Find exits")
def list_exits(
    region: str | None = Query(None, max_length=32, description="exact region label, e.g. eu-west"),
    max_price: int | None = Query(None, ge=0, le=MAX_UINT256, description="highest price per MB (base units)"),
    min_stake: int | None = Query(None, ge=0, le=MAX_UINT256, description="lowest live stake (base units)"),
    min_reputation: int | None = Query(
        None,
        ge=0,
        le=MAX_UINT256,
        description="lowest reputation: value settled for tailnets the exit does not own",
    ),
    active: bool = Query(True, description="only exits that can serve new sessions now"),
    tailnet: int | None = Query(None, ge=0, le=MAX_ID, description="only exits this tailnet allows"),
    sort: str = Query(
        "price",
        pattern=SORT_PATTERN,
        description="price, stake, reputation, registered or region; a leading '-' sorts descending",
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    index: Index = Depends(index),
) -> JSONResponse:
    page = index.queries.exits(
        ExitFilter(
            region=region,
            max_price=max_price,
            min_stake=min_stake,
            min_reputation=min_reputation,
            active=active,
            tailnet=tailnet,
        ),
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        limit=limit,
        offset=offset,
    )
    return JSONResponse(
        {"items": [Exit.json_of(row) for row in page.items], "total": page.total, "limit": limit, "offset": offset}
    )


@router.get("/exits/{address}", response_model=Exit, responses=NOT_FOUND, summary="One exit")
def get_exit(address: str = Path(..., pattern=ADDRESS_PATTERN), index: Index = Depends(index)) -> Exit:
    address = to_checksum_address(address)
    row = index.queries.operator(address)
    if row is None or not row["registered_at"]:
        raise ApiError(404, f"no exit registered by {address} in the index")
    return Exit.of(row)


@router.get(
    "/operators/{address}", response_model=Operator, responses=NOT_FOUND, summary="An operator's stake and earnings"
)
def get_operator(address: str = Path(..., pattern=ADDRESS_PATTERN), index: Index = Depends(index)) -> Operator:
    address = to_checksum_address(address)
    return Operator.of(found(index.queries.operator(address), f"operator {address}"))
