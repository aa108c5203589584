"""The exit's handshake API on the wire: its paths, and every body and answer as both ends build and read them
(as Tailscale's `tailcfg` is for its coordination server). The exit (`octravpn.node`) and the device
(`octravpn.client`) import these types, so the two can never disagree on a field.

No I/O. Each `from_json` takes what came over the wire and refuses it with a `WireFormatError` saying what is
wrong: the exit answers that with a 400, the device reports the exit as misbehaving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from octravpn.protocol.eip712 import PEER_REQUEST, PeerRequest, Receipt
from octravpn.protocol.errors import ProtocolError, RemoteProtocolError
from octravpn.protocol.signedread import SignedRead
from octravpn.protocol.wire import (
    IP,
    IP_INTERFACE,
    SIGNATURE,
    TEXT,
    UINT64,
    UINT256,
    WG_KEY,
    Field,
    Message,
    hex_bytes,
    ip_list,
    nested,
    network_list,
    optional_text,
)

# The exit's API: its paths (the exit serves these; the client asks them).
INFO = "/v1/info"
PEERS = "/v1/peers"
OPENING = "/v1/peers/opening"  # a join whose session's open transaction is not mined yet
RECEIPT_REQUEST = "/v1/sessions/{session_id}/receipt-request"
RECEIPTS = "/v1/sessions/{session_id}/receipts"
CLOSE = "/v1/sessions/{session_id}/close"
PARK = "/v1/sessions/{session_id}/park"
LEAVE_KEY = bytes(32)  # a `PeerRequest` for the all-zero key asks the exit to end the session
PARK_KEY = b"\xff" * 32  # for the all-ones key: to keep it open with no device connected, until one joins again


def receipt_request_path(session_id: int) -> str:
    return RECEIPT_REQUEST.format(session_id=session_id)


def receipts_path(session_id: int) -> str:
    return RECEIPTS.format(session_id=session_id)


def close_path(session_id: int) -> str:
    return CLOSE.format(session_id=session_id)


def park_path(session_id: int) -> str:
    return PARK.format(session_id=session_id)


class WireFormatError(RemoteProtocolError):
    """A body or answer that is not what the handshake API exchanges."""


# Each body and answer, once: its JSON, its checks and its schema (the exit's OpenAPI document) come from these.
PEER_ASK = PEER_REQUEST.with_fields(Field("signature", SIGNATURE), error=WireFormatError)
MAX_OPEN_TX = 2048  # bytes: an `open_session` transaction is about 300
OPENING_ASK = PEER_ASK.with_fields(
    Field("open_tx", hex_bytes(MAX_OPEN_TX)), name="peer request for a session being opened", error=WireFormatError
)
PEER_GRANT = Message(
    "the exit's handshake answer",
    (
        Field("session_id", UINT256),
        Field("exit_public_key", WG_KEY),
        Field("endpoint", TEXT),
        Field("client_address", IP_INTERFACE),  # with the tunnel network's prefix length
        Field("exit_address", IP),
        Field("dns", ip_list(8), default=()),
        Field("allowed_ips", network_list(8), default=("0.0.0.0/0", "::/0")),
    ),
    error=WireFormatError,
)
LEAVE_ASK = Message("leave request", (Field("timestamp", UINT64), Field("signature", SIGNATURE)), error=WireFormatError)
RECEIPT_ASK = Message(
    "receipt request",
    (
        Field("session_id", UINT256),
        Field("seq", UINT64),
        Field("bytes_used", UINT256),
        Field("operator_signature", SIGNATURE),
    ),
    error=WireFormatError,
)
SIGNED_RECEIPT = Message(
    "receipt",
    (Field("seq", UINT64), Field("bytes_used", UINT256), Field("signature", SIGNATURE)),
    error=WireFormatError,
)


@dataclass(frozen=True, kw_only=True)
class PeerAsk:
    """`POST /v1/peers`: the session's opener (or a device of its wallet) asks the exit to add a WireGuard key."""

    request: PeerRequest
    signature: bytes

    @property
    def receipts(self) -> bool:
        """False: a plain WireGuard app that signs none; the exit settles by claim (signed with the rest)."""
        return self.request.receipts

    def to_json(self) -> dict:
        values = {**PEER_REQUEST.values_of(self.request), "signature": self.signature}
        return PEER_ASK.dump(values, added=self.request.added, version=self.request.version)

    @classmethod
    def from_json(cls, body: object) -> PeerAsk:
        values, added, writer = PEER_ASK.load(body)
        signature = values.pop("signature")
        try:
            return cls(request=PeerRequest(**values, version=writer, added=added), signature=signature)
        except ProtocolError as exc:
            raise WireFormatError(str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class OpeningAsk:
    """`POST /v1/peers/opening`: a `PeerAsk` for a session whose `open_session` transaction (`open_tx`, signed
    by the session's opener, which signs the request too) is not mined yet. Its id is known: the opener chose
    the salt it is made of."""

    ask: PeerAsk
    open_tx: bytes

    def to_json(self) -> dict:
        values = {**PEER_REQUEST.values_of(self.ask.request), "signature": self.ask.signature}
        return OPENING_ASK.dump({**values, "open_tx": self.open_tx}, version=self.ask.request.version)

    @classmethod
    def from_json(cls, body: object) -> OpeningAsk:
        values, added, writer = OPENING_ASK.load(body)
        signature, open_tx = values.pop("signature"), values.pop("open_tx")
        try:
            request = PeerRequest(**values, version=writer, added=added)
        except ProtocolError as exc:
            raise WireFormatError(str(exc)) from exc
        return cls(ask=PeerAsk(request=request, signature=signature), open_tx=open_tx)


@dataclass(frozen=True, kw_only=True)
class PeerGrant:
    """The exit's answer to a `PeerAsk`: where the device is in the tunnel. The device checks `exit_public_key`
    against the key the exit registered on chain (the API is plain HTTP)."""

    session_id: int
    exit_public_key: bytes
    endpoint: str
    client_address: str
    exit_address: str
    dns: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] = ("0.0.0.0/0", "::/0")

    def to_json(self) -> dict:
        return PEER_GRANT.dump(PEER_GRANT.values_of(self))

    @classmethod
    def from_json(cls, body: object) -> PeerGrant:
        values, _, _ = PEER_GRANT.load(body)  # what a newer exit added is not for this reader
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class LeaveAsk:
    """`POST /v1/sessions/{id}/close`: the opener leaves, signing a `PeerRequest` for the all-zero key."""

    KEY: ClassVar[bytes] = LEAVE_KEY
    timestamp: int
    signature: bytes

    def to_json(self) -> dict:
        return LEAVE_ASK.dump(LEAVE_ASK.values_of(self))

    @classmethod
    def request(cls, session_id: int, timestamp: int) -> PeerRequest:
        return PeerRequest(session_id=session_id, wg_pubkey=cls.KEY, timestamp=timestamp)

    @classmethod
    def from_json(cls, session_id: int, body: object) -> tuple[PeerRequest, bytes]:
        """The signed leave request for `session_id` (from the path) and its signature."""
        values, _, _ = LEAVE_ASK.load(body)
        try:
            return cls.request(session_id, values["timestamp"]), values["signature"]
        except ProtocolError as exc:
            raise WireFormatError(str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class ParkAsk(LeaveAsk):
    """`POST /v1/sessions/{id}/park`: the opener disconnects and leaves the session open (`down` without `--end`),
    signing a `PeerRequest` for the all-ones key: a signature for one never serves as the other."""

    KEY: ClassVar[bytes] = PARK_KEY


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
        r = self.receipt
        values = {"session_id": r.session_id, "seq": r.seq, "bytes_used": r.bytes_used}
        return RECEIPT_ASK.dump({**values, "operator_signature": self.operator_signature})

    @classmethod
    def from_json(cls, body: object, *, session_id: int) -> ReceiptAsk:
        values, _, _ = RECEIPT_ASK.load(body)
        if values["session_id"] != session_id:
            raise WireFormatError(f"receipt request: for session {values['session_id']}, not {session_id}")
        receipt = Receipt(session_id=session_id, seq=values["seq"], bytes_used=values["bytes_used"])
        return cls(receipt=receipt, operator_signature=values["operator_signature"])


@dataclass(frozen=True, kw_only=True)
class SignedReceipt:
    """`POST /v1/sessions/{id}/receipts`: the device's receipt, signed by the opener or one of its devices."""

    receipt: Receipt
    signature: bytes

    def to_json(self) -> dict:
        r = self.receipt
        return SIGNED_RECEIPT.dump({"seq": r.seq, "bytes_used": r.bytes_used, "signature": self.signature})

    @classmethod
    def from_json(cls, body: object, *, session_id: int) -> SignedReceipt:
        values, _, _ = SIGNED_RECEIPT.load(body)
        receipt = Receipt(session_id=session_id, seq=values["seq"], bytes_used=values["bytes_used"])
        return cls(receipt=receipt, signature=values["signature"])


LEAVE_ANSWER = Message(
    "the exit's answer to leaving",
    (
        Field("session_id", UINT256),
        Field("state", TEXT),
        Field("reason", optional_text(), default=None),
        Field("measured_bytes", UINT256),
        Field("receipt_request", nested(RECEIPT_ASK), default=None),  # the last receipt to sign, if any
    ),
    error=WireFormatError,
)


@dataclass(frozen=True, kw_only=True)
class LeaveAnswer:
    """The exit's answer to a `LeaveAsk`: the session's state there and the last receipt to sign, if any."""

    session_id: int
    state: str
    reason: str | None
    measured_bytes: int
    receipt_request: ReceiptAsk | None

    def to_json(self) -> dict:
        values = LEAVE_ANSWER.values_of(self)
        return LEAVE_ANSWER.dump({**values, "receipt_request": self.receipt_request and self.receipt_request.to_json()})

    @classmethod
    def from_json(cls, body: object) -> LeaveAnswer:
        values, _, _ = LEAVE_ANSWER.load(body)
        last = values["receipt_request"]
        if last is not None:
            last = ReceiptAsk.from_json(last, session_id=values["session_id"])
        return cls(**{**values, "receipt_request": last})
