"""The bus over Redis: events reach every other bus on the same server and prefix, once, in order; the
publisher's own subscribers hear them at once; a lost subscription marks every local reader as behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from polyport.bus import topics
from polyport.bus.events import MailboxChanged, QueueDue, ServerChanged
from polyport.bus.redisbus import RedisBus
from polyport.store.rediskv import connect
from tests.conftest import REDIS_URL

Buses = Callable[..., Awaitable[RedisBus]]


@pytest.fixture
async def buses(redis_prefix: str) -> AsyncIterator[Buses]:
    """Started buses (each its own client, as each worker or node has), closed after the test."""
    opened: list[RedisBus] = []

    async def open_bus(prefix: str = redis_prefix) -> RedisBus:
        bus = RedisBus(connect(REDIS_URL), prefix=prefix)
        opened.append(bus)
        await bus.start()
        return bus

    yield open_bus
    for bus in opened:
        await bus.close()
        await bus.client.aclose()


async def next_event(subscription: object, timeout: float = 2.0) -> object:
    return await asyncio.wait_for(subscription.get(), timeout)  # type: ignore[attr-defined]


async def test_an_event_reaches_the_other_buses_once_and_its_own_at_once(buses: Buses) -> None:
    a, b, c = await buses(), await buses(), await buses()
    heard = {name: bus.subscribe(topics.mailbox(7)) for name, bus in (("a", a), ("b", b), ("c", c))}
    event = MailboxChanged(7, "append", modseq=3, uid=1)
    await a.publish(event)
    assert heard["a"].get_nowait() == event  # before anything went to Redis
    assert await next_event(heard["b"]) == event and await next_event(heard["c"]) == event
    await asyncio.sleep(0.1)
    for subscription in heard.values():  # a did not hear its own event again
        assert subscription.get_nowait() is None


async def test_a_turns_events_go_in_order_in_one_message(buses: Buses, redis_prefix: str) -> None:
    a, b = await buses(), await buses()
    every_mailbox = b.subscribe(topics.ANY_MAILBOX)
    watcher = a.client.pubsub()
    await watcher.subscribe(redis_prefix + "bus")
    await watcher.get_message(timeout=1)
    events = [MailboxChanged(9, "flags", modseq=n) for n in range(1, 51)]
    for event in events:
        a.publish_nowait(event)
    assert [await next_event(every_mailbox) for _ in events] == events
    message = await watcher.get_message(timeout=1)
    assert message is not None and len(json.loads(message["data"])["e"]) == 50
    assert await watcher.get_message(timeout=0.1) is None
    await watcher.aclose()


async def test_another_prefix_is_another_bus(buses: Buses, redis_prefix: str) -> None:
    a, b = await buses(), await buses(redis_prefix + "other:")
    heard = b.subscribe(topics.QUEUE)
    await a.publish(QueueDue())
    await asyncio.sleep(0.2)
    assert heard.get_nowait() is None


async def test_what_is_not_an_event_batch_is_logged_and_dropped(buses: Buses,
                                                                 redis_prefix: str) -> None:
    a = await buses()
    directory = a.subscribe(topics.DIRECTORY)
    for junk in ("not json", "[1, 2]", '{"o": "x", "e": [{"kind": "nonesuch"}]}', '{"e": 5}'):
        await a.client.publish(redis_prefix + "bus", junk)
    await a.client.publish(redis_prefix + "bus", json.dumps({"o": "x", "e": [ServerChanged("services").to_wire()]}))
    assert await next_event(directory) == ServerChanged("services")  # still reading


async def test_a_lost_subscription_marks_every_reader_as_behind(buses: Buses) -> None:
    a, b = await buses(), await buses()
    reader = b.subscribe(topics.mailbox(3))
    gaps: list[int] = []
    b.on_gap.append(lambda: gaps.append(b.gaps))
    woken = reader.wait()
    # The server drops b's subscribing connection (a restart, a network cut, a client-output-buffer limit).
    connection = b._pubsub.connection
    assert connection is not None
    host, port = connection._writer.get_extra_info("sockname")[:2]
    assert await a.client.client_kill_filter(addr=f"{host}:{port}") == 1
    await asyncio.wait_for(woken, 5)  # redis-py subscribed again; Redis's confirmation told of the gap
    assert reader.overflowed and gaps == [1]
    await a.publish(MailboxChanged(3, "append", modseq=5))  # and it hears what is sent after
    assert await next_event(reader) == MailboxChanged(3, "append", modseq=5)


async def test_closing_sends_what_was_published_once(buses: Buses, redis_prefix: str) -> None:
    a = await buses()
    watcher = a.client.pubsub()
    await watcher.subscribe(redis_prefix + "bus")
    await watcher.get_message(timeout=1)
    for turns in range(8):  # close() at each point of the sender's work: waiting, encoding, writing
        a.publish_nowait(QueueDue())
        for _ in range(turns):
            await asyncio.sleep(0)
        a.publish_nowait(ServerChanged(f"closing-{turns}"))
        if turns == 7:
            await asyncio.wait_for(a.close(), 5)  # it used to hang: a cancel lost in redis-py's wait_for
    heard = []
    while (message := await watcher.get_message(timeout=0.5)) is not None:
        heard += [event.get("dictionary") for event in json.loads(message["data"])["e"]]
    assert heard.count("closing-7") == 1 and heard.count(None) == 8  # each once: none lost, none twice
    await watcher.aclose()


async def test_a_subscriber_whose_filter_raises_does_not_stop_the_bus(buses: Buses) -> None:
    a, b = await buses(), await buses()

    def broken(event: object) -> bool:
        raise KeyError("a bug in one subscriber")

    b.subscribe(topics.QUEUE, accept=broken)
    directory = b.subscribe(topics.DIRECTORY)
    await a.publish(QueueDue())
    await a.publish(ServerChanged("services"))
    assert await next_event(directory) == ServerChanged("services")
