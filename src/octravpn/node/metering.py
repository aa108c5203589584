"""The exit's live metering: WireGuard counters -> measured bytes -> receipt
requests and cuts, with every number that matters kept in the store.

Counting follows WireGuard's per-peer counters (rx + tx). The counter value
behind each stored figure is stored with it, so when the agent restarts and
its interface survived (it kept carrying traffic), the bytes carried
meanwhile are counted from that value. A counter below the stored value (a new
interface, or the peer re-added) counts from zero: the exit may under-count
then, never over-count.

Every receipt request is stored before anything can sign it, and the
outstanding request is read back from the store, so a restart reissues the
same (seq, bytes) and numbering continues after the highest seq ever issued.

The meter and the store move together: a reading the store cannot keep (a full
disk) changes nothing, and the session's meter is rebuilt from the store at the
next reading. A cut decided meanwhile (a client lagging in signing, a deposit
used up) still stops the peer at once (`PeerSet.withheld`), until the store can
record it.
"""

from __future__ import annotations

import logging
import sqlite3

from octravpn.node.peers import PeerSet
from octravpn.node.store import NodeStore, SessionRecord
from octravpn.protocol.eip712 import Receipt
from octravpn.protocol.handshake import HandshakeRefused
from octravpn.protocol.metering import Cut, ExitMeter, RequestReceipt
from octravpn.wireguard.engine import Engine

log = logging.getLogger("octravpn.node")


class SessionMeters:
    def __init__(
        self,
        *,
        store: NodeStore,
        engine: Engine,
        peers: PeerSet,
        interface: str,
        receipt_every: int,
        max_unsigned: int,
        max_loss_percent: float = 0.0,
    ) -> None:
        """`engine` reads the counters; `peers` takes a cut session's peer away (from the store's truth)."""
        self.store = store
        self.engine = engine
        self.peers = peers
        self.interface = interface
        self.receipt_every = receipt_every
        self.max_unsigned = max_unsigned
        self.max_loss_percent = max_loss_percent
        self.meters: dict[int, ExitMeter] = {}
        self.cut_queue: list[tuple[int, Cut]] = []  # cut since the owner last looked, by a tick or an API call
        self.store_error: str | None = None  # why the store could not keep the last reading (None: it could)
        self.store_failures = 0  # times the store began failing

    def meter(self, record: SessionRecord) -> ExitMeter:
        """The session's meter, rebuilt from the store after a restart."""
        meter = self.meters.get(record.session_id)
        if meter is None:
            # A plain WireGuard app signs nothing: only its deposit limits it, and it settles by claim.
            max_unsigned = self.max_unsigned if record.signs_receipts else 2**256
            meter = ExitMeter(
                session_id=record.session_id,
                price_per_mb=record.price_per_mb,
                deposit=record.deposit,
                receipt_every=self.receipt_every,
                max_unsigned=max_unsigned,
                max_loss_percent=self.max_loss_percent,
            )
            issued = self.store.latest_request(record.session_id)
            meter.restore(
                measured=record.measured_bytes,
                latest=self.store.latest_receipt(record.session_id),
                issued=RequestReceipt(*issued) if issued else None,
            )
            self.meters[record.session_id] = meter
        return meter

    def outstanding(self, session_id: int) -> RequestReceipt | None:
        """The request the client should sign now, as stored (None if all are signed)."""
        record = self.store.session(session_id)
        if record is None:
            return None
        issued = self.store.latest_request(session_id)
        signed = self.store.latest_receipt(session_id)
        if issued is None or (signed is not None and signed[0].seq >= issued[0]):
            return None
        return RequestReceipt(*issued)

    def tick(self, *, judge_lag: bool = True) -> list[tuple[int, Cut]]:
        """Read the counters once; returns the sessions cut by this tick."""
        counters = {peer.public_key: peer.rx_bytes + peer.tx_bytes for peer in self.engine.peers(self.interface)}
        cuts = []
        failure: str | None = None
        for record in self.store.sessions("active"):
            total = counters.get(record.wg_pubkey)
            if total is None:
                continue  # no peer (yet): nothing carried
            meter = self.meter(record)
            delta = total - record.wg_counter if total >= record.wg_counter else total
            actions = meter.observe(meter.measured + delta, judge_lag=judge_lag)
            try:
                if meter.measured != record.measured_bytes or total != record.wg_counter:  # idle: no write
                    # Before acting: a request must never cover more than the stored measurement.
                    self.store.update_measured(record.session_id, meter.measured, total)
                cut = self._act(record, actions)
            except sqlite3.OperationalError as exc:  # the store cannot write (a full disk)
                failure = str(exc)
                self._unkept(record.session_id, actions)
                continue
            self.peers.withheld.discard(record.session_id)
            if cut:
                cuts.append((record.session_id, cut))
        self._store_answered(failure)
        return cuts

    def _unkept(self, session_id: int, actions: list[RequestReceipt | Cut]) -> None:
        """A reading the store could not keep changes nothing: the meter is rebuilt from the store next time.
        A cut it decided stops the peer now all the same; it is recorded once the store can."""
        self.meters.pop(session_id, None)
        if any(isinstance(action, Cut) for action in actions) and session_id not in self.peers.withheld:
            self.peers.withheld.add(session_id)
            self.peers.apply()

    def _store_answered(self, failure: str | None) -> None:
        if failure is not None and self.store_error is None:
            self.store_failures += 1
            log.error("the store cannot keep the meters' readings (%s): nothing is counted until it can", failure)
        elif failure is None and self.store_error is not None:
            log.info("the store keeps the meters' readings again")
        self.store_error = failure

    def end(self, session_id: int, reason: str) -> Cut | None:
        """Stop serving an active session: a last reading, a last receipt request
        for what it has not asked for yet, and the peer removed."""
        cuts = dict(self.tick(judge_lag=False))  # the session ends anyway: no lag cut in its last reading
        if session_id in cuts:
            return cuts[session_id]
        record = self.store.session(session_id)
        if record is None or record.state != "active":
            return None
        return self._act(record, self.meter(record).end(reason))

    def park(self, session_id: int, now: int) -> None:
        """The opener left an active session open: a last reading, a request for what it has not asked for yet,
        and the peer removed until a device joins the session again."""
        self.tick(judge_lag=False)
        record = self.store.session(session_id)
        if record is None or record.state != "active":
            return
        self._act(record, list(self.meter(record).pause()))
        if record.parked_at is None:
            self.store.set_parked(session_id, now)
            self.peers.apply()

    def take_cuts(self) -> list[tuple[int, Cut]]:
        """Sessions cut since the last call, however they were cut."""
        cuts, self.cut_queue = self.cut_queue, []
        return cuts

    def _act(self, record: SessionRecord, actions: list[RequestReceipt | Cut]) -> Cut | None:
        cut = None
        for action in actions:
            if isinstance(action, RequestReceipt):
                self.store.save_request(record.session_id, action.seq, action.bytes_used)
            else:
                self.store.set_state(record.session_id, "cut")
                self.peers.apply()
                self.cut_queue.append((record.session_id, action))
                cut = action
        return cut

    def accept_receipt(self, receipt: Receipt, signature: bytes) -> None:
        """A receipt whose signer the caller checked; stored durably before this returns."""
        record = self.store.session(receipt.session_id)
        if record is None:
            raise HandshakeRefused(404, f"session {receipt.session_id} is not served here")
        meter = self.meter(record)
        previous = meter.signed
        if previous and previous[0] == receipt:
            return  # the client retried after a lost answer: already held
        meter.receipt(receipt, signature)
        try:
            self.store.save_receipt(receipt, signature)
        except Exception:
            meter.signed = previous  # not durable, so not accepted
            raise
