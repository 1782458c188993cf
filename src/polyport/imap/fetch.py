"""FETCH: the data items of RFC 3501 6.4.5 / RFC 9051 6.4.5, with BINARY (RFC 3516), MODSEQ and
CHANGEDSINCE (RFC 7162), EMAILID/THREADID (RFC 8474), SAVEDATE (RFC 8514) and PREVIEW (RFC 8970: made
from a prefix of the first plain or HTML text part, read and worked on as a section is).

Answers come from the records and the structure stored at delivery: ENVELOPE and BODYSTRUCTURE are
formatted from it, and BODY[section] is sliced out of the message's bytes at the offsets it records;
nothing is parsed again. Messages are read from the store in runs of consecutive UIDs, a few hundred at a
time, so `FETCH 1:* ...` on a large mailbox neither loads everything at once nor asks once per message.

Implementation notes:
- A command's items are planned once (`plan`), and each is answered once: RFC 9051 7.5.2 makes a FETCH
  response pairs of data item names and values, which clients keep by name (IMAPClient's dict, Ruby's
  Net::IMAP FetchData#attr), so `BODY.PEEK[]` asked 400 times (or beside `BODY[]`, whose answer is also
  named `BODY[]`) is rendered and sent once, under its name. Items with different names (RFC822 and
  BODY[]) or different partial lengths are different answers and each is sent.
- What one FETCH renders for one message is bounded (`budget`), and so is the number of different items
  (`MAX_ITEMS`): past either the command ends NO [LIMIT] (RFC 5530) before the message's answer is
  written, so a 64 KiB command line cannot make the node hold thousands of copies of a message.
- A message over STREAM_AT is never held whole: `layout` describes its answer as text, `Span`s of the
  message that the command sends from the blob store in pieces, and `Derived` items (header fields
  picked, an encoding undone) made from just the bytes they need. Small messages, the common case, keep
  the one-pass `render` over their bytes.
- Part numbers go through message/rfc822 parts as RFC 3501 6.4.5 shows (`find_part`): n is the whole
  embedded message, n.HEADER and n.TEXT its header and text, n.1 the first part of its body. BODYSTRUCTURE
  (responses.py) nests the same way, so each part's number and size agree with BODY[n].
- NUL goes only in a literal8 answering BINARY (RFC 9051 4.3): in a BODY[...] it is sent as 0x80, as
  Dovecot does (`plain_literal`), so the message's size and offsets stay what RFC822.SIZE and
  BODYSTRUCTURE say and the client still gets it; BINARY[...] sends the bytes as they are.
"""

from __future__ import annotations

import binascii
import bisect
import datetime
import functools
import html as html_module
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from polyport.imap import responses, wire
from polyport.mailstore import MessageFull, MessageMeta, sections
from polyport.mailstore import flags as fl
from polyport.mailstore.sections import Located, NoSuchPart, Transform, find_part
from polyport.mime.structure import Part, Structure

BATCH = 300  # messages read from the store per query
# Different data items one FETCH may ask for (after repeats are merged). Clients ask for a handful
# (Thunderbird's message list: UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (...)]); a hundred leaves
# room for one that fetches many parts at once, while bounding the work one command line sets for every
# message it names.
MAX_ITEMS: Final = 100
# The section bytes (BODY[...], BINARY[...], RFC822...) one FETCH may render for one message: its size
# times BUDGET_FACTOR, and at least BUDGET_FLOOR. Every different way a client may want a whole message
# at once (RFC822 and BODY[], BODY[HEADER] with BODY[TEXT], its parts BINARY-decoded) adds up to four
# times its size at most; the floor leaves small messages any mix of sections and header fields.
# Relative rather than absolute (say 64 MiB a command): an absolute cap either refuses BODY[] plus
# RFC822 of a 50 MB message or lets a 10 KB one be sent six thousand times.
BUDGET_FACTOR: Final = 4
BUDGET_FLOOR: Final = 1024 * 1024
# Messages larger than this are sent from the blob store in pieces (`layout`); smaller ones are read
# whole and rendered at once, cheaper than several reads and no more memory than the writer's high water
# mark (net/connection.py) holds anyway.
STREAM_AT: Final = 256 * 1024


class UnknownEncoding(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot undo (RFC 3516 UNKNOWN-CTE)."""


class AnswerTooLarge(Exception):
    """One message's answer would pass what one FETCH may render for it (`budget`)."""


def budget(size: int) -> int:
    """The section bytes one FETCH may render for a message of `size` bytes."""
    return max(size * BUDGET_FACTOR, BUDGET_FLOOR)


def _too_large(number: int, size: int) -> AnswerTooLarge:
    return AnswerTooLarge(f"the answer for message {number} would pass {budget(size)} bytes ({BUDGET_FACTOR} "
                          "times its size); ask for fewer sections at once")


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


# -- the plan: each item once ------------------------------------------------------------------------------

ATTRIBUTE, SECTION, BINARY_SIZE, PREVIEW = 0, 1, 2, 3
WHOLE: Final = wire.Section()
# RFC 3501 6.4.5: RFC822, RFC822.HEADER and RFC822.TEXT are BODY[], BODY.PEEK[HEADER] and BODY[TEXT]
# under other names.
RFC822_SECTIONS: Final = {"RFC822": WHOLE, "RFC822.HEADER": wire.Section(text="HEADER"),
                          "RFC822.TEXT": wire.Section(text="TEXT")}


@dataclass(frozen=True, slots=True)
class Want:
    """One data item to answer. Sections carry the name their answer has (`head`, with its space: no
    .PEEK, the origin only, RFC 9051 7.5.2), so BODY[] and BODY.PEEK[] are one Want."""

    kind: int  # ATTRIBUTE, SECTION or BINARY_SIZE
    name: str = ""  # an attribute's name
    head: bytes = b""
    section: wire.Section = WHOLE  # BINARY and BINARY.SIZE use its part numbers
    binary: bool = False
    partial: tuple[int, int] | None = None  # (origin, length)


@dataclass(frozen=True, slots=True)
class Plan:
    """A command's items, each once, in the order first asked (UID first for UID FETCH)."""

    wants: tuple[Want, ...]
    names: frozenset[str]  # the attributes asked for
    needs_bytes: bool
    needs_structure: bool


def plan(items: Sequence[wire.FetchItem], *, uid: bool = False) -> Plan:
    wants: dict[Want, None] = {}  # ordered, and repeats merge
    for item in ("UID", *items) if uid else items:
        if item == "PREVIEW":
            want = Want(PREVIEW, head=b"PREVIEW ")  # made from the message's text, so read like a section
        elif isinstance(item, str):
            section = RFC822_SECTIONS.get(item)
            want = (Want(ATTRIBUTE, name=item) if section is None
                    else Want(SECTION, head=item.encode() + b" ", section=section))
        elif isinstance(item, wire.FetchBinarySize):
            want = Want(BINARY_SIZE, head=item.label() + b" ", section=wire.Section(part=item.part), binary=True)
        else:
            want = Want(SECTION, head=item.label() + b" ", section=item.section, binary=item.binary,
                        partial=item.partial)
        wants[want] = None
    chosen = tuple(wants)
    return Plan(chosen, frozenset(w.name for w in chosen if w.kind == ATTRIBUTE),
                any(w.kind != ATTRIBUTE for w in chosen), needs_structure(items))


# -- sections (mailstore/sections.py finds them) ---------------------------------------------------------------


def needs_structure(items: Sequence[wire.FetchItem]) -> bool:
    """Whether answering needs the parsed structure: BODY[] and RFC822 of a whole message need only its
    bytes (the commonest body fetch), so the structure is then neither read nor decoded."""
    for item in items:
        if isinstance(item, wire.FetchBinarySize):
            return True
        if isinstance(item, wire.FetchBody):
            if item.binary or item.section.part or item.section.text:
                return True
        elif item in ("ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.HEADER", "RFC822.TEXT", "PREVIEW"):
            return True
    return False


def locate_section(structure: Structure | None, section: wire.Section, size: int) -> Located:
    """Where BODY[section] comes from in a message of `size` bytes (RFC 3501 6.4.5; mailstore/sections.py)."""
    return sections.locate(structure, section.part, section.text, section.fields, size)


def section_bytes(message: bytes, structure: Structure | None, section: wire.Section) -> bytes:
    return sections.cut(message, structure, section.part, section.text, section.fields)


def _unbase64(body: bytes) -> bytes:
    data = b"".join(body.split())
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    # Padding is often missing in the wild; a group of one character left over is damage, not that.
    data = data.rstrip(b"=")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        raise UnknownEncoding("the base64 content is damaged") from None


# RFC 2045 6.7 rule 3: white space at the end of an encoded line was added in transport and is deleted
# when decoding; that also makes a soft line break followed by such padding ("=  CRLF") a soft break.
# A run is tried once, from its start and without giving back (a long run of blanks costs linear time).
_QP_TRANSPORT_PADDING = re.compile(rb"(?<![ \t])[ \t]++(?=\r?\n|\Z)")


def unquote_printable(body: bytes) -> bytes:
    """Quoted-printable undone (RFC 2045 6.7): padding deleted, soft line breaks removed, =XX decoded
    (either case); line ends and bytes encoded as =0D=0A stay as they are."""
    return binascii.a2b_qp(_QP_TRANSPORT_PADDING.sub(b"", body))


def _decoder(encoding: str) -> Transform | None:
    """What undoes a Content-Transfer-Encoding (None: nothing to undo)."""
    if encoding in ("7bit", "8bit", "binary", ""):
        return None
    if encoding == "base64":
        return _unbase64
    if encoding == "quoted-printable":
        return unquote_printable
    raise UnknownEncoding(f"unknown Content-Transfer-Encoding {encoding}")


def decoded(message: bytes, part: Part) -> bytes:
    """A leaf part's content with its transfer encoding undone (BINARY, RFC 3516)."""
    body = message[part.body_start:part.body_end]
    decode = _decoder(part.encoding)
    return body if decode is None else decode(body)


def locate_binary(structure: Structure | None, path: Sequence[int], size: int) -> Located:
    """Where BINARY[part] comes from (RFC 3516 4.2): a leaf part's content decoded; a multipart or a
    message part as it is."""
    if not path:
        return 0, size, None
    assert structure is not None
    part = find_part(structure, path)
    if part.type == "multipart" or (part.type == "message" and part.parts):
        return part.body_start, part.body_end, None
    return part.body_start, part.body_end, _decoder(part.encoding)


def binary_section(message: bytes, structure: Structure, path: Sequence[int]) -> bytes:
    start, end, transform = locate_binary(structure, path, len(message))
    return message[start:end] if transform is None else transform(message[start:end])


# -- PREVIEW (RFC 8970) -------------------------------------------------------------------------------------

PREVIEW_CHARACTERS: Final = 256  # RFC 8970 section 3.1: at most 256 characters
# The bytes of the text part read for a preview: enough for 256 characters of text after any markup, quoting
# or encoding a message is likely to have, and a bound on the work for a large one.
PREVIEW_READ: Final = 64 * 1024
# Unclosed, each runs to the end (as a browser reads it), so no start scans the rest of the text twice.
_HTML_HIDDEN: Final = re.compile(r"<(script|style|head|title)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.I | re.S)
_HTML_TAG: Final = re.compile(r"<[^>]*(?:>|\Z)")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


def _preview_part(part: Part) -> Part | None:
    """The part a preview is made from: the first text/plain of the message's body, where a
    multipart/alternative offers one, else its text/html; never an attachment nor an embedded message."""
    if part.type == "multipart":
        children = part.parts
        if part.subtype == "alternative":
            # RFC 2046 5.1.4: the alternatives in increasing faithfulness; plain text reads best here.
            children = sorted(children, key=lambda child: not (child.type == "text" and child.subtype == "plain"))
        for child in children:
            found = _preview_part(child)
            if found is not None:
                return found
        return None
    if part.disposition is not None and part.disposition.type.lower() == "attachment":
        return None
    if part.type == "text" and part.subtype in ("plain", "html"):
        return part
    return None


def charset_of(part: Part) -> str:
    """A text part's charset (PREVIEW here, SEARCH's text)."""
    for param in part.params:
        if param.name.lower() == "charset":
            return param.value
    return "utf-8"  # undeclared 8-bit text is UTF-8 more often than not (SEARCH reads it so); ASCII is either


def _preview_text(raw: bytes, *, encoding: str, charset: str, html: bool, whole: bool = False) -> bytes:
    """The preview of a text part's first PREVIEW_READ bytes (unless `whole`, maybe cut inside an encoded
    group or a character, which decode as far as they go): the text, markup dropped for HTML, white space
    collapsed, at most PREVIEW_CHARACTERS characters, as UTF-8 (RFC 8970 section 3.1)."""
    try:
        if encoding == "base64":
            data = b"".join(raw.split())
            # A prefix cut inside a group: its whole groups only (a whole short part decodes unpadded)
            data = _unbase64(data if whole else data[:len(data) - len(data) % 4])
        elif encoding == "quoted-printable":
            data = unquote_printable(raw)
        else:
            data = raw
    except UnknownEncoding:
        data = raw  # damaged: shown as written, as SEARCH reads it
    try:
        text = data.decode(charset, "replace")
    except (LookupError, UnicodeError):
        text = data.decode("utf-8", "replace")
    if html:
        text = html_module.unescape(_HTML_TAG.sub(" ", _HTML_HIDDEN.sub(" ", text)))
    text = " ".join(_CONTROL.sub(" ", text).split())
    # A charset's decoder may leave a lone surrogate (UTF-7's "+2D0-"): it goes as "?".
    return text[:PREVIEW_CHARACTERS].encode("utf-8", "replace")


def locate_preview(structure: Structure | None) -> Located:
    """Where PREVIEW comes from: a prefix of the text part chosen; NoSuchPart when there is none (NIL)."""
    assert structure is not None
    part = _preview_part(structure.root)
    if part is None:
        raise NoSuchPart("no text to preview")
    end = min(part.body_end, part.body_start + PREVIEW_READ)
    return part.body_start, end, functools.partial(
        _preview_text, encoding=part.encoding, charset=charset_of(part), html=part.subtype == "html",
        whole=end == part.body_end)


def _locate(want: Want, structure: Structure | None, size: int) -> Located:
    if want.kind == PREVIEW:
        return locate_preview(structure)
    if want.binary:
        return locate_binary(structure, want.section.part, size)
    return locate_section(structure, want.section, size)


def _answer(want: Want, transform: Transform | None, raw: bytes) -> bytes:
    """A section's item: its name, then its bytes (`raw` worked on and cut to the partial range)."""
    data = raw if transform is None else transform(raw)
    if want.kind == PREVIEW:
        # RFC 8970 section 3.1: NIL when there is no text; text beyond ASCII goes as a literal (8-bit CHAR8).
        return want.head + (responses.quoted_or_literal(data) if data else responses.NIL)
    if want.kind == BINARY_SIZE:
        return want.head + b"%d" % len(data)
    if want.partial is not None:
        origin, length = want.partial
        data = data[origin:origin + length]
    # RFC 3516 4.3: decoded content holding NUL goes as a literal8; RFC 9051 4.3: only for BINARY.
    nul = b"\x00" in data
    if nul and not want.binary:
        data, nul = plain_literal(data), False
    return b"%s%s{%d}\r\n%s" % (want.head, b"~" if nul else b"", len(data), data)


def plain_literal(data: bytes) -> bytes:
    """Bytes for a literal that is not a literal8: RFC 9051 4.3 lets no NUL in one, and the stored bytes
    (which RFC822.SIZE, the offsets and BODYSTRUCTURE describe) cannot be encoded without changing their
    size, so each NUL goes as 0x80, as Dovecot sends it; BINARY[...] has the bytes as they are."""
    return data.replace(b"\x00", b"\x80") if b"\x00" in data else data


def _missing(want: Want) -> bytes:
    # A section the message does not have is NIL, as Dovecot and Cyrus answer: one message without part 2
    # must not fail a FETCH of many. BINARY.SIZE's grammar has no NIL.
    return want.head + (b"0" if want.kind == BINARY_SIZE else responses.NIL)


# -- one message -------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def internal_date(seconds: int) -> bytes:
    return responses.date_time(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


@functools.lru_cache(maxsize=4096)
def flags_item(bits: int, keywords: str, recent: bool = False) -> bytes:
    """`FLAGS (...)`: a mailbox's messages share a few combinations, so each is formatted once. `recent`
    adds \\Recent after the system flags (RFC 3501 2.3.2: a session flag, not stored with the message)."""
    flags = fl.join(bits, keywords)
    if recent:
        flags.insert(sum(1 for bit in fl.NAMES if bits & bit), "\\Recent")
    return b"FLAGS " + responses.flags_list(flags)


NOT_RECENT: Final[frozenset[int]] = frozenset()


def render(number: int, meta: MessageMeta, plan: Plan, *, message: bytes | None, with_modseq: bool, utf8: bool,
           extra_flags: bool, recent: Container[int] = NOT_RECENT) -> bytes:
    """One `* n FETCH (...)` response. `message` holds the bytes when a section needs them; FLAGS holds
    \\Recent when the message's UID is in `recent` (the session's recent messages, RFC 3501 2.3.2). Raises
    AnswerTooLarge, having sent nothing, once the sections pass the message's `budget`."""
    out: list[bytes] = []
    structure: Structure | None = None
    if plan.needs_structure and isinstance(meta, MessageFull):
        structure = meta.structure()
    spent = 0
    is_recent = meta.uid in recent
    for want in plan.wants:
        if want.kind == ATTRIBUTE:
            out.append(_attribute(want.name, meta, structure, utf8, is_recent))
            continue
        assert message is not None
        size = len(message)
        try:
            start, end, transform = _locate(want, structure, size)
        except NoSuchPart:
            out.append(_missing(want))
            continue
        item = _answer(want, transform, message[start:end])
        spent += len(item)
        if spent > budget(size):
            raise _too_large(number, size)
        out.append(item)
    _implied(out, meta, plan, with_modseq, extra_flags, is_recent)
    return b"* %d FETCH (%s)\r\n" % (number, b" ".join(out))


def _implied(out: list[bytes], meta: MessageMeta, plan: Plan, with_modseq: bool, extra_flags: bool,
             is_recent: bool) -> None:
    """FLAGS after \\Seen was set by this FETCH, MODSEQ beside FLAGS with CONDSTORE (RFC 7162 3.1.4.1)."""
    if extra_flags and "FLAGS" not in plan.names:
        out.append(flags_item(meta.flags, meta.keywords, is_recent))
    if with_modseq and "MODSEQ" not in plan.names:
        out.append(b"MODSEQ (%d)" % meta.modseq)


@dataclass(frozen=True, slots=True)
class Span:
    """A section sent as the message has it: `head`, a literal of end - start bytes, those bytes of the
    message, read from the store in pieces as they are sent."""

    head: bytes
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Derived:
    """A section made from bytes start:end of the message (header fields picked, an encoding undone, a
    decoded size counted): read those, then `finish` them into the item."""

    want: Want
    start: int
    end: int
    transform: Transform | None

    def finish(self, raw: bytes) -> bytes:
        return _answer(self.want, self.transform, raw)


Piece = bytes | Span | Derived


def layout(number: int, meta: MessageMeta, plan: Plan, *, with_modseq: bool, utf8: bool,
           extra_flags: bool, recent: Container[int] = NOT_RECENT) -> list[Piece]:
    """The items of `render`'s response for a message not held in memory (larger than STREAM_AT), in
    order: text where it is known, a Span for bytes sent as they are, a Derived for bytes to work on.
    Raises AnswerTooLarge before anything is read when the sections could pass the message's `budget`,
    counted from the lengths of the bytes they are made from."""
    size = meta.size
    structure: Structure | None = None
    if plan.needs_structure and isinstance(meta, MessageFull):
        structure = meta.structure()
    out: list[Piece] = []
    bound = 0
    is_recent = meta.uid in recent
    for want in plan.wants:
        if want.kind == ATTRIBUTE:
            out.append(_attribute(want.name, meta, structure, utf8, is_recent))
            continue
        try:
            start, end, transform = _locate(want, structure, size)
        except NoSuchPart:
            out.append(_missing(want))
            continue
        if want.kind == BINARY_SIZE and transform is None:
            out.append(want.head + b"%d" % (end - start))
            continue
        if transform is None and not want.binary:  # BINARY looks for NUL in what it sends: read it first
            if want.partial is not None:
                origin, length = want.partial
                start = min(start + origin, end)
                end = min(start + length, end)
            out.append(Span(want.head, start, end))
        else:
            out.append(Derived(want, start, end, transform))
        bound += end - start
    if bound > budget(size):
        raise _too_large(number, size)
    tail: list[bytes] = []
    _implied(tail, meta, plan, with_modseq, extra_flags, is_recent)
    out.extend(tail)
    return out


def _attribute(name: str, meta: MessageMeta, structure: Structure | None, utf8: bool, is_recent: bool) -> bytes:
    if name == "UID":
        return b"UID %d" % meta.uid
    if name == "FLAGS":
        return flags_item(meta.flags, meta.keywords, is_recent)
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
    assert structure is not None
    if name == "ENVELOPE":
        return b"ENVELOPE " + responses.envelope(structure.envelope, utf8=utf8)
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + responses.body_structure(structure.root, True, utf8=utf8)
    if name == "BODY":
        return b"BODY " + responses.body_structure(structure.root, False, utf8=utf8)
    raise ValueError(f"unknown fetch attribute {name}")
