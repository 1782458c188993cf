"""Account info (last login, password change), recoverable password secrets, domain default prefs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("password_secret", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("password_changed", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("last_login", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("last_address", sa.String(64), nullable=True))
    with op.batch_alter_table("domains") as batch:
        batch.add_column(sa.Column("account_prefs", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.drop_column("account_prefs")
    with op.batch_alter_table("accounts") as batch:
        for column in ("last_address", "last_login", "password_changed", "password_secret"):
            batch.drop_column(column)
