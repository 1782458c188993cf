"""`polyport check [--repair]`: a data folder's messages against its blob files (issue 12)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from polyport import datadir
from polyport.directory import Directory
from polyport.mailstore import Mailstore, check
from polyport.store import LocalBlobStore, RecordStore, Statement, open_records, unit_of
from polyport.store.blobs import BlobNotFound
from tests.cli.conftest import Run, polyport
from tests.node_thread import ThreadedNode

# Four messages over the 64 KiB kept in the record store (blob files; each a size of its own, to tell them
# apart on disk) and a small one (its bytes in its `bodies` row).
SIZES = (70_000, 80_000, 90_000, 100_000)


QUEUE_ROW = Statement("INSERT INTO queue_messages (ident, sender, size, blob, flags, origin, created) "
                      "VALUES (:ident, '', :size, :blob, 0, '', 0)")


def mbox(*bodies: bytes) -> bytes:
    return b"".join(b"From a@example.org Thu Jan  1 00:00:00 2026\nFrom: a@example.org\nSubject: %d\n\n%s\n\n"
                    % (n, body) for n, body in enumerate(bodies, 1))


@pytest.fixture
def mail(run: Run, data: Path, tmp_path: Path) -> Run:
    """bob and carol each hold the same five messages (one body each, shared by both)."""
    assert run("init").exit_code == 0
    bodies = [os.urandom(size // 2).hex().encode() for size in SIZES]
    (tmp_path / "in.mbox").write_bytes(mbox(b"small", *bodies))
    for account in ("bob", "carol"):
        assert run("account", "add", account, "--password", "pw").exit_code == 0
        result = run("import", account, str(tmp_path / "in.mbox"), "--format", "mbox")
        assert result.exit_code == 0, result.output
    return run


def blob_files(data: Path) -> list[Path]:
    """The blob files, smallest first (the messages 2 to 5)."""
    return sorted((p for p in (data / "blobs").rglob("*") if p.is_file() and p.parent.name != "tmp"),
                  key=lambda p: p.stat().st_size)


def put_file(data: Path, content: bytes) -> str:
    blob = hashlib.sha256(content).hexdigest()
    path = data / "blobs" / blob[:2] / blob[2:4] / blob
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return blob


def queue_row(data: Path, ident: str, blob: str, size: int) -> None:
    with sqlite3.connect(data / "polyport.db") as db:
        db.execute("INSERT INTO queue_messages (ident, sender, size, blob, flags, origin, created) "
                   "VALUES (?, 'a@example.org', ?, ?, 0, 'test', 0)", (ident, size, blob))
    db.close()


def findings(run: Run, *args: str) -> tuple[int, dict[str, Any]]:
    result = run("check", "--json", *args)
    return result.exit_code, json.loads(result.output)


def test_a_clean_data_folder(mail: Run) -> None:
    result = mail("check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2 and lines[1] == "no problems found"
    assert lines[0].startswith("checked 5 message bodies (") and ", 0 queued messages, 4 blob files in " in lines[0]


def test_damage_is_found_and_moved_aside(mail: Run, data: Path) -> None:
    corrupted, truncated, missing, intact = blob_files(data)
    content = corrupted.read_bytes()
    corrupted.write_bytes(content[:1000] + b"X" * 10 + content[1010:])  # the same size, bytes changed
    truncated_size = truncated.stat().st_size
    truncated.write_bytes(truncated.read_bytes()[:1000])
    missing.unlink()
    orphan = put_file(data, b"nobody refers to me\r\n")
    queued = put_file(data, b"a queued message\r\n")  # referred to by a queued message: no orphan
    queue_row(data, "Q1", queued, len(b"a queued message\r\n"))
    queue_row(data, "Q2", "e" * 64, 5000)  # its blob is gone
    (data / "blobs" / "tmp" / "0123abcd").write_bytes(b"half a write")
    (data / "blobs" / "notes.txt").write_text("not a blob")

    result = mail("check")
    assert result.exit_code == 1
    out = result.output
    assert (f"DAMAGED  blob {corrupted.name}: its content hashes to "
            f"{hashlib.sha256(corrupted.read_bytes()).hexdigest()}, not to its name\n"
            f"         bob@example.com INBOX UID 2\n"
            f"         carol@example.com INBOX UID 2\n") in out
    assert (f"DAMAGED  blob {truncated.name}: 1000 bytes where {truncated_size} were recorded\n"
            f"         bob@example.com INBOX UID 3\n"
            f"         carol@example.com INBOX UID 3\n") in out
    assert (f"MISSING  blob {missing.name}: neither a blob file nor bytes in the record store\n"
            f"         bob@example.com INBOX UID 4\n"
            f"         carol@example.com INBOX UID 4\n") in out
    assert f"MISSING  blob {'e' * 64}: neither a blob file nor bytes in the record store\n" \
           f"         queued message Q2\n" in out
    assert f"ORPHAN   blob {orphan}: 21 bytes that no message and no queued message refers to\n" in out
    assert f"TEMP     {data / 'blobs' / 'tmp' / '0123abcd'}: 12 bytes left by an interrupted write\n" in out
    assert f"STRAY    {data / 'blobs' / 'notes.txt'}: not a blob where it lies" in out
    assert "found: 2 missing, 2 damaged, 1 orphan, 1 temporary, 1 stray\n" in out
    assert "- Damaged blob files: stop the node and run `polyport check --repair`" in out
    assert intact.name not in out and queued not in out

    code, found = findings(mail)
    assert code == 1 and found["counts"] == {"missing": 2, "damaged": 2, "orphan": 1, "temporary": 1, "stray": 1}
    assert found["bodies"] == 5 and found["queued"] == 2 and found["files"] == 5

    result = mail("check", "--repair")
    assert result.exit_code == 1  # what it found; the second run tells what is left
    quarantine = next((data / "quarantine").iterdir())
    assert f"moved aside to {quarantine} (nothing was deleted)" in result.output
    assert f"         moved to {quarantine / 'damaged' / corrupted.name}\n" in result.output
    assert "- Missing messages (and those whose damaged file was moved aside): put a good copy" in result.output
    assert sorted(p.relative_to(quarantine).as_posix() for p in quarantine.rglob("*") if p.is_file()) == sorted(
        [f"damaged/{corrupted.name}", f"damaged/{truncated.name}", f"orphans/{orphan}", "tmp/0123abcd"])
    assert len((quarantine / "damaged" / truncated.name).read_bytes()) == 1000
    assert not corrupted.exists() and not truncated.exists()
    assert (data / "blobs" / "notes.txt").exists()  # not ours: left alone

    result = mail("check")
    assert result.exit_code == 1
    assert "found: 4 missing, 1 stray\n" in result.output
    aside = quarantine / "damaged" / corrupted.name
    assert (f"MISSING  blob {corrupted.name}: neither a blob file nor bytes in the record store\n"
            f"         bob@example.com INBOX UID 2\n"
            f"         carol@example.com INBOX UID 2\n"
            f"         (moved aside by an earlier repair: {aside})\n") in result.output
    assert f"- Missing messages: put a good copy of each blob back from a backup, as {data / 'blobs'}/ab/cd/<id>" \
        in result.output
    code, found = findings(mail)
    assert {p["blob"] for p in found["problems"] if p["kind"] == "missing"} == {
        corrupted.name, truncated.name, missing.name, "e" * 64}

    # A good copy put back: that message is whole again.
    (data / "blobs" / "notes.txt").unlink()
    corrupted.write_bytes(content)
    code, found = findings(mail)
    assert found["counts"] == {"missing": 3}


def test_a_damaged_body_in_the_record_store_is_reported(mail: Run, data: Path) -> None:
    with sqlite3.connect(data / "polyport.db") as db:
        db.execute("UPDATE bodies SET data = substr(data, 1, 20) WHERE data IS NOT NULL")
    db.close()
    result = mail("check", "--repair")
    assert result.exit_code == 1
    assert " (record store): 20 bytes in the record store where " in result.output
    assert "- Damaged bodies in the record store (messages up to 64 KiB) cannot be moved aside" in result.output
    assert not (data / "quarantine").exists()  # nothing could be moved


def test_the_progress_counts_every_body(mail: Run, data: Path) -> None:
    async def scan() -> tuple[int, list[int]]:
        records = await open_records("", data)
        try:
            _, size = await check.totals(records)
            steps: list[int] = []
            report = await check.check(records, LocalBlobStore(data / "blobs"), progress=steps.append)
            assert report.clean
            return size, steps
        finally:
            await records.close()

    size, steps = asyncio.run(scan())
    assert len(steps) == 5 and sum(steps) == size > sum(SIZES)


def test_beside_a_running_node_it_only_reads(cli_node: ThreadedNode) -> None:
    folder = str(cli_node.config.data_dir)
    done = polyport("check", "--data", folder)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"note: a node is running on {folder} (pid {os.getpid()}); checking beside it, "
                                  f"read-only.")
    assert done.stdout.endswith("no problems found\n")
    done = polyport("check", "--repair", "--data", folder)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"error: a node is running on {folder} (pid {os.getpid()}): stop it before --repair, "
                           f"which moves files the node reads and writes (without --repair, `polyport check` "
                           f"runs beside it, read-only)\n")


def test_a_node_cannot_start_during_a_check(mail: Run, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check holds the node's lock while it runs, and lets go after."""
    seen: list[str] = []
    original = check.check

    async def spying(*args: Any, **kwargs: Any) -> check.Report:
        with pytest.raises(datadir.DataDirError) as refused:
            datadir.NodeLock(data).acquire()
        seen.append(str(refused.value))
        return await original(*args, **kwargs)

    monkeypatch.setattr(check, "check", spying)
    assert mail("check").exit_code == 0
    assert seen and "is in use by another node" in seen[0]
    lock = datadir.NodeLock(data)
    lock.acquire()
    lock.release()


def test_errors_are_one_line(run: Run, tmp_path: Path) -> None:
    result = run("check", "--data", str(tmp_path / "nowhere"), data_flag=False)
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path / 'nowhere'} does not exist: give the data folder with --data " \
                            f"(or --config)\n"
    done = polyport("check", "--data", str(tmp_path / "nowhere"))
    assert done.returncode == 1 and done.stderr.startswith("error: ")


async def test_the_check_on_each_store_backend(records: RecordStore, directory: Directory, tmp_path: Path) -> None:
    """The check's statements on SQLite and on PostgreSQL (POLYPORT_TEST_STORE), through the mailstore."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    mailstore = Mailstore(records, blobs, directory)
    account = (await directory.create_account("dora", password="pw")).id
    await mailstore.ensure_defaults(account)
    small = b"Subject: small\r\n\r\nsmall\r\n"
    large = [b"Subject: large\r\n\r\n" + os.urandom(40_000).hex().encode() for _ in range(3)]
    await mailstore.append(account, "INBOX", small)
    for data in large:
        await mailstore.append(account, "Archive", data)
    ids = [hashlib.sha256(data).hexdigest() for data in large]
    queued = await blobs.put(b"queued\r\n" * 10_000)
    await records.write(unit_of(QUEUE_ROW.run(ident="Q1", size=80_000, blob=queued)))
    report = await check.check(records, blobs)
    assert report.clean and (report.bodies, report.queued, report.files) == (4, 1, 4)
    assert await check.totals(records) == (4, report.size)

    blobs.path_of(ids[0]).write_bytes(b"short")
    blobs.path_of(ids[1]).unlink()
    orphan = await blobs.put(b"orphan")
    await records.write(unit_of(Statement("UPDATE messages SET size = size + 1 WHERE body_id = "
                                          "(SELECT id FROM bodies WHERE blob = :blob)").run(blob=ids[2])))
    report = await check.check(records, blobs, quarantine=tmp_path / "aside")
    assert [(p.kind, p.blob, p.messages) for p in report.problems] == [
        ("damaged", ids[0], [check.Place("dora@example.com", "Archive", 1)]),
        ("missing", ids[1], [check.Place("dora@example.com", "Archive", 2)]),
        ("size-mismatch", ids[2], [check.Place("dora@example.com", "Archive", 3)]),
        ("orphan", orphan, [])]
    assert report.problems[0].moved_to == tmp_path / "aside" / "damaged" / ids[0]
    assert report.problems[3].moved_to == tmp_path / "aside" / "orphans" / orphan
    with pytest.raises(BlobNotFound):
        await mailstore.read(ids[0], size=len(large[0]))


async def test_files_in_use_are_not_judged_beside_a_running_node(tmp_path: Path, store_url: tuple[str, Path]) -> None:
    records = await open_records(*store_url)
    try:
        blobs = LocalBlobStore(tmp_path / "blobs")
        fresh = await blobs.put(b"a delivery in progress")
        (tmp_path / "blobs" / "tmp" / "half").write_bytes(b"a write in progress")
        assert (await check.check(records, blobs, live=True)).clean
        assert [p.kind for p in (await check.check(records, blobs)).problems] == ["orphan", "temporary"]
        old = time.time() - check.RECENT - 60
        os.utime(blobs.path_of(fresh), (old, old))
        assert [p.kind for p in (await check.check(records, blobs, live=True)).problems] == ["orphan"]
    finally:
        await records.close()
