"""`octravpn wallet create|import|list|show|balance`: encrypted keystore wallets."""

from __future__ import annotations

from pathlib import Path

import typer

from octravpn.cli.context import get
from octravpn.errors import UsageError
from octravpn.units import NATIVE_DECIMALS, NATIVE_SYMBOL, amount_record

app = typer.Typer(
    name="wallet", help="Manage wallets (encrypted keystore files).", no_args_is_help=True, add_completion=False
)


@app.command()
def create(ctx: typer.Context, name: str = typer.Argument(..., help="Wallet name, e.g. alice or op-receipts.")) -> None:
    """Create a wallet with a new random key, encrypted with a passphrase."""
    app_ctx = get(ctx)
    if app_ctx.keystore.exists(name):
        raise UsageError(f"wallet {name!r} already exists: choose another name")
    info = app_ctx.keystore.create(name, app_ctx.password(confirm=True, purpose=f"new wallet {name!r}"))
    app_ctx.out.record({"name": info.name, "address": info.address, "keystore": str(info.path)}, title="wallet created")


@app.command("import")
def import_(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Wallet name."),
    key_file: Path = typer.Option(None, "--key-file", help="File holding the hex private key (otherwise prompted)."),
) -> None:
    """Import an existing private key (never passed on the command line)."""
    app_ctx = get(ctx)
    if key_file is not None:
        try:
            key = key_file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read key file {key_file}: {exc.strerror}") from exc
    else:
        key = typer.prompt("Private key (hex)", hide_input=True)
    info = app_ctx.keystore.import_key(name, key, app_ctx.password(confirm=True, purpose=f"new wallet {name!r}"))
    app_ctx.out.record(
        {"name": info.name, "address": info.address, "keystore": str(info.path)}, title="wallet imported"
    )


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Local wallets and their addresses."""
    app_ctx = get(ctx)
    default = app_ctx.config.selected_wallet
    rows = [{"name": w.name, "address": w.address, "default": w.name == default} for w in app_ctx.keystore.list()]
    app_ctx.out.rows(rows, columns=["name", "address", "default"], title="wallets")


@app.command()
def show(
    ctx: typer.Context, name: str = typer.Argument(None, help="Wallet name (default: the selected wallet).")
) -> None:
    """A wallet's address and keystore file."""
    app_ctx = get(ctx)
    info = app_ctx.keystore.info(app_ctx.wallet(name))
    app_ctx.out.record({"name": info.name, "address": info.address, "keystore": str(info.path)})


@app.command()
def balance(
    ctx: typer.Context, name: str = typer.Argument(None, help="Wallet name or address (default: the selected wallet).")
) -> None:
    """Native-coin balance, and the payment asset's if it is an ERC-20."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(name or app_ctx.wallet())
    from octravpn.chain.client import NATIVE, connect  # the chain, for this command only

    network = app_ctx.network()
    w3 = connect(network, require_contract=False)
    native = w3.eth.get_balance(w3.to_checksum_address(address))
    data = {"address": address, "native": amount_record(native, NATIVE_DECIMALS, NATIVE_SYMBOL)}
    if network.contract:  # the payment asset is only known once a contract is configured
        client = app_ctx.client(signer=False)
        if client.asset != NATIVE:
            data["asset"] = app_ctx.show_amount(client.asset_balance(address))
    app_ctx.out.record(data, title="balance")
