"""A mailbox's message metadata held in memory, shared by the node's sessions (Dovecot keeps index files for
the same reason): SELECT and FETCH of flags, sizes and dates are answered without reading every row
again.

The store stays the truth. An index is valid for one HIGHESTMODSEQ of its mailbox; every change to a
mailbox (arrival, flags, expunge) raises it, under the mailbox row's lock, so mod-sequences follow commit
order. Before an index is used the mailbox's HIGHESTMODSEQ is read (one indexed row): when it moved, the
changes since are applied (CONDSTORE's own queries), so changes made by other processes or nodes are
seen as well as this node's. Indexes are immutable: an update makes a new one, so a session iterating an
older one is never disturbed. The cache keeps the most recently used ones, up to a total message count.
"""

from __future__ import annotations

import bisect
import dataclasses
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyport.mailstore.service import MessageMeta, ViewEntry

# Messages kept in all cached indexes together (about 150 bytes each).
CACHE_MESSAGES = 250_000


class MessageIndex:
    __slots__ = ("highestmodseq", "mailbox_id", "metas", "shape", "uids")

    def __init__(self, mailbox_id: int, highestmodseq: int, metas: list[MessageMeta],
                 uids: array[int] | None = None, shape: int | None = None) -> None:
        self.mailbox_id = mailbox_id
        self.highestmodseq = highestmodseq
        # The modification sequence at which the set of UIDs was last known to change: two indexes of a
        # mailbox with the same shape hold the same messages (flags aside), so orders computed from
        # UIDs, dates and sizes can be kept across flag changes.
        self.shape = highestmodseq if shape is None else shape
        self.metas = metas  # ascending UID
        self.uids = uids if uids is not None else array("I", (m.uid for m in metas))

    def __len__(self) -> int:
        return len(self.metas)

    def get(self, uid: int) -> MessageMeta | None:
        i = bisect.bisect_left(self.uids, uid)
        return self.metas[i] if i < len(self.uids) and self.uids[i] == uid else None

    def range(self, first: int, last: int) -> list[MessageMeta]:
        """The messages with first <= UID <= last."""
        return self.metas[bisect.bisect_left(self.uids, first):bisect.bisect_right(self.uids, last)]

    def updated(self, highestmodseq: int, changed: Sequence[ViewEntry], vanished: Iterable[int],
                arrived: Sequence[MessageMeta]) -> MessageIndex:
        """A new index with flag changes, expunges and arrivals applied: one copy of the list, changes put
        in place by bisection, arrivals appended (UIDs are taken under the mailbox's lock, so they arrive
        in ascending order, above every UID already here)."""
        gone = {uid for uid in vanished if self.get(uid) is not None}
        metas = [m for m in self.metas if m.uid not in gone] if gone else list(self.metas)
        uids = array("I", (m.uid for m in metas)) if gone else array("I", self.uids)
        for change in changed:
            i = bisect.bisect_left(uids, change.uid)
            if i < len(uids) and uids[i] == change.uid and metas[i].modseq != change.modseq:
                metas[i] = dataclasses.replace(metas[i], modseq=change.modseq, flags=change.flags,
                                               keywords=change.keywords)
        fresh = sorted((m for m in arrived if m.uid not in gone), key=lambda m: m.uid)
        ascending = not fresh or not uids or fresh[0].uid > uids[-1]
        metas.extend(fresh)
        if ascending:
            uids.extend(m.uid for m in fresh)
        else:  # not expected (see above), but an index must stay sorted whatever happens
            metas.sort(key=lambda m: m.uid)
            uids = array("I", (m.uid for m in metas))
        return MessageIndex(self.mailbox_id, highestmodseq, metas, uids,
                            highestmodseq if gone or fresh else self.shape)


class IndexCache:
    """The most recently used indexes, up to `budget` messages in all."""

    def __init__(self, budget: int = CACHE_MESSAGES) -> None:
        self.budget = budget
        self._indexes: OrderedDict[int, MessageIndex] = OrderedDict()
        self._messages = 0

    def get(self, mailbox_id: int) -> MessageIndex | None:
        index = self._indexes.get(mailbox_id)
        if index is not None:
            self._indexes.move_to_end(mailbox_id)
        return index

    def put(self, index: MessageIndex) -> None:
        old = self._indexes.pop(index.mailbox_id, None)
        if old is not None:
            self._messages -= len(old)
        if len(index) > self.budget:
            return  # larger than the whole cache: read from the store each time
        self._indexes[index.mailbox_id] = index
        self._messages += len(index)
        while self._messages > self.budget:
            _, evicted = self._indexes.popitem(last=False)
            self._messages -= len(evicted)

    def drop(self, mailbox_id: int) -> None:
        old = self._indexes.pop(mailbox_id, None)
        if old is not None:
            self._messages -= len(old)
