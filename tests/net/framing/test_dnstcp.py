"""DNS over TCP: two-octet length prefixes."""

from __future__ import annotations

import dns.message
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.net.framing import FrameError, FrameTooLarge, frames
from polyport.net.framing.dnstcp import DEFAULT_MAX_SIZE, MAX_MESSAGE, DnsTcpFramer, frame
from tests.net.framing.support import cut_points, drive, pieces, single_bytes

LIMIT = 40


def test_pipelined_queries_come_out_one_by_one() -> None:
    """RFC 7766 6.2.1.1: a client may send several queries before reading any answer."""
    first = dns.message.make_query("example.com.", "MX").to_wire()
    second = dns.message.make_query("example.com.", "TXT").to_wire()
    framer = DnsTcpFramer()
    framer.feed(frame(first) + frame(second)[:5])
    assert list(frames(framer)) == [first]
    assert framer.buffered == 5
    framer.feed(frame(second)[5:])
    assert framer.next_frame() == second
    assert dns.message.from_wire(second).question[0].rdtype == dns.rdatatype.TXT
    assert framer.buffered == 0


def test_the_length_may_arrive_an_octet_at_a_time() -> None:
    framer = DnsTcpFramer()
    framer.feed(b"\x00")
    assert framer.next_frame() is None
    framer.feed(b"\x03ab")
    assert framer.next_frame() is None
    framer.feed(b"c")
    assert framer.next_frame() == b"abc"


def test_frame_writes_the_length() -> None:
    assert frame(b"abc") == b"\x00\x03abc"
    assert frame(b"x" * 300)[:2] == b"\x01\x2c"
    assert len(frame(b"x" * MAX_MESSAGE)) == MAX_MESSAGE + 2
    with pytest.raises(ValueError):
        frame(b"")
    with pytest.raises(ValueError):
        frame(b"x" * (MAX_MESSAGE + 1))


def test_the_default_limit_is_below_the_format_s() -> None:
    assert DEFAULT_MAX_SIZE == 16 * 1024
    framer = DnsTcpFramer(max_size=MAX_MESSAGE)  # for reading answers
    framer.feed(frame(b"y" * MAX_MESSAGE))
    assert framer.next_frame() == b"y" * MAX_MESSAGE
    with pytest.raises(ValueError):
        DnsTcpFramer(max_size=MAX_MESSAGE + 1)


def test_a_zero_length_is_fatal() -> None:
    framer = DnsTcpFramer()
    framer.feed(frame(b"ok") + b"\x00\x00" + frame(b"later"))
    assert framer.next_frame() == b"ok"
    with pytest.raises(FrameError):
        framer.next_frame()
    assert framer.buffered == 0
    framer.feed(frame(b"more"))  # ignored from now on
    with pytest.raises(FrameError):
        framer.next_frame()
    assert framer.buffered == 0


def test_an_oversized_message_is_skipped_from_its_length() -> None:
    framer = DnsTcpFramer(max_size=LIMIT)
    framer.feed(b"\x10\x00" + b"z" * 10)  # 4096 octets announced
    with pytest.raises(FrameTooLarge) as err:
        framer.next_frame()
    assert err.value.resumable and err.value.size == 4096 and err.value.limit == LIMIT
    assert framer.buffered == 0
    for _ in range(4):
        framer.feed(b"z" * 1000)
        assert framer.next_frame() is None
        assert framer.buffered == 0
    framer.feed(b"z" * 86 + frame(b"next"))  # the last of it, then the next message
    assert framer.next_frame() == b"next"


def test_the_end_of_the_stream_inside_a_message_is_an_error() -> None:
    for tail in (b"\x00", b"\x00\x05ab"):
        framer = DnsTcpFramer()
        framer.feed(frame(b"whole") + tail)
        framer.eof()
        assert framer.next_frame() == b"whole"
        with pytest.raises(FrameError):
            framer.next_frame()
    framer = DnsTcpFramer()
    framer.eof()
    assert framer.next_frame() is None


# -- properties --

messages = st.lists(st.binary(min_size=1, max_size=LIMIT + 10), max_size=10)


def expected(stream: list[bytes]) -> list[object]:
    return [("error", "FrameTooLarge", True) if len(m) > LIMIT else m for m in stream]


@given(messages, cut_points)
@settings(max_examples=200, deadline=None)
def test_any_split_gives_the_same_frames(stream: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frame(m) for m in stream)
    whole = drive(DnsTcpFramer(max_size=LIMIT), [data])
    assert whole == expected(stream)  # the round trip through frame()
    assert drive(DnsTcpFramer(max_size=LIMIT), pieces(data, cuts)) == whole
    assert drive(DnsTcpFramer(max_size=LIMIT), single_bytes(data)) == whole


@given(st.lists(st.binary(max_size=80), max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_framed_safely(chunks: list[bytes]) -> None:
    framer = DnsTcpFramer(max_size=LIMIT)

    def bounded() -> None:
        assert framer.buffered <= LIMIT + 2

    drive(framer, chunks, after_feed=bounded)
