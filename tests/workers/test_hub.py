"""The supervisor's hub on malformed requests from a worker: an error answer, never silence, and the
per-address counts never below zero."""

from __future__ import annotations

from typing import Any, cast

from polyport.workers.supervisor import Hub


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []
        self.index = 0
        self.entered: dict[tuple[str, str], int] = {}

    def send(self, message: list[Any]) -> None:
        self.sent.append(message)


async def test_an_unknown_operation_or_bad_arguments_get_an_error_answer() -> None:
    from collections import Counter

    hub, link = Hub(), cast(Any, FakeLink())
    link.entered = Counter()
    await hub._kv(link, 1, "flushall", [])
    await hub._kv(link, 2, "get", cast(Any, "not a list"))
    await hub._kv(link, 3, "set", [])  # missing arguments
    assert [m[:3] for m in link.sent] == [["r", 1, "ValueError"], ["r", 2, "ValueError"], ["r", 3, "TypeError"]]


async def test_leaving_more_than_entered_never_counts_below_zero() -> None:
    from collections import Counter

    hub, link = Hub(), cast(Any, FakeLink())
    link.entered = Counter()
    key = ("imap", "192.0.2.1")
    assert hub._enter(link, key, 2) is True
    assert hub._enter(link, key, "two") is False  # a limit that is no number
    for _ in range(3):
        hub._leave(link, key)
    assert hub.connections[key] == 0 and not link.entered
    assert hub._enter(link, key, 1) is True
