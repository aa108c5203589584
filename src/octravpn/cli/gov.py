"""`octravpn gov …` and `octravpn slash`: governance of the deployment."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import typer
from eth_hash.auto import keccak

from octravpn.chain.errors import ContractRevert
from octravpn.cli.context import get, send_after_wait, tx_summary, when
from octravpn.errors import UsageError
from octravpn.protocol.reports import report_commitment

app = typer.Typer(
    name="gov",
    help="Governance: timelocked parameters, pause, ownership, program treasury.",
    no_args_is_help=True,
    add_completion=False,
)


AMOUNT_PARAMS = ("min_session_deposit", "min_tailnet_deposit", "min_endpoint_stake")


def _shown(app_ctx, values: dict) -> dict:
    """Parameters as every command prints them: amounts in the one amount shape, the rest as they are."""
    return {key: app_ctx.show_amount(value) if key in AMOUNT_PARAMS else value for key, value in values.items()}


@app.command()
def params(ctx: typer.Context) -> None:
    """The protocol parameters, owner, pause state and program treasury."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    current = asdict(client.params())
    pending, eta = client.pending_params()
    changing = {key: value for key, value in asdict(pending).items() if value != current[key]}
    app_ctx.out.record(
        {
            **_shown(app_ctx, current),
            "owner": client.owner(),
            "paused": client.paused(),
            "program_treasury": app_ctx.show_amount(client.program_treasury()),
            "burned": app_ctx.show_amount(client.burned()),
            "asset": client.asset,
            "pending_change": {**_shown(app_ctx, changing), "eta": eta} if eta else None,
        },
        title="parameters",
    )


@app.command("set-params")
def set_params(
    ctx: typer.Context,
    min_session_deposit: str = typer.Option(None, help="Amount."),
    min_tailnet_deposit: str = typer.Option(None, help="Amount."),
    session_grace: int = typer.Option(None, help="Seconds."),
    sweep_grace_multiplier: int = typer.Option(None),
    sweep_bounty_bps: int = typer.Option(None),
    min_endpoint_stake: str = typer.Option(None, help="Amount."),
    unbond_grace: int = typer.Option(None, help="Seconds."),
    slash_burn_bps: int = typer.Option(None),
    slash_bounty_bps: int = typer.Option(None),
    protocol_fee_bps: int = typer.Option(None),
) -> None:
    """Announce a parameter change (owner only); the others keep their values. It can be applied with
    `gov execute-params` two days later, or dropped with `gov cancel-params`."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    given = dict(
        min_session_deposit=min_session_deposit,
        min_tailnet_deposit=min_tailnet_deposit,
        session_grace=session_grace,
        sweep_grace_multiplier=sweep_grace_multiplier,
        sweep_bounty_bps=sweep_bounty_bps,
        min_endpoint_stake=min_endpoint_stake,
        unbond_grace=unbond_grace,
        slash_burn_bps=slash_burn_bps,
        slash_bounty_bps=slash_bounty_bps,
        protocol_fee_bps=protocol_fee_bps,
    )
    changes: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    if not changes:
        raise UsageError("nothing to change: pass at least one --option (see `octravpn gov set-params --help`)")
    for key in AMOUNT_PARAMS:
        if key in changes:
            changes[key] = app_ctx.amount(changes[key], what=key)
    result = client.schedule_params(replace(client.params(), **changes))
    eta = result.event("ParamsScheduled").args["eta"]
    app_ctx.out.record(
        {**_shown(app_ctx, changes), "eta": eta, **tx_summary(result)},
        title=f"parameter change scheduled: executable {when(client, eta)}",
    )


@app.command("execute-params")
def execute_params(ctx: typer.Context) -> None:
    """Apply the scheduled parameter change once its delay has passed (owner only)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    result = send_after_wait(client, client.execute_params, lambda: client.pending_params()[1])
    app_ctx.out.record({**_shown(app_ctx, asdict(client.params())), **tx_summary(result)}, title="parameters updated")


@app.command("cancel-params")
def cancel_params(ctx: typer.Context) -> None:
    """Drop the scheduled parameter change (owner only)."""
    app_ctx = get(ctx)
    app_ctx.out.record({"cancelled": True, **tx_summary(app_ctx.client().cancel_params())})


@app.command()
def pause(ctx: typer.Context) -> None:
    """Stop new business (owner only): withdrawals of what users own go on, deadlines stand still."""
    app_ctx = get(ctx)
    app_ctx.out.record({"paused": True, **tx_summary(app_ctx.client().set_paused(True))})


@app.command()
def unpause(ctx: typer.Context) -> None:
    """Resume (owner only)."""
    app_ctx = get(ctx)
    app_ctx.out.record({"paused": False, **tx_summary(app_ctx.client().set_paused(False))})


@app.command("transfer-ownership")
def transfer_ownership(
    ctx: typer.Context,
    new_owner: str = typer.Argument(..., help="Address or wallet."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Hand governance to another address (owner only). Only the new owner can hand it back."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(new_owner)
    app_ctx.confirm(f"Hand governance of this deployment to {address}? Only that address can hand it back.", yes=yes)
    app_ctx.out.record({"owner": address, **tx_summary(app_ctx.client().transfer_ownership(address))})


@app.command("withdraw-treasury")
def withdraw_treasury(
    ctx: typer.Context,
    amount: str = typer.Argument(...),
    to: str = typer.Option(None, "--to", help="Receiver (default: the owner wallet)."),
) -> None:
    """Withdraw protocol fees and slashed stake (owner only)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    receiver = app_ctx.address_of(to) if to else client.wallet
    result = client.withdraw_program_treasury(receiver, app_ctx.amount(amount))
    app_ctx.out.record(
        {"to": receiver, "treasury_left": app_ctx.show_amount(client.program_treasury()), **tx_summary(result)}
    )


def slash(
    ctx: typer.Context,
    operator: str = typer.Argument(..., help="Operator address or wallet."),
    evidence: Path = typer.Option(
        None,
        "--evidence",
        help="JSON proof of double-signing: "
        '{"session_id", "seq", "bytes_a", "sig_a", "bytes_b", "sig_b"}; '
        "without it, a governance slash (owner only).",
    ),
    reason: str = typer.Option(
        None, "--reason", help="Governance slash: the published case (its keccak256 is logged)."
    ),
    execute: bool = typer.Option(False, "--execute", help="Governance slash: execute the scheduled slash."),
    cancel: bool = typer.Option(False, "--cancel", help="Governance slash: drop the scheduled slash."),
    release: bool = typer.Option(
        False,
        "--release",
        help="A day after a slash: pay the bounty held from it to the earliest committed report revealed (or, if "
        "none was, move it to the treasury). Anyone may.",
    ),
    yes: bool = typer.Option(False, "--yes", help="Governance slash: do not ask for confirmation."),
) -> None:
    """Slash an operator. With --evidence anyone may: the report is committed, then revealed in a later block,
    and claims the bounty, paid a day later (`--release`) to the earliest committed report revealed by then.
    Without it, governance: `--reason` announces a slash, `--execute` runs it two days later (the announced
    stake is burned), `--cancel` drops it."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(operator)
    if release:
        if evidence is not None or reason is not None or execute or cancel:
            raise UsageError("--release takes no other option: it pays out a slash that already happened")
        _release_bounty(app_ctx, address)
        return
    if evidence is None:
        _governance_slash(app_ctx, address, reason=reason, execute=execute, cancel=cancel, yes=yes)
        return
    client = app_ctx.client()
    try:
        proof = json.loads(evidence.read_text())
        args = (
            int(proof["session_id"]),
            int(proof["seq"]),
            int(proof["bytes_a"]),
            bytes.fromhex(proof["sig_a"].removeprefix("0x")),
            int(proof["bytes_b"]),
            bytes.fromhex(proof["sig_b"].removeprefix("0x")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"evidence file {evidence} is not a double-signing proof: {exc}") from exc
    session_id, seq, bytes_a, sig_a, bytes_b, sig_b = args
    commitment = report_commitment(
        reporter=client.wallet,
        operator=address,
        session_id=session_id,
        seq=seq,
        bytes_a=bytes_a,
        bytes_b=bytes_b,
    )
    try:
        committed = client.commit_slash_report(commitment)
        app_ctx.out.step(f"report committed in block {committed.block_number}; revealing it")
    except ContractRevert as exc:
        if exc.reason != "report already committed":
            raise
        app_ctx.out.step("this report was committed before; revealing it")
    # The commitment is mined, so the reveal can only land in a later block, as the contract requires.
    result = client.slash_double_sign(address, session_id, seq, bytes_a, sig_a, bytes_b, sig_b)
    record = client.slash_record(address)
    claim = {
        "operator": address,
        "bounty": app_ctx.show_amount(record.held_bounty),
        "paid": f"{when(client, record.release_at)} with `octravpn slash {address} --release`, to the earliest "
        "committed report revealed by then",
    }
    slashed = [e for e in result.events if e.name == "OperatorSlashed"]
    if not slashed:  # the operator had slashed itself after the report was committed
        app_ctx.out.record({**claim, **tx_summary(result)}, title="bounty held from the operator's own slash claimed")
        return
    event = slashed[0].args
    app_ctx.out.record(
        {
            **claim,
            "stake": app_ctx.show_amount(event["stake"]),
            "to_treasury": app_ctx.show_amount(event["treasury_amt"]),
            "forfeited_earnings": app_ctx.show_amount(event["forfeited_earnings"]),
            **tx_summary(result),
        },
        title="operator slashed; bounty claimed",
    )


def _release_bounty(app_ctx, address: str) -> None:
    client = app_ctx.client()
    result = send_after_wait(
        client, lambda: client.release_slash_bounty(address), lambda: client.slash_record(address).release_at
    )
    paid = [e.args for e in result.events if e.name == "SlashBountyPaid"]
    if paid:
        app_ctx.out.record(
            {"operator": address, "paid_to": paid[0]["reporter"], "bounty": app_ctx.show_amount(paid[0]["amount"])}
            | tx_summary(result),
            title="slash bounty paid",
        )
        return
    released = result.event("SlashBountyReleased").args
    app_ctx.out.record(
        {"operator": address, "to_treasury": app_ctx.show_amount(released["amount"]), **tx_summary(result)},
        title="no report claimed the bounty: moved to the treasury",
    )


def _governance_slash(app_ctx, address: str, *, reason: str | None, execute: bool, cancel: bool, yes: bool) -> None:
    if sum((reason is not None, execute, cancel)) != 1:
        raise UsageError(
            "a governance slash takes exactly one of --reason TEXT (announce), --execute or --cancel; "
            "anyone with proof of double-signing passes --evidence FILE instead"
        )
    if reason is not None:
        app_ctx.confirm(
            f"Announce a governance slash of {address}? Executed (within 7 days of its timelock), it burns the stake "
            "the operator has now and its unclaimed earnings.",
            yes=yes,
        )
    elif execute:
        app_ctx.confirm(f"Burn the announced stake and the unclaimed earnings of {address} now?", yes=yes)
    client = app_ctx.client()
    if reason is not None:
        result = client.schedule_slash(address, keccak(reason.encode()))
        eta = result.event("GovSlashScheduled").args["eta"]
        app_ctx.out.record(
            {"operator": address, "reason": reason, "eta": eta, **tx_summary(result)},
            title=f"governance slash scheduled: executable {when(client, eta)}",
        )
    elif cancel:
        app_ctx.out.record({"operator": address, "cancelled": True, **tx_summary(client.cancel_slash(address))})
    else:
        result = send_after_wait(client, lambda: client.execute_slash(address), lambda: client.gov_slash_eta(address))
        event = result.event("OperatorSlashed").args
        app_ctx.out.record(
            {
                "operator": address,
                "stake": app_ctx.show_amount(event["stake"]),
                "burned": app_ctx.show_amount(event["burned_amt"]),
                **tx_summary(result),
            },
            title="operator slashed by governance (stake burned)",
        )
