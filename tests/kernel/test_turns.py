"""Sharing the loop by elapsed time (kernel/turns.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Generator

from polyport.kernel.turns import Turns


async def test_turns_let_other_tasks_run_between_steps_once_due() -> None:
    ran: list[str] = []

    def steps() -> Generator[None, None, str]:
        for i in range(3):
            ran.append(f"step {i}")
            yield
        return "done"

    async def other() -> None:
        while True:
            ran.append("other")
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    ran.clear()
    assert await Turns(60.0).finish(steps()) == "done"  # never due: no pause
    assert ran == ["step 0", "step 1", "step 2"]
    ran.clear()
    assert await Turns(0.0).finish(steps()) == "done"  # always due
    assert ran[:5] == ["step 0", "other", "step 1", "other", "step 2"]
    task.cancel()
