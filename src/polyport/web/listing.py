"""The message list: sorting, threads, search filters and paging over a mailbox's index (pure).

The index (flags, dates, sizes, thread ids) is in memory (mailstore/index.py); subjects and addresses
come from `Mailstore.summaries` only when a sort, thread view or search needs them, and then for the whole
mailbox in one read. Sorted orders are kept per mailbox and modification sequence, so paging through a
100,000-message INBOX sorts it once.
"""

from __future__ import annotations

import datetime
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from polyport.mailstore import MessageMeta, Summary
from polyport.mailstore import flags as fl

SORTS = ("date", "from", "subject", "size")
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|vs|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    """What the user asked of a list: sort, direction, threads, and a search."""

    sort: str = "date"
    descending: bool = True
    threads: bool = False
    text: str = ""  # anywhere in from, to, subject (and body when `body` is set)
    from_: str = ""
    to: str = ""
    subject: str = ""
    body: str = ""
    since: datetime.date | None = None
    before: datetime.date | None = None
    unread: bool = False
    flagged: bool = False

    @property
    def searching(self) -> bool:
        return bool(self.text or self.from_ or self.to or self.subject or self.body or self.since or self.before
                    or self.unread or self.flagged)

    @property
    def needs_summaries(self) -> bool:
        return self.sort in ("from", "subject") or self.threads or bool(
            self.text or self.from_ or self.to or self.subject)


@dataclass(slots=True)
class Row:
    meta: MessageMeta
    summary: Summary | None = None
    thread_size: int = 1

    @property
    def uid(self) -> int:
        return self.meta.uid

    @property
    def unread(self) -> bool:
        return not self.meta.flags & fl.SEEN

    @property
    def flagged(self) -> bool:
        return bool(self.meta.flags & fl.FLAGGED)

    @property
    def answered(self) -> bool:
        return bool(self.meta.flags & fl.ANSWERED)

    @property
    def junk(self) -> bool:
        return "$junk" in self.meta.keywords.lower().split()


def base_subject(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject).strip().casefold()


def addresses_of(summary: Summary | None, label: str) -> list[str]:
    """The "label:Name <addr>" lines of a summary, as "Name <addr>" texts."""
    if summary is None:
        return []
    prefix = f"{label}:"
    return [line[len(prefix):] for line in summary.addresses.split("\n") if line.startswith(prefix)]


def display_name(text: str) -> str:
    """"Name <addr>" -> "Name"; "<addr>" -> "addr"."""
    name, _, rest = text.partition("<")
    return name.strip().strip('"') or rest.rstrip(">").strip()


def _sort_key(row: Row, sort: str) -> tuple[object, int]:
    if sort == "size":
        return (row.meta.size, row.uid)
    if sort == "from":
        found = addresses_of(row.summary, "from")
        return (display_name(found[0]).casefold() if found else "", row.uid)
    if sort == "subject":
        return (base_subject(row.summary.subject) if row.summary else "", row.uid)
    return (row.meta.internal_date, row.uid)


def _matches(row: Row, query: Query) -> bool:
    meta, summary = row.meta, row.summary
    if query.unread and meta.flags & fl.SEEN:
        return False
    if query.flagged and not meta.flags & fl.FLAGGED:
        return False
    day = datetime.datetime.fromtimestamp(meta.internal_date, datetime.UTC).date()
    if query.since and day < query.since:
        return False
    if query.before and day >= query.before:
        return False
    if summary is not None:
        addresses = summary.addresses.casefold()
        subject = summary.subject.casefold()
        if query.from_ and not any(query.from_.casefold() in a.casefold() for a in addresses_of(summary, "from")):
            return False
        if query.to and not any(query.to.casefold() in a.casefold()
                                for label in ("to", "cc") for a in addresses_of(summary, label)):
            return False
        if query.subject and query.subject.casefold() not in subject:
            return False
        if query.text and query.text.casefold() not in subject and query.text.casefold() not in addresses:
            return False
    return True


def arrange(metas: Sequence[MessageMeta], summaries: dict[int, Summary] | None, query: Query) -> list[Row]:
    """The rows of the whole list, filtered, sorted (and one per thread in the thread view), before
    paging. Body text is filtered by the caller, which reads messages."""
    rows = [Row(m, summaries.get(m.uid) if summaries is not None else None) for m in metas if not m.flags & fl.DELETED]
    if query.searching:
        rows = [r for r in rows if _matches(r, query)]
    if query.threads:
        # One row per thread: its newest message, the thread's size beside it.
        newest: dict[int, Row] = {}
        sizes: dict[int, int] = {}
        for row in rows:
            key = row.meta.thread_id or -row.uid
            sizes[key] = sizes.get(key, 0) + 1
            kept = newest.get(key)
            if kept is None or (row.meta.internal_date, row.uid) > (kept.meta.internal_date, kept.uid):
                newest[key] = row
        rows = list(newest.values())
        for key, row in newest.items():
            row.thread_size = sizes[key]
    rows.sort(key=lambda r: _sort_key(r, query.sort), reverse=query.descending)
    return rows


@dataclass(slots=True)
class Page:
    rows: list[Row]
    number: int  # 1-based
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(rows: list[Row], number: int, size: int) -> Page:
    pages = max(1, -(-len(rows) // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return Page(rows[start:start + size], number, pages, len(rows))


@dataclass
class OrderCache:
    """Sorted lists by (mailbox, modseq, query): paging and re-reading a list costs no sort."""

    budget: int = 64
    entries: OrderedDict[tuple[object, ...], list[Row]] = field(default_factory=OrderedDict)

    def get(self, key: tuple[object, ...]) -> list[Row] | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple[object, ...], rows: list[Row]) -> None:
        self.entries[key] = rows
        self.entries.move_to_end(key)
        while len(self.entries) > self.budget:
            self.entries.popitem(last=False)
