"""The mesh's mailbox: each device's latest signed announcement, kept if it verifies and served page by page
to the tailnet's own devices (signed reads). An indexer is only a mailbox: it can withhold, never forge."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Path, Query, Request

from octravpn.indexer.api.common import BAD_PARAMETERS, MAX_ID, NOT_FOUND, ApiError, Index, found, index
from octravpn.indexer.models import Announcements, AnnouncementStored
from octravpn.protocol.announce import SIGNED_ANNOUNCEMENT, MailboxRead, SignedAnnouncement
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.serving import ErrorBody

MAILBOX_PAGE = 500  # announcements per page of the network map
router = APIRouter(prefix="/v1", responses=BAD_PARAMETERS, tags=["mailbox"])


def reader(index: Index, request: Request, tailnet_id: int) -> str:
    """The device whose signed read this is (a key on the tailnet's roster), or a 401/403 saying why not."""
    try:
        read = MailboxRead.from_header(
            request.headers.get("authorization"), subject=tailnet_id, domain=index.domain(), now=index.clock()
        )
    except RemoteProtocolError as exc:
        raise ApiError(401, str(exc)) from None
    if index.queries.acts_for(tailnet_id, read.reader) is None:
        raise ApiError(403, f"{read.reader} is on no roster of tailnet {tailnet_id}: its devices read its map")
    return read.reader


@router.get(
    "/tailnets/{tailnet_id}/announcements",
    response_model=Announcements,
    responses={
        **NOT_FOUND,
        401: {"model": ErrorBody, "description": "no signed read, or one that does not verify"},
        403: {"model": ErrorBody, "description": "the reader is not on the tailnet's roster"},
    },
    summary="A page of the tailnet's network map: each device's latest signed announcement (verify them "
    "yourself), for the tailnet's own devices (a signed read)",
)
def get_announcements(
    request: Request,
    tailnet_id: int = Path(..., ge=0, le=MAX_ID),
    after: str = Query("", pattern="^(0x[0-9a-fA-F]{40})?$", description="the `next` of the previous page"),
    limit: int = Query(MAILBOX_PAGE, ge=1, le=MAILBOX_PAGE),
    index: Index = Depends(index),
) -> Announcements:
    found(index.queries.tailnet(tailnet_id), f"tailnet {tailnet_id}")
    reader(index, request, tailnet_id)
    items, following = index.queries.announcements(tailnet_id, now=int(index.clock()), after=after, limit=limit)
    return Announcements.model_validate({"tailnet": tailnet_id, "items": items, "next": following})


@router.put(
    "/tailnets/{tailnet_id}/announcements",
    response_model=AnnouncementStored,
    responses={
        **NOT_FOUND,
        403: {"model": ErrorBody, "description": "signed by another key, or by a key that acts for no member"},
        409: {
            "model": ErrorBody,
            "description": "not newer than the announcement held, its hostname is another device's, "
            "or the tailnet's mailbox is full",
        },
        503: {"model": ErrorBody, "description": "the index has not started"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SIGNED_ANNOUNCEMENT.schema()}},
        }
    },
    summary="Publish a device's announcement: kept if signed by the device, which acts for a member, newer, "
    "unexpired, and its hostname no other device's",
)
async def put_announcement(
    request: Request, tailnet_id: int = Path(..., ge=0, le=MAX_ID), index: Index = Depends(index)
) -> AnnouncementStored:
    queries, clock = index.queries, index.clock
    try:
        signed = SignedAnnouncement.from_json(json.loads(await request.body() or b"null"))
        signed.announcement.check_fresh(clock())
    except ValueError as exc:  # not JSON, or RemoteProtocolError: what is wrong with it
        raise ApiError(400, str(exc)) from None
    announcement = signed.announcement
    if announcement.tailnet_id != tailnet_id:
        raise ApiError(400, f"the announcement is for tailnet {announcement.tailnet_id}, not {tailnet_id}")
    found(queries.tailnet(tailnet_id), f"tailnet {tailnet_id}")
    try:
        signed.verify(index.domain())
    except RemoteProtocolError as exc:
        raise ApiError(403, f"refused: {exc}") from None
    member = queries.acts_for(tailnet_id, announcement.device)
    if member is None:
        raise ApiError(
            403,
            f"{announcement.device} is neither a member of tailnet {tailnet_id} nor a registered "
            "device of one (as indexed)",
        )
    refused = queries.store_announcement(
        tailnet_id,
        announcement.device,
        seq=announcement.seq,
        hostname=announcement.hostname,
        expires=announcement.expires,
        document=json.dumps(signed.to_json()),
        now=int(clock()),
    )
    if refused is not None:
        kind, detail = refused
        raise ApiError(
            409,
            {
                "seq": f"seq {announcement.seq} is not newer than the {detail} held for {announcement.device}: "
                "announce again with a higher seq",
                "hostname": f"hostname {announcement.hostname!r} is held by {detail}, which announced it first: "
                "choose another (octravpn set --hostname)",
                "full": f"tailnet {tailnet_id}'s mailbox holds {detail} live announcements, the most it keeps",
            }[kind],
        )
    return AnnouncementStored(tailnet=tailnet_id, device=announcement.device, member=member, seq=announcement.seq)
