"""The selected mailbox as one session sees it: message numbers, and catching up with changes.

A session keeps the UIDs of the messages it has announced, in order (message sequence number n is
`uids[n-1]`), and the mod-sequence up to which it has reported changes. Catching up asks the mailstore
what changed since that mod-sequence and turns it into untagged responses: EXPUNGE (or VANISHED with
QRESYNC), EXISTS, and FETCH FLAGS. Expunges are only announced where RFC 3501 7.4.1 allows them (not
during FETCH, STORE or SEARCH), so message numbers never shift under a client's feet.

An IMAP4rev1 session also keeps the UIDs that are \\Recent to it (RFC 3501 2.3.2): the ones it claimed from
the mailstore (no other session sees them as recent) at SELECT and when new messages show up. IMAP4rev2
dropped \\Recent: such a session claims nothing and is told no RECENT count.

The selection also holds the updating contexts of SEARCH and SORT (contexts.py, RFC 5267 section 4), which
end with it: catching up tells them of the messages touched, and of expunges before they are announced.

The session also keeps the keywords it has announced in FLAGS: a change showing one it has not announced
yet (set here or elsewhere) brings FLAGS and PERMANENTFLAGS again first (RFC 3501 7.2.6), so a client is
never shown a keyword its mailbox was said not to have.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence

from polyport.imap import responses
from polyport.imap.contexts import Contexts
from polyport.imap.fetch import flags_item
from polyport.imap.wire import SequenceSet
from polyport.mailstore import Mailbox, Mailstore, MessageMeta, ViewEntry, acl
from polyport.mailstore import flags as fl

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


class Recent:
    """The UIDs \\Recent to one session: the ranges first <= UID < end it claimed, in ascending order (each
    claim starts where the mailbox's last one ended). A container for `uid in recent` (SEARCH, FETCH)."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, first: int, end: int) -> None:
        if first >= end:
            return
        if self.ends and first <= self.ends[-1]:  # continues (or overlaps) the last range
            self.ends[-1] = max(self.ends[-1], end)
        else:
            self.starts.append(first)
            self.ends.append(end)

    def __contains__(self, uid: object) -> bool:
        if not self.starts or not isinstance(uid, int):
            return False
        i = bisect.bisect_right(self.starts, uid) - 1
        return i >= 0 and uid < self.ends[i]

    def count(self, uids: Sequence[int]) -> int:
        """How many of `uids` (ascending) are recent."""
        return sum(bisect.bisect_left(uids, end) - bisect.bisect_left(uids, first)
                   for first, end in zip(self.starts, self.ends, strict=True))


class Selected:
    def __init__(self, mailbox: Mailbox, readonly: bool, entries: Sequence[ViewEntry | MessageMeta],
                 highestmodseq: int, keywords: Iterable[str] = (), *, recent: Recent | None = None,
                 reports_recent: bool = False, claims_recent: bool = False) -> None:
        self.mailbox = mailbox
        self.readonly = readonly
        self.uids = array("I", (e.uid for e in entries))
        self.highestmodseq = highestmodseq
        # Changes this session made itself, by UID and mod-sequence: it has answered for them already.
        self.own_changes: dict[int, int] = {}
        self.pending_expunges: list[int] = []  # expunged elsewhere, not announced yet
        self.saved: list[int] = []  # SEARCHRES: UIDs the last SEARCH ... RETURN (SAVE) kept (RFC 5182)
        self.contexts = Contexts()  # RFC 5267: results kept up to date (SEARCH/SORT RETURN (UPDATE))
        # The keywords announced in FLAGS, by their lower-case form (keywords compare without case).
        self.keywords: dict[str, str] = {}
        self.learn(keywords)
        self.recent = recent if recent is not None else Recent()
        # IMAP4rev1: RECENT counts are sent; a read-write selection of one's own mailbox claims new messages
        # as \Recent (one looking at them, EXAMINE or another account's session, takes nothing away).
        self.reports_recent = reports_recent
        self.claims_recent = claims_recent

    @property
    def id(self) -> int:
        return self.mailbox.id

    @property
    def exists(self) -> int:
        return len(self.uids)

    @property
    def largest_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def msn(self, uid: int) -> int:
        """The message number of a UID this session knows (0 if it does not)."""
        index = bisect.bisect_left(self.uids, uid)
        return index + 1 if index < len(self.uids) and self.uids[index] == uid else 0

    def resolve(self, sequence: SequenceSet, uid: bool) -> list[int]:
        """The UIDs a sequence set names, ascending. UID sets name existing UIDs only; "*" is the largest.
        "$" adds the saved search result."""
        uids = self.uids
        result: list[int] = []
        if uid:
            for low, high in sequence.resolve(self.largest_uid):
                start = bisect.bisect_left(uids, low)
                end = bisect.bisect_right(uids, high)
                result.extend(uids[start:end])
        else:
            count = len(uids)
            for low, high in sequence.resolve(count):
                if low > count:
                    continue
                result.extend(uids[low - 1:min(high, count)])
        if sequence.saved:
            present = set(uids)
            result = sorted(set(result) | {u for u in self.saved if u in present})
        return result

    def recent_count(self) -> int:
        return self.recent.count(self.uids)

    def learn(self, keywords: Iterable[str]) -> bool:
        """Note keywords seen on a message; True when one was not announced yet."""
        known = self.keywords
        new = False
        for keyword in keywords:
            if keyword and keyword.lower() not in known:
                known[keyword.lower()] = keyword
                new = True
        return new

    def learn_text(self, keywords: str) -> bool:
        """learn() for keywords as stored (space-separated); cheap for the many messages without any."""
        return bool(keywords) and self.learn(keywords.split(" "))

    def flag_lines(self) -> list[bytes]:
        """FLAGS and PERMANENTFLAGS (RFC 3501 7.2.6, 7.1): the system flags and the mailbox's keywords; the
        flags this session may change, and \\* when it may make new keywords (RFC 4314 section 4: the
        rights decide in another account's mailbox; none in a read-only one)."""
        keywords = list(self.keywords.values())
        lines = [b"* FLAGS " + responses.flags_list([*SYSTEM_FLAGS, *keywords]) + b"\r\n"]
        if self.readonly:
            lines.append(b"* OK [PERMANENTFLAGS ()] read-only\r\n")
        elif self.mailbox.shared:
            permanent = acl.permanent_flags(self.mailbox.rights)
            if "\\*" in permanent:
                at = permanent.index("\\*")
                permanent[at:at] = keywords
            lines.append(b"* OK [PERMANENTFLAGS " + responses.flags_list(permanent) +
                         b"] flags your rights let you change\r\n")
        else:
            # \\* only while the mailbox may take new keywords (RFC 3501 7.1: without it, none can be made).
            more = ["\\*"] if len(keywords) < fl.MAX_MAILBOX_KEYWORDS else []
            lines.append(b"* OK [PERMANENTFLAGS " + responses.flags_list([*SYSTEM_FLAGS, *keywords, *more]) +
                         b"] flags the client may change\r\n")
        return lines

    def only_own(self, heard: set[int]) -> int | None:
        """The mod-sequence the view may move to without reading the store, when the flag changes heard
        are this session's own (STORE answered them already) and its own changes took every mod-sequence
        after the view's, so that no other change lies between; else None (catch up as usual)."""
        own = set(self.own_changes.values())
        if not heard or not heard <= own or not _contiguous(own, self.highestmodseq):
            return None
        return max(own)

    def add(self, uids: Iterable[int]) -> None:
        for uid in sorted(uids):
            if not self.uids or uid > self.uids[-1]:
                self.uids.append(uid)

    def remove(self, uid: int) -> int:
        """Forget an expunged UID; returns the message number it had (0 if unknown)."""
        number = self.msn(uid)
        if number:
            del self.uids[number - 1]
        return number

    def forget(self, gone: Sequence[int]) -> list[int]:
        """Forget expunged UIDs (ascending): the message number each has as they are announced one after
        another, each EXPUNGE moving the later ones down (0 for a UID not known). Many are forgotten in one
        pass over the view, not a deletion (a move of the rest) each."""
        if len(gone) <= 32:
            return [self.remove(uid) for uid in gone]
        view = self.uids
        numbers: list[int] = []
        index = announced = 0
        for uid in gone:
            index = bisect.bisect_left(view, uid, index)
            if index < len(view) and view[index] == uid:
                numbers.append(index + 1 - announced)
                announced += 1
            else:
                numbers.append(0)
        leaving = set(gone)
        self.uids = array("I", [u for u in view if u not in leaving])
        return numbers


def flags_response(number: int, uid: int, bits: int, keywords: str, modseq: int | None,
                   with_uid: bool, recent: bool = False) -> bytes:
    parts = [flags_item(bits, keywords, recent)]
    if with_uid:
        parts.insert(0, b"UID %d" % uid)
    if modseq is not None:
        parts.append(b"MODSEQ (%d)" % modseq)
    return b"* %d FETCH (%s)\r\n" % (number, b" ".join(parts))


def _contiguous(modseqs: set[int], after: int) -> bool:
    return sorted(modseqs) == list(range(after + 1, after + 1 + len(modseqs)))


async def catch_up(selected: Selected, mailstore: Mailstore, *, expunges_allowed: bool, qresync: bool,
                   condstore: bool, uid_command: bool) -> list[bytes]:
    """Untagged responses for what changed since the session last looked, and the session's view moved
    forward. With `expunges_allowed` False, expunges wait (their messages keep their numbers)."""
    changes = await mailstore.changes_since(selected.id, selected.highestmodseq)
    out: list[bytes] = []
    if changes.vanished:
        known = set(selected.uids)
        selected.pending_expunges.extend(u for u in changes.vanished if u in known)
    if expunges_allowed and selected.pending_expunges:
        gone = sorted(set(selected.pending_expunges))
        selected.pending_expunges.clear()
        out += await selected.contexts.expunging(selected, gone)  # RFC 5267 4.3.4: before the expunge itself
        numbers = selected.forget(gone)
        if qresync:
            out.append(b"* VANISHED " + responses.sequence_set(gone) + b"\r\n")
        else:
            out += [b"* %d EXPUNGE\r\n" % number for number in numbers if number]
    largest = selected.largest_uid
    # Every change is looked at (not only the ones announced below): a keyword first set here must be in
    # FLAGS before any FETCH shows it.
    selected.contexts.touched(c.uid for c in changes.changed)  # own changes too: they may change a result
    new_keywords = False
    for change in changes.changed:
        new_keywords |= selected.learn_text(change.keywords)
    if new_keywords:
        out.extend(selected.flag_lines())
    new = [c.uid for c in changes.changed if c.uid > largest]
    if new:
        if selected.claims_recent:
            # The first session to see new messages has them as \Recent (RFC 3501 2.3.2); the claim takes
            # every UID up to UIDNEXT, so those still on their way are this session's too.
            selected.recent.add(*await mailstore.recent(selected.id, claim=True))
        elif selected.reports_recent:
            # EXAMINE, or another account's session: what nobody has claimed yet is recent here too,
            # without taking it from the session that will claim it.
            selected.recent.add(*await mailstore.recent(selected.id, claim=False))
        selected.add(new)
        out.append(b"* %d EXISTS\r\n" % selected.exists)
        if selected.reports_recent:
            out.append(b"* %d RECENT\r\n" % selected.recent_count())
    for change in changes.changed:
        if change.uid > largest:
            continue
        if selected.own_changes.get(change.uid) == change.modseq:
            continue
        number = selected.msn(change.uid)
        if number:
            out.append(flags_response(number, change.uid, change.flags, change.keywords,
                                      change.modseq if condstore else None, uid_command or qresync,
                                      change.uid in selected.recent))
    selected.own_changes.clear()
    # Expunges not announced yet are held in pending_expunges, so the view can move past them.
    selected.highestmodseq = max(selected.highestmodseq, changes.highestmodseq)
    return out
