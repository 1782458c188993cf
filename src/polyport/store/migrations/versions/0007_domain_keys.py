"""DKIM signing keys per domain.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "domain_keys",
        sa.Column("domain_id", Id, sa.ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("selector", sa.String(63), primary_key=True),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("domain_keys")
