"""One TCP connection: the shared line/literal framer every line protocol reads through.

`Connection` is an `asyncio.Protocol`. Bytes arrive in `data_received` and wait in one buffer; the
protocol's session reads them with `await read_line()`, `read_exactly(n)` or `read_some(n)`, which
return at once while buffered input remains (pipelined commands cost no event-loop round trip), and
writes with `write()` and `await drain()`.

Limits it keeps for every protocol:
- a line longer than the limit is refused without being buffered: its bytes are dropped as they arrive
  until its end, then `read_line` raises `LineTooLong`, and the session may answer and go on;
- reading pauses while the buffer holds more than it should, so a client cannot fill memory;
- waiting for input longer than the idle timeout raises `IdleTimeout`;
- on shutdown a session waiting for its next command gets `ServerShutdown`, so it can say goodbye;
- `start_tls` drops anything the client sent after the STARTTLS command and before the handshake
  (plaintext injection, CVE-2011-0411).
- `start_deflate` (IMAP COMPRESS=DEFLATE, RFC 4978) puts raw DEFLATE under both directions, above TLS.
  Input is inflated only as far as the buffer has room, so a small compressed stream cannot expand
  into unbounded memory, and reading stays paused while compressed input waits, so none piles up behind
  it; whoever waits for input comes back for each megabyte (the middle of an over-long line included),
  letting the loop turn between them. Output is flushed (Z_SYNC_FLUSH) once per loop iteration and before
  a drain.

A connection reports to its `owner` (a `ConnectionOwner`): the listener that accepted it, `Dialer` for
one we opened (`connect`: XMPP federation, SIP to other domains, cluster links), or the in-memory
transport of the tests (`net.memory`). Nothing here knows which.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from polyport import log

if TYPE_CHECKING:
    from polyport.net.framing import Framer

T = TypeVar("T")

# Write buffer sizes at which drain() waits and resumes.
WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024
# Buffered input beyond which reading pauses (at least this, or twice the line limit).
READ_PAUSE_AT = 1024 * 1024
FLUSH_AT = 64 * 1024  # queued output handed to the transport at once from this size
TLS_HANDSHAKE_TIMEOUT = 30.0
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class ConnectionClosed(Exception):
    """The peer closed the connection (or it failed) before the awaited input arrived."""


class IdleTimeout(Exception):
    """No input for the listener's idle timeout."""


class ServerShutdown(Exception):
    """The node is stopping; the session should say goodbye and return."""


class LineTooLong(Exception):
    """A line over the limit arrived; it was dropped whole. The connection is still usable."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} bytes")
        self.limit = limit


class ConnectionOwner(Protocol):
    """Who a connection reports to when it opens and when it is gone."""

    def accepted(self, conn: Connection) -> None:
        """The transport is up (for a listener: admit it and start its session, or refuse it)."""
        ...

    def released(self, conn: Connection) -> None:
        """The connection is closed, whoever closed it."""
        ...


DEFAULT_MAX_LINE = 65_536
DEFAULT_IDLE_TIMEOUT = 1800.0


class Connection(asyncio.Protocol):
    # No __dict__: ten thousand idle connections are held per node.
    __slots__ = (
        "_buffer", "_closed", "_compressed_in", "_deflater", "_discarding", "_drain_since", "_drain_waiter", "_eof",
        "_flush_scheduled", "_idle_timer", "_inflater", "_last_input", "_loop", "_pending", "_pending_size",
        "_quickack", "_reading_paused", "_scan", "_shutdown", "_too_long", "_transport", "_unanswered", "_waiter",
        "_writing_paused", "id",
        "idle_timeout", "max_line", "owner", "remote_ip", "remote_port", "task", "tls_version", "trusted",
    )

    def __init__(self, owner: ConnectionOwner, *, max_line: int = DEFAULT_MAX_LINE,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.owner = owner
        self.id = log.connection_id()
        self.max_line = max_line
        self.idle_timeout = idle_timeout
        self.remote_ip = ""
        self.remote_port = 0
        self.trusted = False
        self.tls_version: str | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._scan = 0  # bytes of the buffer already searched for a line end
        self._discarding = False  # dropping an oversized line until its end
        self._too_long = False  # a dropped line has ended: read_line must report it
        self._eof = False
        self._closed = False
        self._shutdown = False
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self.task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_input = 0.0
        self._drain_since = 0.0
        self._inflater: Any = None  # zlib decompress object once COMPRESS is on
        self._deflater: Any = None
        self._compressed_in = b""  # received, not inflated yet (waits for room in the buffer)
        self._flush_scheduled = False
        self._pending: list[bytes] = []  # written, not handed to the transport yet (see write)
        self._pending_size = 0
        self._quickack: Any = None  # the TCP socket, where Linux's TCP_QUICKACK applies (see _wait_for_input)
        self._unanswered = False  # input arrived since we last sent anything

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.remote_ip, self.remote_port = str(peer[0]), int(peer[1])
        self._note_tls(transport)
        sock = transport.get_extra_info("socket")
        if QUICKACK is not None and sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            self._quickack = sock
        self._loop = asyncio.get_running_loop()
        self._last_input = self._loop.time()
        self._idle_timer = self._loop.call_later(self.idle_timeout, self._check_idle)
        self.owner.accepted(self)

    def _check_idle(self) -> None:
        """The idle timer: one per connection, re-armed only when it fires (data_received just notes the
        time), so reading costs no timer work. A session busy with a command is never interrupted."""
        now = self._loop.time()
        drain = self._drain_waiter
        if drain is not None and not drain.done() and now - self._drain_since >= self.idle_timeout:
            self.abort()  # the client stopped reading what we send: give its slot back
            return
        quiet = now - self._last_input
        waiter = self._waiter
        if quiet >= self.idle_timeout and waiter is not None and not waiter.done():
            waiter.set_exception(IdleTimeout())
            quiet = 0.0
        elif quiet >= self.idle_timeout:
            quiet = 0.0
        if not self._closed:
            self._idle_timer = self._loop.call_later(self.idle_timeout - quiet, self._check_idle)

    def _note_tls(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls_version = ssl_object.version()

    def data_received(self, data: bytes) -> None:
        self._last_input = self._loop.time()
        self._unanswered = True
        if self._inflater is not None:
            self._compressed_in += data
            self._inflate()
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return
            self._discarding = False
            self._too_long = True
            data = data[end + 1:]
        self._buffer += data
        if len(self._buffer) > max(READ_PAUSE_AT, 2 * self.max_line) and not self._reading_paused:
            assert self._transport is not None
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._eof = True
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self.owner.released(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._drain_since = self._loop.time()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- reading --

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _consumed(self, count: int) -> None:
        del self._buffer[:count]
        self._scan = 0
        # Compressed input still waiting is inflated into the room first (_wait_for_input): reading on
        # meanwhile would pile compressed input up behind it without bound.
        if self._reading_paused and not self._compressed_in and \
                len(self._buffer) < max(READ_PAUSE_AT, 2 * self.max_line) // 2:
            self._reading_paused = False
            if self._transport is not None and not self._closed:
                self._transport.resume_reading()

    async def _wait_for_input(self) -> None:
        if self._shutdown:
            raise ServerShutdown()
        if self._compressed_in and self._inflate(wanted=True):
            if self._compressed_in:
                # More waits behind this megabyte: let other connections run before the caller comes
                # back for it (a few kilobytes of DEFLATE inflate to hundreds of megabytes).
                await asyncio.sleep(0)
            return
        if self._eof:
            raise ConnectionClosed()
        if self._reading_paused and self._transport is not None:
            # The caller needs more than the buffer holds (a large literal): let more in.
            self._reading_paused = False
            self._transport.resume_reading()
        if self._unanswered and self._quickack is not None:
            # Waiting for the rest of what the client is sending (a literal's next line, a command split
            # across segments) with nothing of ours to carry the ACK: acknowledge now. A client that
            # writes a literal and its line end in two writes (Python's imaplib) has Nagle hold the
            # second until the first is acknowledged, and Linux delays that ACK by 40 ms: every such
            # APPEND took 44 ms instead of 0.9 (Dovecot sets TCP_QUICKACK before every read).
            self._unanswered = False
            try:
                self._quickack.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                self._quickack = None
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def has_buffered_input(self) -> bool:
        return bool(self._buffer) or bool(self._compressed_in)

    def line_ready(self) -> bool:
        """Whether read_line would answer without waiting: a line is buffered, or a too-long one (which
        read_line then drops unbuffered, so a client waiting in IDLE cannot pile up input)."""
        if self._too_long or self._buffer.find(b"\n", self._scan) >= 0:
            return True
        self._scan = len(self._buffer)
        return len(self._buffer) > self.max_line + 2

    async def wait_for_input_or(self, other: asyncio.Future[Any] | None) -> None:
        """Wait for more input, or until `other` is done: an IMAP session in IDLE waits for the client and
        for changes at once, without a task for each (an idle connection should cost little memory).
        Raises like the reads do (closed, idle timeout, shutdown)."""
        if other is None:
            await self._wait_for_input()
            return
        if other.done():
            return

        def wake(_: asyncio.Future[Any]) -> None:
            self._wake()

        other.add_done_callback(wake)
        try:
            await self._wait_for_input()
        finally:
            other.remove_done_callback(wake)

    async def read_line(self, limit: int | None = None) -> bytes:
        """The next line, with its line end (CRLF or a bare LF: the protocol decides what to accept)."""
        limit = limit or self.max_line
        while True:
            if self._too_long:
                self._too_long = False
                raise LineTooLong(limit)
            end = self._buffer.find(b"\n", self._scan)
            if end >= 0:
                if end + 1 > limit + 2:
                    self._consumed(end + 1)
                    raise LineTooLong(limit)
                line = bytes(self._buffer[:end + 1])
                self._consumed(end + 1)
                return line
            self._scan = len(self._buffer)
            if len(self._buffer) > limit + 2:
                # Too long already: drop what we have and the rest of the line as it arrives.
                self._buffer.clear()
                self._scan = 0
                self._discarding = True
                self._consumed(0)
            await self._wait_for_input()

    async def read_exactly(self, count: int) -> bytes:
        """Exactly `count` bytes (a literal whose size the protocol already accepted). Taken out of the
        buffer as it arrives, so a literal larger than the buffer's room flows in (compressed input is
        only inflated into free room)."""
        if count <= len(self._buffer):
            data = bytes(self._buffer[:count])
            self._consumed(count)
            return data
        target = bytearray()
        await self.read_into(target, count)
        return bytes(target)

    async def read_into(self, target: bytearray, count: int) -> None:
        """Append exactly `count` bytes to `target` as they arrive. A message-sized literal is copied a
        piece at a time, between turns of the loop, instead of gathered and joined at its end (50 MB
        joined is 25-35 ms of the loop for each copy, most of it faulting fresh pages in)."""
        remaining = count
        while remaining:
            if not self._buffer:
                await self._wait_for_input()
                continue
            take = min(remaining, len(self._buffer))
            with memoryview(self._buffer) as view:  # released before _consumed resizes the buffer
                target += view[:take]
            self._consumed(take)
            remaining -= take

    async def discard(self, count: int) -> None:
        """Read `count` bytes into nothing (a literal or chunk refused after the client sent it anyway):
        taken from the buffer as they arrive, never held."""
        remaining = count
        while remaining:
            if not self._buffer:
                await self._wait_for_input()
                continue
            take = min(remaining, len(self._buffer))
            self._consumed(take)
            remaining -= take

    async def read_some(self, most: int) -> bytes:
        """Between 1 and `most` bytes, for streaming large transfers."""
        while not self._buffer:
            await self._wait_for_input()
        data = bytes(self._buffer[:most])
        self._consumed(len(data))
        return data

    async def read_frame(self, framer: Framer[T]) -> T:
        """The next frame of a protocol that does not speak in lines (XMPP's XML, LDAP's BER, XIMSS's NUL,
        SIP over TCP, DNS over TCP), through one of `net.framing`'s pure framers. Input waits in this buffer
        (reading pauses while it holds too much, as for lines) until the session asks for a frame; then it
        goes to the framer, whose limit bounds what it keeps. The framer's FrameTooLarge and FrameError
        pass to the session, which knows whether the stream can go on; a peer that closes between frames
        is ConnectionClosed."""
        while True:
            frame = framer.next_frame()
            if frame is not None:
                return frame
            if self._buffer:
                framer.feed(bytes(self._buffer))
                self._consumed(len(self._buffer))
                continue
            if self._eof and not self._compressed_in:
                framer.eof()
                frame = framer.next_frame()
                if frame is not None:
                    return frame
                raise ConnectionClosed()
            await self._wait_for_input()

    def unread(self, data: bytes) -> None:
        """Put back input read past the end of what the protocol wanted (what followed SMTP's end of DATA
        in the same packet: the client's next, pipelined, command)."""
        if data:
            self._buffer[:0] = data
            self._scan = 0

    # -- writing --

    def write(self, data: bytes) -> None:
        """Queue `data`; what a session writes in one step of the loop goes out in one send (a FETCH of a
        hundred messages is one system call, not a hundred), at the latest when the loop next turns."""
        if self._transport is None or self._closed:
            return
        if len(data) >= FLUSH_AT and self._deflater is None:
            self._flush()  # a large body goes to the transport as it is, not copied into a join
            self._transport.write(data)
            self._unanswered = False
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= FLUSH_AT:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self._pending_size = 0
        if self._transport is None or self._closed:
            return
        if self._deflater is not None:
            data = self._deflater.compress(data) + self._deflater.flush(zlib.Z_SYNC_FLUSH)
        self._transport.write(data)
        self._unanswered = False  # what we send carries the ACK

    def unsent(self) -> int:
        """Bytes written and not yet taken by the peer's socket (queued here and in the transport)."""
        transport = self._transport
        waiting = transport.get_write_buffer_size() if isinstance(transport, asyncio.WriteTransport) else 0
        return self._pending_size + waiting

    @property
    def writing_paused(self) -> bool:
        """The peer is not reading: the transport holds more than its high-water mark of our output."""
        return self._writing_paused

    async def drain(self) -> None:
        if self._closed:
            raise ConnectionClosed()
        self._flush()
        if self._writing_paused:
            self._drain_since = self._loop.time()
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
            if self._closed:
                raise ConnectionClosed()

    def close(self) -> None:
        """Close after what was written has been sent (cut after the idle timeout if the client never
        reads it)."""
        if self._transport is not None and not self._transport.is_closing():
            self._flush()
            self._transport.close()
            # The idle timer's slot holds the cut-off, so connection_lost cancels it and nothing outlives
            # the connection.
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            self._idle_timer = self._loop.call_later(self.idle_timeout, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self._closed:
            self.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- TLS --

    @property
    def tls(self) -> bool:
        return self.tls_version is not None

    @property
    def cipher(self) -> str | None:
        """The TLS cipher suite's name, for trace headers."""
        if self._transport is None or self.tls_version is None:
            return None
        cipher = self._transport.get_extra_info("cipher")
        return str(cipher[0]) if cipher else None

    def peer_certificate(self) -> dict[str, Any] | None:
        """The client's certificate as ssl checked it (a context that asks for one), else None."""
        if self._transport is None or self.tls_version is None:
            return None
        certificate = self._transport.get_extra_info("peercert")
        return certificate if isinstance(certificate, dict) and certificate else None

    async def start_tls(self, context: ssl.SSLContext, *, server_side: bool = True,
                        server_hostname: str | None = None) -> int:
        """Upgrade to TLS (as the server, or as the client of an outbound connection with the name its
        certificate must carry); returns how many plaintext bytes sent early were dropped."""
        assert self._transport is not None
        self._flush()  # the answer inviting the handshake goes out in plaintext
        dropped = len(self._buffer)
        self._buffer.clear()
        self._scan = 0
        self._too_long = self._discarding = False
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self._transport, self, context, server_side=server_side,
                                             server_hostname=None if server_side else server_hostname,
                                             ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as err:
            self.abort()
            # The cause stays: a client may try again differently when the certificate did not check.
            raise ConnectionClosed(f"TLS handshake failed: {err}") from err
        if transport is None:
            raise ConnectionClosed("TLS handshake failed")
        self._transport = transport
        self._note_tls(transport)
        return dropped

    # -- compression (RFC 4978) --

    @property
    def compressed(self) -> bool:
        return self._deflater is not None

    def start_deflate(self) -> int:
        """From now on, both directions are raw DEFLATE (RFC 1951). The protocol calls this just after
        writing its last uncompressed answer. Input already buffered was sent before the client could
        have seen that answer, so it is dropped, as with STARTTLS; returns how many bytes that was."""
        assert self._deflater is None
        self._flush()  # the last uncompressed answer goes out as it is
        dropped = len(self._buffer)
        self._buffer.clear()
        self._scan = 0
        self._too_long = self._discarding = False
        self._deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._inflater = zlib.decompressobj(-15)
        return dropped

    def _inflate(self, *, wanted: bool = False) -> bool:
        """Inflate waiting input into the buffer as far as it has room (`wanted`: a reader needs more than
        the buffer holds, so at least FLUSH_AT more, as reading resumes past the pause without
        compression); whether anything was inflated. While compressed input waits, reading stays paused
        (_wait_for_input resumes it once none waits). A stream that is not DEFLATE ends the connection."""
        room = max(READ_PAUSE_AT, 2 * self.max_line) - len(self._buffer)
        if wanted:
            room = max(room, FLUSH_AT)
        data = b""
        if room > 0 and self._compressed_in:
            try:
                data = self._inflater.decompress(self._compressed_in, room)
            except zlib.error:
                self._compressed_in = b""
                self.abort()
                return False
            self._compressed_in = self._inflater.unconsumed_tail
        if self._compressed_in and not self._reading_paused and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
        if data:
            self._received(data)
            if self._compressed_in:
                # Whoever waits for input must come back for the rest, reading being paused, even when
                # these bytes woke no one (they were the middle of an over-long line, dropped).
                self._wake()
        return bool(data)

    # -- life cycle --

    def shut_down(self) -> None:
        """The node is stopping: a session waiting for input gets ServerShutdown now, others next read."""
        self._shutdown = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ServerShutdown())


class Dialer:
    """The owner of one connection we open ourselves: it only learns when the transport is up."""

    def __init__(self) -> None:
        self.ready: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    def accepted(self, conn: Connection) -> None:
        if not self.ready.done():
            self.ready.set_result(conn)

    def released(self, conn: Connection) -> None:
        pass


async def connect(host: str, port: int, *, context: ssl.SSLContext | None = None, server_hostname: str | None = None,
                  max_line: int = DEFAULT_MAX_LINE, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                  connect_timeout: float = 30.0) -> Connection:
    """An outbound connection read through the same framer and limits as an accepted one (implicit TLS
    with `context`; STARTTLS later with `start_tls(..., server_side=False)`). OSError and TimeoutError
    pass to the caller, which knows what a failed attempt means for it (retry, next MX, a bounce)."""
    loop = asyncio.get_running_loop()
    dialer = Dialer()
    async with asyncio.timeout(connect_timeout):
        await loop.create_connection(
            lambda: Connection(dialer, max_line=max_line, idle_timeout=idle_timeout), host, port, ssl=context,
            server_hostname=(server_hostname or host) if context is not None else None,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if context is not None else None)
        return await dialer.ready
