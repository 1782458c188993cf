"""Sections of a stored message (RFC 3501/9051 6.4.5's section-spec): which bytes a part number, HEADER,
TEXT, MIME or HEADER.FIELDS (...) names, from the structure parsed at delivery, without parsing again.

Shared by IMAP's FETCH (imap/fetch.py) and by IMAP URLs (imapurl.py: CATENATE, URLFETCH, SMTP's BURL), so
a URL's ;SECTION= names exactly the bytes FETCH would send for it. Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from polyport.mime.structure import Part, Structure

# What a section's answer is made from: bytes start:end of the message, and what is done to them (HEADER.FIELDS
# picks lines, BINARY undoes an encoding), or None when they are sent as they are.
Transform = Callable[[bytes], bytes]
Located = tuple[int, int, Transform | None]
TEXTS = ("", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")


class NoSuchPart(Exception):
    """The message has no such part (or the part no HEADER/TEXT)."""


def encapsulates(part: Part) -> bool:
    """A message/rfc822 (or message/global) part whose embedded message was parsed (RFC 2046 5.2.1)."""
    return part.type == "message" and part.subtype in ("rfc822", "global") and bool(part.parts)


def find_part(structure: Structure, path: Sequence[int]) -> Part:
    """The part a section's numbers name (RFC 3501/9051 6.4.5).

    The first number counts in the message's body: its parts when it is multipart, else 1 is the body
    itself (the root part, whose body offsets are the body's; when the message is message/rfc822, that body
    is the whole embedded message). Each further number counts inside the part named so far: a multipart's
    children, or for a message/rfc822 part the parts of its embedded message's body, again by the same
    rule (1 is that body when it is not multipart). Leaves have no parts inside."""
    part = structure.root
    for depth, number in enumerate(path):
        container = part
        if depth:
            if encapsulates(part):
                container = part.parts[0]
            elif part.type != "multipart":
                raise NoSuchPart(f"part {'.'.join(map(str, path[:depth]))} has no parts inside")
        if container.type == "multipart":
            if not 1 <= number <= len(container.parts):
                raise NoSuchPart(f"no part {number}")
            part = container.parts[number - 1]
        elif number == 1:
            part = container
        else:
            raise NoSuchPart(f"no part {number}")
    return part


def header_lines(header: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-case field name, the field's full text with continuations) of a header block.

    A field's lines are gathered and joined once it ends, in time linear in the header's size: adding each
    continuation line to the text so far copied the field again for every line (issue 12: a 1.6 MB
    folded field held the loop 1.7-2.5 s in every FETCH of BODY[HEADER.FIELDS ...])."""
    fields: list[tuple[bytes, bytes]] = []
    name = b""
    pieces: list[bytes] = []  # the lines of the field being read
    for line in header.splitlines(keepends=True):
        if line == b"\r\n" or line == b"\n":
            break
        if pieces and line[:1] in (b" ", b"\t"):
            pieces.append(line)
            continue
        if pieces:
            fields.append((name, pieces[0] if len(pieces) == 1 else b"".join(pieces)))
        name = line.split(b":", 1)[0].strip().lower()
        pieces = [line]
    if pieces:
        fields.append((name, pieces[0] if len(pieces) == 1 else b"".join(pieces)))
    return fields


def header_fields(header: bytes, names: Sequence[str], exclude: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the matching (or other) fields, then the blank line."""
    wanted = {n.lower().encode() for n in names}
    chosen = [text for name, text in header_lines(header) if (name in wanted) != exclude]
    return b"".join(line if line.endswith(b"\n") else line + b"\r\n" for line in chosen) + b"\r\n"


def locate(structure: Structure | None, part_path: Sequence[int], text: str, fields: Sequence[str],
           size: int) -> Located:
    """Where a section (part numbers, then `text`: one of TEXTS, with `fields` for HEADER.FIELDS[.NOT])
    comes from in a message of `size` bytes (RFC 3501 6.4.5)."""
    if not part_path and not text:
        return 0, size, None
    assert structure is not None
    if not part_path:
        header_start, body_start, body_end = 0, structure.root.body_start, size
    else:
        part = find_part(structure, part_path)
        if text == "MIME":
            return part.header_start, part.body_start, None
        if text == "":
            return part.body_start, part.body_end, None
        if not encapsulates(part):
            raise NoSuchPart("HEADER and TEXT of a part need a message/rfc822 part")
        inner = part.parts[0]
        header_start, body_start, body_end = inner.header_start, inner.body_start, inner.body_end
    if text == "HEADER":
        return header_start, body_start, None
    if text == "TEXT":
        return body_start, body_end, None
    return header_start, body_start, functools.partial(header_fields, names=fields,
                                                       exclude=text == "HEADER.FIELDS.NOT")


def cut(message: bytes, structure: Structure | None, part_path: Sequence[int], text: str = "",
        fields: Sequence[str] = ()) -> bytes:
    """The bytes of a section of `message` (see `locate`)."""
    start, end, transform = locate(structure, part_path, text, fields, len(message))
    return message[start:end] if transform is None else transform(message[start:end])
