"""Mailboxes keep the keywords ever used in them (IMAP's FLAGS list) and their first \\Recent UID.

`keywords`: the keywords set on any message of the mailbox since the column was added, space-separated,
kept when the messages go (RFC 3501 7.2.6: FLAGS lists the flags "defined" in the mailbox). NULL in the
mailboxes that exist now: the mailstore computes it from their messages at its first use, under the
mailbox's lock, rather than this migration reading every message of every mailbox.

`first_recent`: the lowest UID no IMAP4rev1 session has yet seen as \\Recent (RFC 3501 2.3.2); a SELECT
claims the UIDs from it up to UIDNEXT. Set to UIDNEXT in the mailboxes that exist now: nothing there is new
after the upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("keywords", sa.Text, nullable=True))
        batch.add_column(sa.Column("first_recent", sa.BigInteger, nullable=False, server_default="1"))
    op.execute("UPDATE mailboxes SET first_recent = uidnext")


def downgrade() -> None:
    # In place: a copied table would lose AUTOINCREMENT, and mailbox ids are UIDVALIDITYs (never reused).
    with op.batch_alter_table("mailboxes", recreate="never") as batch:
        batch.drop_column("first_recent")
        batch.drop_column("keywords")
