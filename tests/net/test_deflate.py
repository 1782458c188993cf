"""The connection's reads under COMPRESS=DEFLATE (RFC 4978), driven in memory: over-long lines, literals
read and discarded, frames, and the bound on compressed input waiting to be inflated."""

from __future__ import annotations

import asyncio
from typing import Any

from polyport.net.connection import READ_PAUSE_AT, Connection, LineTooLong
from polyport.net.framing import FrameError, FrameTooLarge
from polyport.net.framing.nul import NulFramer
from polyport.net.memory import MemoryClient

STEP = 3.0  # seconds a transcript step may take here; a session that hangs waits for the idle timeout


class DeflateHandler:
    """COMPRESS -> OK, then DEFLATE both ways; ECHO x -> x; LIT n -> reads n bytes a little at a time,
    answering GOT n; DROP n -> discards n bytes, DROPPED; LONG n -> reads a line of up to n bytes, LINE
    and its length; FRAMES -> reads NUL-ended frames (at most 1000 bytes), FRAME x for each, TOOBIG for
    an oversized one, END at the stream's end. A line over the limit: ERR too long."""

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.most_compressed_waiting = 0  # the most compressed input seen waiting, while reading a literal

    def session(self, conn: Connection) -> DeflateHandler:
        self.conn = conn
        return self

    def refusal(self, reason: Any) -> bytes:
        return b""

    async def run(self) -> None:
        conn = self.conn
        assert conn is not None
        conn.write(b"HELLO\r\n")
        while True:
            try:
                line = await conn.read_line()
            except LineTooLong:
                conn.write(b"ERR too long\r\n")
                continue
            verb, _, argument = line.rstrip(b"\r\n").partition(b" ")
            if verb == b"COMPRESS":
                conn.write(b"OK\r\n")
                conn.start_deflate()
            elif verb == b"ECHO":
                conn.write(argument + b"\r\n")
            elif verb == b"LIT":
                remaining = int(argument)
                while remaining:
                    remaining -= len(await conn.read_some(min(remaining, 65536)))
                    self.most_compressed_waiting = max(self.most_compressed_waiting, len(conn._compressed_in))
                    await asyncio.sleep(0)  # the session does something else between reads (a blob write)
                conn.write(b"GOT %s\r\n" % argument)
            elif verb == b"DROP":
                await conn.discard(int(argument))
                conn.write(b"DROPPED\r\n")
            elif verb == b"LONG":
                conn.write(b"LINE %d\r\n" % len(await conn.read_line(int(argument))))
            elif verb == b"FRAMES":
                framer = NulFramer(max_size=1000)
                while True:
                    try:
                        frame = await conn.read_frame(framer)
                    except FrameTooLarge:
                        conn.write(b"TOOBIG\r\n")
                        continue
                    except FrameError:
                        conn.write(b"END\r\n")
                        return
                    conn.write(b"FRAME " + frame + b"\r\n")
            await conn.drain()


async def compressed() -> tuple[DeflateHandler, MemoryClient]:
    handler = DeflateHandler()
    client = MemoryClient(handler)
    assert await client.line() == b"HELLO"
    assert await client.ask(b"COMPRESS") == b"OK"
    client.start_deflate()
    assert await client.ask(b"ECHO deflated") == b"deflated"
    return handler, client


async def line(client: MemoryClient) -> bytes:
    return await asyncio.wait_for(client.line(), STEP)


async def test_an_over_long_line_arriving_while_the_session_waits_is_refused_and_it_goes_on() -> None:
    """Issue 12 item 5: the line's rest arrives (deflated, many megabytes per packet) while the session
    already drops it; inflating a packet's first megabyte woke no one, and reading stayed paused with the
    rest waiting, so the session hung until the idle timeout."""
    handler, client = await compressed()
    client.send(b"ECHO " + b"A" * 3_000_000)
    await asyncio.sleep(0.01)  # the session has started dropping the line and waits for its end
    assert handler.conn is not None and handler.conn._discarding
    client.send(b"A" * 30_000_000)
    client.send(b"A" * 30_000_000 + b"\r\nECHO after\r\n")
    assert await line(client) == b"ERR too long"
    assert await line(client) == b"after"
    assert len(handler.conn._buffer) < 1000 and not handler.conn._compressed_in
    await client.close()


async def test_an_over_long_line_in_one_packet_with_the_next_command() -> None:
    _, client = await compressed()
    client.send(b"ECHO " + b"A" * 50_000_000 + b"\r\nECHO after\r\n")
    assert await line(client) == b"ERR too long"
    assert await line(client) == b"after"
    await client.close()


async def test_compressed_input_waits_in_the_socket_while_the_buffer_is_full() -> None:
    """Reading stays paused while compressed input waits to be inflated: a client cannot pile up
    compressed input (which inflates a thousandfold) behind a session that reads slowly."""
    handler, client = await compressed()
    size = 40_000_000
    client.send(b"LIT %d\r\n" % size)
    packed = client.deflate(b"\0" * size)  # cut into packets below
    segment = 2048  # about two megabytes each once inflated
    for start in range(0, len(packed), segment):
        client.send_raw(packed[start:start + segment])
    assert await line(client) == b"GOT %d" % size
    assert handler.most_compressed_waiting <= segment
    assert await client.ask(b"ECHO still here") == b"still here"
    await client.close()


async def test_a_discarded_literal_arriving_in_packets() -> None:
    _, client = await compressed()
    size = 5 * READ_PAUSE_AT + 3
    client.send(b"DROP %d\r\n" % size)
    for _ in range(5):
        client.send(b"z" * READ_PAUSE_AT)
        await asyncio.sleep(0)
    client.send(b"zzzECHO after\r\n")
    assert await line(client) == b"DROPPED"
    assert await line(client) == b"after"
    await client.close()


async def test_a_line_longer_than_the_read_pause_when_the_reader_allows_it() -> None:
    """A read whose limit is above the buffer's room inflates past the room, as reading resumes past the
    pause without compression."""
    _, client = await compressed()
    client.send(b"LONG %d\r\n" % (3 * READ_PAUSE_AT))
    client.send(b"B" * (2 * READ_PAUSE_AT + 5) + b"\r\nECHO after\r\n")
    assert await line(client) == b"LINE %d" % (2 * READ_PAUSE_AT + 7)
    assert await line(client) == b"after"
    await client.close()


async def test_frames_under_compression_skip_an_oversized_one_and_end_with_the_stream() -> None:
    _, client = await compressed()
    client.send(b"FRAMES\r\none\0")
    assert await line(client) == b"FRAME one"
    client.send(b"x" * 3_000_000)
    await asyncio.sleep(0.01)
    client.send(b"x" * 30_000_000)
    client.send(b"\0two\0thr")
    assert await line(client) == b"TOOBIG"
    assert await line(client) == b"FRAME two"
    client.send(b"ee")
    client.send_eof()
    assert await line(client) == b"END"  # the stream ended inside a frame
    await client.close()
