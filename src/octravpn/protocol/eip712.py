"""EIP-712 typed messages shared by the contract and the agents.

The contract verifies `Receipt`, `Join`, `Device` and `ReceiptSigner` (their types are the contract's, fixed);
the exit verifies `PeerRequest`, which like a device's announcement is declared by a table (`protocol.wire`)
and grows by capability version.
Hashing is implemented here from the EIP-712 definition (static fields encode
as one 32-byte word; a `string` as the hash of its bytes, a `string[]` as the
hash of its elements' hashes) and cross-checked against eth-account in the
tests. Signatures are 65 bytes `r || s || v` with `v` in
{27, 28} and a canonical low `s`, exactly what the contract accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import is_address

from octravpn.protocol.errors import LocalProtocolError, RemoteProtocolError
from octravpn.protocol.wire import (
    BOOL,
    CAPABILITY_VERSION,
    UINT64,
    UINT256,
    WG_KEY,
    Field,
    Message,
    checksum_address,
    extensions_hash,
)

DOMAIN_NAME = "OctraVPN"
DOMAIN_VERSION = "1"
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_S = _SECP256K1_N // 2
_UINT64_MAX = 2**64 - 1
_UINT256_MAX = 2**256 - 1


def _uint(value: int, bits: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalProtocolError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value < 2**bits:
        raise LocalProtocolError(f"{name} must fit in uint{bits}, got {value}")
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _checksum(value: str, name: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise LocalProtocolError(f"{name} must be a 20-byte hex address, got {value!r}")
    return checksum_address(value)


@dataclass(frozen=True, kw_only=True)
class Domain:
    """The EIP-712 domain: this deployment of the contract on one chain."""

    chain_id: int
    verifying_contract: str
    name: ClassVar[str] = DOMAIN_NAME
    version: ClassVar[str] = DOMAIN_VERSION

    def __post_init__(self) -> None:
        _uint(self.chain_id, 256, "chain_id")
        if self.chain_id == 0:
            raise LocalProtocolError("chain_id must be non-zero")
        object.__setattr__(self, "verifying_contract", _checksum(self.verifying_contract, "verifying_contract"))

    def separator(self) -> bytes:
        return _separator(self.chain_id, self.verifying_contract)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@lru_cache(maxsize=64)
def _separator(chain_id: int, verifying_contract: str) -> bytes:
    """A domain's separator (five keccaks: computed once per domain, not once per message)."""
    return keccak(
        keccak(_DOMAIN_TYPE.encode())
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + _uint(chain_id, 256, "chain_id")
        + _address_word(verifying_contract)
    )


@lru_cache(maxsize=64)
def _type_hash(encoded_type: str) -> bytes:
    return keccak(encoded_type.encode())


class TypedMessage:
    """Base of the signed structs: subclasses define `TYPE_NAME` and `FIELDS`."""

    TYPE_NAME: ClassVar[str]
    # (solidity name, solidity type, python attribute)
    FIELDS: ClassVar[tuple[tuple[str, str, str], ...]]

    @classmethod
    def encode_type(cls) -> str:
        return f"{cls.TYPE_NAME}(" + ",".join(f"{typ} {name}" for name, typ, _ in cls.FIELDS) + ")"

    @classmethod
    def type_hash(cls) -> bytes:
        return _type_hash(cls.encode_type())

    def _word(self, typ: str, attr: str) -> bytes:
        value = getattr(self, attr)
        if typ.startswith("uint"):
            return _uint(value, int(typ[4:]), attr)
        if typ == "address":
            return _address_word(value)
        if typ == "bytes32":
            return value
        if typ == "bool":
            return int(bool(value)).to_bytes(32, "big")
        if typ == "string":  # dynamic: the hash of its UTF-8 bytes
            return keccak(value.encode())
        if typ == "string[]":  # an array: the hash of its elements' words, in order
            return keccak(b"".join(keccak(item.encode()) for item in value))
        raise AssertionError(f"unsupported field type {typ}")

    def struct_hash(self) -> bytes:
        return keccak(self.type_hash() + b"".join(self._word(typ, attr) for _, typ, attr in self.FIELDS))

    def message_dict(self) -> dict:
        return {
            name: list(value) if isinstance(value := getattr(self, attr), tuple) else value
            for name, _, attr in self.FIELDS
        }


@dataclass(frozen=True, kw_only=True)
class Receipt(TypedMessage):
    """Cumulative usage of a session, acknowledged by its signer.

    Signed by the session opener (lets the exit settle alone) or by the exit's
    receipt key (two different `bytes_used` for one `seq` prove equivocation).
    """

    session_id: int
    seq: int
    bytes_used: int
    TYPE_NAME: ClassVar[str] = "Receipt"
    FIELDS: ClassVar = (
        ("sessionId", "uint256", "session_id"),
        ("seq", "uint64", "seq"),
        ("bytesUsed", "uint256", "bytes_used"),
    )

    def __post_init__(self) -> None:
        _uint(self.session_id, 256, "session_id")
        _uint(self.seq, 64, "seq")
        _uint(self.bytes_used, 256, "bytes_used")


@dataclass(frozen=True, kw_only=True)
class Join(TypedMessage):
    """Redeems a pre-auth invite for exactly one wallet, `member`."""

    tailnet_id: int
    member: str
    TYPE_NAME: ClassVar[str] = "Join"
    FIELDS: ClassVar = (("tailnetId", "uint256", "tailnet_id"), ("member", "address", "member"))

    def __post_init__(self) -> None:
        _uint(self.tailnet_id, 256, "tailnet_id")
        object.__setattr__(self, "member", _checksum(self.member, "member"))


@dataclass(frozen=True, kw_only=True)
class Device(TypedMessage):
    """Signed by a device key: consent to act for `wallet` (`register_device`)."""

    wallet: str
    TYPE_NAME: ClassVar[str] = "Device"
    FIELDS: ClassVar = (("wallet", "address", "wallet"),)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wallet", _checksum(self.wallet, "wallet"))


@dataclass(frozen=True, kw_only=True)
class ReceiptSigner(TypedMessage):
    """Signed by an exit's receipt key: consent to sign for `operator` (`register_endpoint`)."""

    operator: str
    TYPE_NAME: ClassVar[str] = "ReceiptSigner"
    FIELDS: ClassVar = (("operator", "address", "operator"),)

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", _checksum(self.operator, "operator"))


# Off chain (the exit verifies it), so it can grow: its table adds fields with their capability version.
PEER_REQUEST = Message(
    "peer request",
    (
        Field("session_id", UINT256, signed_as="sessionId"),
        Field("wg_pubkey", WG_KEY, signed_as="wgPubkey"),
        Field("timestamp", UINT64, signed_as="timestamp"),
        Field("receipts", BOOL, default=True, signed_as="receipts"),  # false: a WireGuard app that signs none
    ),
    extensible=True,
)


@dataclass(frozen=True, kw_only=True)
class PeerRequest(TypedMessage):
    """Asks the session's exit to add `wg_pubkey` as a WireGuard peer (the all-zero key: to end the session)."""

    session_id: int
    wg_pubkey: bytes
    timestamp: int
    receipts: bool = True
    version: int = CAPABILITY_VERSION  # its writer's
    added: dict | None = field(default=None, hash=False)  # members beyond version 1, as they travel
    TYPE_NAME: ClassVar[str] = "PeerRequest"
    FIELDS: ClassVar = PEER_REQUEST.eip712_fields()

    def __post_init__(self) -> None:
        values = PEER_REQUEST.values_of(self)
        PEER_REQUEST.check(values)
        _uint(self.version, 16, "version")
        if self.added is None:
            object.__setattr__(self, "added", PEER_REQUEST.added(values, self.version))

    @property
    def extensions(self) -> bytes:
        return extensions_hash(self.added or {})  # set in __post_init__


def digest(domain: Domain, message: TypedMessage) -> bytes:
    """The 32-byte hash that is signed: keccak(0x1901 || domain || struct)."""
    return keccak(b"\x19\x01" + domain.separator() + message.struct_hash())


def sign(domain: Domain, message: TypedMessage, private_key: bytes) -> bytes:
    """Sign `message`; returns `r || s || v` (65 bytes, low-s, v in {27, 28})."""
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise LocalProtocolError("private key must be 32 bytes")
    try:
        signature = keys.PrivateKey(private_key).sign_msg_hash(digest(domain, message))
    except ValidationError as exc:
        raise LocalProtocolError(f"invalid private key: {exc}") from exc
    r, s, v = signature.r, signature.s, signature.v
    if s > _MAX_S:  # eth-keys already signs low-s; keep the invariant local.
        s, v = _SECP256K1_N - s, v ^ 1
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])


def recover(domain: Domain, message: TypedMessage, signature: bytes) -> str:
    """The checksummed address that signed `message`, under the contract's rules."""
    if not isinstance(signature, bytes) or len(signature) != 65:
        raise RemoteProtocolError("signature must be 65 bytes (r, s, v)")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise RemoteProtocolError("signature v must be 27 or 28")
    if s > _MAX_S:
        raise RemoteProtocolError("signature s is not canonical (high-s)")
    try:
        public_key = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest(domain, message))
    except (BadSignature, ValidationError) as exc:
        raise RemoteProtocolError(f"signature does not recover a signer: {exc}") from exc
    return public_key.to_checksum_address()


def typed_data(domain: Domain, message: TypedMessage) -> dict:
    """The full EIP-712 JSON document (for wallets and `eth_signTypedData_v4`)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            message.TYPE_NAME: [{"name": name, "type": typ} for name, typ, _ in message.FIELDS],
        },
        "primaryType": message.TYPE_NAME,
        "domain": domain.as_dict(),
        "message": message.message_dict(),
    }
