"""FETCH and UID FETCH, with CONDSTORE's CHANGEDSINCE and QRESYNC's VANISHED (RFC 7162).

A message whose bytes cannot be read (its blob missing, shorter or longer than its record says, or not
hashing to its name) fails alone: it is logged once, nothing of it is sent, the others are answered, and
the command ends NO [CORRUPTION] (RFC 5530) saying how many were left out, as RFC 9051 6.4.5 lets a FETCH
that could not fetch everything end NO. Messages over fetch.STREAM_AT go out from the blob store in pieces,
checked before their first byte is written.

A NUL in a BODY[...] goes as 0x80 (fetch.plain_literal; RFC 9051 4.3), in streamed pieces too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container

from polyport import log
from polyport.imap import fetch as rendering
from polyport.imap import responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.session import SELECTED, ImapSession, handles
from polyport.mailstore import MessageFull, MessageMeta
from polyport.mailstore.service import StoredBody
from polyport.net.connection import ConnectionClosed
from polyport.store.blobs import BlobError


@handles(wire.Fetch, SELECTED)
async def fetch(s: ImapSession, c: wire.Fetch) -> None:
    selected = s.selected
    assert selected is not None
    plan = rendering.plan(c.items, uid=c.uid)
    if len(plan.wants) > rendering.MAX_ITEMS:
        raise ImapRefusal("NO", f"FETCH asks for {len(plan.wants)} different data items; at most "
                                f"{rendering.MAX_ITEMS} are answered at once", "LIMIT")
    uids = s.target_uids(c.sequence, c.uid)
    if c.changed_since is not None:
        s.enabled.add("CONDSTORE")  # RFC 7162 3.1: CHANGEDSINCE enables CONDSTORE
    if c.vanished:
        if not s.qresync:
            raise ImapRefusal("BAD", "VANISHED needs ENABLE QRESYNC first")
        assert c.changed_since is not None
        changes = await s.mailstore.changes_since(selected.id, c.changed_since)
        vanished = [u for u in changes.vanished if c.sequence.contains(u, selected.largest_uid)]
        if vanished:
            s.send(b"* VANISHED (EARLIER) " + responses.sequence_set(vanished) + b"\r\n")
    seen_now: set[int] = set()
    if c.sets_seen and not selected.readonly and "s" in selected.mailbox.rights and uids:
        # RFC 3501 6.4.5: BODY[...] (not .PEEK), RFC822 and RFC822.TEXT set \Seen; the answer shows it.
        changes_made, _ = await s.mailstore.store_flags(selected.mailbox, uids, "add", ["\\Seen"])
        for change in changes_made:
            selected.own_changes[change.uid] = change.modseq
            seen_now.add(change.uid)
    condstore = s.condstore
    with_modseq = condstore and (c.changed_since is not None or "FLAGS" in plan.names)
    # Whole-message fetches (BODY[], RFC822) need the bytes but not the stored structure.
    full = plan.needs_structure
    blobs: dict[int, str] = {}
    left_out: list[int] = []  # UIDs whose bytes could not be read
    # The hook for \\Recent (RFC 3501 2.3.2): the UIDs this session holds as recent get it in FLAGS.
    recent: Container[int] = selected.recent
    for first, last, group in rendering.runs(uids, selected.uids):
        rows: list[MessageMeta]
        if full:
            rows = list(await s.mailstore.full(selected.id, first, last))
        else:
            rows = await s.mailstore.meta(selected.id, first, last)
            if plan.needs_bytes:
                blobs = await s.mailstore.blob_ids(selected.id, first, last)
        wanted = set(group) if len(group) != len(rows) else None
        for row in rows:
            if wanted is not None and row.uid not in wanted:
                continue
            if c.changed_since is not None and row.modseq <= c.changed_since:
                continue
            number = selected.msn(row.uid)
            if not number:
                continue
            message: bytes | StoredBody | None = None
            if plan.needs_bytes:
                blob = row.blob if isinstance(row, MessageFull) else blobs.get(row.uid)
                if blob is None:
                    continue  # expunged meanwhile
                try:
                    if row.size > rendering.STREAM_AT:
                        message = await s.mailstore.stored(blob, row.size)
                    else:
                        message = await s.mailstore.read(blob, size=row.size)
                except BlobError as err:
                    left_out.append(row.uid)
                    _log_unreadable(s, row.uid, err)
                    continue
            # RFC 7162 3.1.4.1: with CONDSTORE on, a FETCH response carrying FLAGS carries MODSEQ too.
            flags_changed = row.uid in seen_now
            modseq = with_modseq or (condstore and flags_changed)
            try:
                if isinstance(message, StoredBody):
                    if not await send_stored(s, number, row, plan, message, modseq, flags_changed, recent):
                        left_out.append(row.uid)
                else:
                    s.send(rendering.render(number, row, plan, message=message, with_modseq=modseq, utf8=s.utf8,
                                            extra_flags=flags_changed, recent=recent))
            except rendering.AnswerTooLarge as err:
                await _unsee(s, [*left_out, *(uid for uid in seen_now if uid >= row.uid)], seen_now)
                raise ImapRefusal("NO", str(err), "LIMIT") from None
        await s.conn.drain()
    if left_out:
        await _unsee(s, left_out, seen_now)
        some = "1 message" if len(left_out) == 1 else f"{len(left_out)} messages"
        verb = "was" if len(left_out) == 1 else "were"
        raise ImapRefusal("NO", f"{some} could not be read from the store and {verb} left out; any others "
                                "were sent", "CORRUPTION")
    await s.finish(c, "FETCH completed")


async def _unsee(s: ImapSession, uids: list[int], seen_now: set[int]) -> None:
    """Take back the \\Seen this FETCH set on messages it did not send: RFC 3501 6.4.5 sets it because the
    body is read, and an unreadable message marked read would drop out of the user's unread ones unseen.
    The client never heard of it, so the change is this session's own and is not announced."""
    selected = s.selected
    assert selected is not None
    if undo := sorted(uid for uid in uids if uid in seen_now):
        changes_made, _ = await s.mailstore.store_flags(selected.mailbox, undo, "remove", ["\\Seen"])
        for change in changes_made:
            selected.own_changes[change.uid] = change.modseq


def _log_unreadable(s: ImapSession, uid: int, err: Exception) -> None:
    """A line for a message left out: where it is and why, never its content; once a process, however
    often clients ask for it (a client retrying every minute must not fill the log)."""
    selected = s.selected
    assert selected is not None
    if not log.once(("imap.fetch_unreadable", selected.id, uid, str(err))):
        return
    s.log.error("imap.fetch_unreadable", mailbox=selected.id, uid=uid, error=type(err).__name__, reason=str(err))


async def send_stored(s: ImapSession, number: int, row: MessageMeta, plan: rendering.Plan, body: StoredBody,
                      with_modseq: bool, extra_flags: bool, recent: Container[int]) -> bool:
    """One message's response, its sections read from the blob store as they are sent. Everything that
    can fail is read and checked before the first byte is written; False (nothing sent) if it failed."""
    pieces = rendering.layout(number, row, plan, with_modseq=with_modseq, utf8=s.utf8, extra_flags=extra_flags,
                              recent=recent)
    try:
        if any(isinstance(p, rendering.Span | rendering.Derived) and p.start == 0 and p.end == body.size
               for p in pieces):
            await body.verify()  # the whole message goes out: its hash can be checked, and is
        ready = [piece.finish(await body.read(piece.start, piece.end)) if isinstance(piece, rendering.Derived)
                 else piece for piece in pieces]
    except BlobError as err:
        _log_unreadable(s, row.uid, err)
        return False
    s.send(b"* %d FETCH (" % number)
    for index, piece in enumerate(ready):
        if index:
            s.send(b" ")
        if isinstance(piece, bytes):
            s.send(piece)
            continue
        s.send(piece.head + b"{%d}\r\n" % (piece.end - piece.start))
        async with contextlib.aclosing(body.pieces(piece.start, piece.end)) as chunks:
            while True:
                try:
                    chunk = await anext(chunks, None)
                except BlobError as err:
                    # Damaged since it was checked, in the middle of a literal: the client must not take what
                    # it got for the message, and nothing else can be said inside a literal. Cut.
                    _log_unreadable(s, row.uid, err)
                    s.conn.close()
                    raise ConnectionClosed("a message's blob failed in the middle of its literal") from None
                if chunk is None:
                    break
                s.send(rendering.plain_literal(chunk))  # a Span is never BINARY's (those are Derived)
                await s.conn.drain()
    s.send(b")\r\n")
    return True
