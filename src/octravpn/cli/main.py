"""`octravpn`: the command line for every on-chain action.

Global options come before the command: `octravpn --json --wallet alice tailnet list`.
Errors print one line on stderr and exit non-zero: 2 bad input, 3 configuration,
4 wallet, 5 chain or node, 6 the contract refused (its revert reason is shown).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer is pinned; it vendors click

from octravpn.cli import (connect, devnet, device, earnings, exits, gov, indexer, network, node, operator, session, tailnet,
                          wallet)
from octravpn.cli.context import AppContext
from octravpn.cli.output import fail, stdout
from octravpn.errors import OctraVPNError

app = typer.Typer(
    name="octravpn",
    help="OctraVPN: a private mesh VPN whose exits are bought and settled on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (default: $XDG_CONFIG_HOME/octravpn/config.toml).", envvar="OCTRAVPN_CONFIG"),
    network_name: Optional[str] = typer.Option(None, "--network", "-n", help="Network to use (default: the config's).", envvar="OCTRAVPN_NETWORK"),
    wallet_name: Optional[str] = typer.Option(None, "--wallet", "-w", help="Wallet that signs (default: the config's).", envvar="OCTRAVPN_WALLET"),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help="Read the wallet passphrase from this file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for a transaction to be mined."),
) -> None:
    ctx.obj = AppContext(config_path=config, network_name=network_name, wallet_name=wallet_name,
                         password_file=password_file, as_json=as_json, timeout=timeout)


for module in (devnet, wallet, network, operator, node, tailnet, device, session, earnings, gov, indexer, exits):
    app.add_typer(module.app)
app.command("slash")(gov.slash)
app.command("up")(connect.up)
app.command("down")(connect.down)
app.command("status")(connect.status)
app.command("wg-config")(connect.wg_config)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="octravpn", standalone_mode=False)
    except OctraVPNError as exc:
        fail(str(exc))
        return exc.exit_code
    except NoArgsIsHelpError as exc:
        stdout.print(exc.format_message())  # a bare group: show its help
        return 0
    except typer.TyperException as exc:  # bad usage: unknown command, missing option, bad value
        fail(f"{exc.format_message()} (see --help)")
        return exc.exit_code
    except typer.Abort:
        fail("aborted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
