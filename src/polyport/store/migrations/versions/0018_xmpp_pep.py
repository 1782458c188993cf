"""XMPP's personal eventing (XEP-0163, on XEP-0060's publish-subscribe): each account's nodes (OMEMO's
device lists and bundles, avatars, bookmarks, nicknames...) with their configuration, and their items in
the order they were published.

Revision ID: 0018
Revises: 0017
Create Date: 2027-02-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_pep_nodes",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("node", sa.String(1023), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
    )
    op.create_table(
        "xmpp_pep_items",
        sa.Column("seq", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node", sa.String(1023), nullable=False),
        sa.Column("item_id", sa.String(1023), nullable=False),
        sa.Column("stamp", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("xmpp_pep_items_id", "xmpp_pep_items", ["account_id", "node", "item_id"], unique=True)


def downgrade() -> None:
    op.drop_index("xmpp_pep_items_id", "xmpp_pep_items")
    op.drop_table("xmpp_pep_items")
    op.drop_table("xmpp_pep_nodes")
