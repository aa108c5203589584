"""The exit's HTTP API: handshake and receipt channel. Thin: it parses, calls
the services, and turns their refusals into 4xx JSON (never a 500 for bad input).

Every body passes `BodyGuard` first (size, content type, JSON depth; see
`octravpn.serving`). The services share the agent's state with its metering
loop; they take the agent's lock themselves, and only around that state, so a
stalled chain read never holds up metering. Calls run in worker threads, never
on the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from octravpn.chain.errors import ChainError
from octravpn.node.handshake import BadRequest, HandshakeService
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.store import PoolExhausted
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.handshake import HandshakeRefused
from octravpn.serving import Answer, BodyGuard, BodyLimits, ErrorBody, install_error_handlers
from octravpn.wireguard.keys import encode_key
from octravpn.wireguard.runner import CommandError

MAX_UINT256 = 2**256 - 1
# The exit's requests are flat objects of a few hundred bytes.
BODY_LIMITS = BodyLimits(max_bytes=8 * 1024, max_json_depth=8)


def _body_schema(properties: dict, required: list[str]) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "properties": properties, "required": required}}
            },
        }
    }


_UINT = {"type": "integer", "minimum": 0, "maximum": MAX_UINT256}
_HEX = {"type": "string", "pattern": "^0x[0-9a-fA-F]*$"}
PEER_REQUEST = _body_schema(
    {
        "session_id": _UINT,
        "wg_pubkey": {"type": "string"},
        "timestamp": _UINT,
        "signature": _HEX,
        "receipts": {"type": "boolean"},
    },
    ["session_id", "wg_pubkey", "timestamp", "signature"],
)
SIGNED_RECEIPT = _body_schema(
    {"seq": _UINT, "bytes_used": _UINT, "signature": _HEX}, ["seq", "bytes_used", "signature"]
)
LEAVE_REQUEST = _body_schema({"timestamp": _UINT, "signature": _HEX}, ["timestamp", "signature"])


def _errors(*statuses: int) -> dict:
    reasons = {
        400: "malformed request",
        401: "stale request",
        403: "not the opener's signature",
        404: "unknown session",
        408: "body too slow",
        409: "replayed, settled or ended",
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
        },
    )

    async def json_body(request: Request) -> object:
        try:
            return await request.json()
        except ValueError as exc:  # also bad UTF-8
            raise BadRequest(f"the body is not JSON: {exc}") from exc

    session_path = Path(..., ge=0, le=MAX_UINT256, description="the session id on chain")

    @app.get("/v1/info")
    def info() -> dict:
        identity = handshake.identity
        return {
            "operator": identity.operator,
            "wg_public_key": encode_key(identity.wg_public_key),
            "endpoint": identity.endpoint,
            "exit_address": identity.exit_address,
        }

    @app.post("/v1/peers", openapi_extra=PEER_REQUEST, responses=_errors(401, 403, 404, 409, 503))
    async def add_peer(request: Request) -> dict:
        return await in_thread(handshake.handle, await json_body(request))

    if receipts is not None:

        @app.get(
            "/v1/sessions/{session_id}/receipt-request",
            responses={204: {"description": "nothing to sign"}, **_errors(401, 403, 404, 503)},
        )
        async def receipt_request(request: Request, session_id: int = session_path) -> Response:
            authorization = request.headers.get("authorization")
            pending = await in_thread(receipts.request_for, session_id, authorization)
            return JSONResponse(pending) if pending else Response(status_code=204)

        @app.post(
            "/v1/sessions/{session_id}/receipts", openapi_extra=SIGNED_RECEIPT, responses=_errors(403, 404, 409, 503)
        )
        async def submit_receipt(request: Request, session_id: int = session_path) -> dict:
            return await in_thread(receipts.submit, session_id, await json_body(request))

        @app.post(
            "/v1/sessions/{session_id}/close", openapi_extra=LEAVE_REQUEST, responses=_errors(401, 403, 404, 409, 503)
        )
        async def close(request: Request, session_id: int = session_path) -> dict:
            body = await json_body(request)

            def leave() -> dict:
                handshake.check_leave(session_id, body)
                return receipts.close(session_id)

            return await in_thread(leave)

    return app
