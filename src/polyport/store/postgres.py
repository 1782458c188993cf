"""The PostgreSQL record store (asyncpg): for clusters and large installations.

Each unit of work runs in one transaction on a pooled connection; statements are prepared and cached by
asyncpg. Query parameters of the URL other than asyncpg's own become server settings
(`?search_path=polyport` puts the tables in that schema).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from polyport.store.sql import (
    Conflict,
    Mode,
    Op,
    Statement,
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


# A commit that does not wait for the WAL's flush to disk: lost only if PostgreSQL's own machine loses
# power before the flush (a few hundred milliseconds at most); the transaction is atomic all the same.
NO_FLUSH_WAIT = Statement("SET LOCAL synchronous_commit = off")


def _without_waiting_for_the_flush(unit: Unit[T]) -> Unit[T]:
    yield NO_FLUSH_WAIT.run()
    return (yield from unit)


def describe(url: str) -> str:
    """host:port/database of a URL, without the password, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class ConnectionSet:
    """A fixed set of connections handed out one task at a time.

    Written instead of using asyncpg's pool because that pool cost 45 us of CPU per statement more than
    this (64 against 19 us, measured with 20 tasks on this machine: 13,000 against 47,000 statements/s),
    which decides how many CLI/API reads a node serves. A connection that broke, or whose user was
    cancelled mid-statement, is closed and replaced by a new one the next time it is handed out.
    """

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self._idle: deque[Any] = deque()
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._all: list[Any] = []

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.url, timeout=10)

    async def open(self) -> None:
        self._all = list(await asyncio.gather(*(self._connect() for _ in range(self.size))))
        self._idle.extend(self._all)

    async def _acquire(self) -> Any:
        if self._idle:
            conn = self._idle.popleft()
        else:
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release(waiter.result())
                else:
                    self._waiters.remove(waiter)
                raise
        if conn.is_closed():
            try:
                fresh = await self._connect()
            except BaseException:
                self._release(conn)
                raise
            self._all[self._all.index(conn)] = fresh
            conn = fresh
        return conn

    def _release(self, conn: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        conn = await self._acquire()
        healthy = False
        try:
            yield conn
            healthy = True
        except (asyncio.CancelledError, OSError, asyncpg.InterfaceError):
            raise  # cancelled or broken mid-statement: the connection's state is unknown
        except Exception:
            # A refusal (a duplicate, an unknown name, a bad setting): the transaction was rolled back
            # and the connection is as good as before.
            healthy = not conn.is_in_transaction()
            raise
        finally:
            if not healthy and not conn.is_closed():
                conn.terminate()  # cancelled or broken mid-statement: never hand it out again as is
            self._release(conn)

    async def close(self) -> None:
        connections, self._all = self._all, []
        self._idle.clear()
        await asyncio.gather(*(c.close(timeout=5) for c in connections if not c.is_closed()),
                             return_exceptions=True)


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = pool_size
        self._connections: ConnectionSet | None = None

    async def open(self) -> None:
        connections = ConnectionSet(self.url, self._pool_size)
        try:
            await connections.open()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            await connections.close()
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise Unavailable(f"cannot reach PostgreSQL at {describe(self.url)}: {reason}; "
                              f"start it or fix [store] url") from None
        self._connections = connections

    async def close(self) -> None:
        if self._connections is not None:
            connections, self._connections = self._connections, None
            await connections.close()

    def _open_set(self) -> ConnectionSet:
        if self._connections is None:
            raise StoreError("the store is closed")
        return self._connections

    async def _run(self, unit: Unit[T], **transaction: Any) -> T:
        try:
            connections = self._open_set()
        except StoreError:
            unit.close()
            raise
        try:
            async with connections.connection() as conn, conn.transaction(**transaction):
                return await drive(conn, unit)
        except (OSError, asyncpg.InterfaceError) as err:
            raise _store_error(err) from err

    async def write(self, unit: Unit[T], *, durable: bool = True) -> T:
        return await self._run(unit if durable else _without_waiting_for_the_flush(unit))

    async def read(self, unit: Unit[T]) -> T:
        return await self._run(unit, readonly=True, isolation="repeatable_read")

    async def fetch(self, op: Op) -> Any:
        connections = self._open_set()
        try:
            async with connections.connection() as conn:
                return await _execute(conn, op)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise _store_error(err) from err

