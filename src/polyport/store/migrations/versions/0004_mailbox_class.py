"""Mailbox classes (CommuniGate's CLASS: IPF.Note, IPF.Appointment, ...), set by CREATEMAILBOX/SETMAILBOXCLASS.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("mailbox_class", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("mailbox_class")
