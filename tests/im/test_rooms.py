"""Persistent chat rooms in the record store (SQLite and PostgreSQL): saved, changed, listed, bounded,
deleted with their archive, and gone with their domain."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.im import MessageArchive
from polyport.im import rooms as rooms_module
from polyport.im.archive import ROOMS
from polyport.im.rooms import NoSuchDomain, RoomsFull, RoomStore
from polyport.store import RecordStore

SERVICE = "conference.example.com"


async def test_rooms_kept_and_gone(records: RecordStore, directory: Directory,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    await directory.create_account("owner", password="pw")
    rooms = RoomStore(records)
    state = {"config": {"name": "Tea", "persistent": True}, "affiliations": {"owner@example.com": "owner"}}
    room_id = await rooms.save(SERVICE, "tea", "example.com", state)
    assert await rooms.save(SERVICE, "tea", "example.com", {**state, "subject": "cups"}) == room_id
    stored = await rooms.load(SERVICE, "tea")
    assert stored is not None and stored.id == room_id and stored.state["subject"] == "cups"
    with pytest.raises(NoSuchDomain):
        await rooms.save("conference.elsewhere.example", "x", "elsewhere.example", state)
    archive = MessageArchive(records, kind=ROOMS)
    await archive.add(archive.entry(room_id, f"tea@{SERVICE}/owner", "<message/>", 30))
    await archive.flush()
    assert len((await archive.query(room_id)).items) == 1
    monkeypatch.setattr(rooms_module, "MAX_ROOMS", 1)
    with pytest.raises(RoomsFull):
        await rooms.save(SERVICE, "coffee", "example.com", state)
    assert [r.name for r in await rooms.rooms(SERVICE)] == ["tea"]
    assert [(r.service, r.name) for r in await rooms.rooms()] == [(SERVICE, "tea")]
    assert await rooms.delete(SERVICE, "tea") and not await rooms.delete(SERVICE, "tea")
    assert (await archive.query(room_id)).items == []  # the archive went with the room
    await directory.create_domain("other.example")
    await rooms.save("conference.other.example", "tea", "other.example", state)
    await directory.delete_domain("other.example", force=True)
    assert await rooms.load("conference.other.example", "tea") is None  # gone with its domain
