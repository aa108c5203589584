"""The `octravpn` command tree: global options, commands loaded when used, and how failures end.

Each command's module (and with it web3, eth-account, SQLAlchemy …) is imported only when that command
runs, so `octravpn --help` and the commands that need no chain start quickly. Global options may come
before or after the command (`octravpn --json status` or `octravpn status --json`).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path

import typer
from typer import _click as click  # typer vendors a reduced click: its Context and exceptions are these
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperCommand, TyperGroup, TyperOption

from octravpn.cli.output import fail, stdout
from octravpn.errors import OctraVPNError

INTERRUPTED = 130  # as a shell reports a process ended by SIGINT

# name -> (module, attribute, the line `octravpn --help` shows). A module is imported when its command runs.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("octravpn.cli.connect", "up", "Connect through an exit: open a session and bring the tunnel up."),
    "down": ("octravpn.cli.connect", "down", "Leave the session, restore the network and settle."),
    "status": ("octravpn.cli.connect", "status", "Exit, session, tunnel, receipts and deposit left (from the daemon)."),
    "set": (
        "octravpn.cli.connect",
        "set_",
        "Change preferences: kill switch, DNS, receipt allowances; hostname, mesh, relay, names.",
    ),
    "ping": ("octravpn.cli.mesh", "ping", "Ping a device of your tailnet through the mesh: how, and how fast."),
    "ip": ("octravpn.cli.mesh", "ip", "This device's tailnet addresses, or another device's."),
    "wg-config": (
        "octravpn.cli.connect",
        "wg_config",
        "Open a session and write a wg-quick file for any WireGuard app.",
    ),
    "daemon": ("octravpn.cli.daemon", "app", "Run octravpnd, the device daemon the commands above talk to."),
    "tx": ("octravpn.cli.tx", "tx", "What became of a transaction: mined, reverted (and why), pending or dropped."),
    "slash": ("octravpn.cli.gov", "slash", "Slash an operator: with proof of double-signing, or by governance."),
    "devnet": ("octravpn.cli.devnet", "app", "Run a local devnet (anvil) with OctraVPN deployed."),
    "wallet": ("octravpn.cli.wallet", "app", "Manage wallets (encrypted keystore files)."),
    "network": ("octravpn.cli.network", "app", "Configure networks (RPC URL, chain id, contract)."),
    "operator": ("octravpn.cli.operator", "app", "Operate an exit: stake, register, update, retire."),
    "node": ("octravpn.cli.node", "app", "Run an exit node: WireGuard, handshake API, metering, settlement."),
    "tailnet": ("octravpn.cli.tailnet", "app", "Create and manage tailnets, members, exits, ACLs and invites."),
    "device": ("octravpn.cli.device", "app", "Let device keys (a laptop, a phone) act for your wallet."),
    "acl": ("octravpn.cli.acl", "app", "Check tailnet policy files and ask what they allow."),
    "session": ("octravpn.cli.session", "app", "Open, inspect and settle sessions."),
    "earnings": ("octravpn.cli.earnings", "app", "See and claim an operator's earnings."),
    "gov": ("octravpn.cli.gov", "app", "Governance: timelocked parameters, pause, ownership, program treasury."),
    "indexer": ("octravpn.cli.indexer", "app", "Index the contract's events into SQL and serve the discovery API."),
    "exits": ("octravpn.cli.exits", "app", "Discover exits (through an indexer)."),
}


@functools.cache  # hoisting the global options and running the command both need it: built once
def load_command(name: str) -> click.Command:
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)  # a group even with one command (`exits list`)
    command = typer.main.get_command(_single(target))
    command.name = name
    return command


def _single(function) -> typer.Typer:
    app_ = typer.Typer(add_completion=False)
    app_.command()(function)
    return app_


class LazyGroup(TyperGroup):
    """Lists every command from `COMMANDS` without importing it; imports one when it is run."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        if self._listing:  # `--help` needs each command's one line, not its module
            return TyperCommand(name, help=COMMANDS[name][2])
        return load_command(name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        stdout.print(f"octravpn {version('octravpn')}")
        raise typer.Exit()


app = typer.Typer(
    name="octravpn",
    cls=LazyGroup,
    help="OctraVPN: a private mesh VPN whose exits are bought and settled on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", help="Config file (default: $XDG_CONFIG_HOME/octravpn/config.toml).", envvar="OCTRAVPN_CONFIG"
    ),
    network_name: str | None = typer.Option(
        None, "--network", "-n", help="Network to use (default: the config's).", envvar="OCTRAVPN_NETWORK"
    ),
    wallet_name: str | None = typer.Option(
        None, "--wallet", "-w", help="Wallet that signs (default: the config's).", envvar="OCTRAVPN_WALLET"
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the wallet passphrase from this file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    timeout: float = typer.Option(120.0, "--timeout", min=0.1, help="Seconds to wait for a transaction to be mined."),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    from octravpn.cli.context import AppContext

    ctx.obj = AppContext(
        config_path=config,
        network_name=network_name,
        wallet_name=wallet_name,
        password_file=password_file,
        as_json=as_json,
        timeout=timeout,
    )


# ----------------------------------------------------------------------------- global options anywhere


def _global_options() -> dict[str, bool]:
    """Every spelling of a global option -> whether it takes a value."""
    root = typer.main.get_command(app)
    return {
        name: not param.is_flag
        for param in root.params
        if isinstance(param, TyperOption)
        for name in param.opts + param.secondary_opts
        if name not in ("-h", "--help", "--version")
    }


def _options_of(command: click.Command) -> dict[str, bool]:
    return {
        name: not (param.is_flag or param.count)
        for param in command.params
        if isinstance(param, TyperOption)
        for name in param.opts + param.secondary_opts
    }


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options found after the command to the front, where the parser expects them.

    The command's own options (and their values) stay where they are, and so does everything after `--`."""
    globals_ = _global_options()
    front, rest, i = [], [], 0
    command: click.Command | None = None
    own: dict[str, bool] = {}  # the options of the command named so far
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if token == "--":
            rest += argv[i:]
            break
        if name in own:  # the command's own option, with its value (which may look like anything)
            takes = own[name] and "=" not in token
            rest += argv[i : i + 1 + takes]
            i += 1 + takes
            continue
        if name in globals_:
            takes = globals_[name] and "=" not in token
            front += argv[i : i + 1 + takes]
            i += 1 + takes
            continue
        if not token.startswith("-"):
            command = _next_command(command, token)
            if command is not None:
                own = _options_of(command)
        rest.append(token)
        i += 1
    return front + rest


def _next_command(current: click.Command | None, token: str) -> click.Command | None:
    """The command `token` names under `current` (the root when None), or `current` if it names none."""
    if current is None:
        return load_command(token) if token in COMMANDS else None
    if isinstance(current, TyperGroup):
        return current.get_command(click.Context(current), token) or current
    return current


# ----------------------------------------------------------------------------- running


def run(argv: list[str]) -> int:
    """Run one command line; the exit code. Every failure is one line on stderr."""
    from octravpn.chain.sent import sent_transactions

    try:
        code = app(args=hoist_global_options(argv), prog_name="octravpn", standalone_mode=False)
    except OctraVPNError as exc:
        fail(str(exc))
        return exc.exit_code
    except NoArgsIsHelpError as exc:
        stdout.print(exc.format_message())  # a bare group: show its help
        return 0
    except click.ClickException as exc:  # bad usage: unknown command, missing option, bad value
        fail(f"{exc.format_message()} (see --help)")
        return exc.exit_code
    except typer.Abort:
        code = INTERRUPTED
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # a bug: still one line, and the way to see more
        if os.environ.get("OCTRAVPN_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (a bug: please report it; OCTRAVPN_DEBUG=1 shows where)")
        return 1
    if code == INTERRUPTED:
        return interrupted(sent_transactions())
    return code if isinstance(code, int) else 0


def interrupted(sent: list[str]) -> int:
    """Ctrl-C: say whether anything had left this machine, so nobody pays twice by running it again."""
    if sent:
        fail(
            f"interrupted after sending {', '.join(sent)}: do not run the command again before "
            f"`octravpn tx {sent[-1]} --wait` says what became of it"
        )
    else:
        fail("interrupted: no transaction was sent")
    return INTERRUPTED


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
