"""Device announcements: the latest signed announcement of each device of a tailnet (the mesh's mailbox).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from octravpn.indexer.schema import Uint256

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("tailnet_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("device", sa.String(42), primary_key=True),
        sa.Column("seq", Uint256, nullable=False),
        sa.Column("announcement", sa.Text, nullable=False),
        sa.Column("stored_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("announcements")
