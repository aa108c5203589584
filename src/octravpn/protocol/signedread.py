"""Reads that only some may make, signed: an `Authorization` header `SCHEME ADDRESS:TIMESTAMP:SIGNATURE` carrying an
EIP-712 message that names what is read (a tailnet's map, a session's receipt request), the reader and the time,
good for `WINDOW` seconds either side of the server's clock. A server checks the signature is the named
reader's and the time is near; which readers it serves is its own rule (the tailnet's roster for the mailbox,
the session's signers for an exit's receipt request). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from octravpn.protocol.eip712 import Domain, TypedMessage, _checksum, _uint, recover
from octravpn.protocol.errors import ProtocolError, RemoteProtocolError

WINDOW = 300  # seconds a signed read is good for, either side of its timestamp


@dataclass(frozen=True, kw_only=True)
class SignedRead(TypedMessage):
    """What a subclass reads (`subject`: a tailnet id, a session id), by whom, when. Subclasses name the EIP-712
    type and its fields, the header's scheme, and what is read (for errors)."""

    subject: int
    reader: str
    timestamp: int  # unix seconds
    SCHEME: ClassVar[str]
    WHAT: ClassVar[str]

    def __post_init__(self) -> None:
        _uint(self.subject, 256, "subject")
        _uint(self.timestamp, 64, "timestamp")
        object.__setattr__(self, "reader", _checksum(self.reader, "reader"))

    def header(self, signature: bytes) -> str:
        """The `Authorization` header value that carries this read and its signature."""
        return f"{self.SCHEME} {self.reader}:{self.timestamp}:0x{signature.hex()}"

    @classmethod
    def from_header(cls, value: str | None, *, subject: int, domain: Domain, now: float) -> Self:
        """The read an `Authorization` header carries for `subject`, signed by its reader within WINDOW of `now`;
        `RemoteProtocolError` saying what is wrong otherwise."""
        if not value:
            raise RemoteProtocolError(
                f"{cls.WHAT} needs a signed read: Authorization: {cls.SCHEME} ADDRESS:TIMESTAMP:SIGNATURE"
            )
        scheme, _, credentials = value.partition(" ")
        parts = credentials.split(":")
        if scheme != cls.SCHEME or len(parts) != 3:
            raise RemoteProtocolError(f"the Authorization header must be {cls.SCHEME} ADDRESS:TIMESTAMP:SIGNATURE")
        reader, timestamp, signature = parts
        try:
            read = cls(subject=subject, reader=reader, timestamp=int(timestamp))
            signer = recover(domain, read, bytes.fromhex(signature.removeprefix("0x")))
        except (ValueError, ProtocolError) as exc:
            raise RemoteProtocolError(f"signed read: {exc}") from None
        if signer != read.reader:
            raise RemoteProtocolError(f"signed read of {read.reader} signed by {signer}")
        if abs(read.timestamp - now) > WINDOW:
            raise RemoteProtocolError(
                f"signed read at {read.timestamp} is more than {WINDOW} s from the server's clock ({int(now)})"
            )
        return read
