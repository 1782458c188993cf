"""XMPP private XML storage (XEP-0049): each account's private XML fragments by namespace, as its clients
stored them (legacy bookmarks, XEP-0048, and client settings such as XEP-0083's roster delimiter).

Revision ID: 0016
Revises: 0015
Create Date: 2027-02-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_private",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("namespace", sa.String(1024), primary_key=True),
        sa.Column("xml", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xmpp_private")
