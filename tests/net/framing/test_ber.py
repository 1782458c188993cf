"""BER TLVs for LDAP: headers, definite lengths, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.net.framing import FrameError, FrameTooLarge, frames
from polyport.net.framing.ber import BerFramer, TagClass, Tlv, TlvHeader, decode_header
from tests.net.framing.support import cut_points, drive, pieces, single_bytes

# An anonymous simple bind, message 1 (RFC 4511 4.2): SEQUENCE { INTEGER 1, [APPLICATION 0] { INTEGER 3,
# OCTET STRING "", [0] "" } }.
BIND = bytes.fromhex("300c020101600702010304008000")
# An unbind, message 2 (RFC 4511 4.3): [APPLICATION 2] NULL.
UNBIND = bytes.fromhex("30050201024200")
LIMIT = 64


def encode(tag_class: int, constructed: bool, number: int, value: bytes, length_octets: int = 0) -> bytes:
    """The test's writer: one TLV, the tag in the long form from 31 up, the length in the short form
    unless `length_octets` asks for a long form of that many octets (non-minimal ones included)."""
    first = tag_class << 6 | (0x20 if constructed else 0)
    if number < 31:
        tag = bytes([first | number])
    else:
        digits = []
        while True:
            digits.append(number & 0x7F)
            number >>= 7
            if not number:
                break
        tag = bytes([first | 0x1F]) + bytes(d | 0x80 for d in reversed(digits[1:])) + bytes([digits[0]])
    if not length_octets and len(value) < 128:
        length = bytes([len(value)])
    else:
        count = length_octets or (len(value).bit_length() + 7) // 8
        length = bytes([0x80 | count]) + len(value).to_bytes(count, "big")
    return tag + length + value


def test_ldap_messages_come_out_whole() -> None:
    framer = BerFramer()
    framer.feed(BIND + UNBIND[:3])
    tlv = framer.next_frame()
    assert tlv == Tlv(BIND, TlvHeader(TagClass.UNIVERSAL, True, 16, 2, 12))
    assert tlv.value == BIND[2:]
    assert framer.next_frame() is None
    assert framer.buffered == 3
    framer.feed(UNBIND[3:])
    assert list(frames(framer)) == [Tlv(UNBIND, TlvHeader(TagClass.UNIVERSAL, True, 16, 2, 5))]


def test_decode_header_reads_nested_tlvs_for_the_codec() -> None:
    inner = decode_header(BIND, 2)  # messageID
    assert inner == TlvHeader(TagClass.UNIVERSAL, False, 2, 2, 1)
    op = decode_header(BIND, 2 + inner.size)
    assert op == TlvHeader(TagClass.APPLICATION, True, 0, 2, 7)
    assert decode_header(BIND, len(BIND) - 2) == TlvHeader(TagClass.CONTEXT, False, 0, 2, 0)
    assert decode_header(memoryview(BIND)[:1]) is None
    assert decode_header(b"") is None
    assert decode_header(BIND, len(BIND)) is None


def test_long_form_lengths_and_tags() -> None:
    assert decode_header(b"\x04\x81\xc8") == TlvHeader(TagClass.UNIVERSAL, False, 4, 3, 200)
    assert decode_header(b"\x04\x82\x01\x00") == TlvHeader(TagClass.UNIVERSAL, False, 4, 4, 256)
    assert decode_header(b"\x04\x84\x00\x00\x00\x05") == TlvHeader(TagClass.UNIVERSAL, False, 4, 6, 5)  # BER may
    assert decode_header(b"\x04\x83\x00\x00") is None  # length octets not all here
    assert decode_header(b"\x9f\x1f\x00") == TlvHeader(TagClass.CONTEXT, False, 31, 3, 0)
    assert decode_header(b"\xff\x81\x00\x00") == TlvHeader(TagClass.PRIVATE, True, 128, 4, 0)
    assert decode_header(b"\x7f\x87\xff\xff\x7f\x00") == TlvHeader(TagClass.APPLICATION, True, 2**24 - 1, 6, 0)
    assert decode_header(b"\x1f\x81") is None  # the tag goes on


@pytest.mark.parametrize(("header", "reason"), [
    (b"\x30\x80", "indefinite"),
    (b"\x30\xff", "0xFF"),
    (b"\x04\x85\x00\x00\x00\x00\x01", "5 octets"),
    (b"\x1f\x80\x01\x00", "leading zero"),
    (b"\x1f\x1e\x00", "below 31"),
    (b"\x1f\x81\x81\x81\x81\x01\x00", "longer than 4"),
])
def test_headers_ldap_never_sends_are_fatal(header: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_header(header)
    framer = BerFramer()
    framer.feed(BIND + header + b"\x00" * 8)
    assert framer.next_frame() is not None
    with pytest.raises(FrameError):
        framer.next_frame()
    assert framer.buffered == 0
    framer.feed(BIND)  # nothing more is read
    with pytest.raises(FrameError):
        framer.next_frame()
    assert framer.buffered == 0


def test_an_oversized_tlv_is_refused_from_its_header() -> None:
    framer = BerFramer(max_size=LIMIT)
    framer.feed(BIND + b"\x30\x84\x7f\xff\xff\xff" + b"\x02\x01")  # 2 GiB announced
    assert framer.next_frame() is not None
    with pytest.raises(FrameTooLarge) as err:
        framer.next_frame()
    assert not err.value.resumable and err.value.size == 6 + 0x7FFFFFFF
    assert framer.buffered == 0
    framer.feed(b"x" * 1000)
    assert framer.buffered == 0
    with pytest.raises(FrameTooLarge):
        framer.next_frame()


def test_the_limit_counts_the_whole_tlv() -> None:
    exactly = encode(0, True, 16, b"v" * (LIMIT - 2))
    framer = BerFramer(max_size=LIMIT)
    framer.feed(exactly)
    assert framer.next_frame() == Tlv(exactly, TlvHeader(TagClass.UNIVERSAL, True, 16, 2, LIMIT - 2))
    framer = BerFramer(max_size=LIMIT)
    framer.feed(encode(0, True, 16, b"v" * (LIMIT - 1))[:2])  # the header is enough to refuse it
    with pytest.raises(FrameTooLarge):
        framer.next_frame()


def test_the_end_of_the_stream_inside_a_message_is_an_error() -> None:
    for tail in (b"\x30", b"\x30\x82\x01", BIND[:5]):
        framer = BerFramer()
        framer.feed(UNBIND + tail)
        framer.eof()
        assert framer.next_frame() is not None
        with pytest.raises(FrameError):
            framer.next_frame()
    framer = BerFramer()
    framer.feed(UNBIND)
    framer.eof()
    assert framer.next_frame() is not None
    assert framer.next_frame() is None


# -- properties --

tlvs = st.builds(
    encode,
    st.integers(min_value=0, max_value=3),
    st.booleans(),
    st.one_of(st.integers(min_value=0, max_value=30), st.integers(min_value=31, max_value=2**28 - 1)),
    st.binary(max_size=LIMIT),
    st.sampled_from([0, 0, 0, 1, 2, 4]),
)


def expected(stream: list[bytes]) -> list[object]:
    out: list[object] = []
    for tlv in stream:
        if len(tlv) > LIMIT:
            out.append(("error", "FrameTooLarge", False))
            break
        out.append(tlv)
    return out


@given(st.lists(tlvs, max_size=10), cut_points)
@settings(max_examples=200, deadline=None)
def test_any_split_gives_the_same_frames(stream: list[bytes], cuts: list[int]) -> None:
    data = b"".join(stream)

    def raw(tlv: Tlv) -> bytes:
        assert tlv.header.size == len(tlv.data)
        assert tlv.data[tlv.header.header_length:] == tlv.value
        return tlv.data

    whole = drive(BerFramer(max_size=LIMIT), [data], normalise=raw)
    assert whole == expected(stream)  # the round trip through the test's writer
    assert drive(BerFramer(max_size=LIMIT), pieces(data, cuts), normalise=raw) == whole
    assert drive(BerFramer(max_size=LIMIT), single_bytes(data), normalise=raw) == whole


@given(st.integers(min_value=0, max_value=3), st.booleans(), st.integers(min_value=0, max_value=2**28 - 1),
       st.integers(min_value=0, max_value=2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_decode_header_reads_what_was_written(tag_class: int, constructed: bool, number: int, length: int) -> None:
    data = encode(tag_class, constructed, number, b"")
    tag = data[:-1]
    count = (length.bit_length() + 7) // 8
    header = tag + (bytes([length]) if length < 128 else bytes([0x80 | count]) + length.to_bytes(count, "big"))
    assert decode_header(header) == TlvHeader(TagClass(tag_class), constructed, number, len(header), length)
    assert decode_header(header[:-1]) is None


@given(st.lists(st.binary(max_size=40), max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_framed_safely(chunks: list[bytes]) -> None:
    framer = BerFramer(max_size=LIMIT)

    def bounded() -> None:
        assert framer.buffered <= LIMIT

    drive(framer, chunks, after_feed=bounded)
