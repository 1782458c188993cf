"""IMAP URLAUTH (RFC 4467 section 3): the mailbox access keys that sign URLAUTH-authorized URLs.

One secret per mailbox and per account that generated URLs for it (an account may sign URLs to another
account's mailbox it reads). RESETKEY deletes them; deleting the mailbox or the account deletes them too.

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mailbox_access_keys",
        sa.Column("mailbox_id", Id, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.LargeBinary, nullable=False),
    )
    op.create_index("mailbox_access_keys_account", "mailbox_access_keys", ["account_id"])


def downgrade() -> None:
    op.drop_index("mailbox_access_keys_account", "mailbox_access_keys")
    op.drop_table("mailbox_access_keys")
