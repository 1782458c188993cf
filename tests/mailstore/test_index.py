"""The in-memory message index: kept current with changes made through any Mailstore on the same store
(another process, another node), and bounded in size."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyport.bus import LocalBus
from polyport.directory import Directory
from polyport.mailstore import Mailstore, NoSuchMailbox
from polyport.mailstore import flags as fl
from polyport.mailstore.index import IndexCache, MessageIndex
from polyport.mailstore.records import META_SLICE
from polyport.mailstore.service import MessageMeta, ViewEntry
from polyport.store import LocalBlobStore, RecordStore
from polyport.store.sql import Op
from tests.mailstore.test_mailstore import message


def meta(uid: int, modseq: int = 1, flags: int = 0) -> MessageMeta:
    return MessageMeta(uid, modseq, flags, "", 0, 0, 100, uid, uid)


def test_updates_make_a_new_index() -> None:
    index = MessageIndex(7, 5, [meta(1), meta(2), meta(4)])
    assert index.range(2, 10) == [meta(2), meta(4)] and index.get(3) is None and len(index) == 3
    newer = index.updated(9, [ViewEntry(2, 9, fl.SEEN, "$x"), ViewEntry(4, 1, 0, "")], [1], [meta(6, 8)])
    assert [m.uid for m in newer.metas] == [2, 4, 6] and newer.highestmodseq == 9
    assert newer.get(2) == MessageMeta(2, 9, fl.SEEN, "$x", 0, 0, 100, 2, 2)
    assert [m.uid for m in index.metas] == [1, 2, 4]  # the old one is untouched
    merged = index.updated(10, [], [], [meta(3, 10)])  # an arrival below the largest UID still sorts in
    assert list(merged.uids) == [1, 2, 3, 4] and [m.uid for m in merged.metas] == [1, 2, 3, 4]


def test_the_cache_keeps_the_recently_used_within_its_budget() -> None:
    cache = IndexCache(budget=5)
    cache.put(MessageIndex(1, 1, [meta(1), meta(2)]))
    cache.put(MessageIndex(2, 1, [meta(1), meta(2)]))
    assert cache.get(1) is not None  # 1 is now the most recent
    cache.put(MessageIndex(3, 1, [meta(1), meta(2)]))
    assert cache.get(2) is None and cache.get(1) is not None and cache.get(3) is not None
    cache.put(MessageIndex(4, 1, [meta(u) for u in range(1, 7)]))  # larger than the whole cache
    assert cache.get(4) is None and cache.get(1) is not None


@pytest.fixture
def two_mailstores(records: RecordStore, directory: Directory, tmp_path: Path) -> tuple[Mailstore, Mailstore]:
    blobs = LocalBlobStore(tmp_path / "blobs")
    return (Mailstore(records, blobs, directory, LocalBus()), Mailstore(records, blobs, directory, LocalBus()))


async def test_changes_made_elsewhere_are_seen(two_mailstores: tuple[Mailstore, Mailstore],
                                               directory: Directory) -> None:
    here, elsewhere = two_mailstores
    account = (await directory.create_account("ivy", password="pw")).id
    await here.ensure_defaults(account)
    inbox = await here.mailbox(account, "INBOX")
    for i in range(3):
        await here.append(account, "INBOX", message(f"m{i}"))
    first = await here.index(inbox.id)
    assert [m.uid for m in first.metas] == [1, 2, 3]
    assert await here.index(inbox.id) is first  # nothing changed: the same object, no rows read

    await elsewhere.append(account, "INBOX", message("m3"), ["\\Flagged"])
    await elsewhere.store_flags(inbox.id, [2], "add", ["\\Seen", "$Work"])
    await elsewhere.store_flags(inbox.id, [1], "add", ["\\Deleted"])
    await elsewhere.expunge(inbox.id)
    current = await here.index(inbox.id)
    assert [m.uid for m in current.metas] == [2, 3, 4]
    two, four = current.get(2), current.get(4)
    assert two is not None and two.flags == fl.SEEN and two.keywords == "$Work"
    assert four is not None and four.flags == fl.FLAGGED and four.size == len(message("m3"))
    assert current.metas == (await elsewhere.index(inbox.id)).metas
    assert await here.meta(inbox.id, 3, 10) == current.metas[1:]

    await elsewhere.create(account, "Gone")
    gone = await here.mailbox(account, "Gone")
    await here.index(gone.id)
    await elsewhere.delete(account, "Gone")
    with pytest.raises(NoSuchMailbox):
        await here.index(gone.id)


async def test_an_index_read_in_slices_takes_in_what_changed_between_them(
        two_mailstores: tuple[Mailstore, Mailstore], directory: Directory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new index is read a slice of messages at a time (the loop turns between slices); a change made
    meanwhile (here, elsewhere after the first slice: an expunge, a flag change, an arrival) is in the
    index it gives, as if it had been read at once."""
    here, elsewhere = two_mailstores
    account = (await directory.create_account("ivy", password="pw")).id
    await here.ensure_defaults(account)
    inbox = await here.mailbox(account, "INBOX")
    for i in range(7):
        await here.append(account, "INBOX", message(f"m{i}"))
    monkeypatch.setattr("polyport.mailstore.service.INDEX_SLICE", 2)
    fetch = here.store.fetch
    slices = 0

    async def fetch_then_change(op: Op) -> object:
        nonlocal slices
        rows = await fetch(op)
        if op.statement is META_SLICE:
            slices += 1
            if slices == 1:  # after UIDs 1-2 were read
                await elsewhere.store_flags(inbox.id, [1, 5], "add", ["\\Seen"])
                await elsewhere.store_flags(inbox.id, [2, 6], "add", ["\\Deleted"])
                await elsewhere.expunge(inbox.id)
                await elsewhere.append(account, "INBOX", message("late"))
        return rows

    monkeypatch.setattr(here.store, "fetch", fetch_then_change)
    index = await here.index(inbox.id)
    assert slices == 4  # 2 + 2 + 2 + the last, short one
    assert [m.uid for m in index.metas] == [1, 3, 4, 5, 7, 8]
    assert [m.uid for m in index.metas if m.flags & fl.SEEN] == [1, 5]
    monkeypatch.undo()
    assert index.metas == (await elsewhere.index(inbox.id)).metas
    assert index.highestmodseq == (await elsewhere.index(inbox.id)).highestmodseq
