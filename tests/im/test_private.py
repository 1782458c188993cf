"""Private XML storage in the record store (SQLite and PostgreSQL): replaced by namespace, bounded, and gone
with its account."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import PrivateStorage, PrivateStorageFull
from polyport.im import private as private_module
from polyport.store import RecordStore


async def test_replaced_bounded_and_gone_with_the_account(records: RecordStore, directory: Directory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    account = (await directory.create_account("juliet", password="pw")).id
    storage = PrivateStorage(records)
    assert await storage.get(account, "storage:bookmarks") is None
    await storage.put(account, "storage:bookmarks", "<storage xmlns='storage:bookmarks'/>")
    await storage.put(account, "storage:bookmarks", "<storage xmlns='storage:bookmarks'><url/></storage>")
    assert await storage.get(account, "storage:bookmarks") == "<storage xmlns='storage:bookmarks'><url/></storage>"
    monkeypatch.setattr(private_module, "MAX_ITEMS", 2)
    await storage.put(account, "roster:delimiter", "<roster xmlns='roster:delimiter'>::</roster>")
    with pytest.raises(PrivateStorageFull):
        await storage.put(account, "x:third", "<x xmlns='x:third'/>")
    await storage.put(account, "roster:delimiter", "<roster xmlns='roster:delimiter'>/</roster>")  # a replacement
    with pytest.raises(PrivateStorageFull):
        await storage.put(account, "storage:bookmarks", "x" * (private_module.MAX_SIZE + 1))
    await directory.delete_account("juliet")
    assert await storage.get(account, "storage:bookmarks") is None
