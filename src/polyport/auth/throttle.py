"""Throttling failed logins, per remote address and per account.

Each failure is counted against the remote address and the account named; when either has more than
its limit within the window, it is locked out: further attempts fail at once, without checking the
password, until the lockout ends. So a guesser gets a handful of tries per window whichever way it
spreads them.

Per-account lockout would let anyone lock a user out by failing on purpose; so an address the account
logged in from successfully recently stays exempt from that account's lockout (not from its own).

State lives in a KeyValueStore (store/memory.py), so the nodes of a cluster will share it: a sliding
window of failure times per address and per account (`hit`), a lockout key that expires when the lockout
ends, and per account the addresses it logged in from lately, with when (by `clock`, wall-clock time by
default so that nodes agree). The store bounds the memory used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from polyport.store.memory import KeyValueStore, MemoryKeyValueStore

# Keys of the store Throttle makes for itself when given none (addresses + accounts); the soonest to
# expire are forgotten first.
MAX_KEYS = 200_000
# Addresses remembered per account as recently successful.
MAX_GOOD_ADDRESSES = 8
PREFIX = "throttle:"
GENERATION = PREFIX + "generation"  # bumped by clear(): the keys' names change


@dataclass(frozen=True, slots=True)
class Lockout:
    scope: str  # "address" or "account"
    retry_after: float  # seconds


class Throttle:
    def __init__(self, store: KeyValueStore | None = None, *, window: float = 300.0, max_per_address: int = 10,
                 max_per_account: int = 30, lockout: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store: KeyValueStore = store if store is not None else MemoryKeyValueStore(max_keys=MAX_KEYS,
                                                                                          clock=clock)
        self.window = window
        self.max_per_address = max_per_address
        self.max_per_account = max_per_account
        self.lockout = lockout
        self._clock = clock

    async def clear(self) -> None:
        """Forget every failure and lockout counted so far (tests; an administrator's unlock): later keys
        get a new generation in their names, kept in the store so that every worker and node sharing it
        moves on together, and the old ones expire."""
        await self.store.incr(GENERATION)

    async def _generation(self) -> str:
        return await self.store.get(GENERATION) or "0"

    # -- keys --

    @staticmethod
    def _address_key(address: str) -> str:
        return f"ip:{address}"

    @staticmethod
    def _account_key(account: str) -> str:
        return f"acct:{account.lower()}"

    @staticmethod
    def _failures(generation: str, key: str) -> str:
        return f"{PREFIX}{generation}:fail:{key}"

    @staticmethod
    def _lock(generation: str, key: str) -> str:
        return f"{PREFIX}{generation}:lock:{key}"

    def _good(self, account: str) -> str:
        return f"{PREFIX}good:{self._account_key(account)}"

    # -- the three moments of a login --

    async def _recent_addresses(self, account: str) -> dict[str, float]:
        """The account's recently good addresses with when, oldest first."""
        raw = await self.store.get(self._good(account))
        try:
            good = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        if not isinstance(good, dict):
            return {}
        return {str(a): float(t) for a, t in good.items() if isinstance(t, int | float)}

    async def _recently_good(self, account: str, address: str, now: float) -> bool:
        seen = (await self._recent_addresses(account)).get(address)
        return seen is not None and now - seen < self.lockout + self.window

    async def check(self, address: str, account: str | None) -> Lockout | None:
        """Whether an attempt from `address` (for `account`, when known) must be refused unchecked."""
        generation = await self._generation()
        wait = await self.store.ttl(self._lock(generation, self._address_key(address)))
        if wait is not None:
            return Lockout("address", wait)
        if account:
            wait = await self.store.ttl(self._lock(generation, self._account_key(account)))
            if wait is not None and not await self._recently_good(account, address, self._clock()):
                return Lockout("account", wait)
        return None

    async def _count(self, generation: str, key: str, limit: int) -> bool:
        """Record one failure for key; True if that locks it out."""
        failures = self._failures(generation, key)
        if await self.store.hit(failures, self.window, limit) < limit:
            return False
        await self.store.set(self._lock(generation, key), "1", self.lockout)
        await self.store.delete(failures)
        return True

    async def failed(self, address: str, account: str | None) -> Lockout | None:
        """Record a failed attempt; returns the lockout it started, if any."""
        generation = await self._generation()
        if await self._count(generation, self._address_key(address), self.max_per_address):
            return Lockout("address", self.lockout)
        if account and await self._count(generation, self._account_key(account), self.max_per_account):
            return Lockout("account", self.lockout)
        return None

    async def succeeded(self, address: str, account: str) -> None:
        """Remember the address as one the account logs in from. The address's failures stay counted: a
        guesser must not reset its budget by logging in to an account of its own now and then."""
        now = self._clock()
        remembered = self.lockout + self.window
        good = {a: t for a, t in (await self._recent_addresses(account)).items()
                if a != address and now - t < remembered}
        good[address] = now
        while len(good) > MAX_GOOD_ADDRESSES:
            del good[next(iter(good))]
        await self.store.set(self._good(account), json.dumps(good), remembered)
