"""SCRAM-SHA-1's stored keys beside SCRAM-SHA-256's (RFC 6120 13.8.3 makes it XMPP's mandatory mechanism).
Accounts made before get theirs when their password is next set, or at their next login that shows it.

Revision ID: 0021
Revises: 0020
Create Date: 2027-02-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("scram_sha1", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("scram_sha1")
