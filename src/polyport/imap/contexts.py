"""Searching commands whose results are kept up to date (RFC 5267 section 4: CONTEXT=SEARCH, CONTEXT=SORT).

A SEARCH or SORT with RETURN (UPDATE) leaves a context behind in the selected mailbox (`Selected.contexts`):
its query and its result, as UIDs (SEARCH, in mailbox order) or as UIDs with their sort keys (SORT, in sort
order). As the mailbox changes the session tells the client how the result changes, in ESEARCH responses
carrying the command's tag: `ADDTO (position set)` and `REMOVEFROM (position set)` (4.3.3, 4.3.4), UIDs
after UID SEARCH/SORT and message numbers otherwise. SEARCH's position is 0 and its sets are in mailbox
order; SORT's are positions in the sorted result, each pair applied in turn, so a client keeps the order
(4.3.2).

When they are sent, with the session's other news (session.py `updates`: at a command's end, in IDLE,
between commands under NOTIFY):
- an expunge: REMOVEFROM just before the EXPUNGE (or VANISHED) itself, with the numbers still valid
  (4.3.4), and so never while expunges are held back (FETCH, STORE, SEARCH; SELECTED-DELAYED);
- a new message, or a change (flags, keywords) that makes a message match or stop matching: after the
  catch-up's EXISTS and FETCH, once the messages touched have been matched again (`refresh`).
A message is only matched again when it changed; the query is never run over the mailbox again.

The query is frozen when the context is made: message numbers, "$" and "*" are turned into the UIDs they
named then (4.3: sequence numbers are evaluated when the command is received). OLDER and YOUNGER are
evaluated again only when a message changes, not as time passes.

Limits (RFC 5267 section 6; docs/hardening.md: nothing holds the loop):
- MAX_CONTEXTS contexts per selection; one more is refused `* NO [NOUPDATE "tag"]` (4.3.1), its command
  answered all the same. A SORT context keeps at most MAX_SORTED results (each with its sort keys).
- Matching the messages touched costs each context at most REFRESH_WORK (search.py's measure of work),
  read REFRESH_BATCH records at a time with turns of the loop; a context over it, or a SORT one grown
  past MAX_SORTED, is dropped with an untagged `* NO [NOUPDATE "tag"]`, and updates for it stop.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from polyport.imap import fetch as rendering
from polyport.imap import responses, search, wire
from polyport.imap.wire.sequence import SequenceSet
from polyport.mailstore import Mailstore, MessageMeta
from polyport.store.blobs import BlobError

if TYPE_CHECKING:
    from polyport.imap.selected import Selected

MAX_CONTEXTS = 10  # updating contexts one selection keeps (RFC 5267 4.3.1: at least one)
MAX_SORTED = 100_000  # results a SORT context keeps, each with its sort keys
REFRESH_WORK = search.MAX_WORK // MAX_CONTEXTS  # one context's matching at one catch-up: all of them, one SEARCH's
REFRESH_BATCH = 500  # records read at once when matching again
# Return options that ask for no result data: UPDATE's result is its updates, CONTEXT is a hint (4.2).
NO_RESULT_OPTIONS = frozenset({"UPDATE", "CONTEXT"})


class _Order:
    """A SORT result's place: the criteria in order, each ascending or REVERSE, then the UID (RFC 5256
    section 3: ties go by UID), as search.sort orders them."""

    __slots__ = ("keys", "reverse", "uid")

    def __init__(self, uid: int, keys: tuple[Any, ...], reverse: tuple[bool, ...]) -> None:
        self.uid = uid
        self.keys = keys
        self.reverse = reverse

    def __lt__(self, other: _Order) -> bool:
        for mine, theirs, reverse in zip(self.keys, other.keys, self.reverse, strict=True):
            if mine != theirs:
                return bool(theirs < mine) if reverse else bool(mine < theirs)
        return self.uid < other.uid


class Context:
    """One updating context: the searching command's tag and frozen query, and its result now."""

    def __init__(self, tag: str, uid: bool, query: wire.SearchKey,
                 criteria: tuple[wire.SortCriterion, ...] | None) -> None:
        self.tag = tag
        self.uid = uid
        self.query = query
        self.criteria = criteria  # None for SEARCH
        self.uids = array("I")  # SEARCH: the result, ascending
        self.order: list[int] = []  # SORT: the result's UIDs in sort order
        self.sort_keys: dict[int, tuple[Any, ...]] = {}  # SORT: each result's keys
        self.reverse = tuple(c.reverse for c in criteria) if criteria else ()
        self.needs_full = criteria is not None or search.needs_full(query)

    @property
    def size(self) -> int:
        return len(self.order) if self.criteria is not None else len(self.uids)

    def __contains__(self, uid: int) -> bool:
        if self.criteria is not None:
            return uid in self.sort_keys
        index = bisect.bisect_left(self.uids, uid)
        return index < len(self.uids) and self.uids[index] == uid

    def _place(self, uid: int) -> _Order:
        return _Order(uid, self.sort_keys[uid], self.reverse)

    def _position(self, uid: int) -> int:
        """The 0-based place of a SORT result."""
        return bisect.bisect_left(self.order, self._place(uid), key=self._place)

    # -- changing the result; each returns its return data items --
    # Results are rebuilt from slices around the places changed: a few bisections and copies, never a sort
    # of the whole result, which can be the whole mailbox.

    def remove(self, gone: Iterable[int], value: Callable[[int], int]) -> bytes:
        """REMOVEFROM for the results among `gone` (none: b""), which leave the result."""
        leaving = sorted(u for u in set(gone) if u in self)
        if not leaving:
            return b""
        if self.criteria is None:
            kept = array("I")
            previous = 0
            for uid in leaving:
                place = bisect.bisect_left(self.uids, uid)
                kept.extend(self.uids[previous:place])
                previous = place + 1
            kept.extend(self.uids[previous:])
            self.uids = kept
            return b"REMOVEFROM (0 " + responses.sequence_set([value(u) for u in leaving]) + b")"
        places = sorted(self._position(u) for u in leaving)
        pairs: list[bytes] = []
        run: list[int] = []
        start = 0
        order: list[int] = []
        previous = 0
        for done, place in enumerate(places):
            if run and place != places[done - 1] + 1:
                pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
                run = []
            if not run:
                start = place - done  # where it is once the removals before it are done
            run.append(value(self.order[place]))
            order += self.order[previous:place]
            previous = place + 1
        pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
        order += self.order[previous:]
        self.order = order
        for uid in leaving:
            del self.sort_keys[uid]
        return b"REMOVEFROM (" + b" ".join(pairs) + b")"

    def add(self, found: Sequence[tuple[int, tuple[Any, ...]]], value: Callable[[int], int]) -> bytes:
        """ADDTO for (UID, sort keys) matches not in the result yet (none: b""), which join it."""
        new = {uid: keys for uid, keys in found if uid not in self}
        if not new:
            return b""
        if self.criteria is None:
            merged = array("I")
            previous = 0
            for uid in sorted(new):
                place = bisect.bisect_left(self.uids, uid)
                merged.extend(self.uids[previous:place])
                merged.append(uid)
                previous = place
            merged.extend(self.uids[previous:])
            self.uids = merged
            return b"ADDTO (0 " + responses.sequence_set([value(u) for u in new]) + b")"
        self.sort_keys.update(new)
        # Added in sort order, each lands at its final place: every result before it is there already.
        old = self.order
        order: list[int] = []
        pairs: list[bytes] = []
        run: list[int] = []
        start = last = -2
        previous = 0
        for added, uid in enumerate(sorted(new, key=self._place)):
            place = bisect.bisect_left(old, self._place(uid), key=self._place)
            order += old[previous:place]
            order.append(uid)
            previous = place
            final = place + added
            if run and final != last + 1:
                pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
                run = []
            if not run:
                start = final
            run.append(value(uid))
            last = final
        pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
        order += old[previous:]
        self.order = order
        return b"ADDTO (" + b" ".join(pairs) + b")"

    def response(self, items: Sequence[bytes]) -> bytes:
        parts = [b'* ESEARCH (TAG "' + self.tag.encode() + b'")']
        if self.uid:
            parts.append(b"UID")
        return b" ".join([*parts, *(item for item in items if item)]) + b"\r\n"


def noupdate(tag: str, why: str) -> bytes:
    """RFC 5267 4.3.1: the untagged NO saying a command's result will not be kept up to date."""
    return b'* NO [NOUPDATE "' + tag.encode() + b'"] ' + why.encode() + b"\r\n"


def freeze(query: wire.SearchKey, selected: Selected) -> wire.SearchKey:
    """The query with its sets as the UIDs they name now (RFC 5267 4.3: message numbers are evaluated when
    the command is received; "$" and "*" likewise): each becomes UID ranges. A run of messages adjacent in
    the mailbox is one range, since no message can ever come between them."""
    if isinstance(query, wire.SearchMessages):
        uids = selected.uids
        ranges: list[tuple[int, int]] = []
        if query.uid:
            ranges += query.sequence.resolve(selected.largest_uid)
        else:
            count = len(uids)
            for low, high in query.sequence.resolve(count):
                if low <= count:
                    ranges.append((uids[low - 1], uids[min(high, count) - 1]))
        if query.sequence.saved:
            numbers = sorted(n for n in map(selected.msn, selected.saved) if n)
            for index, number in enumerate(numbers):
                if index and number == numbers[index - 1] + 1:
                    ranges[-1] = (ranges[-1][0], uids[number - 1])  # the saved run goes on
                else:
                    ranges.append((uids[number - 1], uids[number - 1]))
        return wire.SearchMessages(SequenceSet(tuple(ranges)), uid=True)
    if isinstance(query, wire.SearchAnd):
        return wire.SearchAnd(tuple(freeze(key, selected) for key in query.keys))
    if isinstance(query, wire.SearchOr):
        return wire.SearchOr(freeze(query.left, selected), freeze(query.right, selected))
    if isinstance(query, wire.SearchNot):
        return wire.SearchNot(freeze(query.key, selected))
    return query


class Contexts:
    """The updating contexts of one selection, by tag, and the messages touched since they were matched."""

    def __init__(self) -> None:
        self.live: dict[str, Context] = {}
        self.dirty: set[int] = set()  # UIDs new or changed since the last refresh

    def __contains__(self, tag: str) -> bool:
        return tag in self.live

    def start(self, selected: Selected, tag: str, uid: bool, query: wire.SearchKey,
              criteria: tuple[wire.SortCriterion, ...] | None,
              found: Sequence[tuple[int, tuple[Any, ...]]]) -> bytes:
        """Keep a searching command's result `found` ((UID, sort keys), in its order) up to date; the
        untagged NOUPDATE when that is refused (b"" when not)."""
        if len(self.live) >= MAX_CONTEXTS:
            return noupdate(tag, f"at most {MAX_CONTEXTS} results are kept up to date at once; "
                                 "CANCELUPDATE one first")
        if criteria is not None and len(found) > MAX_SORTED:
            return noupdate(tag, f"a sorted result of more than {MAX_SORTED} messages is not kept up to date")
        context = Context(tag, uid, freeze(query, selected), criteria)
        if criteria is None:
            context.uids = array("I", sorted(u for u, _ in found))
        else:
            context.order = [u for u, _ in found]
            context.sort_keys = dict(found)
        self.live[tag] = context
        return b""

    def cancel(self, tag: str) -> None:
        self.live.pop(tag, None)

    def touched(self, uids: Iterable[int]) -> None:
        if self.live:
            self.dirty.update(uids)

    def expunging(self, selected: Selected, gone: Sequence[int]) -> list[bytes]:
        """REMOVEFROM for messages about to be announced expunged (their numbers still valid)."""
        self.dirty.difference_update(gone)
        out: list[bytes] = []
        for context in self.live.values():
            value = _values(context, selected)
            item = context.remove(gone, value)
            if item:
                out.append(context.response([item]))
        return out

    async def refresh(self, selected: Selected, mailstore: Mailstore, unreadable: search.Unreadable,
                      read: search.Reader) -> list[bytes]:
        """Match the messages touched again; ADDTO and REMOVEFROM for each context whose result changed,
        NOUPDATE for each dropped on its limits."""
        touched = sorted(u for u in self.dirty if selected.msn(u))
        self.dirty.clear()
        if not touched or not self.live:
            return []
        contexts = list(self.live.values())
        full = any(c.needs_full for c in contexts)
        searchers: dict[str, search.Searcher] = {}
        matched: dict[str, list[tuple[int, tuple[Any, ...]]]] = {c.tag: [] for c in contexts}
        skipped: dict[str, set[int]] = {c.tag: set() for c in contexts}  # unreadable: membership kept
        out: list[bytes] = []
        seen: list[int] = []  # touched messages still in the store
        for context in contexts:
            left_out = skipped[context.tag]

            def report(uid: int, err: BlobError, left_out: set[int] = left_out) -> None:
                left_out.add(uid)
                unreadable(uid, err)

            searchers[context.tag] = search.Searcher(
                read, largest_uid=selected.largest_uid, count=selected.exists, saved=(), now=time.time(),
                budget=REFRESH_WORK, unreadable=report, recent=selected.recent)
        for first, last, group in rendering.runs(touched, selected.uids, REFRESH_BATCH):
            wanted = set(group)
            rows: Sequence[MessageMeta]
            rows = await (mailstore.full if full else mailstore.meta)(selected.id, first, last)
            rows = [r for r in rows if r.uid in wanted]
            seen += (r.uid for r in rows)
            for context in contexts:
                if context.tag not in self.live:
                    continue  # dropped at an earlier batch
                searcher = searchers[context.tag]
                candidates = [search.Candidate(selected.msn(r.uid), r) for r in rows]
                try:
                    matched[context.tag] += await searcher.run(context.query, _one(candidates),
                                                               _keeper(context, searcher))
                except search.SearchLimit:
                    self.cancel(context.tag)
                    out.append(noupdate(context.tag, "keeping this result up to date costs too much; "
                                                     "updates stopped"))
            await asyncio.sleep(0)  # reading the records may not have turned the loop
        for context in contexts:
            if context.tag not in self.live:
                continue
            value = _values(context, selected)
            hits = matched[context.tag]
            hit_uids = {uid for uid, _ in hits}
            stopped = [u for u in seen if u not in hit_uids and u not in skipped[context.tag]]
            items = [context.remove(stopped, value), context.add(hits, value)]
            if context.criteria is not None and context.size > MAX_SORTED:
                self.cancel(context.tag)
                out.append(noupdate(context.tag, f"the sorted result grew past {MAX_SORTED} messages; "
                                                 "updates stopped"))
                continue
            if any(items):
                out.append(context.response(items))
        return out


def _keeper(context: Context, searcher: search.Searcher) -> Callable[[search.Candidate], tuple[int, tuple[Any, ...]]]:
    """What a context keeps of a match: its UID, and its sort keys for SORT."""
    if context.criteria is None:
        return lambda c: (c.row.uid, ())
    sortable = search.sortable(context.criteria, searcher)

    def keep(c: search.Candidate) -> tuple[int, tuple[Any, ...]]:
        _number, uid, keys = sortable(c)
        return uid, keys

    return keep


def _values(context: Context, selected: Selected) -> Callable[[int], int]:
    """How a context names a message: its UID, or its message number now."""
    return int if context.uid else selected.msn


async def _one(batch: list[search.Candidate]) -> AsyncIterator[list[search.Candidate]]:
    yield batch
