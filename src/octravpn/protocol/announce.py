"""A device's announcement: where it is in its tailnet's mesh, signed by its own key.

Each daemon publishes one, through indexers (untrusted mailboxes), carrying its
WireGuard key, hostname, the endpoints where it can be reached, the tags it
asks for, a sequence number, and where it relays for others if it does; it republishes with a higher `seq` when any
of these change. An indexer, and then every receiving device, checks it again:
the signature is the `device` key's, that key is a registered device of a
member of the tailnet (or a member's own wallet key), and the `seq` is newer
than the one held. An indexer can withhold an announcement, never forge one.
No I/O here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from octravpn.names import HOSTNAME, MAX_TAGS, TAG
from octravpn.protocol.eip712 import Domain, TypedMessage, _checksum, _uint, recover
from octravpn.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from octravpn.wireguard.keys import KeyFormatError, decode_key, encode_key

MAX_ENDPOINTS = 16


def parse_endpoint(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """`203.0.113.7:41641` or `[2001:db8::7]:41641`; a literal address, never a name (nobody resolves it)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"endpoint {text!r} is not ADDRESS:PORT")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"endpoint {text!r}: an IPv6 address goes in brackets")
        host = host[1:-1]
    address = ipaddress.ip_address(host)
    if address.version == 6 and not text.startswith("["):
        raise ValueError(f"endpoint {text!r}: an IPv6 address goes in brackets")
    return address, int(port)


def format_endpoint(address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
    """The endpoint syntax `parse_endpoint` reads: `ADDRESS:PORT`, an IPv6 address in brackets."""
    return f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"


@dataclass(frozen=True, kw_only=True)
class Announcement(TypedMessage):
    tailnet_id: int
    device: str  # the key that signs: a registered device, or a member's own wallet
    wg_pubkey: bytes
    hostname: str
    endpoints: tuple[str, ...]
    tags: tuple[str, ...]
    seq: int
    relay: str = ""  # ADDRESS:PORT where it relays for its tailnet's devices ("": it does not)
    TYPE_NAME: ClassVar[str] = "Announcement"
    FIELDS: ClassVar = (
        ("tailnetId", "uint256", "tailnet_id"),
        ("device", "address", "device"),
        ("wgPubkey", "bytes32", "wg_pubkey"),
        ("hostname", "string", "hostname"),
        ("endpoints", "string[]", "endpoints"),
        ("tags", "string[]", "tags"),
        ("seq", "uint64", "seq"),
        ("relay", "string", "relay"),
    )

    def __post_init__(self) -> None:
        _uint(self.tailnet_id, 256, "tailnet_id")
        _uint(self.seq, 64, "seq")
        object.__setattr__(self, "device", _checksum(self.device, "device"))
        if not isinstance(self.wg_pubkey, bytes) or len(self.wg_pubkey) != 32:
            raise LocalProtocolError("wg_pubkey must be 32 bytes (a Curve25519 public key)")
        if not isinstance(self.hostname, str) or not HOSTNAME.match(self.hostname):
            raise LocalProtocolError(
                f"hostname {self.hostname!r} must be one DNS label: 1-63 of a-z, 0-9 and '-', "
                "not starting or ending with '-'"
            )
        for name, items, limit in (("endpoints", self.endpoints, MAX_ENDPOINTS), ("tags", self.tags, MAX_TAGS)):
            if not isinstance(items, tuple) or not all(isinstance(item, str) for item in items):
                raise LocalProtocolError(f"{name} must be a tuple of strings")
            if len(items) > limit or len(set(items)) != len(items):
                raise LocalProtocolError(f"{name}: at most {limit}, each once")
        for endpoint in self.endpoints:
            try:
                parse_endpoint(endpoint)
            except ValueError as exc:
                raise LocalProtocolError(str(exc)) from None
        if not isinstance(self.relay, str):
            raise LocalProtocolError("relay must be a string: ADDRESS:PORT, or empty")
        if self.relay:
            try:
                parse_endpoint(self.relay)
            except ValueError as exc:
                raise LocalProtocolError(f"relay: {exc}") from None
        for tag in self.tags:
            if not TAG.match(tag):
                raise LocalProtocolError(f"tag {tag!r} must be tag:NAME (a-z, 0-9, '_' and '-')")


@dataclass(frozen=True, kw_only=True)
class SignedAnnouncement:
    announcement: Announcement
    signature: bytes

    def to_json(self) -> dict:
        a = self.announcement
        return {
            "tailnet_id": a.tailnet_id,
            "device": a.device,
            "wg_pubkey": encode_key(a.wg_pubkey),
            "hostname": a.hostname,
            "endpoints": list(a.endpoints),
            "tags": list(a.tags),
            "seq": a.seq,
            "relay": a.relay,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, body: object) -> SignedAnnouncement:
        """What came over the wire, checked field by field (`RemoteProtocolError` says what is wrong)."""
        fields = ("tailnet_id", "device", "wg_pubkey", "hostname", "endpoints", "tags", "seq", "relay", "signature")
        if not isinstance(body, dict):
            raise RemoteProtocolError(f"an announcement is a JSON object with {', '.join(fields)}")
        missing, unknown = [f for f in fields if f not in body], sorted(set(body) - set(fields))
        if missing or unknown:
            raise RemoteProtocolError(f"announcement: missing {missing}, unknown {unknown}")
        try:
            for name in ("endpoints", "tags"):
                if not isinstance(body[name], list):
                    raise ValueError(f"{name} must be a list")
            announcement = Announcement(
                tailnet_id=body["tailnet_id"],
                device=body["device"],
                wg_pubkey=decode_key(str(body["wg_pubkey"])),
                hostname=body["hostname"],
                endpoints=tuple(body["endpoints"]),
                tags=tuple(body["tags"]),
                seq=body["seq"],
                relay=body["relay"],
            )
            return cls(announcement=announcement, signature=bytes.fromhex(str(body["signature"]).removeprefix("0x")))
        except (KeyFormatError, ValueError, ProtocolError) as exc:
            raise RemoteProtocolError(f"announcement: {exc}") from None

    def verify(self, domain: Domain) -> str:
        """The signer, which must be the announcement's `device`; the caller checks it acts for a member."""
        signer = recover(domain, self.announcement, self.signature)
        if signer != self.announcement.device:
            raise RemoteProtocolError(f"announcement of {self.announcement.device} signed by {signer}")
        return signer
