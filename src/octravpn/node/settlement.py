"""Settling the exit's sessions on chain, exactly once.

For a session that ended (cut, or closed by the client), the exit settles
with the latest receipt the opener signed, or, lacking one, claims the bytes
it measured (capped by the deposit) for the opener to confirm. The one
settlement of a session is reserved in the store before any transaction is
sent; after a crash, `resume` looks at the chain and finishes what was begun
instead of sending a second settlement.
"""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.chain.client import OctraVPN
from octravpn.node.metering import SessionMeters
from octravpn.node.store import NodeStore
from octravpn.protocol.metering import Claim, SettleWithReceipt

STATUS_OPEN, STATUS_SETTLED, STATUS_REFUNDED = 0, 1, 2


@dataclass(frozen=True)
class Outcome:
    session_id: int
    method: str  # "receipt", "claim", "already", "refunded" or "nothing"
    bytes_used: int
    tx_hash: str | None


class Settler:
    def __init__(self, *, chain: OctraVPN, store: NodeStore, meters: SessionMeters) -> None:
        self.chain = chain
        self.store = store
        self.meters = meters

    def settle(self, session_id: int) -> Outcome:
        record = self.store.session(session_id)
        if record is None:
            raise ValueError(f"session {session_id} is not served here")
        begun = self.store.settlement(session_id)
        if begun is not None:
            return self._finish(session_id)
        action = self.meters.meter(record).settlement()
        if action is None:
            return Outcome(session_id, "nothing", 0, None)
        if isinstance(action, SettleWithReceipt):
            method, seq, bytes_used = "receipt", action.receipt.seq, action.receipt.bytes_used
        else:
            method, seq, bytes_used = "claim", None, action.bytes_used
        if not self.store.begin_settlement(session_id, method=method, bytes_used=bytes_used, seq=seq):
            return self._finish(session_id)  # another task got there first
        return self._send(session_id, action)

    def resume(self) -> list[Outcome]:
        """After a restart: finish every settlement that was begun."""
        return [self._finish(pending.session_id) for pending in self.store.pending_settlements()]

    # ---------------------------------------------------------------- steps
    def _send(self, session_id: int, action: SettleWithReceipt | Claim) -> Outcome:
        if isinstance(action, SettleWithReceipt):
            receipt = action.receipt
            result = self.chain.settle_with_receipt(session_id, receipt.seq, receipt.bytes_used, action.signature)
            self.store.record_settlement_tx(session_id, result.tx_hash)
            self.store.confirm_settlement(session_id)
            return Outcome(session_id, "receipt", receipt.bytes_used, result.tx_hash)
        result = self.chain.settle_claim(session_id, action.bytes_used)
        self.store.record_settlement_tx(session_id, result.tx_hash)
        # A claim settles when the opener confirms; the exit's part is done.
        self.store.confirm_settlement(session_id)
        return Outcome(session_id, "claim", action.bytes_used, result.tx_hash)

    def _finish(self, session_id: int) -> Outcome:
        """Complete a begun settlement from what the chain shows, sending only what is missing."""
        begun = self.store.settlement(session_id)
        if begun.confirmed:
            return Outcome(session_id, "already", begun.bytes_used, begun.tx_hash)
        status = self.chain.session(session_id).status
        if status == STATUS_REFUNDED:
            self.store.set_state(session_id, "refunded")
            return Outcome(session_id, "refunded", 0, begun.tx_hash)
        if status == STATUS_SETTLED or (begun.method == "claim" and self.chain.operator_claim(session_id).is_set):
            self.store.confirm_settlement(session_id)
            return Outcome(session_id, "already", begun.bytes_used, begun.tx_hash)
        # Begun but never mined: send the same settlement that was reserved.
        if begun.method == "receipt":
            return self._send(session_id, SettleWithReceipt(*self.store.receipt(session_id, begun.seq)))
        return self._send(session_id, Claim(begun.bytes_used))
