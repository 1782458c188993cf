"""The key-value store on Redis keeps the memory store's contract: the same answers to the same operations
(a property test runs random sequences on both), expiry on the Redis server's clock, locks across
clients, and its keys under its prefix."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyport.store import KeyValueStore, MemoryKeyValueStore
from polyport.store.memory import KeyTypeError, LockBusy
from polyport.store.rediskv import RedisKeyValueStore, connect
from tests.conftest import REDIS_URL


@pytest.fixture
async def kv(redis_prefix: str) -> AsyncIterator[RedisKeyValueStore]:
    store = RedisKeyValueStore(connect(REDIS_URL), prefix=redis_prefix)
    yield store
    await store.close()


def test_it_is_a_key_value_store() -> None:
    store: KeyValueStore = RedisKeyValueStore(connect(REDIS_URL))
    assert store is not None


async def test_values_and_their_expiry(kv: RedisKeyValueStore) -> None:
    await kv.set("a", "1", ttl=0.2)
    await kv.set("b", "2")
    assert await kv.get("a") == "1" and 0 < (await kv.ttl("a") or 0) <= 0.2
    assert await kv.ttl("b") == math.inf and await kv.ttl("missing") is None
    await asyncio.sleep(0.25)
    assert await kv.get("a") is None and await kv.ttl("a") is None
    assert await kv.get("b") == "2"
    assert await kv.delete("b") and not await kv.delete("b")


async def test_its_keys_are_under_its_prefix(kv: RedisKeyValueStore, redis_prefix: str) -> None:
    await kv.set("k", "v")
    await kv.incr("n")
    await kv.hit("h", 60, 5)
    assert sorted(await kv.client.keys(redis_prefix + "*")) == [redis_prefix + "h", redis_prefix + "k",
                                                                 redis_prefix + "n"]
    other = RedisKeyValueStore(kv.client, prefix=redis_prefix + "other:", owns_client=False)
    assert await other.get("k") is None  # another prefix, another store


async def test_expire_sets_and_removes_an_expiry(kv: RedisKeyValueStore) -> None:
    assert not await kv.expire("missing", 5)
    await kv.set("k", "v")
    assert await kv.expire("k", 5) and 4 < (await kv.ttl("k") or 0) <= 5
    assert await kv.expire("k", None) and await kv.ttl("k") == math.inf
    assert await kv.expire("k", 0.1)
    await asyncio.sleep(0.15)
    assert await kv.get("k") is None and not await kv.expire("k", 1)


@pytest.mark.parametrize("ttl", [0, -1, math.nan])
async def test_a_ttl_is_positive(kv: RedisKeyValueStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="TTL"):
        await kv.set("k", "v", ttl=ttl)
    assert await kv.get("k") is None


async def test_counters_keep_the_expiry_of_their_window(kv: RedisKeyValueStore) -> None:
    assert await kv.incr("n", ttl=0.3) == 1
    await asyncio.sleep(0.15)
    assert await kv.incr("n", 2, ttl=60) == 3  # a fixed window: the first incr set its end
    assert (await kv.ttl("n") or 0) < 0.2
    await asyncio.sleep(0.2)
    assert await kv.get("n") is None
    assert await kv.incr("n", -1) == -1 and await kv.ttl("n") == math.inf


async def test_hits_slide_on_the_servers_clock(kv: RedisKeyValueStore) -> None:
    assert [await kv.hit("h", window=0.3, limit=100) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(0.35)
    assert await kv.hit("h", window=0.3, limit=100) == 1  # the first three left the window
    assert 0 < (await kv.ttl("h") or 0) <= 0.3  # a window after the last hit
    assert [await kv.hit("g", window=60, limit=3) for _ in range(5)] == [1, 2, 3, 3, 3]
    assert await kv.client.zcard(kv.prefix + "g") == 3  # at most `limit` times are kept


async def test_a_counter_is_64_bits_and_made_whole(kv: RedisKeyValueStore) -> None:
    assert await kv.incr("n", 2**63 - 1, ttl=60) == 2**63 - 1 and 59 < (await kv.ttl("n") or 0) <= 60
    with pytest.raises(ValueError, match="64-bit"):
        await kv.incr("n")
    with pytest.raises(ValueError, match="64-bit"):
        await kv.incr("m", 2**63)
    assert await kv.get("n") == str(2**63 - 1) and await kv.get("m") is None  # nothing half done
    await kv.set("far", "v", ttl=1e17)  # past what Redis keeps: a hundred years
    assert await kv.hit("h", window=math.inf, limit=2) == 1


async def test_a_lock_is_exclusive_across_clients(kv: RedisKeyValueStore, redis_prefix: str) -> None:
    other = RedisKeyValueStore(connect(REDIS_URL), prefix=redis_prefix)  # another process, in effect
    try:
        async with kv.lock("job", ttl=30):
            with pytest.raises(LockBusy, match="job"):
                async with other.lock("job", ttl=30):
                    pass
        async with other.lock("job", ttl=30):
            pass
        order: list[str] = []

        async def first() -> None:
            async with kv.lock("mailbox:9", ttl=30):
                await asyncio.sleep(0.1)
                order.append("first done")

        async def second() -> None:
            await asyncio.sleep(0.02)
            async with other.lock("mailbox:9", ttl=30, wait=5):
                order.append("second in")

        await asyncio.wait_for(asyncio.gather(first(), second()), 5)
        assert order == ["first done", "second in"]
        async with kv.lock("short", ttl=0.1):
            await asyncio.sleep(0.15)  # the holder outlived its lock: the next may take it
            async with other.lock("short", ttl=30):
                pass  # and the first holder's release (after) leaves nothing behind that is not its own
        assert await kv.get("lock:short") is None and await kv.get("lock:job") is None
    finally:
        await other.close()


# -- the same answers as the memory store --

KEYS = st.sampled_from(["a", "b", "c"])
# Text that is a counter for Redis, and text that is not ("007", "+5", " 5", "-0": KeyTypeError on both).
TEXT = st.sampled_from(["x", "y", "7", "-3", "", "007", "+5", " 5", "-0", "9223372036854775807",
                        "9223372036854775808"])
TTL = st.none() | st.just(600.0)
OPERATIONS = st.one_of(
    st.tuples(st.just("get"), KEYS),
    st.tuples(st.just("set"), KEYS, TEXT, TTL),
    st.tuples(st.just("set_if_absent"), KEYS, TEXT, TTL),
    st.tuples(st.just("compare_and_set"), KEYS, st.none() | TEXT, st.none() | TEXT, TTL),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(st.just("incr"), KEYS, st.integers(-5, 5) | st.sampled_from([2**63 - 1, -(2**63), 2**63]), TTL),
    st.tuples(st.just("expire"), KEYS, TTL),
    st.tuples(st.just("ttl"), KEYS),
    st.tuples(st.just("hit"), KEYS, st.just(600.0), st.integers(1, 3)),
)


async def _answer(store: Any, operation: tuple[Any, ...]) -> Any:
    try:
        result = await getattr(store, operation[0])(*operation[1:])
    except KeyTypeError:
        return "KeyTypeError"
    except ValueError:  # a counter past 64 bits
        return "ValueError"
    if operation[0] == "ttl" and result is not None and result != math.inf:
        return "expires"  # the two clocks differ by the time between the calls
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATIONS, max_size=25))
def test_the_same_answers_as_the_memory_store(redis_prefix: str, operations: list[tuple[Any, ...]]) -> None:
    async def run() -> tuple[list[Any], list[Any]]:
        memory = MemoryKeyValueStore()
        redis = RedisKeyValueStore(connect(REDIS_URL), prefix=redis_prefix)
        try:
            await redis.client.delete(*(redis_prefix + key for key in "abc"))
            return ([await _answer(memory, op) for op in operations],
                    [await _answer(redis, op) for op in operations])
        finally:
            await redis.close()

    in_memory, on_redis = asyncio.run(run())
    assert on_redis == in_memory
