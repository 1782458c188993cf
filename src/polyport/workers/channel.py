"""A worker's end of its channel to the supervisor: the bus and the key-value store every worker shares.

`HubBus` is a `LocalBus` that also hands each event it publishes to the supervisor, which passes it to
every other worker, where it is published on their local bus: an APPEND in one worker wakes an IDLE in
another. The publishing worker's own subscribers hear it at once, as on a single node.

`HubKeyValueStore` asks the supervisor's one `MemoryKeyValueStore` (store/memory.py), so login failures,
lockouts, locks and rate limits count across the workers; its `lock()` polls (store.memory.polling_lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from polyport import log
from polyport.bus import LocalBus
from polyport.bus.events import Event, WireError
from polyport.store.memory import KeyTypeError, polling_lock
from polyport.workers import wire

ANSWER_TIMEOUT = 30.0  # the supervisor answers in microseconds; past this it is stuck, and so is the worker


class ChannelClosed(ConnectionError):
    """The supervisor is gone (it exited or was killed): the worker stops."""


_ERRORS: dict[str, type[Exception]] = {"KeyTypeError": KeyTypeError, "ValueError": ValueError}


class Channel(asyncio.Protocol):
    """The worker's end of the socketpair: sends messages, matches answers to requests, passes events
    and questions on."""

    def __init__(self) -> None:
        self._reader = wire.FrameReader()
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = 0
        self._outgoing: list[bytes] = []  # sent at the end of this turn of the loop, in one write
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_event: Callable[[dict[str, Any]], None] = lambda _event: None
        self.on_ask: Callable[[str], Awaitable[Any]] | None = None
        self._log = log.get()

    @classmethod
    async def open(cls, fd: int) -> Channel:
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        _, channel = await loop.connect_accepted_socket(cls, sock)
        return channel

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._reader.feed(data)
        except wire.FrameError as err:
            self._log.error("worker.channel_broken", error=str(err))
            if self._transport is not None:
                self._transport.abort()
            return
        for message in messages:
            self._handle(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed("the supervisor is gone"))
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def _handle(self, message: list[Any]) -> None:
        name = message[0]
        if name == "pub" and len(message) == 2:
            self.on_event(message[1])
        elif name == "r" and len(message) == 4:
            future = self._pending.pop(message[1], None)
            if future is None or future.done():
                return
            error, value = message[2], message[3]
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(_ERRORS.get(error, RuntimeError)(value))
        elif name == "ask" and len(message) == 3 and self.on_ask is not None:
            asyncio.get_running_loop().create_task(self._answer(message[1], message[2]))

    async def _answer(self, ident: int, what: str) -> None:
        assert self.on_ask is not None
        try:
            value = await self.on_ask(what)
        except Exception:
            self._log.exception("worker.ask_failed", what=what)
            value = None
        self.send(["answer", ident, value])

    # -- sending --

    def send(self, message: list[Any]) -> None:
        """Queue a message; what one turn of the loop sends goes in one system call (a STORE of many
        messages publishes an event per mailbox change, each its own write otherwise)."""
        if self._transport is None:
            raise ChannelClosed("the supervisor is gone")
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(wire.encode(message))

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self._transport is not None and outgoing:
            self._transport.write(b"".join(outgoing))

    async def request(self, op: str, *args: Any) -> Any:
        """A key-value operation of the supervisor's store."""
        return await self._ask_supervisor("kv", op, list(args))

    async def gather(self, what: str) -> dict[int, Any]:
        """Every running worker's answer to `what` ("stats", "metrics", "log"), this one's included, by
        worker index (None from one that did not answer in time)."""
        answers = await self._ask_supervisor("gather", what)
        return {int(index): answer for index, answer in answers.items()}

    async def enter(self, service: str, address: str, limit: int) -> bool:
        """One more connection from `address` in the node's counts, unless `limit` are open already."""
        return bool(await self._ask_supervisor("enter", service, address, limit))

    async def _ask_supervisor(self, kind: str, *args: Any) -> Any:
        self._ids += 1
        ident = self._ids
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            self.send([kind, ident, *args])
        except BaseException:
            del self._pending[ident]
            raise
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except TimeoutError:
            raise ChannelClosed(f"the supervisor did not answer {kind} within {ANSWER_TIMEOUT:.0f} s") from None
        finally:
            self._pending.pop(ident, None)

    def close(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()


class HubCounts:
    """Connections per remote address across the workers (net.listener.SharedCounts), kept by the
    supervisor, which forgets a worker's when the worker dies."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def enter(self, service: str, address: str, limit: int) -> bool:
        try:
            return await self._channel.enter(service, address, limit)
        except ChannelClosed:
            return False  # the worker is stopping

    def leave(self, service: str, address: str) -> None:
        with contextlib.suppress(ChannelClosed):
            self._channel.send(["leave", service, address])


class HubBus(LocalBus):
    """This worker's subscribers, and every other worker's through the supervisor."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel
        self._log = log.get()
        channel.on_event = self._from_other_worker

    async def publish(self, event: Event) -> None:
        self.publish_nowait(event)

    def publish_nowait(self, event: Event) -> None:
        super().publish_nowait(event)
        with contextlib.suppress(ChannelClosed):  # the worker is stopping; its own subscribers heard it
            self._channel.send(["pub", event.to_wire()])

    def _from_other_worker(self, data: dict[str, Any]) -> None:
        try:
            event = Event.from_wire(data)
        except WireError as err:
            self._log.error("bus.bad_event", error=str(err))
            return
        super().publish_nowait(event)


class HubKeyValueStore:
    """KeyValueStore (store/memory.py) kept by the supervisor for every worker."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def get(self, key: str) -> str | None:
        result: str | None = await self._channel.request("get", key)
        return result

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._channel.request("set", key, value, ttl)

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        return bool(await self._channel.request("set_if_absent", key, value, ttl))

    async def compare_and_set(self, key: str, expected: str | None, value: str | None,
                              ttl: float | None = None) -> bool:
        return bool(await self._channel.request("compare_and_set", key, expected, value, ttl))

    async def delete(self, key: str) -> bool:
        return bool(await self._channel.request("delete", key))

    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        return int(await self._channel.request("incr", key, by, ttl))

    async def expire(self, key: str, ttl: float | None) -> bool:
        return bool(await self._channel.request("expire", key, ttl))

    async def ttl(self, key: str) -> float | None:
        result = await self._channel.request("ttl", key)
        return None if result is None else float(result)

    async def hit(self, key: str, window: float, limit: int) -> int:
        return int(await self._channel.request("hit", key, window, limit))

    def lock(self, name: str, ttl: float, *, wait: float = 0.0) -> AbstractAsyncContextManager[None]:
        return polling_lock(self, name, ttl, wait)

    async def close(self) -> None:
        pass
