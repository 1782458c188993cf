"""The record schema, as SQLAlchemy Core tables: the reference the migrations must produce.

Imported only by the migrations and the tests (SQLAlchemy is too heavy for the node's start-up; see
store/sql.py). Conventions: names are stored lower-case (they are case-insensitive); dictionaries and
arrays (settings, prefs, rights) are JSON text; times are Unix seconds; identifiers are 64-bit.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite's rowid alias needs exactly INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Server-wide dictionaries: "main_domain", "account_defaults", "domain_defaults", ... (JSON).
server_dicts = Table(
    "server_dicts", metadata,
    Column("name", String(64), primary_key=True),
    Column("data", Text, nullable=False),
)

domains = Table(
    "domains", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("settings", Text, nullable=False),
    Column("account_defaults", Text, nullable=False),
    Column("account_template", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("account_prefs", Text, nullable=False, server_default="{}"),  # the domain's default prefs
    sqlite_autoincrement=True,  # never reuse an id, even the last one deleted
)

# A domain's name and its aliases share one namespace, so the database refuses a clash.
domain_names = Table(
    "domain_names", metadata,
    Column("name", String(255), primary_key=True),
    Column("domain_id", Id, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("is_alias", SmallInteger, nullable=False),
    Index("domain_names_domain", "domain_id"),
)

# Every named thing inside a domain (accounts, aliases, forwarders, groups, later lists) shares one
# namespace per domain: one row here each. An alias points at an account; a forwarder at an address.
objects = Table(
    "objects", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("domain_id", Id, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target_id", Id, ForeignKey("objects.id", ondelete="CASCADE"), nullable=True),
    Column("target", Text, nullable=True),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("domain_id", "name", name="objects_domain_name"),
    Index("objects_target", "target_id"),
    Index("objects_domain_kind", "domain_id", "kind", "name"),
    sqlite_autoincrement=True,
)

accounts = Table(
    "accounts", metadata,
    Column("id", Id, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("storage", String(32), nullable=False),
    Column("settings", Text, nullable=False),
    Column("prefs", Text, nullable=False),
    Column("rights", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("scram_sha256", Text, nullable=False),
    # The password encrypted with the server's key, kept only when RecoverablePassword is YES (for
    # challenge-response logins such as APOP); empty otherwise.
    Column("password_secret", Text, nullable=False, server_default=""),
    Column("password_changed", BigInteger, nullable=True),
    Column("last_login", BigInteger, nullable=True),
    Column("last_address", String(64), nullable=True),
)

groups = Table(
    "groups", metadata,
    Column("id", Id, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("settings", Text, nullable=False),
)

group_members = Table(
    "group_members", metadata,
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("address", String(320), nullable=False),
)
