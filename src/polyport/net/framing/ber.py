"""BER TLVs as LDAP sends them: each LDAPMessage is one top-level TLV (RFC 4511 5.1), and only the
definite form of length is used, so a TLV's size is known from its first few octets.

Implementation notes:
- Identifier octets (X.690 8.1.2): class, primitive or constructed, and a tag number, in one octet or,
  for numbers from 31 up, in base-128 octets after it (at most 4 here: LDAP's tags are small).
- Length octets (X.690 8.1.3): short form below 128; long form with 1 to 4 octets (a 4 GiB frame is
  already far over any limit); the indefinite form (0x80) is forbidden by RFC 4511 5.1 and 0xFF is
  reserved (X.690 8.1.3.5 c), both FrameError. Non-minimal long forms are BER, so they are accepted.
- A TLV whose declared size is over the limit is refused from its header, before its value is read.
  LDAP cannot find the next message without reading this one, so that is fatal: the server should send
  a Notice of Disconnection (RFC 4511 4.4.1, protocolError) and close.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NoReturn

from polyport.net.framing import FrameError, FrameTooLarge

# OpenLDAP's sockbuf_max_incoming for anonymous clients is 262,143 octets; a session may raise
# max_size after a bind (OpenLDAP allows 4 MiB then) for large adds (photos, certificates).
DEFAULT_MAX_SIZE = 256 * 1024
MAX_TAG_OCTETS = 4  # after the first identifier octet: tag numbers below 2**28
MAX_LENGTH_OCTETS = 4
# The longest header decode_header reads: identifier, tag octets, length octet, length octets.
MAX_HEADER = 1 + MAX_TAG_OCTETS + 1 + MAX_LENGTH_OCTETS


class TagClass(enum.IntEnum):
    """X.690 8.1.2.2, the identifier's top two bits."""

    UNIVERSAL = 0
    APPLICATION = 1
    CONTEXT = 2
    PRIVATE = 3


@dataclass(frozen=True, slots=True)
class TlvHeader:
    tag_class: TagClass
    constructed: bool
    tag_number: int
    header_length: int  # identifier and length octets: the value starts this far into the TLV
    length: int  # the value's

    @property
    def size(self) -> int:
        """The whole TLV's."""
        return self.header_length + self.length


@dataclass(frozen=True, slots=True)
class Tlv:
    """One top-level TLV: `data` is all of it, header included."""

    data: bytes
    header: TlvHeader

    @property
    def value(self) -> bytes:
        return self.data[self.header.header_length:]


def decode_header(data: bytes | bytearray | memoryview, offset: int = 0) -> TlvHeader | None:
    """The header of the TLV at `offset`, or None if `data` ends before the header does. Raises
    FrameError for headers LDAP never sends (indefinite length, reserved forms, over-long tags and
    lengths). Says nothing about whether the value is all there: compare `size` with what is held."""
    end = len(data)
    if offset >= end:
        return None
    first = data[offset]
    i = offset + 1
    number = first & 0x1F
    if number == 0x1F:  # X.690 8.1.2.4: the number follows in base 128, high bit set on all but the last
        number = 0
        while True:
            if i >= end:
                return None
            if i - offset > MAX_TAG_OCTETS:
                _malformed(f"a tag number longer than {MAX_TAG_OCTETS} octets")
            octet = data[i]
            if i == offset + 1 and octet == 0x80:
                _malformed("a tag number with a leading zero (X.690 8.1.2.4.2 c)")
            number = number << 7 | octet & 0x7F
            i += 1
            if not octet & 0x80:
                break
        if number < 0x1F:
            _malformed("a tag number below 31 in the long form (X.690 8.1.2.2)")
    if i >= end:
        return None
    octet = data[i]
    i += 1
    if octet < 0x80:
        length = octet
    elif octet == 0x80:
        _malformed("the indefinite length form, which LDAP forbids (RFC 4511 5.1)")
    elif octet == 0xFF:
        _malformed("the reserved length octet 0xFF (X.690 8.1.3.5 c)")
    else:
        count = octet & 0x7F
        if count > MAX_LENGTH_OCTETS:
            _malformed(f"a length of {count} octets (at most {MAX_LENGTH_OCTETS})")
        if i + count > end:
            return None
        length = int.from_bytes(data[i:i + count], "big")
        i += count
    return TlvHeader(TagClass(first >> 6), bool(first & 0x20), number, i - offset, length)


def _malformed(reason: str) -> NoReturn:
    raise FrameError(f"BER: {reason}")


class BerFramer:
    """Complete top-level TLVs, as `Tlv`."""

    __slots__ = ("_buffer", "_ended", "_error", "_pos", "max_size")

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size  # of a whole TLV, header included; may be raised between frames
        self._buffer = bytearray()
        self._pos = 0  # start of the first TLV not returned yet
        self._error: FrameError | FrameTooLarge | None = None
        self._ended = False

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        if self._ended or self._error is not None or not data:
            return
        if self._pos:
            del self._buffer[:self._pos]
            self._pos = 0
        self._buffer += data

    def next_frame(self) -> Tlv | None:
        if self._error is not None:
            raise self._error
        buffer, start = self._buffer, self._pos
        try:
            header = decode_header(buffer, start)
        except FrameError as err:
            self._fail(err)
        if header is not None and header.size > self.max_size:
            self._fail(FrameTooLarge(self.max_size, size=header.size))
        if header is None or len(buffer) - start < header.size:
            if self._ended and len(buffer) > start:
                self._fail(FrameError("BER: the stream ended inside a message"))
            return None
        self._pos = start + header.size
        return Tlv(bytes(buffer[start:self._pos]), header)

    def _fail(self, error: FrameError | FrameTooLarge) -> NoReturn:
        self._error = error
        self._buffer.clear()
        self._pos = 0
        raise error

    def eof(self) -> None:
        self._ended = True
