"""The SQLite record store: the embedded default.

Writes are committed in groups on the only writing connection: every unit of work asked for while the
last group committed runs inside a savepoint of one transaction, the group commits once (one fsync), and
only then is each caller's future resolved. A unit that fails is rolled back to its savepoint alone.

The group's statements and its COMMIT run on the event loop's thread (`_flush`): a statement takes tens
of microseconds, while handing each one to a thread and back cost two GIL hand-overs (about three times
the statement's own time under load: the writer queued, and STORE, APPEND and EXPUNGE waited 13-28 ms).
Every COMMIT is made with synchronous=NORMAL, which in WAL mode writes the WAL without an fsync: what it
wrote survives the node's crash (kill -9) the moment it returns. A group with a durable unit (a message)
is then answered by the syncer thread, once an fdatasync of the WAL has put it on the disk as well: the
fsync, which must not hold the loop, no longer holds the writing connection either, so a flag change asked
for meanwhile commits at once instead of queueing behind another session's fsync (STORE waited for
APPENDs' fsyncs and was 1.3x Dovecot's latency), and the fsyncs of groups that pile up are one.
This is as durable as synchronous=FULL: an acknowledged commit's WAL frames are on the disk; a checkpoint
syncs the WAL before it copies frames into the database file and that file after, so a WAL the checkpoint
emptied held nothing that was not already safe.
A group that runs past INLINE_SLICE on the loop hands its remaining units to the writer thread, and so does
a group that finds the database locked by another process (the admin command), which the thread waits
out; the writer thread also runs the checkpoints.
Readers are threads with their own connections, or (readers=0) connections of the loop's thread,
reading consistent snapshots beside the writer (WAL mode).

Other processes (the admin command while a node runs) open the same file; `busy_timeout` makes them wait
for each other's locks instead of failing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from polyport.store.sql import (
    Conflict,
    Mode,
    Op,
    StoreError,
    Unavailable,
    Unit,
    UnitRun,
    unit_of,
)

T = TypeVar("T")

# Inline reads (readers=0) give the loop to other tasks after this much reading in a row.
INLINE_SLICE = 0.005
# Most units committed together in one transaction (and one fsync).
MAX_GROUP = 256
# Commits between two checkpoints of the WAL into the database. SQLite's own (every 1,000 pages) would run
# inside whichever COMMIT passes the mark, one on the loop's thread included: the writer thread runs them.
CHECKPOINT_EVERY = 200


def _execute(conn: sqlite3.Connection, op: Op) -> Any:
    cursor = conn.execute(op.statement.sql, op.params)
    if op.mode is Mode.RUN:
        rows = cursor.fetchall()  # finishes RETURNING statements too
        return cursor.rowcount if cursor.rowcount >= 0 else len(rows)
    rows = cursor.fetchall()
    if op.mode is Mode.ALL:
        return rows
    if not rows:
        return None
    return rows[0] if op.mode is Mode.ONE else rows[0][0]


def _run_unit(conn: sqlite3.Connection, job: _Job, run: UnitRun | None = None,
              deadline: float | None = None) -> UnitRun | None:
    """One unit of a group, inside a savepoint of the group's transaction: its result or error on the
    job; a unit that fails is rolled back alone. With a `deadline` (perf_counter), a unit still running
    when it passes is left there: its UnitRun is returned, for `_run_unit(conn, job, run)` to go on with
    (on the writer thread: a delivery to hundreds of accounts must not hold the loop). None when done."""
    if run is None:
        conn.execute("SAVEPOINT unit")
        run = UnitRun(job.unit)
    failed = True
    try:
        while (op := run.next()) is not None:
            try:
                run.result_of(_execute(conn, op))
            except sqlite3.Error as err:
                run.error_of(_store_error(err))
            if deadline is not None and time.perf_counter() >= deadline:
                return run
        job.result, failed = run.result, run.failed
    except BaseException as err:  # the caller gets it; the other units go on
        job.error = err
    if failed:
        if not conn.in_transaction:
            # SQLite itself rolled back the whole transaction (a full disk, an I/O error).
            raise StoreError(f"the transaction was rolled back by SQLite ({job.error}); try again")
        conn.execute("ROLLBACK TO unit")  # this unit's writes go; the others' stay
    conn.execute("RELEASE unit")
    return None


def _fail_group(conn: sqlite3.Connection, batch: list[_Job], err: BaseException) -> None:
    """A failure outside the units (disk full, I/O error, a bug) fails the whole group, rolled back."""
    failure = _store_error(err) if isinstance(err, sqlite3.Error) else StoreError(f"the SQLite writer failed: {err!r}")
    for job in batch:
        job.unit.close()
        job.result, job.error = None, job.error or failure
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _store_error(err: sqlite3.Error) -> StoreError:
    if isinstance(err, sqlite3.IntegrityError):
        return Conflict(str(err))
    text = str(err)
    if "locked" in text or "busy" in text:
        return StoreError(f"the SQLite store is locked by another process ({text}); try again")
    return StoreError(f"SQLite: {text}")


def drive(conn: sqlite3.Connection, unit: Unit[Any]) -> UnitRun:
    """Run a unit of work to completion on `conn` (inside whatever transaction the caller opened)."""
    run = UnitRun(unit)
    while (op := run.next()) is not None:
        try:
            run.result_of(_execute(conn, op))
        except sqlite3.Error as err:
            run.error_of(_store_error(err))
    return run


@dataclass
class _Job:
    unit: Unit[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    durable: bool = True  # see RecordStore.write
    result: Any = None
    error: BaseException | None = field(default=None)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue  # the caller was cancelled; the work itself stands
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


def _deliver(jobs: list[_Job]) -> None:
    """Hand results back to their event loops: one wake-up per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is gone; nobody is waiting
            loop.call_soon_threadsafe(_settle, batch)


def _take(jobs: queue.SimpleQueue[_Job | None], first: _Job) -> tuple[list[_Job], bool]:
    """`first` and whatever else is waiting (up to MAX_GROUP); True if a stop request was among them."""
    batch = [first]
    while len(batch) < MAX_GROUP:
        try:
            more = jobs.get_nowait()
        except queue.Empty:
            break
        if more is _STOP:
            return batch, True
        batch.append(more)
    return batch, False


_STOP = None


@dataclass
class _Commit:
    """A group for the writer thread to finish: begun on the loop's thread (then `rest` holds the units the
    loop left it, in the same transaction), or not begun (the loop found the database locked, or the jobs
    came from another loop). The thread commits, answers every job of `batch`, then `done` runs on the
    loop."""
    batch: list[_Job]
    rest: list[_Job]
    done: Callable[[], None] | None  # None: a group of plain jobs (another loop's), nothing to tell
    unfinished: tuple[_Job, UnitRun] | None = None  # a unit the loop began and left (_run_unit's deadline)


class SqliteStore:
    dialect = "sqlite"

    def __init__(self, path: Path, *, readers: int = 2, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._reader_count = readers
        self._busy_ms = int(busy_timeout * 1000)
        self._writes: queue.SimpleQueue[_Job | _Commit | None] = queue.SimpleQueue()
        # The writing connection, shared by the loop's thread (a group's statements) and the writer thread
        # (its COMMIT), never at once: the loop touches it only while no group is committing.
        self._writer: sqlite3.Connection | None = None
        self._writer_thread = threading.Thread()  # the writer thread, once open() has started it
        # Held by whoever uses the writing connection: a group from the loop's _flush until the writer
        # thread has committed it (so released by that thread), or a group the thread runs whole.
        self._connection = threading.Lock()
        # Between processes (a node's workers, the admin command): flock on a file beside the database,
        # held from BEGIN IMMEDIATE to the COMMIT. SQLite's own lock is only tried, and a process that finds
        # it taken sleeps and tries again (1, 2, 5, 10... ms): writes of two busy workers waited for
        # those sleeps, where a blocked flock wakes its waiter the moment the holder lets go.
        self._process_lock = -1
        self._flocked = False  # held by this process (whoever holds _connection took it)
        self._write_loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Job] = []  # asked for while a group committed: the next group
        self._committing = False
        self._flush_scheduled = False
        self._since_checkpoint = 0  # commits since the last checkpoint (changed by whoever holds _connection)
        # A checkpoint ran and no COMMIT since: the next may restart the WAL, which SQLite fsyncs even with
        # synchronous=NORMAL, so that COMMIT goes to the writer thread, off the loop.
        self._checkpointed = False
        # Set when an fsync of the WAL failed: nothing said about the disk can be trusted any more (Linux marks
        # the failed pages clean, and a later fsync would "succeed"), so every write fails until a restart.
        self._broken: StoreError | None = None
        self._reads: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Committed groups' durable jobs, to be answered once the WAL is fsynced (the syncer thread).
        self._syncs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._syncer_thread = threading.Thread()  # once open() has started it
        self._threads: list[threading.Thread] = []
        self._closed = False
        # readers == 0: reads run on the caller's thread (the event loop's), each thread with a read
        # connection of its own. A read from SQLite's page cache takes microseconds; handing it to a
        # thread and back (queue, GIL, loop wake-up) costs more than that.
        self._local = threading.local()
        self._inline_connections: list[sqlite3.Connection] = []
        self._inline_lock = threading.Lock()
        self._inline_busy = 0.0  # seconds read inline since the loop last ran something else

    # -- life cycle --

    def _connect(self, *, writer: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               cached_statements=512)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        if writer:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL mode (got {mode})")
        if writer:
            # Its commits are not fsynced by SQLite: the syncer thread fsyncs the WAL for the durable ones,
            # off the writing connection (the module's docstring).
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if not writer:
            conn.execute("PRAGMA query_only = ON")
        return conn

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise Unavailable(f"cannot create the folder of the SQLite store {self.path}: "
                              f"{err.strerror}; check --data") from None
        # Open the writer first, here, so a bad file is reported before any thread starts.
        try:
            writer = self._connect(writer=True)
            writer.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as err:
            raise Unavailable(f"cannot open the SQLite store {self.path}: {err}; "
                              f"check the file or restore it from a backup") from None
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # the writer thread checkpoints (CHECKPOINT_EVERY)
        try:
            # The WAL exists from the first read in WAL mode, and stays while the writer is open.
            wal = os.open(f"{self.path}-wal", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            writer.close()
            raise Unavailable(f"cannot open the WAL of the SQLite store {self.path}-wal: {err.strerror}") from None
        try:
            self._process_lock = os.open(f"{self.path}-writer", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                                         0o600)
        except OSError as err:
            writer.close()
            os.close(wal)
            raise Unavailable(f"cannot open the writers' lock of the SQLite store {self.path}-writer: "
                              f"{err.strerror}") from None
        self._writer = writer
        self._syncer_thread = self._start_thread(f"sqlite-syncer:{self.path.name}", self._syncer_main, wal)
        self._writer_thread = self._start_thread(f"sqlite-writer:{self.path.name}", self._writer_main, writer)
        for index in range(self._reader_count):
            self._start_thread(f"sqlite-reader-{index}:{self.path.name}", self._reader_main,
                               self._connect(writer=False))

    def _start_thread(self, name: str, target: Callable[[Any], None], arg: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=(arg,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while self._pending or self._committing:  # what was asked for is committed and answered
            if not self._flush_scheduled and not self._committing:
                self._flush()
            await asyncio.sleep(0.001)
        # Readers first, the writer last: its connection, the last one open, checkpoints the WAL into the
        # database file as it closes (a stopped node's folder is whole in its .db file).
        for _ in range(self._reader_count):
            self._reads.put(_STOP)
        threads, self._threads = self._threads, []
        with self._inline_lock:
            inline, self._inline_connections = self._inline_connections, []
        for conn in inline:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

        def join(which: list[threading.Thread]) -> None:
            for thread in which:
                thread.join()

        last = (self._writer_thread, self._syncer_thread)
        await asyncio.to_thread(join, [thread for thread in threads if thread not in last])
        if self._writer_thread in threads:  # opened
            self._writes.put(_STOP)
            await asyncio.to_thread(self._writer_thread.join)
        if self._syncer_thread in threads:  # after the writer, which may hand it a group as it stops
            self._syncs.put(_STOP)
            await asyncio.to_thread(self._syncer_thread.join)
        if self._process_lock >= 0:
            os.close(self._process_lock)
            self._process_lock = -1

    # -- units of work --

    def _check_usable(self, unit: Unit[Any], *, writing: bool) -> None:
        """Refuse `unit` (closed unrun) when the store cannot take it: closed, a thread of it gone, or, for
        writes, a failed fsync behind it (`_broken`)."""
        if self._closed or not self._threads:
            failure = StoreError("the store is closed")
        elif writing and self._broken is not None:
            failure = self._broken
        elif not all(thread.is_alive() for thread in self._threads):
            failure = StoreError("the SQLite store's threads stopped (the log says why); restart the node")
        else:
            return
        unit.close()
        raise failure

    async def write(self, unit: Unit[T], *, durable: bool = True) -> T:
        self._check_usable(unit, writing=True)
        loop = asyncio.get_running_loop()
        if self._write_loop is None:
            self._write_loop = loop
        if loop is not self._write_loop:  # another loop's thread: the writer thread runs it whole
            return await self._submit(self._writes, unit, durable=durable)
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Job(unit, future, loop, durable))
        if not self._committing and not self._flush_scheduled:
            # Nothing is committing: this unit goes at once. Under load a group is nearly always committing,
            # and what is asked for meanwhile waits in `_pending` to go as the next group.
            self._flush()
        return await future

    def _flush(self) -> None:
        """The next group on the loop's thread: its units' statements and its COMMIT here; what is left
        after INLINE_SLICE, and the COMMIT after a checkpoint, on the writer thread."""
        self._flush_scheduled = False
        if self._committing or not self._pending:
            return
        if not self._connection.acquire(blocking=False):
            # The writer thread runs a group of another loop's (rare): try again in a moment.
            self._flush_scheduled = True
            assert self._write_loop is not None
            self._write_loop.call_later(0.001, self._flush)
            return
        batch, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
        conn = self._writer
        assert conn is not None
        self._committing = True
        commit = _Commit(batch, batch, self._committed)
        try:
            # Without waiting: another process's lock (a worker's, the admin command's) is waited out on
            # the thread.
            fcntl.flock(self._process_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._writes.put(commit)  # the thread begins it (waiting for the lock), runs it all, commits
            return
        self._flocked = True
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        except sqlite3.Error:
            self._unlock_processes()
            self._writes.put(commit)
            return
        deadline = time.perf_counter() + INLINE_SLICE
        try:
            for index, job in enumerate(batch):
                if time.perf_counter() >= deadline:
                    commit.rest = batch[index:]
                    break
                unfinished = _run_unit(conn, job, deadline=deadline)
                if unfinished is not None:
                    commit.unfinished, commit.rest = (job, unfinished), batch[index + 1:]
                    break
            else:
                commit.rest = []
        except BaseException as err:  # the transaction is lost (SQLite rolled it back): none of it stands
            _fail_group(conn, batch, err)
            self._answer_here(batch)
            return
        if (not commit.rest and commit.unfinished is None and self._since_checkpoint < CHECKPOINT_EVERY
                and not self._checkpointed):
            # The COMMIT only writes the WAL (synchronous=NORMAL), here, without the two hand-overs to the
            # writer thread and back (flag changes waited on them more than on SQLite); the syncer answers
            # the durable units once the WAL is fsynced.
            try:
                conn.execute("COMMIT")
                self._since_checkpoint += 1
            except BaseException as err:
                _fail_group(conn, batch, err)
            self._answer_here(batch)
            return
        self._writes.put(commit)

    def _lock_processes(self) -> None:
        """On the writer thread: the writers' flock, waiting for another process up to busy_timeout (as
        SQLite's own lock would), in steps of 50 us growing to 1 ms: a holder lets go within a group's
        commit, and a process that is stopped or stuck must not hold every other writer for ever."""
        deadline = time.monotonic() + self._busy_ms / 1000
        pause = 0.00005
        while True:
            try:
                fcntl.flock(self._process_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked (another process holds the "
                                                   "writers' lock)") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
                continue
            self._flocked = True
            return

    def _unlock_processes(self) -> None:
        self._flocked = False
        with contextlib.suppress(OSError):
            fcntl.flock(self._process_lock, fcntl.LOCK_UN)

    def _answer_here(self, batch: list[_Job]) -> None:
        """A group ended on the loop's thread: the connection released, its callers answered (the durable
        ones once the syncer has fsynced the WAL), the next."""
        self._unlock_processes()
        self._connection.release()
        _settle(self._to_sync(batch))
        self._committed()

    def _to_sync(self, batch: list[_Job]) -> list[_Job]:
        """After a group's COMMIT: its durable units that succeeded go to the syncer; the others are
        returned, to be answered at once (nothing of theirs needs the fsync)."""
        durable = [job for job in batch if job.durable and job.error is None]
        if not durable:
            return batch
        self._syncs.put(durable)
        return [job for job in batch if not job.durable or job.error is not None]

    def _committed(self) -> None:
        """On the loop, once a group is committed and answered: the next one, if anything waits."""
        self._committing = False
        if self._pending and not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._write_loop is not None
            self._write_loop.call_soon(self._flush)

    async def read(self, unit: Unit[T]) -> T:
        if self._reader_count == 0:
            result = self._read_inline(unit)
            await self._share_the_loop()
            return result
        return await self._submit(self._reads, unit)

    async def _share_the_loop(self) -> None:
        """After INLINE_SLICE seconds of reading on the loop without a pause, let other sessions run: a
        long scan (SEARCH over a large mailbox) reads in many units, and must not hold the loop between
        them."""
        if self._inline_busy >= INLINE_SLICE:
            self._inline_busy = 0.0
            await asyncio.sleep(0)

    def _read_inline(self, unit: Unit[T], *, snapshot: bool = True) -> T:
        if self._closed or not self._threads:
            unit.close()
            raise StoreError("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect(writer=False)
            except sqlite3.Error as err:
                unit.close()
                raise _store_error(err) from None
            self._local.conn = conn
            with self._inline_lock:
                self._inline_connections.append(conn)
        started = time.perf_counter()
        if not snapshot:  # one statement (fetch): autocommit gives it its own snapshot; no BEGIN/COMMIT
            try:
                return cast(T, drive(conn, unit).result)
            finally:
                self._inline_busy += time.perf_counter() - started
        try:
            conn.execute("BEGIN")  # one snapshot for every statement of the unit
        except sqlite3.Error as err:
            unit.close()
            raise _store_error(err) from None
        try:
            return cast(T, drive(conn, unit).result)
        finally:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")  # never leave this thread's connection inside a transaction
            self._inline_busy += time.perf_counter() - started

    async def fetch(self, op: Op) -> Any:
        if self._reader_count == 0:
            result = self._read_inline(unit_of(op), snapshot=False)
            await self._share_the_loop()
            return result
        return await self._submit(self._reads, unit_of(op))

    async def _submit(self, jobs: queue.SimpleQueue[Any], unit: Unit[T], *, durable: bool = True) -> T:
        self._check_usable(unit, writing=jobs is self._writes)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        jobs.put(_Job(unit, future, loop, durable))
        return await future

    # -- threads --

    def _writer_main(self, conn: sqlite3.Connection) -> None:
        backlog: collections.deque[_Job | _Commit | None] = collections.deque()  # taken, not run yet

        def next_item() -> _Job | _Commit | None:
            return backlog.popleft() if backlog else self._writes.get()

        while (job := next_item()) is not _STOP:
            if isinstance(job, _Commit):
                self._finish_group(conn, job)  # the loop holds the connection for it
                continue
            batch = [job]  # and the other plain jobs waiting: one group
            while len(batch) < MAX_GROUP:
                try:
                    more = backlog.popleft() if backlog else self._writes.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(more, _Job):
                    backlog.appendleft(more)
                    break
                batch.append(more)
            # The loop may hold the connection for a group of its own, whose _Commit is on its way (or
            # taken already): that one first, never waiting for the connection while it waits in the queue.
            while not self._connection.acquire(blocking=False):
                begun = next((item for item in backlog if isinstance(item, _Commit)), None)
                if begun is not None:
                    backlog.remove(begun)
                else:
                    item = self._writes.get()
                    if not isinstance(item, _Commit):
                        backlog.append(item)
                        continue
                    begun = item
                self._finish_group(conn, begun)
            self._finish_group(conn, _Commit(batch, batch, None))
        with contextlib.suppress(sqlite3.Error):  # another process may hold it open: then it waits for later
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def _finish_group(self, conn: sqlite3.Connection, commit: _Commit) -> None:
        """A group, holding the connection: its remaining units, the COMMIT, the answers, the connection
        released, then the loop told. A failure outside the units (disk full, I/O error, a bug) fails the
        whole group, never the thread."""
        answer = commit.batch
        try:
            if not self._flocked:
                self._lock_processes()  # the other workers'
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for another process's lock
            if commit.unfinished is not None:
                _run_unit(conn, *commit.unfinished)
            for job in commit.rest:
                _run_unit(conn, job)
            conn.execute("COMMIT")
            self._checkpointed = False  # whatever restart of the WAL was due has happened, here
            answer = self._to_sync(commit.batch)
        except BaseException as err:
            _fail_group(conn, commit.batch, err)
        finally:
            _deliver(answer)
            self._checkpoint_if_due(conn)
            self._unlock_processes()
            self._connection.release()
            if commit.done is not None:
                with contextlib.suppress(RuntimeError):  # the loop is gone
                    commit.batch[0].loop.call_soon_threadsafe(commit.done)

    def _checkpoint_if_due(self, conn: sqlite3.Connection) -> None:
        """On the writer thread, holding the connection, after a commit: the WAL into the database every
        CHECKPOINT_EVERY commits (PASSIVE: it never waits for readers; what they still use waits for the
        next one)."""
        self._since_checkpoint += 1
        if self._since_checkpoint < CHECKPOINT_EVERY:
            return
        self._since_checkpoint = 0
        with contextlib.suppress(sqlite3.Error):  # a failed checkpoint loses nothing; the next one tries again
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._checkpointed = True

    def _syncer_main(self, wal: int) -> None:
        """Answer durable jobs once their commits are on the disk: one fdatasync of the WAL for every group
        waiting (those committed while the last one ran are covered together)."""
        stopping = False
        try:
            while not stopping:
                first = self._syncs.get()
                if first is _STOP:
                    break
                batch = list(first)
                while True:
                    try:
                        more = self._syncs.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stopping = True
                        break
                    batch += more
                try:
                    if self._broken is None:
                        os.fdatasync(wal)
                except OSError as err:
                    # Committed, and visible, but perhaps not on the disk: the callers are told it failed, and
                    # so is every write after it (the store's `_broken`), as PostgreSQL stops on a failed fsync.
                    self._broken = StoreError(f"cannot sync the WAL of the SQLite store to the disk "
                                              f"({err.strerror}); check the disk and restart the node")
                if self._broken is not None:
                    for job in batch:
                        job.result, job.error = None, self._broken
                _deliver(batch)
        finally:
            os.close(wal)

    def _reader_main(self, conn: sqlite3.Connection) -> None:
        stopping = False
        while not stopping:
            job = self._reads.get()
            if job is _STOP:
                break
            # Every unit waiting is read in one snapshot: each was asked for before it began.
            batch, stopping = _take(self._reads, job)
            try:
                conn.execute("BEGIN")
            except sqlite3.Error as err:
                for job in batch:
                    job.unit.close()
                    job.error = _store_error(err)
                _deliver(batch)
                continue
            for job in batch:
                try:
                    job.result = drive(conn, job.unit).result
                except BaseException as err:
                    job.error = err
            with contextlib.suppress(sqlite3.Error):
                conn.execute("COMMIT")
            _deliver(batch)
        conn.close()
