"""The blob store: message bodies and files, addressed by the SHA-256 of their content.

Identical content is stored once. The local implementation writes each blob to a temporary file,
fsyncs it, renames it into place and fsyncs the folder, so a blob whose id was returned survives a
crash. File I/O runs in worker threads, never on the event loop. Which records refer to a blob (and
when it may be deleted) is the business of the services that keep those records.

Small blobs (`put`, the path of every delivered message) are group-committed like the SQLite writer's
transactions: one thread takes every put waiting, writes all their files, then fsyncs them, renames them
and fsyncs their folders, and only then answers each caller. The file system merges those fsyncs into
one or two journal commits, so fifty concurrent deliveries cost about what one did (measured with
bench/smtp: one fsynced file per put in the default executor's threads topped out near 1,000 puts/s).

Reads check what they read (issue 12): a blob is named by its SHA-256, so a file that a disk, a restore
or a hand truncated or overwrote is found out, never served as if it were the message.
- The size, whenever the caller knows it (its message's recorded size): a file of another size raises
  `BlobDamaged` before a byte is read (an `fstat`, no cost to speak of). Ranges check only this.
- The hash, whenever the whole blob is read: `get` and `verify` hash what they read and raise
  `BlobDamaged` instead of returning it; a message sent in pieces is verified before its first piece.
  Measured (bench: 500 reads of one blob from the page cache, CPU time): SHA-256 runs at 1.4 GB/s here
  (0.71 ms a megabyte; OpenSSL with SHA-NI); a 1 MB `get` went from 0.15 to 0.94 ms, in a worker thread
  (hashlib lets go of the GIL), little beside sending a megabyte. Blobs up to `INLINE_READ` (messages
  of 64-128 KiB; smaller ones live in the record store) are read and hashed on the event loop:
  0.01 -> 0.09-0.12 ms, about what the hop to a thread and back costs (0.07 ms). Not hashed: ranges
  (`read`), which would have to read the whole blob to
  check a piece of it (a 50 MB message for a 1 KB partial FETCH: 35 ms); they check the size only.
- A damaged blob is logged once per blob id and process (`blobs.damaged`, at error, with its id), not
  on every read: a client retrying a message every minute must not fill the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
import queue
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol

from polyport import log

HEX = frozenset("0123456789abcdef")


class BlobError(Exception):
    pass


class BlobNotFound(BlobError):
    pass


class BlobDamaged(BlobError):
    """A blob whose bytes are not what it is named by: shorter or longer than the size its message
    records, or not hashing to its id. Reported for that message alone; `polyport check` finds them all."""

    def __init__(self, blob_id: str, problem: Literal["size", "hash"], detail: str) -> None:
        super().__init__(f"blob {blob_id} is damaged: {detail}")
        self.blob_id = blob_id
        self.problem = problem
        self.detail = detail


def wrong_size(blob_id: str, found: int, expected: int) -> BlobDamaged:
    return BlobDamaged(blob_id, "size", f"{found} bytes where {expected} were recorded")


def wrong_hash(blob_id: str, digest: str) -> BlobDamaged:
    return BlobDamaged(blob_id, "hash", f"its content hashes to {digest}, not to its name")


def log_damaged(err: BlobDamaged) -> BlobDamaged:
    """Log `err` (`blobs.damaged`) the first time its blob is found damaged here; returns it, to be raised.
    The store's reads call it; a service that finds a body damaged otherwise (a size that disagrees) too."""
    if log.once(("blobs.damaged", err.blob_id)):
        log.get().error("blobs.damaged", blob=err.blob_id, problem=err.problem, detail=err.detail,
                        fix="run `polyport check` (and --repair with the node stopped)")
    return err


def log_missing(blob_id: str) -> None:
    """Log (`blobs.missing`), the first time here, a blob that records point at but the store lacks. Only
    the records' owner can tell (a body may live in the record store instead), so it calls this."""
    if log.once(("blobs.missing", blob_id)):
        log.get().error("blobs.missing", blob=blob_id, fix="run `polyport check`")


def _check_id(blob_id: str) -> str:
    if len(blob_id) != 64 or not HEX.issuperset(blob_id):
        raise BlobError(f"not a blob id: {blob_id!r}")
    return blob_id


class BlobWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> str:
        """Make the blob durable and return its id."""
        ...

    async def abort(self) -> None: ...


class BlobStore(Protocol):
    async def put(self, data: bytes) -> str: ...

    def writer(self) -> BlobWriter:
        """A streaming writer, for content too large to hold in memory."""
        ...

    async def get(self, blob_id: str, size: int | None = None) -> bytes:
        """The whole blob, hashed: `BlobDamaged` rather than bytes that are not what `blob_id` names.
        `size`, when the caller knows it (the message's recorded size), is checked first, and lets a small
        blob be read at once. `BlobNotFound` when there is none."""
        ...

    async def read(self, blob_id: str, offset: int, length: int, size: int | None = None) -> bytes:
        """`length` bytes from `offset` (fewer at the end). The hash cannot be checked without reading the
        whole blob: only `size`, when given."""
        ...

    async def verify(self, blob_id: str, size: int | None = None) -> None:
        """Read the whole blob and check its size (when given) and hash; raises `BlobNotFound` or
        `BlobDamaged`, and logs nothing: the caller (`polyport check`) reports."""
        ...

    async def size(self, blob_id: str) -> int: ...

    async def exists(self, blob_id: str) -> bool: ...

    async def delete(self, blob_id: str) -> None: ...


# Blobs up to this size (when the caller knows it) are read on the caller's thread.
INLINE_READ = 128 * 1024
# Puts up to this size go through the group-committing writer thread; larger ones write on their own.
GROUP_PUT = 1024 * 1024
GROUP_MAX = 256  # most puts in one group
# Whole-blob reads in pieces (`stream`, `verify`) take this much at a time.
STREAM_CHUNK = 256 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as files under `root/ab/cd/<id>`; temporary files under `root/tmp`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._puts: queue.SimpleQueue[tuple[bytes, asyncio.Future[str]]] = queue.SimpleQueue()
        self._put_thread: threading.Thread | None = None
        self._put_lock = threading.Lock()

    def path_of(self, blob_id: str) -> Path:
        _check_id(blob_id)
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def _temp_path(self) -> Path:
        return self._tmp / secrets.token_hex(12)

    def _install(self, temp: Path, blob_id: str) -> None:
        """Move a written, fsynced temporary file into place (or drop it if the blob exists)."""
        final = self.path_of(blob_id)
        if final.exists():
            temp.unlink(missing_ok=True)
            return
        created = not final.parent.exists()
        final.parent.mkdir(parents=True, exist_ok=True)
        temp.replace(final)
        _fsync_dir(final.parent)
        if created:  # the new folders' entries must be durable too
            _fsync_dir(final.parent.parent)
            _fsync_dir(self.root)

    def _put_sync(self, data: bytes) -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        if self.path_of(blob_id).exists():
            return blob_id
        temp = self._temp_path()
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._install(temp, blob_id)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return blob_id

    async def put(self, data: bytes) -> str:
        if len(data) > GROUP_PUT:
            return await asyncio.to_thread(self._put_sync, data)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._puts.put((data, future))
        if self._put_thread is None:
            self._start_put_thread()
        return await future

    def _start_put_thread(self) -> None:
        with self._put_lock:
            if self._put_thread is None:
                thread = threading.Thread(target=self._put_loop, name=f"blob-writer:{self.root.name}", daemon=True)
                thread.start()
                self._put_thread = thread

    def _put_loop(self) -> None:
        while True:
            group = [self._puts.get()]
            while len(group) < GROUP_MAX:
                try:
                    group.append(self._puts.get_nowait())
                except queue.Empty:
                    break
            try:
                outcomes = self._put_group([data for data, _ in group])
            except BaseException as error:  # each caller hears of it
                outcomes = [error] * len(group)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[str], str | BaseException]]] = {}
            for (_, future), outcome in zip(group, outcomes, strict=True):
                by_loop.setdefault(future.get_loop(), []).append((future, outcome))
            for loop, answers in by_loop.items():
                with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                    loop.call_soon_threadsafe(_answer, answers)

    def _put_group(self, items: list[bytes]) -> list[str | BaseException]:
        """Write every new blob of the group, fsync them all, move them into place, fsync their folders."""
        ids = [hashlib.sha256(data).hexdigest() for data in items]
        outcomes: list[str | BaseException] = list(ids)
        written: dict[str, Path] = {}
        try:
            for blob_id, data in zip(ids, items, strict=True):
                if blob_id in written or self.path_of(blob_id).exists():
                    continue
                temp = self._temp_path()
                written[blob_id] = temp  # before writing: a failed write is cleaned up too
                with open(temp, "wb") as out:
                    out.write(data)
            if not written:
                return outcomes
            for temp in written.values():
                fd = os.open(temp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            folders: set[Path] = set()
            for blob_id, temp in written.items():
                final = self.path_of(blob_id)
                if not final.parent.exists():
                    final.parent.mkdir(parents=True, exist_ok=True)
                    folders.update((final.parent.parent, self.root))
                temp.replace(final)
                folders.add(final.parent)
            for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
                _fsync_dir(folder)
        except BaseException:
            for temp in written.values():
                temp.unlink(missing_ok=True)
            raise
        return outcomes

    def writer(self) -> LocalBlobWriter:
        return LocalBlobWriter(self)

    def _open(self, blob_id: str, size: int | None, *, logged: bool = True) -> io.BufferedReader:
        """The blob's file, open; its size checked first when the caller knows it."""
        try:
            source = open(self.path_of(blob_id), "rb")  # noqa: SIM115  (the caller closes it)
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None
        if size is not None:
            found = os.fstat(source.fileno()).st_size
            if found != size:
                source.close()
                err = wrong_size(blob_id, found, size)
                raise log_damaged(err) if logged else err
        return source

    def _get_sync(self, blob_id: str, size: int | None) -> bytes:
        with self._open(blob_id, size) as source:
            data = source.read()
        if size is not None and len(data) != size:  # changed between the fstat and the read
            raise log_damaged(wrong_size(blob_id, len(data), size))
        digest = hashlib.sha256(data).hexdigest()
        if digest != blob_id:
            raise log_damaged(wrong_hash(blob_id, digest))
        return data

    async def get(self, blob_id: str, size: int | None = None) -> bytes:
        if size is not None and size <= INLINE_READ:
            # Small and most likely in the page cache: a thread hop would cost more than the read and hash.
            return self._get_sync(blob_id, size)
        return await asyncio.to_thread(self._get_sync, blob_id, size)

    def _read_sync(self, blob_id: str, offset: int, length: int, size: int | None) -> bytes:
        with self._open(blob_id, size) as source:
            source.seek(offset)
            return source.read(length)

    async def read(self, blob_id: str, offset: int, length: int, size: int | None = None) -> bytes:
        return await asyncio.to_thread(self._read_sync, blob_id, offset, length, size)

    def _verify_sync(self, blob_id: str, size: int | None) -> None:
        digest = hashlib.sha256()
        buffer = bytearray(STREAM_CHUNK)
        view = memoryview(buffer)
        total = 0
        with self._open(blob_id, size, logged=False) as source:
            while count := source.readinto(buffer):
                digest.update(view[:count])
                total += count
        if size is not None and total != size:
            raise wrong_size(blob_id, total, size)
        if digest.hexdigest() != blob_id:
            raise wrong_hash(blob_id, digest.hexdigest())

    async def verify(self, blob_id: str, size: int | None = None) -> None:
        await asyncio.to_thread(self._verify_sync, blob_id, size)

    async def size(self, blob_id: str) -> int:
        try:
            return (await asyncio.to_thread(self.path_of(blob_id).stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None

    async def exists(self, blob_id: str) -> bool:
        return await asyncio.to_thread(self.path_of(blob_id).exists)

    async def delete(self, blob_id: str) -> None:
        await asyncio.to_thread(self.path_of(blob_id).unlink, True)

    # -- for `polyport check`: the files themselves (blocking calls, for an admin's command) --

    def files(self) -> Iterator[tuple[str | None, Path]]:
        """Every file of the store but the temporary ones: (its blob id, its path), or (None, its path) for a
        file that is no blob where it lies (a stray: another name, or another folder than its name's)."""
        for folder, subfolders, names in os.walk(self.root):
            here = Path(folder)
            if here == self.root:
                subfolders[:] = sorted(f for f in subfolders if f != self._tmp.name)
            else:
                subfolders.sort()
            for name in sorted(names):
                path = here / name
                relative = path.relative_to(self.root).parts
                is_blob = (len(relative) == 3 and len(name) == 64 and HEX.issuperset(name)
                           and relative[0] == name[:2] and relative[1] == name[2:4])
                yield (name if is_blob else None), path

    def temporaries(self) -> list[Path]:
        """Temporary files: writes in progress, or left by a process that died while writing."""
        return sorted(p for p in self._tmp.iterdir() if p.is_file())

    def quarantine(self, blob_id: str, folder: Path) -> Path:
        """Move a blob's file into `folder`, never deleting it: reads then raise `BlobNotFound`. Returns
        where it went. Only with no node at work on the store (`polyport check --repair` holds the lock)."""
        return move_aside(self.path_of(blob_id), folder)


# Chunks are gathered up to this size before a worker thread writes them out.
WRITE_BUFFER = 256 * 1024


def move_aside(path: Path, folder: Path) -> Path:
    """Move a file into `folder` under its own name (".1", ".2"... when taken); returns its new path. A
    rename on the same file system; across file systems a copy, fsynced, then the unlink."""
    if not path.is_file():
        raise BlobNotFound(path.name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    number = 0
    while target.exists():
        number += 1
        target = folder / f"{path.name}.{number}"
    try:
        path.rename(target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.copy2(path, target)
        with open(target, "rb") as copy:
            os.fsync(copy.fileno())
        path.unlink()
    _fsync_dir(folder)
    _fsync_dir(path.parent)
    return target


def _answer(answers: list[tuple[asyncio.Future[str], str | BaseException]]) -> None:
    for future, outcome in answers:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class LocalBlobWriter:
    """Streams chunks to a temporary file while hashing them; commit() installs it."""

    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        self._hash = hashlib.sha256()
        self._path = store._temp_path()
        self._file = open(self._path, "wb")  # noqa: SIM115  (closed in commit/abort)
        self._pending = bytearray()
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        self._pending += chunk
        if len(self._pending) >= WRITE_BUFFER:
            data, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._file.write, data)

    def _commit_sync(self) -> str:
        self._file.write(self._pending)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        blob_id = self._hash.hexdigest()
        self._store._install(self._path, blob_id)
        return blob_id

    async def commit(self) -> str:
        try:
            return await asyncio.to_thread(self._commit_sync)
        except BaseException:
            await self.abort()
            raise

    async def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self._path.unlink(missing_ok=True)
