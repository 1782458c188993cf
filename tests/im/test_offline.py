"""Offline messages in the record store (SQLite and PostgreSQL): kept in order, taken once, bounded, and
gone with their account."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import OfflineFull, OfflineMessages
from polyport.im import offline as offline_module
from polyport.store import RecordStore


async def test_kept_in_order_and_taken_once(records: RecordStore, directory: Directory) -> None:
    account = (await directory.create_account("juliet", password="pw")).id
    offline = OfflineMessages(records)
    for n in range(3):
        await offline.store(account, f"<message id='{n}'/>")
    assert await offline.take(account) == ["<message id='0'/>", "<message id='1'/>", "<message id='2'/>"]
    assert await offline.take(account) == []


async def test_bounded_by_count_size_and_message(records: RecordStore, directory: Directory,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    account = (await directory.create_account("juliet", password="pw")).id
    offline = OfflineMessages(records)
    monkeypatch.setattr(offline_module, "MAX_MESSAGES", 2)
    monkeypatch.setattr(offline_module, "MAX_BYTES", 100)
    with pytest.raises(OfflineFull, match="over"):
        await offline.store(account, "x" * (offline_module.MAX_MESSAGE + 1))
    await offline.store(account, "a" * 60)
    with pytest.raises(OfflineFull, match="full"):
        await offline.store(account, "b" * 50)  # past 100 bytes
    await offline.store(account, "c" * 40)
    with pytest.raises(OfflineFull, match="full"):
        await offline.store(account, "d")  # past 2 messages
    assert len(await offline.take(account)) == 2


async def test_gone_with_the_account(records: RecordStore, directory: Directory) -> None:
    account = (await directory.create_account("juliet", password="pw")).id
    offline = OfflineMessages(records)
    await offline.store(account, "<message/>")
    await directory.delete_account("juliet")
    assert await offline.take(account) == []
