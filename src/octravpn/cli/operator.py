"""`octravpn operator …`: stake and the exit endpoint."""

from __future__ import annotations

import base64

import typer

from octravpn.cli.context import get, send_after_wait, tx_summary
from octravpn.errors import UsageError
from octravpn.wireguard.keys import KeyFormatError, decode_key

app = typer.Typer(
    name="operator",
    help="Operate an exit: stake, register, update, retire.",
    no_args_is_help=True,
    add_completion=False,
)


def wg_public_key(text: str) -> bytes:
    try:
        return decode_key(text)
    except KeyFormatError as exc:
        raise UsageError(str(exc)) from exc


def _endpoint_row(app_ctx, address: str) -> dict:
    client = app_ctx.client(signer=False)
    record = client.endpoint(address)
    return {
        "address": address,
        "active": client.is_active(address),
        "registered": record.registered_at != 0,
        "endpoint": record.endpoint,
        "region": record.region,
        "price_per_mb": app_ctx.show_amount(record.price_per_mb),
        "wg_pubkey": base64.b64encode(record.wg_pubkey).decode(),
        "receipt_signer": record.receipt_signer,
        "stake": app_ctx.show_amount(client.stake(address)),
        "unbonding": app_ctx.show_amount(client.unbonding(address)),
        "unlock_at": client.unlock_at(address),
        "slashed": client.is_slashed(address),
        "reputation": app_ctx.show_amount(record.reputation),  # value settled for tailnets it does not own
        "earnings": app_ctx.show_amount(client.earnings(address)),
    }


@app.command()
def bond(
    ctx: typer.Context, amount: str = typer.Argument(..., help="Stake to add, in the asset's units, e.g. 1.5.")
) -> None:
    """Add stake (needed to register an exit)."""
    app_ctx = get(ctx)
    result = app_ctx.client().bond_endpoint(app_ctx.amount(amount))
    event = result.event("StakeBonded").args
    app_ctx.out.record(
        {
            "bonded": app_ctx.show_amount(event["amount"]),
            "stake": app_ctx.show_amount(event["new_stake"]),
            **tx_summary(result),
        },
        title="stake bonded",
    )


@app.command()
def unbond(ctx: typer.Context) -> None:
    """Start withdrawing the whole stake (retires the exit; paid after the unbond grace)."""
    app_ctx = get(ctx)
    result = app_ctx.client().unbond_endpoint()
    event = result.event("StakeUnbondingStarted").args
    app_ctx.out.record(
        {"unbonding": app_ctx.show_amount(event["stake"]), "unlock_at": event["unlock_at"], **tx_summary(result)},
        title="unbonding started",
    )


@app.command("finalize-unbond")
def finalize_unbond(ctx: typer.Context) -> None:
    """Receive the unbonded stake once the grace has passed."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    result = send_after_wait(client, client.finalize_unbond, lambda: client.unlock_at(client.wallet))
    app_ctx.out.record(
        {"paid": app_ctx.show_amount(result.event("StakeUnbondingFinalized").args["amount"]), **tx_summary(result)},
        title="unbond finalized",
    )


@app.command()
def register(
    ctx: typer.Context,
    endpoint: str = typer.Option(..., "--endpoint", help="Public host:port clients dial, e.g. 203.0.113.7:51820."),
    wg_pubkey: str = typer.Option(..., "--wg-pubkey", help="The exit's WireGuard public key (base64)."),
    region: str = typer.Option(..., "--region", help="Region label, e.g. eu-west."),
    price: str = typer.Option(..., "--price", help="Price per MB (1,000,000 bytes) in the asset's units."),
    receipt_wallet: str = typer.Option(
        ...,
        "--receipt-wallet",
        help="Local wallet of the separate receipt-signing key (it signs its consent to sign for this operator).",
    ),
) -> None:
    """Register the exit (the wallet must have bonded the minimum stake)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    if len(region.encode()) > 32 or len(endpoint.encode()) > 128:
        raise UsageError("region is at most 32 bytes and endpoint at most 128")
    receipt_signer = app_ctx.address_of(receipt_wallet)
    if receipt_signer == client.wallet:
        raise UsageError(
            "the receipt key must differ from the operator wallet: create one with `octravpn wallet create NAME`"
        )
    if receipt_signer.lower() == receipt_wallet.lower():
        raise UsageError("--receipt-wallet must be a local wallet: its key signs consent to sign for this operator")
    consent = client.receipt_signer_consent(bytes(app_ctx.account(receipt_wallet).key))
    result = client.register_endpoint(
        endpoint=endpoint,
        wg_pubkey=wg_public_key(wg_pubkey),
        region=region,
        price_per_mb=app_ctx.amount(price, what="price"),
        receipt_signer=receipt_signer,
        signer_signature=consent,
    )
    app_ctx.out.record({**_endpoint_row(app_ctx, client.wallet), **tx_summary(result)}, title="exit registered")


@app.command()
def update(
    ctx: typer.Context,
    endpoint: str = typer.Option(None, "--endpoint", help="New host:port."),
    region: str = typer.Option(None, "--region", help="New region."),
    price: str = typer.Option(None, "--price", help="New price per MB."),
) -> None:
    """Change the exit's endpoint, region or price (open sessions keep their price)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    current = client.endpoint(client.wallet)
    if endpoint is None and region is None and price is None:
        raise UsageError("nothing to update: give --endpoint, --region or --price")
    result = client.update_endpoint(
        endpoint=endpoint or current.endpoint,
        region=region if region is not None else current.region,
        price_per_mb=app_ctx.amount(price, what="price") if price else current.price_per_mb,
    )
    app_ctx.out.record({**_endpoint_row(app_ctx, client.wallet), **tx_summary(result)}, title="exit updated")


@app.command("rotate-keys")
def rotate_keys(
    ctx: typer.Context, wg_pubkey: str = typer.Option(..., "--wg-pubkey", help="The new WireGuard public key.")
) -> None:
    """Replace the exit's WireGuard key."""
    app_ctx = get(ctx)
    result = app_ctx.client().rotate_keys(wg_pubkey=wg_public_key(wg_pubkey))
    app_ctx.out.record({"wg_pubkey": wg_pubkey, **tx_summary(result)}, title="keys rotated")


@app.command()
def retire(ctx: typer.Context) -> None:
    """Stop taking new sessions (open ones can still settle; the stake stays bonded)."""
    app_ctx = get(ctx)
    result = app_ctx.client().retire_endpoint()
    app_ctx.out.record({"retired": result.event("EndpointRetired").args["addr"], **tx_summary(result)})


@app.command()
def show(
    ctx: typer.Context,
    who: str = typer.Argument(None, help="Operator address or wallet (default: the selected wallet)."),
) -> None:
    """An operator's exit, stake and earnings."""
    app_ctx = get(ctx)
    row = _endpoint_row(app_ctx, app_ctx.address_of(who or app_ctx.wallet()))
    if (
        not row["registered"]
        and not row["slashed"]
        and not any(row[key]["base_units"] for key in ("stake", "unbonding", "earnings"))
    ):
        raise UsageError(
            f"{row['address']} has never bonded a stake or registered an exit: check the address "
            "(`octravpn operator list` shows every registered exit)"
        )
    app_ctx.out.record(row, title="operator")


@app.command("list")
def list_(
    ctx: typer.Context, active_only: bool = typer.Option(False, "--active", help="Only exits that take sessions.")
) -> None:
    """Every registered exit, in registration order."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    rows = []
    for address in client.registered_exits():
        row = _endpoint_row(app_ctx, address)
        if active_only and not row["active"]:
            continue
        rows.append(row)
    app_ctx.out.rows(
        rows, columns=["address", "endpoint", "region", "price_per_mb", "active", "reputation"], title="exits"
    )
