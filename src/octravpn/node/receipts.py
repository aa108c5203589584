"""The receipt channel: the client fetches the exit's current request and
returns it signed; the exit accepts only a signature of the session's opener
(or one of its devices), and only what its meter asked for.

Each request carries the operator's own signature of the same `Receipt`, made
with its registered receipt key. The request travels over plain HTTP, so this
is what lets the client check that the exit (and not someone on the path)
asks; and two such signatures for one (session, seq) with different bytes are
the equivocation evidence `slash_double_sign` takes. So the exit signs only
requests read back from its store, where they were put before anyone could
see them (`SessionMeters`).

The request endpoint answers the session's signers only (a signed `SessionRead`): it tells the session's live
metered bytes, which are nobody else's business.

The agent's state is touched only under `lock`; the chain is read outside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from octravpn.node.handshake import BadRequest, ChainView
from octravpn.node.metering import SessionMeters
from octravpn.node.store import NodeStore, SessionRecord
from octravpn.protocol.eip712 import Domain, Receipt, recover, sign
from octravpn.protocol.errors import ProtocolError, RemoteProtocolError
from octravpn.protocol.exitwire import LeaveAnswer, ReceiptAsk, SessionRead, SignedReceipt
from octravpn.protocol.handshake import HandshakeRefused


class ReceiptChannel:
    def __init__(
        self,
        *,
        domain: Domain,
        chain: ChainView,
        store: NodeStore,
        meters: SessionMeters,
        receipt_key: bytes,
        lock: threading.RLock | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = lock or threading.RLock()
        self.clock = clock
        self.domain = domain
        self.chain = chain
        self.store = store
        self.meters = meters
        self.receipt_key = receipt_key

    def request_for(self, session_id: int, authorization: str | None) -> dict | None:
        """The pending request, for a reader who signed for it and may sign receipts for the session."""
        try:
            read = SessionRead.from_header(authorization, subject=session_id, domain=self.domain, now=self.clock())
        except RemoteProtocolError as exc:
            raise HandshakeRefused(401, str(exc)) from None
        record = self._check_signer(
            session_id, read.reader, "a receipt request is for the session's opener or its devices"
        )
        if record.state == "active" and record.parked_at is not None:
            raise HandshakeRefused(
                410, f"session {session_id} is left open with no device here (it was idle, or left): join it again"
            )
        return self.pending_request(session_id)

    def _check_signer(self, session_id: int, signer: str, refusal: str) -> SessionRecord:
        """The session's record, if `signer` may sign receipts for it."""
        with self.lock:
            record = self.store.session(session_id)
        if record is None:
            raise HandshakeRefused(404, f"session {session_id} is not served here")
        if signer != record.opener and not self.chain.is_receipt_signer(session_id, signer):
            raise HandshakeRefused(403, refusal)
        return record

    def pending_request(self, session_id: int) -> dict | None:
        with self.lock:
            request = self.meters.outstanding(session_id)
        if request is None:
            return None
        receipt = Receipt(session_id=session_id, seq=request.seq, bytes_used=request.bytes_used)
        return ReceiptAsk(receipt=receipt, operator_signature=sign(self.domain, receipt, self.receipt_key)).to_json()

    def close(self, session_id: int, *, park: bool = False) -> dict:
        """The opener left (its signed leave request was checked): end the session, or with `park` only take
        its device's peer away and keep it open; return the last request to sign, if any. Repeating it answers
        the same."""
        with self.lock:
            if park:
                cut = None
                self.meters.park(session_id, int(self.clock()))
            else:
                cut = self.meters.end(session_id, "closed by the client")
            record = self.store.stored_session(session_id)
        last = self.pending_request(session_id)
        return LeaveAnswer(
            session_id=session_id,
            state=record.state,
            reason=cut.reason if cut else None,
            measured_bytes=record.measured_bytes,
            receipt_request=ReceiptAsk.from_json(last, session_id=session_id) if last else None,
        ).to_json()

    def submit(self, session_id: int, body: object) -> dict:
        try:
            signed = SignedReceipt.from_json(body, session_id=session_id)
            receipt, signature = signed.receipt, signed.signature
            signer = recover(self.domain, receipt, signature)
        except (ValueError, ProtocolError) as exc:
            raise BadRequest(str(exc)) from exc
        self._check_signer(
            session_id,
            signer,
            "receipt is not signed by the session opener or one of its devices (a revoked key signs for nothing)",
        )
        with self.lock:
            self.meters.accept_receipt(receipt, signature)
        return {"accepted": True, "session_id": session_id, "seq": receipt.seq, "bytes_used": receipt.bytes_used}
