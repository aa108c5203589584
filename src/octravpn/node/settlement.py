"""Settling the exit's sessions on chain, exactly once.

For a session that ended (cut, or closed by the client), the exit settles
with the latest receipt the opener signed, or, lacking one, claims the bytes
it measured (capped by the deposit) for the opener to confirm. The one
settlement of a session is reserved in the store before any transaction is
sent; after a crash, `resume` looks at the chain and finishes what was begun
instead of sending a second settlement.

A settlement by receipt closes the session on chain (`settled`). A claim does
not: the session stays open on chain, its deposit locked, until the opener
confirms or the grace passes, so the store says `claimed` until the chain
says otherwise (the agent follows the chain's events).

The store and meters are touched only under `lock`; transactions are sent
outside it, so metering and receipts go on while one is mined.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from octravpn.chain.client import OctraVPN
from octravpn.node.metering import SessionMeters
from octravpn.node.store import NodeStore
from octravpn.protocol.metering import Claim, SettleWithReceipt
from octravpn.protocol.sessions import STATUS_OPEN, STATUS_REFUNDED, STATUS_SETTLED


@dataclass(frozen=True)
class Outcome:
    session_id: int
    method: str  # "receipt", "claim", "already", "refunded" or "nothing"
    bytes_used: int
    tx_hash: str | None


class Settler:
    def __init__(
        self, *, chain: OctraVPN, store: NodeStore, meters: SessionMeters, lock: threading.RLock | None = None
    ) -> None:
        self.chain = chain
        self.store = store
        self.meters = meters
        self.lock = lock or threading.RLock()

    def settle(self, session_id: int) -> Outcome:
        with self.lock:
            record = self.store.session(session_id)
            if record is None:
                raise ValueError(f"session {session_id} is not served here")
            reserved: SettleWithReceipt | Claim | None = None
            if self.store.settlement(session_id) is None:
                action = self.meters.meter(record).settlement()
                if action is None:
                    return Outcome(session_id, "nothing", 0, None)
                if isinstance(action, SettleWithReceipt):
                    method, seq, bytes_used = "receipt", action.receipt.seq, action.receipt.bytes_used
                else:
                    method, seq, bytes_used = "claim", None, action.bytes_used
                # False: another task got there first.
                if self.store.begin_settlement(session_id, method=method, bytes_used=bytes_used, seq=seq):
                    reserved = action
        if reserved is None:
            return self._finish(session_id)
        return self._send(session_id, reserved)

    def resume(self) -> list[Outcome]:
        """After a restart: finish every settlement that was begun."""
        with self.lock:
            pending = self.store.pending_settlements()
        return [self._finish(p.session_id) for p in pending]

    # ---------------------------------------------------------------- steps
    def _send(self, session_id: int, action: SettleWithReceipt | Claim) -> Outcome:
        if isinstance(action, SettleWithReceipt):
            receipt = action.receipt
            result = self.chain.settle_with_receipt(session_id, receipt.seq, receipt.bytes_used, action.signature)
            method, bytes_used, state = "receipt", receipt.bytes_used, "settled"
        else:
            result = self.chain.settle_claim(session_id, action.bytes_used)
            method, bytes_used, state = "claim", action.bytes_used, "claimed"
        with self.lock:
            self.store.record_settlement_tx(session_id, result.tx_hash)
            self.store.confirm_settlement(session_id, state=state)
        return Outcome(session_id, method, bytes_used, result.tx_hash)

    def _finish(self, session_id: int) -> Outcome:
        """Complete a begun settlement from what the chain shows, sending only what is missing."""
        with self.lock:
            begun = self.store.begun_settlement(session_id)
        if begun.confirmed:
            return Outcome(session_id, "already", begun.bytes_used, begun.tx_hash)
        status = self.chain.session(session_id).status
        claimed = begun.method == "claim" and status == STATUS_OPEN and self.chain.operator_claim(session_id).is_set
        with self.lock:
            if status == STATUS_REFUNDED:
                self.store.set_state(session_id, "refunded")
                return Outcome(session_id, "refunded", 0, begun.tx_hash)
            if status == STATUS_SETTLED or claimed:
                self.store.confirm_settlement(session_id, state="settled" if status == STATUS_SETTLED else "claimed")
                return Outcome(session_id, "already", begun.bytes_used, begun.tx_hash)
            # Begun but never mined: send the same settlement that was reserved.
            reserved = (
                SettleWithReceipt(*self.store.reserved_receipt(begun))
                if begun.method == "receipt"
                else Claim(begun.bytes_used)
            )
        return self._send(session_id, reserved)
