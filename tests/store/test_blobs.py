"""The local blob store: content addressing, dedup, streaming, ranges, bad ids."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from polyport.store.blobs import BlobDamaged, BlobError, BlobNotFound, LocalBlobStore, move_aside


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


# -- damage: a blob that is not what it is named by (issue 12) ----------------------------------------------

def _damage(blobs: LocalBlobStore, blob_id: str, how: str) -> None:
    path = blobs.path_of(blob_id)
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[:1000])
    else:  # same size, some bytes changed
        path.write_bytes(data[:500] + bytes(b ^ 0xFF for b in data[500:510]) + data[510:])


@pytest.mark.parametrize("size", [200_000, 100_000])  # in a worker thread; on the caller's thread
async def test_get_checks_the_size_and_the_hash(tmp_path: Path, size: int) -> None:
    blobs = LocalBlobStore(tmp_path)
    truncated = await blobs.put(os.urandom(size))
    overwritten = await blobs.put(os.urandom(size))
    _damage(blobs, truncated, "truncate")
    _damage(blobs, overwritten, "overwrite")
    with pytest.raises(BlobDamaged) as caught:
        await blobs.get(truncated, size)
    assert caught.value.problem == "size" and caught.value.blob_id == truncated
    assert str(caught.value) == f"blob {truncated} is damaged: 1000 bytes where {size} were recorded"
    with pytest.raises(BlobDamaged) as caught:
        await blobs.get(truncated)  # the size unknown: the hash still tells
    assert caught.value.problem == "hash"
    with pytest.raises(BlobDamaged) as caught:
        await blobs.get(overwritten, size)
    assert caught.value.problem == "hash"


async def test_a_range_checks_the_size_when_given(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    data = os.urandom(5000)
    blob_id = await blobs.put(data)
    assert await blobs.read(blob_id, 10, 20, 5000) == data[10:30]
    _damage(blobs, blob_id, "truncate")
    with pytest.raises(BlobDamaged):
        await blobs.read(blob_id, 10, 20, 5000)
    assert await blobs.read(blob_id, 10, 20) == data[10:30]  # without a size nothing can tell
    with pytest.raises(BlobNotFound):
        await blobs.read("0" * 64, 0, 10, 10)


async def test_verify_reads_it_all_and_logs_nothing(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    data = os.urandom(700_000)
    blob_id = await blobs.put(data)
    await blobs.verify(blob_id, len(data))
    await blobs.verify(blob_id)
    _damage(blobs, blob_id, "overwrite")
    with capture_logs() as logs:
        with pytest.raises(BlobDamaged) as caught:
            await blobs.verify(blob_id, len(data))
        assert caught.value.problem == "hash"
        with pytest.raises(BlobDamaged) as caught:
            await blobs.verify(blob_id, len(data) + 1)
        assert caught.value.problem == "size"
        with pytest.raises(BlobNotFound):
            await blobs.verify("1" * 64)
    assert logs == []


async def test_a_damaged_blob_is_logged_once(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    blob_id = await blobs.put(os.urandom(200_000))
    other = await blobs.put(os.urandom(200_000))
    _damage(blobs, blob_id, "truncate")
    _damage(blobs, other, "overwrite")
    with capture_logs() as logs:
        for _ in range(3):
            for damaged in (blob_id, other):
                with pytest.raises(BlobDamaged):
                    await blobs.get(damaged, 200_000)
        with pytest.raises(BlobDamaged):
            await blobs.read(blob_id, 0, 10, 200_000)
    assert [(e["event"], e["log_level"], e["blob"], e["problem"]) for e in logs] == [
        ("blobs.damaged", "error", blob_id, "size"), ("blobs.damaged", "error", other, "hash")]


async def test_files_temporaries_and_quarantine(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    blobs = LocalBlobStore(root)
    first = await blobs.put(b"first")
    second = await blobs.put(b"second")
    (root / "notes.txt").write_text("a stray")
    misplaced = root / "00" / "00" / first  # a blob's name in another blob's folder
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(b"first")
    (root / "tmp" / "abc123").write_bytes(b"half a write")
    found = list(blobs.files())
    assert sorted((i, p) for i, p in found if i is not None) == sorted(
        [(first, blobs.path_of(first)), (second, blobs.path_of(second))])
    assert sorted(p for i, p in found if i is None) == sorted([root / "notes.txt", misplaced])
    assert blobs.temporaries() == [root / "tmp" / "abc123"]

    aside = tmp_path / "quarantine"
    moved = blobs.quarantine(first, aside)
    assert moved == aside / first and moved.read_bytes() == b"first"
    with pytest.raises(BlobNotFound):
        await blobs.get(first)
    await blobs.put(b"first")  # stored again, then moved aside again: the first one's copy stays
    assert blobs.quarantine(first, aside) == aside / f"{first}.1"
    with pytest.raises(BlobNotFound):
        blobs.quarantine(first, aside)
    assert move_aside(root / "tmp" / "abc123", aside / "tmp") == aside / "tmp" / "abc123"
    assert blobs.temporaries() == []
