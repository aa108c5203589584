"""A session as this device holds it (`Connection`) and one it left (`Ending`): the records the daemon keeps on
disk (`daemon.state`). No secrets: the tunnel's WireGuard key lives only in the interface (a restart that finds
the interface gone joins the session again with a new key)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    chain_status: str = "open"  # as the chain last said ("opening": its open transaction is not mined yet)
    keep_until: float | None = None  # left open by `down`: the next `up` rejoins it until then (None: connected)
    open_tx: str | None = None  # the signed open transaction (hex) while it is not known to be mined

    @property
    def api_url(self) -> str:
        return f"http://{self.exit_endpoint}"

    @property
    def paid_so_far(self) -> int:
        """What the signed receipts commit the tailnet to."""
        return pay(self.signed_bytes, self.price_per_mb)

    @property
    def deposit_left(self) -> int:
        """What the deposit still covers beyond what the signed receipts commit."""
        return max(self.deposit - self.paid_so_far, 0)

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
    exit_endpoint: str = ""  # where to tell the exit the session ends
    exit_told: bool = True  # False: the exit did not hear it (gone, unreachable): the daemon tells it again
    open_tx: str | None = None  # left before its open transaction was known to be mined: that comes first
