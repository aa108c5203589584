"""`octravpn devnet up|down|status|reset`: a local anvil chain with OctraVPN on it."""

from __future__ import annotations

import time
from urllib.parse import urlparse
from dataclasses import replace

import typer
from web3 import Web3

from octravpn.chain.deploy import DeployParams, deploy
from octravpn.chain.devnet import LocalDevnet
from octravpn.cli.context import get
from octravpn.config import Network
from octravpn.errors import UsageError

app = typer.Typer(name="devnet", help="Run a local devnet (anvil) with OctraVPN deployed.", no_args_is_help=True)

NETWORK = "devnet"
CHAIN_ID = 31337
# Named local wallets the devnet creates and funds on first start.
WALLETS = ("owner", "operator", "operator-receipts", "alice", "bob")
FUNDING_WEI = 100 * 10**18


def _devnet(ctx, port: int | None = None, host: str | None = None) -> LocalDevnet:
    app_ctx = get(ctx)
    known = app_ctx.config.networks.get(NETWORK)
    known_host, _, known_port = urlparse(known.rpc_url).netloc.rpartition(":") if known else ("", "", "")
    port = port or (int(known_port) if known_port else 8545)
    return LocalDevnet(app_ctx.config.devnet_dir, port=port, host=host or known_host or "127.0.0.1", chain_id=CHAIN_ID)


@app.command()
def up(
    ctx: typer.Context,
    port: int = typer.Option(None, help="Port (default 8545, or the one used before)."),
    host: str = typer.Option(None, help="Local address to listen on (default 127.0.0.1, or the one used before)."),
) -> None:
    """Start the devnet (or attach to it), deploy OctraVPN, create and fund local wallets."""
    app_ctx, out = get(ctx), get(ctx).out
    started_at = time.monotonic()
    running = _devnet(ctx)
    if running.pid() is not None and (port not in (None, running.port) or host not in (None, running.host)):
        raise UsageError(f"the devnet already runs on {running.host}:{running.port}: `octravpn devnet down` first to move it")
    devnet = _devnet(ctx, port, host)
    started = devnet.start()
    w3 = Web3(Web3.HTTPProvider(devnet.rpc_url))
    config = app_ctx.config
    known = config.networks.get(NETWORK)
    contract = known.contract if known and known.contract and w3.eth.get_code(known.contract) else None

    created = []
    if contract is None:
        password = app_ctx.password(confirm=not any(app_ctx.keystore.exists(n) for n in WALLETS), purpose="the devnet wallets")
        for name in WALLETS:
            if not app_ctx.keystore.exists(name):
                app_ctx.keystore.create(name, password, light_kdf=True)
                created.append(name)
            w3.provider.make_request("anvil_setBalance", [app_ctx.keystore.info(name).address, hex(FUNDING_WEI)])
        owner = app_ctx.keystore.unlock("owner", password)
        out.step("deploying OctraVPN …")
        contract = deploy(w3, owner, DeployParams()).address

    network = Network(name=NETWORK, rpc_url=devnet.rpc_url, chain_id=CHAIN_ID, contract=contract)
    updated = config.with_network(network, make_default=config.default_network in (None, NETWORK))
    if updated.default_wallet is None:
        updated = replace(updated, default_wallet="alice")
    app_ctx.save_config(updated)
    out.record({
        "status": "started" if started else "already running",
        "rpc_url": devnet.rpc_url,
        "chain_id": CHAIN_ID,
        "contract": contract,
        "wallets_created": created,
        "state": str(devnet.state_path),
        "seconds": round(time.monotonic() - started_at, 2),
    }, title="devnet")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the devnet; its chain is kept for the next `up`."""
    devnet = _devnet(ctx)
    stopped = devnet.stop()
    get(ctx).out.record({"status": "stopped" if stopped else "not running", "state": str(devnet.state_path)})


@app.command()
def status(ctx: typer.Context) -> None:
    """Whether the devnet runs, its RPC, block height and contract."""
    app_ctx = get(ctx)
    devnet = _devnet(ctx)
    pid = devnet.pid()
    data = {"running": pid is not None, "pid": pid, "rpc_url": devnet.rpc_url, "state": str(devnet.state_path)}
    if pid is not None:
        data["block"] = Web3(Web3.HTTPProvider(devnet.rpc_url)).eth.block_number
    known = app_ctx.config.networks.get(NETWORK)
    data["contract"] = known.contract if known else None
    app_ctx.out.record(data, title="devnet")


@app.command()
def reset(ctx: typer.Context, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Stop the devnet and erase its chain; the next `up` deploys afresh."""
    app_ctx = get(ctx)
    if not yes:
        typer.confirm("Erase the devnet chain (balances, contract, sessions)?", abort=True)
    devnet = _devnet(ctx)
    devnet.reset()
    known = app_ctx.config.networks.get(NETWORK)
    if known:
        app_ctx.save_config(app_ctx.config.with_network(Network(name=NETWORK, rpc_url=known.rpc_url, chain_id=CHAIN_ID)))
    app_ctx.out.record({"status": "reset", "state": str(devnet.state_path)})

