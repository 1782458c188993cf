"""NUL-terminated messages (XIMSS over TCP)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.net.framing import FrameError, FrameTooLarge, frames
from polyport.net.framing.nul import NulFramer
from tests.net.framing.support import cut_points, drive, pieces, single_bytes

LIMIT = 32


def test_messages_come_out_without_their_nul() -> None:
    framer = NulFramer()
    framer.feed(b'<login id="A001" userName="u" password="p"/>\0<noop id="A002"/>\0<list')
    assert list(frames(framer)) == [b'<login id="A001" userName="u" password="p"/>', b'<noop id="A002"/>']
    assert framer.buffered == len(b"<list")
    framer.feed(b"Mailboxes/>\0")
    assert framer.next_frame() == b"<listMailboxes/>"
    assert framer.next_frame() is None
    assert framer.buffered == 0


def test_empty_messages_give_no_frame() -> None:
    framer = NulFramer()
    framer.feed(b"\0\0<a/>\0\0")
    assert list(frames(framer)) == [b"<a/>"]


def test_a_message_of_exactly_the_limit_is_taken() -> None:
    framer = NulFramer(max_size=4)
    framer.feed(b"abcd\0")
    assert framer.next_frame() == b"abcd"


def test_an_oversized_message_is_dropped_as_it_arrives_and_reported_once() -> None:
    framer = NulFramer(max_size=LIMIT)
    framer.feed(b"<ok/>\0" + b"x" * (LIMIT + 1))
    assert framer.next_frame() == b"<ok/>"
    with pytest.raises(FrameTooLarge) as err:
        framer.next_frame()
    assert err.value.resumable and err.value.limit == LIMIT
    assert framer.buffered == 0
    for _ in range(100):  # the rest of it never stays
        framer.feed(b"y" * 1000)
        assert framer.next_frame() is None
        assert framer.buffered == 0
    framer.feed(b"yyy\0<next/>\0")
    assert framer.next_frame() == b"<next/>"  # the stream goes on
    assert framer.next_frame() is None


def test_an_oversized_message_that_arrived_whole_is_reported_in_its_place() -> None:
    framer = NulFramer(max_size=LIMIT)
    framer.feed(b"<a/>\0" + b"x" * 100 + b"\0<b/>\0")
    assert framer.next_frame() == b"<a/>"
    with pytest.raises(FrameTooLarge):
        framer.next_frame()
    assert framer.next_frame() == b"<b/>"


def test_the_end_of_the_stream_inside_a_message_is_an_error() -> None:
    framer = NulFramer()
    framer.feed(b"<a/>\0<b")
    framer.eof()
    assert framer.next_frame() == b"<a/>"
    with pytest.raises(FrameError):
        framer.next_frame()


def test_the_end_of_the_stream_between_messages_is_not() -> None:
    framer = NulFramer()
    framer.feed(b"<a/>\0")
    framer.eof()
    assert framer.next_frame() == b"<a/>"
    assert framer.next_frame() is None
    framer.feed(b"more")  # after the end: ignored
    assert framer.buffered == 0


def test_the_end_of_the_stream_inside_a_dropped_message_was_reported_already() -> None:
    framer = NulFramer(max_size=4)
    framer.feed(b"xxxxxxxx")
    with pytest.raises(FrameTooLarge):
        framer.next_frame()
    framer.eof()
    assert framer.next_frame() is None


# -- properties --

message = st.binary(max_size=LIMIT + 8).map(lambda b: b.replace(b"\0", b""))


def encode(messages: list[bytes]) -> bytes:
    """The test's writer: each message and its NUL."""
    return b"".join(m + b"\0" for m in messages)


def expected(messages: list[bytes]) -> list[object]:
    return [("error", "FrameTooLarge", True) if len(m) > LIMIT else m for m in messages if m]


@given(st.lists(message, max_size=12), cut_points)
@settings(max_examples=200, deadline=None)
def test_any_split_gives_the_same_frames(messages: list[bytes], cuts: list[int]) -> None:
    stream = encode(messages)
    whole = drive(NulFramer(max_size=LIMIT), [stream])
    assert drive(NulFramer(max_size=LIMIT), pieces(stream, cuts)) == whole
    assert drive(NulFramer(max_size=LIMIT), single_bytes(stream)) == whole


@given(st.lists(message, max_size=12))
@settings(max_examples=200, deadline=None)
def test_round_trip(messages: list[bytes]) -> None:
    assert drive(NulFramer(max_size=LIMIT), [encode(messages)]) == expected(messages)


@given(st.lists(st.binary(max_size=80), max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_framed_safely(chunks: list[bytes]) -> None:
    framer = NulFramer(max_size=LIMIT)

    def bounded() -> None:
        assert framer.buffered <= LIMIT

    drive(framer, chunks, after_feed=bounded)  # raises anything but the framer's own errors
