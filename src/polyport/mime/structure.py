"""The parsed structure of a message, computed once at delivery and stored with it.

IMAP answers FETCH ENVELOPE, BODYSTRUCTURE and BODY[section] from this structure and the message's bytes
(by offset), never by parsing again; SEARCH, SORT and THREAD use the derived fields at the bottom. Every
offset is into the whole message's bytes. Struct types are msgspec's, so the structure is stored as
compact JSON (or MessagePack) and read back without a schema step.
"""

from __future__ import annotations

import msgspec


class Address(msgspec.Struct, array_like=True, frozen=True):
    """One IMAP envelope address (RFC 3501 section 7.4.2). A group is a start marker (mailbox = group
    name, host None) and an end marker (everything None) around its members."""

    name: str | None  # display name, as in the header (RFC 2047 encoded-words kept as they are)
    adl: str | None  # source route; always None in practice
    mailbox: str | None
    host: str | None


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 3501 ENVELOPE: header values unfolded but otherwise raw (encoded-words kept)."""

    date: str | None = None
    subject: str | None = None
    from_: list[Address] | None = msgspec.field(default=None, name="from")
    sender: list[Address] | None = None
    reply_to: list[Address] | None = None
    to: list[Address] | None = None
    cc: list[Address] | None = None
    bcc: list[Address] | None = None
    in_reply_to: str | None = None
    message_id: str | None = None


class Param(msgspec.Struct, array_like=True, frozen=True):
    name: str  # as written (IMAP sends it upper-cased by convention; we keep it, clients compare case-insensitively)
    value: str  # RFC 2231 continuations joined and decoded to UTF-8 text


class Disposition(msgspec.Struct, array_like=True, frozen=True):
    type: str  # "attachment", "inline", ...
    params: list[Param]


class Part(msgspec.Struct, frozen=True, omit_defaults=True):
    """One body part. For multipart/*: `parts` holds the children and the body fields describe the whole
    multipart body. For message/rfc822 (and message/global): `envelope` and `parts[0]` describe the
    encapsulated message."""

    type: str  # lower-case: "text", "multipart", "message", "application"...
    subtype: str  # lower-case
    params: list[Param]  # Content-Type parameters, in order
    header_start: int  # offset of this part's header (its MIME header; for the root: the message header)
    body_start: int  # offset just after the blank line ending the header
    body_end: int  # offset just after the body (before the CRLF that precedes a boundary)
    id: str | None = None  # Content-ID
    description: str | None = None  # Content-Description
    encoding: str = "7bit"  # Content-Transfer-Encoding, lower-case
    lines: int | None = None  # body lines, for text/* and message/rfc822
    md5: str | None = None  # Content-MD5
    disposition: Disposition | None = None
    language: list[str] | None = None
    location: str | None = None
    parts: list[Part] = msgspec.field(default_factory=list)
    envelope: Envelope | None = None  # message/rfc822 only

    @property
    def size(self) -> int:
        """The body's size in octets (RFC 3501 body-fld-octets)."""
        return self.body_end - self.body_start


class Structure(msgspec.Struct, frozen=True, omit_defaults=True):
    """A whole message."""

    size: int  # octets
    envelope: Envelope
    root: Part
    # Derived once for SEARCH, SORT and THREAD (RFC 5256):
    sent: int | None = None  # the Date header as Unix seconds (UTC); None when missing or unparsable
    base_subject: str = ""  # RFC 5256 base subject: decoded, "Re:"/"Fwd:"/"[list]" and trailers removed
    message_id: str | None = None  # normalized: "<...>"
    in_reply_to: list[str] = msgspec.field(default_factory=list)  # message ids
    references: list[str] = msgspec.field(default_factory=list)  # message ids, in order
    sort_from: str = ""  # RFC 5256 addr-mailbox of the first From address, lower-case
    sort_to: str = ""
    sort_cc: str = ""
    display_from: str = ""  # RFC 5957 DISPLAY: decoded display name, else the address
    display_to: str = ""
    has_attachment: bool = False


def encode(structure: Structure) -> bytes:
    return _ENCODER.encode(structure)


def decode(data: bytes) -> Structure:
    return _DECODER.decode(data)


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Structure)
