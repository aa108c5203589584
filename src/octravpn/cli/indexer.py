"""`octravpn indexer …`: follow the contract into SQL and serve the discovery API."""

from __future__ import annotations

import typer

from octravpn.cli.context import AppContext, get
from octravpn.errors import UsageError
from octravpn.logs import configure_daemon_logging
from octravpn.wireguard.config import WireGuardConfigError, split_endpoint

app = typer.Typer(
    name="indexer",
    help="Index the contract's events into SQL and serve the discovery API.",
    no_args_is_help=True,
    add_completion=False,
)

DEVNET_CHAIN_ID = 31337


def _listen(text: str) -> tuple[str, int]:
    try:
        return split_endpoint(text)
    except WireGuardConfigError as exc:
        raise UsageError(f"--listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:8787") from exc


def _database(app_ctx: AppContext, url: str | None, *, reset: bool = False):
    from octravpn.indexer.database import default_url, open_index

    network = app_ctx.network()
    return open_index(url or default_url(app_ctx.config.data_dir, network.name), reset_damaged=reset)


def _confirmations(given: int | None, chain_id: int) -> int:
    # A local devnet mines a block per transaction and never reorganizes: show it at once.
    return given if given is not None else (0 if chain_id == DEVNET_CHAIN_ID else 12)


DB_OPTION = typer.Option(
    None,
    "--db",
    help="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB (default: SQLite in the data directory).",
)
LISTEN_OPTION = typer.Option(
    "127.0.0.1:8787", "--listen", envvar="OCTRAVPN_INDEXER_LISTEN", help="Where the API listens (HOST:PORT)."
)
MAX_LAG_OPTION = typer.Option(
    20, "--max-lag", min=0, help="Blocks behind the head (beyond confirmations) /healthz still calls ok."
)


@app.command()
def run(
    ctx: typer.Context,
    db: str = DB_OPTION,
    listen: str = LISTEN_OPTION,
    no_api: bool = typer.Option(False, "--no-api", help="Only follow the chain."),
    confirmations: int = typer.Option(
        None,
        "--confirmations",
        min=0,
        help="Blocks to wait before indexing one (default: 0 on the devnet, 12 elsewhere).",
    ),
    start_block: int = typer.Option(
        None,
        "--start-block",
        min=0,
        help="The contract's deployment block (default: found by searching the node's history).",
    ),
    batch_blocks: int = typer.Option(2000, "--batch-blocks", min=1, help="Blocks read per eth_getLogs call."),
    reorg_depth: int = typer.Option(64, "--reorg-depth", min=1, help="Newest blocks whose changes can be undone."),
    poll_interval: float = typer.Option(1.0, "--poll-interval", min=0.05, help="Seconds between polls once caught up."),
    max_lag: int = MAX_LAG_OPTION,
    reset: bool = typer.Option(False, "--reset", help="Forget the index and start again from the deployment block."),
) -> None:
    """Follow the contract's events into the database and serve the API, until stopped (Ctrl-C/SIGTERM)."""
    from octravpn.indexer.api import ChainReader
    from octravpn.indexer.follower import Follower, FollowSettings
    from octravpn.indexer.follower import reset as reset_index
    from octravpn.indexer.queries import Queries
    from octravpn.indexer.rpc import JsonRpc
    from octravpn.indexer.service import serve

    app_ctx = get(ctx)
    address = None if no_api else _listen(listen)
    network = app_ctx.network()
    contract = network.contract_address
    engine = _database(app_ctx, db, reset=reset)
    if reset:
        reset_index(engine)
    rpc = JsonRpc(network.rpc_url)
    wait = _confirmations(confirmations, network.chain_id)
    follower = Follower(
        engine,
        rpc,
        contract=contract,
        chain_id=network.chain_id,
        start_block=start_block,
        settings=FollowSettings(
            confirmations=wait, batch_blocks=batch_blocks, reorg_depth=reorg_depth, poll_interval=poll_interval
        ),
    )
    checkpoint = follower.initialize()
    configure_daemon_logging()
    app_ctx.out.step(
        f"indexing {contract} on {network.name} from block {checkpoint.block_number + 1} "
        f"({wait} confirmations) into {engine.url.render_as_string(hide_password=True)}"
    )
    if address:
        app_ctx.out.step(f"API on http://{address[0]}:{address[1]} (OpenAPI at /openapi.json)")
    api_rpc = JsonRpc(network.rpc_url)  # the API's own: the follower's client is busy on another thread
    try:
        serve(
            follower,
            Queries(engine),
            ChainReader(api_rpc, contract),
            host=address[0] if address else "",
            port=address[1] if address else None,
            confirmations=wait,
            max_lag=max_lag,
        )
    finally:
        api_rpc.close()
        rpc.close()
        engine.dispose()


@app.command("serve")
def serve_api(
    ctx: typer.Context,
    db: str = DB_OPTION,
    listen: str = LISTEN_OPTION,
    max_lag: int = MAX_LAG_OPTION,
    confirmations: int = typer.Option(None, "--confirmations", min=0, help="What the follower waits (for /healthz)."),
) -> None:
    """Serve the API over a database another `indexer run --no-api` fills."""
    from octravpn.indexer.api import ChainReader
    from octravpn.indexer.queries import Queries
    from octravpn.indexer.rpc import JsonRpc
    from octravpn.indexer.service import serve

    app_ctx = get(ctx)
    host, port = _listen(listen)
    network = app_ctx.network()
    engine = _database(app_ctx, db)
    rpc = JsonRpc(network.rpc_url)
    app_ctx.out.step(f"API on http://{host}:{port} over {engine.url.render_as_string(hide_password=True)}")
    try:
        serve(
            None,
            Queries(engine),
            ChainReader(rpc, network.contract) if network.contract else None,
            host=host,
            port=port,
            confirmations=_confirmations(confirmations, network.chain_id),
            max_lag=max_lag,
        )
    finally:
        rpc.close()
        engine.dispose()


@app.command()
def status(ctx: typer.Context, db: str = DB_OPTION) -> None:
    """Where the index is: checkpoint, chain head, lag, rows."""
    from octravpn.indexer.follower import read_checkpoint
    from octravpn.indexer.queries import Queries
    from octravpn.indexer.rpc import JsonRpc

    app_ctx = get(ctx)
    network = app_ctx.network()
    engine = _database(app_ctx, db)
    checkpoint = read_checkpoint(engine)
    if checkpoint is None:
        raise UsageError("nothing indexed yet in this database: run `octravpn indexer run`")
    rpc = JsonRpc(network.rpc_url)
    try:
        head = rpc.block_number()
    finally:
        rpc.close()
    stats = Queries(engine).stats()
    app_ctx.out.record(
        {
            "contract": checkpoint.contract,
            "indexed_block": checkpoint.block_number,
            "chain_head": head,
            "lag_blocks": max(0, head - checkpoint.block_number),
            "exits_active": stats["exits_active"],
            "tailnets": stats["tailnets"],
            "sessions": sum(stats["sessions"].values()),
            "database": engine.url.render_as_string(hide_password=True),
            "warning": _mismatch(checkpoint, head, network),
        },
        title="indexer",
    )


def _mismatch(checkpoint, head: int, network) -> str | None:
    """Why this index cannot describe the network's chain as it is now, if it cannot."""
    if checkpoint.contract != network.contract or checkpoint.chain_id != network.chain_id:
        return (
            f"this index is of contract {checkpoint.contract} on chain {checkpoint.chain_id}, but network "
            f"{network.name!r} is contract {network.contract} on chain {network.chain_id}: use another --db, "
            "or `octravpn indexer run --reset`"
        )
    if checkpoint.block_number > head:
        return (
            f"the index is at block {checkpoint.block_number}, past the chain's head {head}: the chain was reset "
            "or replaced (`devnet reset`?); index it again with `octravpn indexer run --reset`"
        )
    return None
