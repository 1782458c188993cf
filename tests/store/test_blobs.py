"""The local blob store: content addressing, dedup, streaming, ranges, bad ids."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.store.blobs import BlobError, BlobNotFound, LocalBlobStore


async def test_put_get_roundtrip_and_dedup(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    first = await blobs.put(b"hello")
    second = await blobs.put(b"hello")
    assert first == second == hashlib.sha256(b"hello").hexdigest()
    assert await blobs.get(first) == b"hello"
    assert await blobs.size(first) == 5
    assert await blobs.exists(first)
    files = [p for p in (tmp_path).rglob("*") if p.is_file()]
    assert len(files) == 1  # stored once; no temporary files left


async def test_read_a_range(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    blob_id = await blobs.put(b"0123456789")
    assert await blobs.read(blob_id, 3, 4) == b"3456"
    assert await blobs.read(blob_id, 8, 100) == b"89"


async def test_streaming_writer_hashes_what_it_wrote(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    data = os.urandom(700_000)
    writer = blobs.writer()
    for start in range(0, len(data), 65_536):
        await writer.write(data[start:start + 65_536])
    blob_id = await writer.commit()
    assert blob_id == hashlib.sha256(data).hexdigest()
    assert await blobs.get(blob_id) == data


async def test_an_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    writer = blobs.writer()
    await writer.write(b"partial")
    await writer.abort()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_missing_and_malformed_ids(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        await blobs.get("0" * 64)
    for bad in ("../../etc/passwd", "x" * 64, "ab", "A" * 64):
        with pytest.raises(BlobError):
            await blobs.get(bad)


async def test_delete(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    blob_id = await blobs.put(b"gone")
    await blobs.delete(blob_id)
    assert not await blobs.exists(blob_id)
    await blobs.delete(blob_id)  # deleting twice is fine


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4096))
def test_any_content_round_trips(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    import asyncio

    blobs = LocalBlobStore(tmp_path_factory.mktemp("b"))

    async def roundtrip() -> bytes:
        return await blobs.get(await blobs.put(data))

    assert asyncio.run(roundtrip()) == data
