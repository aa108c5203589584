"""What every OctraVPN HTTP service puts between the internet and its handlers.

`BodyGuard` is an ASGI middleware that refuses a request body before anything
parses it: too large (413, also while it streams in, so a lying or missing
Content-Length does not help), of a content type the service does not take
(415), too slow to arrive (408), or JSON nested deeper than the service's
limit (400). The depth check is a linear scan, so a hostile body can neither
recurse the decoder past the C stack nor cost more than one pass.

Every refusal, from the guard or a handler, is one JSON envelope (`error_body`):
`{"error": what was wrong and what to do, "code": a stable name for programs, "detail": more, or null,
"exit_code": what the command line returns for it, or null}`. `install_error_handlers` answers every
exception a service names with its status, FastAPI's own refusals (a malformed parameter, an unknown path)
as 400 and 404 in the same envelope, and anything else as a 500 that says to read the log, never a trace.

`SignalSafeServer` is uvicorn without its own signal handling: uvicorn
re-raises SIGTERM after shutting down, which kills the process before the
service's clean-up (interfaces, firewall tables) runs. Services install
their own handlers and set `should_exit`. `http_server` builds one the way
every service runs it, with `TimelyH11Protocol`: uvicorn waits for ever for
the head of a request that never ends (only its keep-alive timer, which any
byte disarms, limits an idle connection), so a peer could hold connections
until the file-descriptor limit; a head must arrive within `HEAD_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("octravpn.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_TYPES = frozenset({"application/json"})


@dataclass(frozen=True, kw_only=True)
class BodyLimits:
    max_bytes: int
    content_types: frozenset[str] = JSON_TYPES  # media types a body may have (lower case, no parameters)
    max_json_depth: int = 32  # for bodies of a JSON type
    read_timeout: float = 10.0  # seconds the whole body may take to arrive


# The `code` of a refusal whose exception names none: what its status means, stable across Python versions.
STATUS_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "body-timeout",
    409: "conflict",
    412: "precondition-failed",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    500: "internal",
    502: "upstream-refused",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    """The refusal envelope, as the services' OpenAPI documents show it."""

    error: str
    code: str
    detail: Any = None
    exit_code: int | None = None


def error_body(status: int, reason: str, *, code: str | None = None, detail: Any = None, exit_code: int | None = None):
    """The one refusal envelope of every OctraVPN HTTP service."""
    return {
        "error": reason,
        "code": code or STATUS_CODES.get(status, str(status)),
        "detail": detail,
        "exit_code": exit_code,
    }


def error_response(status: int, reason: str, **fields: Any) -> JSONResponse:
    return JSONResponse(error_body(status, reason, **fields), status_code=status)


@dataclass(frozen=True)
class Answer:
    """How a service answers one kind of exception: its status (None: the exception's own `status`), and a
    prefix for its message that says whose failure it was."""

    status: int | None = None
    prefix: str = ""


def install_error_handlers(app: FastAPI, answers: Mapping[type[Exception], Answer]) -> None:
    """Answer each exception type in `answers` (the most specific match wins, as FastAPI's lookup goes),
    FastAPI's own refusals, and anything unexpected, all in the one envelope."""
    for kind, answer in answers.items():
        app.add_exception_handler(kind, _answering(answer))

    # Starlette hands each handler only the exceptions it was installed for.
    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        errors = cast(RequestValidationError, exc).errors()
        detail = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors]
        first = detail[0] if detail else {"loc": [], "msg": "invalid"}
        reason = f"invalid {'.'.join(first['loc'][1:]) or 'request'}: {first['msg']}"
        return error_response(400, reason, detail=detail)

    async def http_error(_: Request, raised: Exception) -> JSONResponse:
        exc = cast(StarletteHTTPException, raised)
        reason = "no such endpoint: see /docs or /openapi.json" if exc.status_code == 404 else str(exc.detail)
        response = error_response(exc.status_code, reason)
        response.headers.update(exc.headers or {})
        return response

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "the service failed on this request: its log says why")

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _answering(answer: Answer):
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        status = answer.status if answer.status is not None else int(getattr(exc, "status", 500))
        return error_response(
            status,
            answer.prefix + str(exc),
            code=getattr(exc, "code", None),
            detail=getattr(exc, "detail", None) or None,
            exit_code=getattr(exc, "exit_code", None),
        )

    return handler


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if arrays/objects in `body` nest deeper than `limit` (strings and escapes are skipped).
    Malformed JSON is left to the parser; this only bounds what the parser would recurse into."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class BodyGuard:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except _Refused as refused:
            await _error(send, refused.status, refused.reason)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect can come

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        limits = self.limits
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise _Refused(400, f"Content-Length {declared[:40]!r} is not a number of bytes")
            if int(declared) > limits.max_bytes:
                raise _Refused(413, f"the body is {int(declared)} bytes; this service takes at most {limits.max_bytes}")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(limits.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise _Refused(413, f"the body is over {limits.max_bytes} bytes, the most this service takes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise _Refused(408, f"the body did not arrive within {limits.read_timeout:.0f}s") from None
        body = b"".join(chunks)
        if not body:
            return body
        # RFC 9110 8.3: a body without a type may be taken as application/octet-stream.
        kind = media_type(headers.get("content-type", "")) or "application/octet-stream"
        if kind not in limits.content_types:
            accepted = ", ".join(sorted(limits.content_types))
            raise _Refused(415, f"content type {kind!r} is not accepted: send the body as {accepted}")
        if kind in JSON_TYPES and json_depth_exceeds(body, limits.max_json_depth):
            raise _Refused(400, f"the JSON body nests deeper than {limits.max_json_depth} levels")
        return body


async def _error(send: Send, status: int, reason: str) -> None:
    payload = json.dumps(error_body(status, reason)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class SignalSafeServer(uvicorn.Server):
    """uvicorn minus its signal handlers (see the module doc)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


HEAD_TIMEOUT = 5.0  # seconds a request's head (its line and headers) may take to arrive


class TimelyH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose next request head does not arrive within
    `HEAD_TIMEOUT` (from the connection's start, or the end of its last response). A body's own time is
    `BodyGuard`'s `read_timeout`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._awaiting: object = None  # the cycle in place when the wait for a head began
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def _await_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._awaiting = self.cycle
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_late)

    def _head_late(self) -> None:
        if self.cycle is self._awaiting and not self.transport.is_closing():
            self.transport.close()  # no head came: nothing to answer

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._awaiting and self._head_timer is not None:  # a head arrived
            self._head_timer.cancel()
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # not already on a pipelined request
        if idle and not self.transport.is_closing():
            self._await_head()  # the next request's head is held to the same time

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)


def http_server(app: ASGIApp, **options: Any) -> SignalSafeServer:
    """A server for `app` as every OctraVPN service runs one (`options`: uvicorn's, e.g. host and port)."""
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, http=TimelyH11Protocol, **options
    )
    return SignalSafeServer(config)
