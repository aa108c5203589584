"""Reputation becomes the value an exit settled for tailnets it does not own: a uint256 amount.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from octravpn.indexer.schema import Uint256

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.alter_column(
            "reputation",
            type_=Uint256,
            existing_type=sa.BigInteger,
            existing_nullable=False,
            postgresql_using="reputation::numeric(78, 0)",
        )


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.alter_column(
            "reputation",
            type_=sa.BigInteger,
            existing_type=Uint256,
            existing_nullable=False,
            postgresql_using="reputation::bigint",
        )
