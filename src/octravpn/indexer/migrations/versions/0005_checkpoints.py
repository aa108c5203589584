"""Sessions are paid while they stay open: each keeps the bytes checkpoints paid for and how many there were.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from octravpn.indexer.schema import Uint256

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("bytes_paid", Uint256))
        batch.add_column(sa.Column("checkpoints", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("checkpoints")
        batch.drop_column("bytes_paid")
