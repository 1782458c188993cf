"""Web sessions: who a webmail or WebAdmin cookie stands for, kept in the record store.

The cookie carries a random token; the store keeps only its SHA-256, so a copy of the database opens no
session. A session lasts `lifetime` seconds past its last use (the idle timeout, or the longer "remember
me" period) and is checked against the account on every use: a deleted account, or one whose access to
the web was taken away, ends its sessions. The CSRF token of a session is derived from its token (HMAC),
so it needs no storage and differs per session. Sessions are in the store, so a restarted node, or another
node of the cluster, knows them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from polyport.directory import Directory
from polyport.store import RecordStore, Statement, Unit

USER = "user"
ADMIN = "admin"
# A session's expiry is written again when it was extended this long ago or more: one write a minute per
# active session instead of one per request.
TOUCH_EVERY = 60

# However often it is used, a session ends this long after login at the latest (a "remember me" one after
# its own period): a stolen cookie does not live forever.
MAX_AGE = 86400
SWEEP_EVERY = 3600
# A session checked this recently is not read again (as the CLI/API re-reads its caller's account at most
# every second): a logout or a new password here takes effect at once, one on another node within this.
FRESH_FOR = 1.0

INSERT = Statement("""
    INSERT INTO web_sessions (id, account_id, kind, created, seen, expires, lifetime, remote, credential)
    VALUES (:id, :account_id, :kind, :now, :now, :expires, :lifetime, :remote, :credential)""")
FIND = Statement("""
    SELECT account_id, kind, created, seen, expires, lifetime, credential FROM web_sessions WHERE id = :id""")
TOUCH = Statement("UPDATE web_sessions SET seen = :now, expires = :expires WHERE id = :id")
DELETE = Statement("DELETE FROM web_sessions WHERE id = :id")
DELETE_ACCOUNT = Statement("DELETE FROM web_sessions WHERE account_id = :account_id AND id <> :keep")
SWEEP = Statement("DELETE FROM web_sessions WHERE expires < :now")
COUNT = Statement("SELECT count(*) FROM web_sessions WHERE expires >= :now")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _credential(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class WebSession:
    token: str
    account_id: int
    address: str
    kind: str
    rights: tuple[str, ...]
    expires: int

    @property
    def csrf(self) -> str:
        """The token every state-changing form of this session must carry."""
        return hmac.new(self.token.encode(), b"csrf", hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


class WebSessions:
    def __init__(self, records: RecordStore, directory: Directory, *, idle: int = 1800,
                 remember: int = 30 * 86400) -> None:
        self.records = records
        self.directory = directory
        self.idle = idle
        self.remember = remember
        self._swept = 0.0
        self._fresh: dict[tuple[str, str, str | None], tuple[float, WebSession]] = {}

    async def create(self, account_id: int, kind: str, remote: str, *, remember: bool = False) -> WebSession:
        """A new session for an account that has just logged in."""
        token = secrets.token_urlsafe(32)
        now = int(time.time())
        lifetime = self.remember if remember else self.idle
        record = await self.directory.login_record_by_id(account_id)
        if record is None:
            raise LookupError("the account disappeared while its session was made")
        if now - self._swept > SWEEP_EVERY:
            self._swept = now
            await self.sweep()

        def unit() -> Unit[None]:
            yield INSERT.run(id=_hash(token), account_id=account_id, kind=kind, now=now, expires=now + lifetime,
                             lifetime=lifetime, remote=remote[:64], credential=_credential(record.password_hash))

        await self.records.write(unit())
        session = await self.find(token, kind)
        if session is None:
            raise LookupError("the account disappeared while its session was made")
        return session

    async def find(self, token: str, kind: str, *, access_mode: str | None = None) -> WebSession | None:
        """The live session of this token and kind, extended by its use; None for an unknown, expired or
        other-kind token, or when the account is gone, its password changed since the login, or it may no
        longer use `access_mode`."""
        if not token or len(token) > 100:
            return None
        now_mono = time.monotonic()
        fresh = self._fresh.get((token, kind, access_mode))
        if fresh is not None and now_mono - fresh[0] < FRESH_FOR and fresh[1].expires > time.time():
            return fresh[1]
        found = await self._find(token, kind, access_mode)
        if len(self._fresh) > 10_000:
            self._fresh.clear()
        if found is not None:
            self._fresh[(token, kind, access_mode)] = (now_mono, found)
        return found

    async def _find(self, token: str, kind: str, access_mode: str | None) -> WebSession | None:
        key = _hash(token)
        row = await self.records.fetch(FIND.one(id=key))
        now = int(time.time())
        if row is None or row["kind"] != kind or int(row["expires"]) < now:
            return None
        record = await self.directory.login_record_by_id(int(row["account_id"]))
        if (record is None or (access_mode is not None and not record.may_use(access_mode))
                or row["credential"] != _credential(record.password_hash)):
            await self.end(token)
            return None
        expires = int(row["expires"])
        ends = int(row["created"]) + max(int(row["lifetime"]), MAX_AGE)
        if now >= ends:
            await self.end(token)
            return None
        if now - int(row["seen"]) >= TOUCH_EVERY:
            expires = min(now + int(row["lifetime"]), ends)

            def touch() -> Unit[None]:
                yield TOUCH.run(id=key, now=now, expires=expires)

            await self.records.write(touch())
        return WebSession(token, record.account_id, record.address, kind, tuple(record.rights), expires)

    async def end(self, token: str) -> None:
        self._forget(lambda cached: cached.token == token)

        def unit() -> Unit[None]:
            yield DELETE.run(id=_hash(token))

        await self.records.write(unit())

    async def end_others(self, account_id: int, keep: WebSession | None = None) -> None:
        """End every session of an account but `keep` (after a password change)."""
        self._forget(lambda cached: cached.account_id == account_id and (keep is None or cached.token != keep.token))

        def unit() -> Unit[None]:
            yield DELETE_ACCOUNT.run(account_id=account_id, keep=_hash(keep.token) if keep else "")

        await self.records.write(unit())

    def forget_checks(self) -> None:
        """Read every session again at its next use (an account or domain changed in the directory)."""
        self._fresh.clear()

    def _forget(self, which: Callable[[WebSession], bool]) -> None:
        for key, (_, cached) in list(self._fresh.items()):
            if which(cached):
                del self._fresh[key]

    async def sweep(self) -> None:
        """Forget expired sessions."""
        def unit() -> Unit[None]:
            yield SWEEP.run(now=int(time.time()))

        await self.records.write(unit())

    async def count(self) -> int:
        return int(await self.records.fetch(COUNT.value(now=int(time.time()))) or 0)
