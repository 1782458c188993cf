"""The key-value role of the store on Redis: what `[cluster] bus = "redis"` shares between workers and nodes.

`RedisKeyValueStore` keeps store/memory.py's KeyValueStore contract on a Redis server, so that login
throttling, locks and rate limits count across every process that names the same server and prefix.
Each operation is one round trip: the ones that read and then write (compare_and_set, incr with an
expiry, expire, hit) are Lua scripts, which Redis runs atomically. Values are strings and counters are
Redis's own integers; a `hit` window is a sorted set of times, taken from the Redis server's clock so
that the nodes' clocks need not agree. A key of another kind answers WRONGTYPE, raised as KeyTypeError.

redis-py (asyncio) is the client DESIGN.md names. It is imported only when this module is (its import
costs 0.1 s of a node's start-up that the embedded default does not pay).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from polyport.store.memory import INT64, KeyTypeError, polling_lock

DEFAULT_PREFIX = "polyport:"
T = TypeVar("T")

# KEYS[1] the key; ARGV[1] the expected value ("" with ARGV[2] = "0": the key must not exist), ARGV[3]
# the new value ("" with ARGV[4] = "0": delete), ARGV[5] its TTL in ms ("0": none).
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[4] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[5])
end
return 1
"""

# ARGV[1] the increment, ARGV[2] the TTL in ms of a counter this call creates ("0": none). A new counter is
# set with its expiry in one command: a script that failed half-way would not be rolled back. The value is
# returned as text: Lua's numbers are doubles, exact only to 2**53.
_INCR = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
  return ARGV[1]
end
redis.call('INCRBY', KEYS[1], ARGV[1])
return redis.call('GET', KEYS[1])
"""

# ARGV[1] the TTL in ms ("0": never expires).
_EXPIRE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""

# ARGV[1] the window in µs, ARGV[2] the limit, ARGV[3] a token that makes this hit's member unique. The
# times are the server's (TIME), in µs; a hit older than the window goes, then all but the newest `limit`.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now, string.format('%.0f:', now) .. ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now - window))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(window / 1000)))
return redis.call('ZCARD', KEYS[1])
"""


def connect(url: str) -> aioredis.Redis:
    """A client (a pool of connections) of the server at `url`; it connects on first use."""
    return aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


LONGEST = 100 * 365 * 86400  # seconds: a longer TTL or window is kept as this (Redis refuses past 2**63 ms)


def _ms(ttl: float | None) -> int:
    """A TTL in whole milliseconds (0: none); at least 1 ms, as Redis keeps no shorter one."""
    if ttl is None:
        return 0
    if not ttl > 0:  # also NaN
        raise ValueError(f"a TTL is a number of seconds > 0, not {ttl!r}")
    return 0 if ttl == math.inf else max(1, math.ceil(min(ttl, LONGEST) * 1000))


async def _typed(call: Awaitable[T]) -> T:
    """Redis's answer, WRONGTYPE and a counter that is not one raised as KeyTypeError."""
    try:
        return await call
    except ResponseError as err:
        text = str(err)
        if text.startswith("WRONGTYPE") or "value is not an integer" in text:
            raise KeyTypeError(text) from None
        if "would overflow" in text:
            raise ValueError("a counter is a 64-bit integer: this would overflow it") from None
        raise


class RedisKeyValueStore:
    """KeyValueStore on a Redis server, its keys under `prefix`."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX, owns_client: bool = True) -> None:
        self.client = client
        self.prefix = prefix
        self._owns_client = owns_client
        self._compare_and_set = self._script(_COMPARE_AND_SET)
        self._incr = self._script(_INCR)
        self._expire = self._script(_EXPIRE)
        self._hit = self._script(_HIT)

    def _script(self, source: str) -> Callable[..., Awaitable[Any]]:
        script = self.client.register_script(source)
        return cast(Callable[..., Awaitable[Any]], script)

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> str | None:
        value = await _typed(self.client.get(self._key(key)))
        return cast(str | None, value)  # decode_responses

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        ms = _ms(ttl)
        await self.client.set(self._key(key), value, px=ms or None)

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        ms = _ms(ttl)
        return bool(await self.client.set(self._key(key), value, px=ms or None, nx=True))

    async def compare_and_set(self, key: str, expected: str | None, value: str | None,
                              ttl: float | None = None) -> bool:
        ms = _ms(ttl) if value is not None else 0
        args = [expected or "", "0" if expected is None else "1", value or "", "0" if value is None else "1", ms]
        return bool(await _typed(self._compare_and_set(keys=[self._key(key)], args=args)))

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(self._key(key)))

    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        if not INT64[0] <= by <= INT64[1]:
            raise ValueError("a counter is a 64-bit integer: this would overflow it")
        ms = _ms(ttl)
        return int(await _typed(self._incr(keys=[self._key(key)], args=[by, ms])))

    async def expire(self, key: str, ttl: float | None) -> bool:
        ms = _ms(ttl)
        return bool(await self._expire(keys=[self._key(key)], args=[ms]))

    async def ttl(self, key: str) -> float | None:
        ms = int(await self.client.pttl(self._key(key)))
        if ms == -2:
            return None
        return math.inf if ms == -1 else ms / 1000

    async def hit(self, key: str, window: float, limit: int) -> int:
        if limit < 1:
            raise ValueError("a hit limit is at least 1")
        if not window > 0:
            raise ValueError(f"a window is a number of seconds > 0, not {window!r}")
        micros = max(1, math.ceil(min(window, LONGEST) * 1_000_000))
        args = [micros, limit, secrets.token_hex(6)]
        return int(await _typed(self._hit(keys=[self._key(key)], args=args)))

    def lock(self, name: str, ttl: float, *, wait: float = 0.0) -> AbstractAsyncContextManager[None]:
        return polling_lock(self, name, ttl, wait)

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()
