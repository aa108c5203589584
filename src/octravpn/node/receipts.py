"""The receipt channel: the client fetches the exit's current request and
returns it signed; the exit accepts only a signature of the session's opener
(or one of its devices), and only what its meter asked for."""

from __future__ import annotations

from octravpn.node.handshake import BadRequest, ChainView
from octravpn.node.metering import SessionMeters
from octravpn.node.store import NodeStore
from octravpn.protocol.eip712 import Domain, Receipt, recover
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.handshake import HandshakeRefused


class ReceiptChannel:
    def __init__(self, *, domain: Domain, chain: ChainView, store: NodeStore, meters: SessionMeters) -> None:
        self.domain = domain
        self.chain = chain
        self.store = store
        self.meters = meters

    def pending_request(self, session_id: int) -> dict | None:
        request = self.meters.requests.get(session_id)
        if request is None:
            return None
        return {"session_id": session_id, "seq": request.seq, "bytes_used": request.bytes_used}

    def submit(self, session_id: int, body: object) -> dict:
        if not isinstance(body, dict) or not {"seq", "bytes_used", "signature"} <= set(body):
            raise BadRequest("the body must be a JSON object with seq, bytes_used and signature")
        try:
            receipt = Receipt(session_id=session_id, seq=body["seq"], bytes_used=body["bytes_used"])
            signature = bytes.fromhex(str(body["signature"]).removeprefix("0x"))
            signer = recover(self.domain, receipt, signature)
        except (ValueError, ProtocolError) as exc:
            raise BadRequest(str(exc)) from exc
        record = self.store.session(session_id)
        if record is None:
            raise HandshakeRefused(404, f"session {session_id} is not served here")
        if signer != record.opener and self.chain.device_owner(signer) != record.opener:
            raise HandshakeRefused(403, "receipt is not signed by the session opener or one of its devices")
        self.meters.accept_receipt(receipt, signature)
        return {"accepted": True, "session_id": session_id, "seq": receipt.seq, "bytes_used": receipt.bytes_used}
