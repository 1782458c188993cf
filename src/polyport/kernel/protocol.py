"""What a protocol package declares to the node, instead of the node wiring each protocol by hand.

Each package named in the service table's `module` column exports `PROTOCOL`, a `ProtocolModule`:
how to make its handler for each transport it serves (a stream handler for TCP, a datagram handler
for UDP, an HTTP handler for the web's ports), and the background tasks it runs beside its listeners
(XMPP's federation links, the RTP relay's sweeper), each started after the listeners and stopped
before the store closes. This is Prosody's `module:provides("net", ...)`: adding a protocol is adding
a package and its row in the service table; `node.py` does not change.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from polyport.config import ResolvedService
from polyport.net.http import HttpHandler
from polyport.net.listener import StreamHandler
from polyport.net.udp import DatagramHandler
from polyport.runtime import Runtime


class BackgroundTask(Protocol):
    """Work a protocol runs for as long as the node does."""

    async def run(self) -> None:
        """Runs until cancelled or stopped."""
        ...

    async def stop(self, grace: float) -> None:
        """Finish what is in hand within `grace` seconds; `run` returns (or is cancelled after)."""
        ...


StreamFactory = Callable[[Runtime, ResolvedService], StreamHandler]
DatagramFactory = Callable[[Runtime, ResolvedService], DatagramHandler]
HttpFactory = Callable[[Runtime, ResolvedService], HttpHandler]
TaskFactory = Callable[[Runtime, ResolvedService], BackgroundTask]


@dataclass(frozen=True, slots=True)
class ProtocolModule:
    stream: StreamFactory | None = None  # TCP (and Unix-socket) connections
    datagram: DatagramFactory | None = None  # UDP
    http: HttpFactory | None = None  # the web's ports: aiohttp behind our listener
    tasks: tuple[TaskFactory, ...] = ()


class NotAProtocol(Exception):
    """A service table row names a module that does not declare PROTOCOL."""


def load(module_name: str) -> ProtocolModule:
    module = importlib.import_module(module_name)
    declared = getattr(module, "PROTOCOL", None)
    if not isinstance(declared, ProtocolModule):
        raise NotAProtocol(f"{module_name} declares no PROTOCOL (a kernel.protocol.ProtocolModule)")
    return declared
