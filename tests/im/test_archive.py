"""The message archive in the record store (SQLite and PostgreSQL): batched writes, paging forwards and
backwards by id, filters by contact and time, expiry, and gone with its account."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import ArchiveItemNotFound, MessageArchive
from polyport.store import RecordStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def filled(records: RecordStore, directory: Directory) -> tuple[MessageArchive, int, Clock, list[str]]:
    account = (await directory.create_account("juliet", password="pw")).id
    clock = Clock()
    archive = MessageArchive(records, clock)
    ids = []
    for n in range(10):
        other = "romeo@example.com" if n % 2 == 0 else "nurse@example.com"
        entry = archive.entry(account, other, f"<message id='{n}'/>", days=1 if n < 2 else 30)
        ids.append(entry.id)
        await archive.add(entry)
        clock.now += 60
    return archive, account, clock, ids


def numbers(page: object) -> list[str]:
    return [item.stanza.split("'")[1] for item in page.items]  # type: ignore[attr-defined]


async def test_pages_forwards_and_backwards(records: RecordStore, directory: Directory) -> None:
    archive, account, _, ids = await filled(records, directory)
    first = await archive.query(account, limit=4)
    assert numbers(first) == ["0", "1", "2", "3"] and not first.complete
    rest = await archive.query(account, after=ids[3], limit=10)
    assert numbers(rest) == ["4", "5", "6", "7", "8", "9"] and rest.complete
    last = await archive.query(account, last_page=True, limit=3)
    assert numbers(last) == ["7", "8", "9"] and not last.complete
    before = await archive.query(account, before=ids[7], limit=3)
    assert numbers(before) == ["4", "5", "6"]
    oldest = await archive.query(account, before=ids[2], limit=5)
    assert numbers(oldest) == ["0", "1"] and oldest.complete
    with pytest.raises(ArchiveItemNotFound):
        await archive.query(account, after="no-such-id")
    assert numbers(await archive.query(account, limit=0)) == []


async def test_filters_by_contact_and_time(records: RecordStore, directory: Directory) -> None:
    archive, account, _, _ = await filled(records, directory)
    romeo = await archive.query(account, with_jid="romeo@example.com")
    assert numbers(romeo) == ["0", "2", "4", "6", "8"]
    start = 1_700_000_000_000 + 3 * 60_000
    window = await archive.query(account, start=start, end=start + 2 * 60_000)
    assert numbers(window) == ["3", "4", "5"]
    assert [item.with_jid for item in window.items] == ["nurse@example.com", "romeo@example.com",
                                                         "nurse@example.com"]


async def test_expiry_and_the_accounts_end(records: RecordStore, directory: Directory) -> None:
    archive, account, clock, _ = await filled(records, directory)
    clock.now += 2 * 86_400
    assert await archive.expire() == 2  # the two kept for a day
    assert numbers(await archive.query(account, limit=1)) == ["2"]
    other = (await directory.create_account("romeo", password="pw")).id
    await archive.add(archive.entry(other, "juliet@example.com", "<message id='r'/>", days=30))
    await archive.forget(account)
    assert numbers(await archive.query(account)) == []
    await directory.delete_account("romeo")
    assert numbers(await archive.query(other)) == []


async def test_flush_waits_for_what_came_before_it_not_for_a_quiet_moment(records: RecordStore,
                                                                          directory: Directory) -> None:
    """Under a steady stream of additions a flush still returns, once what was added before it is stored."""
    import asyncio

    account = (await directory.create_account("juliet", password="pw")).id
    archive = MessageArchive(records)
    await archive.add(archive.entry(account, "romeo@example.com", "<message id='first'/>", days=30))
    keep_adding = True

    async def steady() -> None:
        n = 0
        while keep_adding:
            n += 1
            await archive.add(archive.entry(account, "romeo@example.com", f"<message id='{n}'/>", days=30))
            await asyncio.sleep(0.001)

    adder = asyncio.create_task(steady())
    try:
        await asyncio.wait_for(archive.flush(), 5)
        page = await asyncio.wait_for(archive.query(account, limit=1), 5)
        assert numbers(page) == ["first"]
    finally:
        keep_adding = False
        await adder
