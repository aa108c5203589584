"""`octravpn status | up | down` without loading the command tree.

These three only ask the daemon, and people (and scripts) run them most: the
full command line (Typer, with its validation machinery) costs more to load
than the question costs to answer. So a command line that is exactly one of
them, with options this module knows, is answered here with the standard
library; anything else (help, an unknown option, `status --watch`, `up` that
must first register the device with a wallet) goes the usual way, which
answers the same. `QUICK` lists the options; a test checks it against the
full commands' options, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

# Global options that do not change what these commands do (they select a wallet or network the daemon does not
# use here), and `--json`.
GLOBAL_WITH_VALUE = {"-w", "--wallet", "-n", "--network", "--config", "--password-file", "--timeout"}


def _seconds(text: str) -> int:
    """A keep-alive (`24h`, `0`); a ValueError sends anything else to the full parser, which explains it."""
    from octravpn.errors import UsageError
    from octravpn.units import parse_keep_alive

    try:
        return parse_keep_alive(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


# command -> option -> (field, type); a bool type means a flag that sets the field to that value.
QUICK: dict[str, dict[str, tuple[str, Callable | bool]]] = {
    "status": {"--socket": ("socket", str)},
    "down": {"--socket": ("socket", str), "--settle-wait": ("settle_wait", float), "--end": ("end", True)},
    "up": {
        "--socket": ("socket", str),
        "--exit": ("exit", str),
        "--tailnet": ("tailnet", int),
        "--max-pay": ("max_pay", str),
        "--session": ("session", int),
        "--interface": ("interface", str),
        "--kill-switch": ("kill_switch", True),
        "--no-kill-switch": ("kill_switch", False),
        "--accept-dns": ("accept_dns", True),
        "--no-accept-dns": ("accept_dns", False),
        "--leeway": ("leeway_mb", float),
        "--loss": ("loss_percent", float),
        "--fund": ("fund", str),
        "--region": ("region", str),
        "--max-price": ("max_price", str),
        "--indexer": ("indexer", str),
        "--keep-alive": ("keep_alive", _seconds),
    },
}


class _NotQuick(Exception):
    """The command line needs the full parser (which also explains any mistake in it)."""


def parse(argv: list[str]) -> tuple[str, bool, bool, dict] | None:
    """(command, as_json, wallet_given, options) for a command line this module answers; None for anything else."""
    command, as_json, wallet, options, i = None, False, False, {}, 0
    try:
        while i < len(argv):
            token = argv[i]
            name, has_value, value = token.partition("=")
            if command is None and not token.startswith("-"):
                if token not in QUICK:
                    raise _NotQuick
                command = token
            elif token == "--json":
                as_json = True
            elif name in GLOBAL_WITH_VALUE:
                wallet |= name in ("-w", "--wallet")
                i += 0 if has_value else 1
            elif command is not None and name in QUICK[command]:
                field, kind = QUICK[command][name]
                if isinstance(kind, bool):
                    if has_value:
                        raise _NotQuick
                    options[field] = kind
                else:
                    if not has_value:
                        i += 1
                        if i == len(argv):
                            raise _NotQuick
                        value = argv[i]
                    options[field] = kind(value)
            else:
                raise _NotQuick
            i += 1
    except (_NotQuick, ValueError):
        return None
    return (command, as_json, wallet, options) if command is not None else None


def flat(data: dict, prefix: str = "") -> dict:
    """Nested objects as dotted keys, for a two-column table (JSON output keeps the nesting)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and "human" not in value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _exit_address(exit_: str) -> str:
    """`auto`, an address, or a local wallet's name (read from its keystore file: no key is unlocked)."""
    from octravpn.addresses import looks_like_address

    if exit_ == "auto" or looks_like_address(exit_):
        return exit_
    from octravpn import config
    from octravpn.errors import UsageError, WalletError
    from octravpn.wallet import Keystore

    try:
        return Keystore(config.load().keystore_dir).info(exit_).address
    except (WalletError, config.ConfigError):
        raise UsageError(f"{exit_!r} is neither an address nor a local wallet") from None


def _answer(command: str, wallet_given: bool, options: dict) -> tuple[dict, str] | None:
    from octravpn.daemon.localclient import DaemonRefused, LocalAPI
    from octravpn.daemon.paths import control_socket, read_socket

    socket = Path(options.pop("socket")) if "socket" in options else control_socket()
    if command == "status":
        return LocalAPI(read_socket(socket), timeout=5.0).get("/v1/status"), "status"
    if command == "down":
        wait = options.get("settle_wait", 60.0)
        body = {"settle_wait": wait, "end": options.get("end", False)}
        return LocalAPI(socket, timeout=wait + 180.0).post("/v1/down", body), "disconnected"
    from octravpn.daemon.wire import UpRequest

    options.pop("fund", None)  # only for registering, which the full command does
    indexer = options.pop("indexer", None) or os.environ.get("OCTRAVPN_INDEXER") or None
    if "exit" not in options:
        return None  # a required option is missing: the full parser says so
    request = UpRequest(**{**options, "exit": _exit_address(options["exit"]), "indexer": indexer})
    try:
        return LocalAPI(socket, timeout=180.0).post("/v1/up", request.to_json()), "connected"
    except DaemonRefused as refused:
        if refused.code == "device-not-registered" and wallet_given:
            return None  # the full command registers the device with the wallet, then connects
        raise


def run(argv: list[str]) -> int | None:
    """Answer a plain `status`, `up` or `down` command line; None if it is not one (or needs the full command)."""
    parsed = parse(argv)
    if parsed is None:
        return None
    command, as_json, wallet_given, options = parsed
    from octravpn.errors import OctraVPNError

    try:
        answered = _answer(command, wallet_given, options)
    except OctraVPNError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    if answered is None:
        return None
    data, title = answered
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return 0
    from octravpn.cli.output import Output

    show_status(Output(False), data, title=title)
    return 0


PEER_COLUMNS = ["name", "addresses", "owner", "tags", "path", "endpoint", "handshake_age", "rx_bytes", "tx_bytes"]


def show_status(out, data: dict, *, title: str) -> None:
    """The daemon's answer as a table (the mesh's peers as a table of their own), or as JSON."""
    if out.as_json:
        out.record(data, title=title)
        return
    mesh = data.get("mesh")
    peers = mesh.get("peers", []) if isinstance(mesh, dict) else []
    shown = {**data, "mesh": {k: v for k, v in mesh.items() if k != "peers"}} if isinstance(mesh, dict) else data
    out.record(flat(shown), title=title)
    if peers:
        rows = [
            {**peer, "addresses": " ".join(peer["addresses"]), "tags": ",".join(peer["tags"]) or "-"} for peer in peers
        ]
        out.rows(rows, columns=PEER_COLUMNS, title="mesh peers")
