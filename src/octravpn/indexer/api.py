"""The discovery API (FastAPI): exits, tailnets, sessions, operators, stats, health, the tailnets' policy
documents (as their events carry them), and the mesh's mailbox of device announcements.

Every refusal is `octravpn.serving`'s JSON envelope with a 4xx status: bad query or path
parameters are 400 (never FastAPI's 422 or a 500), unknown things 404.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from eth_utils import to_checksum_address
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from octravpn.chain.errors import ChainError
from octravpn.indexer.models import (
    Announcements,
    AnnouncementStored,
    Exit,
    ExitPage,
    Health,
    Member,
    Operator,
    Session,
    SessionDetail,
    SessionPage,
    Stats,
    Tailnet,
    TailnetExit,
    TailnetPage,
    TailnetSummary,
    amount,
)
from octravpn.indexer.queries import EXIT_SORTS, SESSION_STATUSES, ExitFilter, Queries
from octravpn.indexer.rpc import JsonRpc
from octravpn.protocol.announce import SIGNED_ANNOUNCEMENT, MailboxRead, SignedAnnouncement
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.serving import Answer, BodyGuard, BodyLimits, ErrorBody, install_error_handlers

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
MAX_UINT256 = 2**256 - 1
MAX_ID = 2**63 - 1
MAX_OFFSET = 10**9
MAILBOX_PAGE = 500  # announcements per page of the network map
# The only body is an announcement: JSON, a few hundred bytes, nested two deep.
BODY_LIMITS = BodyLimits(max_bytes=8 * 1024, max_json_depth=4)
SORT_PATTERN = "^-?(" + "|".join(EXIT_SORTS) + ")$"


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ChainReader:
    """What the API asks the chain itself: the head (for the index's lag)."""

    def __init__(self, rpc: JsonRpc, contract: str) -> None:
        self.rpc, self.contract = rpc, contract

    def head(self) -> int:
        return self.rpc.block_number()


def _found(value, what: str):
    if value is None:
        raise ApiError(404, f"{what} not found in the index (it may not exist, or the indexer has not reached it yet)")
    return value


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
    app.add_middleware(BodyGuard, limits=BODY_LIMITS)
    errors = {400: {"model": ErrorBody, "description": "bad parameters"}}
    not_found = {404: {"model": ErrorBody, "description": "not in the index"}}
    v1 = APIRouter(prefix="/v1", responses=errors)

    install_error_handlers(app, {ApiError: Answer(), ChainError: Answer(503, "the chain node is unavailable: ")})

    def indexed_block() -> int:
        progress = queries.progress()
        if progress is None:
            raise ApiError(503, "the indexer has not started: run `octravpn indexer run`")
        return progress["block_number"]

    # ------------------------------------------------------------- exits
    @v1.get("/exits", response_model=ExitPage, summary="Find exits")
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
    ) -> JSONResponse:
        page = queries.exits(
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
            {"items": [Exit.json(row) for row in page.items], "total": page.total, "limit": limit, "offset": offset}
        )

    @v1.get("/exits/{address}", response_model=Exit, responses=not_found, summary="One exit")
    def get_exit(address: str = Path(..., pattern=ADDRESS_PATTERN)) -> Exit:
        address = to_checksum_address(address)
        row = queries.operator(address)
        if row is None or not row["registered_at"]:
            raise ApiError(404, f"no exit registered by {address} in the index")
        return Exit.of(row)

    @v1.get(
        "/operators/{address}", response_model=Operator, responses=not_found, summary="An operator's stake and earnings"
    )
    def get_operator(address: str = Path(..., pattern=ADDRESS_PATTERN)) -> Operator:
        address = to_checksum_address(address)
        return Operator.of(_found(queries.operator(address), f"operator {address}"))

    # ---------------------------------------------------------- tailnets
    @v1.get("/tailnets", response_model=TailnetPage, summary="Tailnets by member or owner")
    def list_tailnets(
        member: str | None = Query(None, pattern=ADDRESS_PATTERN),
        owner: str | None = Query(None, pattern=ADDRESS_PATTERN),
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> TailnetPage:
        page = queries.tailnets(
            member=member and to_checksum_address(member),
            owner=owner and to_checksum_address(owner),
            limit=limit,
            offset=offset,
        )
        return TailnetPage(
            items=[TailnetSummary.of(r) for r in page.items], total=page.total, limit=limit, offset=offset
        )

    @v1.get(
        "/tailnets/{tailnet_id}",
        response_model=Tailnet,
        responses=not_found,
        summary="Members, exits, treasury, ACL hash",
    )
    def get_tailnet(tailnet_id: int = Path(..., ge=0, le=MAX_ID)) -> Tailnet:
        row = _found(queries.tailnet(tailnet_id), f"tailnet {tailnet_id}")
        return Tailnet.of(
            row,
            members=[Member(address=m["member"], added_at=m["added_at"]) for m in row["members"]],
            exits=[TailnetExit(address=e["exit"], configured_at=e["configured_at"]) for e in row["exits"]],
            acl_document=row["acl_document"],
        )

    @v1.get(
        "/tailnets/{tailnet_id}/acl",
        responses={
            **not_found,
            200: {"content": {"application/octet-stream": {}}, "description": "the ACL policy document"},
        },
        response_class=Response,
        summary="The tailnet's ACL policy document in force, as its last update_acl event carried it",
    )
    def get_acl(tailnet_id: int = Path(..., ge=0, le=MAX_ID)) -> Response:
        acl_hash = _found(queries.tailnet_acl_hash(tailnet_id), f"tailnet {tailnet_id}")
        document = _found(queries.acl_document(acl_hash), f"tailnet {tailnet_id}'s policy document {acl_hash}")
        return Response(
            content=document["document"], media_type=document["media_type"], headers={"X-ACL-Hash": acl_hash}
        )

    # ----------------------------------------------------- announcements
    def domain() -> Domain:
        progress = queries.progress()
        if progress is None:
            raise ApiError(503, "the index has not started yet: no chain to check signatures against")
        return Domain(chain_id=progress["chain_id"], verifying_contract=progress["contract"])

    def reader(request: Request, tailnet_id: int) -> str:
        """The device whose signed read this is (a key on the tailnet's roster), or a 401/403 saying why not."""
        try:
            read = MailboxRead.from_header(
                request.headers.get("authorization"), subject=tailnet_id, domain=domain(), now=clock()
            )
        except RemoteProtocolError as exc:
            raise ApiError(401, str(exc)) from None
        if queries.acts_for(tailnet_id, read.reader) is None:
            raise ApiError(403, f"{read.reader} is on no roster of tailnet {tailnet_id}: its devices read its map")
        return read.reader

    @v1.get(
        "/tailnets/{tailnet_id}/announcements",
        response_model=Announcements,
        responses={
            **not_found,
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
    ) -> Announcements:
        _found(queries.tailnet(tailnet_id), f"tailnet {tailnet_id}")
        reader(request, tailnet_id)
        items, following = queries.announcements(tailnet_id, now=int(clock()), after=after, limit=limit)
        return Announcements(tailnet=tailnet_id, items=items, next=following)

    @v1.put(
        "/tailnets/{tailnet_id}/announcements",
        response_model=AnnouncementStored,
        responses={
            **not_found,
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
    async def put_announcement(request: Request, tailnet_id: int = Path(..., ge=0, le=MAX_ID)) -> AnnouncementStored:
        try:
            signed = SignedAnnouncement.from_json(json.loads(await request.body() or b"null"))
            signed.announcement.check_fresh(clock())
        except ValueError as exc:  # not JSON, or RemoteProtocolError: what is wrong with it
            raise ApiError(400, str(exc)) from None
        announcement = signed.announcement
        if announcement.tailnet_id != tailnet_id:
            raise ApiError(400, f"the announcement is for tailnet {announcement.tailnet_id}, not {tailnet_id}")
        _found(queries.tailnet(tailnet_id), f"tailnet {tailnet_id}")
        try:
            signed.verify(domain())
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

    # ---------------------------------------------------------- sessions
    @v1.get("/sessions", response_model=SessionPage, summary="Sessions, newest first")
    def list_sessions(
        tailnet: int | None = Query(None, ge=0, le=MAX_ID),
        exit: str | None = Query(None, pattern=ADDRESS_PATTERN),
        opener: str | None = Query(None, pattern=ADDRESS_PATTERN),
        status: str | None = Query(None, pattern="^(" + "|".join(SESSION_STATUSES) + ")$"),
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> SessionPage:
        page = queries.sessions(
            tailnet=tailnet,
            exit_address=exit and to_checksum_address(exit),
            opener=opener and to_checksum_address(opener),
            status=status,
            limit=limit,
            offset=offset,
        )
        return SessionPage(items=[Session.of(r) for r in page.items], total=page.total, limit=limit, offset=offset)

    @v1.get(
        "/sessions/{session_id}", response_model=SessionDetail, responses=not_found, summary="A session and its events"
    )
    def get_session(session_id: int = Path(..., ge=0, le=MAX_ID)) -> SessionDetail:
        row = _found(queries.session(session_id), f"session {session_id}")
        return SessionDetail.of(row, events=row["events"])

    @v1.get("/stats", response_model=Stats, responses={503: {"model": ErrorBody}}, summary="Network totals")
    def stats() -> Stats:
        block = indexed_block()
        values = queries.stats()
        for name in ("staked", "unbonding", "volume_paid", "program_treasury"):
            values[name] = amount(values[name])
        return Stats(**values, indexed_block=block)

    app.include_router(v1)

    @app.get(
        "/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Indexer lag behind the chain"
    )
    def healthz() -> JSONResponse:
        progress = queries.progress()
        indexed = progress["block_number"] if progress else None
        health = {
            "indexed_block": indexed,
            "chain_head": None,
            "lag_blocks": None,
            "confirmations": confirmations,
            "max_lag": max_lag,
        }
        if chain is None:
            return JSONResponse(
                {**health, "status": "ok" if progress else "not started"}, status_code=200 if progress else 503
            )
        try:
            head = chain.head()
        except ChainError as exc:
            return JSONResponse({**health, "status": "chain unreachable", "reason": str(exc)}, status_code=503)
        health.update(chain_head=head)
        if progress is None:
            return JSONResponse({**health, "status": "not started"}, status_code=503)
        lag = max(0, head - indexed)
        healthy = lag <= confirmations + max_lag
        return JSONResponse(
            {**health, "lag_blocks": lag, "status": "ok" if healthy else "lagging"}, status_code=200 if healthy else 503
        )

    return app
