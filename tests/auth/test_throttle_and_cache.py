"""Login throttling and the verified-credential cache, on a fake clock."""

from __future__ import annotations

from polyport.auth.credcache import CredentialCache
from polyport.auth.throttle import MAX_GOOD_ADDRESSES, Throttle
from polyport.store import MemoryKeyValueStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_address_is_locked_out_after_its_limit() -> None:
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=3, max_per_account=100, lockout=30, clock=clock)
    assert await throttle.failed("10.0.0.1", "a") is None
    assert await throttle.failed("10.0.0.1", "b") is None
    lockout = await throttle.failed("10.0.0.1", "c")
    assert lockout is not None and lockout.scope == "address"
    refused = await throttle.check("10.0.0.1", "anyone")
    assert refused is not None and refused.scope == "address"
    assert await throttle.check("10.0.0.2", "anyone") is None
    clock.now += 31
    assert await throttle.check("10.0.0.1", "anyone") is None


async def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=3, max_per_account=100, lockout=30, clock=clock)
    for _ in range(10):
        assert await throttle.failed("10.0.0.1", "a") is None or False
        clock.now += 31  # at most two in any 60 s
    assert await throttle.check("10.0.0.1", "a") is None


async def test_an_account_is_locked_out_across_addresses_but_not_for_its_known_addresses() -> None:
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=100, max_per_account=3, lockout=30, clock=clock)
    await throttle.succeeded("192.0.2.7", "victim")  # the owner's usual address
    for i in range(3):
        await throttle.failed(f"10.0.0.{i}", "victim")
    refused = await throttle.check("10.9.9.9", "victim")
    assert refused is not None and refused.scope == "account"
    assert await throttle.check("192.0.2.7", "victim") is None  # the owner is not locked out
    assert await throttle.check("10.9.9.9", "someone-else") is None


async def test_a_success_does_not_reset_the_address_budget() -> None:
    """A guesser that logs in to an account of its own now and then still runs out of tries."""
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=3, max_per_account=100, lockout=30, clock=clock)
    await throttle.failed("10.0.0.1", "victim")
    await throttle.failed("10.0.0.1", "victim")
    await throttle.succeeded("10.0.0.1", "attacker")
    await throttle.failed("10.0.0.1", "victim")
    refused = await throttle.check("10.0.0.1", "victim")
    assert refused is not None and refused.scope == "address"


def test_cache_remembers_successes_until_expiry() -> None:
    clock = Clock()
    cache = CredentialCache(ttl=60, max_entries=10, clock=clock)
    assert not cache.check(1, "$hash1", "pw")
    cache.remember(1, "$hash1", "pw")
    assert cache.check(1, "$hash1", "pw")
    assert not cache.check(1, "$hash1", "other")
    clock.now += 61
    assert not cache.check(1, "$hash1", "pw")


def test_cache_is_invalidated_by_a_changed_hash_or_forget() -> None:
    cache = CredentialCache(ttl=60, max_entries=10)
    cache.remember(1, "$hash1", "pw")
    assert not cache.check(1, "$hash2", "pw")  # the password was changed elsewhere
    cache.remember(2, "$h", "pw")
    cache.forget(2)
    assert not cache.check(2, "$h", "pw")


def test_cache_is_bounded_and_keeps_no_password() -> None:
    cache = CredentialCache(ttl=60, max_entries=3)
    for account in range(10):
        cache.remember(account, "$h", "secret-password")
    assert len(cache) == 3
    assert cache.check(9, "$h", "secret-password") and not cache.check(0, "$h", "secret-password")
    assert b"secret-password" not in repr(cache.__dict__).encode()


def test_a_disabled_cache_remembers_nothing() -> None:
    cache = CredentialCache(ttl=0, max_entries=10)
    cache.remember(1, "$h", "pw")
    assert not cache.check(1, "$h", "pw")


async def test_the_exemption_of_a_good_address_ends() -> None:
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=100, max_per_account=3, lockout=30, clock=clock)
    await throttle.succeeded("192.0.2.7", "victim")
    clock.now += 89  # remembered for lockout + window
    for i in range(3):
        await throttle.failed(f"10.0.0.{i}", "victim")
    assert await throttle.check("192.0.2.7", "victim") is None
    clock.now += 1
    refused = await throttle.check("192.0.2.7", "victim")
    assert refused is not None and refused.scope == "account"


async def test_an_account_remembers_its_latest_good_addresses() -> None:
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=100, max_per_account=1, lockout=30, clock=clock)
    for i in range(MAX_GOOD_ADDRESSES + 1):
        await throttle.succeeded(f"192.0.2.{i}", "busy")
    await throttle.succeeded("192.0.2.0", "busy")  # seen again: the latest, not the oldest
    await throttle.failed("10.0.0.1", "busy")
    assert await throttle.check("192.0.2.0", "busy") is None
    assert await throttle.check(f"192.0.2.{MAX_GOOD_ADDRESSES}", "busy") is None
    refused = await throttle.check("192.0.2.1", "busy")  # the oldest, forgotten
    assert refused is not None and refused.scope == "account"


async def test_clear_forgets_failures_and_lockouts_at_once() -> None:
    """Kept in the store: every worker and node sharing it moves on together."""
    clock = Clock()
    throttle = Throttle(window=60, max_per_address=2, max_per_account=100, lockout=30, clock=clock)
    await throttle.failed("10.0.0.1", "a")
    await throttle.failed("10.0.0.1", "a")
    assert await throttle.check("10.0.0.1", "a") is not None
    await throttle.clear()
    assert await throttle.check("10.0.0.1", "a") is None
    assert await throttle.failed("10.0.0.1", "a") is None  # the budget starts again


async def test_throttles_sharing_a_store_share_their_counts() -> None:
    """What the nodes of a cluster will do through Redis."""
    clock = Clock()
    store = MemoryKeyValueStore(clock=clock)
    one, two = (Throttle(store, window=60, max_per_address=2, max_per_account=100, lockout=30, clock=clock)
                for _ in range(2))
    assert await one.failed("10.0.0.1", "a") is None
    lockout = await two.failed("10.0.0.1", "a")
    assert lockout is not None and lockout.scope == "address"
    refused = await one.check("10.0.0.1", "a")
    assert refused is not None and refused.retry_after == 30
