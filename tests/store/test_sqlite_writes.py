"""SQLite writes: groups run on the loop's thread and committed on the writer thread, and the ways a
group goes to the writer thread instead (a long group, another process's lock, another event loop)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from polyport.store import Statement, StoreError, Unit, open_records
from polyport.store import sqlite as sqlite_store
from polyport.store.sql import unit_of

CREATE = Statement("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)")
INSERT = Statement("INSERT INTO probe (value) VALUES (:value)")
COUNT = Statement("SELECT count(*) FROM probe")


async def test_a_group_commits_together_and_a_failing_unit_alone_is_undone(tmp_path: Path) -> None:
    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        await store.write(unit_of(INSERT.run(value="taken")))

        def pair(first: str, second: str) -> Unit[None]:
            yield INSERT.run(value=first)
            yield INSERT.run(value=second)  # "taken" again: a conflict, and the unit's first insert goes too

        outcomes = await asyncio.gather(*(store.write(unit_of(INSERT.run(value=f"v{i}"))) for i in range(50)),
                                        store.write(pair("lost", "taken")), return_exceptions=True)
        assert isinstance(outcomes[-1], StoreError)
        assert not any(isinstance(o, BaseException) for o in outcomes[:-1])
        assert await store.fetch(COUNT.value()) == 51
    finally:
        await store.close()


async def test_a_long_group_is_finished_by_the_writer_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past INLINE_SLICE on the loop, the group's remaining units run on the writer thread, in the same
    transaction: every one is committed, and the loop was free meanwhile."""
    monkeypatch.setattr(sqlite_store, "INLINE_SLICE", 0.0)
    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        await asyncio.gather(*(store.write(unit_of(INSERT.run(value=f"v{i}"))) for i in range(100)))
        assert await store.fetch(COUNT.value()) == 100
    finally:
        await store.close()


async def test_another_process_holding_the_lock_is_waited_out_off_the_loop(tmp_path: Path) -> None:
    """The admin command in another process holds the write lock: the group goes to the writer thread,
    which waits for it, while the loop goes on."""
    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        other = sqlite3.connect(tmp_path / "polyport.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        written = asyncio.ensure_future(store.write(unit_of(INSERT.run(value="waited"))))
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.3:  # the loop turns while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not written.done() and ticks >= 10
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(written, 10)
        assert await store.fetch(COUNT.value()) == 1
    finally:
        await store.close()


async def test_writes_from_another_event_loop_go_through_the_writer_thread(tmp_path: Path) -> None:
    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))

        def in_thread(n: int) -> None:
            async def some() -> None:
                for i in range(20):
                    await store.write(unit_of(INSERT.run(value=f"t{n}-{i}")))
            asyncio.run(some())

        here = [store.write(unit_of(INSERT.run(value=f"here{i}"))) for i in range(100)]
        await asyncio.gather(*here, *(asyncio.to_thread(in_thread, n) for n in range(3)))
        assert await store.fetch(COUNT.value()) == 160
    finally:
        await store.close()


async def test_close_waits_for_the_writes_asked_for(tmp_path: Path) -> None:
    store = await open_records("", tmp_path)
    await store.write(unit_of(CREATE.run()))
    pending = [asyncio.ensure_future(store.write(unit_of(INSERT.run(value=f"v{i}")))) for i in range(30)]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*pending)
    reopened = await open_records("", tmp_path)
    try:
        assert await reopened.fetch(COUNT.value()) == 30
    finally:
        await reopened.close()


async def test_a_durable_unit_is_answered_once_the_wal_is_fsynced(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits are written with synchronous=NORMAL; a group with a durable unit is answered after an
    fdatasync of the WAL (the syncer thread), one without is answered at once, with no fsync."""
    synced: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        real(fd)
        synced.append(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    store = await open_records("", tmp_path)
    try:
        assert isinstance(store, sqlite_store.SqliteStore) and store._writer is not None
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        await store.write(unit_of(CREATE.run()))
        assert len(synced) == 1
        await store.write(unit_of(INSERT.run(value="flags")), durable=False)
        assert len(synced) == 1
        await asyncio.gather(store.write(unit_of(INSERT.run(value="a")), durable=False),
                             store.write(unit_of(INSERT.run(value="message"))))
        assert len(synced) == 2
        assert await store.fetch(COUNT.value()) == 3
    finally:
        await store.close()


async def test_a_flag_change_does_not_wait_for_another_units_fsync(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """While the WAL is being fsynced for a message, the writing connection is free: a non-durable write
    commits and is answered meanwhile (it used to wait for the fsync of the other's COMMIT)."""
    release = threading.Event()
    syncing = threading.Event()
    real = os.fdatasync

    def slow_fdatasync(fd: int) -> None:
        syncing.set()
        release.wait(10)
        real(fd)

    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
        message = asyncio.ensure_future(store.write(unit_of(INSERT.run(value="message"))))
        while not syncing.is_set():
            await asyncio.sleep(0.001)
        await asyncio.wait_for(store.write(unit_of(INSERT.run(value="flag")), durable=False), 5)
        assert not message.done()  # still waiting for its fsync, yet committed and visible
        assert await store.fetch(COUNT.value()) == 2
        release.set()
        await asyncio.wait_for(message, 5)
    finally:
        release.set()
        await store.close()


async def test_a_failed_fsync_fails_its_units_and_every_write_after(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(StoreError, match="cannot sync the WAL"):
            await store.write(unit_of(INSERT.run(value="message")))
        # Nothing said about that disk can be trusted now (a later fsync would "succeed" over lost pages):
        # every write fails until the node restarts, as PostgreSQL stops on a failed fsync.
        monkeypatch.undo()
        for durable in (True, False):
            with pytest.raises(StoreError, match="restart the node"):
                await store.write(unit_of(INSERT.run(value=f"after {durable}")), durable=durable)
    finally:
        monkeypatch.undo()
        await store.close()


async def test_the_wal_is_checkpointed_by_the_writer_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Non-durable groups commit on the loop's thread, where SQLite's own checkpoints (inside a COMMIT) are
    off; the writer thread checkpoints every CHECKPOINT_EVERY commits, so the WAL stays small however many
    flag changes come with no message between them."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 20)
    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        wal = tmp_path / "polyport.db-wal"
        before = wal.stat().st_size  # the schema's creation (the WAL is reused from its start, never shrunk)
        for i in range(2000):
            await store.write(unit_of(INSERT.run(value=f"flag{i}")), durable=False)
        assert await store.fetch(COUNT.value()) == 2000
        assert wal.stat().st_size - before < 1 << 20  # 2,000 commits never checkpointed: about 8 MB more
    finally:
        await store.close()


async def test_a_long_unit_is_finished_by_the_writer_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit still running when the group's time on the loop is up (a delivery to hundreds of accounts)
    goes on, where it stopped, on the writer thread: in the same savepoint and transaction, its result the
    same, and a failure in its second half still undoes its first."""
    store = await open_records("", tmp_path)
    try:
        await store.write(unit_of(CREATE.run()))
        monkeypatch.setattr(sqlite_store, "INLINE_SLICE", 0.0)

        def many(prefix: str, count: int, fail: bool = False) -> Unit[int]:
            for i in range(count):
                yield INSERT.run(value=f"{prefix}{i}")
            if fail:
                yield INSERT.run(value=f"{prefix}0")  # taken: the whole unit goes
            return count

        assert await store.write(many("a", 50)) == 50
        with pytest.raises(StoreError):
            await store.write(many("b", 50, fail=True))
        results = await asyncio.gather(store.write(many("c", 30)), store.write(many("d", 30)),
                                       store.write(many("e", 1)))
        assert list(results) == [30, 30, 1]
        assert await store.fetch(COUNT.value()) == 111
    finally:
        await store.close()


async def test_a_closed_store_is_whole_in_its_database_file(tmp_path: Path) -> None:
    """Closing checkpoints the WAL into the .db file (the writer's connection closes last): a copy of the
    file alone, as a backup or the tests' template takes it, has every commit."""
    store = await open_records("", tmp_path)
    await store.write(unit_of(CREATE.run()))
    await store.read(unit_of(COUNT.value()))  # an inline reader connection is open too
    await asyncio.gather(*(store.write(unit_of(INSERT.run(value=f"v{i}")), durable=i % 2 == 0) for i in range(40)))
    await store.close()
    wal = tmp_path / "polyport.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "polyport.db").write_bytes((tmp_path / "polyport.db").read_bytes())
    with sqlite3.connect(copy / "polyport.db") as db:
        assert db.execute("SELECT count(*) FROM probe").fetchone()[0] == 40
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1


async def test_the_commit_after_a_checkpoint_is_made_off_the_loop(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After a complete checkpoint the next COMMIT restarts the WAL, and SQLite fsyncs its new header even
    with synchronous=NORMAL: that COMMIT goes to the writer thread; the ones after it are the loop's again."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 5)
    store = await open_records("", tmp_path)
    try:
        assert isinstance(store, sqlite_store.SqliteStore) and store._writer is not None
        await store.write(unit_of(CREATE.run()))
        commits: list[str] = []
        store._writer.set_trace_callback(
            lambda sql: commits.append(threading.current_thread().name) if sql == "COMMIT" else None)
        for i in range(12):
            await store.write(unit_of(INSERT.run(value=f"flag{i}")), durable=False)
        on_thread = [n for n, name in enumerate(commits) if name.startswith("sqlite-writer")]
        # five commits on the loop, then the one whose count is due (the thread commits it and checkpoints),
        # then the one that restarts the WAL; and again
        assert on_thread == [4, 5, 10, 11], commits
    finally:
        await store.close()
