"""A mailbox's keywords (IMAP's FLAGS list) and its first \\Recent UID, on the configured store backend
(SQLite and PostgreSQL), and revision 0011 that adds them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from polyport.mailstore import Mailstore, NoSuchMailbox
from polyport.mailstore import flags as fl
from polyport.mailstore.errors import TooManyKeywords
from polyport.store import SQLITE_FILE, RecordStore, Statement, unit_of
from tests.store.test_migrations import _alembic_to, _sql


def message(subject: str = "Hello") -> bytes:
    return (f"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            f"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nHi.\r\n").encode()


async def test_keywords_are_kept_as_first_used_and_outlive_their_messages(mailstore: Mailstore, account: int) -> None:
    inbox = await mailstore.mailbox(account, "INBOX")
    assert await mailstore.keywords(inbox.id) == []
    await mailstore.append(account, "INBOX", message("one"), ["\\Seen", "$Label1"])
    second = await mailstore.append(account, "INBOX", message("two"))
    assert await mailstore.keywords(inbox.id) == ["$Label1"]
    await mailstore.store_flags(inbox.id, [second.uid], "add", ["$label1", "Work", "\\Deleted"])
    assert await mailstore.keywords(inbox.id) == ["$Label1", "Work"]  # compared without case
    await mailstore.store_flags(inbox.id, [second.uid], "replace", ["$Junk"])
    await mailstore.store_flags(inbox.id, [second.uid], "remove", ["$Junk"])
    assert await mailstore.keywords(inbox.id) == ["$Label1", "Work", "$Junk"]
    await mailstore.store_flags(inbox.id, [1, second.uid], "add", ["\\Deleted"])
    await mailstore.expunge(inbox.id)
    assert await mailstore.keywords(inbox.id) == ["$Label1", "Work", "$Junk"]


async def test_copies_and_moves_bring_their_keywords(mailstore: Mailstore, account: int) -> None:
    inbox = await mailstore.mailbox(account, "INBOX")
    await mailstore.append(account, "INBOX", message("one"), ["$Forwarded"])
    await mailstore.append(account, "INBOX", message("two"), ["Later", "$forwarded"])
    await mailstore.copy(account, inbox.id, [1, 2], "Archive")
    await mailstore.copy(account, inbox.id, [2], "Trash", move=True)
    archive, trash = await mailstore.mailbox(account, "Archive"), await mailstore.mailbox(account, "Trash")
    assert await mailstore.keywords(archive.id) == ["$Forwarded", "Later"]
    assert await mailstore.keywords(trash.id) == ["Later", "$forwarded"]


async def test_a_full_mailbox_refuses_a_clients_new_keywords_not_copies(mailstore: Mailstore, account: int,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """flags.MAX_MAILBOX_KEYWORDS: a client's STORE or APPEND of a keyword new to a full mailbox is refused
    (and nothing of it done); keywords already known still go, and a COPY or MOVE is never refused for the
    keywords it brings (a full Trash must not stop a deletion)."""
    monkeypatch.setattr(fl, "MAX_MAILBOX_KEYWORDS", 3)
    inbox = await mailstore.mailbox(account, "INBOX")
    await mailstore.append(account, "INBOX", message("one"), ["One", "Two"])
    await mailstore.append(account, "Archive", message("other"), ["Elsewhere", "More", "Most"])
    await mailstore.store_flags(inbox.id, [1], "add", ["Three", "one"])
    with pytest.raises(TooManyKeywords):
        await mailstore.store_flags(inbox.id, [1], "add", ["Four", "\\Seen"])
    with pytest.raises(TooManyKeywords):
        await mailstore.append(account, "INBOX", message("two"), ["Four"])
    (meta,) = await mailstore.meta(inbox.id, 1, 1)
    assert meta.keywords == "One Two Three" and not meta.flags  # the refused STORE changed nothing
    assert (await mailstore.mailbox(account, "INBOX")).messages == 1
    await mailstore.store_flags(inbox.id, [1], "replace", ["two", "THREE"])  # known ones still go
    archive = await mailstore.mailbox(account, "Archive")
    await mailstore.copy(account, archive.id, [1], "INBOX", move=True)
    assert await mailstore.keywords(inbox.id) == ["One", "Two", "Three", "Elsewhere", "More", "Most"]


async def test_keywords_not_known_yet_are_read_from_the_messages_once(mailstore: Mailstore, account: int,
                                                                    records: RecordStore) -> None:
    """Mailboxes made before revision 0011 have NULL: their first use computes the list, and a STORE in the
    meantime leaves it to that."""
    inbox = await mailstore.mailbox(account, "INBOX")
    await mailstore.append(account, "INBOX", message("one"), ["Zeta", "Alpha"])
    await mailstore.append(account, "INBOX", message("two"), ["alpha"])
    await records.write(unit_of(Statement("UPDATE mailboxes SET keywords = NULL WHERE id = :id").run(id=inbox.id)))
    await mailstore.store_flags(inbox.id, [2], "add", ["Beta"])
    assert sorted(k.lower() for k in await mailstore.keywords(inbox.id)) == ["alpha", "beta", "zeta"]
    stored = await records.fetch(Statement("SELECT keywords FROM mailboxes WHERE id = :id").value(id=inbox.id))
    assert stored is not None and sorted(stored.lower().split(" ")) == ["alpha", "beta", "zeta"]


async def test_recent_is_claimed_once(mailstore: Mailstore, account: int) -> None:
    inbox = await mailstore.mailbox(account, "INBOX")
    assert await mailstore.recent(inbox.id, claim=True) == (1, 1)  # nothing yet
    for number in range(3):
        await mailstore.append(account, "INBOX", message(f"m{number}"))
    assert await mailstore.recent_count(inbox.id) == 3
    assert await mailstore.recent(inbox.id, claim=False) == (1, 4)  # a look (EXAMINE) takes nothing
    assert await mailstore.recent(inbox.id, claim=True) == (1, 4)
    assert await mailstore.recent(inbox.id, claim=True) == (4, 4)
    assert await mailstore.recent_count(inbox.id) == 0
    await mailstore.append(account, "INBOX", message("new"))
    await mailstore.copy(account, inbox.id, [1], "INBOX")  # a copy is new in its mailbox
    assert await mailstore.recent_count(inbox.id) == 2
    assert await mailstore.recent(inbox.id, claim=True) == (4, 6)
    with pytest.raises(NoSuchMailbox):
        await mailstore.recent(10_000, claim=True)


async def test_concurrent_claims_never_share_a_message(mailstore: Mailstore, account: int) -> None:
    inbox = await mailstore.mailbox(account, "INBOX")

    async def arrive(count: int) -> None:
        for number in range(count):
            await mailstore.append(account, "INBOX", message(f"m{number}"))

    claims = await asyncio.gather(arrive(20), *(mailstore.recent(inbox.id, claim=True) for _ in range(20)))
    ranges = sorted(c for c in claims[1:] if c is not None)
    claimed = [uid for first, end in ranges for uid in range(first, end)]
    assert len(claimed) == len(set(claimed))
    first, end = await mailstore.recent(inbox.id, claim=True)
    assert sorted([*claimed, *range(first, end)]) == list(range(1, 21))


async def test_0011_keeps_old_mail_old_and_leaves_keywords_to_first_use(
        store_url: tuple[str, Path], mailstore: Mailstore, account: int) -> None:
    from polyport.store import migrate as migrations

    url, folder = store_url
    target = url or str(folder / SQLITE_FILE)
    inbox = await mailstore.mailbox(account, "INBOX")
    await asyncio.to_thread(_alembic_to, target, "0010")
    await asyncio.to_thread(_sql, target, f"UPDATE mailboxes SET uidnext = 42 WHERE id = {inbox.id}")
    await asyncio.to_thread(migrations.upgrade, target)
    rows = await asyncio.to_thread(_sql, target, f"SELECT first_recent, keywords FROM mailboxes WHERE id = {inbox.id}")
    assert rows == [(42, None)]
