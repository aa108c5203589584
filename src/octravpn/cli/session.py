"""`octravpn session …`: paid sessions through an exit, and their settlement."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from octravpn.cli.context import get, send_after_wait, tx_summary, when
from octravpn.daemon.paths import DEFAULT_SOCKET
from octravpn.errors import UsageError
from octravpn.protocol.metering import confirmation_figure


class SessionStatus(StrEnum):
    open = "open"
    settled = "settled"
    refunded = "refunded"


app = typer.Typer(name="session", help="Open, inspect and settle sessions.", no_args_is_help=True, add_completion=False)


def _session_row(app_ctx, session_id: int) -> dict:
    client = app_ctx.client(signer=False)
    session = client.session(session_id)
    claim, confirm = client.operator_claim(session_id), client.client_confirm(session_id)
    return {
        "id": session_id,
        "tailnet": session.tailnet_id,
        "exit": session.exit,
        "opener": session.opener,
        "deposit": app_ctx.show_amount(session.deposit),
        "paid": app_ctx.show_amount(session.paid),
        "bytes_paid": session.bytes_paid,
        "price_per_mb": app_ctx.show_amount(session.price_per_mb),
        "opened_at": session.opened_at,
        "status": session.status_name,
        "exit_claim_bytes": claim.bytes_used if claim.is_set else None,
        "opener_confirm_bytes": confirm.bytes_used if confirm.is_set else None,
    }


@app.command("open")
def open_(
    ctx: typer.Context,
    tailnet_id: int = typer.Option(..., "--tailnet", help="Tailnet whose treasury pays."),
    exit_: str = typer.Option(..., "--exit", help="Exit operator address or wallet."),
    max_pay: str = typer.Option(..., "--max-pay", help="Deposit to lock, in the asset's units."),
    max_price: str = typer.Option(
        None,
        "--max-price",
        help="Highest price per MB you accept, in the asset's units (default: the exit's price as listed now).",
    ),
) -> None:
    """Open a session (as a member or a member's device). It opens at the exit's price only if that is at
    most --max-price when the transaction executes: an exit that raises its price first gets no session."""
    app_ctx = get(ctx)
    session_id, result = app_ctx.client().open_session(
        tailnet_id,
        app_ctx.address_of(exit_),
        app_ctx.amount(max_pay, what="max pay"),
        app_ctx.amount(max_price, what="max price") if max_price else None,
    )
    app_ctx.out.record({**_session_row(app_ctx, session_id), **tx_summary(result)}, title="session opened")


@app.command("top-up")
def top_up(
    ctx: typer.Context,
    session_id: int = typer.Argument(...),
    amount: str = typer.Argument(..., help="What to add to the deposit, in the asset's units (0: only extend)."),
) -> None:
    """Add to an open session's deposit from the tailnet treasury and give it a full grace from now (its
    opener only), instead of opening another session. The session keeps its price."""
    app_ctx = get(ctx)
    result = app_ctx.client().top_up_session(session_id, app_ctx.amount(amount, what="top-up", allow_zero=True))
    app_ctx.out.record({**_session_row(app_ctx, session_id), **tx_summary(result)}, title="session topped up")


@app.command()
def show(ctx: typer.Context, session_id: int = typer.Argument(...)) -> None:
    """A session with the exit's claim, the opener's confirmation, and what can happen next."""
    app_ctx = get(ctx)
    row = _session_row(app_ctx, session_id)
    if row["status"] == "open":
        client = app_ctx.client(signer=False)
        session = client.session(session_id)
        row.update(
            settle_by=when(client, session.settle_by),
            sweep_after=when(client, session.sweep_after),
            next_step=_next_step(session_id, row),
        )
    app_ctx.out.record(row, title=f"session {session_id}")


def _next_step(session_id: int, row: dict) -> str:
    """What can end an open session, in the words of the commands that do it."""
    claimed, confirmed = row["exit_claim_bytes"], row["opener_confirm_bytes"]
    no_show = (
        f"after settle_by, anyone may `octravpn session no-show {session_id}`: what the exit was not paid goes back"
    )
    if claimed is None:
        return (
            f"the exit settles with the opener's latest receipt, or claims what it served "
            f"(`octravpn session claim {session_id} BYTES`); {no_show}"
        )
    if confirmed is None:
        return (
            f"the opener confirms the exit's claim of {claimed} bytes (`octravpn -w OPENER session confirm "
            f"{session_id} {claimed}`, or its own figure, which opens a dispute); {no_show}"
        )
    return (
        f"disputed: the exit claimed {claimed} bytes and the opener confirmed {confirmed}. The exit can still "
        f"settle with a receipt the opener signed (its node does this by itself); the opener can accept the "
        f"claim (`octravpn -w OPENER session confirm {session_id} {claimed}`); {no_show}"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    tailnet_id: int = typer.Option(None, "--tailnet", help="Only this tailnet's sessions."),
    status: SessionStatus = typer.Option(None, "--status", help="Only sessions in this state."),
) -> None:
    """Sessions, newest first."""
    app_ctx = get(ctx)
    wanted = status.value if status is not None else None
    client = app_ctx.client(signer=False)
    rows = []
    for session_id in reversed(client.opened_sessions()):
        row = _session_row(app_ctx, session_id)
        if (tailnet_id is None or row["tailnet"] == tailnet_id) and (wanted is None or row["status"] == wanted):
            rows.append(row)
    app_ctx.out.rows(rows, columns=["id", "tailnet", "exit", "opener", "deposit", "status"], title="sessions")


@app.command()
def claim(
    ctx: typer.Context,
    session_id: int = typer.Argument(...),
    bytes_used: int = typer.Argument(..., min=0, help="Bytes served."),
) -> None:
    """State the bytes served (the session's exit). A different second claim is equivocation and is slashed."""
    app_ctx = get(ctx)
    result = app_ctx.client().settle_claim(session_id, bytes_used)
    app_ctx.out.record({**_session_row(app_ctx, session_id), **tx_summary(result)}, title="claim recorded")


@app.command()
def confirm(
    ctx: typer.Context,
    session_id: int = typer.Argument(...),
    bytes_used: int = typer.Argument(
        ..., min=0, help="Your own figure: bytes sent + received, as your WireGuard shows."
    ),
    accept_within: float = typer.Option(
        None,
        "--accept-within",
        min=0,
        metavar="PERCENT",
        help="Confirm the exit's claim if it is at most PERCENT above your figure.",
    ),
    socket: Path = typer.Option(
        DEFAULT_SOCKET,
        "--socket",
        envvar="OCTRAVPN_SOCKET",
        help="octravpnd's control socket: a session its device opened is confirmed by it.",
    ),
) -> None:
    """Confirm the bytes used (the opener): settles if it matches the exit's claim, else records a dispute.

    An exit's claim is what its WireGuard counted; datagrams lost after it counted them make it
    higher than what your side counted. `--accept-within 10` accepts a claim up to 10 % above yours."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    opener = client.session(session_id).opener
    claim = client.operator_claim(session_id)
    if not claim.is_set:
        raise UsageError(
            f"the exit has not claimed session {session_id} yet: nothing to confirm "
            f"(see `octravpn session show {session_id}`)"
        )
    confirmed = (
        bytes_used
        if accept_within is None
        else confirmation_figure(claimed=claim.bytes_used, own=bytes_used, tolerance_percent=accept_within)
    )
    compared = {
        "exit_claim_bytes": claim.bytes_used,
        "your_bytes": bytes_used,
        "difference_percent": round((claim.bytes_used - bytes_used) * 100 / bytes_used, 2) if bytes_used else None,
        "confirmed_bytes": confirmed,
    }
    daemon = _daemon_device(socket)
    if daemon is not None and daemon[0] == opener:  # opened by this machine's daemon (`wg-config`): its key confirms
        answer = daemon[1].post("/v1/sessions/confirm", {"session": session_id, "bytes_used": confirmed})
        sent = {"tx": answer["tx"], "block": answer["block"], "gas_used": answer["gas_used"]}
        outcome = {"outcome": answer["outcome"], **compared}
        paid, refund = answer.get("total_paid"), answer.get("refund")
    else:
        result = app_ctx.client().settle_confirm(session_id, confirmed)
        sent = tx_summary(result)
        settled = [e.args for e in result.events if e.name == "SessionSettled"]
        outcome = {"outcome": "settled" if settled else "disputed", **compared}
        paid, refund = (settled[0]["total_paid"], settled[0]["refund"]) if settled else (None, None)
    if paid is not None:
        outcome.update(paid=app_ctx.show_amount(paid), refund=app_ctx.show_amount(refund))
    app_ctx.out.record({**outcome, **_session_row(app_ctx, session_id), **sent})


def _daemon_device(socket: Path):
    """(device address, control API) of this machine's daemon, or None if none answers."""
    from octravpn.daemon.localclient import DaemonUnavailable, LocalAPI
    from octravpn.daemon.paths import read_socket

    try:
        return LocalAPI(read_socket(socket)).get("/v1/status")["device"], LocalAPI(socket, timeout=180.0)
    except DaemonUnavailable:
        return None


@app.command("no-show")
def no_show(ctx: typer.Context, session_id: int = typer.Argument(...)) -> None:
    """After the session grace, return the whole deposit to the tailnet."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    result = send_after_wait(
        client, lambda: client.claim_no_show(session_id), lambda: client.session(session_id).settle_by
    )
    app_ctx.out.record({**_session_row(app_ctx, session_id), **tx_summary(result)}, title="refunded")


@app.command()
def sweep(ctx: typer.Context, session_id: int = typer.Argument(...)) -> None:
    """Long after the grace, close a forgotten session for the sweep bounty."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    result = send_after_wait(
        client, lambda: client.sweep_expired_session(session_id), lambda: client.session(session_id).sweep_after
    )
    app_ctx.out.record(
        {
            "bounty": app_ctx.show_amount(result.event("SessionSwept").args["bounty"]),
            **_session_row(app_ctx, session_id),
            **tx_summary(result),
        },
        title="swept",
    )


@app.command()
def end(
    ctx: typer.Context,
    session_id: int = typer.Argument(None, help="The session `down` left open (default: every one)."),
    settle_wait: float = typer.Option(
        60.0, "--settle-wait", min=0, max=3600, help="Seconds to wait for the settlements (the daemon goes on after)."
    ),
    socket: Path = typer.Option(
        DEFAULT_SOCKET, "--socket", envvar="OCTRAVPN_SOCKET", help="octravpnd's control socket."
    ),
) -> None:
    """End a session the daemon left open for the next `up` (its exit settles it; the rest returns to the
    tailnet)."""
    from octravpn.daemon.localclient import LocalAPI

    body = {"session": session_id, "settle_wait": settle_wait}
    get(ctx).out.record(LocalAPI(socket, timeout=settle_wait + 30.0).post("/v1/sessions/end", body), title="ended")


@app.command()
def close(ctx: typer.Context, session_id: int = typer.Argument(...)) -> None:
    """As the tailnet's owner, end a session whose opener was removed or whose device was revoked."""
    app_ctx = get(ctx)
    result = app_ctx.client().close_session(session_id)
    closed = result.event("SessionClosed").args
    app_ctx.out.record(
        {"settle_by": closed["settle_by"], **_session_row(app_ctx, session_id), **tx_summary(result)}, title="closed"
    )
