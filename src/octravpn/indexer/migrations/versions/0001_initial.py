"""The first schema: checkpoint, reorg journal, raw events, and the state rebuilt from them.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from octravpn.indexer.schema import Uint256

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ADDRESS = sa.String(42)
HASH = sa.String(66)


def upgrade() -> None:
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chain_id", sa.BigInteger, nullable=False),
        sa.Column("contract", ADDRESS, nullable=False),
        sa.Column("start_block", sa.BigInteger, nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("block_hash", HASH, nullable=False),
        sa.Column("final_block", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "blocks",
        sa.Column("number", sa.BigInteger, primary_key=True),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_key", sa.Text, nullable=False),
        sa.Column("before", sa.Text),
    )
    op.create_index("ix_journal_block_number", "journal", ["block_number"])
    op.create_table(
        "events",
        sa.Column("block_number", sa.BigInteger, primary_key=True),
        sa.Column("log_index", sa.Integer, primary_key=True),
        sa.Column("block_hash", HASH, nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("session_id", sa.BigInteger),
        sa.Column("tailnet_id", sa.BigInteger),
        sa.Column("args", sa.Text, nullable=False),
    )
    op.create_index("ix_events_session_id", "events", ["session_id"])
    op.create_index("ix_events_tailnet_id", "events", ["tailnet_id"])
    op.create_table(
        "protocol",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", ADDRESS),
        sa.Column("paused", sa.Boolean, nullable=False),
        *(
            sa.Column(name, Uint256, nullable=False)
            for name in (
                "program_treasury",
                "min_session_deposit",
                "min_tailnet_deposit",
                "session_grace",
                "sweep_grace_multiplier",
                "sweep_bounty_bps",
                "min_endpoint_stake",
                "unbond_grace",
                "slash_burn_bps",
                "slash_bounty_bps",
                "protocol_fee_bps",
                "volume_paid",
                "bytes_settled",
            )
        ),
    )
    op.create_table(
        "operators",
        sa.Column("address", ADDRESS, primary_key=True),
        sa.Column("stake", Uint256, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("unbonding", Uint256, nullable=False),
        sa.Column("unlock_at", sa.BigInteger, nullable=False),
        sa.Column("slashed", sa.Boolean, nullable=False),
        sa.Column("earnings", Uint256, nullable=False),
        sa.Column("earned_total", Uint256, nullable=False),
        sa.Column("claimed_total", Uint256, nullable=False),
        sa.Column("forfeited_total", Uint256, nullable=False),
        sa.Column("sessions_settled", sa.BigInteger, nullable=False),
        sa.Column("bytes_served", Uint256, nullable=False),
        sa.Column("registered_at", sa.BigInteger, nullable=False),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("price_per_mb", Uint256, nullable=False),
        sa.Column("wg_pubkey", HASH, nullable=False),
        sa.Column("receipt_signer", ADDRESS, nullable=False),
        sa.Column("reputation", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_operators_region", "operators", ["region"])
    for column in ("price_per_mb", "stake", "reputation", "registered_at"):
        op.create_index(f"ix_operators_active_{column}", "operators", ["active", column, "address"])
        op.create_index(
            f"ix_operators_{column}", "operators", list(dict.fromkeys([column, "address", "registered_at"]))
        )
    op.create_index("ix_operators_active_region_price", "operators", ["active", "region", "price_per_mb", "address"])
    op.create_table(
        "tailnets",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("owner", ADDRESS, nullable=False),
        sa.Column("treasury", Uint256, nullable=False),
        sa.Column("member_count", sa.BigInteger, nullable=False),
        sa.Column("exit_count", sa.BigInteger, nullable=False),
        sa.Column("acl_policy", HASH, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sessions_opened", sa.BigInteger, nullable=False),
        sa.Column("spent", Uint256, nullable=False),
    )
    op.create_index("ix_tailnets_owner", "tailnets", ["owner"])
    op.create_table(
        "tailnet_members",
        sa.Column("tailnet_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("member", ADDRESS, primary_key=True),
        sa.Column("added_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tailnet_members_member", "tailnet_members", ["member"])
    op.create_table(
        "tailnet_exits",
        sa.Column("tailnet_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("exit", ADDRESS, primary_key=True),
        sa.Column("configured_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tailnet_exits_exit", "tailnet_exits", ["exit"])
    op.create_table(
        "devices",
        sa.Column("device", ADDRESS, primary_key=True),
        sa.Column("wallet", ADDRESS, nullable=False),
        sa.Column("registered_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_devices_wallet", "devices", ["wallet"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tailnet_id", sa.BigInteger, nullable=False),
        sa.Column("exit", ADDRESS, nullable=False),
        sa.Column("opener", ADDRESS, nullable=False),
        sa.Column("deposit", Uint256, nullable=False),
        sa.Column("price_per_mb", Uint256, nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("closed_at", sa.BigInteger),
        sa.Column("close_reason", sa.String(32)),
        sa.Column("bytes_used", Uint256),
        sa.Column("total_paid", Uint256),
        sa.Column("protocol_fee", Uint256),
        sa.Column("refund", Uint256),
        sa.Column("receipt_seq", sa.BigInteger),
        sa.Column("sweep_bounty", Uint256),
        sa.Column("claim_bytes", Uint256),
        sa.Column("claimed_at", sa.BigInteger),
        sa.Column("confirm_bytes", Uint256),
        sa.Column("confirmed_at", sa.BigInteger),
        sa.Column("disputed", sa.Boolean, nullable=False),
    )
    for column in ("tailnet_id", "exit", "opener", "status"):
        op.create_index(f"ix_sessions_{column}", "sessions", [column])
    op.create_table(
        "acl_documents",
        sa.Column("hash", HASH, primary_key=True),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("stored_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "acl_documents",
        "sessions",
        "devices",
        "tailnet_exits",
        "tailnet_members",
        "tailnets",
        "operators",
        "protocol",
        "events",
        "journal",
        "blocks",
        "checkpoint",
    ):
        op.drop_table(table)
