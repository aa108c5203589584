"""`octravpn network add|use|list`: the EVM networks OctraVPN runs on."""

from __future__ import annotations

from dataclasses import replace

import typer

from octravpn.addresses import parse_address
from octravpn.cli.context import get
from octravpn.config import Network
from octravpn.errors import UsageError
from octravpn.units import NATIVE_DECIMALS, parse_amount

app = typer.Typer(
    name="network", help="Configure networks (RPC URL, chain id, contract).", no_args_is_help=True, add_completion=False
)


@app.command()
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Network name, e.g. sepolia."),
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC endpoint, http(s)://."),
    rpc_fallbacks: list[str] = typer.Option(
        [],
        "--rpc-fallback",
        help="Another JSON-RPC endpoint of the same chain, used in turn when the one before fails (repeatable).",
    ),
    chain_id: int = typer.Option(..., "--chain-id", help="The chain id the RPC must serve."),
    contract: str = typer.Option(None, "--contract", help="Address of the deployed OctraVPN contract."),
    use: bool = typer.Option(False, "--use", help="Make it the default network."),
    force: bool = typer.Option(False, "--force", help="Replace a network of the same name."),
) -> None:
    """Add a network."""
    app_ctx = get(ctx)
    if name in app_ctx.config.networks and not force:
        raise UsageError(f"network {name!r} exists: pass --force to replace it")
    contract = parse_address(contract, what="--contract") if contract is not None else None
    network = Network(
        name=name, rpc_url=rpc_url, chain_id=chain_id, contract=contract, rpc_fallbacks=tuple(rpc_fallbacks)
    )
    app_ctx.save_config(app_ctx.config.with_network(network, make_default=use))
    app_ctx.out.record(
        {
            "name": name,
            "rpc_url": rpc_url,
            "rpc_fallbacks": list(network.rpc_fallbacks),
            "chain_id": chain_id,
            "contract": network.contract,
            "default": use,
        }
    )


@app.command()
def use(ctx: typer.Context, name: str = typer.Argument(..., help="Network name.")) -> None:
    """Make a network the default."""
    app_ctx = get(ctx)
    app_ctx.config.network(name)  # unknown: a clear error
    app_ctx.save_config(replace(app_ctx.config, default_network=name))
    app_ctx.out.record({"default_network": name})


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Configured networks."""
    app_ctx = get(ctx)
    config = app_ctx.config
    rows = [
        {
            "name": n.name,
            "rpc_url": n.rpc_url,
            "chain_id": n.chain_id,
            "contract": n.contract,
            "default": n.name == config.selected_network,
        }
        for n in config.networks.values()
    ]
    app_ctx.out.rows(rows, columns=["name", "rpc_url", "chain_id", "contract", "default"], title="networks")


@app.command()
def deploy(
    ctx: typer.Context,
    asset: str = typer.Option(
        "0x0000000000000000000000000000000000000000",
        "--asset",
        help="Payment asset: an ERC-20 address, or the zero address for the native coin.",
    ),
    decimals: int = typer.Option(
        None, "--decimals", min=0, max=77, help="The asset's decimals (default: read from the token; 18 for native)."
    ),
    min_session_deposit: str = typer.Option("0.001", help="Smallest session deposit, in the asset's units."),
    min_tailnet_deposit: str = typer.Option("0.01", help="Smallest tailnet deposit."),
    session_grace: int = typer.Option(86_400, min=1, help="Seconds an exit has to settle a session."),
    min_endpoint_stake: str = typer.Option("1", help="Stake an operator needs."),
) -> None:
    """Deploy OctraVPN on the selected network from the selected wallet (its governance owner)."""
    from octravpn.chain.client import connect  # the chain, for this command only
    from octravpn.chain.deploy import NATIVE_ASSET, DeployParams, deploy_contracts

    app_ctx = get(ctx)
    network = app_ctx.network()
    asset = parse_address(asset, what="--asset")
    w3 = connect(network, require_contract=False)
    if int(asset, 16) != 0 and not w3.eth.get_code(w3.to_checksum_address(asset)):
        raise UsageError(
            f"--asset {asset} has no contract on network {network.name!r}: give the address of an ERC-20 "
            f"token deployed there, or {NATIVE_ASSET} for the native coin"
        )
    if decimals is None:
        decimals = NATIVE_DECIMALS if int(asset, 16) == 0 else _token_decimals(w3, asset)
    params = DeployParams(
        asset=asset,
        session_grace=session_grace,
        min_session_deposit=parse_amount(min_session_deposit, decimals, what="min session deposit"),
        min_tailnet_deposit=parse_amount(min_tailnet_deposit, decimals, what="min tailnet deposit"),
        min_endpoint_stake=parse_amount(min_endpoint_stake, decimals, what="min endpoint stake"),
    )
    deployment = deploy_contracts(w3, app_ctx.account(), params, timeout=app_ctx.timeout)
    contract, core = deployment.contract, deployment.transactions[-1]
    app_ctx.save_config(app_ctx.config.with_network(replace(network, contract=contract.address)))
    app_ctx.out.record(
        {
            "network": network.name,
            "contract": contract.address,
            "owner": contract.functions.owner().call(),
            "asset": asset,
            "blueprint_txs": [sent.tx_hash for sent in deployment.transactions[:-1]],
            "tx": core.tx_hash,
            "block": core.receipt["blockNumber"],
            "gas_used": sum(sent.receipt["gasUsed"] for sent in deployment.transactions),
        },
        title="deployed",
    )


def _token_decimals(w3, asset: str) -> int:
    from web3.exceptions import BadFunctionCallOutput, ContractLogicError

    from octravpn.chain.client import ERC20_ABI

    try:
        return w3.eth.contract(address=asset, abi=ERC20_ABI).functions.decimals().call()
    except (ContractLogicError, BadFunctionCallOutput) as exc:
        raise UsageError(
            f"--asset {asset} does not answer decimals() like an ERC-20 token: check the address, or pass --decimals"
        ) from exc
