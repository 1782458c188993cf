"""Storage: records in SQL (SQLite by default, PostgreSQL by URL), bodies/files in a blob store, and
short-lived keys (counters, locks, rate limits) in memory.

Services talk to `RecordStore` (units of work, see store/sql.py), `BlobStore` (store/blobs.py) and
`KeyValueStore` (store/memory.py); they never learn which backend is underneath. `open_records` picks
the backend and brings its schema to the current revision.
"""

from __future__ import annotations

from pathlib import Path

from polyport.store.blobs import BlobStore, LocalBlobStore
from polyport.store.memory import KeyValueStore, MemoryKeyValueStore
from polyport.store.sql import (
    Conflict,
    RecordStore,
    Row,
    SchemaMismatch,
    Statement,
    StoreError,
    Unavailable,
    Unit,
    unit_of,
)

SQLITE_FILE = "polyport.db"

__all__ = [
    "BlobStore",
    "Conflict",
    "KeyValueStore",
    "LocalBlobStore",
    "MemoryKeyValueStore",
    "RecordStore",
    "Row",
    "SchemaMismatch",
    "Statement",
    "StoreError",
    "Unavailable",
    "Unit",
    "open_records",
    "unit_of",
]


async def open_records(url: str, data_dir: Path, *, pool_size: int = 10, sqlite_readers: int = 0,
                       busy_timeout: float = 10.0, migrate: bool = True) -> RecordStore:
    """Open the record store named by `url` ("" is SQLite in `data_dir`) at the current schema."""
    from polyport.store import migrate as migrations

    store: RecordStore
    if url:
        from polyport.store.postgres import PostgresStore

        pg = PostgresStore(url, pool_size=pool_size)
        await pg.open()
        store, location = pg, url
    else:
        from polyport.store.sqlite import SqliteStore

        path = data_dir / SQLITE_FILE
        lite = SqliteStore(path, readers=sqlite_readers, busy_timeout=busy_timeout)
        await lite.open()
        store, location = lite, str(path)
    try:
        if migrate:
            await migrations.ensure_schema(store, location)
    except BaseException:
        await store.close()
        raise
    return store
