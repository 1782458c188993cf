"""HTTP file upload (XEP-0363): a client asks for a slot (a file's name, size and type), gets a secret URL,
PUTs the file there and shares the URL; anyone with it GETs the file until it expires. Slots are records
(table xmpp_uploads, migration 0019); the files are in their own folder (`uploads/` in the data folder),
one per slot, written to a temporary file, synced and renamed before the slot is complete, and deleted
with the slot when it expires (`[xmpp] upload_days`). Not the blob store: blobs are shared by content, and
an upload's bytes must go when its slot does. An account keeps at most `[xmpp] upload_quota` bytes; a slot
past it refuses (the oldest expire first)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

CHUNK = 256 * 1024
SLOT_SECONDS = 300.0  # how long a slot waits for its file

INSERT = Statement("""
    INSERT INTO xmpp_uploads (token, account_id, filename, size, content_type, created, expires, complete)
    VALUES (:token, :account_id, :filename, :size, :content_type, :created, :expires, 0)""")
USED = Statement("SELECT COALESCE(SUM(size), 0) FROM xmpp_uploads WHERE account_id = :account_id")
SLOT = Statement("SELECT * FROM xmpp_uploads WHERE token = :token")
COMPLETE = Statement("UPDATE xmpp_uploads SET complete = 1, expires = :expires WHERE token = :token AND complete = 0")
EXPIRED = Statement("SELECT token FROM xmpp_uploads WHERE expires < :now LIMIT 1000")  # and files never sent
DELETE = Statement("DELETE FROM xmpp_uploads WHERE token = :token")


class UploadRefused(ServiceError):
    """A slot refused: `why` is "size" (over the limit) or "quota" (the account's files fill it)."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True, slots=True)
class Slot:
    token: str
    account_id: int
    filename: str
    size: int
    content_type: str
    complete: bool


def _slot(row: dict[str, object]) -> Slot:
    return Slot(str(row["token"]), int(str(row["account_id"])), str(row["filename"]), int(str(row["size"])),
                str(row["content_type"]), bool(row["complete"]))


class Uploads:
    def __init__(self, records: RecordStore, folder: Path, *, days: int) -> None:
        self.records = records
        self.folder = folder
        self.days = days

    def _path(self, token: str) -> Path:
        return self.folder / token[:2] / token

    async def slot(self, account_id: int, filename: str, size: int, content_type: str, *, max_size: int,
                   quota: int) -> str:
        """A new slot's token; UploadRefused where the file is too large or the account's quota is full."""
        if size > max_size:
            raise UploadRefused(f"files up to {max_size} bytes", "size")
        token = secrets.token_urlsafe(24)
        now = int(time.time())

        def unit() -> Unit[None]:
            used = yield USED.value(account_id=account_id)
            if int(used or 0) + size > quota:
                raise UploadRefused("the account's uploaded files fill its quota", "quota")
            yield INSERT.run(token=token, account_id=account_id, filename=filename[:255], size=size,
                             content_type=content_type[:255], created=now,
                             expires=now + int(SLOT_SECONDS))

        await self.records.write(unit())
        return token

    async def find(self, token: str) -> Slot | None:
        if not token or len(token) > 64:
            return None

        def unit() -> Unit[Slot | None]:
            row = yield SLOT.one(token=token)
            return None if row is None else _slot(dict(row))

        return await self.records.read(unit())

    async def store(self, slot: Slot, chunks: AsyncIterator[bytes]) -> bool:
        """The slot's file from `chunks`, exactly its size; False (nothing kept) where it is not."""
        path = self._path(slot.token)
        temp = path.with_name(path.name + ".part")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        written = 0
        handle = await asyncio.to_thread(open, temp, "wb")
        try:
            async for chunk in chunks:
                written += len(chunk)
                if written > slot.size:
                    break
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        except BaseException:  # the client went away mid-transfer: nothing kept, the slot still open
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(temp.unlink, True)
            raise
        await asyncio.to_thread(handle.close)
        if written != slot.size:
            await asyncio.to_thread(temp.unlink, True)
            return False
        await asyncio.to_thread(os.replace, temp, path)
        expires = int(time.time()) + self.days * 86_400

        def unit() -> Unit[None]:
            yield COMPLETE.run(token=slot.token, expires=expires)

        await self.records.write(unit())
        return True

    async def read(self, slot: Slot) -> AsyncIterator[bytes]:
        """The slot's file, in chunks."""
        handle = await asyncio.to_thread(open, self._path(slot.token), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def expire(self) -> int:
        """Forget expired slots, and slots whose file never came, with their files; how many went."""
        now = int(time.time())
        gone = 0
        while True:
            def listing() -> Unit[list[str]]:
                rows = yield EXPIRED.all(now=now)
                return [str(row["token"]) for row in rows]

            tokens = await self.records.read(listing())
            if not tokens:
                return gone
            for token in tokens:
                for path in (self._path(token), self._path(token).with_name(token + ".part")):
                    await asyncio.to_thread(path.unlink, True)

                def unit(token: str = token) -> Unit[None]:
                    yield DELETE.run(token=token)

                await self.records.write(unit())
                gone += 1
