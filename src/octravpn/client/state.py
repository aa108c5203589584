"""What the daemon keeps on disk: enough to resume a session after a restart, and to undo every change to
the host's network from the file alone. No secrets: the tunnel's WireGuard key lives only in the interface
(a restart that finds the interface gone joins the session again with a new key)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from octravpn.config import replace_file
from octravpn.errors import ConfigError
from octravpn.host.tunnel import HostChanges
from octravpn.protocol.sessions import pay


@dataclass
class Connection:
    """One session through one exit, as this device holds it."""

    session_id: int
    exit: str
    tailnet_id: int
    deposit: int
    price_per_mb: int
    exit_endpoint: str  # ip:port, WireGuard (UDP) and the handshake API (TCP)
    receipt_signer: str
    exit_wg_pubkey: str  # as registered on chain: what a rejoin checks the exit's answer against
    client_address: str
    exit_address: str
    dns: list[str] = field(default_factory=list)
    counter_base: int = 0  # bytes counted by earlier interfaces of this session
    measured_bytes: int = 0
    signed_seq: int = 0
    signed_bytes: int = 0
    receipts_signed: int = 0
    requests_refused: int = 0
    connected_at: float | None = None
    chain_status: str = "open"  # as the chain last said

    @property
    def api_url(self) -> str:
        return f"http://{self.exit_endpoint}"

    @property
    def paid_so_far(self) -> int:
        """What the signed receipts commit the tailnet to."""
        return pay(self.signed_bytes, self.price_per_mb)

    @property
    def figure(self) -> int:
        """The bytes this side confirms for the session: its last receipt, or what it measured if it signed none."""
        return self.signed_bytes if self.receipts_signed else self.measured_bytes


@dataclass
class Ending:
    """A session this device left (`down`, or a failover): the daemon confirms a claim on it or, after the grace,
    takes the deposit back, and records how it ended."""

    session_id: int
    exit: str
    deposit: int
    figure: int
    left_at: float
    reason: str  # "down" or "failover"
    confirmed: int | None = None
    outcome: dict | None = None


@dataclass
class DaemonState:
    status: str = "down"  # down, connecting, connected, exit-unreachable, ended, disconnecting
    prefs: dict | None = None  # the `up` request in force: what a restarted daemon connects to again
    connection: Connection | None = None
    host: HostChanges | None = None
    ending: list[Ending] = field(default_factory=list)
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
        try:
            known = {f.name for f in fields(cls)}
            state = cls(**{k: v for k, v in raw.items() if k in known})
            state.connection = Connection(**raw["connection"]) if raw.get("connection") else None
            state.host = _host_changes(raw["host"]) if raw.get("host") else None
            state.ending = [Ending(**e) for e in raw.get("ending", [])]
        except (TypeError, AttributeError) as exc:
            raise ConfigError(
                f"the daemon state {path} is damaged ({exc}): run `octravpn daemon cleanup --force` "
                "to restore the network from it, or remove it"
            ) from exc
        return state


def _host_changes(raw: dict) -> HostChanges:
    known = {f.name for f in fields(HostChanges)}
    return HostChanges(**{k: v for k, v in raw.items() if k in known})  # the resolver's backup moved to host.dns
