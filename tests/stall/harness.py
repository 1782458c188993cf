"""No command of one session may stall the others (issue 12): the measuring part of the stall tests.

`measure` runs a hostile exchange on one connection while a child process sends a cheap command
(IMAP/POP3/SMTP/CLI NOOP, an HTTP GET of a small page) on a second connection in a loop, and returns the
worst of those round trips. Every session of a node shares one event loop, so a command that holds the
loop for a second shows up as a NOOP answered a second late, whatever protocol either connection speaks.

The bound: the issue asks that no NOOP wait more than 100 ms. The tests run on CI machines with two
cores shared by two xdist workers, each with its own node thread beside the hostile client's thread (one
GIL per process) and a probing process, so an honest loop is still late now and then by a scheduler
slice or a GIL hand-over (5 ms each, several in a row under load). BOUND is therefore 250 ms: 2.5 times
the issue's target, and still an order of magnitude below the defects found (seconds; see each test's
docstring). The garbage
collector's full collections, which stop every thread for as long as the process's heap takes to walk,
are kept out of the measure as far as the test process's own heap goes (conftest.py freezes it).

A case that fails today for a defect outside the file under test is marked xfail(strict=False) with the
defect's place and size in its reason, to be unmarked with the fix.
"""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BOUND = 0.250  # seconds; see the module's docstring
PAUSE = 0.002  # between two probes: the probe connection is busy, not flooding


@dataclass
class Stall:
    worst: float  # the slowest probe, seconds
    samples: int  # probes answered while the hostile exchange ran
    seconds: float  # how long the hostile exchange took
    value: Any = None  # what the hostile exchange returned
    latencies: list[float] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return (f"worst probe {self.worst * 1000:.1f} ms over {self.samples} probes during "
                f"{self.seconds:.2f} s of hostile work")


def measure(probe: Callable[[], object], hostile: Callable[[], Any]) -> Stall:
    """Run `hostile` here while a child process times `probe` round trips, at least one; re-raises what
    `hostile` raised.

    The probe runs in a process of its own (forked, so it goes on with the probe's connection as it is):
    in a thread of this process it would share the GIL with the node's thread, and a loop that turns
    every millisecond or two (as a search between slices of work does) releases and retakes the GIL so
    often that a thread waiting for it is woken each time, never times out, and so never asks for it
    (CPython's take_gil): the probe then starved for 650 ms while the node answered in 5."""
    probe()  # warm: the probe's first answer may build caches
    stop_read, stop_write = os.pipe()
    out_read, out_write = os.pipe()
    child = os.fork()
    if child == 0:  # the probing process: never returns into the test
        status = 1
        try:
            os.close(stop_write)
            os.close(out_read)
            latencies: list[float] = []
            while True:
                before = time.perf_counter()
                probe()
                latencies.append(time.perf_counter() - before)
                if select.select([stop_read], [], [], PAUSE)[0]:
                    break
            with os.fdopen(out_write, "w") as out:
                json.dump(latencies, out)
            status = 0
        finally:
            os._exit(status)
    os.close(stop_read)
    os.close(out_write)
    started = time.perf_counter()
    try:
        value = hostile()
    finally:
        ended = time.perf_counter()
        os.close(stop_write)  # the probe's loop sees the end of its pipe
        with os.fdopen(out_read) as results:
            text = results.read()
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and text, "the probing process failed"
    times = json.loads(text)
    return Stall(max(times), len(times), ended - started, value, times)


def check(stall: Stall, bound: float = BOUND) -> None:
    print(stall, repr(stall.value)[:100])  # shown with -s, and in the report of a failure
    assert stall.worst < bound, f"another session waited too long: {stall} (bound {bound * 1000:.0f} ms)"


class LineClient:
    """A raw connection to a line protocol: sends bytes, reads lines and byte counts, all in C where it
    matters (a client parsing megabytes in Python would take the GIL from the node's thread)."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = bytearray()

    def send(self, data: bytes | memoryview) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        return line

    def until(self, marker: bytes) -> bytes:
        """Everything up to and including `marker` (a line, or a multi-line answer's end)."""
        start = 0
        while (end := self.buffer.find(marker, start)) < 0:
            start = max(0, len(self.buffer) - len(marker))
            self._fill()
        data = bytes(self.buffer[:end + len(marker)])
        del self.buffer[:end + len(marker)]
        return data

    def ask(self, line: bytes) -> bytes:
        """Send a line; the first line of the answer."""
        self.send(line + b"\r\n")
        return self.line()

    def close(self) -> None:
        self.sock.close()
