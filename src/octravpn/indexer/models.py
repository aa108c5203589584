"""The discovery API's response shapes (they are its OpenAPI schema).

uint256 amounts are decimal strings: JSON numbers above 2**53 lose digits in
JavaScript. Byte counts and times (unix seconds) are numbers.
"""

from __future__ import annotations

import base64
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, create_model

from octravpn.protocol.announce import SIGNED_ANNOUNCEMENT
from octravpn.protocol.wire import REQUIRED, Message

Amount = str
AMOUNT = Field(pattern=r"^[0-9]+$", description="base units of the payment asset, decimal")


def amount(value: int) -> str:
    return str(value)


def optional_amount(value: int | None) -> str | None:
    return None if value is None else str(value)


class Exit(BaseModel):
    address: str
    endpoint: str
    region: str
    price_per_mb: Amount = AMOUNT
    wg_pubkey: str = Field(description="the exit's WireGuard public key, base64 as `wg` prints it")
    receipt_signer: str
    registered_at: int
    reputation: int = Field(description="value (asset base units) the exit settled for tailnets it does not own")
    stake: Amount = AMOUNT
    active: bool = Field(description="listed, not slashed and staked at least the minimum: can serve new sessions")
    listed: bool
    slashed: bool
    sessions_settled: int
    bytes_served: int

    @staticmethod
    def json_of(row: dict) -> dict:
        """The JSON of an exit row, built directly: `/v1/exits` is the hot path, and validating fifty
        models per page cost more than the query (the schema tests check the shape)."""
        return {
            "address": row["address"],
            "endpoint": row["endpoint"],
            "region": row["region"],
            "price_per_mb": str(row["price_per_mb"]),
            "wg_pubkey": base64.b64encode(bytes.fromhex(row["wg_pubkey"][2:])).decode(),
            "receipt_signer": row["receipt_signer"],
            "registered_at": row["registered_at"],
            "reputation": row["reputation"],
            "stake": str(row["stake"]),
            "active": row["active"],
            "listed": row["listed"],
            "slashed": row["slashed"],
            "sessions_settled": row["sessions_settled"],
            "bytes_served": row["bytes_served"],
        }

    @classmethod
    def of(cls, row: dict) -> Self:
        return cls(**cls.json_of(row))


class ExitPage(BaseModel):
    items: list[Exit]
    total: int
    limit: int
    offset: int


class Operator(BaseModel):
    address: str
    stake: Amount = AMOUNT
    unbonding: Amount = AMOUNT
    unlock_at: int
    slashed: bool
    earnings: Amount = Field(pattern=r"^[0-9]+$", description="settled and not yet claimed")
    earned_total: Amount = AMOUNT
    claimed_total: Amount = AMOUNT
    forfeited_total: Amount = Field(pattern=r"^[0-9]+$", description="unclaimed earnings lost to slashing")
    sessions_settled: int
    bytes_served: int
    exit: Exit | None

    @classmethod
    def of(cls, row: dict) -> Self:
        return cls(
            address=row["address"],
            stake=amount(row["stake"]),
            unbonding=amount(row["unbonding"]),
            unlock_at=row["unlock_at"],
            slashed=row["slashed"],
            earnings=amount(row["earnings"]),
            earned_total=amount(row["earned_total"]),
            claimed_total=amount(row["claimed_total"]),
            forfeited_total=amount(row["forfeited_total"]),
            sessions_settled=row["sessions_settled"],
            bytes_served=row["bytes_served"],
            exit=Exit.of(row) if row["registered_at"] else None,
        )


class TailnetSummary(BaseModel):
    id: int
    owner: str
    treasury: Amount = Field(
        pattern=r"^[0-9]+$", description="unlocked funds (open sessions' deposits are not included)"
    )
    member_count: int
    exit_count: int
    acl_hash: str
    created_at: int
    sessions_opened: int
    spent: Amount = AMOUNT

    @classmethod
    def of(cls, row: dict, **extra) -> Self:
        return cls(
            id=row["id"],
            owner=row["owner"],
            treasury=amount(row["treasury"]),
            member_count=row["member_count"],
            exit_count=row["exit_count"],
            acl_hash=row["acl_policy"],
            created_at=row["created_at"],
            sessions_opened=row["sessions_opened"],
            spent=amount(row["spent"]),
            **extra,
        )


class TailnetPage(BaseModel):
    items: list[TailnetSummary]
    total: int
    limit: int
    offset: int


class Member(BaseModel):
    address: str
    added_at: int


class TailnetExit(BaseModel):
    address: str
    configured_at: int


class Tailnet(TailnetSummary):
    members: list[Member]
    exits: list[TailnetExit]
    acl_document: bool = Field(description="whether GET /v1/tailnets/{id}/acl has the document for acl_hash")


class SessionEvent(BaseModel):
    name: str
    block_number: int
    log_index: int
    tx_hash: str
    args: dict


class Session(BaseModel):
    id: int
    tailnet_id: int
    exit: str
    opener: str
    deposit: Amount = AMOUNT
    price_per_mb: Amount = AMOUNT
    opened_at: int
    status: str = Field(pattern="^(open|settled|refunded)$")
    closed_at: int | None
    close_reason: str | None = Field(description="receipt, confirmed, no-show, operator-equivocation or swept")
    bytes_used: int | None
    total_paid: Amount | None = Field(
        pattern=r"^[0-9]+$", description="what it paid: at its settlement, or while open what checkpoints paid"
    )
    bytes_paid: int | None = Field(description="the receipt bytes checkpoints (or the settlement) paid for")
    checkpoints: int = Field(description="how many times the exit was paid while the session stayed open")
    protocol_fee: Amount | None = Field(pattern=r"^[0-9]+$")
    refund: Amount | None = Field(pattern=r"^[0-9]+$")
    claim_bytes: int | None
    confirm_bytes: int | None
    disputed: bool

    @classmethod
    def of(cls, row: dict, **extra) -> Self:
        return cls(
            id=row["id"],
            tailnet_id=row["tailnet_id"],
            exit=row["exit"],
            opener=row["opener"],
            deposit=amount(row["deposit"]),
            price_per_mb=amount(row["price_per_mb"]),
            opened_at=row["opened_at"],
            status=row["status"],
            closed_at=row["closed_at"],
            close_reason=row["close_reason"],
            bytes_used=row["bytes_used"],
            total_paid=optional_amount(row["total_paid"]),
            bytes_paid=row["bytes_paid"],
            checkpoints=row["checkpoints"],
            protocol_fee=optional_amount(row["protocol_fee"]),
            refund=optional_amount(row["refund"]),
            claim_bytes=row["claim_bytes"],
            confirm_bytes=row["confirm_bytes"],
            disputed=row["disputed"],
            **extra,
        )


class SessionDetail(Session):
    events: list[SessionEvent]


class SessionPage(BaseModel):
    items: list[Session]
    total: int
    limit: int
    offset: int


class SessionCounts(BaseModel):
    open: int
    settled: int
    refunded: int


class Stats(BaseModel):
    operators: int
    exits_registered: int
    exits_active: int
    regions: list[str]
    tailnets: int
    sessions: SessionCounts
    staked: Amount = AMOUNT
    unbonding: Amount = AMOUNT
    bytes_settled: int
    volume_paid: Amount = AMOUNT
    program_treasury: Amount = AMOUNT
    paused: bool
    owner: str | None
    indexed_block: int


class Health(BaseModel):
    status: str = Field(description="ok, lagging, chain unreachable or not started")
    indexed_block: int | None
    chain_head: int | None
    lag_blocks: int | None
    confirmations: int
    max_lag: int
    reason: str | None = None


def _model_of(message: Message, name: str, doc: str) -> type[BaseModel]:
    """A response model from a wire message's table; a newer writer's members are kept (they are signed)."""
    fields: dict[str, Any] = {
        f.name: (f.kind.annotation, Field(... if f.default is REQUIRED else f.default, json_schema_extra=f.kind.schema))
        for f in message.fields
    }
    return create_model(name, __config__=ConfigDict(extra="allow"), __doc__=doc, v=(int, 1), **fields)


Announcement = _model_of(
    SIGNED_ANNOUNCEMENT,
    "Announcement",
    "A device's signed announcement, as it was uploaded (check it yourself: an indexer is only a mailbox).",
)


class StoredAnnouncement(Announcement):  # type: ignore[valid-type, misc]  # a model made from the wire table
    stored_at: int = Field(description="when this indexer stored it (its own note: not signed)")


class Announcements(BaseModel):
    tailnet: int
    items: list[StoredAnnouncement]
    next: str | None = Field(description="ask again with ?after= this for the next page; null: this was the last")


class AnnouncementStored(BaseModel):
    tailnet: int
    device: str
    member: str = Field(description="the member the device acts for, as indexed")
    seq: int
