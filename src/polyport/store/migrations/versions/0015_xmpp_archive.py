"""XMPP's message archive (XEP-0313): each account's one-to-one messages, both ways, with the id its clients
see (XEP-0359's stanza-id; ids sort by time, so the index by account and id serves both order and lookup),
the other party's bare JID, when it was archived and when it expires (ChatHistoryDays). There is no index
by contact: each account's entries are appended in one place of the index by id, but by contact they would
be spread over every conversation's, and a message would cost several times as much to keep (measured:
3 to 5 times fewer inserts a second); a query by contact reads the account's entries in order instead.

Revision ID: 0015
Revises: 0014
Create Date: 2027-02-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_archive",
        sa.Column("seq", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("with_jid", sa.String(3071), nullable=False),
        sa.Column("stamp", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("stanza", sa.Text, nullable=False),
    )
    op.create_index("xmpp_archive_id", "xmpp_archive", ["account_id", "id"], unique=True)
    op.create_index("xmpp_archive_expires", "xmpp_archive", ["expires"])


def downgrade() -> None:
    for index in ("xmpp_archive_expires", "xmpp_archive_id"):
        op.drop_index(index, "xmpp_archive")
    op.drop_table("xmpp_archive")
