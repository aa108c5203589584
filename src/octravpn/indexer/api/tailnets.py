"""Tailnets: by member or owner; one with its members, exits and treasury; its policy document in force."""

from __future__ import annotations

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, Query, Response

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
from octravpn.indexer.models import Member, Tailnet, TailnetExit, TailnetPage, TailnetSummary

router = APIRouter(prefix="/v1", responses=BAD_PARAMETERS, tags=["tailnets"])


@router.get("/tailnets", response_model=TailnetPage, summary="Tailnets by member or owner")
def list_tailnets(
    member: str | None = Query(None, pattern=ADDRESS_PATTERN),
    owner: str | None = Query(None, pattern=ADDRESS_PATTERN),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    index: Index = Depends(index),
) -> TailnetPage:
    page = index.queries.tailnets(
        member=member and to_checksum_address(member),
        owner=owner and to_checksum_address(owner),
        limit=limit,
        offset=offset,
    )
    return TailnetPage(items=[TailnetSummary.of(r) for r in page.items], total=page.total, limit=limit, offset=offset)


@router.get(
    "/tailnets/{tailnet_id}",
    response_model=Tailnet,
    responses=NOT_FOUND,
    summary="Members, exits, treasury, ACL hash",
)
def get_tailnet(tailnet_id: int = Path(..., ge=0, le=MAX_ID), index: Index = Depends(index)) -> Tailnet:
    row = found(index.queries.tailnet(tailnet_id), f"tailnet {tailnet_id}")
    return Tailnet.of(
        row,
        members=[Member(address=m["member"], added_at=m["added_at"]) for m in row["members"]],
        exits=[TailnetExit(address=e["exit"], configured_at=e["configured_at"]) for e in row["exits"]],
        acl_document=row["acl_document"],
    )


@router.get(
    "/tailnets/{tailnet_id}/acl",
    responses={
        **NOT_FOUND,
        200: {"content": {"application/octet-stream": {}}, "description": "the ACL policy document"},
    },
    response_class=Response,
    summary="The tailnet's ACL policy document in force, as its last update_acl event carried it",
)
def get_acl(tailnet_id: int = Path(..., ge=0, le=MAX_ID), index: Index = Depends(index)) -> Response:
    acl_hash = found(index.queries.tailnet_acl_hash(tailnet_id), f"tailnet {tailnet_id}")
    document = found(index.queries.acl_document(acl_hash), f"tailnet {tailnet_id}'s policy document {acl_hash}")
    return Response(content=document["document"], media_type=document["media_type"], headers={"X-ACL-Hash": acl_hash})
