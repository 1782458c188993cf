"""Logins: the Authenticator every protocol asks, and the failures it raises."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from polyport import log, metrics
from polyport.auth.credcache import CredentialCache
from polyport.auth.passwords import PasswordHasher, ScramKeys, decode_scram
from polyport.auth.throttle import Lockout, Throttle
from polyport.directory import Directory, LoginRecord
from polyport.errors import ErrorKind, ServiceError


class AuthFailure(ServiceError):
    reason = "failed"
    kind = ErrorKind.AUTH_FAILED


class BadCredentials(AuthFailure):
    reason = "bad-credentials"
    kind = ErrorKind.AUTH_FAILED


class Throttled(AuthFailure):
    reason = "throttled"
    kind = ErrorKind.THROTTLED

    def __init__(self, lockout: Lockout) -> None:
        super().__init__(f"too many failed logins from this {lockout.scope}; "
                         f"try again in {int(lockout.retry_after) + 1} s")
        self.lockout = lockout


class PlaintextRefused(AuthFailure):
    reason = "plaintext-refused"
    kind = ErrorKind.NEEDS_TLS


class AccessDenied(AuthFailure):
    reason = "access-denied"
    kind = ErrorKind.LOGIN_DENIED


class AuthzidRefused(AccessDenied):
    """The credentials are right, but the SASL authorization identity (PLAIN's authzid, SCRAM's a=) names
    another account, and acting as another account is not offered (RFC 4422 3.4.1). Not "this account may
    not use the service": the protocols say which identity was refused."""

    reason = "authzid-refused"

    def __init__(self, message: str = "authorization identity refused") -> None:
        super().__init__(message)


class Malformed(AuthFailure):
    reason = "malformed"
    kind = ErrorKind.MALFORMED


@dataclass(frozen=True, slots=True)
class LoginContext:
    service: str  # the service table's name, for logs and metrics
    remote: str  # remote IP address
    secure: bool  # the connection is under TLS
    trusted: bool  # the remote address is in the trusted networks
    access_mode: str | None = None  # CommuniGate access mode the service needs ("IMAP", "Mail"...)
    conn: str = ""  # connection id, for logs

    @property
    def plaintext_allowed(self) -> bool:
        return self.secure or self.trusted


@dataclass(frozen=True, slots=True)
class Identity:
    """Who logged in."""

    account_id: int
    address: str  # canonical account address
    login: str  # the name as the client gave it
    rights: list[str] = field(default_factory=list)


HEX_DIGITS = frozenset("0123456789abcdef")
# A login is recorded (time and address, for GETACCOUNTINFO) at most this often per account and address.
RECORD_LOGIN_EVERY = 60.0


class Authenticator:
    def __init__(self, directory: Directory, passwords: PasswordHasher, cache: CredentialCache,
                 throttle: Throttle) -> None:
        self.directory = directory
        self.passwords = passwords
        self.cache = cache
        self.throttle = throttle
        self._log = log.get()
        self._background: set[asyncio.Task[None]] = set()
        self._upgrading: set[int] = set()  # accounts whose SCRAM-SHA-1 keys are being made
        # (account, address) recorded in this minute and in the one before
        self._recorded: set[tuple[int, str]] = set()
        self._recorded_before: set[tuple[int, str]] = set()
        self._recorded_since = time.monotonic()

    def _remember_login(self, account_id: int, remote: str) -> None:
        """Note the login time and address (GETACCOUNTINFO) without making the client wait for it; at most
        once a minute per account and address, so a client that logs in for every check of its mail does
        not cost a durable write each time (a repeat is skipped for one to two minutes: two generations of
        a minute each bound what is remembered)."""
        now = time.monotonic()
        if now - self._recorded_since >= RECORD_LOGIN_EVERY:
            stale = now - self._recorded_since >= 2 * RECORD_LOGIN_EVERY
            self._recorded_before, self._recorded = (set() if stale else self._recorded), set()
            self._recorded_since = now
        key = (account_id, remote)
        if key in self._recorded or key in self._recorded_before:
            return
        self._recorded.add(key)
        task = asyncio.get_running_loop().create_task(self._record(account_id, remote))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record(self, account_id: int, remote: str) -> None:
        try:
            await self.directory.record_login(account_id, remote)
        except Exception:
            self._log.exception("auth.record_login_failed", account_id=account_id)

    def mechanisms(self, ctx: LoginContext) -> list[str]:
        """SASL mechanisms to offer on this connection (PLAIN and LOGIN only where plaintext is allowed)."""
        from polyport.auth.sasl import MECHANISMS

        return [name for name, mech in MECHANISMS.items() if mech.offered(ctx)]

    async def lookup(self, ctx: LoginContext, login: str) -> tuple[LoginRecord | None, str]:
        """The account a login names, and the key its failures count against: the account's own address
        however it was named (alias, domain alias, case, trailing dot), so no spelling gets a fresh budget.
        Refused at once (Throttled) if the address or the account is locked out."""
        record = await self.directory.login_record(login)
        key = record.address if record is not None else login.strip().lower().rstrip(".")
        await self.check_throttle(ctx, key)
        return record, key

    async def check_throttle(self, ctx: LoginContext, login: str | None) -> None:
        lockout = await self.throttle.check(ctx.remote, login)
        if lockout is not None:
            metrics.auth_failures.labels(ctx.service, Throttled.reason).inc()
            self._log.info("auth.throttled", conn=ctx.conn, service=ctx.service, remote=ctx.remote,
                           login=login, scope=lockout.scope)
            raise Throttled(lockout)

    async def fail(self, ctx: LoginContext, login: str | None, failure: AuthFailure) -> AuthFailure:
        """Count and log a failure; returns it for the caller to raise."""
        self._failed(ctx, login, failure, await self.throttle.failed(ctx.remote, login))
        return failure

    def _failed(self, ctx: LoginContext, login: str | None, failure: AuthFailure, lockout: Lockout | None) -> None:
        metrics.auth_failures.labels(ctx.service, failure.reason).inc()
        self._log.info("auth.failed", conn=ctx.conn, service=ctx.service, remote=ctx.remote,
                       login=login, reason=failure.reason)
        if lockout is not None:
            metrics.auth_lockouts.labels(lockout.scope).inc()
            self._log.warning("auth.lockout", service=ctx.service, remote=ctx.remote, login=login,
                              scope=lockout.scope, seconds=lockout.retry_after)

    async def succeed(self, ctx: LoginContext, record: LoginRecord, login: str, mechanism: str) -> Identity:
        if ctx.access_mode is not None and not record.may_use(ctx.access_mode):
            raise await self.fail(ctx, login, AccessDenied(
                f"{record.address} may not use {ctx.access_mode} (AccessModes)"))
        await self.throttle.succeeded(ctx.remote, record.address)
        self._remember_login(record.account_id, ctx.remote)
        metrics.auth_successes.labels(ctx.service, mechanism).inc()
        self._log.info("auth.ok", conn=ctx.conn, service=ctx.service, remote=ctx.remote,
                       account=record.address, mechanism=mechanism)
        return Identity(record.account_id, record.address, login, record.rights)

    async def check_authzid(self, ctx: LoginContext, login: str, record: LoginRecord, authzid: str) -> None:
        """Acting as someone else is not offered: authzid must be empty or name the same account."""
        if not authzid or authzid.lower() in (login.lower(), record.address):
            return
        other = await self.directory.login_record(authzid)
        if other is not None and other.account_id == record.account_id:
            return
        raise await self.fail(ctx, login, AuthzidRefused(
            "authorization identity refused: acting as another account is not permitted"))

    async def login_plain(self, ctx: LoginContext, login: str, password: str, *, authzid: str = "",
                          mechanism: str = "password") -> Identity:
        """Check a login name and password sent in the clear (USER/PASS, LOGIN, AUTH PLAIN)."""
        if not ctx.plaintext_allowed:
            raise await self.fail(ctx, login, PlaintextRefused(
                "passwords in the clear need TLS (use STARTTLS or the TLS port)"))
        record, key = await self.lookup(ctx, login)
        if record is None:
            await self.passwords.verify_nothing(password)
            raise await self.fail(ctx, key, BadCredentials("wrong name or password"))
        if not await self._password_matches(record, password):
            raise await self.fail(ctx, key, BadCredentials("wrong name or password"))
        await self.check_authzid(ctx, login, record, authzid)
        return await self.succeed(ctx, record, login, mechanism)

    async def _password_matches(self, record: LoginRecord, password: str) -> bool:
        if self.cache.check(record.account_id, record.password_hash, password):
            return True
        if not await self.passwords.verify(record.password_hash, password):
            return False
        self.cache.remember(record.account_id, record.password_hash, password)
        if not record.scram_sha1 and record.account_id not in self._upgrading:
            # An account older than SCRAM-SHA-1's keys: made now that the password shows (once at a time).
            self._upgrading.add(record.account_id)
            task = asyncio.get_running_loop().create_task(self._add_scram_sha1(record, password))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True

    async def _add_scram_sha1(self, record: LoginRecord, password: str) -> None:
        try:
            await self.directory.add_scram_sha1(record.account_id, record.password_hash, password)
        except Exception:  # the login succeeded; the keys come at a later one
            self._log.warning("auth.scram_sha1_not_stored", account=record.address)
        finally:
            self._upgrading.discard(record.account_id)

    async def verify_password(self, ctx: LoginContext, login: str, password: str) -> bool:
        """Whether `password` is the account's (an admin's VERIFYACCOUNTPASSWORD): throttled and counted
        like a login, so it cannot be used to guess."""
        record, key = await self.lookup(ctx, login)
        if record is not None and await self._password_matches(record, password):
            return True
        if record is None:
            await self.passwords.verify_nothing(password)
        await self.fail(ctx, key, BadCredentials("wrong password"))
        return False

    async def login_apop(self, ctx: LoginContext, login: str, challenge: str, digest: str) -> Identity:
        """APOP (RFC 1939 section 7): MD5 of the challenge and the password. Needs the password itself,
        so only accounts with RecoverablePassword=YES (and a password set since) can use it."""
        record, key = await self.lookup(ctx, login)
        vault = self.directory.vault
        password = vault.open(record.password_secret) if record is not None and vault is not None else None
        digest = digest.lower()
        if record is None or password is None or len(digest) != 32 or not HEX_DIGITS.issuperset(digest):
            raise await self.fail(ctx, key, BadCredentials("wrong name or password"))
        expected = hashlib.md5((challenge + password).encode(), usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(expected, digest):
            raise await self.fail(ctx, key, BadCredentials("wrong name or password"))
        return await self.succeed(ctx, record, login, "APOP")

    async def scram_lookup(self, ctx: LoginContext, login: str,
                           digest: str = "sha256") -> tuple[LoginRecord | None, ScramKeys | None, str]:
        """The account, its SCRAM keys for the digest (sha256 or sha1), and the key its failures count
        against."""
        record, key = await self.lookup(ctx, login)
        keys = None
        if record is not None:
            keys = decode_scram(record.scram_sha256 if digest == "sha256" else record.scram_sha1, digest)
            if keys is None and digest == "sha1":
                keys = await self._scram_sha1_from_vault(record)
        return record, keys, key

    async def _scram_sha1_from_vault(self, record: LoginRecord) -> ScramKeys | None:
        """SCRAM-SHA-1's keys of an account older than them, made now from its recoverable password (and
        kept); None when its password is not recoverable (they come at its next login that shows it)."""
        vault = self.directory.vault
        password = vault.open(record.password_secret) if vault is not None and record.password_secret else None
        if password is None:
            self._log.debug("auth.scram_sha1_no_keys", account=record.address)
            return None
        keys = decode_scram(await self.passwords.scram_sha1(password), "sha1")
        if keys is not None and record.account_id not in self._upgrading:  # kept, in the background
            self._upgrading.add(record.account_id)
            task = asyncio.get_running_loop().create_task(self._add_scram_sha1(record, password))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return keys
