"""What the contract's views return, decoded from its ABI by field name: the one reader the chain client, the
indexer and the command line share. No I/O: `Views.call_data` makes an `eth_call`'s data, `Views.decode` reads
its answer.

A record type's fields are the names of the struct the view returns (a test holds every one against the ABI),
so a field added to the contract is a field added here, or the reader refuses to start rather than read values
into the wrong names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import function_signature_to_4byte_selector

from octravpn.chain.abi import abi_type, plain
from octravpn.protocol.sessions import STATUS_NAMES, pay


@dataclass(frozen=True)
class Endpoint:
    """An exit as the contract keeps it (`get_endpoint`); what it tells clients, its `Listing`, is in its events."""

    active: bool
    price_per_mb: int
    registered_at: int
    listed_in_block: int  # the block whose last listing event of the operator carries its listing
    listing_hash: bytes
    reputation: int


@dataclass(frozen=True)
class Listing:
    """What an exit tells clients about itself: the contract keeps only its hash, every event that changes it
    carries all of it, and a change passes it back (`update_endpoint`, `rotate_keys`)."""

    endpoint: str
    region: str
    wg_pubkey: bytes
    receipt_signer: str

    # The listing's fields as the contract hashes them, in its order (a test holds them against the ABI).
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("endpoint", "region", "wg_pubkey", "receipt_signer")
    ABI_TYPES: ClassVar[tuple[str, ...]] = ("string", "string", "bytes32", "address")
    # The events that set it, each carrying it whole.
    EVENTS: ClassVar[tuple[str, ...]] = ("EndpointRegistered", "EndpointUpdated", "KeysRotated")

    def as_argument(self) -> tuple:
        """The listing as the contract's functions take it (a `Listing` struct)."""
        return tuple(getattr(self, name) for name in self.ABI_FIELDS)

    def digest(self) -> bytes:
        """`keccak256(abi_encode(Listing))`: what the contract keeps."""
        return keccak(abi_encode(["(" + ",".join(self.ABI_TYPES) + ")"], [self.as_argument()]))

    @classmethod
    def from_event(cls, args: dict) -> Listing:
        return cls(**{name: args[name] for name in cls.ABI_FIELDS})


UNLISTED = Listing(endpoint="", region="", wg_pubkey=bytes(32), receipt_signer="0x" + "00" * 20)


@dataclass(frozen=True)
class Exit:
    """An exit as clients use it: what the contract keeps and the listing its events carry."""

    active: bool
    endpoint: str
    wg_pubkey: bytes
    receipt_signer: str
    region: str
    price_per_mb: int
    registered_at: int  # 0: never registered
    reputation: int

    @classmethod
    def of(cls, kept: Endpoint, listing: Listing) -> Exit:
        return cls(
            active=kept.active,
            endpoint=listing.endpoint,
            wg_pubkey=listing.wg_pubkey,
            receipt_signer=listing.receipt_signer,
            region=listing.region,
            price_per_mb=kept.price_per_mb,
            registered_at=kept.registered_at,
            reputation=kept.reputation,
        )

    @property
    def listing(self) -> Listing:
        return Listing(
            endpoint=self.endpoint, region=self.region, wg_pubkey=self.wg_pubkey, receipt_signer=self.receipt_signer
        )


@dataclass(frozen=True)
class Tailnet:
    owner: str
    treasury: int
    member_count: int
    acl_policy: bytes
    created_at: int
    exit_count: int
    reserve: int


@dataclass(frozen=True)
class Session:
    """A session's record: the contract keeps only its hash (`get_session_hash`), the events carry it
    (`chain.sessionlog` reads it back), and every call that acts on a session passes it again."""

    tailnet_id: int
    exit: str
    opener: str
    deposit: int
    price_per_mb: int
    protocol_fee_bps: int
    sweep_bounty_bps: int
    settle_by: int  # on the contract's clock (`OctraVPN.clock()`), which stops while paused
    sweep_after: int
    bytes_paid: int  # the receipt bytes checkpoints (or the settlement) paid for
    status: int
    opened_at: int  # from `SessionOpened`; not part of the hashed record

    # The record's fields as the contract hashes them, in its order (a test holds them against the ABI).
    ABI_FIELDS: ClassVar[tuple[str, ...]] = (
        "tailnet_id",
        "exit",
        "opener",
        "deposit",
        "price_per_mb",
        "protocol_fee_bps",
        "sweep_bounty_bps",
        "settle_by",
        "sweep_after",
        "bytes_paid",
        "status",
    )
    ABI_TYPES: ClassVar[tuple[str, ...]] = (
        "uint256",
        "address",
        "address",
        "uint256",
        "uint256",
        "uint256",
        "uint256",
        "uint256",
        "uint256",
        "uint256",
        "uint8",
    )

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]

    def as_argument(self) -> tuple:
        """The record as the contract's functions take it (a `Session` struct)."""
        return tuple(getattr(self, name) for name in self.ABI_FIELDS)

    def digest(self) -> bytes:
        """`keccak256(abi_encode(Session))`: what the contract keeps."""
        return keccak(abi_encode(list(self.ABI_TYPES), list(self.as_argument())))

    def value_of(self, bytes_used: int) -> int:
        """What `bytes_used` cost at the session's price (the contract's rounding: down)."""
        return pay(bytes_used, self.price_per_mb)

    @property
    def paid(self) -> int:
        """What checkpoints (or the settlement) paid, before the protocol fee."""
        return self.value_of(self.bytes_paid)

    @property
    def deposit_left(self) -> int:
        """What the session can still pay."""
        return self.deposit - self.paid


@dataclass(frozen=True)
class Settlement:
    """One item of `settle_batch`: a receipt that checkpoints its session, or with `final` settles it."""

    session_id: int
    seq: int
    bytes_used: int
    signature: bytes
    final: bool

    def as_argument(self, session: Session) -> tuple:
        return (self.session_id, session.as_argument(), self.seq, self.bytes_used, self.signature, self.final)


@dataclass(frozen=True)
class ClaimRecord:
    is_set: bool
    bytes_used: int
    claimed_at: int


@dataclass(frozen=True)
class Device:
    wallet: str
    revoked_at: int  # 0 while live


@dataclass(frozen=True)
class SlashRecord:
    block: int
    held_bounty: int
    release_at: int
    claimant: str  # the earliest committed report revealed so far (the empty address: none)
    claimant_order: int


@dataclass(frozen=True)
class JoinToken:
    expires_at: int
    uses_left: int
    committed: bool


@dataclass(frozen=True)
class Params:
    min_session_deposit: int
    min_tailnet_deposit: int
    session_grace: int
    sweep_grace_multiplier: int
    sweep_bounty_bps: int
    min_endpoint_stake: int
    unbond_grace: int
    slash_burn_bps: int
    slash_bounty_bps: int
    protocol_fee_bps: int


# The record each view returns (the rest return plain values).
RECORDS: dict[str, type] = {
    "get_endpoint": Endpoint,
    "get_tailnet": Tailnet,
    "get_operator_claim": ClaimRecord,
    "get_client_confirm": ClaimRecord,
    "get_device": Device,
    "get_slash_record": SlashRecord,
    "get_join_token": JoinToken,
    "get_params": Params,
    "get_pending_params": Params,
}


def field_names(record: type) -> list[str]:
    return [f.name for f in fields(record)]


class Views:
    """The contract's view functions, from its ABI."""

    def __init__(self, abi: list[dict]) -> None:
        self.functions = {item["name"]: item for item in abi if item["type"] == "function"}

    def call_data(self, name: str, *args) -> bytes:
        function = self.functions[name]
        types = [abi_type(i) for i in function["inputs"]]
        signature = f"{name}({','.join(types)})"
        return function_signature_to_4byte_selector(signature) + abi_encode(types, list(args))

    def decode(self, name: str, data: bytes) -> Any:
        """The view's answer: its record (a struct, by field name), a plain value, or a tuple of those."""
        outputs = self.functions[name]["outputs"]
        values = abi_decode([abi_type(o) for o in outputs], data)
        decoded = [self._value(name, output, value) for output, value in zip(outputs, values, strict=True)]
        return decoded[0] if len(decoded) == 1 else tuple(decoded)

    @staticmethod
    def _value(name: str, output: dict, value):
        value = plain(value, output)
        if output["type"] == "tuple":
            return RECORDS[name](**value)  # a name the record lacks, or lacks the ABI's: a TypeError at once
        return value
