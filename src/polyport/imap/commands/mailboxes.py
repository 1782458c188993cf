"""SELECT/EXAMINE (CONDSTORE, QRESYNC), CREATE (USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST
(LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, STATUS (SIZE, HIGHESTMODSEQ, MAILBOXID,
APPENDLIMIT), GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208)."""

from __future__ import annotations

from polyport.imap import responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.commands.urlauth import URLMECH
from polyport.imap.selected import Recent, Selected, flags_response
from polyport.imap.session import AUTHENTICATED, ImapSession, State, handles
from polyport.mailstore import Mailbox, acl
from polyport.mailstore import flags as fl
from polyport.mailstore import names as mailbox_names

SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")


def mailbox_name(s: ImapSession, name: str) -> bytes:
    return responses.astring(name, utf8=s.utf8)


async def _select(s: ImapSession, c: wire.Select | wire.Examine) -> None:
    if s.selected is not None:
        # RFC 9051 6.3.2, RFC 7162 3.2.11: the mailbox selected before is closed first, and the client told.
        s.send(b"* OK [CLOSED] previous mailbox closed\r\n")
    s.unselect()
    if c.qresync is not None and not s.qresync:
        raise ImapRefusal("BAD", "QRESYNC needs ENABLE QRESYNC first")
    mailbox = await s.mailstore.mailbox(s.account_id, c.mailbox)
    index = await s.mailstore.index(mailbox.id)
    # Read after the index: it then holds every keyword of the messages the index shows.
    keywords = await s.mailstore.keywords(mailbox.id)
    entries = index.metas
    if c.condstore or c.qresync is not None:
        s.enabled.add("CONDSTORE")
    # RFC 4314 section 4: without a right to change anything the mailbox is selected read-only, and
    # PERMANENTFLAGS lists only the flags the rights let the user change.
    readonly = c.readonly or not acl.writable(mailbox.rights)
    # The index may be newer than the mailbox row read just before: announce what it holds.
    highestmodseq = max(mailbox.highestmodseq, index.highestmodseq)
    uidnext = max(mailbox.uidnext, (entries[-1].uid + 1) if entries else 1)
    # \Recent (RFC 3501 2.3.2), for IMAP4rev1 only: a SELECT claims the messages no session has seen yet;
    # EXAMINE shows them as recent without taking the flag away from the next session (RFC 3501 6.3.2), and
    # so does another account's session in a shared mailbox: new mail stays new to its owner.
    claims = not s.rev2 and not readonly and not mailbox.shared
    recent = Recent()
    if not s.rev2:
        recent.add(*await s.mailstore.recent(mailbox.id, claim=claims))
    selected = Selected(mailbox, readonly, entries, highestmodseq, keywords, recent=recent,
                        reports_recent=not s.rev2, claims_recent=claims)
    s.select(selected)
    s.send(b"* %d EXISTS\r\n" % len(entries))
    if not s.rev2:
        s.send(b"* %d RECENT\r\n" % selected.recent_count())
        first_unseen = next((i for i, e in enumerate(entries, 1) if not e.flags & fl.SEEN), 0)
        if first_unseen:
            s.send(b"* OK [UNSEEN %d] first unseen message\r\n" % first_unseen)
    for line in selected.flag_lines():
        s.send(line)
    s.send(b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % mailbox.uidvalidity)
    s.send(b"* OK [UIDNEXT %d] predicted next UID\r\n" % uidnext)
    s.send(b"* OK [HIGHESTMODSEQ %d] highest mod-sequence\r\n" % highestmodseq)
    s.send(b"* OK [MAILBOXID (M%d)] mailbox id\r\n" % mailbox.id)
    s.send(URLMECH)  # RFC 4467 section 6.4
    if s.rev2:
        s.send(await _selected_list_line(s, c.mailbox, mailbox))
    if c.qresync is not None and c.qresync.uidvalidity == mailbox.uidvalidity:
        await _resync(s, selected, c.qresync)
    s.ok(c.tag, f"{c.name} completed", "READ-ONLY" if readonly else "READ-WRITE")


async def _selected_list_line(s: ImapSession, name: str, mailbox: Mailbox) -> bytes:
    """RFC 9051 6.3.2: an IMAP4rev2 SELECT answers a LIST response for the mailbox, attributes accurate."""
    names = {m.name for m in await s.mailstore.mailboxes(s.account_id)}
    if name.startswith(mailbox_names.FOREIGN):
        names.update(m.name for m in await s.mailstore.shared(s.account_id))
    attributes = ["\\HasChildren" if _has_children(name, names) else "\\HasNoChildren"]
    if mailbox.special_use:
        attributes.append(mailbox.special_use)
    return b"* LIST (" + " ".join(attributes).encode() + b') "/" ' + mailbox_name(s, name) + b"\r\n"


async def _resync(s: ImapSession, selected: Selected, q: wire.QResync) -> None:
    """RFC 7162 3.2.5.2: what changed since the client's mod-sequence, and what vanished."""
    changes = await s.mailstore.changes_since(selected.id, q.modseq)
    known = q.known_uids
    vanished = [u for u in changes.vanished if known is None or known.contains(u, selected.largest_uid)]
    if vanished:
        s.send(b"* VANISHED (EARLIER) " + responses.sequence_set(vanished) + b"\r\n")
    for change in changes.changed:
        number = selected.msn(change.uid)
        if number:
            s.send(flags_response(number, change.uid, change.flags, change.keywords, change.modseq, True,
                                  change.uid in selected.recent))


@handles(wire.Select, AUTHENTICATED)
async def select(s: ImapSession, c: wire.Select) -> None:
    await _select(s, c)


@handles(wire.Examine, AUTHENTICATED)
async def examine(s: ImapSession, c: wire.Examine) -> None:
    await _select(s, c)


@handles(wire.Create, AUTHENTICATED)
async def create(s: ImapSession, c: wire.Create) -> None:
    uses = [u for u in c.special_use]
    for use in uses:
        if use not in SPECIAL_USES:
            raise ImapRefusal("NO", f"{use} is not a special use", "USEATTR")
    if len(uses) > 1:
        raise ImapRefusal("NO", "one special use a mailbox", "USEATTR")
    name = c.mailbox.rstrip(mailbox_names.SEPARATOR)  # a trailing separator asks for a parent-to-be (RFC 3501)
    await s.mailstore.create(s.account_id, name, uses[0] if uses else None)
    await s.finish(c, "CREATE completed")


@handles(wire.Delete, AUTHENTICATED)
async def delete(s: ImapSession, c: wire.Delete) -> None:
    deleted = await s.mailstore.delete(s.account_id, c.mailbox)
    if s.selected is not None and s.selected.id == deleted:
        s.unselect()  # only once it is gone: a refused DELETE leaves the selection alone
    await s.finish(c, "DELETE completed")


@handles(wire.Rename, AUTHENTICATED)
async def rename(s: ImapSession, c: wire.Rename) -> None:
    await s.mailstore.rename(s.account_id, c.mailbox, c.new_name)
    await s.finish(c, "RENAME completed")


@handles(wire.Subscribe, AUTHENTICATED)
async def subscribe(s: ImapSession, c: wire.Subscribe) -> None:
    await s.mailstore.subscribe(s.account_id, c.mailbox)
    await s.finish(c, "SUBSCRIBE completed")


@handles(wire.Unsubscribe, AUTHENTICATED)
async def unsubscribe(s: ImapSession, c: wire.Unsubscribe) -> None:
    await s.mailstore.unsubscribe(s.account_id, c.mailbox)
    await s.finish(c, "UNSUBSCRIBE completed")


def _has_children(name: str, all_names: set[str]) -> bool:
    prefix = name + mailbox_names.SEPARATOR
    return any(other.startswith(prefix) for other in all_names)


@handles(wire.List, AUTHENTICATED)
async def list_mailboxes(s: ImapSession, c: wire.List) -> None:
    """RFC 9051 6.3.9 with LIST-EXTENDED (RFC 5258): selection options SUBSCRIBED, SPECIAL-USE (RFC 6154),
    REMOTE (no remote mailboxes here) and RECURSIVEMATCH; return options SUBSCRIBED, CHILDREN, SPECIAL-USE,
    STATUS (RFC 5819) and MYRIGHTS (RFC 8440)."""
    if c.patterns == ("",):
        # RFC 3501 6.3.8: an empty pattern asks for the hierarchy delimiter.
        s.send(b'* LIST (\\Noselect) "/" ""\r\n')
        await s.finish(c, "LIST completed")
        return
    mailboxes = {m.name: m for m in await s.mailstore.mailboxes(s.account_id)}
    if any(mailbox_names.may_reach_foreign(c.reference, p) for p in c.patterns):
        # Other accounts' mailboxes this one may see ("l"), as "~owner/name" (RFC 4314, RFC 2342).
        mailboxes.update((m.name, m) for m in await s.mailstore.shared(s.account_id))
    subscribed = set(await s.mailstore.subscriptions(s.account_id)) \
        if (c.select_subscribed or c.return_subscribed) else set()
    existing = set(mailboxes)
    with_children = {p for n in existing for p in mailbox_names.parents(n)}  # one pass: LIST stays linear
    everything = existing | with_children
    patterns = [mailbox_names.pattern(c.reference, p) for p in c.patterns]

    def matches(name: str) -> bool:
        return any(p.fullmatch(name) for p in patterns)

    def chosen(name: str) -> bool:
        """Whether a name meets the selection criteria (RFC 5258 3)."""
        if c.select_subscribed and name not in subscribed:
            return False
        if c.select_special_use:
            mailbox = mailboxes.get(name)
            return mailbox is not None and mailbox.special_use is not None
        return c.select_subscribed or name in everything

    selecting = c.select_subscribed or c.select_special_use
    candidates = everything | (subscribed if c.select_subscribed else set())
    if c.recursive_match:
        candidates |= {p for n in candidates if chosen(n) for p in mailbox_names.parents(n)}
    # RFC 5258 3.5: with RECURSIVEMATCH, a name is also listed for a descendant that meets the criteria
    # but not the pattern, and says so with CHILDINFO. The ancestors of those descendants, found once
    # (comparing every listed name with every candidate was quadratic in mailboxes).
    ancestors: set[str] = set()
    if c.recursive_match:
        ancestors = {p for n in candidates if chosen(n) and not matches(n) for p in mailbox_names.parents(n)}
    childinfo = b' ("CHILDINFO" ("SUBSCRIBED"))' if c.select_subscribed else b' ("CHILDINFO" ("SPECIAL-USE"))'
    for name in sorted(candidates):
        if not matches(name):
            continue
        recursive = name in ancestors
        if not (chosen(name) or recursive):
            continue
        mailbox = mailboxes.get(name)
        attributes: list[str] = []
        if mailbox is None:
            # RFC 5258 3: \NonExistent (implying \Noselect) for extended LIST; RFC 3501 clients know \Noselect.
            attributes.append("\\NonExistent" if c.extended else "\\Noselect")
        if (c.select_subscribed or c.return_subscribed) and name in subscribed:
            attributes.append("\\Subscribed")
        if name in with_children:
            attributes.append("\\HasChildren")
        elif mailbox is not None:
            attributes.append("\\HasNoChildren")
        if mailbox is not None and mailbox.special_use:
            attributes.append(mailbox.special_use)
        s.send(b"* LIST (" + " ".join(attributes).encode() + b') "/" ' + mailbox_name(s, name) +
               (childinfo if recursive and selecting else b"") + b"\r\n")
        if c.return_status is not None and mailbox is not None and "r" in mailbox.rights:
            s.send(await status_line(s, mailbox, c.return_status))
        if c.return_myrights and mailbox is not None:
            # RFC 8440: what MYRIGHTS would answer (RFC 4314 3.8), for each listed mailbox that exists.
            s.send(b"* MYRIGHTS " + mailbox_name(s, name) + b" " +
                   responses.atom_or_string(acl.shown(mailbox.rights), utf8=s.utf8) + b"\r\n")
    await s.finish(c, "LIST completed")


@handles(wire.Lsub, AUTHENTICATED)
async def lsub(s: ImapSession, c: wire.Lsub) -> None:
    existing = {m.name for m in await s.mailstore.mailboxes(s.account_id)}
    regex = mailbox_names.pattern(c.reference, c.pattern)
    subscriptions = await s.mailstore.subscriptions(s.account_id)
    subscribed = set(subscriptions)
    if any(name.startswith(mailbox_names.FOREIGN) for name in subscriptions):
        existing.update(m.name for m in await s.mailstore.shared(s.account_id))
    listed: dict[str, bytes] = {}
    for name in subscriptions:
        if regex.fullmatch(name):
            listed[name] = b"" if name in existing else b"\\Noselect"
            continue
        # RFC 3501 6.3.9: a level above a subscribed name, reached by "%" where the name is not, stands in
        # for it with \Noselect (it is not subscribed itself, or it would be listed as itself).
        for parent in mailbox_names.parents(name):
            if parent not in subscribed and regex.fullmatch(parent):
                listed.setdefault(parent, b"\\Noselect")
    for name in sorted(listed):
        s.send(b"* LSUB (" + listed[name] + b') "/" ' + mailbox_name(s, name) + b"\r\n")
    await s.finish(c, "LSUB completed")


async def status_line(s: ImapSession, mailbox: Mailbox, items: tuple[str, ...]) -> bytes:
    # RECENT (RFC 3501 6.3.10): the messages no session has seen as \Recent yet; counted only when asked.
    recent = await s.mailstore.recent_count(mailbox.id) if "RECENT" in items else 0
    values = {
        "MESSAGES": mailbox.messages, "UIDNEXT": mailbox.uidnext, "UIDVALIDITY": mailbox.uidvalidity,
        "UNSEEN": mailbox.unseen, "DELETED": mailbox.deleted, "SIZE": mailbox.size, "RECENT": recent,
        "HIGHESTMODSEQ": mailbox.highestmodseq, "APPENDLIMIT": s.mailstore.max_message_size,
    }
    parts = []
    for item in items:
        if item == "MAILBOXID":
            parts.append(b"MAILBOXID (M%d)" % mailbox.id)
        elif item in values:
            parts.append(item.encode() + b" %d" % values[item])
    return b"* STATUS " + mailbox_name(s, mailbox.name) + b" (" + b" ".join(parts) + b")\r\n"


@handles(wire.Status, AUTHENTICATED)
async def status(s: ImapSession, c: wire.Status) -> None:
    mailbox = await s.mailstore.mailbox(s.account_id, c.mailbox)
    s.send(await status_line(s, mailbox, c.items))
    await s.finish(c, "STATUS completed")


# -- quotas (RFC 9208): one root, "", per account; limits are account settings, set by admins --

async def _quota_line(s: ImapSession) -> bytes | None:
    """The QUOTA response of the account's root; None when it has no limits (then there is no root: the
    grammar's quota-list holds at least one resource)."""
    used, messages, max_size, max_messages = await s.mailstore.quota(s.account_id)
    resources = []
    if max_size is not None:
        resources.append(b"STORAGE %d %d" % ((used + 1023) // 1024, max_size // 1024))
    if max_messages is not None:
        resources.append(b"MESSAGE %d %d" % (messages, max_messages))
    if not resources:
        return None
    return b'* QUOTA "" (' + b" ".join(resources) + b")\r\n"


@handles(wire.GetQuotaRoot, AUTHENTICATED)
async def get_quota_root(s: ImapSession, c: wire.GetQuotaRoot) -> None:
    await s.mailstore.mailbox(s.account_id, c.mailbox)
    quota = await _quota_line(s)
    s.send(b"* QUOTAROOT " + mailbox_name(s, c.mailbox) + (b' ""' if quota else b"") + b"\r\n")
    if quota is not None:
        s.send(quota)
    await s.finish(c, "GETQUOTAROOT completed")


@handles(wire.GetQuota, AUTHENTICATED)
async def get_quota(s: ImapSession, c: wire.GetQuota) -> None:
    quota = await _quota_line(s) if c.root == "" else None
    if quota is None:
        raise ImapRefusal("NO", f"no quota root {c.root!r}", "NONEXISTENT")
    s.send(quota)
    await s.finish(c, "GETQUOTA completed")


@handles(wire.SetQuota, AUTHENTICATED)
async def set_quota(s: ImapSession, c: wire.SetQuota) -> None:
    raise ImapRefusal("NO", "quotas are set by administrators (MaxAccountSize, MaxMessages)", "NOPERM")


__all__ = ["State"]
