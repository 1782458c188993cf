"""The in-memory role of the store: short-lived keys, counters, locks and rate-limit windows.

What a node keeps only for a while and a cluster must share: login failures and lockouts (auth.throttle),
locks around work only one node may do at a time, rate limits. `KeyValueStore` is the interface, every
method async because the cluster backs it with Redis; `MemoryKeyValueStore` is the single node's, a
dictionary on the event loop's thread (its coroutines never wait, so an await costs no hand-off).

Keys are strings; callers keep to their own prefix (`throttle:`, and `lock:` belongs to `lock()`).
Values are strings, or integers kept by `incr`, or the time lists of `hit`; reading a key as the wrong
kind raises KeyTypeError (as Redis answers WRONGTYPE). A TTL is in seconds, > 0; None means the key
never expires. A key set with TTL t at time t0 exists while now < t0 + t (as in Redis).

The memory store is bounded: past `max_keys`, the key that would expire soonest goes first (expired ones
before all), and keys without an expiry only when no other key is left, oldest first. Expired keys are
dropped when touched or when room is needed; nothing runs on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

DEFAULT_MAX_KEYS = 200_000
LOCK_PREFIX = "lock:"
INT64 = (-(2**63), 2**63 - 1)  # a counter's range (Redis's)
_COUNTER = re.compile(r"0|-?[1-9][0-9]*")


class KeyTypeError(TypeError):
    """The key holds another kind of value (a counter read as a time list, ...)."""


class LockBusy(Exception):
    """Another holder has the lock, and it was not released or expired within the wait."""


class KeyValueStore(Protocol):
    async def get(self, key: str) -> str | None:
        """The key's value (a counter's as its decimal text), or None if it does not exist."""

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Set the key, replacing any value and expiry."""

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Set the key only if it does not exist; whether it was set."""

    async def compare_and_set(self, key: str, expected: str | None, value: str | None,
                              ttl: float | None = None) -> bool:
        """Set the key to `value` (None: delete it) only if its value is `expected` (None: it does not
        exist); whether it was."""

    async def delete(self, key: str) -> bool:
        """Delete the key; whether it existed."""

    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        """Add `by` to the counter (0 if the key does not exist) and return the new value. `ttl` is the
        expiry of a counter this call creates; an existing one keeps its own: a fixed-window counter. A
        counter is a 64-bit integer, as in Redis: ValueError past it."""

    async def expire(self, key: str, ttl: float | None) -> bool:
        """Give the key a new expiry (None: never); whether it exists."""

    async def ttl(self, key: str) -> float | None:
        """Seconds until the key expires: math.inf if never, None if it does not exist."""

    async def hit(self, key: str, window: float, limit: int) -> int:
        """Record one event now and return how many fell within the last `window` seconds, this one
        included, counting at most `limit` (a sliding-window log of at most `limit` times). The key
        expires `window` seconds after its last hit."""

    def lock(self, name: str, ttl: float, *, wait: float = 0.0) -> AbstractAsyncContextManager[None]:
        """Hold lock `name` for the block, or until `ttl` seconds pass if the block outlives it. Waits up
        to `wait` seconds for another holder to release it or for its lock to expire, then LockBusy."""

    async def close(self) -> None: ...


LOCK_POLL = 0.05


@contextlib.asynccontextmanager
async def polling_lock(store: KeyValueStore, name: str, ttl: float, wait: float) -> AsyncIterator[None]:
    """`KeyValueStore.lock` for a store shared with other processes, which cannot wake this one when they
    release it: built on `set_if_absent` and `compare_and_set`, polling while another holder has it (locks
    guard rare work; a poll every 50 ms costs nothing that matters there)."""
    key = LOCK_PREFIX + name
    token = secrets.token_hex(16)
    deadline = time.monotonic() + wait
    while not await store.set_if_absent(key, token, ttl):
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockBusy(f"the lock {name!r} is held")
        await asyncio.sleep(min(left, LOCK_POLL))
    try:
        yield
    finally:
        await store.compare_and_set(key, token, None)  # not if it expired and someone else holds it


def _expiry(now: float, ttl: float | None) -> float | None:
    if ttl is None:
        return None
    if not ttl > 0:  # also NaN
        raise ValueError(f"a TTL is a number of seconds > 0, not {ttl!r}")
    return now + ttl


class _Entry:
    __slots__ = ("expires", "value")

    def __init__(self, value: str | int | deque[float], expires: float | None) -> None:
        self.value = value
        self.expires = expires


class MemoryKeyValueStore:
    """KeyValueStore in this process: for one event loop (not thread-safe), bounded by `max_keys`."""

    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        self._data: dict[str, _Entry] = {}
        # (expiry, key) of every key given an expiry; an entry is stale once its key's expiry differs.
        self._expiries: list[tuple[float, str]] = []
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def __len__(self) -> int:
        """Keys held, including expired ones not dropped yet."""
        return len(self._data)

    # -- the dictionary and its bounds --

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires is not None and now >= entry.expires:
            self._remove(key)
            return None
        return entry

    def _remove(self, key: str) -> None:
        del self._data[key]
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _expires_at(self, key: str, entry: _Entry, expires: float | None) -> None:
        entry.expires = expires
        if expires is not None:
            heapq.heappush(self._expiries, (expires, key))
            if len(self._expiries) > 2 * len(self._data) + 64:
                self._expiries = [(e.expires, k) for k, e in self._data.items() if e.expires is not None]
                heapq.heapify(self._expiries)

    def _pop_soonest(self, until: float | None) -> bool:
        """Drop the key that expires soonest (only if by `until`, when given); whether one was."""
        heap = self._expiries
        while heap:
            expires, key = heap[0]
            if until is not None and expires > until:
                return False
            heapq.heappop(heap)
            entry = self._data.get(key)
            if entry is not None and entry.expires == expires:
                self._remove(key)
                return True
        return False

    def _put(self, key: str, value: str | int | deque[float], ttl: float | None, now: float) -> _Entry:
        expires = _expiry(now, ttl)
        entry = self._data.get(key)
        if entry is None:
            while self._pop_soonest(now):  # the expired first, whatever the bound
                pass
            while len(self._data) >= self.max_keys:
                if not self._pop_soonest(None):
                    self._remove(next(iter(self._data)))
            entry = self._data[key] = _Entry(value, None)
        else:
            entry.value = value
        self._expires_at(key, entry, expires)
        return entry

    @staticmethod
    def _text(key: str, entry: _Entry | None) -> str | None:
        if entry is None:
            return None
        value = entry.value
        if isinstance(value, deque):
            raise KeyTypeError(f"{key!r} holds a list of hits, not a value")
        return value if isinstance(value, str) else str(value)

    # -- KeyValueStore --

    async def get(self, key: str) -> str | None:
        return self._text(key, self._live(key, self._clock()))

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        now = self._clock()
        self._live(key, now)
        self._put(key, value, ttl, now)

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = self._clock()
        if self._live(key, now) is not None:
            return False
        self._put(key, value, ttl, now)
        return True

    async def compare_and_set(self, key: str, expected: str | None, value: str | None,
                              ttl: float | None = None) -> bool:
        now = self._clock()
        if value is not None:
            _expiry(now, ttl)  # a bad TTL is refused whether or not the key holds `expected`
        entry = self._live(key, now)
        if self._text(key, entry) != expected:
            return False
        if value is None:
            if entry is not None:
                self._remove(key)
        else:
            self._put(key, value, ttl, now)
        return True

    async def delete(self, key: str) -> bool:
        if self._live(key, self._clock()) is None:
            return False
        self._remove(key)
        return True

    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        if not INT64[0] <= by <= INT64[1]:
            raise ValueError("a counter is a 64-bit integer: this would overflow it")
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            self._put(key, by, ttl, now)
            return by
        value = entry.value
        if isinstance(value, str):
            # What Redis reads as a counter: decimal digits, no sign but "-", no leading zero, in 64 bits.
            if len(value) > 20 or _COUNTER.fullmatch(value) is None or not INT64[0] <= int(value) <= INT64[1]:
                raise KeyTypeError(f"{key!r} holds text, not a counter")
            value = int(value)
        elif isinstance(value, deque):
            raise KeyTypeError(f"{key!r} holds a list of hits, not a counter")
        total = value + by
        if not INT64[0] <= total <= INT64[1]:
            raise ValueError("a counter is a 64-bit integer: this would overflow it")
        entry.value = total
        return total

    async def expire(self, key: str, ttl: float | None) -> bool:
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            return False
        self._expires_at(key, entry, _expiry(now, ttl))
        return True

    async def ttl(self, key: str) -> float | None:
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            return None
        return math.inf if entry.expires is None else entry.expires - now

    async def hit(self, key: str, window: float, limit: int) -> int:
        if limit < 1:
            raise ValueError("a hit limit is at least 1")
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            times: deque[float] = deque(maxlen=limit)
            self._put(key, times, window, now)
        else:
            value = entry.value
            if not isinstance(value, deque):
                raise KeyTypeError(f"{key!r} holds a value, not a list of hits")
            times = value if value.maxlen == limit else deque(value, maxlen=limit)
            entry.value = times
            self._expires_at(key, entry, _expiry(now, window))
        times.append(now)
        while now - times[0] > window:
            times.popleft()
        return len(times)

    @contextlib.asynccontextmanager
    async def lock(self, name: str, ttl: float, *, wait: float = 0.0) -> AsyncIterator[None]:
        key = LOCK_PREFIX + name
        token = secrets.token_hex(16)
        deadline = self._clock() + wait
        while not await self.set_if_absent(key, token, ttl):
            left = deadline - self._clock()
            if left <= 0:
                raise LockBusy(f"the lock {name!r} is held")
            held = await self.ttl(key)
            released = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(key, []).append(released)
            try:
                # Woken when the holder releases it; an expiry is noticed by waiting no longer than it.
                await asyncio.wait({released}, timeout=min(left, held if held is not None else left))
            finally:
                released.cancel()
                waiting = self._waiters.get(key)
                if waiting is not None and released in waiting:
                    waiting.remove(released)
                    if not waiting:
                        del self._waiters[key]
        try:
            yield
        finally:
            await self.compare_and_set(key, token, None)  # not if it expired and someone else holds it

    async def close(self) -> None:
        for key in list(self._waiters):
            for waiter in self._waiters.pop(key):
                if not waiter.done():
                    waiter.set_result(None)
        self._data.clear()
        self._expiries.clear()
