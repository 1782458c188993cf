"""SEARCH and UID SEARCH (ESEARCH's RETURN options, SEARCHRES's SAVE and "$", CONDSTORE's MODSEQ), SORT
and THREAD (RFC 5256)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from polyport.imap import fetch as rendering
from polyport.imap import responses, search, wire
from polyport.imap.selected import Selected
from polyport.imap.session import SELECTED, ImapSession, handles
from polyport.mailstore import MessageMeta

# Messages read from the store per query when searching: a search reads every message's row.
SEARCH_BATCH = 2000


async def _searcher(s: ImapSession, selected: Selected, *, full: bool) -> search.Searcher:
    """Every message of the session's view, read in runs, ready to be matched: with the stored structure
    and search texts when `full`, else flags, dates and sizes only."""
    rows: list[tuple[int, MessageMeta]] = []
    uids = selected.uids
    index = 0  # rows come in UID order, as the view does: walk it rather than look each number up
    for first, last, _group in rendering.runs(uids, uids, SEARCH_BATCH):
        found: Sequence[MessageMeta]
        if full:
            found = await s.mailstore.full(selected.id, first, last)
        else:
            found = await s.mailstore.meta(selected.id, first, last)
        for row in found:
            while index < len(uids) and uids[index] < row.uid:
                index += 1
            if index < len(uids) and uids[index] == row.uid:
                rows.append((index + 1, row))
    async def read(blob: str, size: int) -> bytes:
        return await s.mailstore.read(blob, size=size)

    return search.Searcher(rows, read, largest_uid=selected.largest_uid, count=selected.exists,
                           saved=selected.saved, now=time.time())


def _has_modseq(key: wire.SearchKey) -> bool:
    if isinstance(key, wire.SearchModSeq):
        return True
    if isinstance(key, wire.SearchAnd):
        return any(_has_modseq(k) for k in key.keys)
    if isinstance(key, wire.SearchOr):
        return _has_modseq(key.left) or _has_modseq(key.right)
    if isinstance(key, wire.SearchNot):
        return _has_modseq(key.key)
    return False


@handles(wire.Search, SELECTED)
async def search_command(s: ImapSession, c: wire.Search) -> None:
    selected = s.selected
    assert selected is not None
    options = c.return_options
    if options is not None and "SAVE" in options:
        selected.saved = []  # RFC 5182 2.1: a failed SEARCH ... SAVE leaves "$" empty
    with_modseq = _has_modseq(c.query)
    if with_modseq:
        s.enabled.add("CONDSTORE")
    searcher = await _searcher(s, selected, full=search.needs_full(c.query))
    found = await searcher.run(c.query)
    values = [f.row.uid if c.uid else f.number for f in found]
    highest = max((f.row.modseq for f in found), default=0)
    if options is None and not s.rev2:
        line = b"* SEARCH" + b"".join(b" %d" % v for v in values)
        if with_modseq and found:
            line += b" (MODSEQ %d)" % highest
        s.send(line + b"\r\n")
        await s.finish(c, "SEARCH completed")
        return
    wanted = set(options) if options else {"ALL"}
    if "SAVE" in wanted:
        extremes = wanted & {"MIN", "MAX"}
        if extremes and not wanted & {"ALL", "COUNT"} and found:
            kept = {found[0].row.uid} if "MIN" in extremes else set()
            if "MAX" in extremes:
                kept.add(found[-1].row.uid)
            selected.saved = sorted(kept)
        else:
            selected.saved = [f.row.uid for f in found]
        wanted.discard("SAVE")
        if not wanted:
            await s.finish(c, "SEARCH completed, result saved")
            return
    parts = [b'* ESEARCH (TAG "' + c.tag.encode() + b'")']
    if c.uid:
        parts.append(b"UID")
    if "MIN" in wanted and values:
        parts.append(b"MIN %d" % min(values))
    if "MAX" in wanted and values:
        parts.append(b"MAX %d" % max(values))
    if "COUNT" in wanted:
        parts.append(b"COUNT %d" % len(values))
    if "ALL" in wanted and values:
        parts.append(b"ALL " + responses.sequence_set(values))
    if with_modseq and found:
        parts.append(b"MODSEQ %d" % highest)
    s.send(b" ".join(parts) + b"\r\n")
    await s.finish(c, "SEARCH completed")


@handles(wire.Sort, SELECTED)
async def sort(s: ImapSession, c: wire.Sort) -> None:
    selected = s.selected
    assert selected is not None
    searcher = await _searcher(s, selected, full=True)
    ordered = search.sort(await searcher.run(c.query), c.criteria)
    values = [f.row.uid if c.uid else f.number for f in ordered]
    s.send(b"* SORT" + b"".join(b" %d" % v for v in values) + b"\r\n")
    await s.finish(c, "SORT completed")


@handles(wire.Thread, SELECTED)
async def thread(s: ImapSession, c: wire.Thread) -> None:
    selected = s.selected
    assert selected is not None
    searcher = await _searcher(s, selected, full=True)
    found = await searcher.run(c.query)
    if c.algorithm == "ORDEREDSUBJECT":
        threads = search.thread_orderedsubject(found)
        if not c.uid:
            threads = [[selected.msn(uid) for uid in group] for group in threads]
        body = search.format_threads_orderedsubject(threads)
    else:
        body = search.format_tree(search.thread_references(found),
                                  (lambda f: f.row.uid) if c.uid else (lambda f: f.number))
    s.send(b"* THREAD " + body + b"\r\n" if body else b"* THREAD\r\n")
    await s.finish(c, "THREAD completed")
