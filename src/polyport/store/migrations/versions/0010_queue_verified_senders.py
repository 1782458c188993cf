"""Queued messages say whether their sender was verified (queue.records.VERIFIED, a bit of `flags`).

No new column: the bit joins SMTPUTF8, EIGHT_BIT and REQUIRETLS in `queue_messages.flags`. Messages
already waiting were queued without it; those an account handed in (their `origin` is its address, where
a client's is "[address]") are marked, so their senders keep getting the original in notices. The others
(trusted networks, forwarders) cannot be told apart now and count as unverified: headers only.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# 8 is queue.records.VERIFIED, written out: a migration must not change when the code it migrates for does.


def upgrade() -> None:
    op.execute("UPDATE queue_messages SET flags = flags | 8 WHERE origin NOT LIKE '[%' AND origin <> ''")


def downgrade() -> None:
    op.execute("UPDATE queue_messages SET flags = flags & ~8")
