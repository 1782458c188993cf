"""The mailstore: mailboxes, messages, message bodies, expunged tombstones, subscriptions, ACLs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("special_use", sa.String(16), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uidnext", sa.BigInteger, nullable=False),
        sa.Column("highestmodseq", sa.BigInteger, nullable=False),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.Column("unseen", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("account_id", "name", name="mailboxes_account_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "bodies",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("blob", sa.String(64), nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("structure", sa.Text, nullable=False),
        sa.Column("sent", sa.BigInteger, nullable=True),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("addresses", sa.Text, nullable=False),
        sa.Column("refs", sa.BigInteger, nullable=False),
        sa.Column("orphaned", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("bodies_orphaned", "bodies", ["orphaned"])
    op.create_index("bodies_message_id", "bodies", ["message_id"])
    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("mailbox_id", Id, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("modseq", sa.BigInteger, nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("internal_date", sa.BigInteger, nullable=False),
        sa.Column("saved", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("body_id", Id, sa.ForeignKey("bodies.id"), nullable=False),
        sa.Column("thread_id", Id, nullable=False),
        sa.UniqueConstraint("mailbox_id", "uid", name="messages_mailbox_uid"),
        sqlite_autoincrement=True,
    )
    op.create_index("messages_mailbox_modseq", "messages", ["mailbox_id", "modseq"])
    op.create_index("messages_body", "messages", ["body_id"])
    op.create_table(
        "expunged",
        sa.Column("mailbox_id", Id, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("uid", sa.BigInteger, primary_key=True),
        sa.Column("modseq", sa.BigInteger, nullable=False),
    )
    op.create_index("expunged_mailbox_modseq", "expunged", ["mailbox_id", "modseq"])
    op.create_table(
        "subscriptions",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(1000), primary_key=True),
    )
    op.create_table(
        "mailbox_acl",
        sa.Column("mailbox_id", Id, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("grantee", Id, primary_key=True, autoincrement=False),
        sa.Column("negative", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("rights", sa.String(32), nullable=False),
    )
    op.create_index("mailbox_acl_grantee", "mailbox_acl", ["grantee"])


def downgrade() -> None:
    for table in ("mailbox_acl", "subscriptions", "expunged", "messages", "bodies", "mailboxes"):
        op.drop_table(table)
