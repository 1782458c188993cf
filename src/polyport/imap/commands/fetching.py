"""FETCH and UID FETCH, with CONDSTORE's CHANGEDSINCE and QRESYNC's VANISHED (RFC 7162)."""

from __future__ import annotations

from polyport.imap import fetch as rendering
from polyport.imap import responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.session import SELECTED, ImapSession, handles
from polyport.mailstore import MessageFull, MessageMeta


@handles(wire.Fetch, SELECTED)
async def fetch(s: ImapSession, c: wire.Fetch) -> None:
    selected = s.selected
    assert selected is not None
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
    with_modseq = condstore and (c.changed_since is not None or "FLAGS" in c.items)
    want_bytes = rendering.needs_bytes(c.items)
    # Whole-message fetches (BODY[], RFC822) need the bytes but not the stored structure.
    full = rendering.needs_structure(c.items)
    blobs: dict[int, str] = {}
    for first, last, group in rendering.runs(uids, selected.uids):
        rows: list[MessageMeta]
        if full:
            rows = list(await s.mailstore.full(selected.id, first, last))
        else:
            rows = await s.mailstore.meta(selected.id, first, last)
            if want_bytes:
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
            message = None
            if want_bytes:
                blob = row.blob if isinstance(row, MessageFull) else blobs.get(row.uid)
                if blob is None:
                    continue  # expunged meanwhile
                message = await s.mailstore.read(blob, size=row.size)
            # RFC 7162 3.1.4.1: with CONDSTORE on, a FETCH response carrying FLAGS carries MODSEQ too.
            flags_changed = row.uid in seen_now
            s.send(rendering.render(number, row, c.items, message=message, with_uid=c.uid,
                                    with_modseq=with_modseq or (condstore and flags_changed), utf8=s.utf8,
                                    extra_flags=flags_changed))
        await s.conn.drain()
    await s.finish(c, "FETCH completed")
