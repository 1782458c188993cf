"""What `polyport check` runs: the records' message bodies against the blob store, and back (issue 12).

Every body that messages point at must be there (its bytes in its `bodies` row, or a blob file), have the
size its row records, and hash to its id; every blob file must be referred to by a body or a queued
message. What is found, each a `Problem`:

- missing: a body with neither bytes in its row nor a blob file (its messages cannot be read);
- damaged: a body's bytes, in a file or in its row, of another size than recorded or another SHA-256
  than its id (a disk, a restore or a hand changed them);
- size-mismatch: a message that records a size its body does not have (what POP3 and IMAP announce);
- orphan: a blob file no body and no queued message refers to (a crash between a blob's write and its
  records, or a file copied in by hand);
- temporary: a file in the blob store's tmp/, left by a write a crash interrupted;
- stray: a file in the blob store that is no blob where it lies (another name, another blob's folder).

Queued messages whose bytes are in a blob file (the outbound queue's large ones) are checked too, and their
blobs are no orphans. Bodies no message refers to any more (refs 0) wait for the sweep, which deletes them
with their blobs: they are not checked, and their blobs are no orphans either.

Repairs (`quarantine`, a folder): damaged blob files, orphans and temporary files are moved there, never
deleted; a message whose blob was moved then reads as missing, refused alone (POP3 -ERR, IMAP NO) where it
failed as damaged, until a good copy is put back. Nothing else is changed: a damaged row, a missing body
and a size that disagrees are only reported. Repairs need the node stopped (the command holds its lock).

Read-only beside a running node, the check sees deliveries, expunges and sends in progress: the files are
listed before the records are read, so files newer than `RECENT` are not judged as orphans or leftovers.

The SQL lives here (read-only statements over mailstore, queue and directory tables), not in records.py:
it is this command's alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from polyport.store import RecordStore, Statement
from polyport.store.blobs import BlobDamaged, BlobNotFound, LocalBlobStore, move_aside

Kind = Literal["missing", "damaged", "size-mismatch", "orphan", "temporary", "stray"]
KINDS: tuple[Kind, ...] = ("missing", "damaged", "size-mismatch", "orphan", "temporary", "stray")

# Beside a running node, blob and temporary files modified this recently (seconds) are a delivery or a
# write in progress as likely as a leftover: not judged.
RECENT = 15 * 60
PAGE = 200  # bodies a statement; a row may carry up to 64 KiB of message

BODY_TOTALS = Statement("SELECT count(*) AS bodies, COALESCE(SUM(size), 0) AS size FROM bodies WHERE refs > 0")
BODY_PAGE = Statement("""
    SELECT id, blob, size, refs, data FROM bodies WHERE id > :after ORDER BY id LIMIT :limit""")
QUEUED_BLOBS = Statement("""
    SELECT ident, blob, size, data IS NOT NULL AS has_data FROM queue_messages WHERE blob IS NOT NULL ORDER BY id""")
PLACE = "o.name || '@' || d.name AS account, x.name AS mailbox, m.uid AS uid"
MESSAGES = """FROM messages m
    JOIN mailboxes x ON x.id = m.mailbox_id
    JOIN objects o ON o.id = x.account_id
    JOIN domain_names d ON d.domain_id = o.domain_id AND d.is_alias = 0"""
MESSAGES_OF_BODY = Statement(f"SELECT {PLACE} {MESSAGES} WHERE m.body_id = :body_id ORDER BY 1, 2, 3")
SIZE_MISMATCHES = Statement(f"""
    SELECT {PLACE}, b.blob AS blob, m.size AS recorded, b.size AS body_size
    {MESSAGES}
    JOIN bodies b ON b.id = m.body_id
    WHERE m.size <> b.size ORDER BY 1, 2, 3""")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a message is: its account's address, its mailbox, its UID."""

    account: str
    mailbox: str
    uid: int


@dataclass(slots=True)
class Problem:
    kind: Kind
    blob: str | None  # None for a temporary or stray file
    detail: str  # what is wrong, in words
    path: Path | None  # the file concerned; None for a row of the record store
    messages: list[Place] = field(default_factory=list)  # the messages it spoils
    queued: list[str] = field(default_factory=list)  # the queued messages (their idents) it spoils
    moved_to: Path | None = None  # where the repair put the file

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "blob": self.blob, "detail": self.detail,
                "path": None if self.path is None else str(self.path),
                "messages": [{"account": p.account, "mailbox": p.mailbox, "uid": p.uid} for p in self.messages],
                "queued": self.queued, "moved_to": None if self.moved_to is None else str(self.moved_to)}


@dataclass(slots=True)
class Report:
    bodies: int = 0  # bodies checked (those messages point at)
    size: int = 0  # their bytes
    queued: int = 0  # queued messages whose blob was checked
    files: int = 0  # blob files found
    problems: list[Problem] = field(default_factory=list)
    quarantine: Path | None = None  # where the repair moved files, if it did
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.problems

    def counts(self) -> dict[Kind, int]:
        return {kind: n for kind in KINDS if (n := sum(1 for p in self.problems if p.kind == kind))}

    def as_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "bodies": self.bodies, "size": self.size, "queued": self.queued,
                "files": self.files, "counts": self.counts(), "problems": [p.as_json() for p in self.problems],
                "quarantine": None if self.quarantine is None else str(self.quarantine),
                "seconds": round(self.seconds, 3)}


async def totals(records: RecordStore) -> tuple[int, int]:
    """How many bodies the check will read, and their bytes (for a progress bar)."""
    row = await records.fetch(BODY_TOTALS.one())
    return int(row["bodies"]), int(row["size"])


async def check(records: RecordStore, blobs: LocalBlobStore, *, quarantine: Path | None = None,
                live: bool = False, progress: Callable[[int], None] | None = None, page: int = PAGE) -> Report:
    """Check every body, queued blob and blob file; with `quarantine`, move what can be moved there.
    `live`: a node is running on the store (see RECENT). `progress` is called with each body's bytes."""
    started = time.monotonic()
    report = Report()
    listed = await asyncio.to_thread(lambda: list(blobs.files()))
    temporaries = await asyncio.to_thread(blobs.temporaries)
    files = {blob: path for blob, path in listed if blob is not None}
    report.files = len(files)

    after = 0
    while rows := await records.fetch(BODY_PAGE.all(after=after, limit=page)):
        for row in rows:
            after = int(row["id"])
            blob, size = str(row["blob"]), int(row["size"])
            on_file = files.pop(blob, None) is not None
            if int(row["refs"]) <= 0:
                continue
            data = row["data"]
            problem = await _check_body(blobs, blob, size, None if data is None else bytes(data), on_file)
            report.bodies += 1
            report.size += size
            if problem is not None:
                places = await records.fetch(MESSAGES_OF_BODY.all(body_id=after))
                problem.messages = [Place(str(p["account"]), str(p["mailbox"]), int(p["uid"])) for p in places]
                report.problems.append(problem)
            if progress is not None:
                progress(size)

    for row in await records.fetch(QUEUED_BLOBS.all()):
        blob = str(row["blob"])
        files.pop(blob, None)
        if row["has_data"]:
            continue  # its bytes are in its row; the blob is not read
        report.queued += 1
        problem = await _check_file(blobs, blob, int(row["size"]))
        if problem is not None:
            problem.queued.append(str(row["ident"]))
            report.problems.append(problem)

    for row in await records.fetch(SIZE_MISMATCHES.all()):
        report.problems.append(Problem(
            "size-mismatch", str(row["blob"]),
            f"the message records {int(row['recorded'])} bytes, its body has {int(row['body_size'])}", None,
            [Place(str(row["account"]), str(row["mailbox"]), int(row["uid"]))]))

    judged_before = time.time() - RECENT if live else float("inf")
    for blob, path in sorted(files.items()):
        found = await asyncio.to_thread(_modified_size, path)
        if found is not None and found[0] < judged_before:  # gone meanwhile (sent, swept): not an orphan
            report.problems.append(Problem("orphan", blob, f"{found[1]} bytes that no message and no queued "
                                                           f"message refers to", path))
    for path in temporaries:
        found = await asyncio.to_thread(_modified_size, path)
        if found is not None and found[0] < judged_before:
            report.problems.append(Problem("temporary", None, f"{found[1]} bytes left by an interrupted write",
                                           path))
    report.problems.extend(Problem("stray", None, "not a blob where it lies (its name is no SHA-256, or it is "
                                                  "in another blob's folder)", path)
                           for blob, path in listed if blob is None)

    if quarantine is not None:
        await asyncio.to_thread(_repair, report, blobs, quarantine)
    report.seconds = time.monotonic() - started
    return report


async def _check_body(blobs: LocalBlobStore, blob: str, size: int, data: bytes | None,
                      on_file: bool) -> Problem | None:
    if data is None:
        return await _check_file(blobs, blob, size)
    if len(data) != size:
        return Problem("damaged", blob, f"{len(data)} bytes in the record store where {size} were recorded", None)
    digest = hashlib.sha256(data).hexdigest()  # 64 KiB at most: less than a thread hop (an admin's command)
    if digest != blob:
        return Problem("damaged", blob, f"its bytes in the record store hash to {digest}, not to its name", None)
    if on_file:  # a copy on file too (kept inline under a larger limit): read first by a lower one
        return await _check_file(blobs, blob, size)
    return None


async def _check_file(blobs: LocalBlobStore, blob: str, size: int) -> Problem | None:
    try:
        await blobs.verify(blob, size)
    except BlobNotFound:
        return Problem("missing", blob, "neither a blob file nor bytes in the record store", None)
    except BlobDamaged as err:
        return Problem("damaged", blob, err.detail, blobs.path_of(blob))
    return None


def _modified_size(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime, stat.st_size


# Where each kind's files go in the quarantine folder.
QUARANTINE_FOLDERS: dict[Kind, str] = {"damaged": "damaged", "orphan": "orphans", "temporary": "tmp"}


def _repair(report: Report, blobs: LocalBlobStore, quarantine: Path) -> None:
    moved_blobs: dict[str, Path] = {}  # a damaged blob shared by bodies and queued messages moves once
    for problem in report.problems:
        folder = QUARANTINE_FOLDERS.get(problem.kind)
        if folder is None or problem.path is None:
            continue
        if problem.blob is not None and problem.blob in moved_blobs:
            problem.moved_to = moved_blobs[problem.blob]
            continue
        try:
            if problem.blob is not None:
                problem.moved_to = blobs.quarantine(problem.blob, quarantine / folder)
            else:
                problem.moved_to = move_aside(problem.path, quarantine / folder)
        except BlobNotFound:  # gone meanwhile
            continue
        report.quarantine = quarantine
        if problem.blob is not None:
            moved_blobs[problem.blob] = problem.moved_to
