"""The indexer's tables (SQLAlchemy Core). Alembic migrations create them; this is the model the code reads.

Amounts are uint256: PostgreSQL keeps them as NUMERIC(78, 0); SQLite has no
exact type that wide, so they are stored as zero-padded 78-digit text, which
compares and sorts like the numbers (filters on price and stake stay indexed).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)

UINT256_DIGITS = 78


class Uint256(TypeDecorator):
    """An unsigned 256-bit integer, exact on every dialect."""

    impl = String(UINT256_DIGITS)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(UINT256_DIGITS, 0))
        return dialect.type_descriptor(String(UINT256_DIGITS))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = int(value)
        if not 0 <= value < 2**256:
            raise ValueError(f"{value} is not a uint256")
        return value if dialect.name == "postgresql" else f"{value:0{UINT256_DIGITS}d}"

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


metadata = MetaData()

ADDRESS = String(42)
HASH = String(66)

checkpoint = Table(
    "checkpoint",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", ADDRESS, nullable=False),
    Column("start_block", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),  # last block applied
    Column("block_hash", HASH, nullable=False),
    Column("final_block", BigInteger, nullable=False),  # at or below it nothing can be undone
)

blocks = Table(
    "blocks",
    metadata,
    Column("number", BigInteger, primary_key=True),
    Column("hash", HASH, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block_number", BigInteger, nullable=False, index=True),
    Column("table_name", String(32), nullable=False),
    Column("row_key", Text, nullable=False),
    Column("before", Text),  # JSON row before the block; NULL: it did not exist
)

events = Table(
    "events",
    metadata,
    Column("block_number", BigInteger, primary_key=True),
    Column("log_index", Integer, primary_key=True),
    Column("block_hash", HASH, nullable=False),
    Column("tx_hash", HASH, nullable=False),
    Column("name", String(40), nullable=False),
    Column("session_id", BigInteger, index=True),
    Column("tailnet_id", BigInteger, index=True),
    Column("args", Text, nullable=False),
)

protocol = Table(
    "protocol",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", ADDRESS),
    Column("paused", Boolean, nullable=False),
    Column("program_treasury", Uint256, nullable=False),
    Column("min_session_deposit", Uint256, nullable=False),
    Column("min_tailnet_deposit", Uint256, nullable=False),
    Column("session_grace", Uint256, nullable=False),
    Column("sweep_grace_multiplier", Uint256, nullable=False),
    Column("sweep_bounty_bps", Uint256, nullable=False),
    Column("min_endpoint_stake", Uint256, nullable=False),
    Column("unbond_grace", Uint256, nullable=False),
    Column("slash_burn_bps", Uint256, nullable=False),
    Column("slash_bounty_bps", Uint256, nullable=False),
    Column("protocol_fee_bps", Uint256, nullable=False),
    Column("volume_paid", Uint256, nullable=False),
    Column("bytes_settled", Uint256, nullable=False),
)

operators = Table(
    "operators",
    metadata,
    Column("address", ADDRESS, primary_key=True),
    Column("stake", Uint256, nullable=False, default=0),
    # The contract's is_endpoint_active: listed, never slashed, stake at least the minimum (kept on every change,
    # and for every operator when the minimum changes), so the discovery queries use an index.
    Column("active", Boolean, nullable=False, default=False),
    Column("unbonding", Uint256, nullable=False, default=0),
    Column("unlock_at", BigInteger, nullable=False, default=0),
    Column("slashed", Boolean, nullable=False, default=False),
    Column("earnings", Uint256, nullable=False, default=0),
    Column("earned_total", Uint256, nullable=False, default=0),
    Column("claimed_total", Uint256, nullable=False, default=0),
    Column("forfeited_total", Uint256, nullable=False, default=0),
    Column("sessions_settled", BigInteger, nullable=False, default=0),
    Column("bytes_served", Uint256, nullable=False, default=0),
    # The exit endpoint (registered_at == 0: never registered).
    Column("registered_at", BigInteger, nullable=False, default=0),
    Column("listed", Boolean, nullable=False, default=False),  # the contract's Endpoint.active
    Column("endpoint", String(128), nullable=False, default=""),
    Column("region", String(32), nullable=False, index=True, default=""),
    Column("price_per_mb", Uint256, nullable=False, default=0),
    Column("wg_pubkey", HASH, nullable=False, default="0x" + "00" * 32),
    Column("receipt_signer", ADDRESS, nullable=False, default="0x" + "00" * 20),
    Column("reputation", Uint256, nullable=False, default=0),  # value settled for tailnets the exit does not own
)

tailnets = Table(
    "tailnets",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner", ADDRESS, nullable=False, index=True),
    Column("treasury", Uint256, nullable=False),
    Column("member_count", BigInteger, nullable=False),
    Column("exit_count", BigInteger, nullable=False),
    Column("acl_policy", HASH, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("sessions_opened", BigInteger, nullable=False),
    Column("spent", Uint256, nullable=False),
)

tailnet_members = Table(
    "tailnet_members",
    metadata,
    Column("tailnet_id", BigInteger, primary_key=True, autoincrement=False),
    Column("member", ADDRESS, primary_key=True, index=True),
    Column("added_at", BigInteger, nullable=False),
)

tailnet_exits = Table(
    "tailnet_exits",
    metadata,
    Column("tailnet_id", BigInteger, primary_key=True, autoincrement=False),
    Column("exit", ADDRESS, primary_key=True, index=True),
    Column("configured_at", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("device", ADDRESS, primary_key=True),
    Column("wallet", ADDRESS, nullable=False, index=True),
    Column("registered_at", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tailnet_id", BigInteger, nullable=False, index=True),
    Column("exit", ADDRESS, nullable=False, index=True),
    Column("opener", ADDRESS, nullable=False, index=True),
    Column("deposit", Uint256, nullable=False),
    Column("price_per_mb", Uint256, nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("closed_at", BigInteger),
    Column("close_reason", String(32)),
    Column("bytes_used", Uint256),
    Column("total_paid", Uint256),  # while open: what checkpoints paid so far (None before the first)
    Column("bytes_paid", Uint256),  # the receipt bytes checkpoints (or the settlement) paid for
    Column("checkpoints", BigInteger, nullable=False, server_default="0"),
    Column("protocol_fee", Uint256),
    Column("refund", Uint256),
    Column("receipt_seq", BigInteger),
    Column("sweep_bounty", Uint256),
    Column("claim_bytes", Uint256),
    Column("claimed_at", BigInteger),
    Column("confirm_bytes", Uint256),
    Column("confirmed_at", BigInteger),
    Column("disputed", Boolean, nullable=False),
)

# Policy documents, from the events that carry them (the reducer keeps them, so a reorganisation undoes them).
acl_documents = Table(
    "acl_documents",
    metadata,
    Column("hash", HASH, primary_key=True),  # keccak-256 of the document, as on chain
    Column("document", LargeBinary, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("stored_at", BigInteger, nullable=False),
)

# The mesh's mailbox: each device's latest announcement (JSON, as signed); the signature is checked on the way in
# and again by every device that reads it.
announcements = Table(
    "announcements",
    metadata,
    Column("tailnet_id", BigInteger, primary_key=True, autoincrement=False),
    Column("device", ADDRESS, primary_key=True),
    Column("seq", Uint256, nullable=False),
    Column("announcement", Text, nullable=False),
    Column("stored_at", BigInteger, nullable=False),
    Column("hostname", String(63), nullable=False, server_default=""),
    Column("expires", BigInteger, nullable=False, server_default="0"),
)
Index("ix_announcements_tailnet_hostname", announcements.c.tailnet_id, announcements.c.hostname)

# /v1/exits: exits by each sort key (address breaks ties), active ones first of all, and by region and price.
for _column in ("price_per_mb", "stake", "reputation", "registered_at"):
    Index(f"ix_operators_active_{_column}", operators.c.active, operators.c[_column], operators.c.address)
    # registered_at in the index: "registered exits" (active=false) is answered from the index alone.
    Index(
        f"ix_operators_{_column}",
        *{operators.c[_column]: None, operators.c.address: None, operators.c.registered_at: None},
    )
Index(
    "ix_operators_active_region_price",
    operators.c.active,
    operators.c.region,
    operators.c.price_per_mb,
    operators.c.address,
)

# The tables the reducer keeps, with their primary-key columns (state rebuilt from events, undone on reorgs).
STATE_TABLES = {
    "protocol": ("id",),
    "operators": ("address",),
    "tailnets": ("id",),
    "tailnet_members": ("tailnet_id", "member"),
    "tailnet_exits": ("tailnet_id", "exit"),
    "devices": ("device",),
    "sessions": ("id",),
    "acl_documents": ("hash",),
}
