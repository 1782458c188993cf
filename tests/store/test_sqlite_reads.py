"""SQLite reads both ways: on the caller's thread (readers=0, the default) and through reader threads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from polyport.store import Statement, StoreError, Unit, open_records
from polyport.store.sql import unit_of

CREATE = Statement("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
INSERT = Statement("INSERT INTO probe (value) VALUES (:value)")
COUNT = Statement("SELECT count(*) FROM probe")
ALL = Statement("SELECT id, value FROM probe ORDER BY id")
BROKEN = Statement("SELECT absent FROM missing_table")


@pytest.mark.parametrize("readers", [0, 2])
async def test_reads_see_committed_writes_in_one_snapshot(tmp_path: Path, readers: int) -> None:
    store = await open_records("", tmp_path, sqlite_readers=readers)
    try:
        await store.write(unit_of(CREATE.run()))

        async def add(i: int) -> None:
            await store.write(unit_of(INSERT.run(value=f"v{i}")))

        await asyncio.gather(*(add(i) for i in range(20)))
        assert await store.fetch(COUNT.value()) == 20

        def both() -> Unit[tuple[int, int]]:
            first = yield COUNT.value()
            rows = yield ALL.all()
            return int(first), len(rows)

        counts = await asyncio.gather(*(store.read(both()) for _ in range(10)))
        await add(99)
        assert all(first == second for first, second in counts)  # one snapshot per unit
        with pytest.raises(StoreError, match="no such table"):
            await store.fetch(BROKEN.all())
        assert await store.fetch(COUNT.value()) == 21  # a failed read leaves the store usable
    finally:
        await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.fetch(COUNT.value())


async def test_inline_reads_work_from_several_threads(tmp_path: Path) -> None:
    store = await open_records("", tmp_path, sqlite_readers=0)
    try:
        await store.write(unit_of(CREATE.run()))
        await store.write(unit_of(INSERT.run(value="x")))

        def in_thread() -> int:
            return int(asyncio.run(store.fetch(COUNT.value())))

        results = await asyncio.gather(*(asyncio.to_thread(in_thread) for _ in range(4)))
        assert results == [1, 1, 1, 1]
    finally:
        await store.close()


async def test_a_long_run_of_inline_reads_lets_other_tasks_in(tmp_path: Path) -> None:
    store = await open_records("", tmp_path, sqlite_readers=0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    try:
        await store.write(unit_of(CREATE.run()))
        for i in range(200):
            await store.write(unit_of(INSERT.run(value=f"v{i}")))
        other = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        for _ in range(3000):  # each read is microseconds; together they take far more than a slice
            await store.fetch(ALL.all())
        after = ticks
        other.cancel()
        assert after > before  # the loop ran the other task in between
    finally:
        await store.close()
