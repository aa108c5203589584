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
from dataclasses import dataclass, field
from typing import Any, ClassVar

from octravpn.protocol.eip712 import Domain, TypedMessage, _uint, recover
from octravpn.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from octravpn.protocol.signedread import SignedRead
from octravpn.protocol.wire import (
    ADDRESS,
    CAPABILITY_VERSION,
    LABEL,
    SIGNATURE,
    UINT64,
    UINT256,
    WG_KEY,
    Field,
    FieldError,
    Kind,
    Message,
    checksum_address,
    extensions_hash,
)

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


def _endpoints_check(name: str, value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
        raise FieldError(f"{name} must be a tuple of strings")
    if len(value) > MAX_ENDPOINTS or len(set(value)) != len(value):
        raise FieldError(f"{name}: at most {MAX_ENDPOINTS}, each once")
    for endpoint in value:
        parse_endpoint(endpoint)


def _endpoints_load(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FieldError(f"{name} must be a list of ADDRESS:PORT")
    endpoints = tuple(value)
    _endpoints_check(name, endpoints)
    return endpoints


def _relay_check(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise FieldError(f"{name} must be a string: ADDRESS:PORT, or empty")
    if value:
        try:
            parse_endpoint(value)
        except ValueError as exc:
            raise FieldError(f"{name}: {exc}") from None


def _relay_load(name: str, value: Any) -> str:
    _relay_check(name, value)
    return value


ENDPOINTS = Kind(
    {"type": "array", "items": {"type": "string"}, "maxItems": MAX_ENDPOINTS, "uniqueItems": True},
    list[str],
    _endpoints_load,
    dump=list,
    check=_endpoints_check,
    eip712="string[]",
)
RELAY = Kind(
    {"type": "string", "description": "ADDRESS:PORT, or empty"}, str, _relay_load, check=_relay_check, eip712="string"
)

# The announcement, once: its JSON, its checks, its EIP-712 type and its schema all come from this table. A field
# added later goes at the end with `since=` the next capability version and a default.
ANNOUNCEMENT = Message(
    "announcement",
    (
        Field("tailnet_id", UINT256, signed_as="tailnetId"),
        Field("device", ADDRESS, signed_as="device"),  # the key that signs: a registered device, or a member
        Field("wg_pubkey", WG_KEY, signed_as="wgPubkey"),
        Field("hostname", LABEL, signed_as="hostname"),
        Field("hostname_since", UINT64, signed_as="hostnameSince"),  # seq of the first with this hostname
        Field("endpoints", ENDPOINTS, signed_as="endpoints"),
        Field("seq", UINT64, signed_as="seq"),  # milliseconds since the epoch when signed (newer replaces older)
        Field("expires", UINT64, signed_as="expires"),  # unix seconds; receivers drop it after that
        Field("relay", RELAY, default="", signed_as="relay"),  # where it relays for its tailnet ("": it does not)
    ),
    extensible=True,
)
SIGNED_ANNOUNCEMENT = ANNOUNCEMENT.with_fields(Field("signature", SIGNATURE))


@dataclass(frozen=True, kw_only=True)
class Announcement(TypedMessage):
    tailnet_id: int
    device: str
    wg_pubkey: bytes
    hostname: str
    hostname_since: int
    endpoints: tuple[str, ...]
    seq: int
    expires: int
    relay: str = ""
    version: int = CAPABILITY_VERSION  # its writer's
    added: dict | None = field(default=None, hash=False)  # members beyond version 1, as they travel
    TYPE_NAME: ClassVar[str] = "Announcement"
    FIELDS: ClassVar = ANNOUNCEMENT.eip712_fields()

    def __post_init__(self) -> None:
        values = ANNOUNCEMENT.values_of(self)
        ANNOUNCEMENT.check(values)
        object.__setattr__(self, "device", checksum_address(self.device))
        _uint(self.version, 16, "version")
        if self.hostname_since > self.seq:
            raise LocalProtocolError(f"hostname_since {self.hostname_since} is after the seq {self.seq}")
        if self.added is None:
            object.__setattr__(self, "added", ANNOUNCEMENT.added(values, self.version))

    @property
    def extensions(self) -> bytes:
        return extensions_hash(self.added or {})  # set in __post_init__

    @classmethod
    def from_json(cls, body: object) -> Announcement:
        """An announcement's members as JSON, unsigned (what the daemon keeps of its own), checked."""
        values, added, writer = ANNOUNCEMENT.load(body)
        return cls(**values, version=writer, added=added)

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


@dataclass(frozen=True, kw_only=True)
class SignedAnnouncement:
    announcement: Announcement
    signature: bytes

    def to_json(self) -> dict:
        a = self.announcement
        values = {**ANNOUNCEMENT.values_of(a), "signature": self.signature}
        return SIGNED_ANNOUNCEMENT.dump(values, added=a.added, version=a.version)

    @classmethod
    def from_json(cls, body: object) -> SignedAnnouncement:
        """What came over the wire, checked field by field (`RemoteProtocolError` says what is wrong)."""
        values, added, writer = SIGNED_ANNOUNCEMENT.load(body)
        signature = values.pop("signature")
        try:
            return cls(announcement=Announcement(**values, version=writer, added=added), signature=signature)
        except ProtocolError as exc:
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
