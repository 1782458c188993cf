"""The in-memory key-value store: expiry on a fake clock, counters, sliding windows, locks, its bound."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.store import KeyValueStore, MemoryKeyValueStore
from polyport.store.memory import KeyTypeError, LockBusy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kv(clock: Clock) -> MemoryKeyValueStore:
    return MemoryKeyValueStore(max_keys=100, clock=clock)


def test_it_is_a_key_value_store() -> None:
    store: KeyValueStore = MemoryKeyValueStore()
    assert store is not None


async def test_values_expire_after_their_ttl(kv: MemoryKeyValueStore, clock: Clock) -> None:
    await kv.set("a", "1", ttl=10)
    await kv.set("b", "2")
    assert await kv.get("a") == "1" and await kv.ttl("a") == 10
    assert await kv.ttl("b") == math.inf and await kv.ttl("missing") is None
    clock.now += 9.5
    assert await kv.get("a") == "1" and await kv.ttl("a") == pytest.approx(0.5)
    clock.now += 0.5  # a key exists while now < set time + ttl
    assert await kv.get("a") is None and await kv.ttl("a") is None
    assert await kv.get("b") == "2"


async def test_set_replaces_value_and_expiry_and_delete_removes(kv: MemoryKeyValueStore, clock: Clock) -> None:
    await kv.set("k", "old", ttl=5)
    await kv.set("k", "new")
    clock.now += 100
    assert await kv.get("k") == "new"
    assert await kv.delete("k") and not await kv.delete("k")
    assert await kv.get("k") is None


async def test_expire_sets_and_removes_an_expiry(kv: MemoryKeyValueStore, clock: Clock) -> None:
    assert not await kv.expire("missing", 5)
    await kv.set("k", "v")
    assert await kv.expire("k", 5)
    assert await kv.ttl("k") == 5
    assert await kv.expire("k", None)
    clock.now += 10
    assert await kv.get("k") == "v"
    assert await kv.expire("k", 1)
    clock.now += 1
    assert await kv.get("k") is None and not await kv.expire("k", 1)


@pytest.mark.parametrize("ttl", [0, -1, math.nan])
async def test_a_ttl_is_positive(kv: MemoryKeyValueStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="TTL"):
        await kv.set("k", "v", ttl=ttl)
    assert await kv.get("k") is None


async def test_set_if_absent_until_the_key_expires(kv: MemoryKeyValueStore, clock: Clock) -> None:
    assert await kv.set_if_absent("k", "first", ttl=10)
    assert not await kv.set_if_absent("k", "second", ttl=10)
    assert await kv.get("k") == "first"
    clock.now += 10
    assert await kv.set_if_absent("k", "second")
    assert await kv.get("k") == "second"


async def test_compare_and_set(kv: MemoryKeyValueStore) -> None:
    assert await kv.compare_and_set("k", None, "a")  # None: only if absent
    assert not await kv.compare_and_set("k", None, "b")
    assert not await kv.compare_and_set("k", "x", "b")
    assert await kv.compare_and_set("k", "a", "b", ttl=5)
    assert await kv.get("k") == "b" and await kv.ttl("k") == 5
    assert await kv.compare_and_set("k", "b", None)  # None: delete
    assert await kv.get("k") is None
    assert await kv.compare_and_set("missing", None, None)
    await kv.incr("n", 4)
    assert await kv.compare_and_set("n", "4", "5") and await kv.get("n") == "5"


async def test_counters_keep_the_expiry_of_their_window(kv: MemoryKeyValueStore, clock: Clock) -> None:
    assert await kv.incr("n", ttl=60) == 1
    clock.now += 50
    assert await kv.incr("n", 2, ttl=60) == 3  # a fixed window: the first incr set its end
    assert await kv.get("n") == "3"
    clock.now += 10
    assert await kv.get("n") is None
    assert await kv.incr("n", -1) == -1 and await kv.ttl("n") == math.inf


async def test_counting_on_text_needs_an_integer(kv: MemoryKeyValueStore) -> None:
    await kv.set("t", "41")
    assert await kv.incr("t") == 42
    await kv.set("u", "many")
    with pytest.raises(KeyTypeError):
        await kv.incr("u")


async def test_hits_in_a_sliding_window(kv: MemoryKeyValueStore, clock: Clock) -> None:
    counts = []
    for _ in range(6):
        counts.append(await kv.hit("h", window=60, limit=100))
        clock.now += 25
    assert counts == [1, 2, 3, 3, 3, 3]  # never more than three within 60 s
    assert await kv.ttl("h") == pytest.approx(35)  # a window after the last hit
    clock.now += 35
    assert await kv.hit("h", window=60, limit=100) == 1


async def test_hits_count_at_most_the_limit(kv: MemoryKeyValueStore) -> None:
    counts = [await kv.hit("h", window=60, limit=3) for _ in range(10)]
    assert counts == [1, 2, 3, 3, 3, 3, 3, 3, 3, 3]


async def test_kinds_of_values_do_not_mix(kv: MemoryKeyValueStore) -> None:
    await kv.hit("h", window=60, limit=3)
    await kv.set("s", "text")
    for attempt in (kv.get("h"), kv.incr("h"), kv.compare_and_set("h", None, "x"), kv.hit("s", 60, 3)):
        with pytest.raises(KeyTypeError):
            await attempt
    await kv.set("h", "now text")  # set replaces whatever was there
    assert await kv.get("h") == "now text"


async def test_a_lock_is_exclusive_until_released(kv: MemoryKeyValueStore) -> None:
    async with kv.lock("uid:1", ttl=30):
        with pytest.raises(LockBusy, match="uid:1"):
            async with kv.lock("uid:1", ttl=30):
                pass
        async with kv.lock("uid:2", ttl=30):  # another name is another lock
            pass
    async with kv.lock("uid:1", ttl=30):
        pass
    assert len(kv) == 0


async def test_a_lock_is_exclusive_until_it_expires(kv: MemoryKeyValueStore, clock: Clock) -> None:
    async with kv.lock("job", ttl=10):
        clock.now += 9
        with pytest.raises(LockBusy):
            async with kv.lock("job", ttl=10):
                pass
        clock.now += 1  # the holder outlived its lock: the next may take it
        async with kv.lock("job", ttl=10):
            assert await kv.get("lock:job") is not None
            # ...and the first holder's release leaves the new holder's lock alone
        async with kv.lock("job", ttl=10):
            pass


async def test_a_waiter_gets_the_lock_when_it_is_released(kv: MemoryKeyValueStore) -> None:
    order: list[str] = []
    held = asyncio.Event()

    async def first() -> None:
        async with kv.lock("mailbox:9", ttl=30):
            held.set()
            await asyncio.sleep(0.05)
            order.append("first done")

    async def second() -> None:
        await held.wait()
        async with kv.lock("mailbox:9", ttl=30, wait=5):
            order.append("second in")

    await asyncio.wait_for(asyncio.gather(first(), second()), 5)
    assert order == ["first done", "second in"]


async def test_a_waiter_gives_up_after_its_wait() -> None:
    kv = MemoryKeyValueStore()  # the real clock: the wait is real
    async with kv.lock("slow", ttl=30):
        with pytest.raises(LockBusy):
            async with kv.lock("slow", ttl=30, wait=0.05):
                pass
    assert not kv._waiters


async def test_the_store_is_bounded_soonest_expiring_first(clock: Clock) -> None:
    kv = MemoryKeyValueStore(max_keys=3, clock=clock)
    await kv.set("forever", "x")
    await kv.set("late", "x", ttl=100)
    await kv.set("soon", "x", ttl=10)
    await kv.set("new", "x", ttl=50)
    assert len(kv) == 3 and await kv.get("soon") is None
    await kv.set("newer", "x", ttl=500)
    assert await kv.get("new") is None and await kv.get("forever") == "x"
    await kv.set("newest", "x")  # keys with an expiry go before those without
    await kv.set("last", "x")
    assert [await kv.get(k) for k in ("late", "newer", "forever", "newest", "last")] == [
        None, None, "x", "x", "x"]
    await kv.set("after", "x")  # nothing expires: the oldest goes
    assert await kv.get("forever") is None and len(kv) == 3


async def test_expired_keys_are_dropped_before_any_live_one(clock: Clock) -> None:
    kv = MemoryKeyValueStore(max_keys=1000, clock=clock)
    for i in range(500):
        await kv.set(f"k{i}", "x", ttl=10)
    clock.now += 10
    await kv.set("fresh", "x", ttl=10)
    assert len(kv) == 1


async def test_the_expiry_heap_stays_proportional(clock: Clock) -> None:
    kv = MemoryKeyValueStore(max_keys=10, clock=clock)
    for i in range(10_000):
        await kv.set(f"k{i % 5}", "x", ttl=1000 + i)
    assert len(kv._expiries) <= 2 * len(kv) + 64


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.one_of(st.none(), st.integers(1, 20)),
                          st.integers(0, 15)), max_size=40))
def test_expiry_matches_a_model(steps: list[tuple[str, int | None, int]]) -> None:
    """Set keys with TTLs while time passes; what is read is what a plain model says."""
    clock = Clock()
    kv = MemoryKeyValueStore(clock=clock)
    model: dict[str, tuple[str, float]] = {}

    async def run() -> None:
        for n, (key, ttl, wait) in enumerate(steps):
            await kv.set(key, str(n), ttl=ttl)
            model[key] = (str(n), math.inf if ttl is None else clock.now + ttl)
            clock.now += wait
            for k in "abc":
                value, until = model.get(k, (None, 0.0))
                assert await kv.get(k) == (value if clock.now < until else None)

    asyncio.run(run())
