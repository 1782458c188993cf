"""The byte-offset MIME parser: one pass over a message's bytes at delivery, producing `Structure`.

Implements what IMAP FETCH, SEARCH, SORT and THREAD need from a message, so nothing parses it again:

- RFC 5322 header fields: unfolding, first occurrence wins; bare LF and CRLF line ends, mixed.
- RFC 2045 Content-Type, Content-Transfer-Encoding, Content-ID, Content-Description; RFC 1864 Content-MD5;
  RFC 2183 Content-Disposition; RFC 3282 Content-Language; RFC 2557 Content-Location.
- RFC 2046 multipart splitting (preamble and epilogue ignored, multipart/digest defaulting to
  message/rfc822) and message/rfc822 encapsulation; RFC 6532 message/global the same way.
- RFC 2231 parameter continuations and charset/language encoding.
- RFC 3501 section 7.4.2 ENVELOPE, with group syntax; addresses by a lenient hand-written parser.
- RFC 2047 encoded-words, decoded only for the derived sort fields (the envelope keeps them raw).
- RFC 5256 base subject, sent date, SORT address keys; RFC 5957 DISPLAYFROM/DISPLAYTO keys.

Implementation notes (the invariants the rest of the server relies on):

- Every offset is into the whole message. For each part, header_start <= body_start <= body_end, and a
  child's range lies inside its parent's body. `message[header_start:body_start]` is BODY[n.MIME] (the
  root: BODY[HEADER]), `message[body_start:body_end]` is BODY[n] / BODY[n.TEXT].
- The header ends at the first empty line (CRLF or LF); body_start is just after it. A header without
  an empty line runs to the end of its part, and the body is then empty. A part whose first line is
  empty has an empty header.
- In a multipart, a part ends before the line break that precedes the next delimiter line (RFC 2046
  section 5.1.1: that CRLF belongs to the delimiter). A delimiter line is "--" boundary, optionally
  "--", optional spaces and tabs, then a line break or the end of the enclosing body. A missing close
  delimiter lets the last part run to the end of the enclosing body.
- A multipart without a boundary parameter, or whose boundary never occurs, has no children: it is an
  opaque body of its declared type (RFC 3501's body-type-mpart needs at least one child, so whoever
  writes BODYSTRUCTURE must put a placeholder child there, as Dovecot does with an empty text/plain).
- message/rfc822 and message/global are parsed as messages only when their Content-Transfer-Encoding is
  7bit, 8bit or binary; encoded ones (not allowed by RFC 2046, seen in the wild) are opaque leaves
  without envelope, as are containers nested deeper than MAX_DEPTH or beyond MAX_PARTS parts: no input
  can exhaust the stack or make the stored structure unboundedly large.
- Header bytes are decoded as UTF-8; each invalid byte sequence falls back to Latin-1, one character per
  byte, so every string is valid Unicode without lone surrogates (the structure is stored as JSON).
  Text decoded from a declared charset (RFC 2047, RFC 2231) uses errors="replace"; unknown charsets fall
  back to the same UTF-8/Latin-1 rule. Only charsets Python ships are looked up, so attacker-chosen
  names never grow the codec registry's cache.
- Nothing raises on any input, and the work is linear in the message's size: bodies are only searched
  (bytes.find, regular expressions without backtracking blow-ups), never walked line by line in Python.
  The costlier per-character work has budgets: MAX_ADDRESS_TEXT characters of address fields per
  message (the outer envelope first; past the budget, address fields read as absent) and
  MAX_FIELD_TEXT characters of each Content-* field.
- Only the fields named above are read; SEARCH HEADER and BODY[HEADER.FIELDS (...)] work on the header
  bytes, sliced by offsets.
"""

from __future__ import annotations

import binascii
import calendar
import codecs
import encodings
import re
from email.utils import parsedate_tz
from encodings.aliases import aliases as _charset_aliases
from urllib.parse import unquote_to_bytes

from polyport.mime.structure import Address, Disposition, Envelope, Param, Part, Structure

MAX_DEPTH = 50  # nested multiparts and messages; deeper containers are opaque leaves
MAX_PARTS = 10_000  # parts per message; past it, the last part absorbs the rest of its multipart
MAX_ADDRESS_TEXT = 256 * 1024  # characters of address fields parsed per message (all envelopes together)
MAX_FIELD_TEXT = 64 * 1024  # characters of one Content-* field parsed for type and parameters

__all__ = [
    "MAX_ADDRESS_TEXT",
    "MAX_DEPTH",
    "MAX_FIELD_TEXT",
    "MAX_PARTS",
    "address_lines",
    "base_subject",
    "base_subject_and_reply",
    "decode_encoded_words",
    "parse",
    "parse_addresses",
]


def parse(message: bytes) -> Structure:
    """Parse a whole message (RFC 5322 bytes, CRLF or LF line ends) into its stored structure."""
    parser = _Parser(message)
    root, fields, envelope = parser.message(0, len(message), depth=0)
    subject = envelope.subject
    message_ids = _message_ids(envelope.message_id or "", bare_allowed=True)
    return Structure(
        size=len(message),
        envelope=envelope,
        root=root,
        sent=_sent(envelope.date),
        base_subject=base_subject(subject) if subject else "",
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_message_ids(envelope.in_reply_to or "", bare_allowed=False),
        references=_message_ids(_field_text(fields, b"references") or "", bare_allowed=False),
        sort_from=_sort_mailbox(envelope.from_),
        sort_to=_sort_mailbox(envelope.to),
        sort_cc=_sort_mailbox(envelope.cc),
        display_from=_display(envelope.from_),
        display_to=_display(envelope.to),
        has_attachment=_has_attachment(root),
    )


# --- Text decoding -----------------------------------------------------------------------------------

_LATIN1_FALLBACK = "polyport.mime.latin1"


def _latin1_for_invalid_utf8(error: UnicodeError) -> tuple[str, int]:
    # Each byte that is not valid UTF-8 becomes the Latin-1 character of the same value: 8-bit headers in
    # the wild are mostly UTF-8 or Latin-1, and this keeps every string free of lone surrogates.
    if isinstance(error, UnicodeDecodeError):
        return error.object[error.start : error.end].decode("latin-1"), error.end
    raise error


codecs.register_error(_LATIN1_FALLBACK, _latin1_for_invalid_utf8)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", _LATIN1_FALLBACK)


# The names Python's own codecs answer to: looking up any other name would add a negative entry to
# the encodings module's cache, which never shrinks.
_KNOWN_CHARSETS = frozenset(_charset_aliases) | frozenset(_charset_aliases.values())


def _decode_charset(data: bytes, charset: str) -> str:
    name = encodings.normalize_encoding(charset.strip().lower())
    if name not in _KNOWN_CHARSETS:
        name = name.replace(".", "_")
    if name in _KNOWN_CHARSETS:
        try:
            text = data.decode(name, "replace")
        except (LookupError, ValueError, TypeError):  # not a text codec (base64, rot13...), or idna refusing
            return _text(data)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # unicode_escape, utf-7 and friends can produce lone surrogates
            text = text.encode("utf-8", "replace").decode("utf-8")
        return text
    return _text(data)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/]*=*")


def decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded-words in a header value. Whitespace between two encoded-words is dropped
    (section 6.2); adjacent words in the same charset are joined as bytes before decoding, so a character
    split across words survives. A word that does not decode stays as written."""
    if "=?" not in text:
        return text
    pieces: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        position = match.end()
        data = _encoded_word_bytes(match.group(2), match.group(3))
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 section 5: charset*language
        if data is None or (gap and not (pending and gap.isspace())):
            if pending:
                pieces.append(_decode_charset(b"".join(pending), pending_charset))
                pending = []
            pieces.append(gap)
            if data is None:
                pieces.append(match.group(0))
                continue
        elif pending and charset.lower() != pending_charset.lower():
            pieces.append(_decode_charset(b"".join(pending), pending_charset))
            pending = []
        pending.append(data)
        pending_charset = charset
    if pending:
        pieces.append(_decode_charset(b"".join(pending), pending_charset))
    pieces.append(text[position:])
    return "".join(pieces)


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    data = payload.encode("utf-8")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    if _BASE64_TEXT.fullmatch(data) is None:
        return None  # the decoder would silently skip the junk; keep such a word as written instead
    data = data.rstrip(b"=")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))  # padding is often missing
    except binascii.Error:
        return None


# --- Header fields -----------------------------------------------------------------------------------

_CONTENT_FIELDS = frozenset(
    {
        b"content-type",
        b"content-transfer-encoding",
        b"content-id",
        b"content-description",
        b"content-md5",
        b"content-disposition",
        b"content-language",
        b"content-location",
    }
)
_MESSAGE_FIELDS = _CONTENT_FIELDS | {
    b"date",
    b"subject",
    b"from",
    b"sender",
    b"reply-to",
    b"to",
    b"cc",
    b"bcc",
    b"in-reply-to",
    b"message-id",
    b"references",
}

# The line break ending the header's last line, then the empty line.
_HEADER_END = re.compile(rb"\n\r?\n")


def _field_pattern(names: frozenset[bytes]) -> re.Pattern[bytes]:
    """A field with one of these names: at a line start, the name (any case), optional blanks (RFC 5322
    obs syntax), a colon, the rest of the line and every following line that starts with a blank (its
    folded continuation). Other fields are skipped by the regular expression engine, in C."""
    alternatives = b"|".join(re.escape(name) for name in sorted(names))
    # The look-ahead on the first letter makes most lines fail at once (4x faster on a header of
    # millions of short lines, and a little faster on real ones).
    first_letters = bytes(sorted({name[:1].lower()[0] for name in names} | {name[:1].upper()[0] for name in names}))
    return re.compile(
        rb"^(?=[" + first_letters + rb"])(" + alternatives + rb")[ \t]*:(.*(?:\n[ \t].*)*)",
        re.MULTILINE | re.IGNORECASE,
    )


_CONTENT_FIELD = _field_pattern(_CONTENT_FIELDS)
_MESSAGE_FIELD = _field_pattern(_MESSAGE_FIELDS)


def _header_bounds(message: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header fields, start of the body) for a part occupying message[start:end]."""
    if message.startswith(b"\n", start, end):
        return start, start + 1
    if message.startswith(b"\r\n", start, end):
        return start, start + 2
    found = _HEADER_END.search(message, start, end)
    if found is None:
        return end, end
    return found.start() + 1, found.end()


def _read_fields(block: bytes, wanted: re.Pattern[bytes]) -> dict[bytes, bytes]:
    """The unfolded values of the wanted fields (lower-case names), first occurrence of each."""
    fields: dict[bytes, bytes] = {}
    for name, value in wanted.findall(block):
        name = name.lower()
        if name not in fields:
            # RFC 5322 section 2.2.3: unfolding removes each line break that precedes white space.
            if b"\n" in value:
                value = value.replace(b"\r\n", b"").replace(b"\n", b"")
            fields[name] = value.strip()
    return fields


def _field_text(fields: dict[bytes, bytes], name: bytes) -> str | None:
    raw = fields.get(name)
    return None if raw is None else _text(raw)


# --- Structured field values: Content-Type, Content-Disposition, parameters -------------------------

_MEDIA_TYPE = re.compile(r"\s*([^\s/;]+)\s*/\s*([^\s/;]+)")
_DISPOSITION_TYPE = re.compile(r"\s*([^\s;]+)")
_PARAMETER = re.compile(
    r"""[\s;]*                                 # separators; lenient about missing or repeated ';'
        (?P<name>[^\s=;"]+) \s* = \s*
        (?: "(?P<quoted>(?:[^"\\]|\\.)*+)"?     # quoted-string (unterminated: to the end)
          | (?P<token>[^;]*) )                 # token; lenient: anything up to the next ';'
    """,
    re.VERBOSE | re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# RFC 2231 section 3 and 4: name*N (a section), name*N* (an encoded section), name* (encoded, whole).
_PARAMETER_SECTION = re.compile(r"(.+?)\*(?:(\d+)\*?)?")


def _strip_comments(value: str) -> str:
    """Remove RFC 5322 comments outside quoted strings (rare in MIME fields, so only when present)."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            out.append(char)
            if char == '"':
                quoted = False
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
            if char == '"':
                quoted = True
    return "".join(out)


def _content_type(value: str) -> tuple[str | None, str, list[Param]]:
    """(type, subtype, params); type None when the value has no valid type/subtype."""
    value = _strip_comments(value[:MAX_FIELD_TEXT])
    match = _MEDIA_TYPE.match(value)
    if match is None:
        semicolon = value.find(";")
        return None, "", _parameters(value, semicolon) if semicolon >= 0 else []
    return match.group(1).lower(), match.group(2).lower(), _parameters(value, match.end())


def _disposition(value: str) -> Disposition | None:
    value = _strip_comments(value[:MAX_FIELD_TEXT])
    match = _DISPOSITION_TYPE.match(value)
    if match is None:
        return None
    return Disposition(type=match.group(1).lower(), params=_parameters(value, match.end()))


def _parameters(value: str, position: int) -> list[Param]:
    raw: list[tuple[str, str]] = []
    while position < len(value):
        match = _PARAMETER.match(value, position)
        if match is None:
            # Junk such as "; format" or a stray word: skip to the next parameter.
            semicolon = value.find(";", position)
            if semicolon < 0:
                break
            position = semicolon + 1
            continue
        position = match.end()
        quoted = match.group("quoted")
        if quoted is not None:
            text = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            text = match.group("token").strip()
        raw.append((match.group("name"), text))
    if not any("*" in name for name, _ in raw):
        return [Param(name, text) for name, text in raw]
    return _join_rfc2231(raw)


def _join_rfc2231(raw: list[tuple[str, str]]) -> list[Param]:
    """Join RFC 2231 continuations into one parameter, at the place of its first section. When a
    parameter is given both ways (name= and name*=), the RFC 2231 form wins: it is the one that can
    carry the real text."""
    slots: list[tuple[str, str]] = []
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    slot_of: dict[str, int] = {}
    for name, text in raw:
        match = _PARAMETER_SECTION.fullmatch(name) if "*" in name else None
        if match is None:
            slots.append((name, text))
            continue
        base = match.group(1)
        key = base.lower()
        if key not in sections:
            sections[key] = []
            slot_of[key] = len(slots)
            slots.append((base, ""))
        number = match.group(2)
        sections[key].append((int(number) if number else 0, name.endswith("*"), text))
    for key, parts in sections.items():
        base = slots[slot_of[key]][0]
        slots[slot_of[key]] = (base, _rfc2231_value(parts))
    return [
        Param(name, text)
        for index, (name, text) in enumerate(slots)
        if name.lower() not in sections or slot_of[name.lower()] == index
    ]


def _rfc2231_value(sections: list[tuple[int, bool, str]]) -> str:
    sections.sort(key=lambda section: section[0])  # stable: a repeated number keeps its order
    charset = ""
    data: list[bytes] = []
    for index, (_, encoded, text) in enumerate(sections):
        if encoded:
            if index == 0 and text.count("'") >= 2:
                charset, _language, text = text.split("'", 2)
            data.append(unquote_to_bytes(text))
        else:
            data.append(text.encode("utf-8"))
    joined = b"".join(data)
    return _decode_charset(joined, charset) if charset else _text(joined)


def _param_value(params: list[Param], name: str) -> str | None:
    for param in params:
        if param.name.lower() == name:
            return param.value
    return None


def _first_word(value: str) -> str:
    words = _strip_comments(value[:MAX_FIELD_TEXT]).split()
    return words[0] if words else ""


# --- The part tree -----------------------------------------------------------------------------------

_IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
_FALSE_DELIMITERS_BEFORE_REGEX = 32
_LWSP = re.compile(rb"[ \t]*")


class _Parser:
    __slots__ = ("address_text_left", "message_bytes", "parts_left")

    def __init__(self, message: bytes) -> None:
        self.message_bytes = message
        self.parts_left = MAX_PARTS
        self.address_text_left = MAX_ADDRESS_TEXT

    def envelope(self, fields: dict[bytes, bytes]) -> Envelope:
        from_ = self.addresses(fields, b"from")
        return Envelope(
            date=_field_text(fields, b"date"),
            subject=_field_text(fields, b"subject"),
            from_=from_,
            # RFC 3501: Sender and Reply-To, when absent or empty, take the From value.
            sender=self.addresses(fields, b"sender") or from_,
            reply_to=self.addresses(fields, b"reply-to") or from_,
            to=self.addresses(fields, b"to"),
            cc=self.addresses(fields, b"cc"),
            bcc=self.addresses(fields, b"bcc"),
            in_reply_to=_field_text(fields, b"in-reply-to"),
            message_id=_field_text(fields, b"message-id"),
        )

    def addresses(self, fields: dict[bytes, bytes], name: bytes) -> list[Address] | None:
        """An address field, within the message's budget of address text: the hand-written parser costs
        about a microsecond a character, and a message of nothing but address fields must not cost
        seconds."""
        raw = fields.get(name)
        if not raw or self.address_text_left <= 0:
            return None
        text = _text(raw)
        addresses = parse_addresses(text, self.address_text_left)
        self.address_text_left -= len(text)
        return addresses or None

    def message(self, start: int, end: int, depth: int) -> tuple[Part, dict[bytes, bytes], Envelope]:
        """A message occupying message[start:end]: its root part, its header fields and its envelope."""
        header_end, body_start = _header_bounds(self.message_bytes, start, end)
        fields = _read_fields(self.message_bytes[start:header_end], _MESSAGE_FIELD) if header_end > start else {}
        # Before the parts: an attachment's envelopes must not spend the address budget of this one.
        envelope = self.envelope(fields)
        return self.entity(start, end, fields, body_start, in_digest=False, depth=depth), fields, envelope

    def part(self, start: int, end: int, *, in_digest: bool, depth: int) -> Part:
        """A body part occupying message[start:end] (its MIME header and its body)."""
        header_end, body_start = _header_bounds(self.message_bytes, start, end)
        fields = _read_fields(self.message_bytes[start:header_end], _CONTENT_FIELD) if header_end > start else {}
        return self.entity(start, end, fields, body_start, in_digest=in_digest, depth=depth)

    def entity(
        self, start: int, end: int, fields: dict[bytes, bytes], body_start: int, *, in_digest: bool, depth: int
    ) -> Part:
        """The part whose header fields were read: its content description and its children."""
        self.parts_left -= 1
        message = self.message_bytes

        media_type: str | None = None
        subtype = ""
        params: list[Param] = []
        raw_type = fields.get(b"content-type")
        if raw_type is not None:
            media_type, subtype, params = _content_type(_text(raw_type))
        if media_type is None:  # RFC 2045 section 5.2; RFC 2046 section 5.1.5 for digests
            media_type, subtype = ("message", "rfc822") if in_digest else ("text", "plain")
        raw_encoding = fields.get(b"content-transfer-encoding")
        encoding = (_first_word(_text(raw_encoding)).lower() if raw_encoding else "") or "7bit"

        children: list[Part] = []
        envelope: Envelope | None = None
        lines: int | None = None
        can_nest = depth < MAX_DEPTH and self.parts_left > 0
        if media_type == "multipart":
            boundary = _param_value(params, "boundary")
            if boundary and can_nest:
                children = self.multipart(body_start, end, boundary.encode("utf-8"), subtype == "digest", depth)
        elif media_type == "message" and subtype in ("rfc822", "global"):
            lines = _count_lines(message, body_start, end)
            if encoding in _IDENTITY_ENCODINGS and can_nest:
                inner, _, envelope = self.message(body_start, end, depth + 1)
                children = [inner]
        elif media_type == "text":
            lines = _count_lines(message, body_start, end)

        disposition_field = fields.get(b"content-disposition")
        language_field = fields.get(b"content-language")
        return Part(
            type=media_type,
            subtype=subtype,
            params=params,
            header_start=start,
            body_start=body_start,
            body_end=end,
            id=_field_text(fields, b"content-id"),
            description=_field_text(fields, b"content-description"),
            encoding=encoding,
            lines=lines,
            md5=_field_text(fields, b"content-md5"),
            disposition=_disposition(_text(disposition_field)) if disposition_field else None,
            language=_languages(_text(language_field)) if language_field else None,
            location=_field_text(fields, b"content-location"),
            parts=children,
            envelope=envelope,
        )

    def multipart(self, start: int, end: int, boundary: bytes, in_digest: bool, depth: int) -> list[Part]:
        """Split the multipart body message[start:end] on its delimiter lines (RFC 2046 section 5.1.1)."""
        message = self.message_bytes
        delimiter = b"--" + boundary
        # Searching for the line break too finds only delimiters at line starts, so a boundary string
        # inside a line costs nothing.
        needle = b"\n" + delimiter
        ranges: list[tuple[int, int]] = []
        part_start = -1  # -1: in the preamble (or the epilogue, after the close delimiter)
        max_ranges = max(self.parts_left, 1)
        # After many lines that only start like a delimiter, one regular expression finds the real ones
        # (in C) instead of a Python loop turn per false candidate.
        valid_line: re.Pattern[bytes] | None = None
        false_candidates = 0
        hit = start if message.startswith(delimiter, start, end) else _next_delimiter(message, needle, None, start, end)
        while hit >= 0:
            after = hit + len(delimiter)
            closing = message.startswith(b"--", after, end)
            line_end = _delimiter_line_end(message, after + 2 if closing else after, end)
            if line_end < 0:  # "--boundary" followed by other text: part of the content
                false_candidates += 1
                if valid_line is None and false_candidates > _FALSE_DELIMITERS_BEFORE_REGEX:
                    valid_line = re.compile(b"\n" + re.escape(delimiter) + rb"(?:--)?[ \t]*(?:\r?\n|\Z)")
                hit = _next_delimiter(message, needle, valid_line, hit, end)
                continue
            if part_start >= 0:
                ranges.append((part_start, _before_line_break(message, part_start, hit)))
            if closing:
                part_start = -1
                break
            part_start = line_end
            if len(ranges) + 1 >= max_ranges:
                break  # the part budget is spent: this last part takes the rest of the body
            hit = _next_delimiter(message, needle, valid_line, line_end - 1, end) if line_end < end else -1
        if part_start >= 0:  # no close delimiter: the last part runs to the end
            ranges.append((part_start, end))
        return [
            self.part(part_start, part_end, in_digest=in_digest, depth=depth + 1) for part_start, part_end in ranges
        ]


def _next_delimiter(
    message: bytes, needle: bytes, valid_line: re.Pattern[bytes] | None, position: int, end: int
) -> int:
    """Where the next "--boundary" at a line start begins (its line break at or after `position`), or -1."""
    if valid_line is None:
        found = message.find(needle, position, end)
        return found + 1 if found >= 0 else -1
    match = valid_line.search(message, position, end)
    return match.start() + 1 if match is not None else -1


def _delimiter_line_end(message: bytes, position: int, end: int) -> int:
    """Where the line after a delimiter starts, or -1 when this is no delimiter line."""
    blanks = _LWSP.match(message, position, end)
    if blanks is not None:
        position = blanks.end()
    if position == end:
        return end
    if message[position] == 0x0A:
        return position + 1
    if message.startswith(b"\r\n", position, end):
        return position + 2
    return -1


def _before_line_break(message: bytes, part_start: int, delimiter_start: int) -> int:
    """The end of a part: before the CRLF (or LF) that precedes its closing delimiter line."""
    position = delimiter_start
    if position > part_start and message[position - 1] == 0x0A:
        position -= 1
        if position > part_start and message[position - 1] == 0x0D:
            position -= 1
    return position


def _count_lines(message: bytes, start: int, end: int) -> int:
    """RFC 3501 body-fld-lines: a last line without a line break counts too."""
    if end <= start:
        return 0
    return message.count(b"\n", start, end) + (message[end - 1] != 0x0A)


def _languages(value: str) -> list[str] | None:
    languages = [language.strip() for language in _strip_comments(value[:MAX_FIELD_TEXT]).split(",")]
    return [language for language in languages if language] or None


# --- Envelope and addresses (RFC 3501 section 7.4.2, RFC 5322 section 3.4) ---------------------------


_GROUP_END = Address(None, None, None, None)

# One token per match; every character starts some alternative, so matching never fails.
_ADDRESS_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | "(?P<quoted>(?:[^"\\]|\\.)*+)\\?"?
      | (?P<literal>\[(?:[^\]\\]|\\.)*+\]?)
      | (?P<special>[<>@,;:.])
      | (?P<comment>\()
      | (?P<atom>[^ \t\r\n"(<>@,;:.\[]+)       # a stray ')' or ']' is just text
    """,
    re.VERBOSE | re.DOTALL,
)
_COMMENT_TEXT = re.compile(r"[^()\\]+")

# A token: (kind, text, as written, white space before it). Kinds: "atom", "quoted" (text unquoted),
# "literal", "comment" (text inside the parentheses), or the special character itself.
_Token = tuple[str, str, str, bool]


def _address_tokens(value: str) -> list[_Token]:
    if "(" not in value:  # no comments, the usual case: one pass of the regular expression
        return _tokens_without_comments(value)
    tokens: list[_Token] = []
    position = 0
    spaced = False
    length = len(value)
    while position < length:
        match = _ADDRESS_TOKEN.match(value, position)
        kind = match.lastgroup if match is not None else None
        if match is None or kind is None:  # unreachable by construction; stay total anyway
            tokens.append(("atom", value[position], value[position], spaced))
            position += 1
        elif kind == "space":
            spaced = True
            position = match.end()
            continue
        elif kind == "comment":
            end = _comment_end(value, position)
            inner = value[position + 1 : end - 1 if value[end - 1 : end] == ")" else end]
            tokens.append(("comment", inner.strip(), value[position:end], spaced))
            position = end
        elif kind == "quoted":
            written = match.group(0)
            text = match.group("quoted")
            tokens.append(("quoted", _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text, written, spaced))
            position = match.end()
        elif kind == "special":
            tokens.append((match.group(0), match.group(0), match.group(0), spaced))
            position = match.end()
        else:  # atom or domain literal
            tokens.append(("atom" if kind == "atom" else "literal", match.group(0), match.group(0), spaced))
            position = match.end()
        spaced = False
    return tokens


# The same tokens for a value without comments, each with the white space before it, so that one
# findall (in C) yields them all: (white space, quoted-string, domain literal, special, atom).
_SPACED_TOKEN = re.compile(
    r"""([ \t\r\n]*)
        (?: ("(?:[^"\\]|\\.)*+\\?"?)
          | (\[(?:[^\]\\]|\\.)*+\]?)
          | ([<>@,;:.])
          | ([^ \t\r\n"(<>@,;:.\[]+) )
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens_without_comments(value: str) -> list[_Token]:
    tokens: list[_Token] = []
    for space, quoted, literal, special, atom in _SPACED_TOKEN.findall(value):
        if atom:
            tokens.append(("atom", atom, atom, bool(space)))
        elif special:
            tokens.append((special, special, special, bool(space)))
        elif quoted:
            text = quoted[1:-1] if len(quoted) > 1 and quoted.endswith('"') else quoted[1:]
            if "\\" in text:
                text = _QUOTED_PAIR.sub(r"\1", text)
            tokens.append(("quoted", text, quoted, bool(space)))
        elif literal:
            tokens.append(("literal", literal, literal, bool(space)))
    return tokens


def _comment_end(value: str, position: int) -> int:
    """The end of the (possibly nested, possibly unterminated) comment starting at value[position]."""
    depth = 0
    length = len(value)
    while position < length:
        char = value[position]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position + 1
        elif char == "\\":
            position += 2
            continue
        else:
            run = _COMMENT_TEXT.match(value, position)
            if run is not None:
                position = run.end()
                continue
        position += 1
    return length


def parse_addresses(value: str, limit: int = MAX_ADDRESS_TEXT) -> list[Address]:
    """An RFC 5322 address list as IMAP envelope addresses, leniently: garbage never raises. A group is
    a start marker (mailbox = group name, host None), its members and an end marker (all None); a group
    left open is closed at the end. An address without a domain gets host "" (not None, which would
    mean a group start); an address with neither name nor mailbox is dropped. Without a display name,
    the first comment of a bare addr-spec ("user@host (Name)") serves as the name. Only the first
    `limit` characters are read; the address they may cut in two is left out."""
    truncated = len(value) > limit
    tokens = _address_tokens(value[:limit] if truncated else value)
    addresses: list[Address] = []
    in_group = False
    index = 0
    count = len(tokens)
    while index < count:
        words: list[_Token] = []
        comments: list[str] = []
        kind = ""
        while index < count:
            kind = tokens[index][0]
            if kind in (",", ";", "<") or (kind == ":" and not in_group):
                break
            if kind == "comment":
                if tokens[index][1]:
                    comments.append(tokens[index][1])
            elif kind != ">":
                words.append(tokens[index])
            index += 1
        else:
            kind = ""
        if kind == "<":
            index, address = _angle_address(tokens, index + 1, words)
            if address is not None:
                addresses.append(address)
            while index < count and tokens[index][0] not in (",", ";"):
                index += 1  # comments or junk after '>'
        elif kind == ":":
            addresses.append(Address(None, None, _phrase(words), None))
            in_group = True
            index += 1
        else:
            if words:
                mailbox, host = _addr_spec(words)
                addresses.append(Address(comments[0] if comments else None, None, mailbox, host))
            if kind == ";" and in_group:
                addresses.append(_GROUP_END)
                in_group = False
            index += 1
    if truncated and addresses and addresses[-1].host is not None:
        addresses.pop()
    if in_group:
        addresses.append(_GROUP_END)
    return addresses


def _angle_address(tokens: list[_Token], index: int, words: list[_Token]) -> tuple[int, Address | None]:
    """Parse after '<' up to '>': [route ":"] addr-spec. Returns the index after it and the address."""
    inner: list[_Token] = []
    count = len(tokens)
    in_route = index < count and tokens[index][0] == "@"
    while index < count:
        kind = tokens[index][0]
        if kind == ">":
            index += 1
            break
        if (kind == "," and not in_route) or kind == ";":
            break  # a missing '>': do not swallow the next address
        if kind == ":":
            in_route = False
        if kind not in ("comment", "<"):
            inner.append(tokens[index])
        index += 1
    route: str | None = None
    colons = [position for position, token in enumerate(inner) if token[0] == ":"]
    if colons:
        route_tokens = inner[: colons[-1]]
        if route_tokens and route_tokens[0][0] == "@":
            route = "".join(token[2] for token in route_tokens)
        inner = inner[colons[-1] + 1 :]
    name = _phrase(words) or None
    if not inner:
        # "<>" (a null address): only worth keeping with a display name.
        return index, Address(name, route, "", "") if name else None
    mailbox, host = _addr_spec(inner)
    return index, Address(name, route, mailbox, host)


def _addr_spec(tokens: list[_Token]) -> tuple[str, str]:
    """(local part, domain) as written, without white space or comments; quoted local parts keep their
    quotes, so mailbox@host is again a valid address."""
    at = len(tokens) - 1
    while at >= 0 and tokens[at][0] != "@":  # the last one: in "a@b@c" the domain is "c"
        at -= 1
    if at < 0:
        return _phrase(tokens), ""
    return "".join(token[2] for token in tokens[:at]), "".join(token[2] for token in tokens[at + 1 :])


def _phrase(tokens: list[_Token]) -> str:
    """A display name: words joined by one space where the header had white space, quotes removed."""
    pieces: list[str] = []
    for token in tokens:
        if pieces and token[3]:
            pieces.append(" ")
        pieces.append(token[1])
    return "".join(pieces)


# --- Derived fields for SEARCH, SORT and THREAD ------------------------------------------------------

_MESSAGE_ID = re.compile(r"<([^<>]*)>")


def _message_ids(value: str, *, bare_allowed: bool) -> list[str]:
    """The "<id>" tokens of a Message-ID, In-Reply-To or References value, white space removed (folding
    can split one). With bare_allowed, a Message-ID written without brackets but with an '@' counts."""
    ids: list[str] = []
    for match in _MESSAGE_ID.finditer(value):
        inner = "".join(match.group(1).split())
        if inner:
            ids.append(f"<{inner}>")
    if not ids and bare_allowed:
        words = value.split()
        if len(words) == 1 and "@" in words[0]:
            ids.append(f"<{words[0].strip('<>')}>")
    return ids


def _sent(date: str | None) -> int | None:
    """RFC 5256 section 2.2 sent date as Unix seconds; a date without a valid zone is taken as UTC."""
    if not date:
        return None
    try:
        parsed = parsedate_tz(date)
        if parsed is None:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        if not 1 <= year <= 9999:
            return None
        return calendar.timegm((year, month, day, hour, minute, second)) - (parsed[9] or 0)
    except (ValueError, IndexError, TypeError, OverflowError):  # the stdlib's date parser has had all four
        return None


# RFC 5256 2.1 step (1): tabs, line breaks and runs of white space become one space (WSP is SP and HTAB only).
_WHITE_SPACE = re.compile(r"[ \t\r\n]{2,}|[\t\r\n]")
# A run of subj-leader: WSP, or subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":", with subj-blob =
# "[" *BLOBCHAR "]" *WSP. The blobs subj-leader allows before a subj-refwd go as lone blobs (step 4), which
# leave text after them here. Possessive: nothing after could use what a repetition would give back, so a
# failing match does not backtrack through a long run.
_LEADERS = re.compile(r"(?: |(?:re|fwd?) *+(?:\[[^\[\]]*+\] *+)?:)++", re.IGNORECASE | re.ASCII)
_BLOB = re.compile(r"\[[^\[\]]*+\] *+")
# What a subject must hold for base_subject_and_reply to change it: the cheap test of the common case.
_MAYBE_NOT_BASE = re.compile(r"[\[(:\t\r\n]|=\?|  |^ | $")


def base_subject_and_reply(subject: str) -> tuple[str, bool]:
    """RFC 5256 section 2.1: the base subject, and whether the subject says a reply or forward (a subj-refwd,
    a "(fwd)" trailer or a "[fwd: ...]" wrapper was taken off; THREAD=REFERENCES step 5 asks). Computed
    once per message, not in comparisons; linear in the subject's length: the text is cut by indexes, and
    each pattern tried either consumes what it read or ends its step."""
    if _MAYBE_NOT_BASE.search(subject) is None:
        return subject, False
    text = decode_encoded_words(subject) if "=?" in subject else subject
    if "  " in text or "\t" in text or "\r" in text or "\n" in text:
        text = _WHITE_SPACE.sub(" ", text)
    start, end = 0, len(text)
    reply = False
    while True:
        while end > start:  # (2) trailing subj-trailer: "(fwd)" / WSP
            if text[end - 1] == " ":
                end -= 1
            elif text[end - 1] == ")" and end - start >= 5 and text[end - 5:end].lower() == "(fwd)":
                end -= 5
                reply = True
            else:
                break
        while start < end:  # (3) subj-leader, (4) a subj-blob that leaves text after it, (5) repeated
            leaders = _LEADERS.match(text, start, end)
            if leaders is not None:
                reply = reply or not text[start:leaders.end()].isspace()
                start = leaders.end()
                continue
            if text[start] == "[":
                blob = _BLOB.match(text, start, end)
                if blob is not None and blob.end() < end:
                    start = blob.end()
                    continue
            break
        # (6) "[fwd:" ... "]" around the rest: off, and again from (2)
        if end - start >= 6 and text[end - 1] == "]" and text[start:start + 5].lower() == "[fwd:":
            start += 5
            end -= 1
            reply = True
            continue
        return text[start:end], reply


def base_subject(subject: str) -> str:
    """RFC 5256 section 2.1 base subject (stored at delivery: SORT SUBJECT and the webmail's threads)."""
    return base_subject_and_reply(subject)[0]


def _sort_mailbox(addresses: list[Address] | None) -> str:
    """RFC 5256 SORT FROM/TO/CC key: addr-mailbox of the first address (a group's name for a group)."""
    if not addresses:
        return ""
    return (addresses[0].mailbox or "").lower()


def _display(addresses: list[Address] | None) -> str:
    """RFC 5957 section 3 DISPLAY value of the first address: the decoded name when not empty, else
    mailbox@host, else the mailbox (a group's name), else ""."""
    if not addresses:
        return ""
    first = addresses[0]
    if first.name:
        name = _WHITE_SPACE.sub(" ", decode_encoded_words(first.name)).strip()
        if name:
            return name
    if first.mailbox is not None and first.host:
        return f"{first.mailbox}@{first.host}"
    return first.mailbox or ""


def address_lines(envelope: Envelope) -> str:
    """The address text stored beside a body for SEARCH FROM/TO/CC/BCC (and the web's lists): one line per
    address, "field:Name <mailbox@host>" with the name decoded (RFC 2047). A group (RFC 5322 3.4) gives
    a line "field:group name:" before its members' lines, so a search for the group's name finds the
    message as one for a member's address does; its end marker gives none."""
    lines: list[str] = []
    fields = (("from", envelope.from_), ("to", envelope.to), ("cc", envelope.cc), ("bcc", envelope.bcc))
    for label, addresses in fields:
        for address in addresses or ():
            if address.host is not None:
                name = decode_encoded_words(address.name or "")
                lines.append(f"{label}:{name} <{address.mailbox}@{address.host}>")
            elif address.mailbox:  # a group's start marker: its name
                lines.append(f"{label}:{decode_encoded_words(address.mailbox)}:")
    return "\n".join(lines)


def _has_attachment(root: Part) -> bool:
    """A part marked as an attachment, or a named non-text leaf (an image or a PDF sent inline usually is
    one, for the reader)."""
    pending = [root]
    while pending:
        part = pending.pop()
        disposition = part.disposition
        if disposition is not None and disposition.type == "attachment":
            return True
        if part.type not in ("text", "multipart") and (
            (disposition is not None and _param_value(disposition.params, "filename") is not None)
            or _param_value(part.params, "name") is not None
        ):
            return True
        pending.extend(part.parts)
    return False
