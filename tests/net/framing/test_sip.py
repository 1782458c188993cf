"""SIP over a stream: header blocks, Content-Length bodies, keepalives."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.net.framing import FrameError, FrameTooLarge, frames
from polyport.net.framing.sip import KEEPALIVE, BodyTooLarge, SipFramer, SipMessage, content_length
from tests.net.framing.support import cut_points, drive, pieces, single_bytes

OPTIONS = (b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
           b"Via: SIP/2.0/TCP client.example.org;branch=z9hG4bKhjhs8ass877\r\n"
           b"Max-Forwards: 70\r\n"
           b"To: <sip:bob@example.com>\r\n"
           b"From: Alice <sip:alice@example.org>;tag=1928301774\r\n"
           b"Call-ID: a84b4c76e66710\r\n"
           b"CSeq: 63104 OPTIONS\r\n"
           b"Content-Length: 0\r\n"
           b"\r\n")
SDP = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 client.example.org\r\ns=-\r\n"
INVITE_HEAD = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
               b"Call-ID: 3848276298220188511@client.example.org\r\n"
               b"Content-Type: application/sdp\r\n"
               b"l: " + str(len(SDP)).encode() + b"\r\n"
               b"\r\n")
MAX_HEAD = 200
MAX_BODY = 50


def test_messages_come_out_as_head_and_body() -> None:
    framer = SipFramer()
    framer.feed(OPTIONS + INVITE_HEAD + SDP[:10])
    assert list(frames(framer)) == [SipMessage(OPTIONS, b"")]
    assert framer.buffered == len(INVITE_HEAD) + 10
    framer.feed(SDP[10:])
    assert framer.next_frame() == SipMessage(INVITE_HEAD, SDP)  # `l`, the compact form
    assert framer.next_frame() is None
    assert framer.buffered == 0


def test_keepalives_and_stray_line_ends() -> None:
    """RFC 5626 4.4.1: CRLF CRLF is a ping; RFC 3261 7.5: other line ends before a start line are ignored."""
    framer = SipFramer()
    framer.feed(b"\r\n\r\n" + b"\r\n" + OPTIONS + b"\r\n\r\n\r\n\r\n" + b"\n\n")
    assert list(frames(framer)) == [KEEPALIVE, SipMessage(OPTIONS, b""), KEEPALIVE, KEEPALIVE, KEEPALIVE]
    framer.feed(b"\r\n")  # half a ping, or a stray line end: wait and see
    assert framer.next_frame() is None
    framer.feed(b"\r")
    assert framer.next_frame() is None
    framer.feed(b"\n")
    assert framer.next_frame() is KEEPALIVE
    framer.feed(b"\r\n")
    framer.eof()  # a line end at the end of the stream is no truncated message
    assert framer.next_frame() is None


def test_bare_lf_line_ends_are_accepted_and_kept() -> None:
    message = b"SIP/2.0 200 OK\nCall-ID: x\ncontent-length : 3\n\nabc"
    framer = SipFramer()
    framer.feed(message)
    assert framer.next_frame() == SipMessage(message[:-3], b"abc")


def test_content_length_rules() -> None:
    assert content_length(b"REGISTER sip:x SIP/2.0\r\nContent-Length: 12\r\n\r\n") == 12
    assert content_length(b"REGISTER sip:x SIP/2.0\r\nCONTENT-LENGTH:\t007 \r\n\r\n") == 7
    assert content_length(b"REGISTER sip:x SIP/2.0\r\nL: 1\r\nContent-Length: 1\r\n\r\n") == 1  # same value twice
    assert content_length(b"REGISTER sip:x SIP/2.0\r\nContent-Length:\r\n  5\r\n\r\n") == 5  # folded
    assert content_length(b"REGISTER sip:x SIP/2.0\r\nContent-Type: text/plain\r\n\r\n") is None
    # The start line is not a header field, whatever it says.
    assert content_length(b"l: 5\r\nContent-Length: 1\r\n\r\n") == 1
    for bad in (b"Content-Length: 1, 2", b"Content-Length: -1", b"Content-Length: 0x10", b"l: ",
                b"Content-Length: 1\r\nl: 2", b"Content-Length: " + b"9" * 40, b"Content-Length: 1" + b"0" * 5000):
        with pytest.raises(FrameError):
            content_length(b"MESSAGE sip:x SIP/2.0\r\n" + bad + b"\r\n\r\n")
    assert content_length(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: " + b"0" * 5000 + b"4\r\n\r\n") == 4


@pytest.mark.parametrize("head", [
    b"MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: 1\r\n\r\n",  # no Content-Length over TCP
    b"MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\n",  # two different ones
    b"MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: two\r\n\r\n",
])
def test_messages_whose_end_is_unknown_are_fatal(head: bytes) -> None:
    framer = SipFramer()
    framer.feed(OPTIONS + head + b"hello" + OPTIONS)
    assert framer.next_frame() == SipMessage(OPTIONS, b"")
    with pytest.raises(FrameError):
        framer.next_frame()
    assert framer.buffered == 0
    framer.feed(OPTIONS)
    with pytest.raises(FrameError):
        framer.next_frame()


def test_a_header_block_over_its_limit_is_fatal_before_it_ends() -> None:
    framer = SipFramer(max_head=MAX_HEAD)
    framer.feed(b"INVITE sip:x SIP/2.0\r\n")
    for _ in range(8):
        framer.feed(b"Via: SIP/2.0/TCP relay.example.net;branch=z9hG4bK776asdhds\r\n")
        if framer.buffered > MAX_HEAD:
            break
    with pytest.raises(FrameTooLarge) as err:
        framer.next_frame()
    assert not err.value.resumable and err.value.limit == MAX_HEAD
    assert framer.buffered == 0


def test_a_body_over_its_limit_is_skipped_and_the_head_kept_for_the_answer() -> None:
    head = b"MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: big\r\nContent-Length: 1000\r\n\r\n"
    framer = SipFramer(max_body=MAX_BODY)
    framer.feed(head + b"x" * 10)
    with pytest.raises(BodyTooLarge) as err:
        framer.next_frame()
    assert err.value.resumable and err.value.head == head and err.value.length == 1000
    assert isinstance(err.value, FrameTooLarge) and err.value.limit == MAX_BODY
    assert framer.buffered == 0
    framer.feed(b"x" * 900)
    assert framer.next_frame() is None and framer.buffered == 0
    framer.feed(b"x" * 90 + OPTIONS)
    assert framer.next_frame() == SipMessage(OPTIONS, b"")  # the stream goes on


def test_the_end_of_the_stream_inside_a_message_is_an_error() -> None:
    for tail in (b"INVITE sip:x SIP/2.0\r\n", INVITE_HEAD, INVITE_HEAD + SDP[:-1]):
        framer = SipFramer()
        framer.feed(OPTIONS + tail)
        framer.eof()
        assert framer.next_frame() == SipMessage(OPTIONS, b"")
        with pytest.raises(FrameError):
            framer.next_frame()


# -- properties --

@dataclass(frozen=True)
class Item:
    """One thing a peer sends: a keepalive (head None) or a message, maybe after a stray line end."""

    head: bytes | None
    body: bytes = b""
    stray: bytes = b""

    def encode(self) -> bytes:
        if self.head is None:
            return b"\r\n\r\n"
        return self.stray + self.head + self.body


@st.composite
def items(draw: st.DrawFn) -> Item:
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        return Item(None)
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    body = draw(st.binary(max_size=MAX_BODY + 10))
    start = draw(st.sampled_from([b"INVITE sip:bob@example.com SIP/2.0", b"SIP/2.0 180 Ringing", b"BYE sip:a SIP/2.0"]))
    value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(str.encode)
    fields = draw(st.lists(st.tuples(st.sampled_from([b"Via", b"Call-ID", b"CSeq", b"To", b"f"]), value),
                           max_size=3))
    name = draw(st.sampled_from([b"Content-Length", b"content-length", b"l", b"L"]))
    fields.insert(draw(st.integers(min_value=0, max_value=len(fields))),
                  (name + draw(st.sampled_from([b"", b" "])), b" " + str(len(body)).encode()))
    head = start + eol + b"".join(n + b":" + v + eol for n, v in fields) + eol
    return Item(head, body, draw(st.sampled_from([b"", b"", b"\r\n", b"\n"])))


def expected(stream: list[Item]) -> list[object]:
    out: list[object] = []
    for item in stream:
        if item.head is None:
            out.append(KEEPALIVE)
        elif len(item.body) > MAX_BODY:
            out.append(("error", "BodyTooLarge", True))
        else:
            out.append(SipMessage(item.head, item.body))
    return out


@given(st.lists(items(), max_size=8), cut_points)
@settings(max_examples=200, deadline=None)
def test_any_split_gives_the_same_frames(stream: list[Item], cuts: list[int]) -> None:
    data = b"".join(item.encode() for item in stream)

    def framer() -> SipFramer:
        return SipFramer(max_head=MAX_HEAD, max_body=MAX_BODY)

    whole = drive(framer(), [data])
    assert whole == expected(stream)  # the round trip through the test's writer
    assert drive(framer(), pieces(data, cuts)) == whole
    assert drive(framer(), single_bytes(data)) == whole


@given(st.lists(st.one_of(st.binary(max_size=60), st.sampled_from([b"\r\n", b"\r\n\r\n", b"l: 5\r\n", OPTIONS])),
                max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_framed_safely(chunks: list[bytes]) -> None:
    framer = SipFramer(max_head=MAX_HEAD, max_body=MAX_BODY)

    def bounded() -> None:
        assert framer.buffered <= MAX_HEAD + MAX_BODY

    drive(framer, chunks, after_feed=bounded)
