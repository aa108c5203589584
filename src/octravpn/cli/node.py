"""`octravpn node …`: run an exit node (the operator's side of sessions)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from octravpn.cli.context import AppContext, get
from octravpn.config import write_private_file
from octravpn.errors import ConfigError, UsageError
from octravpn.logs import configure_daemon_logging
from octravpn.protocol.metering import BYTES_PER_MB
from octravpn.wireguard.config import WireGuardConfigError, split_endpoint
from octravpn.wireguard.keys import KeyFormatError, Keypair, decode_key
from octravpn.wireguard.runner import SubprocessRunner

AGENT_RPC_TIMEOUT = 10.0  # one chain request: an outage is noticed (and said) quickly, never waited out

app = typer.Typer(
    name="node",
    help="Run an exit node: WireGuard, handshake API, metering, settlement.",
    no_args_is_help=True,
    add_completion=False,
)


def _node_dir(app_ctx: AppContext) -> Path:
    return app_ctx.config.data_dir / "node" / (app_ctx.network_name or app_ctx.config.selected_network or "default")


def _key_file(app_ctx: AppContext, given: Path | None) -> Path:
    return given or _node_dir(app_ctx) / "wg.key"


def read_private_key(path: Path) -> bytes:
    try:
        return decode_key(path.read_text().strip())
    except FileNotFoundError as exc:
        raise ConfigError(f"no WireGuard key at {path}: create one with `octravpn node keygen`") from exc
    except (OSError, KeyFormatError) as exc:
        raise ConfigError(f"cannot read the WireGuard key in {path}: {exc}") from exc


@app.command()
def keygen(
    ctx: typer.Context,
    key_file: Path = typer.Option(
        None, "--wg-key-file", help="Where to write it (default: the node's data directory)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing key (the exit must then `operator rotate-keys`)."
    ),
) -> None:
    """Create the exit's WireGuard key (mode 0600) and print the public key to register."""
    app_ctx = get(ctx)
    path = _key_file(app_ctx, key_file)
    if path.exists() and not force:
        keys = Keypair.from_private(read_private_key(path))
        app_ctx.out.record({"wg_key_file": str(path), "wg_pubkey": keys.public_b64, "created": False}, title="exit key")
        return
    keys = Keypair.generate()
    write_private_file(path, keys.private_b64 + "\n")
    app_ctx.out.record({"wg_key_file": str(path), "wg_pubkey": keys.public_b64, "created": True}, title="exit key")


def _metrics_address(text: str) -> tuple[str, int] | None:
    if text == "off":
        return None
    try:
        return split_endpoint(text)
    except WireGuardConfigError as exc:
        raise UsageError(f"--metrics {text!r}: give host:port (e.g. 127.0.0.1:9464) or off") from exc


def _receipt_wallet(app_ctx: AppContext, name: str | None) -> str:
    """The named wallet, else the local wallet whose address is the exit's registered receipt signer."""
    if name:
        return name
    client = app_ctx.client(signer=False)
    signer = client.endpoint(app_ctx.keystore.info(app_ctx.wallet()).address).receipt_signer
    for info in app_ctx.keystore.list():
        if info.address.lower() == signer.lower():
            return info.name
    raise ConfigError(f"no local wallet holds the exit's receipt key {signer}: import it, or pass --receipt-wallet")


@app.command()
def run(
    ctx: typer.Context,
    interface: str = typer.Option("ovpn-exit", "--interface", help="WireGuard interface to create (unique per host)."),
    tunnel_network: str = typer.Option(
        "10.77.0.0/16", "--tunnel-network", help="Client addresses; the exit takes the first."
    ),
    dns: list[str] = typer.Option([], "--dns", help="DNS server clients should use (repeatable)."),
    uplink: str = typer.Option(
        None, "--uplink", help="Interface clients' traffic leaves by (default: the default route's)."
    ),
    api_host: str = typer.Option(
        "0.0.0.0", "--api-host", help="Address the handshake API listens on (TCP, the endpoint's port)."
    ),
    receipt_every: float = typer.Option(64, "--receipt-every", min=0.001, help="Ask for a signed receipt every N MB."),
    max_unsigned: float = typer.Option(
        1024, "--max-unsigned", min=0.001, help="Cut a client that leaves more than N MB unsigned."
    ),
    max_loss: float = typer.Option(
        15,
        "--max-loss",
        min=0,
        max=99,
        metavar="PERCENT",
        help="…plus PERCENT of what the exit measured: datagrams it sent that never arrived.",
    ),
    final_receipt_wait: float = typer.Option(
        10, "--final-receipt-wait", min=0, help="Seconds a last receipt may take after a cut."
    ),
    idle_timeout: float = typer.Option(
        900,
        "--idle-timeout",
        min=1,
        help="End a session that carried under 8 bytes/s over N seconds (keepalives only).",
    ),
    keep_alive: float = typer.Option(
        86400,
        "--keep-alive",
        min=1,
        help="End a session its device left open (`down` without --end) after N seconds without a device.",
    ),
    settle_margin: int = typer.Option(
        None, "--settle-margin", min=0, help="Settle N seconds before the session grace ends."
    ),
    checkpoint_worth: float = typer.Option(
        10.0,
        "--checkpoint-worth",
        min=0,
        help="Be paid while a session stays open once what its receipts prove unpaid is worth N times the "
        "checkpoint's fee at the current gas price (native-coin deployments; 0: never).",
    ),
    checkpoint_at: str = typer.Option(
        None,
        "--checkpoint-at",
        help="Be paid while a session stays open once it owes at least this much, in the asset's units "
        "(any asset; an ERC-20 exit checkpoints only with it).",
    ),
    opening_budget: float = typer.Option(
        16,
        "--opening-budget",
        min=0,
        help="Serve a new session N MB before its open transaction is mined (no block to wait for; 0: none, its "
        "device waits for the block). What the exit risks on an open that never lands.",
    ),
    opening_wait: float = typer.Option(
        600, "--opening-wait", min=1, help="An open not mined within N seconds never landed: stop serving it."
    ),
    metrics: str = typer.Option("127.0.0.1:9464", "--metrics", help="Prometheus listener host:port, or off."),
    key_file: Path = typer.Option(
        None, "--wg-key-file", help="The exit's WireGuard private key (default: from `node keygen`)."
    ),
    receipt_wallet: str = typer.Option(
        None, "--receipt-wallet", help="Wallet of the receipt key (default: found by address)."
    ),
    state_dir: Path = typer.Option(None, "--state-dir", help="Where the node's database lives."),
) -> None:
    """Serve sessions until stopped (SIGTERM/Ctrl-C). Needs root for WireGuard and nftables."""
    # Imported here: the server stack (FastAPI, uvicorn, Prometheus) would slow every other command's start.
    from octravpn.node.agent import ExitAgent, NodeSettings
    from octravpn.node.service import serve
    from octravpn.node.store import NodeStore

    app_ctx = get(ctx)
    try:
        network = ipaddress.ip_network(tunnel_network)
    except ValueError as exc:
        raise UsageError(f"--tunnel-network: {exc}") from exc
    if network.version != 4 or network.num_addresses < 4:
        raise UsageError("--tunnel-network must be an IPv4 network with room for clients, e.g. 10.77.0.0/16")
    if max_unsigned < receipt_every:
        raise UsageError("--max-unsigned must be at least --receipt-every")
    settings = NodeSettings(
        interface=interface,
        tunnel_network=network,
        api_host=api_host,
        uplink=uplink,
        dns=tuple(dns),
        receipt_every=int(receipt_every * BYTES_PER_MB),
        max_unsigned=int(max_unsigned * BYTES_PER_MB),
        max_loss_percent=max_loss,
        final_receipt_wait=final_receipt_wait,
        idle_timeout=idle_timeout,
        keep_alive=keep_alive,
        settle_margin=settle_margin,
        checkpoint_multiple=checkpoint_worth,
        checkpoint_at=app_ctx.amount(checkpoint_at, what="--checkpoint-at") if checkpoint_at else None,
        opening_budget=int(opening_budget * BYTES_PER_MB),
        opening_wait=opening_wait,
    )
    metrics_address = _metrics_address(metrics)
    wg_private = read_private_key(_key_file(app_ctx, key_file))
    app_ctx.short_rpc(AGENT_RPC_TIMEOUT)
    receipt_name = _receipt_wallet(app_ctx, receipt_wallet)
    client = app_ctx.client()
    receipt_key = app_ctx.account(receipt_name)
    configure_daemon_logging()
    store = NodeStore((state_dir or _node_dir(app_ctx)) / "node.db")
    try:
        agent = ExitAgent(
            client=client,
            receipt_key=receipt_key,
            wg_private_key=wg_private,
            store=store,
            runner=SubprocessRunner(),
            settings=settings,
        )
        serve(agent, metrics_address=metrics_address)
    finally:
        store.close()
