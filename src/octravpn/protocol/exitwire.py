"""The exit's handshake API on the wire: its paths, and every body and answer as both ends build and read them
(as Tailscale's `tailcfg` is for its coordination server). The exit (`octravpn.node`) and the device
(`octravpn.client`) import these types, so the two can never disagree on a field.

No I/O. Each `from_json` takes what came over the wire and refuses it with a `WireFormatError` saying what is
wrong: the exit answers that with a 400, the device reports the exit as misbehaving.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from octravpn.protocol.eip712 import PeerRequest, Receipt
from octravpn.protocol.errors import ProtocolError, RemoteProtocolError
from octravpn.protocol.handshake import LEAVE_KEY
from octravpn.protocol.signedread import SignedRead
from octravpn.wireguard.keys import KeyFormatError, decode_key, encode_key

INFO = "/v1/info"
PEERS = "/v1/peers"


def receipt_request_path(session_id: int) -> str:
    return f"/v1/sessions/{session_id}/receipt-request"


def receipts_path(session_id: int) -> str:
    return f"/v1/sessions/{session_id}/receipts"


def close_path(session_id: int) -> str:
    return f"/v1/sessions/{session_id}/close"


class WireFormatError(RemoteProtocolError):
    """A body or answer that is not what the handshake API exchanges."""


def _object(body: object, fields: str) -> dict:
    if not isinstance(body, dict):
        raise WireFormatError(f"the body must be a JSON object with {fields}")
    return body


def _hex(value: object) -> bytes:
    return bytes.fromhex(str(value).removeprefix("0x"))


@dataclass(frozen=True, kw_only=True)
class PeerAsk:
    """`POST /v1/peers`: the session's opener (or a device of its wallet) asks the exit to add a WireGuard key."""

    request: PeerRequest
    signature: bytes
    receipts: bool = True  # false: a plain WireGuard app that signs none; the exit settles by claim

    def to_json(self) -> dict:
        return {
            "session_id": self.request.session_id,
            "wg_pubkey": encode_key(self.request.wg_pubkey),
            "timestamp": self.request.timestamp,
            "signature": "0x" + self.signature.hex(),
            "receipts": self.receipts,
        }

    @classmethod
    def from_json(cls, body: object) -> PeerAsk:
        body = _object(body, "session_id, wg_pubkey, timestamp and signature")
        missing = [k for k in ("session_id", "wg_pubkey", "timestamp", "signature") if k not in body]
        if missing:
            raise WireFormatError(f"missing fields: {', '.join(missing)}")
        receipts = body.get("receipts", True)
        if not isinstance(receipts, bool):
            raise WireFormatError("receipts must be true or false")
        try:
            request = PeerRequest(
                session_id=body["session_id"], wg_pubkey=decode_key(str(body["wg_pubkey"])), timestamp=body["timestamp"]
            )
            return cls(request=request, signature=_hex(body["signature"]), receipts=receipts)
        except (KeyFormatError, ValueError, ProtocolError) as exc:
            raise WireFormatError(str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class PeerGrant:
    """The exit's answer to a `PeerAsk`: where the device is in the tunnel. The device checks `exit_public_key`
    against the key the exit registered on chain (the API is plain HTTP)."""

    session_id: int
    exit_public_key: bytes
    endpoint: str
    client_address: str  # with the tunnel network's prefix length
    exit_address: str
    dns: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] = ("0.0.0.0/0", "::/0")

    def to_json(self) -> dict:
        return {
            "session_id": self.session_id,
            "exit_public_key": encode_key(self.exit_public_key),
            "endpoint": self.endpoint,
            "client_address": self.client_address,
            "exit_address": self.exit_address,
            "dns": list(self.dns),
            "allowed_ips": list(self.allowed_ips),
        }

    @classmethod
    def from_json(cls, body: object) -> PeerGrant:
        body = _object(body, "the exit's handshake answer")
        try:
            return cls(
                session_id=int(body["session_id"]),
                exit_public_key=decode_key(body["exit_public_key"]),
                endpoint=str(body["endpoint"]),
                client_address=str(ipaddress.ip_interface(body["client_address"])),
                exit_address=str(ipaddress.ip_address(body["exit_address"])),
                dns=tuple(str(ipaddress.ip_address(d)) for d in body.get("dns", [])),
                allowed_ips=tuple(str(ipaddress.ip_network(n)) for n in body.get("allowed_ips", ())),
            )
        except (KeyError, TypeError, ValueError, KeyFormatError) as exc:
            raise WireFormatError(f"the exit's handshake answer is malformed: {exc!r}") from exc


@dataclass(frozen=True, kw_only=True)
class LeaveAsk:
    """`POST /v1/sessions/{id}/close`: the opener leaves, signing a `PeerRequest` for the all-zero key."""

    timestamp: int
    signature: bytes

    def to_json(self) -> dict:
        return {"timestamp": self.timestamp, "signature": "0x" + self.signature.hex()}

    @staticmethod
    def request(session_id: int, timestamp: int) -> PeerRequest:
        return PeerRequest(session_id=session_id, wg_pubkey=LEAVE_KEY, timestamp=timestamp)

    @classmethod
    def from_json(cls, session_id: int, body: object) -> tuple[PeerRequest, bytes]:
        """The signed leave request for `session_id` (from the path) and its signature."""
        body = _object(body, "timestamp and signature")
        ask = PeerAsk.from_json({**body, "session_id": session_id, "wg_pubkey": encode_key(LEAVE_KEY)})
        return ask.request, ask.signature


@dataclass(frozen=True, kw_only=True)
class SessionRead(SignedRead):
    """`GET /v1/sessions/{id}/receipt-request` is for the session's signers only (the opener or its devices): it
    tells the session's live metered bytes (`subject`: the session id)."""

    TYPE_NAME: ClassVar[str] = "SessionRead"
    FIELDS: ClassVar = (
        ("sessionId", "uint256", "subject"),
        ("reader", "address", "reader"),
        ("timestamp", "uint64", "timestamp"),
    )
    SCHEME: ClassVar[str] = "OctraVPN-Session"
    WHAT: ClassVar[str] = "a session's receipt request"


@dataclass(frozen=True, kw_only=True)
class ReceiptAsk:
    """`GET /v1/sessions/{id}/receipt-request`: the receipt the exit asks the device to sign, signed by the
    operator's registered receipt key (two of these for one seq with different bytes are slashing evidence)."""

    receipt: Receipt
    operator_signature: bytes

    def to_json(self) -> dict:
        return {
            "session_id": self.receipt.session_id,
            "seq": self.receipt.seq,
            "bytes_used": self.receipt.bytes_used,
            "operator_signature": "0x" + self.operator_signature.hex(),
        }

    @classmethod
    def from_json(cls, body: object, *, session_id: int) -> ReceiptAsk:
        body = _object(body, "seq, bytes_used and operator_signature")
        try:
            receipt = Receipt(session_id=session_id, seq=int(body["seq"]), bytes_used=int(body["bytes_used"]))
            return cls(receipt=receipt, operator_signature=_hex(body["operator_signature"]))
        except (KeyError, TypeError, ValueError, ProtocolError) as exc:
            raise WireFormatError(f"malformed receipt request: {exc!r}") from exc


@dataclass(frozen=True, kw_only=True)
class SignedReceipt:
    """`POST /v1/sessions/{id}/receipts`: the device's receipt, signed by the opener or one of its devices."""

    receipt: Receipt
    signature: bytes

    def to_json(self) -> dict:
        return {
            "seq": self.receipt.seq,
            "bytes_used": self.receipt.bytes_used,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, body: object, *, session_id: int) -> SignedReceipt:
        body = _object(body, "seq, bytes_used and signature")
        if not {"seq", "bytes_used", "signature"} <= set(body):
            raise WireFormatError("the body must be a JSON object with seq, bytes_used and signature")
        try:
            receipt = Receipt(session_id=session_id, seq=body["seq"], bytes_used=body["bytes_used"])
            return cls(receipt=receipt, signature=_hex(body["signature"]))
        except (ValueError, ProtocolError) as exc:
            raise WireFormatError(str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class LeaveAnswer:
    """The exit's answer to a `LeaveAsk`: the session's state there and the last receipt to sign, if any."""

    session_id: int
    state: str
    reason: str | None
    measured_bytes: int
    receipt_request: ReceiptAsk | None

    def to_json(self) -> dict:
        return {
            "session_id": self.session_id,
            "state": self.state,
            "reason": self.reason,
            "measured_bytes": self.measured_bytes,
            "receipt_request": self.receipt_request.to_json() if self.receipt_request else None,
        }

    @classmethod
    def from_json(cls, body: object) -> LeaveAnswer:
        body = _object(body, "the exit's answer to leaving")
        try:
            last = body.get("receipt_request")
            session_id = int(body["session_id"])
            return cls(
                session_id=session_id,
                state=str(body["state"]),
                reason=body.get("reason"),
                measured_bytes=int(body["measured_bytes"]),
                receipt_request=ReceiptAsk.from_json(last, session_id=session_id) if last else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WireFormatError(f"the exit's answer to leaving is malformed: {exc!r}") from exc
