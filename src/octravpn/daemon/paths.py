"""Where the daemon listens and keeps its state. Imported by the thin command line: standard library only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_SOCKET = Path("/run/octravpn/octravpnd.sock")
DEFAULT_STATE_DIR = Path("/var/lib/octravpn")


def control_socket(env: Mapping[str, str] | None = None) -> Path:
    """The socket that controls the daemon (root and the daemon's group): `OCTRAVPN_SOCKET` or the default."""
    env = os.environ if env is None else env
    return Path(env.get("OCTRAVPN_SOCKET") or DEFAULT_SOCKET)


def read_socket(control: Path) -> Path:
    """The socket anyone on the machine may read status, events and metrics from, beside the control socket."""
    return control.with_name(control.stem + "-read" + control.suffix)
