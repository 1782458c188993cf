"""The message list: sorting, threads, search filters and paging over a mailbox's index (pure).

The index (flags, dates, sizes, thread ids) is in memory (mailstore/index.py); subjects and addresses
come from `Mailstore.summaries` only when a sort, thread view or search needs them, and then for the whole
mailbox. Sorted orders are kept per mailbox and modification sequence, so paging through a
100,000-message INBOX sorts it once.

Every session of a node shares one event loop, so no list may hold it for long (issue 12): `arranging` does
the per-message work in steps of STEP rows, and the webmail lets other tasks run between steps once it has
worked for a few milliseconds; `arrange` runs the same steps without a pause.
"""

from __future__ import annotations

import datetime
import re
from array import array
from collections import OrderedDict
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import TypeVar

from markupsafe import Markup

from polyport.mailstore import MessageMeta, Summary
from polyport.mailstore import flags as fl

T = TypeVar("T")

SORTS = ("date", "from", "subject", "size")
# Rows of a list worked on between two pauses of `arranging`: under a millisecond in its costliest steps (a
# search's matching, subjects' sort values), so a caller pausing by elapsed time overshoots by little.
STEP = 1000
# Possessive: nothing to give back, so a long run of blanks is read once (issue 12: quadratic before).
_REPLY_PREFIX = re.compile(r"^\s*+(?:(?:re|fwd?|aw|sv|vs|tr)\s*+(?:\[\d++\]\s*+)?:\s*+)++", re.IGNORECASE)


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
    name, _, rest = text.rpartition("<")  # the address is the last <...>; a name may hold "<" itself
    return name.strip().strip('"') or rest.rstrip(">").strip()


def _sort_key(row: Row, sort: str) -> tuple[object, int]:
    """What a list is sorted by: a value, then the UID."""
    return (_sort_value(row, sort), row.uid)


def _sort_value(row: Row, sort: str) -> object:
    if sort == "size":
        return row.meta.size
    if sort == "from":
        found = addresses_of(row.summary, "from")
        return display_name(found[0]).casefold() if found else ""
    if sort == "subject":
        return base_subject(row.summary.subject) if row.summary else ""
    return row.meta.internal_date


def _matches(row: Row, query: Query) -> bool:
    meta, summary = row.meta, row.summary
    if query.unread and meta.flags & fl.SEEN:
        return False
    if query.flagged and not meta.flags & fl.FLAGGED:
        return False
    if query.since or query.before:  # only then: a datetime per message is dear on a large mailbox
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


@dataclass(frozen=True, slots=True)
class Order:
    """A list's messages in display order (one UID per row; the newest of each thread in the thread
    view, with the thread's size)."""

    uids: array[int]
    thread_sizes: dict[int, int] | None = None
    _positions: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    def position(self, uid: int) -> int | None:
        """Where a UID is in the list (the reading page's newer/older links): a dict made on first use."""
        if not self._positions and self.uids:
            self._positions.update((u, i) for i, u in enumerate(self.uids))
        return self._positions.get(uid)


def depends_on_flags(query: Query) -> bool:
    return query.unread or query.flagged


def arrange(metas: Sequence[MessageMeta], summaries: dict[int, Summary] | None, query: Query) -> Order:
    """The whole list, filtered and sorted (one row per thread in the thread view), before paging. Body
    text is filtered by the caller, which reads messages. Messages flagged \\Deleted (by an IMAP client)
    are listed, marked, as until they are expunged."""
    return finish(arranging(metas, summaries, query))


def finish(steps: Generator[None, None, T]) -> T:
    """The result of work done in steps (`arranging`), with no pause between them."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def arranging(metas: Sequence[MessageMeta], summaries: dict[int, Summary] | None, query: Query
              ) -> Generator[None, None, Order]:
    """`arrange` in steps: yields after every STEP rows of work, returns the Order. The caller may let
    other tasks run between steps; nothing else sees the rows until the end."""
    if not query.searching and not query.threads and query.sort in ("date", "size"):
        # The common list, straight from the index: no Row per message (a 100,000-message INBOX sorts in
        # a few dozen milliseconds when mail arrives), in one step: a sort cannot be paused.
        # Sorting by one field is stable, so equal values keep UID order (reversed first when descending):
        # the same order as (value, uid), at a fifth of the cost of building those pairs.
        by = attrgetter("internal_date" if query.sort == "date" else "size")
        ordered = sorted(reversed(metas), key=by, reverse=True) if query.descending else sorted(metas, key=by)
        return Order(array("I", map(attrgetter("uid"), ordered)), None)
    rows: list[Row] = []
    for start in range(0, len(metas), STEP):
        made = [Row(m, summaries.get(m.uid) if summaries is not None else None) for m in metas[start:start + STEP]]
        rows.extend([r for r in made if _matches(r, query)] if query.searching else made)
        yield
    sizes: dict[int, int] | None = None
    if query.threads:
        # One row per thread: its newest message, the thread's size beside it.
        newest: dict[int, Row] = {}
        counts: dict[int, int] = {}
        for start in range(0, len(rows), STEP):
            for row in rows[start:start + STEP]:
                key = row.meta.thread_id or -row.uid
                counts[key] = counts.get(key, 0) + 1
                kept = newest.get(key)
                if kept is None or (row.meta.internal_date, row.uid) > (kept.meta.internal_date, kept.uid):
                    newest[key] = row
            yield
        sizes = {row.uid: counts[key] for key, row in newest.items()}
        rows = sorted(newest.values(), key=_uid_of)  # in UID order, as without threads (see below)
        yield
    # The (value, UID) pairs are made in steps (a subject's value costs a regular expression), then sorted
    # in one step by value alone, as the common list is (see above): the rows are in UID order, so equal
    # values keep it, and the order is that of (value, uid) at a third of the cost (50,000 subjects:
    # 4 ms, not 15).
    keys: list[tuple[object, int]] = []
    for start in range(0, len(rows), STEP):
        keys.extend([(_sort_value(r, query.sort), r.meta.uid) for r in rows[start:start + STEP]])
        yield
    if query.descending:
        keys.reverse()
    keys.sort(key=itemgetter(0), reverse=query.descending)
    yield  # reading the UIDs back from pairs scattered by the sort costs as much again
    return Order(array("I", map(itemgetter(1), keys)), sizes)


def _uid_of(row: Row) -> int:
    return row.meta.uid


@dataclass(frozen=True, slots=True)
class RowView:
    """One row of the list as the template shows it, computed once in Python (cheaper than in jinja)."""

    uid: int
    css: str
    who_html: str  # escaped
    subject_html: str  # escaped
    when: str  # our own text: digits and month names
    size: str  # our own text
    thread_size: int


def rows_html(rows: Sequence[RowView], link: str) -> Markup:
    """The list's table rows as HTML. Built here rather than in the template: a 50-row page costs a tenth
    of the jinja loop (which escapes every value it prints, numbers included). `link` is already safe (the
    caller quoted the mailbox name); sender and subject come escaped (RowView)."""
    out = []
    for row in rows:
        count = f' <span class="count">{row.thread_size}</span>' if row.thread_size > 1 else ""
        star = "\u2605" if "flagged" in row.css else ""
        out.append(
            f'<tr class="{row.css}" data-uid="{row.uid}"><td class="check"><input type="checkbox" name="uid" '
            f'value="{row.uid}" aria-label="Select"></td><td class="star">{star}</td><td class="from">'
            f'<a href="{link}{row.uid}">{row.who_html}</a>{count}</td><td class="subject">'
            f'<a href="{link}{row.uid}">{row.subject_html}</a></td><td class="date">{row.when}</td>'
            f'<td class="size">{row.size}</td></tr>\n')
    return Markup("".join(out))  # noqa: S704  (every value above is escaped, or a number, or our own text)


@dataclass(slots=True)
class Page:
    rows: list[RowView]
    number: int  # 1-based
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(order: Order, number: int, size: int) -> tuple[list[int], int, int]:
    """(the page's UIDs, the page number kept in range, the number of pages)."""
    pages = max(1, -(-len(order.uids) // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return list(order.uids[start:start + size]), number, pages


def runs(uids: Sequence[int], gap: int = 64) -> list[tuple[int, int]]:
    """Sorted UIDs grouped into (first, last) ranges, a new range wherever two are more than `gap` apart:
    a page of a list sorted by size reads its 50 messages, not every message between its extremes."""
    out: list[tuple[int, int]] = []
    for uid in sorted(uids):
        if out and uid - out[-1][1] <= gap:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return out


@dataclass
class OrderCache:
    """Sorted lists by (mailbox, its shape or modseq, query): paging, re-reading a list, and flag changes
    (reading a message marks it seen) cost no sort. Bounded by the UIDs held in all (4 bytes each), so
    many different searches cannot fill memory."""

    budget: int = 2_000_000
    held: int = 0
    entries: OrderedDict[tuple[object, ...], Order] = field(default_factory=OrderedDict)

    def get(self, key: tuple[object, ...]) -> Order | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple[object, ...], order: Order) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.held -= len(old.uids)
        self.entries[key] = order
        self.held += len(order.uids)
        while self.held > self.budget and len(self.entries) > 1:
            _, dropped = self.entries.popitem(last=False)
            self.held -= len(dropped.uids)
