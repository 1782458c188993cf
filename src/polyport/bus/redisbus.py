"""The bus over Redis (`[cluster] bus = "redis"`): every worker and node that names the same server and
prefix hears the others' events.

`RedisBus` is a `LocalBus` that also publishes each event on one Redis channel, `<prefix>bus`, which every
RedisBus subscribes to; an event from elsewhere is published on the local bus as it arrives. The
publisher's own subscribers hear it at once, as on a single node, and it ignores its own messages when
they come back. What one turn of the loop publishes goes in one PUBLISH, a JSON object
`{"o": origin, "e": [event, ...]}` (the events' wire dictionaries, bus/events.py).

Redis's pub/sub keeps nothing for a subscriber that is not connected. When the subscription is set up
again (redis-py reconnects and subscribes anew; Redis confirms each subscription, and a second
confirmation means a gap), every local subscription is marked `overflowed` and woken, so that its
reader re-reads the state instead of trusting the stream, as after a queue overflow. A PUBLISH that
fails is tried again, oldest first, after a pause that doubles up to 2 s; at most `MAX_UNSENT` events wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from polyport import log
from polyport.bus import LocalBus
from polyport.bus.events import Event, WireError
from polyport.store.rediskv import DEFAULT_PREFIX

MAX_UNSENT = 10_000
RETRY_FIRST, RETRY_MAX = 0.05, 2.0
CLOSE_WAIT = 2.0  # seconds close() waits for what was published to go out


class RedisBus(LocalBus):
    """This process's subscribers, and every other process's on the same Redis server and prefix."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__()
        self.client = client
        self.channel = prefix + "bus"
        self.origin = secrets.token_hex(8)
        self.gaps = 0  # times the subscription was set up again (events from elsewhere may have been lost)
        self.on_gap: list[Callable[[], None]] = []  # called after a gap, once the subscriptions are marked
        self._unsent: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._pubsub = client.pubsub()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._log = log.get()

    async def start(self) -> None:
        """Subscribe (what others publish from now on is heard), then start reading and publishing."""
        await self._pubsub.subscribe(self.channel)
        confirmed = await self._pubsub.get_message(timeout=10.0)
        if confirmed is None or confirmed.get("type") != "subscribe":
            raise ConnectionError(f"Redis did not confirm the subscription to {self.channel}")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._send())]

    def publish_nowait(self, event: Event) -> None:
        super().publish_nowait(event)
        if not self._tasks or self._closing:
            return  # closed (or never started): nobody elsewhere is listening through this bus
        unsent = self._unsent
        if len(unsent) >= MAX_UNSENT:
            del unsent[0]
        unsent.append(event.to_wire())
        self._wake.set()

    async def _send(self) -> None:
        """Publish what waits, a batch at a time, until closed and nothing waits (close() asks it to stop
        rather than cancelling it: redis-py writes under asyncio.wait_for, which may swallow a cancel)."""
        pause = RETRY_FIRST
        while True:
            await self._wake.wait()
            await asyncio.sleep(0)  # the rest of this turn's events go in the same message
            self._wake.clear()
            batch, self._unsent = self._unsent, []
            if not batch:
                if self._closing:
                    return
                continue
            try:
                message = json.dumps({"o": self.origin, "e": batch}, separators=(",", ":"))
            except (TypeError, ValueError) as err:  # an event that is not JSON: a bug, not a reason to stop
                self._log.error("bus.unpublishable", error=str(err)[:200], events=len(batch))
                continue
            try:
                await self.client.publish(self.channel, message)
            except RedisError as err:
                if self._closing:
                    self._log.warning("bus.unsent_at_close", error=str(err), events=len(batch))
                    return
                if pause == RETRY_FIRST:  # once per outage, not at every retry
                    self._log.warning("bus.publish_failed", error=str(err), events=len(batch))
                self._unsent[:0] = batch
                del self._unsent[:-MAX_UNSENT]
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                self._wake.set()
                continue
            if pause != RETRY_FIRST:
                self._log.info("bus.publishing_again")
            pause = RETRY_FIRST
            if self._closing:
                self._wake.set()  # whatever came meanwhile, then stop

    async def _read(self) -> None:
        pause = RETRY_FIRST
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except RedisError as err:
                # The readers are told when the subscription is set up again (its confirmation, below).
                if pause == RETRY_FIRST:
                    self._log.warning("bus.subscription_lost", error=str(err))
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            pause = RETRY_FIRST
            if message is None:
                continue
            kind = message.get("type")
            try:
                if kind == "subscribe":  # set up again after a reconnection: what was sent meanwhile is lost
                    self._gap()
                elif kind == "message":
                    self._received(message.get("data"))
            except Exception:  # a subscriber's filter that raised, say: the others still hear the bus
                self._log.exception("bus.delivery_failed")

    def _received(self, data: Any) -> None:
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or not isinstance(body.get("e"), list):
                raise WireError("not a batch of events")
            if body.get("o") == self.origin:
                return
            events = [Event.from_wire(item) for item in body["e"]]
        except (ValueError, TypeError, WireError) as err:
            self._log.error("bus.bad_event", error=str(err)[:200])
            return
        for event in events:
            try:
                LocalBus.publish_nowait(self, event)
            except Exception:  # a subscriber's filter that raised: the events after it are still delivered
                self._log.exception("bus.delivery_failed", kind=event.kind)

    def _gap(self) -> None:
        self.gaps += 1
        self._log.info("bus.gap", gaps=self.gaps)
        for table in (self._exact, self._prefix):
            for subscriptions in table.values():
                for subscription in subscriptions:
                    subscription.lose()
        for callback in self.on_gap:
            try:
                callback()
            except Exception:
                self._log.exception("bus.gap_callback_failed")

    async def close(self) -> None:
        """Publish what waits (for up to CLOSE_WAIT seconds), then stop reading."""
        tasks, self._tasks = self._tasks, []
        self._closing = True
        if tasks:
            sender, reader = tasks[1], tasks[0]
            self._wake.set()
            await asyncio.wait({sender}, timeout=CLOSE_WAIT)
            for task in (sender, reader):
                # A cancel that redis-py's asyncio.wait_for swallowed is sent again.
                for _ in range(50):
                    if task.done():
                        break
                    task.cancel()
                    await asyncio.wait({task}, timeout=0.1)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        await super().close()
