"""Block lists in the record store (SQLite and PostgreSQL) and which senders an item covers (XEP-0191)."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import BlocklistFull, Blocklists
from polyport.im import blocking as blocking_module
from polyport.im.blocking import blocks
from polyport.store import RecordStore


async def test_block_unblock_and_the_bound(records: RecordStore, directory: Directory,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    account = (await directory.create_account("juliet", password="pw")).id
    lists = Blocklists(records)
    assert await lists.block(account, ["romeo@example.net", "tybalt@example.net", "romeo@example.net"]) == \
        ["romeo@example.net", "tybalt@example.net"]
    assert await lists.block(account, ["romeo@example.net"]) == []  # blocked already
    assert await lists.items(account) == ["romeo@example.net", "tybalt@example.net"]
    assert await lists.unblock(account, ["tybalt@example.net", "nobody@example.net"]) == ["tybalt@example.net"]
    monkeypatch.setattr(blocking_module, "MAX_ITEMS", 2)
    with pytest.raises(BlocklistFull):
        await lists.block(account, ["a@example.net", "b@example.net"])
    assert await lists.items(account) == ["romeo@example.net"]  # nothing half done
    assert await lists.unblock(account, None) == ["romeo@example.net"]
    assert await lists.items(account) == []


@pytest.mark.parametrize(("item", "sender", "covered"), [
    (("romeo", "example.net", ""), ("romeo", "example.net", "phone"), True),  # a bare JID: any resource
    (("romeo", "example.net", "phone"), ("romeo", "example.net", "phone"), True),
    (("romeo", "example.net", "phone"), ("romeo", "example.net", "pc"), False),  # a full JID: that one
    (("", "example.net", ""), ("tybalt", "example.net", "x"), True),  # a domain: everyone there
    (("", "example.net", ""), ("", "example.net", ""), True),
    (("", "example.net", "res"), ("", "example.net", "res"), True),
    (("romeo", "example.net", ""), ("romeo", "example.com", ""), False),
    (("romeo", "example.net", ""), ("juliet", "example.net", ""), False),
])
def test_which_senders_an_item_covers(item: tuple[str, str, str], sender: tuple[str, str, str],
                                      covered: bool) -> None:
    assert blocks([item], sender) is covered
