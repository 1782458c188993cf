"""A subscription's `accept` filter: events it refuses are dropped as they arrive, so they neither wake the
subscriber nor take a place in its queue (an IMAP NOTIFY session watching one of an owner's mailboxes on
the owner's whole topic)."""

from __future__ import annotations

import asyncio

from polyport.bus import LocalBus, topics
from polyport.bus.events import MessagesChanged


def test_refused_events_neither_queue_nor_wake_nor_overflow() -> None:
    async def run() -> None:
        bus = LocalBus()
        sub = bus.subscribe(topics.account(1), queue_size=4, accept=lambda e: getattr(e, "mailbox_id", None) == 7)
        waiter = sub.wait()
        for _ in range(10):
            await bus.publish(MessagesChanged(1, 8, "append"))
        assert not waiter.done() and not sub.overflowed and sub.get_nowait() is None
        await bus.publish(MessagesChanged(1, 7, "flags"))
        assert waiter.done()
        assert sub.get_nowait() == MessagesChanged(1, 7, "flags")
        assert sub.get_nowait() is None
        unfiltered = bus.subscribe(topics.account(1), queue_size=4)
        await bus.publish(MessagesChanged(1, 8, "append"))
        assert unfiltered.get_nowait() == MessagesChanged(1, 8, "append")
        sub.close()
        unfiltered.close()

    asyncio.run(run())
