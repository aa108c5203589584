"""`octravpn device add|revoke|list`: keys that act for a wallet."""

from __future__ import annotations

import typer

from octravpn.cli.context import get, tx_summary

app = typer.Typer(name="device", help="Let device keys (a laptop, a phone) act for your wallet.", no_args_is_help=True)


@app.command()
def add(ctx: typer.Context, device: str = typer.Argument(..., help="Device address or wallet name.")) -> None:
    """Attach a device key to the selected wallet."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(device)
    result = app_ctx.client().register_device(address)
    app_ctx.out.record({"device": address, "wallet": app_ctx.client().sender.account.address, **tx_summary(result)})


@app.command()
def revoke(ctx: typer.Context, device: str = typer.Argument(..., help="Device address or wallet name.")) -> None:
    """Detach a device key."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(device)
    result = app_ctx.client().revoke_device(address)
    app_ctx.out.record({"device": address, "revoked": True, **tx_summary(result)})


@app.command("list")
def list_(ctx: typer.Context, wallet: str = typer.Argument(None, help="Wallet name or address (default: the selected wallet).")) -> None:
    """Devices currently attached to a wallet (rebuilt from events)."""
    app_ctx = get(ctx)
    owner = app_ctx.address_of(wallet or app_ctx.wallet())
    client = app_ctx.client(signer=False)
    attached: dict[str, bool] = {}
    for event in client.events():
        if event.name in ("DeviceRegistered", "DeviceRevoked") and event.args["wallet"] == owner:
            attached[event.args["device"]] = event.name == "DeviceRegistered"
    rows = [{"device": d} for d, on in attached.items() if on and client.is_device_of(d, owner)]
    app_ctx.out.rows(rows, columns=["device"], title=f"devices of {owner}")
