"""XMPP's multi-user chat rooms (XEP-0045): each persistent room of a domain (its name, configuration,
affiliations and subject), and each persistent room's message archive (XEP-0313 for rooms), laid out as
the accounts' archive is (migration 0015 says why there is no index by sender).

Revision ID: 0017
Revises: 0016
Create Date: 2027-02-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xmpp_rooms",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("domain_id", Id, sa.ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("name", sa.String(1023), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("xmpp_rooms_name", "xmpp_rooms", ["service", "name"], unique=True)
    op.create_index("xmpp_rooms_domain", "xmpp_rooms", ["domain_id"])
    op.create_table(
        "xmpp_room_archive",
        sa.Column("seq", Id, primary_key=True, autoincrement=True),
        sa.Column("room_id", Id, sa.ForeignKey("xmpp_rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("with_jid", sa.String(3071), nullable=False),
        sa.Column("stamp", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("stanza", sa.Text, nullable=False),
    )
    op.create_index("xmpp_room_archive_id", "xmpp_room_archive", ["room_id", "id"], unique=True)
    op.create_index("xmpp_room_archive_expires", "xmpp_room_archive", ["expires"])


def downgrade() -> None:
    for index in ("xmpp_room_archive_expires", "xmpp_room_archive_id"):
        op.drop_index(index, "xmpp_room_archive")
    op.drop_table("xmpp_room_archive")
    for index in ("xmpp_rooms_domain", "xmpp_rooms_name"):
        op.drop_index(index, "xmpp_rooms")
    op.drop_table("xmpp_rooms")
