"""A device's announcement: where it is in its tailnet's mesh, signed by its own key.

Each daemon publishes one, through indexers (untrusted mailboxes), carrying its WireGuard key, its hostname
(and since when it has announced that name), the endpoints where it can be reached, where it relays for others
if it does, a sequence number and an expiry; it republishes with a higher `seq` when any of these change, and
before the expiry. An indexer, and then every receiving device, checks it again: the signature is the `device`
key's, that key is on the tailnet's roster (a member's own wallet, or a live device key of a member), the
announcement has not expired, and its `seq` is newer than the one held. An indexer can withhold an announcement,
never forge one; a captured one stops working when it expires.

Tags are not announced: a device carries the tags a tag owner granted it on chain (`mesh.tagging`), so a
device can neither give itself a tag nor drop one.

Reading a tailnet's announcements is for its own devices (they hold LAN endpoints): a reader signs a
`MailboxRead` with its key (`protocol.signedread`). No I/O here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from octravpn.names import HOSTNAME
from octravpn.protocol.eip712 import Domain, TypedMessage, _checksum, _uint, recover
from octravpn.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from octravpn.protocol.signedread import SignedRead
from octravpn.wireguard.keys import KeyFormatError, decode_key, encode_key

MAX_ENDPOINTS = 16
# The latest expiry a receiver accepts, from its own clock: a device signs for 12 hours (renewing at half),
# and a receiver allows twice that for clocks that disagree.
MAX_LIFETIME = 24 * 3600


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
    hostname_since: int  # the `seq` of its first announcement with this hostname: who named itself first
    endpoints: tuple[str, ...]
    seq: int  # milliseconds since the epoch when it was signed (newer replaces older)
    expires: int  # unix seconds; receivers drop it after that
    relay: str = ""  # ADDRESS:PORT where it relays for its tailnet's devices ("": it does not)
    TYPE_NAME: ClassVar[str] = "Announcement"
    FIELDS: ClassVar = (
        ("tailnetId", "uint256", "tailnet_id"),
        ("device", "address", "device"),
        ("wgPubkey", "bytes32", "wg_pubkey"),
        ("hostname", "string", "hostname"),
        ("hostnameSince", "uint64", "hostname_since"),
        ("endpoints", "string[]", "endpoints"),
        ("seq", "uint64", "seq"),
        ("expires", "uint64", "expires"),
        ("relay", "string", "relay"),
    )

    def __post_init__(self) -> None:
        _uint(self.tailnet_id, 256, "tailnet_id")
        _uint(self.seq, 64, "seq")
        _uint(self.hostname_since, 64, "hostname_since")
        _uint(self.expires, 64, "expires")
        if self.hostname_since > self.seq:
            raise LocalProtocolError(f"hostname_since {self.hostname_since} is after the seq {self.seq}")
        object.__setattr__(self, "device", _checksum(self.device, "device"))
        if not isinstance(self.wg_pubkey, bytes) or len(self.wg_pubkey) != 32:
            raise LocalProtocolError("wg_pubkey must be 32 bytes (a Curve25519 public key)")
        if not isinstance(self.hostname, str) or not HOSTNAME.fullmatch(self.hostname):
            raise LocalProtocolError(
                f"hostname {self.hostname!r} must be one DNS label: 1-63 of a-z, 0-9 and '-', "
                "not starting or ending with '-'"
            )
        if not isinstance(self.endpoints, tuple) or not all(isinstance(item, str) for item in self.endpoints):
            raise LocalProtocolError("endpoints must be a tuple of strings")
        if len(self.endpoints) > MAX_ENDPOINTS or len(set(self.endpoints)) != len(self.endpoints):
            raise LocalProtocolError(f"endpoints: at most {MAX_ENDPOINTS}, each once")
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

    def expired(self, now: float) -> bool:
        return self.expires <= now

    def check_fresh(self, now: float) -> None:
        """`RemoteProtocolError` for an announcement expired, or valid for longer than anyone signs for."""
        if self.expired(now):
            raise RemoteProtocolError(f"announcement of {self.device} expired at {self.expires}")
        if self.expires > now + MAX_LIFETIME:
            raise RemoteProtocolError(
                f"announcement of {self.device} expires at {self.expires}, over {MAX_LIFETIME} s from now"
            )


_WIRE_FIELDS = (
    "tailnet_id",
    "device",
    "wg_pubkey",
    "hostname",
    "hostname_since",
    "endpoints",
    "seq",
    "expires",
    "relay",
    "signature",
)


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
            "hostname_since": a.hostname_since,
            "endpoints": list(a.endpoints),
            "seq": a.seq,
            "expires": a.expires,
            "relay": a.relay,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, body: object) -> SignedAnnouncement:
        """What came over the wire, checked field by field (`RemoteProtocolError` says what is wrong)."""
        if not isinstance(body, dict):
            raise RemoteProtocolError(f"an announcement is a JSON object with {', '.join(_WIRE_FIELDS)}")
        missing, unknown = [f for f in _WIRE_FIELDS if f not in body], sorted(set(body) - set(_WIRE_FIELDS))
        if missing or unknown:
            raise RemoteProtocolError(f"announcement: missing {missing}, unknown {unknown}")
        try:
            if not isinstance(body["endpoints"], list):
                raise ValueError("endpoints must be a list")
            announcement = Announcement(
                tailnet_id=body["tailnet_id"],
                device=body["device"],
                wg_pubkey=decode_key(str(body["wg_pubkey"])),
                hostname=body["hostname"],
                hostname_since=body["hostname_since"],
                endpoints=tuple(body["endpoints"]),
                seq=body["seq"],
                expires=body["expires"],
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


@dataclass(frozen=True, kw_only=True)
class MailboxRead(SignedRead):
    """A device asking an indexer for its tailnet's announcements (`subject`: the tailnet id)."""

    TYPE_NAME: ClassVar[str] = "MailboxRead"
    FIELDS: ClassVar = (
        ("tailnetId", "uint256", "subject"),
        ("device", "address", "reader"),
        ("timestamp", "uint64", "timestamp"),
    )
    SCHEME: ClassVar[str] = "OctraVPN-Read"
    WHAT: ClassVar[str] = "reading a tailnet's announcements"
