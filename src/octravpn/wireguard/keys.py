"""WireGuard keys: Curve25519 (X25519), written as base64 like `wg genkey`/`wg pubkey`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from octravpn.wireguard.errors import WireGuardError


class KeyFormatError(WireGuardError, ValueError):
    """A key string is not base64 of 32 bytes."""


def decode_key(text: str) -> bytes:
    """32 raw bytes from a base64 WireGuard key."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"WireGuard key {text!r} is not base64: use the output of `wg pubkey`") from exc
    if len(raw) != 32:
        raise KeyFormatError(f"WireGuard key {text!r} is {len(raw)} bytes, not 32: use the output of `wg pubkey`")
    return raw


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Keypair:
    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> Keypair:
        return cls.from_private(
            X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        )

    @classmethod
    def from_private(cls, private: bytes) -> Keypair:
        key = X25519PrivateKey.from_private_bytes(private)
        return cls(private=private, public=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @property
    def private_b64(self) -> str:
        return encode_key(self.private)

    @property
    def public_b64(self) -> str:
        return encode_key(self.public)
