"""What the daemon keeps on disk: enough to resume a session after a restart, and to undo every change to the
host's network from the file alone."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from octravpn.client.state import Connection, Ending
from octravpn.config import replace_file
from octravpn.daemon.connection import Status
from octravpn.errors import ConfigError
from octravpn.host.tunnel import HostChanges


@dataclass
class DaemonState:
    status: Status = Status.DOWN
    prefs: dict | None = None  # the `up` request in force: what a restarted daemon connects to again
    connection: Connection | None = None
    host: HostChanges | None = None
    ending: list[Ending] = field(default_factory=list)
    left_open: list[Connection] = field(default_factory=list)  # sessions `down` left open, for the next `up`
    settled: list[dict] = field(default_factory=list)  # the latest outcomes, newest last
    last_error: str | None = None
    exit_unreachable_since: float | None = None
    chain_error: str | None = None
    chain_unreachable_since: float | None = None
    failovers: int = 0
    last_failover: dict | None = None
    updated_at: float | None = None

    def save(self, path: Path) -> None:
        """Atomically (write, rename), so a reader or a crash never sees half a file."""
        replace_file(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> DaemonState:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except ValueError as exc:
            raise _damaged(path, exc) from exc
        try:
            state = cls(**_known(cls, raw))
            state.status = Status(state.status)
            state.connection = Connection(**raw["connection"]) if raw.get("connection") else None
            state.host = HostChanges(**_known(HostChanges, raw["host"])) if raw.get("host") else None
            state.ending = [Ending(**e) for e in raw.get("ending", [])]
            state.left_open = [Connection(**c) for c in raw.get("left_open", [])]
        except (TypeError, AttributeError, ValueError) as exc:
            raise _damaged(path, exc) from exc
        return state


def _known(record, raw: dict) -> dict:
    """The fields of `raw` that `record` has (a field an older daemon wrote and this one dropped is skipped)."""
    names = {f.name for f in fields(record)}
    return {k: v for k, v in raw.items() if k in names}


def _damaged(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(
        f"the daemon state {path} is damaged ({exc}): move it away to start afresh (the network changes it "
        "recorded are then not undone: `ip link del` the tunnel and `nft delete table inet octravpn_ks_…` its "
        "kill switch)"
    )
