"""Uploaded files' slots in the record store (SQLite and PostgreSQL) and their files: a slot within the
limits, the file stored only at its exact size, read back, refused past the quota, and gone with its
file when it expires."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyport.directory import Directory
from polyport.im.uploads import UploadRefused, Uploads
from polyport.store import RecordStore


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_slots_files_quota_and_expiry(records: RecordStore, directory: Directory, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    account = (await directory.create_account("ann", password="pw")).id
    uploads = Uploads(records, tmp_path / "uploads", days=1)
    with pytest.raises(UploadRefused) as err:
        await uploads.slot(account, "big", 11, "text/plain", max_size=10, quota=100)
    assert err.value.why == "size"
    token = await uploads.slot(account, "a.txt", 6, "text/plain", max_size=10, quota=10)
    slot = await uploads.find(token)
    assert slot is not None and not slot.complete and slot.filename == "a.txt"
    assert not await uploads.store(slot, chunks(b"abc"))  # short: nothing kept

    async def vanishing() -> AsyncIterator[bytes]:
        yield b"abc"
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await uploads.store(slot, vanishing())  # mid-transfer: nothing kept, the slot still open
    assert not any(path.is_file() for path in (tmp_path / "uploads").rglob("*"))
    assert not await uploads.store(slot, chunks(b"abc", b"defg"))  # long
    assert await uploads.store(slot, chunks(b"abc", b"def"))
    stored = await uploads.find(token)
    assert stored is not None and stored.complete
    assert b"".join([part async for part in uploads.read(stored)]) == b"abcdef"
    with pytest.raises(UploadRefused) as err:
        await uploads.slot(account, "b.txt", 5, "text/plain", max_size=10, quota=10)
    assert err.value.why == "quota"
    assert await uploads.find("nonsense") is None
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 2 * 86_400)  # two days later
    assert await uploads.expire() == 1
    assert await uploads.find(token) is None
    assert not any(path.is_file() for path in (tmp_path / "uploads").rglob("*"))
