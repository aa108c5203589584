"""`octravpn daemon run | cleanup`: the device daemon, octravpnd (as root: it owns interfaces and routes)."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import typer

from octravpn.cli.context import get
from octravpn.daemon.paths import DEFAULT_SOCKET, DEFAULT_STATE_DIR
from octravpn.errors import ConfigError, UsageError

app = typer.Typer(
    name="daemon",
    help="Run octravpnd, the device daemon `up`, `down` and `status` talk to.",
    no_args_is_help=True,
    add_completion=False,
)

STATE_DIR_OPTION = typer.Option(
    DEFAULT_STATE_DIR,
    "--state-dir",
    envvar="OCTRAVPN_STATE_DIR",
    help="The device key and the connection's state (root only).",
)


def _group(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise UsageError(f"no group named {value!r}: create it (`groupadd {value}`) or pass a group id") from None


def _interface_name(name: str) -> str:
    from octravpn.daemon.wire import INTERFACE_NAME

    if not INTERFACE_NAME.match(name):
        raise UsageError(f"--mesh-interface {name!r}: 1-15 of letters, digits and _=+.-")
    return name


@app.command()
def run(
    ctx: typer.Context,
    state_dir: Path = STATE_DIR_OPTION,
    socket: Path = typer.Option(
        DEFAULT_SOCKET,
        "--socket",
        envvar="OCTRAVPN_SOCKET",
        help="Control socket; the read-only one is created beside it.",
    ),
    group: str = typer.Option(None, "--group", help="A group whose members may control the daemon (besides root)."),
    indexer: list[str] = typer.Option(
        None,
        "--indexer",
        envvar="OCTRAVPN_INDEXER",
        help="Indexer API URL (repeat for several): the mesh's mailboxes; the first also for `up --exit auto`.",
    ),
    mesh_interface: str = typer.Option("ovpn-mesh", "--mesh-interface", help="The tailnet mesh's WireGuard interface."),
    mesh_port: int = typer.Option(
        41641, "--mesh-port", min=1, max=65535, help="UDP port of the mesh's WireGuard interface."
    ),
    key_password_file: Path = typer.Option(
        None,
        "--key-password-file",
        help="Keep the device key encrypted, unlocked with the password in this "
        "file (systemd: LoadCredential=device-key-password).",
    ),
    dead_after: float = typer.Option(
        6.0, "--dead-after", min=1, help="Seconds without a sign of life before the exit counts as unreachable."
    ),
    dns_file: Path = typer.Option(Path("/etc/resolv.conf"), "--dns-file", hidden=True),
) -> None:
    """Run the daemon in the foreground (systemd runs it so; see README). Stopping it keeps the connection and its
    kill switch in place; a restart resumes it."""
    from octravpn.chain.client import open_client
    from octravpn.client.connect import resolve_ipv4
    from octravpn.daemon import identity
    from octravpn.daemon.run import serve
    from octravpn.daemon.service import Daemon, DaemonSettings
    from octravpn.logs import configure_daemon_logging
    from octravpn.wireguard.runner import SubprocessRunner

    app_ctx = get(ctx)
    if os.geteuid() != 0:
        raise UsageError("octravpnd manages interfaces, routes and the firewall: run it as root")
    network = app_ctx.network()
    password = identity.read_password_file(key_password_file) if key_password_file else identity.credentials_password()
    account = identity.load_or_create(state_dir, password=password)
    settings = DaemonSettings(
        state_dir=state_dir,
        network=network,
        indexers=tuple(dict.fromkeys(url.rstrip("/") for url in indexer or ())),
        dead_after=dead_after,
        dns_file=dns_file,
        mesh_interface=_interface_name(mesh_interface),
        mesh_port=mesh_port,
    )
    daemon = Daemon(
        settings,
        account=account,
        runner=SubprocessRunner(),
        resolve=resolve_ipv4,
        open_chain=lambda: open_client(network, account, rpc_timeout=5.0, rpc_retries=False),
    )
    configure_daemon_logging()
    serve(daemon, control_path=socket, group=_group(group))


@app.command()
def cleanup(
    ctx: typer.Context,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """With the daemon stopped: undo its changes to the network (interface, routes, kill switch, DNS, and the mesh's
    interface, filter, rules and resolver) from its state. The session stays open on chain; a restarted daemon
    would have resumed it."""
    from octravpn.daemon.connection import Status
    from octravpn.daemon.run import single_instance
    from octravpn.daemon.state import DaemonState
    from octravpn.host.dns import give_back
    from octravpn.host.mesh import MeshHost
    from octravpn.host.tunnel import restore
    from octravpn.mesh.state import MeshState
    from octravpn.wireguard.runner import SubprocessRunner

    app_ctx = get(ctx)
    lock = single_instance(state_dir)  # refuses while a daemon runs: it would put everything back
    try:
        path, mesh_path = state_dir / "state.json", state_dir / "mesh.json"
        state, mesh = DaemonState.load(path), MeshState.load(mesh_path)
        resolver = give_back(state_dir / "dns.json")
        if state.host is None and mesh.host is None:
            app_ctx.out.record(
                {"restored": resolver, "state": str(path)}, title="resolver restored" if resolver else "nothing to undo"
            )
            return
        session = state.connection.session_id if state.connection else None
        if mesh.host is not None:  # after a kill -9: the mesh's interface, filter, rules and resolver address stayed
            MeshHost(SubprocessRunner()).teardown(mesh.host)
            mesh.host = None
            mesh.save(mesh_path)
        if state.host is not None:
            restore(SubprocessRunner(), state.host)
            state.host, state.status, state.prefs, state.connection = None, Status.DOWN, None, None
            state.last_error = f"cleaned up by `octravpn daemon cleanup`; session {session} was left open on chain"
            state.save(path)
        app_ctx.out.record({"restored": True, "session_left_open": session}, title="network restored")
    except OSError as exc:
        raise ConfigError(f"cannot clean up from {state_dir}: {exc}") from exc
    finally:
        lock.close()
