"""FETCH: the data items of RFC 3501 6.4.5 / RFC 9051 6.4.5, with BINARY (RFC 3516), MODSEQ and
CHANGEDSINCE (RFC 7162), EMAILID/THREADID (RFC 8474) and SAVEDATE (RFC 8514).

Answers come from the records and the structure stored at delivery: ENVELOPE and BODYSTRUCTURE are
formatted from it, and BODY[section] is sliced out of the message's bytes at the offsets it records;
nothing is parsed again. Messages are read from the store in runs of consecutive UIDs, a few hundred at a
time, so `FETCH 1:* ...` on a large mailbox neither loads everything at once nor asks once per message.
"""

from __future__ import annotations

import binascii
import bisect
import datetime
import functools
from collections.abc import Iterator, Sequence

from polyport.imap import responses, wire
from polyport.mailstore import MessageFull, MessageMeta
from polyport.mailstore import flags as fl
from polyport.mime.structure import Part, Structure

BATCH = 300  # messages read from the store per query



class UnknownEncoding(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot undo (RFC 3516 UNKNOWN-CTE)."""


class NoSuchPart(Exception):
    pass


def needs_bytes(items: Sequence[wire.FetchItem]) -> bool:
    return any(isinstance(i, wire.FetchBody | wire.FetchBinarySize) or i in ("RFC822", "RFC822.HEADER",
                                                                               "RFC822.TEXT")
               for i in items)


def runs(uids: Sequence[int], view: Sequence[int], batch: int = BATCH) -> Iterator[tuple[int, int, list[int]]]:
    """(first UID, last UID, UIDs) groups of at most `batch`. When the UIDs are a small part of the mailbox
    (`view`, ascending), a group holds only UIDs adjacent in it, so a range read fetches no others; when
    they are most of it, gaps are cheaper read and skipped than split into more reads."""
    if not uids:
        return
    sparse = len(uids) < len(view) // 4
    group: list[int] = []
    last_index = -2
    for uid in uids:
        index = bisect.bisect_left(view, uid) if sparse else -1
        adjacent = not sparse or index == last_index + 1
        if group and (not adjacent or len(group) >= batch):
            yield group[0], group[-1], group
            group = []
        group.append(uid)
        last_index = index
    if group:
        yield group[0], group[-1], group


# -- sections -----------------------------------------------------------------------------------------------

def find_part(structure: Structure, path: Sequence[int]) -> Part:
    """The part a section's numbers name (RFC 3501 6.4.5): in a non-multipart message, part 1 is its body;
    a number after a message/rfc822 part counts inside the message it holds."""
    part = structure.root
    for number in path:
        if part.type == "message" and part.subtype in ("rfc822", "global") and part.parts:
            part = part.parts[0]
        if part.type == "multipart":
            if not 1 <= number <= len(part.parts):
                raise NoSuchPart(f"no part {number}")
            part = part.parts[number - 1]
        elif number != 1:
            raise NoSuchPart(f"no part {number}")
    return part


def _header_lines(header: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-case field name, the field's full text with continuations) of a header block."""
    fields: list[tuple[bytes, bytes]] = []
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, text = fields[-1]
            fields[-1] = (name, text + line)
        else:
            fields.append((line.split(b":", 1)[0].strip().lower(), line))
    return fields


def header_fields(header: bytes, names: Sequence[str], exclude: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the matching (or other) fields, then the blank line."""
    wanted = {n.lower().encode() for n in names}
    chosen = [text for name, text in _header_lines(header) if (name in wanted) != exclude]
    return b"".join(line if line.endswith(b"\n") else line + b"\r\n" for line in chosen) + b"\r\n"


def needs_structure(items: Sequence[wire.FetchItem]) -> bool:
    """Whether answering needs the parsed structure: BODY[] and RFC822 of a whole message need only its
    bytes (the commonest body fetch), so the structure is then neither read nor decoded."""
    for item in items:
        if isinstance(item, wire.FetchBinarySize):
            return True
        if isinstance(item, wire.FetchBody):
            if item.binary or item.section.part or item.section.text:
                return True
        elif item in ("ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.HEADER", "RFC822.TEXT"):
            return True
    return False


def section_bytes(message: bytes, structure: Structure | None, section: wire.Section) -> bytes:
    if not section.part and not section.text:
        return message
    assert structure is not None
    if not section.part:
        header_end = structure.root.body_start
        target_header, target_body = message[:header_end], message[header_end:]
    else:
        part = find_part(structure, section.part)
        if section.text == "MIME":
            return message[part.header_start:part.body_start]
        if section.text == "":
            return message[part.body_start:part.body_end]
        if not (part.type == "message" and part.subtype in ("rfc822", "global") and part.parts):
            raise NoSuchPart("HEADER and TEXT of a part need a message/rfc822 part")
        inner = part.parts[0]
        target_header = message[inner.header_start:inner.body_start]
        target_body = message[inner.body_start:inner.body_end]
    if section.text == "":
        return message
    if section.text == "HEADER":
        return target_header
    if section.text == "TEXT":
        return target_body
    return header_fields(target_header, section.fields, exclude=section.text == "HEADER.FIELDS.NOT")


def decoded(message: bytes, part: Part) -> bytes:
    """A leaf part's content with its transfer encoding undone (BINARY, RFC 3516)."""
    body = message[part.body_start:part.body_end]
    if part.encoding in ("7bit", "8bit", "binary", ""):
        return body
    if part.encoding == "base64":
        try:
            return binascii.a2b_base64(b"".join(body.split()))
        except binascii.Error:
            raise UnknownEncoding("the base64 content is damaged") from None
    if part.encoding == "quoted-printable":
        return binascii.a2b_qp(body)  # soft breaks go; line ends and encoded bytes (=0D=0A) stay as they are
    raise UnknownEncoding(f"unknown Content-Transfer-Encoding {part.encoding}")


def binary_section(message: bytes, structure: Structure, path: Sequence[int]) -> bytes:
    if not path:
        return message
    part = find_part(structure, path)
    if part.type == "multipart" or (part.type == "message" and part.parts):
        return message[part.body_start:part.body_end]
    return decoded(message, part)


# -- one message -------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def internal_date(seconds: int) -> bytes:
    return responses.date_time(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


@functools.lru_cache(maxsize=4096)
def flags_item(bits: int, keywords: str) -> bytes:
    """`FLAGS (...)`: a mailbox's messages share a few combinations, so each is formatted once."""
    return b"FLAGS " + responses.flags_list(fl.join(bits, keywords))


def render(number: int, meta: MessageMeta, items: Sequence[wire.FetchItem], *, message: bytes | None,
           with_uid: bool, with_modseq: bool, utf8: bool, extra_flags: bool) -> bytes:
    """One `* n FETCH (...)` response. `message` holds the bytes when a section needs them."""
    out: list[bytes] = []
    seen_names: set[str] = set()
    structure: Structure | None = None
    if isinstance(meta, MessageFull) and needs_structure(items):
        structure = meta.structure()
    if with_uid:
        out.append(b"UID %d" % meta.uid)
        seen_names.add("UID")
    for item in items:
        if isinstance(item, str):
            if item in seen_names:
                continue
            seen_names.add(item)
            out.append(_attribute(item, meta, structure, message, utf8))
        elif isinstance(item, wire.FetchBinarySize):
            assert structure is not None and message is not None
            try:
                size = len(binary_section(message, structure, item.part))
            except NoSuchPart:
                size = 0  # the grammar has no NIL here
            out.append(item.label() + b" %d" % size)
        else:
            assert message is not None
            try:
                if item.binary:
                    assert structure is not None
                    data = binary_section(message, structure, item.section.part)
                else:
                    data = section_bytes(message, structure, item.section)
            except NoSuchPart:
                # A section the message does not have is NIL, as Dovecot and Cyrus answer: one message
                # without part 2 must not fail a FETCH of many.
                out.append(item.label() + b" NIL")
                continue
            if item.partial is not None:
                origin, length = item.partial
                data = data[origin:origin + length]
            value = (b"~" + responses.literal(data)) if item.binary and b"\x00" in data else responses.literal(data)
            out.append(item.label() + b" " + value)
    if extra_flags and "FLAGS" not in seen_names:
        out.append(flags_item(meta.flags, meta.keywords))
    if with_modseq and "MODSEQ" not in seen_names:
        out.append(b"MODSEQ (%d)" % meta.modseq)
    return b"* %d FETCH (%s)\r\n" % (number, b" ".join(out))


def _attribute(name: str, meta: MessageMeta, structure: Structure | None, message: bytes | None,
               utf8: bool) -> bytes:
    if name == "UID":
        return b"UID %d" % meta.uid
    if name == "FLAGS":
        return flags_item(meta.flags, meta.keywords)
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + internal_date(meta.internal_date)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % meta.size
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % meta.modseq
    if name == "EMAILID":
        return b"EMAILID (E%d)" % meta.body_id
    if name == "THREADID":
        return b"THREADID (T%d)" % meta.thread_id
    if name == "SAVEDATE":
        return b"SAVEDATE " + internal_date(meta.saved)
    if name == "RFC822":
        assert message is not None
        return b"RFC822 " + responses.literal(message)
    assert structure is not None
    if name == "ENVELOPE":
        return b"ENVELOPE " + responses.envelope(structure.envelope, utf8=utf8)
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + responses.body_structure(structure.root, True, utf8=utf8)
    if name == "BODY":
        return b"BODY " + responses.body_structure(structure.root, False, utf8=utf8)
    assert message is not None
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + responses.literal(message[:structure.root.body_start])
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + responses.literal(message[structure.root.body_start:])
    raise ValueError(f"unknown fetch attribute {name}")
