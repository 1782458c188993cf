"""Alembic environment for Polyport's record store.

Run by polyport.store.migrate (never with an alembic.ini): the caller passes the SQLAlchemy URL and
connection arguments in `config.attributes`. SQLite runs on the stdlib driver; PostgreSQL on asyncpg
through SQLAlchemy's async engine, holding an advisory lock so two nodes starting at once migrate once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection

from polyport.store.schema import metadata

# Any fixed number: the advisory lock every node takes while migrating.
MIGRATION_LOCK = 0x706F6C79

config = context.config
url: str = config.attributes["sa_url"]
connect_args: dict[str, Any] = config.attributes.get("connect_args", {})


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        context.run_migrations()


async def _migrate_async() -> None:
    # Imported here: SQLAlchemy's asyncio layer needs greenlet, which SQLite migrations do not.
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


if url.startswith("sqlite"):
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()
else:
    asyncio.run(_migrate_async())
