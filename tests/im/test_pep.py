"""Personal eventing's nodes in the record store (SQLite and PostgreSQL): made on first publish under the
configuration decided as the node is stored, items replaced by id and kept to max_items, the last N and by
id, the last items of many accounts in one query, retraction, the limits, and gone with the account."""

from __future__ import annotations

from typing import Any

import pytest

from polyport.directory import Directory
from polyport.im import pep as pep_module
from polyport.im.pep import PepItem, PepNodes, PepRefused
from polyport.store import RecordStore


def keep(config: dict[str, Any]) -> Any:
    return lambda stored: stored if stored is not None else config


async def test_publish_items_and_limits(records: RecordStore, directory: Directory,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    alice = (await directory.create_account("alice", password="pw")).id
    bob = (await directory.create_account("bob", password="pw")).id
    nodes = PepNodes(records)
    seen: list[dict[str, Any] | None] = []

    def decide(stored: dict[str, Any] | None) -> dict[str, Any]:
        seen.append(stored)
        return stored if stored is not None else {"max_items": 2, "access_model": "open"}

    assert await nodes.publish(alice, "n", PepItem("1", 1, "<a xmlns='x'>1</a>"), decide) == \
        {"max_items": 2, "access_model": "open"}
    assert seen[0] is None and seen[-1] == {"max_items": 2, "access_model": "open"}
    for item_id in ("2", "1", "3"):  # "1" again replaces the first; then the oldest goes past max_items
        await nodes.publish(alice, "n", PepItem(item_id, 2, f"<a xmlns='x'>{item_id}</a>"), decide)
    assert [i.id for i in await nodes.items(alice, "n")] == ["1", "3"]
    assert [i.id for i in await nodes.items(alice, "n", last=1)] == ["3"]
    assert [i.id for i in await nodes.items(alice, "n", ids=("1", "nope"))] == ["1"]
    await nodes.publish(bob, "n", PepItem("b", 3, "<a xmlns='x'>b</a>"), keep({"max_items": 1}))
    last = await nodes.last_items([alice, bob], ["n", "other"])
    assert sorted((account, node, item.id) for account, node, _, item in last) == [(alice, "n", "3"), (bob, "n", "b")]
    assert await nodes.retract(alice, "n", "3") and not await nodes.retract(alice, "n", "3")
    assert not await nodes.create(alice, "n", {}) and await nodes.create(alice, "m", {})
    assert set(await nodes.nodes(alice)) == {"n", "m"}
    monkeypatch.setattr(pep_module, "MAX_NODES", 2)
    with pytest.raises(PepRefused) as err:
        await nodes.publish(alice, "third", PepItem("x", 4, "<a xmlns='x'/>"), keep({}))
    assert err.value.what == "nodes"
    monkeypatch.setattr(pep_module, "MAX_ACCOUNT_BYTES", 100)
    with pytest.raises(PepRefused) as err:
        await nodes.publish(alice, "n", PepItem("big", 5, "<a xmlns='x'>" + "x" * 200 + "</a>"), keep({}))
    assert err.value.what == "quota"
    assert await nodes.delete(alice, "n") and await nodes.config(alice, "n") is None
    await directory.delete_account("bob")
    assert await nodes.items(bob, "n") == []
