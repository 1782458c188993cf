"""DNS over TCP: each message is preceded by its length as two octets, most significant first
(RFC 1035 4.2.2); RFC 7766 8 lets a client send several queries on one connection without waiting.

The limit is lower than the format's 65,535 by default. A query is one question and an OPT record
(with a cookie, RFC 7873, and padding to a multiple of 128 octets, RFC 8467): well under 1 KiB; TSIG
adds about a hundred octets. 16 KiB leaves room for UPDATE (RFC 2136) and NOTIFY messages while a
client that opens connections and sends only the start of a long message pins 16 KiB per connection,
not 64. Reading answers (a zone transfer, as a client) needs `max_size=MAX_MESSAGE`.

A message over the limit is skipped as it arrives (its length says where the next one starts) and
reported once as a resumable FrameTooLarge. A length of zero is no DNS message (the header alone is 12
octets): FrameError.
"""

from __future__ import annotations

from typing import NoReturn

from polyport.net.framing import FrameError, FrameTooLarge

MAX_MESSAGE = 0xFFFF  # what two octets can say
DEFAULT_MAX_SIZE = 16 * 1024


def frame(message: bytes) -> bytes:
    """`message` with its length prefix, ready to write (RFC 1035 4.2.2)."""
    if not 0 < len(message) <= MAX_MESSAGE:
        raise ValueError(f"a DNS message over TCP has 1 to {MAX_MESSAGE} octets, not {len(message)}")
    return len(message).to_bytes(2, "big") + message


class DnsTcpFramer:
    """DNS messages, as bytes without their length prefix."""

    __slots__ = ("_buffer", "_ended", "_error", "_pos", "_report", "_skip", "max_size")

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if not 0 < max_size <= MAX_MESSAGE:
            raise ValueError(f"max_size must be 1 to {MAX_MESSAGE}")
        self.max_size = max_size
        self._buffer = bytearray()
        self._pos = 0  # start of the first message not returned yet
        self._skip = 0  # octets of an oversized message still to drop as they arrive
        self._report: FrameTooLarge | None = None  # an oversized message awaits its report
        self._error: FrameError | None = None
        self._ended = False

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        if self._ended or self._error is not None or not data:
            return
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        if self._pos:
            del self._buffer[:self._pos]
            self._pos = 0
        self._buffer += data

    def next_frame(self) -> bytes | None:
        while True:
            if self._report is not None:
                report, self._report = self._report, None
                raise report
            if self._error is not None:
                raise self._error
            buffer, start = self._buffer, self._pos
            held = len(buffer) - start
            if held < 2:
                self._check_ended(held)
                return None
            size = int.from_bytes(buffer[start:start + 2], "big")
            if size == 0:
                return self._fail("a message length of zero")
            if size > self.max_size:
                # Drop what has arrived of it now, the rest in feed.
                taken = min(size, held - 2)
                self._skip = size - taken
                self._pos = start + 2 + taken
                self._report = FrameTooLarge(self.max_size, resumable=True, size=size)
                continue
            if held < 2 + size:
                self._check_ended(held)
                return None
            self._pos = start + 2 + size
            return bytes(buffer[start + 2:self._pos])

    def _check_ended(self, held: int) -> None:
        if self._ended and held:  # (an oversized message cut short was reported already)
            self._fail("the stream ended inside a message")

    def _fail(self, reason: str) -> NoReturn:
        self._error = FrameError(reason)
        self._buffer.clear()
        self._pos = self._skip = 0
        raise self._error

    def eof(self) -> None:
        self._ended = True
