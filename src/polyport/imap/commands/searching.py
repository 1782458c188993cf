"""SEARCH and UID SEARCH (ESEARCH's RETURN options, SEARCHRES's SAVE and "$", CONDSTORE's MODSEQ,
PARTIAL's pages), SORT (with ESORT's and PARTIAL's RETURN options) and THREAD (RFC 5256). A query over
search.py's limits (keys, work) is answered NO [LIMIT] (RFC 5530).

RETURN (UPDATE) (RFC 5267 section 4, CONTEXT=SEARCH and CONTEXT=SORT) keeps the result up to date
(contexts.py): the whole result, whatever the other options (MIN, MAX, COUNT, PARTIAL and SAVE answer as
they would alone, 4.3); a tag whose updates are still being sent is BAD for another UPDATE (4.3), a context
past the limits NO [NOUPDATE] with the command answered all the same (4.3.1). CANCELUPDATE stops them.
CONTEXT is a hint, and nothing is done with it (4.2).

A message whose bytes a query needs but the store cannot give (damaged or missing: BlobError) is left out
of the result and logged once; the others are searched, and the command answers with what it found, an
untagged `* NO [CORRUPTION]` saying how many messages were not searched (RFC 9051 7.1.2: an untagged NO
is a warning; RFC 5530's code), and a tagged OK. Results are sets: a tagged NO would leave a client
without the result of the messages that could be read."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from polyport.imap import contexts, responses, search, wire
from polyport.imap import fetch as rendering
from polyport.imap.codes import ImapRefusal
from polyport.imap.selected import Selected
from polyport.imap.session import SELECTED, ImapSession, handles
from polyport.mailstore import MessageMeta
from polyport.store.blobs import BlobError

# Messages read from the store per query when searching: a search reads every message's row, a batch
# at a time, and keeps only what it needs of the matches.
SEARCH_BATCH = 500


@contextlib.contextmanager
def _limits() -> Iterator[None]:
    try:
        yield
    except search.SearchLimit as err:
        raise ImapRefusal("NO", str(err), "LIMIT") from None


def _searcher(s: ImapSession, selected: Selected, query: wire.SearchKey) -> search.Searcher:
    """A searcher over the session's view; a query with too many keys is refused before anything is read."""
    with _limits():
        search.check_keys(query)

    def unreadable(uid: int, err: BlobError) -> None:
        s.search_unreadable(selected.id, uid, err)

    return search.Searcher(s.read_message, largest_uid=selected.largest_uid, count=selected.exists,
                           saved=selected.saved, now=time.time(), unreadable=unreadable, recent=selected.recent)


def _check_update(selected: Selected, c: wire.Search | wire.Sort) -> None:
    """RFC 5267 4.3: UPDATE with the tag of a command whose result is still being updated is BAD (before
    anything is done: SAVE keeps "$")."""
    if c.return_options is not None and "UPDATE" in c.return_options and c.tag in selected.contexts:
        raise ImapRefusal("BAD", f"the result of an earlier command tagged {c.tag} is still being updated; "
                                 "tags are not reused (RFC 5267 section 4.3)")


def _keep_updated(s: ImapSession, selected: Selected, c: wire.Search | wire.Sort,
                  found: Sequence[tuple[int, tuple[Any, ...]]]) -> bytes:
    """Keep the result (UID, sort keys) up to date when UPDATE asks; the untagged NOUPDATE when not kept
    (b"" when kept, or not asked)."""
    if c.return_options is None or "UPDATE" not in c.return_options:
        return b""
    if s.subscription is None:  # no bus: no news of the mailbox's changes
        return contexts.noupdate(c.tag, "changes to the mailbox are not followed here")
    criteria = c.criteria if isinstance(c, wire.Sort) else None
    return selected.contexts.start(selected, c.tag, c.uid, c.query, criteria, found)


@handles(wire.CancelUpdate, SELECTED)
async def cancel_update(s: ImapSession, c: wire.CancelUpdate) -> None:
    """RFC 5267 4.3.5. A tag with no updates (never, or no longer: dropped on a limit, or cancelled) is a
    NO, and then nothing is cancelled."""
    selected = s.selected
    assert selected is not None
    unknown = [tag for tag in c.tags if tag not in selected.contexts]
    if unknown:
        raise ImapRefusal("NO", f"no result is being updated for {' '.join(unknown)[:200]}")
    for tag in c.tags:
        selected.contexts.cancel(tag)
    await s.finish(c, "no further updates")


async def _finish(s: ImapSession, c: wire.Search | wire.Sort | wire.Thread, searcher: search.Searcher,
                  text: str) -> None:
    """The tagged OK, after a warning when messages could not be read and were left out."""
    if searcher.unreadable:
        some = "1 message" if searcher.unreadable == 1 else f"{searcher.unreadable} messages"
        verb = "was" if searcher.unreadable == 1 else "were"
        s.send(f"* NO [CORRUPTION] {some} could not be read from the store and {verb} not searched\r\n".encode())
    await s.finish(c, text)


async def _candidates(s: ImapSession, selected: Selected, tag: str, *,
                      full: bool) -> AsyncIterator[list[search.Candidate]]:
    """Every message of the session's view, read in runs, ready to be matched: with the stored structure
    and search texts when `full`, else flags, dates and sizes only. A search that runs long reports how
    many messages it has gone through (RFC 9585 INPROGRESS, as the command's `tag`)."""
    uids = selected.uids
    progress = s.progress(tag, len(uids))
    index = 0  # rows come in UID order, as the view does: walk it rather than look each number up
    for first, last, _group in rendering.runs(uids, uids, SEARCH_BATCH):
        found: Sequence[MessageMeta]
        if full:
            found = await s.mailstore.full(selected.id, first, last)
        else:
            found = await s.mailstore.meta(selected.id, first, last)
        batch = []
        for row in found:
            while index < len(uids) and uids[index] < row.uid:
                index += 1
            if index < len(uids) and uids[index] == row.uid:
                batch.append(search.Candidate(index + 1, row))
        yield batch
        progress.tick(bisect.bisect_right(uids, last))  # the view's messages up to here were gone through
        # A read of the records may finish without a turn of the loop: a mailbox of a hundred thousand
        # messages must not hold the other sessions up while it is read.
        await asyncio.sleep(0)


@handles(wire.Search, SELECTED)
async def search_command(s: ImapSession, c: wire.Search) -> None:
    selected = s.selected
    assert selected is not None
    _check_update(selected, c)
    options = c.return_options
    if options is not None and "SAVE" in options:
        selected.saved = []  # RFC 5182 2.1: a failed SEARCH ... SAVE leaves "$" empty
    with_modseq = wire.mentions_modseq(c.query)  # CONDSTORE was turned on before (ImapSession.condstore_used)
    searcher = _searcher(s, selected, c.query)
    with _limits():
        candidates = _candidates(s, selected, c.tag, full=search.needs_full(c.query))
        found = await searcher.run(c.query, candidates, search.hit)
    values = [uid if c.uid else number for number, uid, _modseq in found]
    highest = max((modseq for _number, _uid, modseq in found), default=0)
    if options is None and not s.rev2:
        line = b"* SEARCH" + b"".join(b" %d" % v for v in values)
        if with_modseq and found:
            line += b" (MODSEQ %d)" % highest
        s.send(line + b"\r\n")
        await _finish(s, c, searcher, "SEARCH completed")
        return
    refused = _keep_updated(s, selected, c, [(uid, ()) for _number, uid, _modseq in found])
    wanted = set(options) - contexts.NO_RESULT_OPTIONS if options else {"ALL"}
    if "SAVE" in wanted:
        extremes = wanted & {"MIN", "MAX"}
        if (extremes or c.partial is not None) and not wanted & {"ALL", "COUNT"} and found:
            # RFC 5182 2.1: MIN/MAX without ALL/COUNT save only those; PARTIAL (RFC 9394) likewise its page.
            uids = [uid for _number, uid, _modseq in found]
            kept = set(_page(uids, c.partial)) if c.partial is not None else set()
            if "MIN" in extremes:
                kept.add(uids[0])
            if "MAX" in extremes:
                kept.add(uids[-1])
            selected.saved = sorted(kept)
        else:
            selected.saved = [uid for _number, uid, _modseq in found]
        wanted.discard("SAVE")
        if not wanted:
            s.send(refused)
            await _finish(s, c, searcher, "SEARCH completed, result saved")
            return
    modseq = highest if with_modseq and found else None
    s.send(_esearch(c, values, wanted, modseq))
    s.send(refused)
    await _finish(s, c, searcher, "SEARCH completed")


def _page(values: Sequence[int], bounds: tuple[int, int]) -> Sequence[int]:
    """RFC 9394 3.1: the results at positions low:high of `values` (1 the first), or counted from the last
    (-1 the last) when negative; positions beyond the results give what there is, perhaps nothing."""
    low, high = sorted((abs(bounds[0]), abs(bounds[1])))
    if bounds[0] > 0:
        return values[low - 1:high]
    count = len(values)
    return values[max(count - high, 0):max(count - low + 1, 0)]


def _esearch(c: wire.Search | wire.Sort, values: Sequence[int], wanted: set[str], modseq: int | None) -> bytes:
    """The ESEARCH response (RFC 4731 section 3.1) to SEARCH, or to SORT (RFC 5267 section 3, `values` in
    sort order: MIN and MAX are the first and the last in it, ALL keeps it). MIN, MAX and ALL say nothing
    of an empty result; PARTIAL (RFC 9394) echoes its range, with NIL when no result is in it."""
    ordered = isinstance(c, wire.Sort)
    parts = [b'* ESEARCH (TAG "' + c.tag.encode() + b'")']
    if c.uid:
        parts.append(b"UID")
    if "MIN" in wanted and values:
        parts.append(b"MIN %d" % (values[0] if ordered else min(values)))
    if "MAX" in wanted and values:
        parts.append(b"MAX %d" % (values[-1] if ordered else max(values)))
    if "COUNT" in wanted:
        parts.append(b"COUNT %d" % len(values))
    if "ALL" in wanted and values:
        parts.append(b"ALL " + (responses.ordered_set(values) if ordered else responses.sequence_set(values)))
    if c.partial is not None:
        page = _page(values, c.partial)
        found = (responses.ordered_set(page) if ordered else responses.sequence_set(page)) if page else b"NIL"
        parts.append(b"PARTIAL (%d:%d %s)" % (c.partial[0], c.partial[1], found))
    if modseq is not None:
        parts.append(b"MODSEQ %d" % modseq)
    return b" ".join(parts) + b"\r\n"


@handles(wire.Sort, SELECTED)
async def sort(s: ImapSession, c: wire.Sort) -> None:
    selected = s.selected
    assert selected is not None
    _check_update(selected, c)
    searcher = _searcher(s, selected, c.query)
    with _limits():
        found = await searcher.run(c.query, _candidates(s, selected, c.tag, full=True),
                                   search.sortable(c.criteria, searcher))
        ordered = await search.sort(found, c.criteria, searcher)
    values = [uid if c.uid else number for number, uid, _keys in ordered]
    if c.return_options is not None:
        refused = _keep_updated(s, selected, c, [(uid, keys) for _number, uid, keys in ordered])
        # ESORT (RFC 5267 section 3)
        s.send(_esearch(c, values, set(c.return_options) - contexts.NO_RESULT_OPTIONS, None))
        s.send(refused)
    else:
        s.send(b"* SORT" + b"".join(b" %d" % v for v in values) + b"\r\n")
    await _finish(s, c, searcher, "SORT completed")


@handles(wire.Thread, SELECTED)
async def thread(s: ImapSession, c: wire.Thread) -> None:
    selected = s.selected
    assert selected is not None
    searcher = _searcher(s, selected, c.query)
    with _limits():
        found = await searcher.run(c.query, _candidates(s, selected, c.tag, full=True), search.threadable(searcher))
        if c.algorithm == "ORDEREDSUBJECT":
            threads = await search.thread_orderedsubject(found, searcher)
            body = search.format_threads_orderedsubject(
                [[search.number_of(f, c.uid) for f in group] for group in threads])
        else:
            body = await search.format_tree(await search.thread_references(found, searcher), c.uid, searcher)
    s.send(b"* THREAD " + body + b"\r\n" if body else b"* THREAD\r\n")
    await _finish(s, c, searcher, "THREAD completed")
