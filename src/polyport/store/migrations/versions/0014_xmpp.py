"""XMPP: rosters (RFC 6121 2: each account's contacts, their subscription states, and a version per roster
that every change raises, XEP-0237), offline messages (XEP-0160: kept until the account comes online) and
block lists (XEP-0191) and vCards (XEP-0054).

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_roster",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("contact", sa.String(3071), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("subscription", sa.String(8), nullable=False, server_default="none"),
        sa.Column("ask", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("pending_in", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("approved", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("groups", sa.Text, nullable=False, server_default="[]"),
        sa.Column("listed", sa.SmallInteger, nullable=False, server_default="1"),
    )
    op.create_table(
        "xmpp_roster_versions",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", Id, nullable=False),
    )


    op.create_table(
        "xmpp_offline",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("stanza", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index("xmpp_offline_account", "xmpp_offline", ["account_id", "id"])
    op.create_table(
        "xmpp_blocks",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("jid", sa.String(3071), primary_key=True),
    )


    op.create_table(
        "xmpp_vcards",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("vcard", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xmpp_vcards")
    op.drop_table("xmpp_blocks")
    op.drop_index("xmpp_offline_account", "xmpp_offline")
    op.drop_table("xmpp_offline")
    op.drop_table("xmpp_roster_versions")
    op.drop_table("xmpp_roster")
