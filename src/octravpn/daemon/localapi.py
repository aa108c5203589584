"""octravpnd's local API: HTTP and JSON over two Unix sockets.

The control socket (root and the daemon's group) takes `up`, `down`,
`wg-config` and device consent; the read socket (anyone on the machine) serves
status, the change feed, metrics and `ping` (it only sends echo requests to peers). Who may do what is the sockets' file
permissions, as with Docker's socket. Bodies are bounded before they are
parsed (`octravpn.serving.BodyGuard`); every refusal is a JSON body with the
error, the exit code the command line returns, and a machine-readable code.

The two sockets never share workers: the control socket's requests run on threads of their own, and what anyone
on the machine can ask of the read socket that takes time (a ping waits for its answers) runs on a few threads
of its own, at most `MAX_PINGS` at once; more are refused (429) rather than queued.
"""

from __future__ import annotations

import asyncio
import functools
import json
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from octravpn.chain.errors import ChainError, ContractRevert
from octravpn.daemon import wire
from octravpn.daemon.metrics import render_metrics
from octravpn.daemon.service import Daemon, NotRegistered
from octravpn.errors import ConfigError, OctraVPNError, ServiceError, StateError, UsageError
from octravpn.serving import Answer, BodyGuard, BodyLimits, error_response, install_error_handlers

LIMITS = BodyLimits(max_bytes=8 * 1024, max_json_depth=4, read_timeout=5.0)  # a local body is small and quick
MAX_WATCHERS = 16
WATCH_POLL_SECONDS = 0.1
CONTROL_WORKERS = 4
MAX_PINGS = 4  # pings in flight from the read socket; anyone on the machine may ask


# How the local API answers each kind of refusal: its status says whose move it is (the caller's input, the
# daemon's state, another service); the envelope's exit code is what the command line returns.
ANSWERS = {
    UsageError: Answer(400),
    NotRegistered: Answer(412),
    StateError: Answer(409),
    ContractRevert: Answer(409),
    ServiceError: Answer(502),
    ChainError: Answer(503),
    ConfigError: Answer(500),
    OctraVPNError: Answer(400),
}


async def _body(request: Request):
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise wire.WireError(f"the body is not JSON: {exc}") from None


def build_app(daemon: Daemon, *, control: bool) -> BodyGuard:
    app = FastAPI(title="octravpnd", docs_url=None, redoc_url=None, openapi_url=None)
    watchers = 0
    workers = ThreadPoolExecutor(
        max_workers=CONTROL_WORKERS if control else MAX_PINGS,
        thread_name_prefix="octravpnd-control" if control else "octravpnd-read",
    )
    pings = asyncio.Semaphore(MAX_PINGS)

    async def in_thread(function, *args, **kwargs):
        """Run blocking work on this socket's own threads (never the other socket's)."""
        return await asyncio.get_running_loop().run_in_executor(workers, functools.partial(function, *args, **kwargs))

    install_error_handlers(app, ANSWERS)

    @app.get("/v1/status")
    def status() -> dict:
        return daemon.status()

    @app.get("/v1/prefs")
    def prefs() -> dict:
        return {"prefs": daemon.state.prefs, "mesh": daemon.mesh.prefs().to_json()}

    @app.get("/v1/watch")
    async def watch() -> Response:
        nonlocal watchers
        if watchers >= MAX_WATCHERS:
            return error_response(
                429, f"{MAX_WATCHERS} watchers already: try again later", code="too-many-watchers", exit_code=1
            )
        watchers += 1

        async def feed():
            nonlocal watchers
            seen = None
            try:
                while True:
                    if daemon.version != seen:
                        seen = daemon.version
                        yield json.dumps(daemon.status()) + "\n"
                    await asyncio.sleep(WATCH_POLL_SECONDS)
            finally:
                watchers -= 1

        return StreamingResponse(feed(), media_type="application/x-ndjson")

    @app.post("/v1/ping", response_model=None)
    async def ping(request: Request) -> dict | Response:
        target, count = wire.ping_request(await _body(request))
        if pings.locked():
            return error_response(
                429,
                f"{MAX_PINGS} pings already in flight: try again when one is done",
                code="too-many-pings",
                exit_code=1,
            )
        async with pings:
            return await in_thread(daemon.mesh.ping, target, count=count)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(render_metrics(daemon), media_type="text/plain; version=0.0.4")

    if control:

        @app.post("/v1/up")
        async def up(request: Request) -> dict:
            wanted = wire.UpRequest.from_json(await _body(request))
            return await in_thread(daemon.up, wanted)

        @app.post("/v1/down")
        async def down(request: Request) -> dict:
            wait, end = wire.down_request(await _body(request))
            return await in_thread(daemon.down, settle_wait=wait, end=end)

        @app.post("/v1/sessions/end")
        async def end_sessions(request: Request) -> dict:
            session, wait = wire.end_request(await _body(request))
            return await in_thread(daemon.end_sessions, session, settle_wait=wait)

        @app.post("/v1/prefs")
        async def set_prefs(request: Request) -> dict:
            changes, mesh = wire.preferences(await _body(request))
            return await in_thread(daemon.set_preferences, changes, mesh)

        @app.post("/v1/wg-config")
        async def wg_config(request: Request) -> dict:
            body = await _body(request)
            dns_line = body.pop("dns_line", False) if isinstance(body, dict) else False
            if not isinstance(dns_line, bool):
                raise wire.WireError(f"dns_line must be true or false, got {dns_line!r}")
            wanted = wire.UpRequest.from_json(body)
            return await in_thread(daemon.wg_config, wanted, dns_line=dns_line)

        @app.post("/v1/sessions/confirm")
        async def confirm(request: Request) -> dict:
            session, bytes_used = wire.confirmation(await _body(request))
            return await in_thread(daemon.confirm, session, bytes_used)

        @app.post("/v1/device/consent")
        async def consent(request: Request) -> dict:
            return daemon.consent(wire.wallet_address(await _body(request)))

    return BodyGuard(app, LIMITS)
