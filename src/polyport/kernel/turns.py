"""Sharing the event loop by elapsed time: every session of a node runs on one loop, so a command's long
work (a list of 50,000 messages sorted, a body search) lets the others run every few milliseconds (issue
12: no command of one session may stall the others; tests/stall measures it for every protocol)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")

# Seconds of work between two turns of the loop. Another session's request may need several turns to be
# answered, so this is well below the 100 ms it may wait (the record store's inline reads pause as often);
# a turn costs a few microseconds.
TURN = 0.005


class Turns:
    """Gives the loop to other tasks once `turn` seconds of work have passed since it last had it: by
    elapsed time, so small work (a small mailbox's list) pays for no pause at all."""

    __slots__ = ("since", "turn")

    def __init__(self, turn: float = TURN) -> None:
        self.turn = turn
        self.since = time.perf_counter()

    async def share(self) -> None:
        if time.perf_counter() - self.since >= self.turn:
            await asyncio.sleep(0)
            self.since = time.perf_counter()

    async def finish(self, steps: Generator[None, None, T]) -> T:
        """The result of pure work written as a generator that yields between steps, sharing the loop
        between them."""
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            await self.share()
