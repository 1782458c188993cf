"""The in-process bus: exact and prefix topics, overflow, unsubscribe; the bus the config names."""

from __future__ import annotations

import asyncio

import pytest

from polyport import config as c
from polyport.bus import LocalBus, make_bus, topics
from polyport.bus.events import AccountChanged, MailboxChanged, MailboxListChanged, ServerChanged


async def test_exact_and_prefix_subscriptions() -> None:
    bus = LocalBus()
    exact = bus.subscribe(topics.mailbox(7))
    every_mailbox = bus.subscribe(topics.ANY_MAILBOX)
    directory = bus.subscribe(topics.DIRECTORY)
    seven, eight = MailboxChanged(7, "append", modseq=3, uid=1), MailboxChanged(8, "flags", modseq=9)
    await bus.publish(seven)
    await bus.publish(eight)
    await bus.publish(MailboxListChanged(7))  # topic account.7: none of these
    assert exact.get_nowait() == seven and exact.get_nowait() is None
    assert every_mailbox.get_nowait() == seven and every_mailbox.get_nowait() == eight
    assert every_mailbox.get_nowait() is None
    assert directory.get_nowait() is None


async def test_each_event_goes_to_its_own_topic() -> None:
    bus = LocalBus()
    account = bus.subscribe(topics.account(5))
    every_account = bus.subscribe(topics.ANY_ACCOUNT)
    directory = bus.subscribe(topics.DIRECTORY)
    everything = bus.subscribe(topics.WILDCARD)
    created = AccountChanged("ann@example.com", "created")
    await bus.publish(created)
    await bus.publish(MailboxListChanged(5))
    assert directory.get_nowait() == created and directory.get_nowait() is None
    assert account.get_nowait() == MailboxListChanged(5) and every_account.get_nowait() == MailboxListChanged(5)
    assert [everything.get_nowait(), everything.get_nowait()] == [created, MailboxListChanged(5)]


async def test_plain_string_topics_still_subscribe() -> None:
    """What imap/session.py and node.py still do until they use `topics`."""
    bus = LocalBus()
    old_style = bus.subscribe("mailbox.42", queue_size=64)
    await bus.publish(MailboxChanged(42, "expunge"))
    assert old_style.get_nowait() == MailboxChanged(42, "expunge")


async def test_a_slow_subscriber_loses_the_oldest_and_knows_it() -> None:
    bus = LocalBus()
    sub = bus.subscribe(topics.mailbox(1), queue_size=2)
    for i in range(5):
        await bus.publish(MailboxChanged(1, "flags", modseq=i))
    assert sub.overflowed
    assert [sub.get_nowait(), sub.get_nowait(), sub.get_nowait()] == [
        MailboxChanged(1, "flags", modseq=3), MailboxChanged(1, "flags", modseq=4), None]


async def test_closed_subscriptions_get_nothing() -> None:
    bus = LocalBus()
    sub = bus.subscribe(topics.mailbox(1))
    star = bus.subscribe(topics.ANY_MAILBOX)
    sub.close()
    star.close()
    await bus.publish(MailboxChanged(1, "acl"))
    assert sub.get_nowait() is None and star.get_nowait() is None


async def test_iteration_waits_for_events() -> None:
    bus = LocalBus()
    sub = bus.subscribe(topics.DIRECTORY)

    async def first() -> object:
        async for event in sub:
            return event
        return None

    waiting = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    await bus.publish(ServerChanged("services"))
    assert await asyncio.wait_for(waiting, 1) == ServerChanged("services")


def test_the_config_picks_the_local_bus() -> None:
    assert isinstance(make_bus(c.Config()), LocalBus)
    assert isinstance(make_bus(c.parse("[cluster]\nbus = 'local'\n")), LocalBus)


def test_the_redis_bus_needs_a_connection() -> None:
    config = c.parse("[cluster]\nbus = 'redis'\nredis_url = 'redis://127.0.0.1:6379/0'\n")
    with pytest.raises(c.ConfigError, match=r"key cluster\.bus: `redis` is opened by open_bus"):
        make_bus(config)


@pytest.mark.parametrize(("text", "message"), [
    ("[cluster]\nbus = 'zeromq'", "key cluster.bus: Invalid enum value 'zeromq'"),
    ("[cluster]\nbus = 'redis'", "key cluster.redis_url: bus = \"redis\" needs the Redis server's URL"),
    ("[cluster]\nbus = 'redis'\nredis_url = 'http://u:secret@h'", "key cluster.redis_url: not a Redis URL"),
])
def test_cluster_bus_settings_are_checked(text: str, message: str) -> None:
    with pytest.raises(c.ConfigError) as raised:
        c.parse(text, "/etc/polyport.toml")
    assert message in str(raised.value) and "secret" not in str(raised.value)


def test_redis_url_is_not_checked_for_the_local_bus() -> None:
    """It is unused until the cluster; a leftover value must not stop a single node."""
    assert c.parse("[cluster]\nredis_url = 'whatever'\n").cluster.bus == "local"
