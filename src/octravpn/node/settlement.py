"""Settling the exit's sessions on chain, exactly once.

For a session that ended (cut, or closed by the client), the exit settles
with the latest receipt the opener signed, or, lacking one, claims the bytes
it measured (capped by the deposit) for the opener to confirm. The one
settlement of a session is reserved in the store before any transaction is
sent; after a crash, `resume` looks at the chain and finishes what was begun
instead of sending a second settlement.

Settlements by receipt that are due together go in one `settle_batch`
(`settle_all`): one transaction's base cost for all of them, and a session the
contract refuses (a revoked signer, say) is skipped with an event while the
rest settle. It stays reserved, like a refused single settlement, for the next
start to look at the chain again.

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
from octravpn.chain.errors import ChainError
from octravpn.chain.records import Settlement
from octravpn.node.metering import SessionMeters
from octravpn.node.store import NodeStore
from octravpn.protocol.metering import Claim, SettleWithReceipt
from octravpn.protocol.sessions import MAX_BATCH, STATUS_OPEN, STATUS_REFUNDED, STATUS_SETTLED


@dataclass(frozen=True)
class Outcome:
    session_id: int
    method: str  # "receipt", "claim", "already", "refunded", "nothing", or "skipped" (by a batch: see `reason`)
    bytes_used: int
    tx_hash: str | None
    reason: str = ""


class Settler:
    def __init__(
        self, *, chain: OctraVPN, store: NodeStore, meters: SessionMeters, lock: threading.RLock | None = None
    ) -> None:
        self.chain = chain
        self.store = store
        self.meters = meters
        self.lock = lock or threading.RLock()

    def settle(self, session_id: int) -> Outcome:
        reserved = self._reserve(session_id)
        return reserved if isinstance(reserved, Outcome) else self._complete(session_id, reserved)

    def settle_all(self, session_ids: list[int]) -> list[tuple[int, Outcome | ChainError]]:
        """Settle `session_ids` (at most `MAX_BATCH`): those with a receipt together in one `settle_batch`, the
        rest as `settle` does. Each session's outcome, or the chain error that stopped its transaction (what
        was reserved stays reserved, for `_finish` to complete)."""
        if len(session_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} sessions a pass, got {len(session_ids)}")
        results: list[tuple[int, Outcome | ChainError]] = []
        batch: list[tuple[int, SettleWithReceipt]] = []
        singles: list[tuple[int, Claim | SettleWithReceipt | None]] = []
        for session_id in session_ids:
            reserved = self._reserve(session_id)
            if isinstance(reserved, Outcome):
                results.append((session_id, reserved))
            elif isinstance(reserved, SettleWithReceipt):
                batch.append((session_id, reserved))
            else:
                singles.append((session_id, reserved))
        if len(batch) == 1:
            singles.insert(0, batch.pop())
        if batch:
            try:
                results.extend((outcome.session_id, outcome) for outcome in self._send_batch(batch))
            except ChainError as exc:
                results.extend((session_id, exc) for session_id, _ in batch)
        for session_id, reserved in singles:
            try:
                outcome = self._complete(session_id, reserved)
            except ChainError as exc:
                results.append((session_id, exc))
                continue
            results.append((session_id, outcome))
        return results

    def resume(self) -> list[Outcome]:
        """After a restart: finish every settlement that was begun."""
        with self.lock:
            pending = self.store.pending_settlements()
        return [self._finish(p.session_id) for p in pending]

    # ---------------------------------------------------------------- steps
    def _reserve(self, session_id: int) -> SettleWithReceipt | Claim | Outcome | None:
        """Reserve the session's one settlement in the store: the action to send; None if one was begun before
        (finish it); an `Outcome` if there is nothing to settle."""
        with self.lock:
            record = self.store.session(session_id)
            if record is None:
                raise ValueError(f"session {session_id} is not served here")
            if self.store.settlement(session_id) is not None:
                return None
            action = self.meters.meter(record).settlement()
            if action is None:
                return Outcome(session_id, "nothing", 0, None)
            if isinstance(action, SettleWithReceipt):
                method, seq, bytes_used = "receipt", action.receipt.seq, action.receipt.bytes_used
            else:
                method, seq, bytes_used = "claim", None, action.bytes_used
            # False: another task got there first.
            if not self.store.begin_settlement(session_id, method=method, bytes_used=bytes_used, seq=seq):
                return None
            return action

    def _complete(self, session_id: int, reserved: SettleWithReceipt | Claim | None) -> Outcome:
        """Send the settlement just reserved, or finish the one begun before (`reserved` None)."""
        return self._finish(session_id) if reserved is None else self._send(session_id, reserved)

    def _send_batch(self, batch: list[tuple[int, SettleWithReceipt]]) -> list[Outcome]:
        result = self.chain.settle_batch(
            [
                Settlement(session_id, action.receipt.seq, action.receipt.bytes_used, action.signature, final=True)
                for session_id, action in batch
            ]
        )
        skipped = {e.args["session_id"]: e.args["reason"] for e in result.events if e.name == "SettlementSkipped"}
        outcomes = []
        with self.lock:
            for session_id, action in batch:
                if session_id in skipped:  # stays reserved: the next start looks at the chain again
                    outcomes.append(
                        Outcome(session_id, "skipped", action.receipt.bytes_used, result.tx_hash, skipped[session_id])
                    )
                    continue
                self.store.record_settlement_tx(session_id, result.tx_hash)
                self.store.confirm_settlement(session_id, state="settled")
                outcomes.append(Outcome(session_id, "receipt", action.receipt.bytes_used, result.tx_hash))
        return outcomes

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
