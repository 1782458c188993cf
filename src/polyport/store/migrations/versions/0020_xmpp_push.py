"""XMPP push notifications (XEP-0357): where each account's clients asked to be woken (an app server's JID
and node) and the publish options to send with each notification (the app server's secret, as a form).

Revision ID: 0020
Revises: 0019
Create Date: 2027-02-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_push",
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("service", sa.String(1023), primary_key=True),
        sa.Column("node", sa.String(1023), primary_key=True),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xmpp_push")
