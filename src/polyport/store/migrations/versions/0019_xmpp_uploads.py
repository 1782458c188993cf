"""XMPP's HTTP file upload (XEP-0363): each slot a client asked for (its secret token, the file's name,
size and type, its account, when it expires) and whether the file came. The files are in the data folder's
uploads/ (im/uploads.py), not the blob store: they are not shared, and go when they expire.

Revision ID: 0019
Revises: 0018
Create Date: 2027-02-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_uploads",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("complete", sa.SmallInteger, nullable=False),
    )
    op.create_index("xmpp_uploads_account", "xmpp_uploads", ["account_id"])
    op.create_index("xmpp_uploads_expires", "xmpp_uploads", ["expires"])


def downgrade() -> None:
    for index in ("xmpp_uploads_expires", "xmpp_uploads_account"):
        op.drop_index(index, "xmpp_uploads")
    op.drop_table("xmpp_uploads")
