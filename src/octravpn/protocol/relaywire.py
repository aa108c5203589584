"""Asking a relay to forward WireGuard's datagrams between two devices of a tailnet. No I/O.

A device that cannot reach a peer directly first sends the relay's control port a `HELLO` (padded to
`HELLO_SIZE`), and the relay answers with a fresh challenge bound to the address:port the hello came from
(`Challenges`: an HMAC under a secret only the relay has, with the time it was made). The device then signs a
`RelayRequest` naming itself, the peer, the relay (so the request is good at that relay only), an expiry, and
that challenge, and sends it from the same socket. The relay takes a challenge once, and only from the
address it was made for: a request captured on the way and sent again, from anywhere, moves nothing.

The relay pairs the two devices only when both asked, both are on its tailnet's roster, and the policy lets
them talk; it then answers each with the port to send the other's datagrams to. What it forwards is
WireGuard's ciphertext: it never holds the two devices' session keys. Nothing the relay sends to an address
that has not proven itself is larger than what that address sent (no amplification).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import ClassVar

from octravpn.protocol.eip712 import Domain, TypedMessage, _checksum, _uint, recover
from octravpn.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from octravpn.protocol.wirejson import loads_object

MAX_DATAGRAM = 1024
MAX_LIFETIME = 600  # seconds a pair may be asked for at once
HELLO = b"octravpn/relay-hello"
HELLO_SIZE = 128  # a hello is padded to this, so the challenge (smaller) amplifies nothing
CHALLENGE_SECONDS = 30  # a challenge is good for this long
_STAMP, _NONCE = 8, 8  # bytes of the time a challenge was made, and of its randomness (each one is new)


@dataclass(frozen=True, kw_only=True)
class RelayRequest(TypedMessage):
    tailnet_id: int
    device: str  # who asks (and signs)
    peer: str  # the device it wants to reach through the relay
    relay: str  # the relay's device key: a request is good at that relay only
    expires: int  # unix seconds: the pair lasts until then unless asked again
    challenge: bytes  # 32 bytes the relay handed to the address this request comes from
    TYPE_NAME: ClassVar[str] = "RelayRequest"
    FIELDS: ClassVar = (
        ("tailnetId", "uint256", "tailnet_id"),
        ("device", "address", "device"),
        ("peer", "address", "peer"),
        ("relay", "address", "relay"),
        ("expires", "uint64", "expires"),
        ("challenge", "bytes32", "challenge"),
    )

    def __post_init__(self) -> None:
        _uint(self.tailnet_id, 256, "tailnet_id")
        _uint(self.expires, 64, "expires")
        for name in ("device", "peer", "relay"):
            object.__setattr__(self, name, _checksum(getattr(self, name), name))
        if not isinstance(self.challenge, bytes) or len(self.challenge) != 32:
            raise LocalProtocolError("challenge must be the 32 bytes the relay handed out")


def hello() -> bytes:
    return HELLO.ljust(HELLO_SIZE, b"\0")


def is_hello(datagram: bytes) -> bool:
    return len(datagram) == HELLO_SIZE and datagram.rstrip(b"\0") == HELLO


def encode_challenge(challenge: bytes) -> bytes:
    return json.dumps({"challenge": "0x" + challenge.hex()}).encode()


def decode_challenge(datagram: bytes) -> bytes:
    try:
        body = loads_object(datagram[:MAX_DATAGRAM], max_depth=1)
        challenge = bytes.fromhex(str(body["challenge"]).removeprefix("0x"))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RemoteProtocolError(f"relay challenge: {exc!r}") from None
    if len(challenge) != 32:
        raise RemoteProtocolError("relay challenge: not 32 bytes")
    return challenge


@dataclass
class Challenges:
    """The relay's challenges: made for an address, good for CHALLENGE_SECONDS, taken once. Pure (the caller
    gives the time); holds only the challenges taken, until they would have expired anyway."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    taken: dict[bytes, float] = field(default_factory=dict)

    def make(self, address: tuple[str, int], now: float) -> bytes:
        made = int(now).to_bytes(_STAMP, "big") + secrets.token_bytes(_NONCE)
        return made + self._mac(made, address)

    def take(self, challenge: bytes, address: tuple[str, int], now: float) -> str | None:
        """Why `challenge` is not good from `address` now (None: it is, and it is now used up)."""
        made_part, stamp = challenge[: _STAMP + _NONCE], challenge[:_STAMP]
        if not hmac.compare_digest(challenge[_STAMP + _NONCE :], self._mac(made_part, address)):
            return "the challenge was not made for this address: ask the relay for one (hello) from this socket"
        made = int.from_bytes(stamp, "big")
        if not made <= now < made + CHALLENGE_SECONDS:
            return f"the challenge is older than {CHALLENGE_SECONDS} s: ask for a new one"
        if challenge in self.taken:
            return "the challenge was used already: a request counts once"
        self.taken = {c: t for c, t in self.taken.items() if t > now}
        self.taken[challenge] = made + CHALLENGE_SECONDS
        return None

    def _mac(self, made: bytes, address: tuple[str, int]) -> bytes:
        message = made + f"{address[0]}|{address[1]}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).digest()[: 32 - _STAMP - _NONCE]


def encode_request(request: RelayRequest, signature: bytes) -> bytes:
    return json.dumps(
        {
            "tailnet_id": request.tailnet_id,
            "device": request.device,
            "peer": request.peer,
            "relay": request.relay,
            "expires": request.expires,
            "challenge": "0x" + request.challenge.hex(),
            "signature": "0x" + signature.hex(),
        }
    ).encode()


def decode_request(datagram: bytes, domain: Domain) -> RelayRequest:
    """The request in a datagram, its signature checked to be its `device`'s (`RemoteProtocolError` otherwise)."""
    if len(datagram) > MAX_DATAGRAM:
        raise RemoteProtocolError(f"a relay request is at most {MAX_DATAGRAM} bytes")
    try:
        body = loads_object(datagram, max_depth=1)
        fields = {"tailnet_id", "device", "peer", "relay", "expires", "challenge", "signature"}
        if set(body) != fields:
            raise ValueError(f"a relay request is a JSON object with {', '.join(sorted(fields))}")
        values = {k: v for k, v in body.items() if k != "signature"}
        values["challenge"] = bytes.fromhex(str(values["challenge"]).removeprefix("0x"))
        request = RelayRequest(**values)
        signature = bytes.fromhex(str(body["signature"]).removeprefix("0x"))
        signer = recover(domain, request, signature)
    except (ValueError, TypeError, ProtocolError) as exc:
        raise RemoteProtocolError(f"relay request: {exc}") from None
    if signer != request.device:
        raise RemoteProtocolError(f"relay request of {request.device} signed by {signer}")
    return request


def encode_answer(*, port: int | None = None, ready: bool = False, error: str | None = None, limit: int) -> bytes:
    """The relay's answer, at most `limit` bytes (the size of what it answers): an error too long is shortened,
    and an answer that cannot fit is nothing at all."""
    answer = json.dumps({"port": port, "ready": ready, "error": error}).encode()
    if len(answer) > limit and error:
        room = len(error) - (len(answer) - limit)
        answer = json.dumps({"port": port, "ready": ready, "error": error[: max(room, 0)]}).encode()
    return answer if len(answer) <= limit else b""


@dataclass(frozen=True)
class RelayAnswer:
    port: int | None  # where to send the peer's datagrams (set once both asked)
    ready: bool
    error: str | None


def decode_answer(datagram: bytes) -> RelayAnswer:
    try:
        body = loads_object(datagram[:MAX_DATAGRAM], max_depth=1)
        port, ready, error = body["port"], body["ready"], body["error"]
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise ValueError("port")
        if not isinstance(ready, bool) or (error is not None and not isinstance(error, str)):
            raise ValueError("ready or error")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RemoteProtocolError(f"relay answer: {exc}") from None
    return RelayAnswer(port=port, ready=ready, error=error[:300] if error else None)
