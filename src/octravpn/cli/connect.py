"""`octravpn up | down | status | wg-config`: thin clients of the device daemon (octravpnd).

The daemon holds the device key, the tunnel and the session; these commands
send it a request over its local socket and print the answer. None of them
loads web3 or eth-account, so they start as fast as Python does; the one
exception is registering this device on first use, which needs the member's
wallet (`up -w WALLET`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from octravpn.cli.context import AppContext, get
from octravpn.cli.quick import show_status
from octravpn.config import write_private_file
from octravpn.daemon.localclient import DaemonRefused, LocalAPI
from octravpn.daemon.paths import DEFAULT_SOCKET, read_socket
from octravpn.daemon.wire import UpRequest
from octravpn.errors import UsageError
from octravpn.units import parse_keep_alive

SOCKET_OPTION = typer.Option(
    DEFAULT_SOCKET,
    "--socket",
    envvar="OCTRAVPN_SOCKET",
    help="octravpnd's control socket (status reads the one beside it).",
)
EXIT_OPTION = typer.Option(
    ..., "--exit", help="Exit operator address, a local wallet name, or `auto` (best exit by the indexer: see README)."
)
TAILNET_OPTION = typer.Option(
    None, "--tailnet", help="Tailnet that pays (default: your one tailnet allowing the exit)."
)
MAX_PAY_OPTION = typer.Option(None, "--max-pay", help="Deposit to lock (default: the minimum session deposit).")
SESSION_OPTION = typer.Option(None, "--session", help="Use this open session of this device instead of opening one.")
REGION_OPTION = typer.Option(None, "--region", help="With --exit auto: only exits in this region.")
MAX_PRICE_OPTION = typer.Option(None, "--max-price", help="With --exit auto: highest price per MB (asset units).")
INDEXER_OPTION = typer.Option(
    None,
    "--indexer",
    envvar="OCTRAVPN_INDEXER",
    help="Indexer API URL for --exit auto (default: the daemon's --indexer).",
)
CONTROL_TIMEOUT = 180.0  # an `up` may wait for a transaction to be mined


def _exit(app_ctx: AppContext, exit_: str) -> str:
    return exit_ if exit_ == "auto" else app_ctx.address_of(exit_, what="--exit")


def _register(app_ctx: AppContext, api: LocalAPI, refused: DaemonRefused, fund: str) -> None:
    """Register the daemon's device key for the wallet given with -w (its consent comes from the daemon)."""
    from octravpn.cli.device import register

    device = refused.detail.get("device") or api.get("/v1/status")["device"]
    app_ctx.out.step(f"this device ({device}) acts for no member yet: registering it for wallet {app_ctx.wallet()}")
    register(app_ctx, device, fund=fund, socket=api.socket_path)


def up(
    ctx: typer.Context,
    exit_: str = EXIT_OPTION,
    tailnet_id: int = TAILNET_OPTION,
    max_pay: str = MAX_PAY_OPTION,
    session_id: int = SESSION_OPTION,
    interface: str = typer.Option("ovpn0", "--interface", help="WireGuard interface to create."),
    kill_switch: bool = typer.Option(
        True, "--kill-switch/--no-kill-switch", help="Drop traffic outside the tunnel while up."
    ),
    accept_dns: bool = typer.Option(True, "--accept-dns/--no-accept-dns", help="Use the exit's DNS servers."),
    leeway: float = typer.Option(1.0, "--leeway", min=0, help="MB the exit may count beyond what this side saw."),
    loss: float = typer.Option(
        10.0,
        "--loss",
        min=0,
        max=100,
        metavar="PERCENT",
        help="Also sign for up to PERCENT more than this side saw: datagrams the exit sent "
        "and counted that were lost on the way.",
    ),
    fund: str = typer.Option(
        "0.01", "--fund", help="With -w on an unregistered device: native coin to send the device key for gas."
    ),
    region: str = REGION_OPTION,
    max_price: str = MAX_PRICE_OPTION,
    indexer: str = INDEXER_OPTION,
    keep_alive: str = typer.Option(
        "24h",
        "--keep-alive",
        help="How long `down` leaves the session open for the next `up` to rejoin with no transaction (0: none).",
    ),
    socket: Path = SOCKET_OPTION,
) -> None:
    """Connect: the daemon rejoins a session it left open with this exit (no transaction), or opens one (or uses
    --session), joins the exit and routes all traffic through it."""
    app_ctx = get(ctx)
    request = UpRequest(
        exit=_exit(app_ctx, exit_),
        tailnet=tailnet_id,
        max_pay=max_pay,
        session=session_id,
        region=region,
        max_price=max_price,
        indexer=indexer,
        interface=interface,
        kill_switch=kill_switch,
        accept_dns=accept_dns,
        leeway_mb=leeway,
        loss_percent=loss,
        keep_alive=parse_keep_alive(keep_alive),
    )
    api = LocalAPI(socket, timeout=CONTROL_TIMEOUT)
    try:
        state = api.post("/v1/up", request.to_json())
    except DaemonRefused as refused:
        if refused.code != "device-not-registered" or app_ctx.wallet_name is None:
            raise
        _register(app_ctx, api, refused, fund)
        state = api.post("/v1/up", request.to_json())
    app_ctx.out.record(state, title="connected")


def down(
    ctx: typer.Context,
    settle_wait: float = typer.Option(
        60.0, "--settle-wait", min=0, max=3600, help="Seconds to wait for the settlement (the daemon goes on after)."
    ),
    end: bool = typer.Option(
        False, "--end", help="End the session too (settled now); while down, end every session left open."
    ),
    socket: Path = SOCKET_OPTION,
) -> None:
    """Disconnect: last receipt signed, network restored, the session left open for the next `up` (until its
    keep-alive passes); with --end, the session ends and settles."""
    app_ctx = get(ctx)
    api = LocalAPI(socket, timeout=settle_wait + CONTROL_TIMEOUT)
    app_ctx.out.record(api.post("/v1/down", {"settle_wait": settle_wait, "end": end}), title="disconnected")


def status(
    ctx: typer.Context,
    watch: bool = typer.Option(
        False, "--watch", help="Print every change as it happens (one JSON line each) until Ctrl-C."
    ),
    socket: Path = SOCKET_OPTION,
) -> None:
    """The daemon's connection: exit, session, tunnel, receipts, deposit left, and what is wrong if anything is."""
    app_ctx = get(ctx)
    api = LocalAPI(read_socket(socket), timeout=5.0)
    if not watch:
        show_status(app_ctx.out, api.get("/v1/status"), title="status")
        return
    import json

    for snapshot in LocalAPI(read_socket(socket), timeout=3600.0).lines("/v1/watch"):
        sys.stdout.write(json.dumps(snapshot) + "\n")
        sys.stdout.flush()


def set_(
    ctx: typer.Context,
    kill_switch: bool = typer.Option(None, "--kill-switch/--no-kill-switch", help="Drop traffic outside the tunnel."),
    accept_dns: bool = typer.Option(None, "--accept-dns/--no-accept-dns", help="Use the exit's DNS servers."),
    leeway: float = typer.Option(None, "--leeway", min=0, help="MB the exit may count beyond what this side saw."),
    loss: float = typer.Option(
        None, "--loss", min=0, max=100, metavar="PERCENT", help="Also sign for up to PERCENT more than this side saw."
    ),
    hostname: str = typer.Option(None, "--hostname", help="This device's name in its tailnet (one DNS label)."),
    mesh_tailnet: int = typer.Option(
        None, "--tailnet", help="The tailnet whose mesh this device joins (when its member is in several)."
    ),
    mesh: bool = typer.Option(None, "--mesh/--no-mesh", help="Join the tailnet's mesh, or leave it."),
    relay: bool = typer.Option(
        None,
        "--relay/--no-relay",
        help="Relay for the tailnet's devices that cannot reach each other (public address).",
    ),
    mesh_dns: bool = typer.Option(
        None, "--mesh-dns/--no-mesh-dns", help="Answer the tailnet's names (HOSTNAME.octravpn.internal)."
    ),
    socket: Path = SOCKET_OPTION,
) -> None:
    """Change preferences in place: the connection's (until `down`) and the mesh's (kept); across daemon restarts."""
    app_ctx = get(ctx)
    given = {
        "kill_switch": kill_switch,
        "accept_dns": accept_dns,
        "leeway_mb": leeway,
        "loss_percent": loss,
        "hostname": hostname,
        "mesh_tailnet": mesh_tailnet,
        "mesh": mesh,
        "relay": relay,
        "mesh_dns": mesh_dns,
    }
    changes = {key: value for key, value in given.items() if value is not None}
    if not changes:
        raise UsageError(
            "nothing to set: give --kill-switch/--no-kill-switch, --accept-dns/--no-accept-dns, --leeway, --loss, "
            "--hostname, --tailnet, --mesh/--no-mesh, --relay/--no-relay or --mesh-dns/--no-mesh-dns"
        )
    state = LocalAPI(socket, timeout=CONTROL_TIMEOUT).post("/v1/prefs", changes)
    show_status(app_ctx.out, state, title="preferences set")


def wg_config(
    ctx: typer.Context,
    exit_: str = EXIT_OPTION,
    tailnet_id: int = TAILNET_OPTION,
    max_pay: str = MAX_PAY_OPTION,
    session_id: int = SESSION_OPTION,
    output: Path = typer.Option(None, "--output", "-o", help="Write the file here (mode 0600) instead of stdout."),
    dns: bool = typer.Option(
        False,
        "--dns/--no-dns",
        help="Write the exit's DNS servers as a `DNS =` line (WireGuard "
        "apps; wg-quick needs resolvconf for it). Default: a comment.",
    ),
    region: str = REGION_OPTION,
    max_price: str = MAX_PRICE_OPTION,
    indexer: str = INDEXER_OPTION,
    socket: Path = SOCKET_OPTION,
) -> None:
    """A wg-quick file for a session of this device, for any standard WireGuard app.

    Such an app signs no receipts: the exit settles by claiming the bytes it
    measured, and you confirm with `octravpn session confirm ID BYTES`."""
    app_ctx = get(ctx)
    request = UpRequest(
        exit=_exit(app_ctx, exit_),
        tailnet=tailnet_id,
        max_pay=max_pay,
        session=session_id,
        region=region,
        max_price=max_price,
        indexer=indexer,
    )
    answer = LocalAPI(socket, timeout=CONTROL_TIMEOUT).post("/v1/wg-config", {**request.to_json(), "dns_line": dns})
    if output is None:
        sys.stdout.write(answer["config"])
        return
    write_private_file(output, answer["config"])
    app_ctx.out.record(
        {"session": answer["session"], "file": str(output), "exit": answer["exit"]}, title="wg-quick file written"
    )
