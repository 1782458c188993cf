"""Reading a message's bytes checks them against its record (issue 12): a body of another length than the
message records is BlobDamaged, one that is gone BlobNotFound, whether it lives in the record store
(up to 64 KiB) or in the blob store; large ones are handed out as a StoredBody, read in ranges."""

from __future__ import annotations

import os

import pytest

from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.mailstore.service import READ_PIECE, StoredBody
from polyport.store import LocalBlobStore, RecordStore, Statement, unit_of
from polyport.store.blobs import BlobDamaged, BlobNotFound

SET_DATA = Statement("UPDATE bodies SET data = :data WHERE blob = :blob")


def message(body: bytes) -> bytes:
    return b"From: alice@example.com\r\nSubject: checks\r\n\r\n" + body


@pytest.fixture
def blobs(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
async def mailstore(records: RecordStore, directory: Directory, bus, blobs: LocalBlobStore) -> Mailstore:
    return Mailstore(records, blobs, directory, bus)


@pytest.fixture
async def account(directory: Directory, mailstore: Mailstore) -> int:
    info = await directory.create_account("carol", password="pw")
    await mailstore.ensure_defaults(info.id)
    return info.id


async def stored(mailstore: Mailstore, account: int, data: bytes) -> tuple[str, int]:
    """Append `data`; its blob id and recorded size."""
    uid = (await mailstore.append(account, "INBOX", data)).uid
    box = await mailstore.mailbox(account, "INBOX")
    (full,) = await mailstore.full(box.id, uid, uid)
    return full.blob, full.size


async def test_a_body_in_the_record_store_of_another_length_is_damaged(mailstore: Mailstore, account: int,
                                                                       records: RecordStore) -> None:
    data = message(b"small and only here %s\r\n" % os.urandom(8).hex().encode())
    blob, size = await stored(mailstore, account, data)
    assert await mailstore.read(blob, size=size) == data
    assert await mailstore.read(blob, 5, 10, size=size) == data[5:15]
    await records.write(unit_of(SET_DATA.run(data=data[:-3], blob=blob)))
    with pytest.raises(BlobDamaged, match="recorded"):
        await mailstore.read(blob, size=size)
    with pytest.raises(BlobDamaged):
        await mailstore.read(blob, 5, 10, size=size)
    assert await mailstore.read(blob) == data[:-3]  # a caller that knows no size gets what there is


async def test_a_blob_of_another_length_is_damaged_and_a_missing_one_not_found(
        mailstore: Mailstore, account: int, blobs: LocalBlobStore) -> None:
    data = message(os.urandom(50_000).hex().encode())  # over 64 KiB: a blob file
    blob, size = await stored(mailstore, account, data)
    assert await mailstore.read(blob, size=size) == data
    path = blobs.path_of(blob)
    path.write_bytes(data[:1000])
    with pytest.raises(BlobDamaged, match="1000 bytes where"):
        await mailstore.read(blob, size=size)
    with pytest.raises(BlobDamaged):
        await mailstore.read(blob, 500, 100, size=size)  # a range: the size is checked too
    with pytest.raises(BlobDamaged):
        await mailstore.stored(blob, size)
    path.write_bytes(data + b"more")
    with pytest.raises(BlobDamaged):
        await mailstore.read(blob, size=size)
    path.unlink()
    with pytest.raises(BlobNotFound):
        await mailstore.read(blob, size=size)
    with pytest.raises(BlobNotFound):
        await mailstore.stored(blob, size)


async def test_a_large_body_is_read_in_ranges_and_verified_whole(mailstore: Mailstore, account: int,
                                                                 blobs: LocalBlobStore) -> None:
    data = message(os.urandom(300_000).hex().encode())
    blob, size = await stored(mailstore, account, data)
    body = await mailstore.stored(blob, size)
    assert isinstance(body, StoredBody)
    assert body.size == len(data)
    await body.verify()
    assert await body.read(10, 20) == data[10:20]
    pieces = [piece async for piece in body.pieces(7, size)]
    assert b"".join(pieces) == data[7:]
    assert max(map(len, pieces)) == READ_PIECE
    # Overwritten in place with bytes of the same length: only the hash tells, and verify() reads it.
    path = blobs.path_of(blob)
    path.write_bytes(data[:100] + b"X" * 10 + data[110:])
    with pytest.raises(BlobDamaged, match="hash"):
        await body.verify()
    # Shortened after it was handed out: the next range says so rather than coming back short.
    path.write_bytes(data[:1000])
    with pytest.raises(BlobDamaged):
        await body.read(900, 1100)


async def test_a_large_body_kept_in_the_record_store_is_returned_whole(records: RecordStore, directory: Directory,
                                                                       bus, blobs: LocalBlobStore,
                                                                       account: int) -> None:
    """Bodies stored inline under a larger `inline_max` than today's are found in the record store."""
    generous = Mailstore(records, blobs, directory, bus, inline_max=1024 * 1024)
    data = message(os.urandom(150_000).hex().encode())
    blob, size = await stored(generous, account, data)
    strict = Mailstore(records, blobs, directory, bus)
    assert await strict.stored(blob, size) == data
    assert await strict.read(blob, size=size) == data
    await records.write(unit_of(SET_DATA.run(data=data[:-1], blob=blob)))
    with pytest.raises(BlobDamaged):
        await strict.stored(blob, size)
