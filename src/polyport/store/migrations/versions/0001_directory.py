"""The directory: server dictionaries, domains and their names, domain objects, accounts, groups.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_dicts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "domains",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("account_defaults", sa.Text, nullable=False),
        sa.Column("account_template", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "domain_names",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("domain_id", Id, sa.ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
        sa.Column("is_alias", sa.SmallInteger, nullable=False),
    )
    op.create_index("domain_names_domain", "domain_names", ["domain_id"])
    op.create_table(
        "objects",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("domain_id", Id, sa.ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_id", Id, sa.ForeignKey("objects.id", ondelete="CASCADE"), nullable=True),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("domain_id", "name", name="objects_domain_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("objects_target", "objects", ["target_id"])
    op.create_index("objects_domain_kind", "objects", ["domain_id", "kind", "name"])
    op.create_table(
        "accounts",
        sa.Column("id", Id, sa.ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("storage", sa.String(32), nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("prefs", sa.Text, nullable=False),
        sa.Column("rights", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("scram_sha256", sa.Text, nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("id", Id, sa.ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("settings", sa.Text, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", Id, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("address", sa.String(320), nullable=False),
    )


def downgrade() -> None:
    for table in ("group_members", "groups", "accounts", "objects", "domain_names", "domains",
                  "server_dicts"):
        op.drop_table(table)
