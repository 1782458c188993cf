"""The message archive (XEP-0313): each account's one-to-one messages, both ways, in the record store (table
xmpp_archive, migration 0015); and, as a second archive of the same kind, each persistent room's messages
(table xmpp_room_archive, migration 0017), in the order the server handled them, each with the id the server gave it
(the `stanza-id` its recipients see, XEP-0359; ids sort in the archive's order) and an expiry from the
account's ChatHistoryDays.

Writes are gathered: a message's entries (the sender's copy and the recipient's) join the next batch, which
one unit of work stores; `flush` waits for what was added before it. Queries page by id: `after` and
`before` name ids (XEP-0059 result set management), at most MAX_PAGE results a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from polyport import log, metrics
from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_PAGE = 250
DEFAULT_PAGE = 50
MAX_MESSAGE = 64 * 1024  # a message larger than this is not archived
BATCH = 2000  # entries one unit of work stores at most
GATHER_SECONDS = 0.1  # how long a batch gathers entries before it is written (unless someone waits)
OTHERS_MARGIN = 0.1  # and for another worker's batch to be written
MAX_PENDING = 20_000  # entries waiting for the store past which those who add wait

ROWS_PER_INSERT = 50  # one INSERT statement stores up to this many entries
COLUMNS = ("id", "with_jid", "stamp", "expires", "stanza")
# The archives: each account's (its one-to-one messages) and each persistent room's (XEP-0045 rooms).
ACCOUNTS = ("xmpp_archive", "account_id")
ROOMS = ("xmpp_room_archive", "room_id")


class ArchiveItemNotFound(ServiceError):
    """A query named an id (`after`, `before`) the account's archive does not hold (XEP-0313 7.1)."""


@dataclass(frozen=True, slots=True)
class Entry:
    account_id: int  # the archive's owner: an account, or a room in a room archive
    id: str
    with_jid: str  # the other party's bare JID
    stamp: int  # milliseconds since the epoch
    expires: int  # milliseconds since the epoch
    stanza: str


@dataclass(frozen=True, slots=True)
class Archived:
    id: str
    with_jid: str
    stamp: int
    stanza: str


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Archived]
    complete: bool  # nothing further in the direction paged


# Archive ids sort as the archive is ordered: the time in milliseconds (12 hex digits), this process's
# random prefix and a counter (6 hex digits, wrapping). Unique without a query, and without a system call
# for each message as a random id would cost; paging compares them, so one index serves order and lookup.
_PREFIX = secrets.token_hex(3)
_COUNTER = itertools.count(1)


def new_id(stamp: int | None = None) -> str:
    moment = int(time.time() * 1000) if stamp is None else stamp
    return f"{moment:012x}{_PREFIX}{next(_COUNTER) % 0x1000000:06x}"


@functools.cache
def _insert(table: str, owner: str, rows: int) -> Statement:
    columns = (owner, *COLUMNS)
    values = ", ".join("(" + ", ".join(f":{column}{n}" for column in ("owner", *COLUMNS)) + ")" for n in range(rows))
    return Statement(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")  # noqa: S608 (names only)


class MessageArchive:
    def __init__(self, records: RecordStore, clock: Callable[[], float] = time.time, *,
                 other_writers: bool = False, kind: tuple[str, str] = ACCOUNTS) -> None:
        self.records = records
        # The table and its owner column: this module's own names (ACCOUNTS, ROOMS), never a caller's text.
        self.table, self.owner = kind
        self._held = Statement(f"SELECT 1 FROM {self.table} WHERE {self.owner} = :account_id AND id = :id")  # noqa: S608
        self._expire = Statement(f"DELETE FROM {self.table} WHERE expires < :now")  # noqa: S608
        self._forget = Statement(f"DELETE FROM {self.table} WHERE {self.owner} = :account_id")  # noqa: S608
        self._clock = clock
        # Other processes (a node's other workers) write their clients' messages to the same archives, each
        # gathering for GATHER_SECONDS: a query waits that long (and a little) to see what they just handled.
        self.other_writers = other_writers
        self._pending: list[Entry] = []
        self._writing: asyncio.Task[None] | None = None
        self._added = 0  # entries added, and entries whose batch is done (stored, or failed and logged)
        self._done = 0
        self._progress = asyncio.Event()  # set (and replaced) as each batch is done
        self._flushers = 0  # callers waiting in flush: the writer does not gather meanwhile
        self._wake = asyncio.Event()  # ends the writer's gathering pause
        self._log = log.get(service="archive")

    def entry(self, account_id: int, with_jid: str, stanza: str, days: int, archive_id: str | None = None) -> Entry:
        stamp = int(self._clock() * 1000)
        return Entry(account_id, archive_id or new_id(stamp), with_jid, stamp, stamp + days * 86_400_000, stanza)

    async def add(self, entry: Entry) -> None:
        """Keep an entry: it joins the batch being gathered (stored within GATHER_SECONDS or so). Where the
        store falls behind by MAX_PENDING entries, the caller waits for a batch (senders slow down, rather
        than memory growing without bound)."""
        if len(entry.stanza.encode()) > MAX_MESSAGE:
            return
        self._pending.append(entry)
        self._added += 1
        self._start_writer()
        while len(self._pending) > MAX_PENDING:
            await self._progress.wait()

    def _start_writer(self) -> None:
        if self._pending and (self._writing is None or self._writing.done()):
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._pending:
            if len(self._pending) < BATCH and not self._flushers:
                # Gather for a moment: a transaction's cost is the index pages it touches, so few large
                # ones beat many small ones by far.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), GATHER_SECONDS)
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]

            def unit(batch: list[Entry] = batch) -> Unit[None]:
                for start in range(0, len(batch), ROWS_PER_INSERT):
                    rows = batch[start:start + ROWS_PER_INSERT]
                    params: dict[str, object] = {}
                    for n, entry in enumerate(rows):
                        params.update({f"owner{n}": entry.account_id, f"id{n}": entry.id,
                                       f"with_jid{n}": entry.with_jid,
                                       f"stamp{n}": entry.stamp, f"expires{n}": entry.expires,
                                       f"stanza{n}": entry.stanza})
                    yield _insert(self.table, self.owner, len(rows)).run(**params)

            try:
                await self.records.write(unit())
                metrics.xmpp_archived.inc(len(batch))
            except Exception:  # the messages were delivered: only their archived copies are lost, and said so
                self._log.exception("archive.write_failed", entries=len(batch))
            finally:
                self._done += len(batch)
                progress, self._progress = self._progress, asyncio.Event()
                progress.set()

    async def flush(self) -> None:
        """Wait until what was added before the call is stored (without the gathering pause)."""
        target = self._added
        self._flushers += 1
        self._wake.set()
        try:
            while self._done < target:
                self._start_writer()
                await self._progress.wait()
        finally:
            self._flushers -= 1

    async def query(self, account_id: int, *, with_jid: str | None = None, start: int | None = None,
                    end: int | None = None, after: str | None = None, before: str | None = None,
                    limit: int = DEFAULT_PAGE, last_page: bool = False) -> Page:
        """A page of the account's archive, oldest first. Paging backwards (`before`, or `last_page`: the
        newest `limit`) still returns the page oldest first."""
        if self.other_writers:
            await asyncio.sleep(GATHER_SECONDS + OTHERS_MARGIN)
        await self.flush()
        limit = max(0, min(limit, MAX_PAGE))
        conditions = [f"{self.owner} = :account_id"]
        params: dict[str, object] = {"account_id": account_id, "limit": limit + 1}
        if with_jid is not None:
            conditions.append("with_jid = :with_jid")  # read in the account's order: no index by contact
            params["with_jid"] = with_jid
        if start is not None:
            conditions.append("stamp >= :start")
            params["start"] = start
        if end is not None:
            conditions.append("stamp <= :end")
            params["end"] = end
        backwards = before is not None or last_page

        def unit() -> Unit[Page]:
            for name, value, operator in (("after", after, ">"), ("before", before, "<")):
                if value:
                    held = yield self._held.value(account_id=account_id, id=value)
                    if held is None:
                        raise ArchiveItemNotFound(f"no archived message {value!r}")
                    conditions.append(f"id {operator} :{name}_id")
                    params[f"{name}_id"] = value
            order = "DESC" if backwards else "ASC"
            # The conditions are this function's own fixed texts; every value goes in as a parameter.
            statement = Statement(f"SELECT id, with_jid, stamp, stanza FROM {self.table} WHERE "  # noqa: S608
                                  f"{' AND '.join(conditions)} ORDER BY id {order} LIMIT :limit")
            rows = yield statement.all(**params)
            items = [Archived(str(r["id"]), str(r["with_jid"]), int(r["stamp"]), str(r["stanza"])) for r in rows]
            complete = len(items) <= limit
            items = items[:limit]
            if backwards:
                items.reverse()
            return Page(items, complete)

        return await self.records.read(unit())

    async def expire(self) -> int:
        """Forget what is past its expiry; how many entries went."""
        await self.flush()
        now = int(self._clock() * 1000)

        def unit() -> Unit[int]:
            gone = yield self._expire.run(now=now)
            return int(gone or 0)

        return await self.records.write(unit())

    async def forget(self, account_id: int) -> None:
        """Forget an account's whole archive (the user asked, or an administrator)."""
        await self.flush()

        def unit() -> Unit[None]:
            yield self._forget.run(account_id=account_id)

        await self.records.write(unit())
