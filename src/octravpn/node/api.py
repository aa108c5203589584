"""The exit's HTTP API: handshake and receipt channel. Thin: it parses, calls
the services, and turns their refusals into 4xx JSON (never a 500 for bad input).

Every body passes `BodyGuard` first (size, content type, JSON depth; see
`octravpn.serving`). The services share the agent's state with its metering
loop; they take the agent's lock themselves, and only around that state, so a
stalled chain read never holds up metering. Calls run in worker threads, never
on the event loop.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from octravpn.chain.errors import ChainError
from octravpn.node.handshake import BadRequest, HandshakeService
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.store import PoolExhausted
from octravpn.protocol import exitwire
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.handshake import HandshakeRefused
from octravpn.protocol.wire import Message
from octravpn.serving import Answer, BodyGuard, BodyLimits, ErrorBody, install_error_handlers
from octravpn.wireguard.keys import encode_key
from octravpn.wireguard.runner import CommandError

MAX_UINT256 = 2**256 - 1
# The exit's requests are flat objects of a few hundred bytes.
BODY_LIMITS = BodyLimits(max_bytes=8 * 1024, max_json_depth=8)


def _body(message: Message) -> dict:
    """A route's request body in the OpenAPI document: the message's own schema (`protocol.exitwire`)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": message.schema()}}}}


def _answer(message: Message, description: str) -> dict:
    return {200: {"description": description, "content": {"application/json": {"schema": message.schema()}}}}


def _errors(*statuses: int) -> dict:
    reasons = {
        400: "malformed request",
        401: "stale request",
        403: "not the opener's signature",
        404: "unknown session",
        408: "body too slow",
        409: "replayed, settled or ended",
        410: "left open with no device here: join it again",
        413: "body too large",
        415: "not JSON",
        503: "the exit cannot reach the chain or configure WireGuard, or is full",
    }
    return {status: {"model": ErrorBody, "description": reasons[status]} for status in statuses}


def create_app(handshake: HandshakeService, receipts: ReceiptChannel | None = None) -> FastAPI:
    app = FastAPI(title="OctraVPN exit", version="1", responses=_errors(400, 408, 413, 415))
    app.add_middleware(BodyGuard, limits=BODY_LIMITS)

    async def in_thread(call, *args: Any) -> Any:
        return await run_in_threadpool(call, *args)

    install_error_handlers(
        app,
        {
            HandshakeRefused: Answer(),  # its own status
            ProtocolError: Answer(400),
            ChainError: Answer(503, "the exit cannot read the chain right now: "),
            # The exit's fault, not the client's: a retry redoes the same idempotent steps.
            CommandError: Answer(503, "the exit could not configure WireGuard: "),
            PoolExhausted: Answer(503, "this exit is full: "),
            # A full disk: nothing was kept or changed; the exit serves again once it can write.
            sqlite3.OperationalError: Answer(503, "the exit cannot write its store right now (try another exit): "),
        },
    )

    async def json_body(request: Request) -> object:
        try:
            return await request.json()
        except ValueError as exc:  # also bad UTF-8
            raise BadRequest(f"the body is not JSON: {exc}") from exc

    session_path = Path(..., ge=0, le=MAX_UINT256, description="the session id on chain")

    @app.get(exitwire.INFO)
    def info() -> dict:
        identity = handshake.identity
        return {
            "operator": identity.operator,
            "wg_public_key": encode_key(identity.wg_public_key),
            "endpoint": identity.endpoint,
            "exit_address": identity.exit_address,
        }

    @app.post(
        exitwire.PEERS,
        openapi_extra=_body(exitwire.PEER_ASK),
        responses={**_answer(exitwire.PEER_GRANT, "the peer added"), **_errors(401, 403, 404, 409, 503)},
    )
    async def add_peer(request: Request) -> dict:
        return await in_thread(handshake.handle, await json_body(request))

    @app.post(
        exitwire.OPENING,
        openapi_extra=_body(exitwire.OPENING_ASK),
        responses={**_answer(exitwire.PEER_GRANT, "the peer added"), **_errors(401, 403, 404, 409, 503)},
    )
    async def add_opening_peer(request: Request) -> dict:
        return await in_thread(handshake.handle_opening, await json_body(request))

    if receipts is not None:

        @app.get(
            exitwire.RECEIPT_REQUEST,
            responses={
                **_answer(exitwire.RECEIPT_ASK, "the receipt to sign"),
                204: {"description": "nothing to sign"},
                **_errors(401, 403, 404, 410, 503),
            },
        )
        async def receipt_request(request: Request, session_id: int = session_path) -> Response:
            authorization = request.headers.get("authorization")
            pending = await in_thread(receipts.request_for, session_id, authorization)
            return JSONResponse(pending) if pending else Response(status_code=204)

        @app.post(
            exitwire.RECEIPTS, openapi_extra=_body(exitwire.SIGNED_RECEIPT), responses=_errors(403, 404, 409, 503)
        )
        async def submit_receipt(request: Request, session_id: int = session_path) -> dict:
            return await in_thread(receipts.submit, session_id, await json_body(request))

        @app.post(
            exitwire.CLOSE,
            openapi_extra=_body(exitwire.LEAVE_ASK),
            responses={**_answer(exitwire.LEAVE_ANSWER, "the session left"), **_errors(401, 403, 404, 409, 503)},
        )
        async def close(request: Request, session_id: int = session_path) -> dict:
            body = await json_body(request)

            def leave() -> dict:
                handshake.check_leave(session_id, body)
                return receipts.close(session_id)

            return await in_thread(leave)

        @app.post(
            exitwire.PARK,
            openapi_extra=_body(exitwire.LEAVE_ASK),
            responses={
                **_answer(exitwire.LEAVE_ANSWER, "the session is left open"),
                **_errors(401, 403, 404, 409, 503),
            },
        )
        async def park(request: Request, session_id: int = session_path) -> dict:
            body = await json_body(request)

            def leave_open() -> dict:
                handshake.check_leave(session_id, body, ask=exitwire.ParkAsk)
                return receipts.close(session_id, park=True)

            return await in_thread(leave_open)

    return app
