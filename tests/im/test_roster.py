"""Rosters in the record store (SQLite and PostgreSQL): items set, renamed and removed, the version raised
by every change and only by a change, the limits, and an account's roster gone with the account."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import RosterItem, RosterRefused, Rosters
from polyport.im import roster as roster_module
from polyport.store import RecordStore


@pytest.fixture
async def account(directory: Directory) -> int:
    return (await directory.create_account("juliet", password="pw")).id


async def test_items_and_versions(records: RecordStore, account: int) -> None:
    rosters = Rosters(records)
    assert await rosters.roster(account) == (0, [])
    version, item = await rosters.set_item(account, "romeo@example.net", "Romeo", ("Friends", "Lovers"))
    assert version == 1 and item == RosterItem("romeo@example.net", "Romeo", groups=("Friends", "Lovers"))
    version, _ = await rosters.set_item(account, "nurse@example.com", "", ())
    version, _ = await rosters.set_item(account, "romeo@example.net", "R.", ("Friends",))  # a rename
    assert version == 3
    assert await rosters.roster(account) == (3, [RosterItem("nurse@example.com"),
                                                 RosterItem("romeo@example.net", "R.", groups=("Friends",))])
    assert await rosters.version(account) == 3 and await rosters.version(account) == 3  # reading changes nothing
    removed = await rosters.remove(account, "nurse@example.com")
    assert removed == (4, RosterItem("nurse@example.com"))
    assert await rosters.remove(account, "nurse@example.com") is None  # nothing there: no new version
    assert await rosters.version(account) == 4
    assert await rosters.item(account, "romeo@example.net") is not None


@pytest.mark.parametrize(("name", "groups", "condition"), [
    ("x" * 257, (), "not-acceptable"),
    ("", ("a",) * 2, "bad-request"),
    ("", ("",), "not-acceptable"),
    ("", tuple(f"g{n}" for n in range(33)), "not-acceptable"),
])
async def test_what_a_roster_item_may_hold(records: RecordStore, account: int, name: str,
                                           groups: tuple[str, ...], condition: str) -> None:
    rosters = Rosters(records)
    with pytest.raises(RosterRefused) as refused:
        await rosters.set_item(account, "romeo@example.net", name, groups)
    assert refused.value.condition == condition
    assert await rosters.roster(account) == (0, [])  # nothing half stored, no new version


async def test_a_roster_holds_at_most_its_limit(records: RecordStore, account: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_module, "MAX_ITEMS", 3)
    rosters = Rosters(records)
    for n in range(3):
        await rosters.set_item(account, f"c{n}@example.com", "", ())
    with pytest.raises(RosterRefused, match="at most 3") as refused:
        await rosters.set_item(account, "one-more@example.com", "", ())
    assert refused.value.condition == "not-allowed"
    await rosters.set_item(account, "c0@example.com", "renamed", ())  # changing one is still allowed


async def test_the_roster_goes_with_its_account(records: RecordStore, directory: Directory, account: int) -> None:
    rosters = Rosters(records)
    await rosters.set_item(account, "romeo@example.net", "", ())
    await directory.delete_account("juliet")
    assert await rosters.roster(account) == (0, [])
