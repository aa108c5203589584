"""The mailbox knows each announcement's hostname and expiry (names go first come, first served; expired ones are
not served); policy documents come from the chain's events, kept by the reducer like the rest of its state.

Announcements of the old format are dropped (devices announce again within seconds), and so are uploaded
policy documents (the events carry them now).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM announcements")
    op.execute("DELETE FROM acl_documents")
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(sa.Column("hostname", sa.String(63), nullable=False, server_default=""))
        batch.add_column(sa.Column("expires", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_announcements_tailnet_hostname", "announcements", ["tailnet_id", "hostname"])


def downgrade() -> None:
    op.drop_index("ix_announcements_tailnet_hostname", table_name="announcements")
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("expires")
        batch.drop_column("hostname")
