"""Password hashes: argon2id for logins, SCRAM-SHA-256 and SCRAM-SHA-1 keys for SASL, all made when a
password is set (SCRAM-SHA-1's also at the next login that shows the password, for accounts older than it).

Hashing and verifying cost tens of milliseconds of CPU by design, so they run in a bounded pool of
worker threads (argon2-cffi releases the GIL), never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import stringprep
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

SCRAM_PREFIX = "SCRAM-SHA-256$"
SCRAM_PREFIXES = {"sha256": SCRAM_PREFIX, "sha1": "SCRAM-SHA-1$"}


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_kib: int = 19456  # OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane
    time_cost: int = 2
    parallelism: int = 1


@dataclass(frozen=True, slots=True)
class StoredPassword:
    """What the store keeps for one password."""

    password_hash: str  # argon2id PHC string
    scram_sha256: str  # SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64 parts
    secret: str = ""  # the password sealed by the PasswordVault, for accounts that keep it recoverable
    scram_sha1: str = ""  # SCRAM-SHA-1$... likewise: XMPP's mandatory mechanism (RFC 6120 13.8.3)


@dataclass(frozen=True, slots=True)
class ScramKeys:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep, as SCRAM requires (RFC 5802 section 2.2); raises ValueError if prohibited."""
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in text if not stringprep.in_table_b1(ch))
    normal = unicodedata.normalize("NFKC", mapped)
    if not normal:
        return normal
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9)
    for ch in normal:
        if any(table(ch) for table in prohibited) or stringprep.in_table_a1(ch):
            raise ValueError("the password holds a character SASLprep forbids")
    has_ral = any(stringprep.in_table_d1(ch) for ch in normal)
    if has_ral:
        if any(stringprep.in_table_d2(ch) for ch in normal):
            raise ValueError("the password mixes right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1])):
            raise ValueError("right-to-left text must start and end with a right-to-left character")
    return normal


def scram_keys(password: str, salt: bytes, iterations: int, digest: str = "sha256") -> ScramKeys:
    """RFC 5802 section 3: the keys a server stores (never the password), with SHA-256 or SHA-1."""
    try:
        prepared = saslprep(password)
    except ValueError:
        prepared = password  # still usable with PLAIN; SCRAM clients will fail as they would anyway
    salted = hashlib.pbkdf2_hmac(digest, prepared.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", digest)
    return ScramKeys(iterations, salt, hashlib.new(digest, client_key).digest(),
                     hmac.digest(salted, b"Server Key", digest))


def encode_scram(keys: ScramKeys, digest: str = "sha256") -> str:
    b64 = base64.b64encode
    return (f"{SCRAM_PREFIXES[digest]}{keys.iterations}:{b64(keys.salt).decode()}"
            f"${b64(keys.stored_key).decode()}:{b64(keys.server_key).decode()}")


def decode_scram(text: str, digest: str = "sha256") -> ScramKeys | None:
    prefix = SCRAM_PREFIXES[digest]
    if not text.startswith(prefix):
        return None
    try:
        head, keys = text[len(prefix):].split("$")
        iterations, salt = head.split(":")
        stored, server = keys.split(":")
        return ScramKeys(int(iterations), base64.b64decode(salt, validate=True),
                         base64.b64decode(stored, validate=True), base64.b64decode(server, validate=True))
    except ValueError:
        return None


class PasswordHasher:
    """Makes and checks stored passwords in a pool of worker threads."""

    def __init__(self, params: Argon2Params | None = None, *, threads: int = 0,
                 scram_iterations: int = 4096) -> None:
        params = params or Argon2Params()
        self._argon2 = Argon2Hasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                                    parallelism=params.parallelism, type=Type.ID)
        self._pool = ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 2,
                                        thread_name_prefix="password")
        self.scram_iterations = scram_iterations
        self._dummy: str | None = None

    def make_sync(self, password: str) -> StoredPassword:
        keys = scram_keys(password, secrets.token_bytes(16), self.scram_iterations)
        return StoredPassword(self._argon2.hash(password), encode_scram(keys),
                              scram_sha1=self.scram_sha1_sync(password))

    def scram_sha1_sync(self, password: str) -> str:
        return encode_scram(scram_keys(password, secrets.token_bytes(16), self.scram_iterations, "sha1"), "sha1")

    async def scram_sha1(self, password: str) -> str:
        """SCRAM-SHA-1's stored keys for a password (an account made before they were kept)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.scram_sha1_sync, password)

    def verify_sync(self, password_hash: str, password: str) -> bool:
        if not password_hash:
            return False  # an account without a password cannot log in with one
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def make(self, password: str) -> StoredPassword:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.make_sync, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.verify_sync, password_hash, password)

    async def verify_nothing(self, password: str) -> None:
        """Spend the time of a real verification, so an unknown name is not told by its speed."""
        if self._dummy is None:
            self._dummy = (await self.make(secrets.token_hex(16))).password_hash
        await self.verify(self._dummy, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


VAULT_PREFIX = "v1:"


class PasswordVault:
    """Keeps recoverable passwords encrypted (AES-256-GCM) with the server's key, for the accounts that
    need challenge-response logins (APOP) - which need the password itself, not a hash of it. Only
    accounts with RecoverablePassword=YES get one; the key lives outside the store, so a copy of the
    database alone reveals nothing."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ValueError("the password vault key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> PasswordVault:
        """The vault keyed by `path`, which is created (32 random bytes, mode 0600) if missing."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(".tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
                out.flush()
                os.fsync(out.fileno())
            temp.replace(path)
        return cls(path.read_bytes())

    def seal(self, password: str) -> str:
        nonce = secrets.token_bytes(12)
        return VAULT_PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, password.encode(), None)).decode()

    def open(self, sealed: str) -> str | None:
        """The password, or None if there is none or it was sealed with another key."""
        from cryptography.exceptions import InvalidTag

        if not sealed.startswith(VAULT_PREFIX):
            return None
        try:
            raw = base64.b64decode(sealed[len(VAULT_PREFIX):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except (ValueError, InvalidTag, UnicodeDecodeError):
            return None
