"""Asking a relay to forward WireGuard's datagrams between two devices of a tailnet. No I/O.

A device that cannot reach a peer directly signs a `RelayRequest` naming itself, the peer and the relay
(so the request is good at that relay only) with an expiry, and sends it to the relay's control port in one
datagram. The relay pairs the two devices only when both asked, both are on its tailnet's roster, and the
policy lets them talk; it then answers each with the port to send the other's datagrams to. What it
forwards is WireGuard's ciphertext: it never holds the two devices' session keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from octravpn.protocol.eip712 import Domain, TypedMessage, _checksum, _uint, recover
from octravpn.protocol.errors import ProtocolError, RemoteProtocolError
from octravpn.protocol.wirejson import loads_object

MAX_DATAGRAM = 1024
MAX_LIFETIME = 600  # seconds a request may be valid for: a captured one is useless after that


@dataclass(frozen=True, kw_only=True)
class RelayRequest(TypedMessage):
    tailnet_id: int
    device: str  # who asks (and signs)
    peer: str  # the device it wants to reach through the relay
    relay: str  # the relay's device key: a request is good at that relay only
    expires: int  # unix seconds
    TYPE_NAME: ClassVar[str] = "RelayRequest"
    FIELDS: ClassVar = (
        ("tailnetId", "uint256", "tailnet_id"),
        ("device", "address", "device"),
        ("peer", "address", "peer"),
        ("relay", "address", "relay"),
        ("expires", "uint64", "expires"),
    )

    def __post_init__(self) -> None:
        _uint(self.tailnet_id, 256, "tailnet_id")
        _uint(self.expires, 64, "expires")
        for name in ("device", "peer", "relay"):
            object.__setattr__(self, name, _checksum(getattr(self, name), name))


def encode_request(request: RelayRequest, signature: bytes) -> bytes:
    return json.dumps(
        {
            "tailnet_id": request.tailnet_id,
            "device": request.device,
            "peer": request.peer,
            "relay": request.relay,
            "expires": request.expires,
            "signature": "0x" + signature.hex(),
        }
    ).encode()


def decode_request(datagram: bytes, domain: Domain) -> RelayRequest:
    """The request in a datagram, its signature checked to be its `device`'s (`RemoteProtocolError` otherwise)."""
    if len(datagram) > MAX_DATAGRAM:
        raise RemoteProtocolError(f"a relay request is at most {MAX_DATAGRAM} bytes")
    try:
        body = loads_object(datagram, max_depth=1)
        fields = {"tailnet_id", "device", "peer", "relay", "expires", "signature"}
        if set(body) != fields:
            raise ValueError(f"a relay request is a JSON object with {', '.join(sorted(fields))}")
        request = RelayRequest(**{k: v for k, v in body.items() if k != "signature"})
        signature = bytes.fromhex(str(body["signature"]).removeprefix("0x"))
        signer = recover(domain, request, signature)
    except (ValueError, TypeError, ProtocolError) as exc:
        raise RemoteProtocolError(f"relay request: {exc}") from None
    if signer != request.device:
        raise RemoteProtocolError(f"relay request of {request.device} signed by {signer}")
    return request


def encode_answer(*, port: int | None = None, ready: bool = False, error: str | None = None) -> bytes:
    return json.dumps({"port": port, "ready": ready, "error": error}).encode()


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
