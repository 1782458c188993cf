"""IMAP METADATA (RFC 5464): entries on mailboxes and on the server, private to an account or shared.

`scope` names where an entry lives ("m<mailbox id>" or "s" for the server, then ":a<account id>" for a
/private entry or ":s" for a /shared one); it repeats `mailbox_id` and `account_id` so that (scope, name)
is a primary key on SQLite and PostgreSQL alike (a unique index over the nullable ids would let NULLs
repeat). The ids are kept for their foreign keys: deleting a mailbox or an account deletes its entries.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mailbox_metadata",
        sa.Column("scope", sa.String(48), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("mailbox_id", Id, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_index("mailbox_metadata_mailbox", "mailbox_metadata", ["mailbox_id"])
    op.create_index("mailbox_metadata_account", "mailbox_metadata", ["account_id"])


def downgrade() -> None:
    op.drop_index("mailbox_metadata_account", "mailbox_metadata")
    op.drop_index("mailbox_metadata_mailbox", "mailbox_metadata")
    op.drop_table("mailbox_metadata")
