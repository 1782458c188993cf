"""The outbound queue: queue_messages and queue_recipients.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queue_messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("ident", sa.String(32), nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("blob", sa.String(64), nullable=True),
        sa.Column("envid", sa.Text, nullable=True),
        sa.Column("ret", sa.String(4), nullable=True),
        sa.Column("flags", sa.SmallInteger, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "queue_recipients",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("message_id", Id, sa.ForeignKey("queue_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("orcpt", sa.Text, nullable=True),
        sa.Column("notify", sa.String(40), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delay_notified", sa.SmallInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_index("queue_recipients_due", "queue_recipients", ["status", "next_attempt"])
    op.create_index("queue_recipients_message", "queue_recipients", ["message_id"])


def downgrade() -> None:
    op.drop_table("queue_recipients")
    op.drop_table("queue_messages")
