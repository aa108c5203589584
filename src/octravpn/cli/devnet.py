"""`octravpn devnet up|down|status|reset|fund|advance`: a local anvil chain with OctraVPN on it."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urlparse

import typer

from octravpn.chain.devnet import DevnetError, LocalDevnet
from octravpn.cli.context import get
from octravpn.config import Network
from octravpn.errors import UsageError
from octravpn.units import NATIVE_DECIMALS, NATIVE_SYMBOL, amount_record, parse_amount, parse_duration

app = typer.Typer(
    name="devnet", help="Run a local devnet (anvil) with OctraVPN deployed.", no_args_is_help=True, add_completion=False
)

NETWORK = "devnet"
CHAIN_ID = 31337
# Named local wallets the devnet creates and funds on first start.
WALLETS = ("owner", "operator", "operator-receipts", "alice", "bob")
FUNDING_WEI = 100 * 10**18


def _devnet(ctx, port: int | None = None, host: str | None = None) -> LocalDevnet:
    """The devnet at the given address, else where it last started (or the config points), else 127.0.0.1:8545."""
    app_ctx = get(ctx)
    known = app_ctx.config.networks.get(NETWORK)
    configured = urlparse(known.rpc_url) if known else None
    remembered = LocalDevnet.remembered_address(app_ctx.config.devnet_dir)
    if remembered is None and configured is not None and configured.hostname and configured.port:
        remembered = (configured.hostname, configured.port)
    default_host, default_port = remembered or ("127.0.0.1", 8545)
    return LocalDevnet(
        app_ctx.config.devnet_dir, port=port or default_port, host=host or default_host, chain_id=CHAIN_ID
    )


@app.command()
def up(
    ctx: typer.Context,
    port: int = typer.Option(None, min=1, max=65535, help="Port (default 8545, or the one used before)."),
    host: str = typer.Option(None, help="Local address to listen on (default 127.0.0.1, or the one used before)."),
    erc20: bool = typer.Option(
        False,
        "--erc20",
        help="Pay in an ERC-20 (Devnet Dollar, dUSD, minted to every wallet) instead of the chain's coin. "
        "Takes effect when the contract is deployed (a new devnet, or after `devnet reset`).",
    ),
) -> None:
    """Start the devnet (or attach to it), deploy OctraVPN, create and fund local wallets.

    The first start creates five wallets encrypted with one passphrase: give it with --password-file FILE or
    OCTRAVPN_PASSWORD (or type it when asked on a terminal)."""
    app_ctx, out = get(ctx), get(ctx).out
    started_at = time.monotonic()
    running = _devnet(ctx)
    if running.pid() is not None and (port not in (None, running.port) or host not in (None, running.host)):
        raise UsageError(
            f"the devnet already runs on {running.host}:{running.port}: `octravpn devnet down` first to move it"
        )
    config = app_ctx.config
    known = config.networks.get(NETWORK)
    missing = [name for name in WALLETS if not app_ctx.keystore.exists(name)]
    # Everything the command may need is asked for before anything starts.
    password = None
    if missing or not (known and known.contract and running.state_path.exists()):
        password = app_ctx.password(confirm=bool(missing), purpose="the devnet wallets")
    devnet = _devnet(ctx, port, host)
    started = devnet.start()
    try:
        contract, created, deployment = _deploy_if_needed(app_ctx, devnet, known, password, erc20=erc20)
    except BaseException:
        if started:  # leave nothing running that this command started
            devnet.stop()
        raise
    network = Network(name=NETWORK, rpc_url=devnet.rpc_url, chain_id=CHAIN_ID, contract=contract)
    updated = config.with_network(network, make_default=config.default_network in (None, NETWORK))
    if updated.default_wallet is None:
        updated = replace(updated, default_wallet="alice")
    app_ctx.save_config(updated)
    out.record(
        {
            "status": "started" if started else "already running",
            "rpc_url": devnet.rpc_url,
            "chain_id": CHAIN_ID,
            "contract": contract,
            "wallets_created": created,
            **(
                {
                    "tx": deployment.tx_hash,
                    "block": deployment.receipt["blockNumber"],
                    "gas_used": deployment.receipt["gasUsed"],
                }
                if deployment
                else {}
            ),
            "state": str(devnet.state_path),
            "seconds": round(time.monotonic() - started_at, 2),
        },
        title="devnet",
    )


def _deploy_if_needed(app_ctx, devnet: LocalDevnet, known: Network | None, password: str | None, *, erc20: bool):
    """The contract on the devnet's chain, deployed (with wallets created and funded) if it has none; the wallets
    created and the deployment's transaction (None when it was there already). With `erc20`, it is paid in a
    Devnet Dollar deployed first and minted to every wallet."""
    from web3 import Web3

    from octravpn.chain.deploy import NATIVE_ASSET, DeployParams, deploy_contracts, deploy_devnet_token

    w3 = Web3(Web3.HTTPProvider(devnet.rpc_url))
    if known and known.contract and w3.eth.get_code(Web3.to_checksum_address(known.contract)):
        return known.contract, [], None
    if password is None:
        password = app_ctx.password(purpose="the devnet wallets")
    created = []
    for name in WALLETS:
        if not app_ctx.keystore.exists(name):
            app_ctx.keystore.create(name, password, light_kdf=True)
            created.append(name)
        devnet.rpc("anvil_setBalance", [app_ctx.keystore.info(name).address, hex(FUNDING_WEI)])
    owner = app_ctx.keystore.unlock("owner", password)
    asset = NATIVE_ASSET
    if erc20:
        app_ctx.out.step("deploying Devnet Dollar (dUSD) …")
        asset = deploy_devnet_token(w3, owner, [app_ctx.keystore.info(name).address for name in WALLETS])
    app_ctx.out.step("deploying OctraVPN …")
    deployment = deploy_contracts(w3, owner, DeployParams(asset=asset))
    return deployment.contract.address, created, deployment.transactions[-1]


def _running(ctx) -> LocalDevnet:
    devnet = _devnet(ctx)
    if devnet.pid() is None:
        raise DevnetError("the devnet is not running: start it with `octravpn devnet up`")
    return devnet


@app.command()
def fund(
    ctx: typer.Context,
    wallet: str = typer.Argument(..., help="Wallet name or address."),
    amount: str = typer.Argument(..., help="Native coin to add, e.g. 10."),
) -> None:
    """Add native coin to a wallet (devnet only: anvil sets the balance)."""
    app_ctx = get(ctx)
    devnet = _running(ctx)
    address = app_ctx.address_of(wallet)
    added = parse_amount(amount, NATIVE_DECIMALS)
    balance = int(devnet.rpc("eth_getBalance", [address, "latest"]), 16) + added
    devnet.rpc("anvil_setBalance", [address, hex(balance)])
    app_ctx.out.record(
        {
            "address": address,
            "added": amount_record(added, NATIVE_DECIMALS, NATIVE_SYMBOL),
            "balance": amount_record(balance, NATIVE_DECIMALS, NATIVE_SYMBOL),
        },
        title="funded",
    )


@app.command()
def advance(ctx: typer.Context, duration: str = typer.Argument(..., help="How far: 90s, 15m, 24h, 7d.")) -> None:
    """Move the devnet's clock forward and mine a block, to try what waits for time (no-show, sweep,
    finalize-unbond, timelocked governance)."""
    app_ctx = get(ctx)
    devnet = _running(ctx)
    devnet.rpc("evm_increaseTime", [parse_duration(duration)])
    devnet.rpc("evm_mine", [])
    block = devnet.rpc("eth_getBlockByNumber", ["latest", False])
    app_ctx.out.record(
        {"advanced": duration, "block": int(block["number"], 16), "timestamp": int(block["timestamp"], 16)},
        title="devnet clock advanced",
    )


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
        data["block"] = int(devnet.rpc("eth_blockNumber", []), 16)
    known = app_ctx.config.networks.get(NETWORK)
    data["contract"] = known.contract if known else None
    app_ctx.out.record(data, title="devnet")


@app.command()
def reset(ctx: typer.Context, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Stop the devnet and erase its chain; the next `up` deploys afresh."""
    app_ctx = get(ctx)
    if not yes:
        app_ctx.confirm("Erase the devnet chain (balances, contract, sessions)?", yes=yes)
    devnet = _devnet(ctx)
    devnet.reset()
    known = app_ctx.config.networks.get(NETWORK)
    if known:
        app_ctx.save_config(
            app_ctx.config.with_network(Network(name=NETWORK, rpc_url=known.rpc_url, chain_id=CHAIN_ID))
        )
    app_ctx.out.record({"status": "reset", "state": str(devnet.state_path)})
