"""An in-memory transport: a protocol's session driven without a socket (bytes in, writes collected).

For session tests that read as transcripts (pymap's mock transport, Stalwart's `DummyIo`): the test
feeds the client's bytes with `send`, reads the server's lines with `line()` / `until()`, and the
session runs through the same `Connection` (framer, limits, coalesced writes, idle timer) as on a socket.
As a socket does, it holds the client's bytes while the connection has paused reading and hands them over
on the loop's next turn once it resumes, so back pressure is tested too. COMPRESS=DEFLATE works
(`start_deflate` on the client's side); what it cannot do is TLS: STARTTLS, implicit TLS and certificates
stay in the socket tests.

    client = MemoryClient(handler, trusted=True)
    assert (await client.line()).startswith(b"+OK")
    client.send(b"CAPA\\r\\n")
    lines = await client.until(b".")
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any, cast

from polyport.net.connection import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LINE, Connection
from polyport.net.listener import StreamHandler

READ_TIMEOUT = 10.0  # a transcript step that waits longer than this is a failed test, not a hang


class MemoryTransport:
    """The part of asyncio.Transport that Connection uses, writing into a buffer. Input sent while reading
    is paused waits in `held` until it resumes."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.written = bytearray()
        self.closing = False
        self.reading_paused = False
        self.held: list[bytes] = []
        self.eof_held = False
        self.protocol: asyncio.Protocol | None = None
        self.changed = asyncio.Event()
        self._delivery: asyncio.Handle | None = None

    def receive(self, data: bytes) -> None:
        """Bytes from the peer: to the protocol now, or held while it has paused reading (a socket's
        reads stop then, and the peer's bytes wait in the kernel's buffers)."""
        if self.reading_paused or self.held:
            self.held.append(data)
            return
        assert self.protocol is not None
        self.protocol.data_received(data)

    def receive_eof(self) -> None:
        """The peer's end of stream, after whatever input is held."""
        if self.held or self.reading_paused:
            self.eof_held = True
            return
        assert self.protocol is not None
        self.protocol.eof_received()

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
        if (self.held or self.eof_held) and self._delivery is None:
            # On the loop's next turn, as a socket's reader would: never inside the protocol's own call.
            self._delivery = asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        self._delivery = None
        assert self.protocol is not None
        while self.held and not self.reading_paused and not self.closing:
            self.protocol.data_received(self.held.pop(0))
        if self.eof_held and not self.held and not self.closing:
            self.eof_held = False
            self.protocol.eof_received()

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
        self._read = 0  # bytes of the server's output (as the client reads it) already handed to the test
        self._deflater: Any = None  # once the client has started COMPRESS=DEFLATE
        self._inflater: Any = None
        self._inflated = bytearray()  # the server's output since then, inflated
        self._raw = 0  # bytes of the transport's output inflated so far
        self.session: Any = None
        self.task: asyncio.Task[None] | None = None
        self.conn = Connection(self, max_line=max_line, idle_timeout=idle_timeout)
        self.transport.protocol = self.conn
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
        """Bytes from the client, as one or more TCP segments would bring them (deflated, and flushed
        at the end, once COMPRESS is on)."""
        self.transport.receive(self.deflate(data))

    def deflate(self, data: bytes) -> bytes:
        """What `send` would send for `data`: deflated and flushed once COMPRESS is on (the stream goes on
        from there), as it is before. For a test that cuts it into packets itself (`send_raw`)."""
        if self._deflater is None:
            return data
        return bytes(self._deflater.compress(data) + self._deflater.flush(zlib.Z_SYNC_FLUSH))

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are, even once COMPRESS is on (a piece of what `deflate` gave)."""
        self.transport.receive(data)

    def start_deflate(self) -> None:
        """The client's side of COMPRESS=DEFLATE (RFC 4978), after reading the server's OK: from here on
        both directions are raw DEFLATE."""
        self._deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._inflater = zlib.decompressobj(-15)
        self._raw, self._read = self._read, 0

    def _output(self) -> bytearray:
        """What the server has sent, as the client reads it (inflated once COMPRESS is on)."""
        if self._inflater is None:
            return self.transport.written
        written = self.transport.written
        if len(written) > self._raw:
            self._inflated += self._inflater.decompress(bytes(written[self._raw:]))
            self._raw = len(written)
        return self._inflated

    def send_eof(self) -> None:
        self.transport.receive_eof()

    @property
    def closed(self) -> bool:
        return self.transport.closing

    async def _wait(self) -> None:
        self.transport.changed.clear()
        await asyncio.wait_for(self.transport.changed.wait(), READ_TIMEOUT)

    async def line(self) -> bytes:
        """The server's next line, without its CRLF; EOFError if the server closed first."""
        while True:
            written = self._output()
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
        while len(self._output()) - self._read < count:
            if self.closed:
                raise EOFError("the server closed the connection")
            await self._wait()
        data = bytes(self._output()[self._read:self._read + count])
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
