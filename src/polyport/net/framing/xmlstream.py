"""An XML stream as XMPP sends it (RFC 6120 4): one document whose root, `<stream:stream>`, opens the
stream, whose top-level children are the stanzas, and whose end tag closes the stream.

Frames: `StreamOpen` when the root's start tag has arrived, a `Stanza` (its exact bytes and a parsed
element) for each complete top-level child, `STREAM_CLOSE` for `</stream:stream>`. Whitespace between
stanzas (the "whitespace keepalive" of RFC 6120 4.6 and 11.7) gives no frame; so does other text there.

Implementation notes:
- Parsing is expat's (`xml.parsers.expat`), fed incrementally with namespace processing; names come
  out as ElementTree's `{namespace}local`. An element tree is built for the current stanza only, never
  for the stream; a stanza's `raw` bytes inherit the stream's namespace declarations (the default one
  is usually `jabber:client`), so they can be forwarded unchanged only into a stream that has them.
- RFC 6120 11.1 forbids comments, processing instructions, DTDs and entity references other than the
  predefined ones: each is `RestrictedXml` (a `<restricted-xml/>` stream error), which also keeps entity
  expansion attacks out. Other errors from expat are `FrameError` (`<not-well-formed/>`).
- A stanza over `max_size` bytes is fatal FrameTooLarge, found as its bytes arrive, not when it ends;
  nesting deeper than `max_depth` (the root counts as 1) is `TooDeep`. Both are `<policy-violation/>`.
  An XML parser cannot skip the rest of an element, so every error ends the stream.
- Expat reparses an incomplete token (a start tag, say) each time bytes are added to it, so a peer
  trickling a long start tag an octet at a time would cost time quadratic in its length: input that
  gives expat no event for MAX_TOKEN bytes is refused.
- The stream restarts after STARTTLS and after SASL success (RFC 6120 5.4.3.3, 6.4.6): the session
  calls `reset()`, which starts a new parser. A new stream header inside the old stream (a peer
  restarting without a reset) is FrameError.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import NoReturn
from xml.etree import ElementTree as ET
from xml.parsers import expat

from polyport.net.framing import FrameError, FrameTooLarge

STREAMS_NS = "http://etherx.jabber.org/streams"
STREAM_TAG = f"{{{STREAMS_NS}}}stream"
# Prosody's default stanza limit for clients (c2s_stanza_size_limit).
DEFAULT_MAX_SIZE = 256 * 1024
DEFAULT_MAX_DEPTH = 64
MAX_TOKEN = 16 * 1024  # input without any parser event: an incomplete start tag (see above)
PIECE = 4 * 1024  # input is parsed this much at a time, so a limit is found within this much of it

# An entity reference other than the five XML predefines (expat declares no others without a DTD).
_UNDEFINED_ENTITY = expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]
# The end of a start tag whose "<" is at the match's start: ">" outside attribute values ('>' may
# appear in those). Only run on tags expat has already read whole.
_TAG_END = re.compile(rb"""<(?:[^'">]|'[^']*'|"[^"]*")*+>""")


@dataclass(frozen=True, slots=True)
class StreamOpen:
    """The stream header. `tag` is `{http://etherx.jabber.org/streams}stream` in a stream worth
    answering (the session checks: RFC 6120 4.9.3.10 invalid-namespace); `namespaces` maps each prefix
    the header declares ("" for the default namespace) to its URI."""

    tag: str
    attributes: dict[str, str]
    namespaces: dict[str, str]


@dataclass(frozen=True, slots=True)
class Stanza:
    raw: bytes
    element: ET.Element[str]


@dataclass(frozen=True, slots=True)
class StreamClose:
    """`</stream:stream>`: the peer closed the stream (RFC 6120 4.4)."""


STREAM_CLOSE = StreamClose()

XmlFrame = StreamOpen | Stanza | StreamClose


class RestrictedXml(FrameError):
    """XML that RFC 6120 11.1 forbids in a stream (comments, processing instructions, DTDs, entities)."""


class TooDeep(FrameError):
    """Elements nested deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"XML: elements nested deeper than {limit}")
        self.limit = limit


def _name(expat_name: str) -> str:
    """expat's `namespace}local` as ElementTree's `{namespace}local`."""
    return "{" + expat_name if "}" in expat_name else expat_name


def _restricted(what: str) -> NoReturn:
    raise RestrictedXml(f"XML: {what} in a stream (RFC 6120 11.1)")


class XmlStreamFramer:
    """StreamOpen, Stanza and StreamClose frames from an XML stream."""

    __slots__ = (
        "_base", "_boundary", "_depth", "_empty", "_ended", "_error", "_events", "_fed", "_frames",
        "_last", "_namespaces", "_parser", "_queued", "_quiet", "_raw", "_returned", "_root_empty", "_stack",
        "_stanza_start", "_tail", "_text", "max_depth", "max_size",
    )

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.max_size = max_size
        self.max_depth = max_depth
        self._ended = False
        self._start()

    def _start(self) -> None:
        parser = expat.ParserCreate("UTF-8", "}")  # UTF-8 whatever the declaration says (RFC 6120 11.6)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        if hasattr(parser, "SetReparseDeferralEnabled"):
            # Expat 2.6 may hold back a completed token until more input arrives (its own defence
            # against the reparsing cost above, which MAX_TOKEN bounds here); a stanza must come out
            # when its last byte does.
            parser.SetReparseDeferralEnabled(False)
        parser.StartElementHandler = self._on_start
        parser.EndElementHandler = self._on_end
        parser.CharacterDataHandler = self._on_text
        parser.StartNamespaceDeclHandler = self._on_namespace
        parser.XmlDeclHandler = self._on_declaration
        parser.StartDoctypeDeclHandler = lambda *_: _restricted("a DOCTYPE")
        parser.EntityDeclHandler = lambda *_: _restricted("an entity declaration")
        parser.UnparsedEntityDeclHandler = lambda *_: _restricted("an entity declaration")
        parser.NotationDeclHandler = lambda *_: _restricted("a notation declaration")
        parser.ExternalEntityRefHandler = lambda *_: _restricted("an external entity")
        parser.SkippedEntityHandler = lambda *_: _restricted("an entity reference")
        parser.ProcessingInstructionHandler = lambda *_: _restricted("a processing instruction")
        parser.CommentHandler = lambda *_: _restricted("a comment")
        self._parser = parser
        self._raw = bytearray()  # input from _base on: the current stanza, or what may start the next
        self._base = 0  # stream offset of _raw[0]
        self._fed = 0  # stream offset of the end of input
        self._boundary = 0  # between stanzas: where the last event was; the next "<" starts what is kept
        self._depth = 0  # 1 inside the root, 2 inside a stanza
        self._stanza_start = 0
        self._empty = False  # the current stanza is one empty-element tag (<presence/>)
        self._root_empty = False  # the root was <stream:stream .../>, with nothing in it
        self._stack: list[ET.Element[str]] = []  # the current stanza's open elements
        self._last: ET.Element[str] | None = None  # where text goes: its text, or its tail if _tail
        self._tail = False
        self._text: list[str] = []  # text not yet given to _last
        self._namespaces: dict[str, str] = {}  # declared on the root
        self._frames: deque[tuple[XmlFrame, int]] = deque()  # with the stream offset where each ends
        self._queued = 0  # bytes of stanzas in _frames
        self._returned = 0  # stream offset where the last frame returned ended
        self._events = 0
        self._quiet = 0  # input since the last parse that gave an event
        self._error: FrameError | FrameTooLarge | None = None

    @property
    def buffered(self) -> int:
        return len(self._raw) + self._queued

    def feed(self, data: bytes) -> None:
        if self._ended or self._error is not None:
            return
        for at in range(0, len(data), PIECE):
            piece = data[at:at + PIECE]
            self._raw += piece
            self._fed += len(piece)
            events = self._events
            try:
                self._parser.Parse(piece, False)
            except expat.ExpatError as err:
                kind = RestrictedXml if err.code == _UNDEFINED_ENTITY else FrameError
                self._fail(kind(f"XML: {expat.ErrorString(err.code)} (line {err.lineno})"))
                return
            except (FrameError, FrameTooLarge) as err:  # from a handler
                self._fail(err)
                return
            self._quiet = 0 if self._events != events else self._quiet + len(piece)
            if self._quiet > MAX_TOKEN:
                self._fail(FrameTooLarge(MAX_TOKEN))
                return
            if self._depth < 2:
                # Between stanzas: keep only what may be the start of the next one.
                lt = self._raw.find(b"<", max(self._boundary - self._base, 0))
                self._trim(self._fed if lt < 0 else self._base + lt)
                pending = self._fed - self._base
            else:
                pending = self._fed - self._stanza_start
            if pending > self.max_size:
                self._fail(FrameTooLarge(self.max_size))
                return

    def next_frame(self) -> XmlFrame | None:
        if self._frames:
            frame, self._returned = self._frames.popleft()
            if isinstance(frame, Stanza):
                self._queued -= len(frame.raw)
            return frame
        if self._error is not None:
            raise self._error
        if self._ended and (self._depth >= 2 or self._raw):
            self._error = FrameError("XML: the stream ended inside an element")
            self._raw.clear()
            raise self._error
        return None

    def eof(self) -> None:
        self._ended = True

    def reset(self) -> int:
        """Start a new stream (after STARTTLS or SASL success). Input not yet returned as frames is
        dropped: a peer may not send before it has the answer that restarts the stream, and input sent
        before a TLS handshake must not count after it (CVE-2011-0411). Returns how many bytes that was."""
        dropped = self._fed - self._returned
        self._start()
        return dropped

    # -- expat's handlers --

    def _on_start(self, name: str, attributes: dict[str, str]) -> None:
        self._events += 1
        depth = self._depth + 1
        if depth > self.max_depth:
            raise TooDeep(self.max_depth)
        self._flush_text()
        tag = _name(name)
        attrib = {_name(key): value for key, value in attributes.items()}
        index = self._parser.CurrentByteIndex
        if depth == 1:
            end = self._tag_end(index)
            self._root_empty = self._raw[end - self._base - 2] == ord("/")
            self._frames.append((StreamOpen(tag, attrib, self._namespaces), end))
            self._namespaces = {}
            self._boundary = end
        elif depth == 2:
            if tag == STREAM_TAG:
                raise FrameError("XML: a new stream header inside the stream (restarted without a reset)")
            self._trim(index)
            self._stanza_start = index
            self._empty = self._raw[self._tag_end(index) - self._base - 2] == ord("/")
            element = ET.Element(tag, attrib)
            self._stack = [element]
            self._last, self._tail = element, False
        else:
            element = ET.SubElement(self._stack[-1], tag, attrib)
            self._stack.append(element)
            self._last, self._tail = element, False
        self._depth = depth

    def _on_end(self, name: str) -> None:
        self._events += 1
        depth = self._depth
        self._depth = depth - 1
        if depth >= 2:
            self._flush_text()
            element = self._stack.pop()
            self._last, self._tail = element, True
        if depth == 2:
            if self._empty:
                end = self._tag_end(self._stanza_start)
            else:
                end = self._raw.index(b">", self._parser.CurrentByteIndex - self._base) + 1 + self._base
            size = end - self._stanza_start
            if size > self.max_size:
                raise FrameTooLarge(self.max_size, size=size)
            raw = bytes(self._raw[self._stanza_start - self._base:end - self._base])
            self._frames.append((Stanza(raw, element), end))
            self._queued += len(raw)
            self._last = None
            self._boundary = end
        elif depth == 1:
            if self._root_empty:
                end = self._boundary  # the end of its start tag
            else:
                end = self._raw.index(b">", self._parser.CurrentByteIndex - self._base) + 1 + self._base
            self._frames.append((STREAM_CLOSE, end))
            self._boundary = end

    def _on_text(self, data: str) -> None:
        self._events += 1
        if self._depth >= 2:
            self._text.append(data)
        else:
            self._boundary = self._parser.CurrentByteIndex  # whitespace between stanzas: dropped

    def _on_namespace(self, prefix: str | None, uri: str) -> None:
        self._events += 1
        if self._depth == 0:
            self._namespaces[prefix or ""] = uri

    def _on_declaration(self, version: str | None, encoding: str | None, standalone: int) -> None:
        self._events += 1

    # -- helpers --

    def _flush_text(self) -> None:
        """Text arrives in pieces (one per parse at least): joined once, when the next tag comes."""
        if not self._text:
            return
        text = "".join(self._text)
        self._text.clear()
        if self._last is None:
            return
        if self._tail:
            self._last.tail = text
        else:
            self._last.text = text

    def _tag_end(self, index: int) -> int:
        """Stream offset just after the start tag whose "<" is at `index`."""
        match = _TAG_END.match(self._raw, index - self._base)
        assert match is not None, "expat reported a start tag that is not whole"
        return match.end() + self._base

    def _trim(self, offset: int) -> None:
        if offset > self._base:
            del self._raw[:offset - self._base]
            self._base = offset

    def _fail(self, error: FrameError | FrameTooLarge) -> None:
        self._error = error
        self._raw.clear()
        self._base = self._fed
        self._stack.clear()
        self._text.clear()
        self._last = None
