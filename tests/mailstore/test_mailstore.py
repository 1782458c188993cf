"""The Mailstore on the configured store backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from polyport.bus import LocalBus, topics
from polyport.bus.events import MailboxChanged
from polyport.directory import Directory
from polyport.mailstore import (
    CannotDelete,
    InvalidMailboxName,
    MailboxExists,
    Mailstore,
    MessageTooLarge,
    NoSuchMailbox,
    OverQuota,
)
from polyport.mailstore import flags as fl
from polyport.store import LocalBlobStore, RecordStore
from polyport.store.blobs import BlobNotFound


def message(subject: str = "Hello", body: str = "Hi there.\r\n", sender: str = "alice@example.com",
            extra: str = "") -> bytes:
    return (f"From: Alice <{sender}>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            f"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@example.com>\r\n"
            f"{extra}\r\n{body}").encode()


async def test_first_use_creates_inbox_and_special_use_mailboxes(mailstore: Mailstore, account: int) -> None:
    boxes = {m.name: m.special_use for m in await mailstore.mailboxes(account)}
    assert boxes == {"INBOX": None, "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk",
                     "Archive": "\\Archive"}
    assert set(await mailstore.subscriptions(account)) == set(boxes)
    await mailstore.ensure_defaults(account)  # twice is fine
    assert len(await mailstore.mailboxes(account)) == 6


async def test_append_assigns_ascending_uids_and_counts(mailstore: Mailstore, account: int) -> None:
    first = await mailstore.append(account, "inbox", message("one"))
    second = await mailstore.append(account, "INBOX", message("two"), ["\\Seen", "$Label"])
    assert (first.uid, second.uid) == (1, 2)
    assert second.modseq > first.modseq
    box = await mailstore.mailbox(account, "INBOX")
    assert (box.messages, box.unseen, box.uidnext) == (2, 1, 3)
    assert box.uidvalidity == box.id
    rows = await mailstore.full(box.id, 1, 10)
    assert [r.uid for r in rows] == [1, 2]
    assert rows[1].flag_names == ["\\Seen", "$Label"]
    assert rows[0].structure().envelope.subject == "one"
    assert await mailstore.read(rows[0].blob) == message("one")
    assert rows[0].subject == "one" and "alice@example.com" in rows[0].addresses


async def test_concurrent_appends_never_share_a_uid(mailstore: Mailstore, account: int) -> None:
    results = await asyncio.gather(*(mailstore.append(account, "INBOX", message(f"m{i}")) for i in range(40)))
    assert sorted(r.uid for r in results) == list(range(1, 41))
    assert len({r.modseq for r in results}) == 40


@pytest.mark.parametrize("inline_max", [0, 64 * 1024])
async def test_identical_bodies_are_stored_once(mailstore: Mailstore, account: int, directory: Directory,
                                                records: RecordStore, inline_max: int) -> None:
    """As a blob file, or (small ones) in the body record: either way once."""
    from polyport.store import Statement

    mailstore.inline_max = inline_max
    other = (await directory.create_account("carol", password="pw")).id
    await mailstore.ensure_defaults(other)
    await mailstore.append(account, "INBOX", message("same"))
    await mailstore.append(other, "INBOX", message("same"))
    await mailstore.append(account, "Archive", message("same"))
    rows = await mailstore.full((await mailstore.mailbox(account, "INBOX")).id, 1, 1)
    blobs = mailstore.blobs
    assert isinstance(blobs, LocalBlobStore)
    stored = [p for p in blobs.root.rglob("*") if p.is_file()]
    if inline_max:
        assert stored == []
    else:
        assert len(stored) == 1 and stored[0].name == rows[0].blob
    assert await records.fetch(Statement("SELECT count(*) FROM bodies").value()) == 1
    assert await mailstore.read(rows[0].blob) == message("same")
    assert await mailstore.read(rows[0].blob, 6, 5, size=rows[0].size) == message("same")[6:11]


async def test_flags_set_add_remove_and_modseq(mailstore: Mailstore, account: int) -> None:
    for i in range(3):
        await mailstore.append(account, "INBOX", message(f"f{i}"))
    box = await mailstore.mailbox(account, "INBOX")
    changes, modified = await mailstore.store_flags(box.id, [1, 2], "add", ["\\Seen", "Work"])
    assert [c.uid for c in changes] == [1, 2] and modified == []
    assert changes[0].flags == fl.SEEN and changes[0].keywords == "Work"
    again, _ = await mailstore.store_flags(box.id, [1], "add", ["\\Seen"])
    assert again == []  # nothing changed, no new modseq
    removed, _ = await mailstore.store_flags(box.id, [1], "remove", ["work"])
    assert removed[0].keywords == ""
    replaced, _ = await mailstore.store_flags(box.id, [2], "replace", ["\\Flagged"])
    assert replaced[0].flags == fl.FLAGGED and replaced[0].keywords == ""
    assert (await mailstore.mailbox(account, "INBOX")).unseen == 2
    # UNCHANGEDSINCE (RFC 7162): messages changed after the given modseq are refused.
    current = (await mailstore.meta(box.id, 1, 3))
    _, refused = await mailstore.store_flags(box.id, [1, 3], "add", ["\\Answered"],
                                             unchanged_since=current[0].modseq - 1)
    assert refused == [1]
    with pytest.raises(fl.FlagError):
        await mailstore.store_flags(box.id, [1], "add", ["\\Recent"])


async def test_expunge_leaves_tombstones_for_qresync(mailstore: Mailstore, account: int) -> None:
    for i in range(4):
        await mailstore.append(account, "INBOX", message(f"e{i}"))
    box = await mailstore.mailbox(account, "INBOX")
    before = box.highestmodseq
    await mailstore.store_flags(box.id, [2, 3, 4], "add", ["\\Deleted"])
    assert await mailstore.expunge(box.id, [2, 3]) == [2, 3]
    assert await mailstore.expunge(box.id) == [4]
    changes = await mailstore.changes_since(box.id, before)
    assert changes.vanished == [2, 3, 4]
    assert [c.uid for c in changes.changed] == []  # uid 1 untouched since `before`
    box = await mailstore.mailbox(account, "INBOX")
    assert (box.messages, box.deleted) == (1, 0)
    assert [m.uid for m in await mailstore.view(box.id)] == [1]


async def test_copy_and_move(mailstore: Mailstore, account: int) -> None:
    for i in range(3):
        await mailstore.append(account, "INBOX", message(f"c{i}"), ["\\Seen"] if i == 0 else [])
    inbox = await mailstore.mailbox(account, "INBOX")
    copied, removed = await mailstore.copy(account, inbox.id, [1, 3], "Archive")
    assert (copied.source_uids, copied.target_uids, removed) == ([1, 3], [1, 2], [])
    moved, removed = await mailstore.copy(account, inbox.id, [2], "Archive", move=True)
    assert moved.target_uids == [3] and removed == [2]
    archive = await mailstore.mailbox(account, "Archive")
    assert (archive.messages, archive.unseen) == (3, 2)
    assert [m.flag_names for m in await mailstore.meta(archive.id, 1, 3)] == [["\\Seen"], [], []]
    with pytest.raises(NoSuchMailbox):
        await mailstore.copy(account, inbox.id, [1], "Nowhere")


async def test_mailbox_create_rename_delete(mailstore: Mailstore, account: int) -> None:
    await mailstore.create(account, "Projects/2026/Q1")
    names = [m.name for m in await mailstore.mailboxes(account)]
    assert {"Projects", "Projects/2026", "Projects/2026/Q1"} <= set(names)
    with pytest.raises(MailboxExists):
        await mailstore.create(account, "Projects")
    await mailstore.append(account, "Projects/2026/Q1", message("q1"))
    renamed = await mailstore.rename(account, "Projects", "Work")
    assert ("Projects/2026/Q1", "Work/2026/Q1") in renamed
    assert (await mailstore.mailbox(account, "Work/2026/Q1")).messages == 1
    with pytest.raises(CannotDelete):
        await mailstore.rename(account, "Work", "Work/inside")
    await mailstore.delete(account, "Work/2026/Q1")
    with pytest.raises(NoSuchMailbox):
        await mailstore.mailbox(account, "Work/2026/Q1")
    with pytest.raises(CannotDelete):
        await mailstore.delete(account, "INBOX")
    for bad in ("", "a//b", "/a", "a/", "a*b", "x%", "tab\there"):
        with pytest.raises(InvalidMailboxName):
            await mailstore.create(account, bad)


async def test_renaming_inbox_moves_its_messages(mailstore: Mailstore, account: int) -> None:
    await mailstore.append(account, "INBOX", message("old1"))
    await mailstore.append(account, "INBOX", message("old2"))
    await mailstore.rename(account, "INBOX", "Old Inbox")
    assert (await mailstore.mailbox(account, "INBOX")).messages == 0
    old = await mailstore.mailbox(account, "Old Inbox")
    assert [m.uid for m in await mailstore.view(old.id)] == [1, 2]


async def test_quotas(mailstore: Mailstore, account: int, directory: Directory) -> None:
    await directory.update_account_settings("bob", {"MaxMessages": "2", "MaxMailboxes": "7"})
    await mailstore.append(account, "INBOX", message("q1"))
    await mailstore.append(account, "INBOX", message("q2"))
    with pytest.raises(OverQuota, match="message quota"):
        await mailstore.append(account, "INBOX", message("q3"))
    await mailstore.create(account, "Seventh")
    with pytest.raises(OverQuota, match="mailboxes"):
        await mailstore.create(account, "Eighth")
    await directory.update_account_settings("bob", {"MaxMessages": "default", "MaxAccountSize": "1K"})
    with pytest.raises(OverQuota, match="storage quota"):
        await mailstore.append(account, "INBOX", message("big", body="x" * 2000))
    assert (await mailstore.quota(account))[:2] == (len(message("q1")) + len(message("q2")), 2)
    mailstore.max_message_size = 100
    with pytest.raises(MessageTooLarge):
        await mailstore.append(account, "INBOX", message("huge", body="y" * 200))
    # Over the quota (an administrator lowered it): copies are refused, moving to Trash still works.
    await directory.update_account_settings("bob", {"MaxAccountSize": "default", "MaxMessages": "1"})
    inbox = await mailstore.mailbox(account, "INBOX")
    with pytest.raises(OverQuota):
        await mailstore.copy(account, inbox.id, [1], "Trash")
    copied, _ = await mailstore.copy(account, inbox.id, [1], "Trash", move=True)
    assert copied.source_uids == [1]


async def test_changes_are_published(mailstore: Mailstore, account: int, bus: LocalBus) -> None:
    inbox = await mailstore.mailbox(account, "INBOX")
    subscription = bus.subscribe(topics.mailbox(inbox.id))
    appended = await mailstore.append(account, "INBOX", message("event"))
    await mailstore.store_flags(inbox.id, [appended.uid], "add", ["\\Deleted"])
    await mailstore.expunge(inbox.id)
    events = [subscription.get_nowait() for _ in range(3)]
    assert [e.change for e in events if isinstance(e, MailboxChanged)] == ["append", "flags", "expunge"]


async def test_threads_follow_references(mailstore: Mailstore, account: int) -> None:
    await mailstore.append(account, "INBOX", message("root"))
    reply = message("reply", extra="In-Reply-To: <root@example.com>\r\nReferences: <root@example.com>\r\n")
    await mailstore.append(account, "INBOX", reply)
    await mailstore.append(account, "INBOX", message("unrelated"))
    rows = await mailstore.meta((await mailstore.mailbox(account, "INBOX")).id, 1, 3)
    assert rows[0].thread_id == rows[1].thread_id != rows[2].thread_id


@pytest.mark.parametrize("inline_max", [0, 64 * 1024])
async def test_unreferenced_bodies_are_swept_after_the_grace(mailstore: Mailstore, account: int,
                                                             inline_max: int) -> None:
    mailstore.inline_max = inline_max
    appended = await mailstore.append(account, "INBOX", message("gone"))
    inbox = await mailstore.mailbox(account, "INBOX")
    blob = (await mailstore.full(inbox.id, 1, 1))[0].blob
    await mailstore.store_flags(inbox.id, [appended.uid], "add", ["\\Deleted"])
    await mailstore.expunge(inbox.id)
    assert await mailstore.sweep() == 0  # within the grace period
    assert await mailstore.read(blob) == message("gone")
    assert await mailstore.blobs.exists(blob) == (not inline_max)
    assert await mailstore.sweep(grace=-10) == 1
    assert not await mailstore.blobs.exists(blob)
    with pytest.raises(BlobNotFound):
        await mailstore.read(blob)


async def test_concurrent_changes_neither_deadlock_nor_skew_the_counters(mailstore: Mailstore, account: int,
                                                                         records: RecordStore) -> None:
    """Stores, expunges and moves both ways at once (real concurrency on PostgreSQL): every unit locks its
    mailboxes before their messages, so none deadlocks, and the stored counters match the messages."""
    from polyport.store import Statement

    await mailstore.create(account, "Other")
    inbox = await mailstore.mailbox(account, "INBOX")
    other = await mailstore.mailbox(account, "Other")
    await mailstore.append_many(account, "INBOX", [(message(f"m{i}"), (), None) for i in range(30)])
    await mailstore.append_many(account, "Other", [(message(f"o{i}"), (), None) for i in range(30)])
    for round_number in range(6):
        inbox_uids = [e.uid for e in (await mailstore.index(inbox.id)).metas]
        other_uids = [e.uid for e in (await mailstore.index(other.id)).metas]
        await asyncio.gather(
            mailstore.store_flags(inbox.id, inbox_uids[::2], "add", ["\\Deleted", "\\Seen"]),
            mailstore.store_flags(inbox.id, inbox_uids[1::3], "remove" if round_number % 2 else "add", ["\\Seen"]),
            mailstore.expunge(inbox.id),
            mailstore.copy(account, inbox.id, inbox_uids[-2:], "Other", move=True),
            mailstore.copy(account, other.id, other_uids[-2:], "INBOX", move=True),
            mailstore.store_flags(other.id, other_uids, "add", ["\\Deleted"]),
            mailstore.expunge(other.id, other_uids[:3]),
        )
    counted = Statement("""
        SELECT count(*) AS messages, coalesce(sum(size), 0) AS size,
               coalesce(sum(CASE WHEN (flags & 1) = 0 THEN 1 ELSE 0 END), 0) AS unseen,
               coalesce(sum(CASE WHEN (flags & 8) != 0 THEN 1 ELSE 0 END), 0) AS deleted
        FROM messages WHERE mailbox_id = :mailbox_id""")
    for box in (inbox, other):
        actual = await records.fetch(counted.one(mailbox_id=box.id))
        stored = await mailstore.mailbox(account, box.name)
        assert (stored.messages, stored.size, stored.unseen, stored.deleted) == (
            int(actual["messages"]), int(actual["size"]), int(actual["unseen"]), int(actual["deleted"]))
