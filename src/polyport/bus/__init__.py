"""The event bus: sessions and services learn of changes made elsewhere (another session, another node).

`Bus` is the interface; `LocalBus` is the in-process implementation a single node uses, and `make_bus`
picks the one the config names (`[cluster] bus`: "redis" is `redisbus.RedisBus`, opened by
`open_bus`). Events are
typed (`events.py`): a publisher hands over an event, whose topic it knows, after the change it
describes is committed. A subscriber that falls behind by more than its queue loses the oldest events
and sees `overflowed` set, so it can re-read the state instead of trusting the stream.

Topics are dot-separated (`directory`, `mailbox.42`) and built by `topics.py`; a subscription to
`mailbox.*` (`topics.ANY_MAILBOX`) gets every topic that starts with `mailbox.`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol

from polyport.bus import topics
from polyport.bus.events import Event

if TYPE_CHECKING:
    from polyport.config import Config

__all__ = ["Bus", "Event", "LocalBus", "LocalSubscription", "Subscription", "make_bus", "topics"]


class Subscription(Protocol):
    overflowed: bool

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def get(self) -> Event: ...

    def wait(self) -> asyncio.Future[None]: ...

    def get_nowait(self) -> Event | None: ...

    def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, event: Event) -> None:
        """Deliver `event` to every subscription of its topic (on every node, for a cluster's bus)."""

    def publish_nowait(self, event: Event) -> None:
        """`publish` from code that does not wait: this process's subscribers hear it at once, the others'
        as soon as it can be sent."""

    def subscribe(self, topic: str, *, queue_size: int = 1000,
                  accept: Callable[[Event], bool] | None = None) -> Subscription:
        """Hear the events of `topic` (`topics.mailbox(id)`, ...), or of every topic starting with a prefix
        when `topic` ends in `*`; only those `accept` returns True for, when given: the others are dropped
        as they arrive, so they neither wake the subscriber nor count toward its queue."""

    async def close(self) -> None: ...


class LocalSubscription:
    """A bounded queue of events with one waiter. Not asyncio.Queue: an IMAP session holds a subscription
    for as long as a mailbox is selected, and asyncio.Queue's four deques cost 3 KB of each idle session."""

    __slots__ = ("_accept", "_bus", "_events", "_queue_size", "_waiter", "overflowed", "topic")

    def __init__(self, bus: LocalBus, topic: str, queue_size: int,
                 accept: Callable[[Event], bool] | None = None) -> None:
        self._bus = bus
        self.topic = topic
        self._accept = accept
        self._queue_size = queue_size
        self._events: list[Event] = []
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False

    def deliver(self, event: Event) -> None:
        if self._accept is not None and not self._accept(event):
            return
        if len(self._events) >= self._queue_size:
            del self._events[0]
            self.overflowed = True
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def lose(self) -> None:
        """Events may have been lost on the way (a bus between processes lost its connection): the reader
        is woken to re-read the state, as after an overflow."""
        self.overflowed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Event:
        while not self._events:
            await self.wait()
        return self._events.pop(0)

    def wait(self) -> asyncio.Future[None]:
        """A future done when an event is waiting (at once if one is); it consumes nothing."""
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        if self._events:
            self._waiter.set_result(None)
        return self._waiter

    def get_nowait(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()

    def close(self) -> None:
        self._bus._remove(self)


class LocalBus:
    """One process's bus. Events are handed to subscribers as they are (frozen objects, shared, never
    copied or serialized)."""

    def __init__(self) -> None:
        self._exact: dict[str, set[LocalSubscription]] = {}
        self._prefix: dict[str, set[LocalSubscription]] = {}

    async def publish(self, event: Event) -> None:
        self.publish_nowait(event)

    def publish_nowait(self, event: Event) -> None:
        topic = event.topic
        for sub in self._exact.get(topic, ()):
            sub.deliver(event)
        if self._prefix:
            for prefix, subs in self._prefix.items():
                if topic.startswith(prefix):
                    for sub in subs:
                        sub.deliver(event)

    def subscribe(self, topic: str, *, queue_size: int = 1000,
                  accept: Callable[[Event], bool] | None = None) -> LocalSubscription:
        sub = LocalSubscription(self, topic, queue_size, accept)
        prefix = topics.prefix_of(topic)
        if prefix is not None:
            self._prefix.setdefault(prefix, set()).add(sub)
        else:
            self._exact.setdefault(topic, set()).add(sub)
        return sub

    def _remove(self, sub: LocalSubscription) -> None:
        prefix = topics.prefix_of(sub.topic)
        table, key = (self._exact, sub.topic) if prefix is None else (self._prefix, prefix)
        subs = table.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del table[key]

    async def close(self) -> None:
        self._exact.clear()
        self._prefix.clear()


def make_bus(config: Config) -> Bus:
    """The bus of a node that shares nothing with other processes: `[cluster] bus = "local"`."""
    kind = config.cluster.bus
    if kind == "local":
        return LocalBus()
    from polyport.config import ConfigError

    raise ConfigError(f"key cluster.bus: `{kind}` is opened by open_bus (it needs a connection)")
