"""A real node running in a background thread (its own event loop), shared by a test module: tests talk
to it over sockets like any client, and may run coroutines on its loop to set things up."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from polyport import config as config_module
from polyport.config import Config
from polyport.node import POSTMASTER_PASSWORD_ENV, Node
from polyport.runtime import Runtime
from polyport.workers.supervisor import Supervisor

T = TypeVar("T")

POSTMASTER_PASSWORD = "postmaster-secret"


def new_loop() -> asyncio.AbstractEventLoop:
    """The loop POLYPORT_TEST_LOOP names (asyncio by default; uvloop, as nodes run by default)."""
    if os.environ.get("POLYPORT_TEST_LOOP", "asyncio") == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def eventually(check: Callable[[], object], timeout: float = 2.0) -> None:
    """Wait for `check()` to be true: for what a node's other workers hear of over the bus (milliseconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.02)


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port below the system's ephemeral range: the ports that binding port 0 hands out (every other
    listener of the parallel test nodes, and every outgoing connection) never take it between this check
    and the node's bind, as a port of that range could be."""
    low = _ephemeral_ports()[0]
    chooser = random.Random()
    for _ in range(200):
        port = chooser.randrange(10_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _other_services(named: str) -> str:
    """Every other built service, enabled, on any free port (0: the system picks at bind time, so parallel
    test nodes never race for one); tests find them with `node.bound_listeners()`."""
    from polyport.service_table import SERVICES

    # Federation stays off unless a test turns it on: with it, a stanza to a domain not served here goes to
    # the DNS instead of answering remote-server-not-found.
    return "".join(f"[services.{s.name}]\nports = [0]\nenabled = true\n"
                   for s in SERVICES if s.built and s.name not in (named, "xmpp-s2s"))


# Nothing listens on UDP port 9 of loopback: a node under test gets an immediate DNS failure, never an
# answer from the network. Tests that need answers pass `dns` (tests/dnsfixture.py).
NO_DNS = "127.0.0.1:9"


def node_config(data: Path, service: str, port: int, extra: str = "", *, dns: str = NO_DNS,
                domain: str = "example.com") -> Config:
    """A test node's config: `service` on `port` (0: any free port, the system picking it at bind time, so
    parallel test nodes never race for one; find it with `node.bound_listeners()`)."""
    return config_module.parse(f"""
[node]
data = "{data}"
main_domain = "{domain}"
bind = "127.0.0.1"
shutdown_grace = 1.0
[auth]
argon2_memory_kib = 8192
argon2_time_cost = 1
[dns]
servers = ["{dns}"]
timeout = 1.0
[services.{service}]
ports = [{port}]
{extra}
{_other_services(service)}""", "test.toml")


def workers_for_tests() -> int:
    """Worker processes of the tests' nodes (POLYPORT_TEST_WORKERS; 1: a node of one process). With more,
    worker 0 runs here, on the node's thread (tests reach its runtime), and the others are processes."""
    return int(os.environ.get("POLYPORT_TEST_WORKERS", "1"))


class ThreadedNode:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.node = Node(config)
        workers = workers_for_tests()
        self.supervisor = Supervisor(config, workers, in_process=True) if workers > 1 else None
        self.loop = new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-node", daemon=True)

    def start(self) -> ThreadedNode:
        """Start it; a new data folder gets postmaster with POSTMASTER_PASSWORD."""
        self.thread.start()
        saved = os.environ.get(POSTMASTER_PASSWORD_ENV)
        os.environ[POSTMASTER_PASSWORD_ENV] = POSTMASTER_PASSWORD
        try:
            if self.supervisor is None:
                self.call(self.node.start())
            else:
                self.call(self.supervisor.start(), timeout=60)
                assert self.supervisor.local_node is not None
                self.node = self.supervisor.local_node
        finally:
            if saved is None:
                del os.environ[POSTMASTER_PASSWORD_ENV]
            else:
                os.environ[POSTMASTER_PASSWORD_ENV] = saved
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def runtime(self) -> Runtime:
        assert self.node.runtime is not None
        return self.node.runtime

    def stop(self) -> None:
        if self.supervisor is None:
            self.call(self.node.stop(grace=1.0))
        else:
            self.call(self.supervisor.stop(grace=1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
