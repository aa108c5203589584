"""A held session's life between two ticks: what WireGuard counted, the exit's receipt requests, and whether the
exit is still there (`client.health`). The tick reads; this module decides what the reading means, and the
daemon turns that into the connection's next `Event`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from octravpn.client.exit_api import ExitAPIError
from octravpn.client.health import ExitHealth
from octravpn.client.receipts import ReceiptDesk
from octravpn.client.state import Connection
from octravpn.daemon import snapshot
from octravpn.daemon.wire import UpRequest
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.metering import BYTES_PER_MB
from octravpn.wireguard.dump import PeerState

log = logging.getLogger("octravpn.daemon")


@dataclass
class Answered:
    """How the exit's API took this tick's receipt round."""

    ok: bool  # it answered as it should
    refusal: str | None = None  # it answered, with a refusal (say, for a session it ended): it is there
    failed: bool = False  # it did not answer
    left_open: bool = False  # it keeps the session with no device (this one was idle, say asleep): join again


@dataclass
class Session:
    """The in-memory companions of the saved `Connection`."""

    connection: Connection
    desk: ReceiptDesk
    health: ExitHealth
    live: snapshot.Live = field(default_factory=snapshot.Live)
    probes: int = 0

    @classmethod
    def of(
        cls, connection: Connection, request: UpRequest, *, account: LocalAccount, domain: Domain, settings, now: float
    ) -> Session:
        desk = ReceiptDesk(
            connection=connection,
            account=account,
            domain=domain,
            leeway=int(request.leeway_mb * BYTES_PER_MB),
            loss_percent=request.loss_percent,
            evidence_dir=settings.state_dir,
        )
        return cls(connection=connection, desk=desk, health=ExitHealth(since=now, dead_after=settings.dead_after))

    def restart_health(self, now: float) -> None:
        """A new tunnel (a rejoin): the exit gets the grace of a first handshake again."""
        self.health = ExitHealth(since=now, dead_after=self.health.dead_after)

    def observe(self, peers: list[PeerState], now: float) -> None:
        """The tunnel's counters: metering, and the exit's datagrams as a sign of life."""
        if not peers:
            return
        peer = peers[0]
        self.live.latest_handshake, self.live.rx_bytes, self.live.tx_bytes = (
            peer.latest_handshake,
            peer.rx_bytes,
            peer.tx_bytes,
        )
        try:
            self.desk.observe(peer.rx_bytes + peer.tx_bytes)
        except ProtocolError as exc:
            log.warning("counters: %s", exc)
        self.health.received(peer.rx_bytes, now)

    def probe_due(self, now: float) -> int | None:
        """The next probe's sequence number, if the quiet tunnel is to be probed now."""
        if not self.health.should_probe(now):
            return None
        self.probes += 1
        return self.probes

    def answer_exit(self, now: float) -> Answered:
        """Sign what the exit asks for (within what this side saw), and take its answer as a sign of life."""
        try:
            self.desk.answer()
        except ExitAPIError as exc:
            if exc.status is None:
                self.health.api_failed(str(exc))
                return Answered(ok=False, failed=True)
            self.health.api_answered(now)
            return Answered(ok=False, refusal=str(exc), left_open=exc.status == 410)
        except ProtocolError as exc:
            self.health.api_failed(str(exc))
            return Answered(ok=False, failed=True)
        self.health.api_answered(now)
        return Answered(ok=True)

    def settle_live(self, now: float) -> None:
        self.live.receiving = self.health.last_received is not None and now - self.health.last_received < (
            self.health.dead_after
        )
