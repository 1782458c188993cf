"""Bringing a record store's schema to the version this code writes.

The current revision is read with the raw driver on every start (cheap); Alembic and SQLAlchemy are
imported only when there is something to upgrade. A revision this code does not know means a newer
Polyport wrote the store: refused with a clear error, never touched.
"""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from polyport.store.sql import RecordStore, SchemaMismatch, Statement, Unit

# Every revision under migrations/versions, oldest first; the last is the one this code writes.
# (tests/store/test_migrations.py checks this list against Alembic's own.)
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011",
                              "0012", "0013", "0014", "0015", "0016", "0017", "0018", "0019", "0020", "0021")
HEAD = REVISIONS[-1]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_SQLITE_HAS_VERSION = Statement(
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
_PG_HAS_VERSION = Statement("SELECT to_regclass('alembic_version') IS NOT NULL")
_VERSION = Statement("SELECT version_num FROM alembic_version")


def current_revision(dialect: str) -> Unit[str | None]:
    has_table = yield (_SQLITE_HAS_VERSION if dialect == "sqlite" else _PG_HAS_VERSION).value()
    if not has_table:
        return None
    revision: str | None = yield _VERSION.value()
    return revision


def sqlalchemy_target(url: str) -> tuple[str, dict[str, Any]]:
    """The SQLAlchemy URL and connect arguments for a store URL (a SQLite path or a PostgreSQL URL)."""
    if not url.startswith(("postgresql://", "postgres://")):
        return f"sqlite:///{url}", {}
    parts = urlsplit(url)
    # Query parameters become server settings, as asyncpg does with a DSN (e.g. search_path).
    settings = dict(parse_qsl(parts.query))
    sa_url = urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, "", ""))
    return sa_url, ({"server_settings": settings} if settings else {})


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic's upgrade (blocking: call it in a thread)."""
    from alembic import command
    from alembic.config import Config

    sa_url, connect_args = sqlalchemy_target(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["sa_url"] = sa_url
    config.attributes["connect_args"] = connect_args
    if sa_url.startswith("sqlite"):
        # Two processes opening a new data folder at once (a node and an admin command) migrate once.
        with open(f"{url}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            command.upgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def ensure_schema(store: RecordStore, url: str) -> None:
    """Upgrade the store to HEAD if it is older or new; refuse one written by a newer Polyport."""
    revision = await store.read(current_revision(store.dialect))
    if revision == HEAD:
        return
    if revision is not None and revision not in REVISIONS:
        raise SchemaMismatch(
            f"the store was written by a newer Polyport (schema revision {revision}; this version "
            f"knows up to {HEAD}); run that version or newer, or restore a backup")
    await asyncio.to_thread(upgrade, url)
