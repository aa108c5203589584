"""The exit's HTTP API: handshake and receipt channel. Thin: it parses, calls
the services, and turns their refusals into 4xx JSON (never a 500 for bad input).

The services share the agent's state with its metering loop, so every call
runs in a worker thread under the agent's lock (never on the event loop)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from octravpn.chain.errors import ChainError
from octravpn.node.handshake import BadRequest, HandshakeService
from octravpn.node.receipts import ReceiptChannel
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.handshake import HandshakeRefused
from octravpn.wireguard.keys import encode_key
from octravpn.wireguard.runner import CommandError


def create_app(handshake: HandshakeService, receipts: ReceiptChannel | None = None,
               lock: threading.Lock | None = None) -> FastAPI:
    app = FastAPI(title="OctraVPN exit", version="1")
    lock = lock or threading.Lock()

    async def locked(call: Callable[..., Any], *args: Any) -> Any:
        def run() -> Any:
            with lock:
                return call(*args)
        return await run_in_threadpool(run)

    @app.exception_handler(HandshakeRefused)
    async def refused(_: Request, exc: HandshakeRefused) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(ProtocolError)
    async def invalid(_: Request, exc: ProtocolError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"bad request: {problems}"}, status_code=400)

    @app.exception_handler(ChainError)
    async def chain_down(_: Request, exc: ChainError) -> JSONResponse:
        return JSONResponse({"error": f"the exit cannot read the chain right now: {exc}"}, status_code=503)

    @app.exception_handler(CommandError)
    async def wireguard_failed(_: Request, exc: CommandError) -> JSONResponse:
        # The exit's fault, not the client's: a retry redoes the same idempotent steps.
        return JSONResponse({"error": f"the exit could not configure WireGuard: {exc}"}, status_code=503)

    async def json_body(request: Request) -> object:
        try:
            return await request.json()
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from exc

    @app.get("/v1/info")
    def info() -> dict:
        identity = handshake.identity
        return {"operator": identity.operator, "wg_public_key": encode_key(identity.wg_public_key),
                "endpoint": identity.endpoint, "exit_address": identity.exit_address}

    @app.post("/v1/peers")
    async def add_peer(request: Request) -> dict:
        return await locked(handshake.handle, await json_body(request))

    if receipts is not None:
        @app.get("/v1/sessions/{session_id}/receipt-request")
        async def receipt_request(session_id: int) -> Response:
            pending = await locked(receipts.pending_request, session_id)
            return JSONResponse(pending) if pending else Response(status_code=204)

        @app.post("/v1/sessions/{session_id}/receipts")
        async def submit_receipt(session_id: int, request: Request) -> dict:
            return await locked(receipts.submit, session_id, await json_body(request))

        @app.post("/v1/sessions/{session_id}/close")
        async def close(session_id: int, request: Request) -> dict:
            body = await json_body(request)

            def leave() -> dict:
                handshake.check_leave(session_id, body)
                return receipts.close(session_id)
            return await locked(leave)

    return app
