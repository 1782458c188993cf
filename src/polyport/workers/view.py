"""What WebAdmin and /metrics show of the node as a whole: one process's figures for a single node, every
worker's added together for a node of several (asked through the supervisor)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from polyport import log, metrics
from polyport.workers.channel import Channel


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    index: int
    pid: int
    connections: dict[str, int]


class NodeView(Protocol):
    async def metrics(self) -> bytes:
        """The node's metrics in Prometheus' text format (a node of several: every worker's summed)."""

    async def connections(self) -> dict[str, int]:
        """Open connections by service."""

    async def recent_log(self) -> list[str]:
        """The last log lines, oldest first (every worker's, merged by time)."""

    async def workers(self) -> list[WorkerStatus]:
        """The worker processes and their connections (empty for a node of one process)."""


class LocalView:
    """A node of one process."""

    def __init__(self, connections: Callable[[], dict[str, int]]) -> None:
        self._connections = connections

    async def metrics(self) -> bytes:
        return metrics.exposition()

    async def connections(self) -> dict[str, int]:
        return self._connections()

    async def recent_log(self) -> list[str]:
        return list(log.RECENT)

    async def workers(self) -> list[WorkerStatus]:
        return []


class WorkersView:
    """A worker's view of the whole node, gathered from every worker through the supervisor."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def metrics(self) -> bytes:
        answers = await self._channel.gather("metrics")
        return metrics.merge([a for a in answers.values() if isinstance(a, bytes)])

    async def connections(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for status in await self.workers():
            for service, count in status.connections.items():
                total[service] = total.get(service, 0) + count
        return total

    async def recent_log(self) -> list[str]:
        answers = await self._channel.gather("log")
        # Each line starts with its ISO time (log.setup's TimeStamper), so merging by text is by time.
        merged = list(heapq.merge(*(a for a in answers.values() if isinstance(a, list))))
        return merged[-(log.RECENT.maxlen or 1000):]

    async def workers(self) -> list[WorkerStatus]:
        answers = await self._channel.gather("stats")
        return sorted((_status(index, answer) for index, answer in answers.items() if isinstance(answer, dict)),
                      key=lambda status: status.index)


def _status(index: int, answer: dict[str, Any]) -> WorkerStatus:
    return WorkerStatus(index, int(answer.get("pid", 0)),
                        {str(k): int(v) for k, v in dict(answer.get("connections", {})).items()})
