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

Limits (RFC 5267 section 6; docs/hardening.md: nothing holds the loop, memory is bounded in bytes):
- MAX_CONTEXTS contexts per selection; one more is refused `* NO [NOUPDATE "tag"]` (4.3.1), its command
  answered all the same. So is a result over what is left of the selection's budget: a SORT context
  keeps at most MAX_SORTED results, the selection's contexts at most MAX_RESULTS results together (the
  work of a mass change is linear in them), and MAX_BYTES of memory together, as counted: UID_BYTES a
  SEARCH result, sort_bytes() a SORT one (RESULT_BYTES, plus sys.getsizeof of each key: a SORT result
  with five string keys counts about 500 bytes, so the budget holds some 16,000 of them).
- Matching the messages touched costs each context at most REFRESH_WORK (search.py's measure of work),
  read REFRESH_BATCH records at a time with turns of the loop; a context over it, or grown past any of
  the bounds above, is dropped with an untagged `* NO [NOUPDATE "tag"]`, and updates for it stop.
- Changing results: a few changes are placed by bisection, more in one linear pass over the result (a
  filter of the kept, or one merge through C sorts), never a bisection or sort comparison in Python for
  each of many UIDs; expunging and refreshing turn the loop between contexts (kernel/turns.py) and while
  message numbers are looked up, so a mass expunge seen by ten contexts shares the loop every few ms.
"""

from __future__ import annotations

import asyncio
import bisect
import sys
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from polyport.imap import fetch as rendering
from polyport.imap import responses, search, wire
from polyport.imap.wire.sequence import SequenceSet
from polyport.kernel.turns import Turns
from polyport.mailstore import Mailstore, MessageMeta
from polyport.store.blobs import BlobError

if TYPE_CHECKING:
    from polyport.imap.selected import Selected

MAX_CONTEXTS = 10  # updating contexts one selection keeps (RFC 5267 4.3.1: at least one)
MAX_SORTED = 10_000  # results a SORT context keeps, each with its sort keys
MAX_RESULTS = 100_000  # results a selection's contexts keep together (a mass change is a pass over them)
MAX_BYTES = 8 * 1024 * 1024  # memory a selection's contexts are counted as holding together (UID_BYTES, sort_bytes)
UID_BYTES = 4  # a SEARCH result: one item of an array("I")
RESULT_BYTES = 160  # a SORT result without its keys: its list slot, dict entry, key tuple and UID, as CPython has them
FEW_CHANGES = 32  # changes to a result placed by bisection; more are done in one linear pass
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


def sort_bytes(keys: tuple[Any, ...]) -> int:
    """The memory one SORT result is counted as holding: its place in the order, its entry and tuple of
    keys (RESULT_BYTES), and each key's object."""
    return RESULT_BYTES + sum(map(sys.getsizeof, keys))


def _key_at(keys: dict[int, tuple[Any, ...]], position: int) -> Callable[[int], Any]:
    return lambda uid: keys[uid][position]


def _runs(finals: Iterable[tuple[int, int]], value: Callable[[int], int]) -> list[bytes]:
    """Position set pairs for (0-based position, UID) ascending by position: each run of adjacent
    positions is one pair, its first position 1-based."""
    pairs: list[bytes] = []
    run: list[int] = []
    start = last = -2
    for final, uid in finals:
        if run and final != last + 1:
            pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
            run = []
        if not run:
            start = final
        run.append(value(uid))
        last = final
    if run:
        pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
    return pairs


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
        self.footprint = 0  # bytes counted for the result: UID_BYTES, or sort_bytes, each

    def fill(self, found: Sequence[tuple[int, tuple[Any, ...]]]) -> None:
        """The result a command found ((UID, sort keys), SORT's in sort order)."""
        if self.criteria is None:
            self.uids = array("I", sorted(u for u, _ in found))
            self.footprint = UID_BYTES * len(self.uids)
        else:
            self.order = [u for u, _ in found]
            self.sort_keys = dict(found)
            self.footprint = sum(map(sort_bytes, self.sort_keys.values()))

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
    # A few changes (FEW_CHANGES) are placed by bisection and the result rebuilt from slices around them;
    # more are done in one linear pass (a filter, or a merge through one sort), so a mass expunge or flag
    # change costs O(result) once rather than a Python-level bisection or sort comparison per UID. Either
    # way the items are the same.

    def remove(self, gone: Iterable[int], value: Callable[[int], int]) -> bytes:
        """REMOVEFROM for the results among `gone` (none: b""), which leave the result."""
        gone = gone if isinstance(gone, set | frozenset) else set(gone)
        if not gone:
            return b""
        if self.criteria is None:
            return self._remove_uids(gone, value)
        return self._remove_sorted(gone, value)

    def _remove_uids(self, gone: set[int] | frozenset[int], value: Callable[[int], int]) -> bytes:
        uids = self.uids
        # One pass over the result when that costs less than a bisection for each UID gone.
        leaving = [u for u in uids if u in gone] if len(gone) * 8 > len(uids) else sorted(u for u in gone if u in self)
        if not leaving:
            return b""
        if len(leaving) <= FEW_CHANGES:
            kept = array("I")
            previous = 0
            for uid in leaving:
                place = bisect.bisect_left(uids, uid)
                kept.extend(uids[previous:place])
                previous = place + 1
            kept.extend(uids[previous:])
        else:
            kept = array("I", [u for u in uids if u not in gone])
        self.uids = kept
        self.footprint -= UID_BYTES * len(leaving)
        return b"REMOVEFROM (0 " + responses.sequence_set([value(u) for u in leaving]) + b")"

    def _remove_sorted(self, gone: set[int] | frozenset[int], value: Callable[[int], int]) -> bytes:
        keys, order = self.sort_keys, self.order
        leaving = {u for u in order if u in gone} if len(gone) > len(order) else {u for u in gone if u in keys}
        if not leaving:
            return b""
        kept: list[int]
        if len(leaving) <= FEW_CHANGES:
            places = sorted(self._position(u) for u in leaving)
            kept = []
            previous = 0
            for place in places:
                kept += order[previous:place]
                previous = place + 1
            kept += order[previous:]
        else:
            places = [place for place, uid in enumerate(order) if uid in leaving]
            kept = [uid for uid in order if uid not in leaving]
        # Each pair is applied in turn: a run of adjacent places is one pair, at its place once the results
        # before it that leave are gone.
        pairs: list[bytes] = []
        run: list[int] = []
        start = 0
        for done, place in enumerate(places):
            if run and place != places[done - 1] + 1:
                pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
                run = []
            if not run:
                start = place - done
            run.append(value(order[place]))
        pairs.append(b"%d %s" % (start + 1, responses.ordered_set(run)))
        self.order = kept
        for uid in leaving:
            self.footprint -= sort_bytes(keys.pop(uid))
        return b"REMOVEFROM (" + b" ".join(pairs) + b")"

    def add(self, found: Sequence[tuple[int, tuple[Any, ...]]], value: Callable[[int], int]) -> bytes:
        """ADDTO for (UID, sort keys) matches not in the result yet (none: b""), which join it."""
        if self.criteria is None:
            return self._add_uids(found, value)
        return self._add_sorted(found, value)

    def _add_uids(self, found: Sequence[tuple[int, tuple[Any, ...]]], value: Callable[[int], int]) -> bytes:
        uids = self.uids
        candidates = {uid for uid, _ in found}
        if len(candidates) * 8 > len(uids):  # one pass over the result costs less than a bisection per UID
            new = sorted(candidates.difference(uids))
        else:
            new = sorted(u for u in candidates if u not in self)
        if not new:
            return b""
        if len(new) <= FEW_CHANGES:
            merged = array("I")
            previous = 0
            for uid in new:
                place = bisect.bisect_left(uids, uid)
                merged.extend(uids[previous:place])
                merged.append(uid)
                previous = place
            merged.extend(uids[previous:])
        else:
            merged = array("I", sorted([*uids, *new]))  # two ascending runs: timsort merges them in one pass
        self.uids = merged
        self.footprint += UID_BYTES * len(new)
        return b"ADDTO (0 " + responses.sequence_set([value(u) for u in new]) + b")"

    def _add_sorted(self, found: Sequence[tuple[int, tuple[Any, ...]]], value: Callable[[int], int]) -> bytes:
        keys = self.sort_keys
        new = {uid: k for uid, k in found if uid not in keys}
        if not new:
            return b""
        keys.update(new)
        self.footprint += sum(map(sort_bytes, new.values()))
        old = self.order
        finals: list[tuple[int, int]] = []  # (final 0-based position, UID), in sort order
        order: list[int]
        if len(new) <= FEW_CHANGES:
            # Added in sort order, each lands at its final place: every result before it is there already.
            order = []
            previous = 0
            for added, uid in enumerate(sorted(new, key=self._place)):
                place = bisect.bisect_left(old, self._place(uid), key=self._place)
                order += old[previous:place]
                order.append(uid)
                previous = place
                finals.append((place + added, uid))
            order += old[previous:]
        else:
            # search.sort's order in C: stable sorts by each criterion from the last to the first, over UID
            # order (ties by UID); the old order is already sorted, so each pass is mostly merging runs.
            order = sorted([*old, *new])
            for position in reversed(range(len(self.reverse))):
                order.sort(key=_key_at(keys, position), reverse=self.reverse[position])
            finals = [(place, uid) for place, uid in enumerate(order) if uid in new]
        self.order = order
        return b"ADDTO (" + b" ".join(_runs(finals, value)) + b")"

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
        if len(found) + self.results > MAX_RESULTS:
            return noupdate(tag, f"the results kept up to date here would pass {MAX_RESULTS} messages; "
                                 "CANCELUPDATE one first")
        context = Context(tag, uid, freeze(query, selected), criteria)
        context.fill(found)
        if context.footprint + self.footprint > MAX_BYTES:
            return noupdate(tag, f"the results kept up to date here would pass {MAX_BYTES >> 20} MiB; "
                                 "CANCELUPDATE one first")
        self.live[tag] = context
        return b""

    @property
    def results(self) -> int:
        """Results kept by every context together."""
        return sum(c.size for c in self.live.values())

    @property
    def footprint(self) -> int:
        """Bytes counted for every context's result together."""
        return sum(c.footprint for c in self.live.values())

    def _over(self, context: Context) -> str | None:
        """Why a context that has just grown must be dropped (None: it may stay)."""
        if context.criteria is not None and context.size > MAX_SORTED:
            return f"the sorted result grew past {MAX_SORTED} messages"
        if self.results > MAX_RESULTS:
            return f"the results kept up to date here grew past {MAX_RESULTS} messages"
        if self.footprint > MAX_BYTES:
            return f"the results kept up to date here grew past {MAX_BYTES >> 20} MiB"
        return None

    def cancel(self, tag: str) -> None:
        self.live.pop(tag, None)

    def touched(self, uids: Iterable[int]) -> None:
        if self.live:
            self.dirty.update(uids)

    async def expunging(self, selected: Selected, gone: Sequence[int]) -> list[bytes]:
        """REMOVEFROM for messages (UIDs ascending) about to be announced expunged, their numbers still
        valid. Each context's change is one pass at most; the loop turns between them."""
        self.dirty.difference_update(gone)
        if not self.live:
            return []
        turns = Turns()
        leaving = set(gone)
        numbers: dict[int, int] | None = None  # looked up once, for the contexts that name messages by number
        out: list[bytes] = []
        for context in list(self.live.values()):
            value: Callable[[int], int] = int
            if not context.uid:
                if numbers is None:
                    numbers = await _numbers(selected, gone, turns)
                value = numbers.__getitem__
            item = context.remove(leaving, value)
            if item:
                out.append(context.response([item]))
            await turns.share()
        return out

    async def refresh(self, selected: Selected, mailstore: Mailstore, unreadable: search.Unreadable,
                      read: search.Reader) -> list[bytes]:
        """Match the messages touched again; ADDTO and REMOVEFROM for each context whose result changed,
        NOUPDATE for each dropped on its limits."""
        if not self.live:
            self.dirty.clear()
            return []
        turns = Turns()
        dirty = sorted(self.dirty)
        self.dirty.clear()
        numbers = await _numbers(selected, dirty, turns)  # of the touched messages this session knows
        touched = list(numbers)
        if not touched:
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
                candidates = [search.Candidate(numbers[r.uid], r) for r in rows]
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
            await turns.share()  # each context's change is a pass over its result at most
            value: Callable[[int], int] = int if context.uid else numbers.__getitem__
            hits = matched[context.tag]
            hit_uids = {uid for uid, _ in hits}
            stopped = [u for u in seen if u not in hit_uids and u not in skipped[context.tag]]
            items = [context.remove(stopped, value), context.add(hits, value)]
            why = self._over(context)
            if why is not None:
                self.cancel(context.tag)
                out.append(noupdate(context.tag, why + "; updates stopped"))
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


async def _numbers(selected: Selected, uids: Sequence[int], turns: Turns) -> dict[int, int]:
    """The message numbers of `uids` (ascending) that the session knows, in one walk of its view, with
    turns of the loop: a mass change names many."""
    view = selected.uids
    numbers: dict[int, int] = {}
    index = 0
    for count, uid in enumerate(uids, 1):
        index = bisect.bisect_left(view, uid, index)
        if index < len(view) and view[index] == uid:
            numbers[uid] = index + 1
        if not count % 1024:
            await turns.share()
    return numbers


async def _one(batch: list[search.Candidate]) -> AsyncIterator[list[search.Candidate]]:
    yield batch
