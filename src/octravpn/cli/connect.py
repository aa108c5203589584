"""`octravpn up | down | status | wg-config`: connect through an exit."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import typer

from octravpn.chain.errors import ChainError
from octravpn.cli.context import AppContext, get
from octravpn.client.agent import ClientAgent, ClientOptions, restore_network
from octravpn.client.discovery import DEFAULT_INDEXER, IndexerClient, best_exit, standing
from octravpn.client.state import ClientState, pid_alive, state_path
from octravpn.config import write_private_file
from octravpn.errors import UsageError
from octravpn.logs import configure_daemon_logging
from octravpn.protocol.metering import BYTES_PER_MB
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import SubprocessRunner

log = logging.getLogger("octravpn.client")


def _path(app_ctx: AppContext, interface: str) -> Path:
    return state_path(app_ctx.config.data_dir, interface)


def _status_row(app_ctx: AppContext, state: ClientState | None, *, alive: bool | None = None) -> dict:
    if state is None:
        return {"status": "down", "agent_running": False}
    left = max(state.deposit - state.paid_so_far, 0)
    return {
        "status": state.status, "agent_running": pid_alive(state.pid) if alive is None else alive,
        "interface": state.interface, "exit": state.exit, "exit_endpoint": state.exit_endpoint,
        "session": state.session_id, "tailnet": state.tailnet_id, "address": state.client_address,
        "measured_bytes": state.measured_bytes, "signed_bytes": state.signed_bytes, "receipts_signed": state.receipts_signed,
        "requests_refused": state.requests_refused,
        "deposit": app_ctx.show_amount(state.deposit), "paid_so_far": app_ctx.show_amount(state.paid_so_far),
        "deposit_left": app_ctx.show_amount(left),
        "dns": state.dns, "kill_switch": state.kill_switch_table is not None, "last_error": state.last_error,
        "settlement": _settlement(app_ctx, state.settlement),
    }


def _settlement(app_ctx: AppContext, settlement: dict | None) -> dict | None:
    """The agent's record of the settlement, its amounts in the one shape every command prints."""
    if not settlement:
        return settlement
    return {key: app_ctx.show_amount(value) if key in ("paid", "refund") else value for key, value in settlement.items()}


def _run_agent(agent: ClientAgent, *, settle_wait: float) -> None:
    """Tick until SIGTERM/SIGINT, then leave the session. The chain is polled on its own thread,
    so a stalled RPC never delays signing a receipt."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def polling() -> None:
        while True:
            agent.poll_chain()
            if stop.wait(agent.options.chain_poll_seconds):
                return
    poller = threading.Thread(target=polling, name="octravpn-chain", daemon=True)
    poller.start()
    while not stop.wait(1.0):
        try:
            agent.tick()
        except Exception:  # one bad tick must not end the session; it is logged
            log.exception("tick failed")
    poller.join(timeout=agent.options.rpc_timeout + 5)
    agent.leave(settle_wait=settle_wait)


def _daemonize(log_path: Path) -> bool:
    """Fork a detached agent; True in the child. The child keeps the parent's loaded modules and
    connections, which is why `up` is fast, and its output goes to `log_path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        return False
    os.setsid()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    return True


def _auto_exit(app_ctx, client, indexer: str, *, tailnet_id: int | None, region: str | None,
               max_price: int | None) -> tuple[str, int, int]:
    """The exit `--exit auto` connects to (rule: `best_exit`), the tailnet that pays for it, and the price it
    was chosen at (the session opens at that price or not at all)."""
    api = IndexerClient(indexer)
    try:
        if tailnet_id is None:
            # A wallet's own memberships come first: a device record (even one someone else made) never
            # replaces them; only a key that is a member of nothing pays through the wallet it acts for.
            member = client.sender.account.address
            tailnets = [t["id"] for t in api.tailnets_of(member)]
            owner = client.device_owner(member)
            if not tailnets and int(owner, 16) != 0:
                member = owner
                tailnets = [t["id"] for t in api.tailnets_of(member)]
            if len(tailnets) != 1:
                listed = ", ".join(map(str, tailnets)) or "none"
                raise UsageError(f"{member} is a member of tailnets: {listed}; choose the one that pays with --tailnet")
            tailnet_id = tailnets[0]
        chosen = best_exit(api.exits(tailnet=tailnet_id, region=region, max_price=max_price))
    finally:
        api.close()
    if chosen is None:
        wanted = "".join([f" in {region}" if region else "", " within --max-price" if max_price is not None else ""])
        raise UsageError(f"no active exit{wanted} is allowed by tailnet {tailnet_id}: see `octravpn exits list --tailnet "
                         f"{tailnet_id} --all`")
    app_ctx.out.step(f"--exit auto: {chosen['address']} ({chosen['region']}, standing {standing(chosen)}, "
                     f"price {chosen['price_per_mb']} per MB) for tailnet {tailnet_id}")
    return chosen["address"], tailnet_id, int(chosen["price_per_mb"])


EXIT_OPTION = typer.Option(..., "--exit", help="Exit operator address, a local wallet name, or `auto` (best exit by the "
                                              "indexer: see README).")
REGION_OPTION = typer.Option(None, "--region", help="With --exit auto: only exits in this region.")
MAX_PRICE_OPTION = typer.Option(None, "--max-price", help="With --exit auto: highest price per MB (asset units).")
INDEXER_OPTION = typer.Option(DEFAULT_INDEXER, "--indexer", envvar="OCTRAVPN_INDEXER", help="Indexer API URL (for --exit auto).")


def _resolve_exit(app_ctx, client, exit_: str, *, tailnet_id: int | None, region: str | None, max_price: str | None,
                  indexer: str) -> tuple[str, int | None, int | None]:
    """The exit's address (and, for `auto`, the tailnet that pays and the price it was chosen at) from what
    the user wrote. A named exit's price is the one the agent reads from the chain when it locates it."""
    if exit_ == "auto":
        return _auto_exit(app_ctx, client, indexer, tailnet_id=tailnet_id, region=region,
                          max_price=app_ctx.amount(max_price, what="max price") if max_price else None)
    if region or max_price:
        raise UsageError("--region and --max-price choose among exits: use them with --exit auto")
    return app_ctx.address_of(exit_), tailnet_id, None


def up(
    ctx: typer.Context,
    exit_: str = EXIT_OPTION,
    tailnet_id: int = typer.Option(None, "--tailnet", help="Tailnet that pays (default: your one tailnet allowing the exit)."),
    max_pay: str = typer.Option(None, "--max-pay", help="Deposit to lock (default: the minimum session deposit)."),
    session_id: int = typer.Option(None, "--session", help="Reuse this open session instead of opening one."),
    interface: str = typer.Option("ovpn0", "--interface", help="WireGuard interface to create."),
    kill_switch: bool = typer.Option(True, "--kill-switch/--no-kill-switch", help="Drop traffic outside the tunnel while up."),
    accept_dns: bool = typer.Option(True, "--accept-dns/--no-accept-dns", help="Use the exit's DNS servers."),
    leeway: float = typer.Option(1.0, "--leeway", min=0, help="MB the exit may count beyond what this side saw."),
    loss: float = typer.Option(10.0, "--loss", min=0, max=100, metavar="PERCENT",
                               help="Also sign for up to PERCENT more than this side saw: datagrams the exit sent "
                                    "and counted that were lost on the way."),
    settle_wait: float = typer.Option(60.0, "--settle-wait", min=0, help="Seconds `down` waits for the settlement."),
    foreground: bool = typer.Option(False, "--foreground", help="Stay in the foreground (for a service manager)."),
    dns_file: Path = typer.Option(Path("/etc/resolv.conf"), "--dns-file", hidden=True),
    region: str = REGION_OPTION,
    max_price: str = MAX_PRICE_OPTION,
    indexer: str = INDEXER_OPTION,
) -> None:
    """Connect: open or reuse a session, join the exit, route all traffic through it."""
    app_ctx = get(ctx)
    path = _path(app_ctx, interface)
    previous = ClientState.load(path)
    if previous is not None and previous.status != "down":
        if pid_alive(previous.pid) or previous.network_changed:
            raise UsageError(f"{interface} is already up (session {previous.session_id}): run `octravpn down` first")
    network = app_ctx.network()
    options = ClientOptions(interface=interface, kill_switch=kill_switch, accept_dns=accept_dns, dns_file=dns_file,
                            leeway=int(leeway * BYTES_PER_MB), loss_percent=loss)
    app_ctx.short_rpc(options.rpc_timeout)
    client = app_ctx.client()
    agent = ClientAgent(client=client, account=client.sender.account, network_name=app_ctx.network_name or "default",
                        rpc_url=network.rpc_url, runner=SubprocessRunner(), state_path=path, options=options)
    exit_addr, tailnet_id, chosen_price = _resolve_exit(app_ctx, client, exit_, tailnet_id=tailnet_id, region=region,
                                                        max_price=max_price, indexer=indexer)
    state = agent.connect(exit_addr=exit_addr, tailnet_id=tailnet_id,
                          max_pay=app_ctx.amount(max_pay, what="max pay") if max_pay else None,
                          session_id=session_id, previous=previous, chosen_price=chosen_price)
    configure_daemon_logging()
    if foreground:
        state.pid = os.getpid()
        state.save(path)
        app_ctx.out.record(_status_row(app_ctx, state, alive=True), title="connected")
        _run_agent(agent, settle_wait=settle_wait)
        app_ctx.out.record(_status_row(app_ctx, agent.state, alive=False), title="disconnected")
        return
    if _daemonize(path.with_suffix(".log")):
        try:
            agent.state.pid = os.getpid()
            agent.state.save(path)
            _run_agent(agent, settle_wait=settle_wait)
        finally:
            os._exit(0)
    for _ in range(50):  # the child records its pid first thing
        saved = ClientState.load(path)
        if saved is not None and saved.pid:
            state = saved
            break
        time.sleep(0.05)
    app_ctx.out.record(_status_row(app_ctx, state, alive=True), title="connected")


def down(
    ctx: typer.Context,
    interface: str = typer.Option("ovpn0", "--interface", help="The interface `up` created."),
    timeout: float = typer.Option(120.0, "--wait", min=1, help="Seconds to wait for the agent to finish."),
) -> None:
    """Leave: last receipt, settlement confirmed, network restored."""
    app_ctx = get(ctx)
    path = _path(app_ctx, interface)
    state = ClientState.load(path)
    if state is None or state.status == "down" and not state.network_changed:
        app_ctx.out.record(_status_row(app_ctx, state, alive=False), title="already down")
        return
    if pid_alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
            _reap(state.pid)
        state = ClientState.load(path)
    if state.status != "down" or state.network_changed:
        # The agent died (or hung): restore the network from the state file alone.
        app_ctx.short_rpc(ClientOptions().rpc_timeout)  # what became of the session: asked, not waited out
        restore_network(SubprocessRunner(), state)
        state.status = "down"
        state.last_error = f"the agent was not running: network restored; {_session_fate(app_ctx, state)}"
        state.save(path)
    app_ctx.out.record(_status_row(app_ctx, state, alive=False), title="disconnected")


def _session_fate(app_ctx: AppContext, state: ClientState) -> str:
    """What became of the session, as the chain says (not as the state file last knew)."""
    sid = state.session_id
    try:
        status = app_ctx.client(signer=False).session(sid).status_name
    except ChainError as exc:
        return f"could not read session {sid} on chain ({exc}): check it with `octravpn session show {sid}`"
    if status != "open":
        return f"session {sid} is already {status} on chain"
    return (f"session {sid} stays open until the exit settles it with your last receipt "
            f"(or `octravpn up --session {sid}`)")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its own parent reaps it


def status(ctx: typer.Context, interface: str = typer.Option("ovpn0", "--interface", help="The interface `up` created.")) -> None:
    """Exit, session, bytes, receipts and deposit left."""
    app_ctx = get(ctx)
    app_ctx.out.record(_status_row(app_ctx, ClientState.load(_path(app_ctx, interface))), title="status")


def wg_config(
    ctx: typer.Context,
    exit_: str = EXIT_OPTION,
    tailnet_id: int = typer.Option(None, "--tailnet", help="Tailnet that pays."),
    max_pay: str = typer.Option(None, "--max-pay", help="Deposit to lock (default: the minimum)."),
    session_id: int = typer.Option(None, "--session", help="Use this open session instead of opening one."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the file here (mode 0600) instead of stdout."),
    dns: bool = typer.Option(False, "--dns/--no-dns", help="Write the exit's DNS servers as a `DNS =` line (WireGuard "
                                                         "apps; wg-quick needs resolvconf for it). Default: a comment."),
    region: str = REGION_OPTION,
    max_price: str = MAX_PRICE_OPTION,
    indexer: str = INDEXER_OPTION,
) -> None:
    """A wg-quick file for a session, for any standard WireGuard app.

    Such an app signs no receipts: the exit settles by claiming the bytes it
    measured, and you confirm with `octravpn session confirm ID BYTES`."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    agent = ClientAgent(client=client, account=client.sender.account, network_name="", rpc_url=app_ctx.network().rpc_url,
                        runner=SubprocessRunner(), state_path=Path(os.devnull), options=ClientOptions())
    exit_addr, tailnet_id, chosen_price = _resolve_exit(app_ctx, client, exit_, tailnet_id=tailnet_id, region=region,
                                                        max_price=max_price, indexer=indexer)
    registered, exit_ip, port = agent.locate(exit_addr)
    sid = session_id if session_id is not None else agent.open_session(
        exit_addr, tailnet_id, app_ctx.amount(max_pay, what="max pay") if max_pay else None,
        registered.price_per_mb if chosen_price is None else chosen_price)
    keys = Keypair.generate()
    joined = agent.join(sid, keys, registered.wg_pubkey, signs_receipts=False)
    config = InterfaceConfig(name="octravpn", private_key=keys.private, addresses=(joined.client_address,), peers=(
        PeerConfig(public_key=joined.exit_public_key, allowed_ips=("0.0.0.0/0", "::/0"), endpoint=f"{exit_ip}:{port}",
                   persistent_keepalive=25),))
    text = f"# OctraVPN session {sid} through {exit_addr}\n" + config.wg_quick(dns=joined.dns, dns_line=dns)
    if output is None:
        sys.stdout.write(text)
        return
    write_private_file(output, text)
    app_ctx.out.record({"session": sid, "file": str(output), "exit": exit_addr}, title="wg-quick file written")
