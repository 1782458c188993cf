"""NUL-terminated messages: CommuniGate XIMSS over a TCP connection, where each XML request and
response ends with a zero byte (the XIMSS protocol description, "TCP/TLS connections").

A message over the limit is dropped as it arrives, up to its NUL, and reported once as a resumable
FrameTooLarge; the stream goes on with the next message, as `net/connection.py` does for long lines.
"""

from __future__ import annotations

from polyport.net.framing import FrameError, FrameTooLarge

# A client's XIMSS requests are small XML elements. 256 KiB, Prosody's default stanza limit for XMPP
# clients (a protocol of the same kind), leaves room for a composed message; a session may change it.
DEFAULT_MAX_SIZE = 256 * 1024


class NulFramer:
    """Messages without their NUL, as bytes. An empty message (two NULs in a row) carries nothing and
    gives no frame."""

    __slots__ = ("_buffer", "_dropping", "_ended", "_pos", "_report", "_scan", "max_size")

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size  # may be changed between frames (after a login, say)
        self._buffer = bytearray()
        self._pos = 0  # start of the first message not returned yet
        self._scan = 0  # bytes from _pos already searched for a NUL
        self._dropping = False  # inside an oversized message: its bytes are not kept
        self._report = False  # an oversized message awaits its FrameTooLarge
        self._ended = False

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        if self._ended or not data:
            return
        if self._dropping:
            end = data.find(b"\0")
            if end < 0:
                return
            self._dropping = False
            data = data[end + 1:]
        if self._pos:
            # Returned messages leave the buffer once per feed, not once per message.
            del self._buffer[:self._pos]
            self._pos = 0
        self._buffer += data

    def next_frame(self) -> bytes | None:
        while True:
            if self._report:
                self._report = False
                raise FrameTooLarge(self.max_size, resumable=True)
            if self._dropping:
                return None
            buffer, start = self._buffer, self._pos
            end = buffer.find(b"\0", start + self._scan)
            if end < 0:
                self._scan = len(buffer) - start
                if self._scan > self.max_size:
                    # Too long already: keep none of it, nor the rest as it arrives.
                    del buffer[start:]
                    self._scan = 0
                    self._dropping = True
                    self._report = True
                    continue
                if self._ended and self._scan:
                    raise FrameError("the stream ended inside a message")
                return None
            self._pos = end + 1
            self._scan = 0
            if end - start > self.max_size:
                self._report = True
                continue
            if end > start:
                return bytes(buffer[start:end])

    def eof(self) -> None:
        self._ended = True
        self._dropping = False  # a message being dropped ends here; it was reported already
