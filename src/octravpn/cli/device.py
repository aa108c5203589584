"""`octravpn device add|consent|revoke|list`: keys that act for a wallet.

A key is attached only with its own consent: an EIP-712 signature over
`Device(wallet)`, made where the key lives (`device consent`) or here when the
key is a local wallet.
"""

from __future__ import annotations

import typer

from octravpn.cli.context import get, tx_summary
from octravpn.errors import UsageError
from octravpn.protocol import Device, sign

app = typer.Typer(name="device", help="Let device keys (a laptop, a phone) act for your wallet.", no_args_is_help=True, add_completion=False)


@app.command()
def add(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device address or local wallet name."),
    signature: str = typer.Option(None, "--signature", help="The device's consent (`octravpn -w DEVICE device consent "
                                  "WALLET` prints it); not needed when DEVICE is a local wallet."),
) -> None:
    """Attach a device key to the selected wallet."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(device)
    client = app_ctx.client()
    wallet = client.sender.account.address
    if signature is not None:
        try:
            consent = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError as exc:
            raise UsageError(f"--signature must be hex: {exc}") from exc
    elif address.lower() == device.lower():  # given as an address: no local key to sign with
        raise UsageError(f"{address} is not a local wallet: pass its consent with --signature "
                         f"(on the device: `octravpn -w DEVICE device consent {wallet}`)")
    else:
        consent = client.device_consent(bytes(app_ctx.account(device).key))
    result = client.register_device(address, consent)
    app_ctx.out.record({"device": address, "wallet": wallet, **tx_summary(result)})


@app.command()
def consent(ctx: typer.Context, wallet: str = typer.Argument(..., help="The wallet this device key will act for.")) -> None:
    """Sign, with the selected wallet's key, consent to act for WALLET (give the output to `device add --signature`)."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    owner = app_ctx.address_of(wallet)
    device_key = app_ctx.account()
    signature = sign(client.domain(), Device(wallet=owner), bytes(device_key.key))
    app_ctx.out.record({"device": device_key.address, "wallet": owner, "signature": "0x" + signature.hex()},
                       title="device consent")


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
