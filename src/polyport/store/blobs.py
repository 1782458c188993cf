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
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import secrets
import threading
from pathlib import Path
from typing import Protocol

HEX = frozenset("0123456789abcdef")


class BlobError(Exception):
    pass


class BlobNotFound(BlobError):
    pass


class BlobDamaged(BlobError):
    """A blob whose bytes are not what it is named by: shorter or longer than the size its message
    records, or not hashing to its id. Reported for that message alone; `polyport check` finds them all."""


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

    async def get(self, blob_id: str, size_hint: int | None = None) -> bytes: ...

    async def read(self, blob_id: str, offset: int, length: int) -> bytes: ...

    async def size(self, blob_id: str) -> int: ...

    async def exists(self, blob_id: str) -> bool: ...

    async def delete(self, blob_id: str) -> None: ...


# Blobs up to this size (when the caller knows it) are read on the caller's thread.
INLINE_READ = 128 * 1024
# Puts up to this size go through the group-committing writer thread; larger ones write on their own.
GROUP_PUT = 1024 * 1024
GROUP_MAX = 256  # most puts in one group


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

    async def get(self, blob_id: str, size_hint: int | None = None) -> bytes:
        path = self.path_of(blob_id)
        try:
            if size_hint is not None and size_hint <= INLINE_READ:
                # Small and most likely in the page cache: a thread hop would cost more than the read.
                return path.read_bytes()
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None

    def _read_sync(self, blob_id: str, offset: int, length: int) -> bytes:
        try:
            with open(self.path_of(blob_id), "rb") as source:
                source.seek(offset)
                return source.read(length)
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None

    async def read(self, blob_id: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._read_sync, blob_id, offset, length)

    async def size(self, blob_id: str) -> int:
        try:
            return (await asyncio.to_thread(self.path_of(blob_id).stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None

    async def exists(self, blob_id: str) -> bool:
        return await asyncio.to_thread(self.path_of(blob_id).exists)

    async def delete(self, blob_id: str) -> None:
        await asyncio.to_thread(self.path_of(blob_id).unlink, True)


# Chunks are gathered up to this size before a worker thread writes them out.
WRITE_BUFFER = 256 * 1024


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
