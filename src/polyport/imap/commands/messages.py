"""APPEND (MULTIAPPEND, UIDPLUS, CATENATE), CHECK, CLOSE, UNSELECT, EXPUNGE and UID EXPUNGE, STORE (CONDSTORE's
UNCHANGEDSINCE), COPY and MOVE (UIDPLUS's COPYUID), REPLACE and UID REPLACE (RFC 8508)."""

from __future__ import annotations

from polyport.imap import catenate, responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.selected import flags_response
from polyport.imap.session import AUTHENTICATED, SELECTED, ImapSession, handles
from polyport.mailstore import NoSuchMailbox


def _try_create(err: NoSuchMailbox) -> ImapRefusal:
    """APPEND, COPY and MOVE to a missing mailbox say TRYCREATE (RFC 3501 6.3.11), so clients offer to create it."""
    return ImapRefusal("NO", str(err), "TRYCREATE")


async def _data(s: ImapSession, m: wire.AppendMessage) -> bytes:
    """The message's bytes: its literal, or what CATENATE's parts make (RFC 4469; imap/catenate.py)."""
    if m.catenate is None:
        return m.data
    assert s.identity is not None
    return await catenate.build(s.mailstore, s.account_id, s.identity.address, s.identity.login, m.catenate)


@handles(wire.Append, AUTHENTICATED)
async def append(s: ImapSession, c: wire.Append) -> None:
    messages = [(await _data(s, m), m.flags,
                 int(m.internal_date.timestamp()) if m.internal_date is not None else None)
                for m in c.messages]
    try:
        if len(messages) == 1:
            appended = [await s.mailstore.append(s.account_id, c.mailbox, *messages[0])]
        else:
            appended = await s.mailstore.append_many(s.account_id, c.mailbox, messages)
    except NoSuchMailbox as err:
        raise _try_create(err) from err
    uids = responses.sequence_set([a.uid for a in appended]).decode()
    await s.finish(c, "APPEND completed", f"APPENDUID {appended[0].uidvalidity} {uids}")


@handles(wire.Check, SELECTED)
async def check(s: ImapSession, c: wire.Check) -> None:
    # Everything acknowledged is already durable; CHECK is a NOOP (RFC 9051 dropped it).
    await s.updates(c, force=True)
    s.ok(c.tag, "CHECK completed")


@handles(wire.Close, SELECTED)
async def close(s: ImapSession, c: wire.Close) -> None:
    selected = s.selected
    assert selected is not None
    if not selected.readonly and "e" in selected.mailbox.rights:
        # RFC 3501 6.4.2: expunge silently, without EXPUNGE responses (RFC 4314: only with the "e" right).
        await s.mailstore.expunge(selected.mailbox)
    s.unselect()
    s.ok(c.tag, "CLOSE completed")


@handles(wire.Unselect, SELECTED)
async def unselect(s: ImapSession, c: wire.Unselect) -> None:
    s.unselect()
    s.ok(c.tag, "UNSELECT completed")


@handles(wire.Expunge, SELECTED)
async def expunge(s: ImapSession, c: wire.Expunge) -> None:
    selected = s.require_writable()
    uids = selected.resolve(c.uids, True) if c.uids is not None else None
    if uids is not None and not uids:
        await s.finish(c, "EXPUNGE completed (nothing matched)")
        return
    await s.in_progress(c.tag, len(uids) if uids is not None else selected.exists,
                        s.mailstore.expunge(selected.mailbox, uids))
    # The EXPUNGE (or VANISHED) responses come from catching up, like anyone else's expunges.
    await s.updates(c, force=True)
    s.ok(c.tag, "EXPUNGE completed", f"HIGHESTMODSEQ {selected.highestmodseq}" if s.condstore else None)


@handles(wire.Store, SELECTED)
async def store(s: ImapSession, c: wire.Store) -> None:
    selected = s.require_writable()
    uids = s.target_uids(c.sequence, c.uid)
    changes, modified = await s.mailstore.store_flags(selected.mailbox, uids, c.operation, c.flags, c.unchanged_since)
    condstore = s.condstore
    with_uid = c.uid or s.qresync
    # A keyword new to the mailbox goes into FLAGS before the FETCH responses show it (RFC 3501 7.2.6).
    new_keywords = False
    for change in changes:
        new_keywords |= selected.learn_text(change.keywords)
    if new_keywords:
        for line in selected.flag_lines():
            s.send(line)
    for change in changes:
        selected.own_changes[change.uid] = change.modseq
        number = selected.msn(change.uid)
        if not number:
            continue
        if not c.silent:
            s.send(flags_response(number, change.uid, change.flags, change.keywords,
                                  change.modseq if condstore else None, with_uid, change.uid in selected.recent))
        elif condstore:
            # RFC 7162 3.1.3: with CONDSTORE on, even .SILENT reports each message's new mod-sequence.
            uid_part = b"UID %d " % change.uid if with_uid else b""
            s.send(b"* %d FETCH (%sMODSEQ (%d))\r\n" % (number, uid_part, change.modseq))
    if not c.silent:
        # RFC 3501 6.4.6: the flags of every message named, also those the STORE did not change.
        touched = {change.uid for change in changes} | set(modified)
        rest = [uid for uid in uids if uid not in touched]
        if rest:
            wanted = set(rest)
            for meta in await s.mailstore.meta(selected.id, rest[0], rest[-1]):
                number = selected.msn(meta.uid)
                if number and meta.uid in wanted:
                    s.send(flags_response(number, meta.uid, meta.flags, meta.keywords,
                                          meta.modseq if condstore else None, with_uid, meta.uid in selected.recent))
    code = None
    if modified:
        named = modified if c.uid else [selected.msn(uid) for uid in modified]
        code = "MODIFIED " + responses.sequence_set([n for n in named if n]).decode()
    await s.finish(c, "STORE completed" if not modified else "STORE completed; some messages changed meanwhile",
                   code)


async def _copy(s: ImapSession, c: wire.Copy | wire.Move, move: bool) -> None:
    selected = s.require_writable() if move else s.selected
    assert selected is not None
    uids = s.target_uids(c.sequence, c.uid)
    if not uids:
        await s.finish(c, f"{c.name} completed (nothing matched)")
        return
    try:
        copied, _ = await s.in_progress(c.tag, len(uids),
                                        s.mailstore.copy(s.account_id, selected.mailbox, uids, c.mailbox, move=move))
    except NoSuchMailbox as err:
        raise _try_create(err) from err
    code = None
    if copied.target_uids:
        code = (f"COPYUID {copied.uidvalidity} {responses.sequence_set(copied.source_uids).decode()} "
                f"{responses.sequence_set(copied.target_uids).decode()}")
    if move:
        # RFC 6851 4.3: COPYUID goes in an untagged OK before the expunges.
        if code is not None:
            s.send(f"* OK [{code}] moved\r\n".encode())
        await s.updates(c, force=True)
        s.ok(c.tag, "MOVE completed")
        return
    await s.finish(c, "COPY completed", code)


@handles(wire.Copy, SELECTED)
async def copy(s: ImapSession, c: wire.Copy) -> None:
    await _copy(s, c, move=False)


@handles(wire.Move, SELECTED)
async def move(s: ImapSession, c: wire.Move) -> None:
    await _copy(s, c, move=True)


@handles(wire.Replace, SELECTED)
async def replace(s: ImapSession, c: wire.Replace) -> None:
    """RFC 8508: APPEND to a mailbox and expunge a message of the selected one, both or neither (one unit
    of the store). The APPENDUID goes in an untagged OK before the EXISTS/EXPUNGE, as MOVE's COPYUID does
    (RFC 8508 section 3.3's example), then the expunge (VANISHED under QRESYNC) comes from catching up."""
    selected = s.require_writable()
    if c.uid:
        if not selected.msn(c.number):
            raise ImapRefusal("NO", f"no message with UID {c.number} in the mailbox", "NONEXISTENT")
        uid = c.number
    else:
        if c.number > selected.exists:
            raise ImapRefusal("BAD", f"message number {c.number} is beyond the {selected.exists} messages of "
                                     "the mailbox")
        uid = selected.uids[c.number - 1]
    m = c.message
    try:
        appended, _ = await s.mailstore.replace_message(
            s.account_id, selected.mailbox, uid, c.mailbox, await _data(s, m), m.flags,
            int(m.internal_date.timestamp()) if m.internal_date is not None else None)
    except NoSuchMailbox as err:
        raise _try_create(err) from err
    s.send(f"* OK [APPENDUID {appended.uidvalidity} {appended.uid}] replacement message stored\r\n".encode())
    await s.updates(c, force=True)
    s.ok(c.tag, "REPLACE completed")
