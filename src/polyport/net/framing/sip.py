"""SIP messages over a stream transport (TCP, TLS): a header block ending at the first empty line, then
exactly Content-Length octets of body (RFC 3261 18.3).

Implementation notes:
- Content-Length (or its compact form `l`, RFC 3261 7.3.3) is required over a stream (RFC 3261 20.14):
  without it the message's end is unknown, so its absence is FrameError. Repeated with one value it is
  accepted, with differing values it is FrameError (a smuggling vector, as in HTTP, RFC 9112 6.3).
- Empty lines before a start line are ignored (RFC 3261 7.5), and a double CRLF there is the keepalive
  "ping" of RFC 5626 4.4.1, reported as `KEEPALIVE` so the session answers with a single CRLF ("pong").
- Bare LF is accepted wherever CRLF is expected, in line ends and in the empty line (as HTTP's RFC 9112
  2.2 lets a recipient do); the message's bytes are returned unchanged.
- A header block over `max_head` is fatal: without its Content-Length the next message cannot be found.
  A body over `max_body` is refused from its Content-Length before it is read: `BodyTooLarge` carries
  the header block (for a 413 answer, RFC 3261 21.4.11), the body is dropped as it arrives, and the
  stream goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from polyport.net.framing import FrameError, FrameTooLarge

# Kamailio holds a whole message in 64 KiB (BUF_SIZE); header blocks are far smaller in practice (Via,
# Route and Record-Route lines grow with each proxy, to a few KiB).
DEFAULT_MAX_HEAD = 16 * 1024
# Bodies are SDP, presence documents (PIDF) and short MESSAGE texts.
DEFAULT_MAX_BODY = 64 * 1024
MAX_LENGTH_DIGITS = 18  # a Content-Length longer than this is nothing that could be read

_HEAD_END = re.compile(rb"\n\r?\n")  # an empty line, with CRLF or bare LF line ends
_LINE_END = re.compile(rb"\r?\n")
_DIGITS = re.compile(rb"[0-9]+")


@dataclass(frozen=True, slots=True)
class SipMessage:
    """One message: `head` is its start line and header fields up to and including the empty line that
    ends them, `body` its Content-Length octets; `head + body` is the message as it came."""

    head: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class Keepalive:
    """A CRLF CRLF "ping" between messages (RFC 5626 4.4.1): answer with CRLF."""


KEEPALIVE = Keepalive()


class BodyTooLarge(FrameTooLarge):
    """A message whose Content-Length is over the limit. Its body is dropped as it arrives and the
    stream goes on; `head` is there to answer it (413 Request Entity Too Large)."""

    def __init__(self, limit: int, head: bytes, length: int) -> None:
        super().__init__(limit, resumable=True, size=length)
        self.head = head
        self.length = length


def content_length(head: bytes) -> int | None:
    """The Content-Length of a header block (its `l` compact form too), None when it has none.
    Raises FrameError if it is not a number or given twice with different values."""
    found: int | None = None
    lines = _LINE_END.split(head)
    # Header fields may be folded onto lines that start with white space (RFC 3261 7.3.1).
    fields: list[bytes] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip(b" \t")
        elif line:
            fields.append(line)
    for field in fields:
        name, colon, value = field.partition(b":")
        if not colon or name.rstrip(b" \t").lower() not in (b"content-length", b"l"):
            continue
        value = value.strip(b" \t")
        if not _DIGITS.fullmatch(value):
            raise FrameError("SIP: Content-Length is not a number")
        value = value.lstrip(b"0") or b"0"
        if len(value) > MAX_LENGTH_DIGITS:
            raise FrameError("SIP: Content-Length out of range")
        length = int(value)
        if found is not None and found != length:
            raise FrameError("SIP: two different Content-Length values")
        found = length
    return found


class SipFramer:
    """SIP messages (`SipMessage`) and keepalives (`KEEPALIVE`) from a stream."""

    __slots__ = ("_buffer", "_ended", "_error", "_head", "_length", "_pos", "_report", "_scan", "_skip",
                 "max_body", "max_head")

    def __init__(self, *, max_head: int = DEFAULT_MAX_HEAD, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buffer = bytearray()
        self._pos = 0  # start of what has not been returned yet
        self._scan = 0  # bytes from _pos already searched for the empty line
        self._head: bytes | None = None  # the current message's header block, once complete
        self._length = 0  # and its Content-Length
        self._skip = 0  # octets of an oversized body still to drop as they arrive
        self._report: BodyTooLarge | None = None
        self._error: FrameError | FrameTooLarge | None = None
        self._ended = False

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._pos + (len(self._head) if self._head is not None else 0)

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

    def next_frame(self) -> SipMessage | Keepalive | None:
        while True:
            if self._report is not None:
                report, self._report = self._report, None
                raise report
            if self._error is not None:
                raise self._error
            if self._head is None:
                found = self._next_head()
                if found is None or isinstance(found, Keepalive):
                    return found
                try:
                    length = content_length(found)
                except FrameError as err:
                    self._fail(err)
                if length is None:
                    self._fail(FrameError("SIP: no Content-Length, which a stream transport needs "
                                          "(RFC 3261 20.14)"))
                if length > self.max_body:
                    held = len(self._buffer) - self._pos
                    taken = min(length, held)
                    self._pos += taken
                    self._skip = length - taken
                    self._report = BodyTooLarge(self.max_body, found, length)
                    continue
                self._head, self._length = found, length
            start = self._pos
            if len(self._buffer) - start < self._length:
                if self._ended:
                    self._fail(FrameError("SIP: the stream ended inside a body"))
                return None
            head, self._head = self._head, None
            self._pos = start + self._length
            return SipMessage(head, bytes(self._buffer[start:self._pos]))

    def _next_head(self) -> bytes | Keepalive | None:
        """The next header block, a keepalive, or None until more arrives."""
        buffer = self._buffer
        while True:
            start = self._pos
            first = _empty_line(buffer, start)
            if first is None:
                break
            if not first:
                return self._read_head(start)
            second = _empty_line(buffer, start + first)
            if second is None:
                break  # one line end so far: a ping's first half, or a stray one before a message
            if second:
                self._pos = start + first + second
                return KEEPALIVE
            self._pos = start + first  # a stray line end before a start line: ignored (RFC 3261 7.5)
        return None  # (at the end of the stream, a line end or half of one is no message)

    def _read_head(self, start: int) -> bytes | None:
        buffer = self._buffer
        match = _HEAD_END.search(buffer, start + max(0, self._scan - 2))
        if match is None:
            self._scan = len(buffer) - start
            if self._scan >= self.max_head:
                # The empty line cannot end within the limit any more.
                self._fail(FrameTooLarge(self.max_head))
            if self._ended:
                self._fail(FrameError("SIP: the stream ended inside a header"))
            return None
        end = match.end()
        self._scan = 0
        if end - start > self.max_head:
            self._fail(FrameTooLarge(self.max_head, size=end - start))
        self._pos = end
        return bytes(buffer[start:end])

    def _fail(self, error: FrameError | FrameTooLarge) -> NoReturn:
        self._error = error
        self._buffer.clear()
        self._pos = self._scan = self._skip = 0
        self._head = None
        raise error

    def eof(self) -> None:
        self._ended = True


def _empty_line(buffer: bytearray, at: int) -> int | None:
    """How long the line end at `at` is (2 for CRLF, 1 for a bare LF), 0 if something else starts
    there, None if the buffer ends before that is known."""
    if at >= len(buffer):
        return None
    octet = buffer[at]
    if octet == 0x0A:
        return 1
    if octet != 0x0D:
        return 0
    if at + 1 >= len(buffer):
        return None
    return 2 if buffer[at + 1] == 0x0A else 0
