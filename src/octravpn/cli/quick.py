"""`octravpn status` without loading the command tree.

Status is what people and scripts run most, and it only asks the daemon: the
full command line (Typer, with its validation machinery) costs more to load
than the question costs to answer. So a command line that is exactly
`status` with options this module knows is answered here, with the standard
library; anything else (help, an unknown option, another command) goes the
usual way, which answers `status` the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Global options that do not change what `status` prints (they select a wallet or network it does not use).
IGNORED_WITH_VALUE = {"-w", "--wallet", "-n", "--network", "--config", "--password-file", "--timeout"}


def parse(argv: list[str]) -> tuple[bool, Path | None] | None:
    """(as_json, socket) for a plain `status` command line; None for anything else."""
    as_json, socket, command, i = False, None, None, 0
    while i < len(argv):
        token = argv[i]
        name, has_value, value = token.partition("=")
        if token == "--json":
            as_json = True
        elif name == "--socket":
            if not has_value:
                i += 1
                if i == len(argv):
                    return None
                value = argv[i]
            socket = Path(value)
        elif name in IGNORED_WITH_VALUE:
            i += 0 if has_value else 1
        elif token == "status" and command is None:
            command = token
        else:
            return None
        i += 1
    return (as_json, socket) if command == "status" else None


def flat(data: dict, prefix: str = "") -> dict:
    """Nested objects as dotted keys, for a two-column table (JSON output keeps the nesting)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and "human" not in value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def status(argv: list[str]) -> int | None:
    """Answer a plain `status` command line; None if it is not one."""
    parsed = parse(argv)
    if parsed is None:
        return None
    as_json, socket = parsed
    from octravpn.daemon.localclient import LocalAPI
    from octravpn.daemon.paths import control_socket, read_socket
    from octravpn.errors import OctraVPNError

    socket = socket or control_socket()
    try:
        snapshot = LocalAPI(read_socket(socket), timeout=5.0).get("/v1/status")
    except OctraVPNError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    if as_json:
        sys.stdout.write(json.dumps(snapshot) + "\n")
        return 0
    from octravpn.cli.output import Output

    Output(False).record(flat(snapshot), title="status")
    return 0
