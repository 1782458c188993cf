"""Web sessions (webmail and WebAdmin logins), kept in the store so they survive a restart.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's token, never the token
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # "user" (webmail) or "admin"
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("lifetime", sa.BigInteger, nullable=False),  # seconds each use extends it by
        sa.Column("remote", sa.String(64), nullable=False),
        # A fingerprint of the password hash at login: a new password (by anyone) ends older sessions.
        sa.Column("credential", sa.String(16), nullable=False),
    )
    op.create_index("web_sessions_account", "web_sessions", ["account_id"])
    op.create_index("web_sessions_expires", "web_sessions", ["expires"])


def downgrade() -> None:
    op.drop_table("web_sessions")
