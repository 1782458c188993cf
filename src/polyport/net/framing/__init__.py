"""Pure framers: bytes in, whole frames out, for the protocols that do not speak in lines.

Each framer has the shape of h11: the connection hands it what arrived with `feed(data)` and takes
complete frames with `next_frame()` (or `frames(framer)`) until it answers None; `eof()` says the peer
closed its side. No sockets, no asyncio, no clock: a framer can be driven by a test byte by byte, and
fuzzed.

- `nul.NulFramer`: messages ending with a zero byte (CommuniGate XIMSS over TCP).
- `ber.BerFramer`: one top-level BER TLV at a time, definite lengths only (LDAP, RFC 4511 5.1);
  `ber.decode_header` reads one TLV header for the LDAP codec.
- `xmlstream.XmlStreamFramer`: an XML stream (XMPP, RFC 6120 4): the stream header, each top-level
  child (stanza) as bytes and a parsed element, the stream's end; `reset()` for stream restarts.
- `sip.SipFramer`: SIP over TCP (RFC 3261 18.3): header block, then Content-Length bytes of body;
  CRLF keepalives (RFC 5626 4.4.1).
- `dnstcp.DnsTcpFramer`: DNS over TCP (RFC 1035 4.2.2, RFC 7766): a two-byte length, then the message.

The rule they share with the line framer in `net/connection.py`: every frame has a size limit, and a frame
over it is refused before it is buffered whole. Where the stream can find its next frame without the
dropped one (a NUL ends it, a length prefix counts it), the framer drops the frame's bytes as they arrive,
raises `FrameTooLarge` once (with `resumable` true) and goes on. Where it cannot (a BER length is gone
with the frame's header; an XML parser cannot skip half an element), `FrameTooLarge` (resumable false)
or `FrameError` is fatal: the framer drops what it holds, ignores further input, raises the same error
again on every call, and the connection must close. Either way a framer holds about its limit at most
once its ready frames are taken: `buffered` says how much, so the connection can pause reading.

An error is raised in its place in the stream: frames that arrived before it come out first, and the
frames and errors a stream yields do not depend on how its bytes were split into `feed` calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class FrameTooLarge(Exception):
    """A frame over the framer's limit. `resumable`: its bytes are dropped and the stream goes on;
    otherwise the framer is finished and the connection must close."""

    def __init__(self, limit: int, *, resumable: bool = False, size: int | None = None) -> None:
        said = f" ({size} bytes)" if size is not None else ""
        super().__init__(f"frame larger than {limit} bytes{said}")
        self.limit = limit
        self.resumable = resumable
        self.size = size  # the declared size, where the framing declares one


class FrameError(Exception):
    """Framing the stream cannot recover from (a malformed length, XML that is not well-formed, a stream
    ending inside a frame). The framer is finished; the connection must close."""


class Framer(Protocol[T_co]):
    """What every framer offers the connection."""

    @property
    def buffered(self) -> int:
        """Bytes held (waiting frames included): the connection pauses reading while this is high."""
        ...

    def feed(self, data: bytes) -> None:
        """Take bytes as they arrived. Never raises: errors come out of next_frame, in stream order."""
        ...

    def next_frame(self) -> T_co | None:
        """The next complete frame, or None until more bytes arrive. Raises FrameTooLarge or FrameError
        (or the framer's own subclasses of them) where the stream has one."""
        ...

    def eof(self) -> None:
        """The peer closed its side. Frames already complete still come out; then next_frame raises
        FrameError if the stream ended inside a frame, or answers None."""
        ...


def frames(framer: Framer[T]) -> Iterator[T]:
    """Every frame ready now, in order: `for frame in frames(framer): ...`."""
    while (frame := framer.next_frame()) is not None:
        yield frame


__all__ = ["FrameError", "FrameTooLarge", "Framer", "frames"]
