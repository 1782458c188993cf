"""An in-memory transport: a protocol's session driven without a socket (bytes in, writes collected).

For session tests that read as transcripts (pymap's mock transport, Stalwart's `DummyIo`): the test
feeds the client's bytes with `send`, reads the server's lines with `line()` / `until()`, and the
session runs through the same `Connection` (framer, limits, coalesced writes, idle timer) as on a socket.
What it cannot do is TLS: STARTTLS, implicit TLS and certificates stay in the socket tests.

    client = MemoryClient(handler, trusted=True)
    assert (await client.line()).startswith(b"+OK")
    client.send(b"CAPA\\r\\n")
    lines = await client.until(b".")
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from polyport.net.connection import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LINE, Connection
from polyport.net.listener import StreamHandler

READ_TIMEOUT = 10.0  # a transcript step that waits longer than this is a failed test, not a hang


class MemoryTransport:
    """The part of asyncio.Transport that Connection uses, writing into a buffer."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.written = bytearray()
        self.closing = False
        self.reading_paused = False
        self.changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.written += data
        self.changed.set()

    def writelines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.write(line)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.changed.set()

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 0)}.get(name, default)


class MemoryClient:
    """One client connection to `handler`'s session, over memory. Starts the session at once."""

    def __init__(self, handler: StreamHandler, *, remote: tuple[str, int] = ("192.0.2.1", 40000),
                 trusted: bool = False, max_line: int = DEFAULT_MAX_LINE,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.handler = handler
        self.transport = MemoryTransport(remote)
        self.trusted = trusted
        self._read = 0  # bytes of the server's output already handed to the test
        self.session: Any = None
        self.task: asyncio.Task[None] | None = None
        self.conn = Connection(self, max_line=max_line, idle_timeout=idle_timeout)
        self.conn.connection_made(cast(asyncio.BaseTransport, self.transport))  # duck-typed, as uvloop's are

    # -- ConnectionOwner --

    def accepted(self, conn: Connection) -> None:
        conn.trusted = self.trusted
        self.session = self.handler.session(conn)
        self.task = asyncio.get_running_loop().create_task(self._run(conn))

    async def _run(self, conn: Connection) -> None:
        try:
            await self.session.run()
        finally:
            conn.close()
            # A real transport reports the close a moment later; so does this one.
            asyncio.get_running_loop().call_soon(conn.connection_lost, None)

    def released(self, conn: Connection) -> None:
        pass

    # -- the client's side --

    def send(self, data: bytes) -> None:
        """Bytes from the client, as one or more TCP segments would bring them."""
        self.conn.data_received(data)

    def send_eof(self) -> None:
        self.conn.eof_received()

    @property
    def closed(self) -> bool:
        return self.transport.closing

    async def _wait(self) -> None:
        self.transport.changed.clear()
        await asyncio.wait_for(self.transport.changed.wait(), READ_TIMEOUT)

    async def line(self) -> bytes:
        """The server's next line, without its CRLF; EOFError if the server closed first."""
        while True:
            written = self.transport.written
            end = written.find(b"\n", self._read)
            if end >= 0:
                line = bytes(written[self._read:end + 1])
                self._read = end + 1
                return line.rstrip(b"\r\n")
            if self.closed:
                raise EOFError("the server closed the connection")
            await self._wait()

    async def until(self, last: bytes | tuple[bytes, ...]) -> list[bytes]:
        """Lines up to and including the first that starts with `last` (a tag, ".", "250 ")."""
        lines = []
        while True:
            line = await self.line()
            lines.append(line)
            if line.startswith(last):
                return lines

    async def read(self, count: int) -> bytes:
        while len(self.transport.written) - self._read < count:
            if self.closed:
                raise EOFError("the server closed the connection")
            await self._wait()
        data = bytes(self.transport.written[self._read:self._read + count])
        self._read += count
        return data

    async def ask(self, data: bytes) -> bytes:
        """Send one line (CRLF added) and return the server's next line."""
        self.send(data + b"\r\n")
        return await self.line()

    async def close(self) -> None:
        """The client goes away; the session ends as it would on a socket."""
        if not self.closed:
            self.conn.connection_lost(None)
        if self.task is not None:
            await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), READ_TIMEOUT)
