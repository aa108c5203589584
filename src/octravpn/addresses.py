"""Addresses typed by people: checked against their EIP-55 checksum before anything is sent to them.

A mixed-case address carries a checksum in its letter case; one mistyped character breaks it, so a typo is
refused instead of paying or admitting a stranger (as `cast` and geth refuse it). All-lowercase and
all-uppercase addresses carry no checksum and are taken as written.
"""

from __future__ import annotations

import re

from octravpn.errors import UsageError

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def is_hex_address(text: object) -> bool:
    """0x and 40 hex digits, in any letter case (the checksum is not looked at)."""
    return isinstance(text, str) and _HEX_ADDRESS.fullmatch(text) is not None


def to_checksum_address(address: str) -> str:
    """EIP-55: each letter upper-case where the keccak-256 of the lower-case hex has a nibble >= 8."""
    from eth_hash.auto import keccak  # loaded on first use: commands that show no address start faster

    digits = address.lower().removeprefix("0x")  # keystore files write addresses without the prefix
    nibbles = keccak(digits.encode()).hex()
    return "0x" + "".join(
        c.upper() if int(n, 16) >= 8 else c for c, n in zip(digits, nibbles, strict=False)
    )  # a keccak digest has more nibbles


def looks_like_address(text: str) -> bool:
    """Whether `text` is meant as an address (rather than, say, a wallet name)."""
    return text[:2].lower() == "0x"


def parse_address(text: str, *, what: str = "address") -> str:
    """The checksummed form of `text`, or a `UsageError` saying what is wrong with it."""
    if not is_hex_address(text):
        raise UsageError(f"{what} {text!r} is not an address: write 0x and 40 hex digits")
    checksummed = to_checksum_address(text)
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and text != checksummed:
        raise UsageError(
            f"{what} {text} fails its EIP-55 checksum, so a character is probably mistyped: copy it again from "
            f"its source. If it is right as written, its checksummed form is {checksummed} (all-lowercase is "
            "accepted too)"
        )
    return checksummed
