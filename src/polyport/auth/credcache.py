"""Remembering recently verified passwords, so clients that log in every minute skip argon2.

What is kept is HMAC-SHA256 under a per-process random key of (account, stored hash, password): never
the password, and useless outside this process. The stored hash is part of the key, so a password
change anywhere (another node, the admin command) invalidates the entry by itself; `forget` drops one
at once. Only successes are remembered. Dovecot's auth cache does the same job.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable


class CredentialCache:
    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[int, tuple[bytes, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._ttl > 0 and self._max > 0

    def _digest(self, account_id: int, password_hash: str, password: str) -> bytes:
        message = b"\0".join((str(account_id).encode(), password_hash.encode(), password.encode()))
        return hmac.digest(self._key, message, "sha256")

    def check(self, account_id: int, password_hash: str, password: str) -> bool:
        entry = self._entries.get(account_id)
        if entry is None:
            return False
        digest, expires = entry
        if self._clock() >= expires:
            del self._entries[account_id]
            return False
        return hmac.compare_digest(digest, self._digest(account_id, password_hash, password))

    def remember(self, account_id: int, password_hash: str, password: str) -> None:
        if not self.enabled:
            return
        self._entries[account_id] = (self._digest(account_id, password_hash, password),
                                     self._clock() + self._ttl)
        self._entries.move_to_end(account_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, account_id: int) -> None:
        self._entries.pop(account_id, None)

    def __len__(self) -> int:
        return len(self._entries)
