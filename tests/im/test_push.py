"""Push registrations (XEP-0357) in the record store (SQLite and PostgreSQL): one per app server and node,
replaced when enabled again, the oldest dropped past the bound, disabled by node or by app server, and gone
with the account."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import push as push_store
from polyport.im.push import PushRegistrations
from polyport.store import RecordStore


async def test_registrations_are_kept_per_node_and_bounded(records: RecordStore, directory: Directory,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    account = (await directory.create_account("pushy", password="pw")).id
    store = PushRegistrations(records)
    await store.enable(account, "push.example", "a", "<x/>")
    await store.enable(account, "push.example", "a", "<y/>")  # the same node again: replaced
    await store.enable(account, "push.example", "b")
    assert [(r.node, r.options) for r in await store.registrations(account)] == [("a", "<y/>"), ("b", "")]
    monkeypatch.setattr(push_store, "MAX_REGISTRATIONS", 2)
    await store.enable(account, "other.example", "c")  # the oldest goes
    assert [(r.service, r.node) for r in await store.registrations(account)] == [("push.example", "b"),
                                                                                 ("other.example", "c")]
    await store.disable(account, "push.example")
    assert [r.node for r in await store.registrations(account)] == ["c"]
    await directory.delete_account("pushy")
    assert await store.registrations(account) == []
