"""The fuzz targets: for each wire parser and framer, a function of any bytes that runs it and checks
what it promises.

Every target checks the same contract, in its parser's terms:
- any bytes give the parser's typed result or its own typed error, never another exception (a KeyError
  or an IndexError is a bug the session answers with its internal error, or one that ends a connection);
- what a session writes from an error stays on one line: no CR or LF from the input in the messages the
  IMAP, SMTP, POP3 and CLI sessions put in their answers as they are;
- framers hold about their limit at most, give the same frames and errors however the stream is cut
  (whole, at points drawn from the input, byte by byte), and NUL and DNS-over-TCP match a model;
- the round trips that keep relays honest: SMTP DATA, dot-stuffed again, reads back as the same
  message (no smuggling); a POP3 answer ends at its last line only; CLI/API data written and read back
  is the same value; a MIME structure keeps its offsets' invariants and survives its stored form.
Time per input is bounded by the engine (run.py's `-timeout`), memory by its RSS limit and by the
framers' `buffered` checks here.

A target raises on a broken contract (AssertionError, or the parser's stray exception); returning is a
pass. `load` imports the parser only when called: a target's process loads its own parser only.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Check = Callable[[bytes], None]


@dataclass(frozen=True)
class Target:
    name: str
    load: Callable[[], Check]
    instrument: tuple[str, ...]  # modules whose coverage guides the fuzzer (prefixes)
    max_len: int = 4096  # longest input the engine makes
    timeout: int = 2  # seconds one input may take (under instrumentation, on a busy CI machine)


# -- shared checks -------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What no header field may get from the envelope: C0 and C1 controls, DEL, the line and paragraph separators.
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str | bytes, what: str = "an answer") -> None:
    """A session writes this inside one answer line: no CR or LF may come through from the input."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    assert "\r" not in text and "\n" not in text, f"{what} would span lines: {text!r}"


def no_controls(text: str | None, what: str, unsafe: re.Pattern[str] = _CONTROL) -> None:
    assert text is None or not unsafe.search(text), f"{what} holds control characters: {text!r}"


def header_safe(text: str | None, what: str) -> None:
    no_controls(text, what, _HEADER_UNSAFE)


def crlf_only(data: bytes, what: str) -> None:
    """Every line end is CRLF: no bare CR, no bare LF."""
    crlf = data.count(b"\r\n")
    assert data.count(b"\r") == crlf == data.count(b"\n"), f"{what} has a bare CR or LF: {data[:200]!r}"


def cut_points(data: bytes, count: int = 8) -> list[int]:
    """Where to cut the input, drawn from the input itself: the same input always cuts the same way."""
    if len(data) < 2:
        return []
    rng = random.Random(zlib.crc32(data))
    return sorted({rng.randrange(1, len(data)) for _ in range(rng.randrange(1, count + 1))})


def pieces(data: bytes, cuts: Iterable[int] | None = None) -> list[bytes]:
    points = [0, *(cut_points(data) if cuts is None else cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def lines_of(data: bytes) -> list[bytes]:
    """The lines a connection's line reader would hand over (each up to and with its LF)."""
    lines = data.split(b"\n")
    return [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


# -- IMAP ----------------------------------------------------------------------------------------------

def _imap() -> Check:
    from polyport.imap import wire

    tag = re.compile(r'[^\x00-\x20\x7f-\U0010ffff(){%*"\\+]+')  # RFC 9051 tag: ASTRING-CHAR but "+"

    def check(data: bytes) -> None:
        for utf8 in (False, True):
            try:
                command = wire.parse_command(data, utf8=utf8)
            except wire.ParseError as err:
                # The session writes "tag BAD message" or "* BAD message" as they are.
                one_line(err.message, "an IMAP BAD message")
                assert err.tag is None or tag.fullmatch(err.tag), err.tag
            else:
                assert isinstance(command, wire.Command), command
                assert tag.fullmatch(command.tag), command.tag
        for line in lines_of(data):
            literal = wire.literal_at_end(line)
            assert literal is None or isinstance(literal, wire.Literal)

    return check


# -- SMTP ----------------------------------------------------------------------------------------------

def _smtp() -> Check:
    from polyport.smtp import wire

    def check(data: bytes) -> None:
        for utf8 in (True, False):
            try:
                command = wire.parse_command(data, utf8=utf8)
            except wire.ParseError as err:
                reply = wire.encode(err.reply)
                assert 500 <= err.reply.code <= 599, err.reply
                assert reply.startswith(str(err.reply.code).encode() + b" ") and reply.endswith(b"\r\n")
                one_line(reply[:-2], "an SMTP reply")
                continue
            # What ends up in trace fields, Return-Path and delivery reports cannot break a header line.
            if isinstance(command, wire.Hello):
                header_safe(command.domain, "the HELO name")
            elif isinstance(command, wire.Mail):
                header_safe(command.sender, "the reverse-path")
                header_safe(command.params.envid, "ENVID")
                header_safe(command.params.auth, "AUTH=")
                assert utf8 or command.sender.isascii()
            elif isinstance(command, wire.Rcpt):
                header_safe(command.recipient, "the forward-path")
                header_safe(command.params.orcpt, "ORCPT")
                assert utf8 or command.recipient.isascii()
            elif isinstance(command, wire.Bdat):
                assert command.size >= 0
            elif isinstance(command, wire.Burl):
                # Goes to the URL parser and into log lines: one printable ASCII token.
                assert command.url and command.url.isascii() and command.url.isprintable(), command
                assert " " not in command.url, command
            else:
                assert isinstance(command, wire.Data | wire.Rset | wire.Noop | wire.Quit | wire.Vrfy | wire.Expn
                                  | wire.Help | wire.StartTls | wire.Auth), command

    return check


def _smtp_data() -> Check:
    from polyport.smtp import wire

    def read(chunks: list[bytes], limit: int) -> tuple[wire.DotReader, bytes]:
        """The DATA reader fed chunk by chunk as a session would; returns it and the input after the end."""
        reader = wire.DotReader(limit)
        for i, chunk in enumerate(chunks):
            used = reader.feed(chunk)
            assert 0 <= used <= len(chunk), (used, len(chunk))
            # Past the limit nothing more is kept (the 552 refusal does not hold the message in memory).
            assert sum(map(len, reader._body.parts)) <= limit + 3
            if reader.done:
                return reader, chunk[used:] + b"".join(chunks[i + 1:])
            assert used == len(chunk)
        return reader, b""

    def check(data: bytes) -> None:
        end = (b"\r\n" + data).find(b"\r\n.\r\n")  # only CRLF . CRLF ends the data; the start counts as CRLF
        for limit in (64, 1 << 20):
            whole, rest = read([data], limit)
            cut, cut_rest = read(pieces(data), limit)
            assert (whole.done, whole.too_big, whole.received, rest) == \
                (cut.done, cut.too_big, cut.received, cut_rest), "the DATA reader depends on how input arrives"
            assert whole.done == (end >= 0)
            if not whole.done:
                continue
            assert whole.size == cut.size == end and rest == data[end + 3:]
            # RFC 1870: the limit is on the message as stored (stuffing dots removed, line ends CRLF).
            assert whole.too_big == (len(wire.normalize(data[:end], unstuff=True)[0]) > limit)
            if whole.too_big:
                continue
            message, bare = whole.message()
            assert cut.message() == (message, bare)
            crlf_only(message, "the message as stored")
            # Relayed: dot-stuffed again and ended with CRLF . CRLF, the next hop reads the same message,
            # and nothing after it (a second message hidden in the first would be SMTP smuggling).
            expected = message if not message or message.endswith(b"\r\n") else message + b"\r\n"
            relayed = re.sub(rb"(?m)^\.", b"..", expected) + b".\r\n"
            again, after = read([relayed], 1 << 30)
            assert again.done and after == b"", "a relayed message ends before its end"
            assert again.message() == (expected, False), "a relayed message reads back differently"

    return check


# -- POP3 ----------------------------------------------------------------------------------------------

def _pop3() -> Check:
    from polyport.pop3 import wire

    def check(data: bytes) -> None:
        try:
            command = wire.parse_command(data)
        except wire.ParseError as err:
            one_line(str(err), "a POP3 -ERR")
        else:
            assert isinstance(command, wire.Command), command
            for name in ("user", "password", "digest", "mechanism"):
                no_controls(getattr(command, name, None), f"{command.name}'s {name}")
        # The same bytes as a message sent by RETR and TOP: one multi-line answer, whose end is its end.
        text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text[:-1].split(b"\n") if text.endswith(b"\n") else text.split(b"\n") if text else []
        for body_lines in (None, 0, 2):
            out = wire.message_body(data, body_lines)
            crlf_only(out, "a POP3 multi-line answer")
            assert (b"\r\n" + out).find(b"\r\n.\r\n") == len(out) - 3, "a POP3 answer ends before its end"
            sent = out[:-3].split(b"\r\n")[:-1] if len(out) > 3 else []
            unstuffed = [line[1:] if line.startswith(b".") else line for line in sent]
            if body_lines is None:
                assert unstuffed == lines, "RETR does not send the message's lines"
            else:
                blank = lines.index(b"") if b"" in lines else len(lines)
                assert unstuffed == lines[:blank + 1 + body_lines], "TOP does not send the header and n lines"

    return check


# -- CLI/API -------------------------------------------------------------------------------------------

def _cliapi() -> Check:
    from polyport.cliapi import wire

    def check(data: bytes) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return  # the session refuses the line before parsing (tested there)
        text = text.rstrip("\r\n")
        if "\0" in text:
            return  # the same
        # As the session reads a command: its name, then values until the end of the line.
        args = wire.Parser(text)
        try:
            if not args.at_end():
                args.atom()
                while not args.at_end():
                    args.value()
        except wire.DataError as err:
            one_line(str(err), "a CLI error")
        wire.Parser(text).secret()
        # One whole value: written back, it is one line that reads as the same value.
        try:
            value = wire.parse(text)
        except wire.DataError as err:
            one_line(str(err), "a CLI error")
            return
        written = wire.serialize(value)
        one_line(written, "a CLI data reply")
        assert wire.parse(written) == wire.as_read_back(value), f"{value!r} written as {written!r} reads back otherwise"

    return check


# -- HTTP forms ----------------------------------------------------------------------------------------

def _web_form() -> Check:
    """Input: the Content-Type header's value, a LF, then the request body."""
    import asyncio

    from aiohttp import web
    from aiohttp.streams import StreamReader
    from aiohttp.test_utils import make_mocked_request
    from multidict import CIMultiDict, CIMultiDictProxy

    from polyport.web import app

    loop = asyncio.new_event_loop()
    template = make_mocked_request("POST", "/login", loop=loop)  # slow to make: its mocks are reused

    class Protocol:
        """What StreamReader asks of the connection."""

        _reading_paused = False

        def pause_reading(self, **_: Any) -> None:
            pass

        def resume_reading(self, **_: Any) -> None:
            pass

    async def read(content_type: str, body: bytes, limit: int | None) -> None:
        payload = StreamReader(Protocol(), 2**16, loop=loop)  # type: ignore[arg-type]
        payload.feed_data(body)
        payload.feed_eof()
        # As aiohttp's HTTP parser hands it over: header values decoded with surrogateescape (which
        # make_mocked_request cannot encode), the body in a StreamReader.
        headers = CIMultiDictProxy(CIMultiDict({"Content-Type": content_type, "Content-Length": str(len(body))}))
        request = web.Request(template._message._replace(headers=headers), payload, template._protocol,
                              template._payload_writer, template._task, loop, client_max_size=app.FORM_LIMIT)
        try:
            form = await app.read_form(request, limit)
        except web.HTTPException as err:
            # A refusal the browser sees: malformed (400), too large (413), too slow (408). Never a 500.
            assert err.status in (400, 408, 413), err
            return
        for name, value in form.items():
            assert isinstance(name, str), name
            assert isinstance(value, str | bytes | bytearray | web.FileField), value

    def check(data: bytes) -> None:
        head, _, body = data.partition(b"\n")
        content_type = head.decode("utf-8", "surrogateescape")
        if "\r" in content_type or "\0" in content_type:
            return  # no HTTP parser hands such a header over
        for limit in (None, 1024):
            loop.run_until_complete(read(content_type, body, limit))

    return check


# -- MIME ----------------------------------------------------------------------------------------------

def _mime() -> Check:
    from polyport.mime import parse
    from polyport.mime.structure import decode, encode
    from tests.mime.tree import check_invariants

    def check(data: bytes) -> None:
        structure = parse(data)
        check_invariants(structure)
        stored = encode(structure)
        assert decode(stored) == structure
        # Stored beside every message: bounded by MAX_PARTS and the field budgets, not by the input's shape.
        assert len(stored) <= 64 * len(data) + 4096, (len(stored), len(data))

    return check


# -- framers -------------------------------------------------------------------------------------------

def drive(framer: Any, chunks: list[bytes], bound: int, frame_ok: Callable[[Any], Any]) -> list[Any]:
    """Feed the chunks, taking every ready frame after each; errors are written down in their place. After
    a fatal error the framer must raise it again and hold nothing; after each chunk it holds at most
    `bound` bytes once its frames are taken."""
    from polyport.net.framing import FrameError, FrameTooLarge

    events: list[Any] = []

    def take() -> type[Exception] | None:
        while True:
            try:
                frame = framer.next_frame()
            except FrameTooLarge as err:
                events.append(("too large", type(err).__name__, err.resumable))
                if not err.resumable:
                    return type(err)
                continue
            except FrameError as err:
                events.append(("error", type(err).__name__))
                return type(err)
            if frame is None:
                return None
            events.append(frame_ok(frame))

    fatal = None
    for chunk in chunks:
        framer.feed(chunk)
        fatal = take()
        if fatal is not None:
            break
        assert framer.buffered <= bound, f"the framer holds {framer.buffered} bytes (bound {bound})"
    else:
        framer.eof()
        fatal = take()
        if fatal is None:
            assert framer.next_frame() is None, "a frame after the end of the stream"
    if fatal is not None:
        framer.feed(b"more input")
        try:
            framer.next_frame()
        except (FrameError, FrameTooLarge) as err:
            assert type(err) is fatal, (type(err), fatal)
        else:
            raise AssertionError("a finished framer gave a frame or None instead of its error")
    return events


def _is_error(event: Any) -> bool:
    return isinstance(event, tuple) and event[0] in ("too large", "error")


def same_events(a: list[Any], b: list[Any]) -> bool:
    return a == b


def same_for_xml(a: list[Any], b: list[Any]) -> bool:
    """Where xmlstream's events may differ with the cutting, and how far:
    - it checks the bytes pending against its limit once per piece parsed (PIECE, 4 KiB; a stanza's own
      size exactly, at its end), so a limit is found within a piece of where it was passed: then whether a
      header over it still came out, and which fatal error comes first, depend on the cutting; the frames
      agree as far as both went;
    - expat holds back a token it cannot judge yet (at the end of what it was given), and the framer does
      not make it judge at the end of the stream (a stream may end between stanzas): a malformation in
      the last bytes may be reported when the input came in pieces and not when it came whole. Then the
      frames are the same and only that last error differs.
    Otherwise exactly the same."""
    if a == b:
        return True
    frames_a = [e for e in a if not _is_error(e)]
    frames_b = [e for e in b if not _is_error(e)]
    if any(e[0] == "too large" for e in a + b if _is_error(e)):
        shorter = min(len(frames_a), len(frames_b))
        return frames_a[:shorter] == frames_b[:shorter]
    endings = {tuple(a[len(frames_a):]), tuple(b[len(frames_b):])}
    return frames_a == frames_b and endings == {(), (("error", "FrameError"),)}


def split_invariant(data: bytes, make: Callable[[], Any], bound: int, frame_ok: Callable[[Any], Any],
                    byte_by_byte: int = 32, same: Callable[[list[Any], list[Any]], bool] = same_events,
                    ) -> list[Any]:
    """The same events whole, cut at points drawn from the input, and (if short) byte by byte."""
    whole = drive(make(), [data] if data else [], bound, frame_ok)
    cut = drive(make(), pieces(data), bound, frame_ok)
    assert same(whole, cut), f"frames depend on how the stream was cut: {whole} != {cut}"
    if len(data) <= byte_by_byte:
        single = drive(make(), [data[i:i + 1] for i in range(len(data))], bound, frame_ok)
        assert same(whole, single), f"frames differ when fed byte by byte: {whole} != {single}"
    return whole


def _nul() -> Check:
    from polyport.net.framing import nul

    def model(data: bytes, limit: int) -> list[Any]:
        *messages, last = data.split(b"\0")
        events: list[Any] = [("too large", "FrameTooLarge", True) if len(m) > limit else m for m in messages if m]
        if len(last) > limit:
            events.append(("too large", "FrameTooLarge", True))
        elif last:
            events.append(("error", "FrameError"))
        return events

    def check(data: bytes) -> None:
        for limit in (16, nul.DEFAULT_MAX_SIZE):
            def frame_ok(frame: bytes, limit: int = limit) -> bytes:
                assert isinstance(frame, bytes) and 0 < len(frame) <= limit and b"\0" not in frame
                return frame
            events = split_invariant(data, functools.partial(nul.NulFramer, max_size=limit), limit, frame_ok)
            assert events == model(data, limit), (events, model(data, limit))

    return check


def _dnstcp() -> Check:
    from polyport.net.framing import dnstcp

    def model(data: bytes, limit: int) -> list[Any]:
        events: list[Any] = []
        pos = 0
        while len(data) - pos >= 2:
            size = int.from_bytes(data[pos:pos + 2], "big")
            if size == 0:
                return [*events, ("error", "FrameError")]
            if size > limit:
                events.append(("too large", "FrameTooLarge", True))
            elif len(data) - pos - 2 < size:
                return [*events, ("error", "FrameError")]
            else:
                events.append(data[pos + 2:pos + 2 + size])
            pos += 2 + size
        if len(data) > pos:
            events.append(("error", "FrameError"))
        return events

    def check(data: bytes) -> None:
        for limit in (16, dnstcp.DEFAULT_MAX_SIZE):
            def frame_ok(frame: bytes, limit: int = limit) -> bytes:
                assert isinstance(frame, bytes) and 0 < len(frame) <= limit
                return frame
            events = split_invariant(data, functools.partial(dnstcp.DnsTcpFramer, max_size=limit), limit + 2,
                                     frame_ok)
            assert events == model(data, limit), (events, model(data, limit))

    return check


def _ber() -> Check:
    from polyport.net.framing import FrameError, ber

    def check(data: bytes) -> None:
        for limit in (32, ber.DEFAULT_MAX_SIZE):
            def frame_ok(tlv: ber.Tlv, limit: int = limit) -> ber.Tlv:
                assert isinstance(tlv, ber.Tlv) and len(tlv.data) == tlv.header.size <= limit
                assert ber.decode_header(tlv.data) == tlv.header
                return tlv
            split_invariant(data, functools.partial(ber.BerFramer, max_size=limit), max(limit, ber.MAX_HEADER),
                            frame_ok)
        try:
            header = ber.decode_header(data)
        except FrameError:
            return
        assert header is None or header.header_length <= ber.MAX_HEADER

    return check


def _sip() -> Check:
    from polyport.net.framing import sip

    def check(data: bytes) -> None:
        for head, body in ((64, 32), (sip.DEFAULT_MAX_HEAD, sip.DEFAULT_MAX_BODY)):
            def frame_ok(frame: Any, head: int = head, body: int = body) -> Any:
                if frame is sip.KEEPALIVE:
                    return frame
                assert isinstance(frame, sip.SipMessage), frame
                assert len(frame.head) <= head and frame.head.endswith((b"\n\n", b"\n\r\n")), frame
                assert sip.content_length(frame.head) == len(frame.body) <= body, frame
                return frame
            split_invariant(data, functools.partial(sip.SipFramer, max_head=head, max_body=body), head + body,
                            frame_ok)

    return check


def _xmlstream() -> Check:
    from xml.etree import ElementTree as ET

    from polyport.net.framing import xmlstream

    def shape(element: ET.Element[str]) -> Any:
        return (element.tag, sorted(element.attrib.items()), element.text or "", element.tail or "",
                [shape(child) for child in element])

    def depth(element: ET.Element[str]) -> int:
        return 1 + max((depth(child) for child in element), default=0)

    def check(data: bytes) -> None:
        for size, most in ((512, 4), (xmlstream.DEFAULT_MAX_SIZE, xmlstream.DEFAULT_MAX_DEPTH)):
            def frame_ok(frame: Any, size: int = size, most: int = most) -> Any:
                if isinstance(frame, xmlstream.Stanza):
                    assert len(frame.raw) <= size and frame.raw.startswith(b"<") and frame.raw.endswith(b">")
                    assert depth(frame.element) <= most - 1  # the root counts as one
                    return "stanza", frame.raw, shape(frame.element)
                if isinstance(frame, xmlstream.StreamOpen):
                    return "open", frame.tag, frame.attributes, frame.namespaces
                assert frame is xmlstream.STREAM_CLOSE, frame
                return "close"
            split_invariant(data, functools.partial(xmlstream.XmlStreamFramer, max_size=size, max_depth=most),
                            size, frame_ok, same=same_for_xml)

    return check


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("imap", _imap, ("polyport.imap.wire",)),
    Target("smtp", _smtp, ("polyport.smtp.wire", "polyport.mime.xtext")),
    Target("smtp-data", _smtp_data, ("polyport.smtp.wire",), max_len=8192),
    Target("pop3", _pop3, ("polyport.pop3.wire",)),
    Target("cliapi", _cliapi, ("polyport.cliapi.wire",)),
    Target("web-form", _web_form, ("polyport.web.app", "aiohttp.multipart", "aiohttp.web_request",
                                   "aiohttp.helpers", "aiohttp.streams"), max_len=16384),
    Target("mime", _mime, ("polyport.mime",), max_len=65536, timeout=5),
    Target("nul", _nul, ("polyport.net.framing",), max_len=2048),
    Target("ber", _ber, ("polyport.net.framing",), max_len=2048),
    Target("xmlstream", _xmlstream, ("polyport.net.framing",), max_len=8192),
    Target("sip", _sip, ("polyport.net.framing",), max_len=2048),
    Target("dnstcp", _dnstcp, ("polyport.net.framing",), max_len=2048),
)}
