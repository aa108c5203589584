"""Reads that only some may make, signed: an `Authorization` header `SCHEME ADDRESS:TIMESTAMP:SIGNATURE` carrying an
EIP-712 message that names the reader and the time, good for `WINDOW` seconds either side of the server's clock.
A server checks the signature is the named reader's and the time is near; which readers it serves is its own
rule (the tailnet's roster for the mailbox, the session's signers for an exit's receipt requests). No I/O."""

from __future__ import annotations

from octravpn.protocol.eip712 import Domain, TypedMessage, recover
from octravpn.protocol.errors import ProtocolError, RemoteProtocolError

WINDOW = 300  # seconds a signed read is good for, either side of its timestamp


def header(scheme: str, reader: str, timestamp: int, signature: bytes) -> str:
    return f"{scheme} {reader}:{timestamp}:0x{signature.hex()}"


def verify(value: str | None, scheme: str, build, *, domain: Domain, now: float, what: str) -> TypedMessage:
    """The message `build(reader, timestamp)` the header carries, signed by its reader within WINDOW of `now`;
    `RemoteProtocolError` saying what is wrong otherwise."""
    if not value:
        raise RemoteProtocolError(f"{what} needs a signed read: Authorization: {scheme} ADDRESS:TIMESTAMP:SIGNATURE")
    given, _, credentials = value.partition(" ")
    parts = credentials.split(":")
    if given != scheme or len(parts) != 3:
        raise RemoteProtocolError(f"the Authorization header must be {scheme} ADDRESS:TIMESTAMP:SIGNATURE")
    reader, timestamp, signature = parts
    try:
        message = build(reader, int(timestamp))
        signer = recover(domain, message, bytes.fromhex(signature.removeprefix("0x")))
    except (ValueError, ProtocolError) as exc:
        raise RemoteProtocolError(f"signed read: {exc}") from None
    if signer.lower() != reader.lower():
        raise RemoteProtocolError(f"signed read of {reader} signed by {signer}")
    if abs(int(timestamp) - now) > WINDOW:
        raise RemoteProtocolError(
            f"signed read at {timestamp} is more than {WINDOW} s from the server's clock ({int(now)})"
        )
    return message
