"""The PostgreSQL record store (asyncpg): for clusters and large installations.

Each unit of work runs in one transaction on a pooled connection; statements are prepared and cached by
asyncpg. Query parameters of the URL other than asyncpg's own become server settings
(`?search_path=polyport` puts the tables in that schema).
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from polyport.store.sql import (
    Conflict,
    Mode,
    Op,
    StoreError,
    Unavailable,
    Unit,
    UnitRun,
)

T = TypeVar("T")


async def _execute(conn: Any, op: Op) -> Any:
    args = op.statement.pg_args(op.params)
    sql = op.statement.pg_sql
    if op.mode is Mode.ALL:
        return await conn.fetch(sql, *args)
    if op.mode is Mode.ONE:
        return await conn.fetchrow(sql, *args)
    if op.mode is Mode.VALUE:
        return await conn.fetchval(sql, *args)
    status: str = await conn.execute(sql, *args)
    # "UPDATE 3", "DELETE 0", "INSERT 0 1"
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _store_error(err: Exception) -> StoreError:
    if isinstance(err, asyncpg.IntegrityConstraintViolationError):
        return Conflict(str(err))
    if isinstance(err, asyncpg.PostgresError):
        return StoreError(f"PostgreSQL: {err}")
    return Unavailable(f"PostgreSQL connection failed: {err}")


async def drive(conn: Any, unit: Unit[T]) -> T:
    run = UnitRun(unit)
    while (op := run.next()) is not None:
        try:
            run.result_of(await _execute(conn, op))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
            run.error_of(_store_error(err))
    return run.result  # type: ignore[no-any-return]


def describe(url: str) -> str:
    """host:port/database of a URL, without the password, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: Any = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self._pool_size, timeout=10)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise Unavailable(f"cannot reach PostgreSQL at {describe(self.url)}: {reason}; "
                              f"start it or fix [store] url") from None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def write(self, unit: Unit[T]) -> T:
        if self._pool is None:
            unit.close()
            raise StoreError("the store is closed")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await drive(conn, unit)
        except (OSError, asyncpg.InterfaceError) as err:
            raise _store_error(err) from err

    async def fetch(self, op: Op) -> Any:
        if self._pool is None:
            raise StoreError("the store is closed")
        try:
            async with self._pool.acquire() as conn:
                return await _execute(conn, op)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise _store_error(err) from err

    async def read(self, unit: Unit[T]) -> T:
        if self._pool is None:
            unit.close()
            raise StoreError("the store is closed")
        try:
            async with self._pool.acquire() as conn, conn.transaction(
                    readonly=True, isolation="repeatable_read"):
                return await drive(conn, unit)
        except (OSError, asyncpg.InterfaceError) as err:
            raise _store_error(err) from err
