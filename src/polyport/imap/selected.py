"""The selected mailbox as one session sees it: message numbers, and catching up with changes.

A session keeps the UIDs of the messages it has announced, in order (message sequence number n is
`uids[n-1]`), and the mod-sequence up to which it has reported changes. Catching up asks the mailstore
what changed since that mod-sequence and turns it into untagged responses: EXPUNGE (or VANISHED with
QRESYNC), EXISTS, and FETCH FLAGS. Expunges are only announced where RFC 3501 7.4.1 allows them (not
during FETCH, STORE or SEARCH), so message numbers never shift under a client's feet.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence

from polyport.imap import responses
from polyport.imap.fetch import flags_item
from polyport.imap.wire import SequenceSet
from polyport.mailstore import Mailbox, Mailstore, MessageMeta, ViewEntry


class Selected:
    def __init__(self, mailbox: Mailbox, readonly: bool, entries: Sequence[ViewEntry | MessageMeta],
                 highestmodseq: int) -> None:
        self.mailbox = mailbox
        self.readonly = readonly
        self.uids = array("I", (e.uid for e in entries))
        self.highestmodseq = highestmodseq
        # Changes this session made itself, by UID and mod-sequence: it has answered for them already.
        self.own_changes: dict[int, int] = {}
        self.pending_expunges: list[int] = []  # expunged elsewhere, not announced yet
        self.saved: list[int] = []  # SEARCHRES: UIDs the last SEARCH ... RETURN (SAVE) kept (RFC 5182)

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


def flags_response(number: int, uid: int, bits: int, keywords: str, modseq: int | None,
                   with_uid: bool) -> bytes:
    parts = [flags_item(bits, keywords)]
    if with_uid:
        parts.insert(0, b"UID %d" % uid)
    if modseq is not None:
        parts.append(b"MODSEQ (%d)" % modseq)
    return b"* %d FETCH (%s)\r\n" % (number, b" ".join(parts))


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
        if qresync:
            for uid in gone:
                selected.remove(uid)
            out.append(b"* VANISHED " + responses.sequence_set(gone) + b"\r\n")
        else:
            for uid in gone:
                number = selected.remove(uid)
                if number:
                    out.append(b"* %d EXPUNGE\r\n" % number)
    largest = selected.largest_uid
    new = [c.uid for c in changes.changed if c.uid > largest]
    if new:
        selected.add(new)
        out.append(b"* %d EXISTS\r\n" % selected.exists)
    for change in changes.changed:
        if change.uid > largest:
            continue
        if selected.own_changes.get(change.uid) == change.modseq:
            continue
        number = selected.msn(change.uid)
        if number:
            out.append(flags_response(number, change.uid, change.flags, change.keywords,
                                      change.modseq if condstore else None, uid_command or qresync))
    selected.own_changes.clear()
    # Expunges not announced yet are held in pending_expunges, so the view can move past them.
    selected.highestmodseq = max(selected.highestmodseq, changes.highestmodseq)
    return out
