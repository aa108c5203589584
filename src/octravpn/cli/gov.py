"""`octravpn gov …` and `octravpn slash`: governance of the deployment."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import typer

from octravpn.cli.context import get, tx_summary
from octravpn.errors import UsageError

app = typer.Typer(name="gov", help="Governance: parameters, pause, ownership, program treasury.", no_args_is_help=True)


@app.command()
def params(ctx: typer.Context) -> None:
    """The protocol parameters, owner, pause state and program treasury."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    data = asdict(client.params())
    for key in ("min_session_deposit", "min_tailnet_deposit", "min_endpoint_stake"):
        data[key] = app_ctx.show_amount(data[key])
    data.update(owner=client.owner(), paused=client.paused(), program_treasury=app_ctx.show_amount(client.program_treasury()),
                asset=client.asset)
    app_ctx.out.record(data, title="parameters")


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
    """Change parameters (owner only); the others keep their values."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    given = dict(
        min_session_deposit=min_session_deposit, min_tailnet_deposit=min_tailnet_deposit, session_grace=session_grace,
        sweep_grace_multiplier=sweep_grace_multiplier, sweep_bounty_bps=sweep_bounty_bps,
        min_endpoint_stake=min_endpoint_stake, unbond_grace=unbond_grace, slash_burn_bps=slash_burn_bps,
        slash_bounty_bps=slash_bounty_bps, protocol_fee_bps=protocol_fee_bps,
    )
    changes = {key: value for key, value in given.items() if value is not None}
    if not changes:
        raise UsageError("nothing to change: pass at least one --option (see `octravpn gov set-params --help`)")
    for key in ("min_session_deposit", "min_tailnet_deposit", "min_endpoint_stake"):
        if key in changes:
            changes[key] = app_ctx.amount(changes[key], what=key)
    result = client.set_params(replace(client.params(), **changes))
    app_ctx.out.record({**asdict(client.params()), **tx_summary(result)}, title="parameters updated")


@app.command()
def pause(ctx: typer.Context) -> None:
    """Stop every non-governance function (owner only)."""
    app_ctx = get(ctx)
    app_ctx.out.record({"paused": True, **tx_summary(app_ctx.client().set_paused(True))})


@app.command()
def unpause(ctx: typer.Context) -> None:
    """Resume (owner only)."""
    app_ctx = get(ctx)
    app_ctx.out.record({"paused": False, **tx_summary(app_ctx.client().set_paused(False))})


@app.command("transfer-ownership")
def transfer_ownership(ctx: typer.Context, new_owner: str = typer.Argument(..., help="Address or wallet.")) -> None:
    """Hand governance to another address (owner only)."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(new_owner)
    app_ctx.out.record({"owner": address, **tx_summary(app_ctx.client().transfer_ownership(address))})


@app.command("withdraw-treasury")
def withdraw_treasury(ctx: typer.Context, amount: str = typer.Argument(...),
                      to: str = typer.Option(None, "--to", help="Receiver (default: the owner wallet).")) -> None:
    """Withdraw protocol fees and slashed stake (owner only)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    receiver = app_ctx.address_of(to) if to else client.sender.account.address
    result = client.withdraw_program_treasury(receiver, app_ctx.amount(amount))
    app_ctx.out.record({"to": receiver, "treasury_left": app_ctx.show_amount(client.program_treasury()), **tx_summary(result)})


def slash(
    ctx: typer.Context,
    operator: str = typer.Argument(..., help="Operator address or wallet."),
    evidence: Path = typer.Option(None, "--evidence", help="JSON proof of double-signing: "
                                  '{"session_id", "seq", "bytes_a", "sig_a", "bytes_b", "sig_b"}; '
                                  "without it, a governance slash (owner only)."),
) -> None:
    """Slash an operator: with --evidence anyone may (and earns the bounty); without it, governance."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(operator)
    client = app_ctx.client()
    if evidence is None:
        result = client.gov_slash_operator(address)
    else:
        try:
            proof = json.loads(evidence.read_text())
            args = (int(proof["session_id"]), int(proof["seq"]), int(proof["bytes_a"]), bytes.fromhex(proof["sig_a"].removeprefix("0x")),
                    int(proof["bytes_b"]), bytes.fromhex(proof["sig_b"].removeprefix("0x")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"evidence file {evidence} is not a double-signing proof: {exc}") from exc
        session_id, seq, bytes_a, sig_a, bytes_b, sig_b = args
        result = client.slash_double_sign(address, session_id, seq, bytes_a, sig_a, bytes_b, sig_b)
    event = result.event("OperatorSlashed").args
    app_ctx.out.record({"operator": address, "stake": app_ctx.show_amount(event["stake"]),
                        "to_treasury": app_ctx.show_amount(event["treasury_amt"]),
                        "bounty": app_ctx.show_amount(event["bounty_amt"]),
                        "forfeited_earnings": app_ctx.show_amount(event["forfeited_earnings"]), **tx_summary(result)},
                       title="operator slashed")

