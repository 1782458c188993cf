"""Throttling failed logins, per remote address and per account.

Each failure is counted against the remote address and the account named; when either has more than
its limit within the window, it is locked out: further attempts fail at once, without checking the
password, until the lockout ends. So a guesser gets a handful of tries per window whichever way it
spreads them.

Per-account lockout would let anyone lock a user out by failing on purpose; so an address the account
logged in from successfully recently stays exempt from that account's lockout (not from its own).
State is in memory, bounded; the cluster issue moves it to Redis.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

# Remembered keys at most (addresses + accounts); the oldest are forgotten first.
MAX_KEYS = 200_000
# Addresses remembered per account as recently successful.
MAX_GOOD_ADDRESSES = 8


@dataclass(frozen=True, slots=True)
class Lockout:
    scope: str  # "address" or "account"
    retry_after: float  # seconds


class Throttle:
    def __init__(self, *, window: float = 300.0, max_per_address: int = 10, max_per_account: int = 30,
                 lockout: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_per_address = max_per_address
        self.max_per_account = max_per_account
        self.lockout = lockout
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked: dict[str, float] = {}
        self._good: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def clear(self) -> None:
        """Forget every failure and lockout (an administrator's unlock; tests)."""
        self._failures.clear()
        self._locked.clear()

    @staticmethod
    def _address_key(address: str) -> str:
        return f"ip:{address}"

    @staticmethod
    def _account_key(account: str) -> str:
        return f"acct:{account.lower()}"

    def _locked_for(self, key: str, now: float) -> float | None:
        until = self._locked.get(key)
        if until is None:
            return None
        if now >= until:
            del self._locked[key]
            return None
        return until - now

    def _recently_good(self, account: str, address: str, now: float) -> bool:
        good = self._good.get(self._account_key(account))
        seen = good.get(address) if good else None
        return seen is not None and now - seen < self.lockout + self.window

    def check(self, address: str, account: str | None) -> Lockout | None:
        """Whether an attempt from `address` (for `account`, when known) must be refused unchecked."""
        now = self._clock()
        wait = self._locked_for(self._address_key(address), now)
        if wait is not None:
            return Lockout("address", wait)
        if account:
            wait = self._locked_for(self._account_key(account), now)
            if wait is not None and not self._recently_good(account, address, now):
                return Lockout("account", wait)
        return None

    def _count(self, key: str, limit: int, now: float) -> bool:
        """Record one failure for key; True if that locks it out."""
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = deque()
        self._failures.move_to_end(key)
        times.append(now)
        while times and now - times[0] > self.window:
            times.popleft()
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)
        if len(times) >= limit:
            self._locked[key] = now + self.lockout
            times.clear()
            return True
        return False

    def failed(self, address: str, account: str | None) -> Lockout | None:
        """Record a failed attempt; returns the lockout it started, if any."""
        now = self._clock()
        if self._count(self._address_key(address), self.max_per_address, now):
            return Lockout("address", self.lockout)
        if account and self._count(self._account_key(account), self.max_per_account, now):
            return Lockout("account", self.lockout)
        return None

    def succeeded(self, address: str, account: str) -> None:
        """Remember the address as one the account logs in from. The address's failures stay counted: a
        guesser must not reset its budget by logging in to an account of its own now and then."""
        now = self._clock()
        key = self._account_key(account)
        good = self._good.get(key)
        if good is None:
            good = self._good[key] = OrderedDict()
        self._good.move_to_end(key)
        good[address] = now
        good.move_to_end(address)
        while len(good) > MAX_GOOD_ADDRESSES:
            good.popitem(last=False)
        while len(self._good) > MAX_KEYS:
            self._good.popitem(last=False)
        if len(self._locked) > MAX_KEYS:
            for stale in [k for k, until in self._locked.items() if until <= now]:
                del self._locked[stale]
