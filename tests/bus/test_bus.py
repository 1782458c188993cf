"""The in-process bus: exact and prefix topics, overflow, unsubscribe."""

from __future__ import annotations

from polyport.bus import LocalBus


async def test_exact_and_prefix_subscriptions() -> None:
    bus = LocalBus()
    exact = bus.subscribe("mailbox.7")
    prefix = bus.subscribe("mailbox.*")
    other = bus.subscribe("directory")
    await bus.publish("mailbox.7", {"exists": 3})
    await bus.publish("mailbox.8", {"exists": 1})
    assert exact.get_nowait() == {"exists": 3} and exact.get_nowait() is None
    assert prefix.get_nowait() == {"exists": 3} and prefix.get_nowait() == {"exists": 1}
    assert other.get_nowait() is None


async def test_a_slow_subscriber_loses_the_oldest_and_knows_it() -> None:
    bus = LocalBus()
    sub = bus.subscribe("t", queue_size=2)
    for i in range(5):
        await bus.publish("t", {"i": i})
    assert sub.overflowed
    assert [sub.get_nowait(), sub.get_nowait(), sub.get_nowait()] == [{"i": 3}, {"i": 4}, None]


async def test_closed_subscriptions_get_nothing() -> None:
    bus = LocalBus()
    sub = bus.subscribe("t")
    star = bus.subscribe("t*")
    sub.close()
    star.close()
    await bus.publish("t", {"x": 1})
    assert sub.get_nowait() is None and star.get_nowait() is None


async def test_iteration_waits_for_events() -> None:
    import asyncio

    bus = LocalBus()
    sub = bus.subscribe("t")

    async def first() -> object:
        async for event in sub:
            return event
        return None

    waiting = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    await bus.publish("t", {"hello": "world"})
    assert await asyncio.wait_for(waiting, 1) == {"hello": "world"}
