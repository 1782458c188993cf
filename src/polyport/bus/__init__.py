"""The event bus: sessions and services learn of changes made elsewhere (another session, another node).

`Bus` is the interface; `LocalBus` is the in-process implementation a single node uses (the Redis one
arrives with the cluster). Events are small dictionaries of JSON-able values, published after the change
they describe is committed. A subscriber that falls behind by more than its queue loses the oldest
events and sees `overflowed` set, so it can re-read the state instead of trusting the stream.

Topics are dot-separated (`directory`, `mailbox.42`); a subscription to `mailbox.*` gets every topic
that starts with `mailbox.`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

Event = Mapping[str, Any]


class Subscription(Protocol):
    overflowed: bool

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def get(self) -> Event: ...

    def get_nowait(self) -> Event | None: ...

    def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, topic: str, event: Event) -> None: ...

    def subscribe(self, topic: str, *, queue_size: int = 1000) -> Subscription: ...

    async def close(self) -> None: ...


class LocalSubscription:
    def __init__(self, bus: LocalBus, topic: str, queue_size: int) -> None:
        self._bus = bus
        self.topic = topic
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self.overflowed = False

    def deliver(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.overflowed = True
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        return await self._queue.get()

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        self._bus._remove(self)


class LocalBus:
    def __init__(self) -> None:
        self._exact: dict[str, set[LocalSubscription]] = {}
        self._prefix: dict[str, set[LocalSubscription]] = {}

    async def publish(self, topic: str, event: Event) -> None:
        self.publish_nowait(topic, event)

    def publish_nowait(self, topic: str, event: Event) -> None:
        for sub in self._exact.get(topic, ()):
            sub.deliver(event)
        if self._prefix:
            for prefix, subs in self._prefix.items():
                if topic.startswith(prefix):
                    for sub in subs:
                        sub.deliver(event)

    def subscribe(self, topic: str, *, queue_size: int = 1000) -> LocalSubscription:
        sub = LocalSubscription(self, topic, queue_size)
        if topic.endswith("*"):
            self._prefix.setdefault(topic[:-1], set()).add(sub)
        else:
            self._exact.setdefault(topic, set()).add(sub)
        return sub

    def _remove(self, sub: LocalSubscription) -> None:
        table = self._prefix if sub.topic.endswith("*") else self._exact
        key = sub.topic[:-1] if sub.topic.endswith("*") else sub.topic
        subs = table.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del table[key]

    async def close(self) -> None:
        self._exact.clear()
        self._prefix.clear()
