"""`octravpn device add|consent|revoke|list`: keys that act for a wallet.

A key is attached only with its own consent: an EIP-712 signature over
`Device(wallet)`, made where the key lives: by this machine's daemon for its
own device key, by `device consent` on another machine, or here when the key
is a local wallet.
"""

from __future__ import annotations

from pathlib import Path

import typer

from octravpn.cli.context import AppContext, get, tx_summary
from octravpn.daemon.localclient import DaemonUnavailable, LocalAPI
from octravpn.daemon.paths import DEFAULT_SOCKET
from octravpn.errors import UsageError
from octravpn.protocol import Device, sign
from octravpn.units import NATIVE_DECIMALS, NATIVE_SYMBOL, amount_record, parse_amount

app = typer.Typer(
    name="device",
    help="Let device keys (a laptop, a phone) act for your wallet.",
    no_args_is_help=True,
    add_completion=False,
)


def _daemon_consent(socket: Path, device: str, wallet: str) -> bytes | None:
    """This machine's daemon's consent, if `device` is its key."""
    try:
        answer = LocalAPI(socket, timeout=10.0).post("/v1/device/consent", {"wallet": wallet})
    except DaemonUnavailable:
        return None
    return bytes.fromhex(answer["signature"].removeprefix("0x")) if answer["device"] == device else None


def register(
    app_ctx: AppContext,
    device: str,
    *,
    signature: str | None = None,
    fund: str | None = None,
    socket: Path = DEFAULT_SOCKET,
) -> dict:
    """Attach `device` to the selected wallet, with its consent, and send it `fund` native coin for gas."""
    address = app_ctx.address_of(device)
    client = app_ctx.client()
    wallet = client.wallet
    consent: bytes | None
    if signature is not None:
        try:
            consent = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError as exc:
            raise UsageError(f"--signature must be hex: {exc}") from exc
    elif address.lower() != device.lower():  # a local wallet's name: sign with its key here
        consent = client.device_consent(bytes(app_ctx.account(device).key))
    else:
        consent = _daemon_consent(socket, address, wallet)
        if consent is None:
            raise UsageError(
                f"{address} is neither a local wallet nor this machine's daemon's device: pass its consent "
                f"with --signature (on the device: `octravpn -w DEVICE device consent {wallet}`)"
            )
    result = client.register_device(address, consent)
    row = {"device": address, "wallet": wallet, **tx_summary(result)}
    if fund is not None:
        amount = parse_amount(fund, NATIVE_DECIMALS, what="--fund")
        if amount:
            sent = client.signer().transfer(address, amount)
            row["funded"] = amount_record(amount, NATIVE_DECIMALS, NATIVE_SYMBOL)
            row["fund_tx"] = sent.tx_hash
    return row


@app.command()
def add(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device address or local wallet name."),
    signature: str = typer.Option(
        None,
        "--signature",
        help="The device's consent (`octravpn -w DEVICE device consent "
        "WALLET` prints it); not needed for a local wallet or this machine's daemon.",
    ),
    fund: str = typer.Option(None, "--fund", help="Also send the device this much native coin, for its gas."),
    socket: Path = typer.Option(
        DEFAULT_SOCKET, "--socket", envvar="OCTRAVPN_SOCKET", help="octravpnd's control socket."
    ),
) -> None:
    """Attach a device key to the selected wallet."""
    app_ctx = get(ctx)
    app_ctx.out.record(register(app_ctx, device, signature=signature, fund=fund, socket=socket))


@app.command()
def consent(
    ctx: typer.Context, wallet: str = typer.Argument(..., help="The wallet this device key will act for.")
) -> None:
    """Sign, with the selected wallet's key, consent to act for WALLET (give the output to `device add --signature`)."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    owner = app_ctx.address_of(wallet)
    device_key = app_ctx.account()
    signature = sign(client.domain(), Device(wallet=owner), bytes(device_key.key))
    app_ctx.out.record(
        {"device": device_key.address, "wallet": owner, "signature": "0x" + signature.hex()}, title="device consent"
    )


@app.command()
def revoke(ctx: typer.Context, device: str = typer.Argument(..., help="Device address or wallet name.")) -> None:
    """Detach a device key."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(device)
    result = app_ctx.client().revoke_device(address)
    app_ctx.out.record({"device": address, "revoked": True, **tx_summary(result)})


@app.command("list")
def list_(
    ctx: typer.Context,
    wallet: str = typer.Argument(None, help="Wallet name or address (default: the selected wallet)."),
) -> None:
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
