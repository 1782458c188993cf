"""IMAP server responses: the pieces the session writes, as bytes. Pure: no I/O.

Grammar from RFC 3501 section 9 and RFC 9051 section 9; BODYSTRUCTURE per RFC 3501 section 7.4.2 and
RFC 9051 section 7.5.2 (message/global as in RFC 6532); modified UTF-7 mailbox names per RFC 3501
section 5.1.3 (RFC 9051 section 5.1.3), sent as UTF-8 instead once UTF8=ACCEPT is enabled (RFC 6855
section 3); sequence sets for ESEARCH (RFC 4731) and VANISHED (RFC 7162 section 3.2.10).

Implementation notes:
- Strings go out quoted when the grammar allows (CHAR except CR and LF; 8-bit only in UTF-8 mode),
  else as a literal: a client never sees an escape it cannot read.
- The structure types come from `polyport.mime.structure` (computed once at delivery); nothing here
  reads a message's bytes.
- Every function returns bytes ready to write; none writes a line end unless its grammar has one (a
  literal's "{n}\\r\\n").
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Iterable, Sequence
from typing import Final

from polyport.mime.structure import Address, Disposition, Envelope, Param, Part

NIL: Final = b"NIL"

# RFC 3501 section 9: QUOTED-CHAR is any TEXT-CHAR (CHAR except CR, LF; CHAR excludes NUL and 8-bit).
_QUOTABLE: Final = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*")
# RFC 6855 section 3: with UTF8=ACCEPT enabled, quoted strings may carry UTF-8.
_QUOTABLE_UTF8: Final = re.compile(rb"[^\x00\r\n]*")
# RFC 3501 section 9: ASTRING-CHAR = ATOM-CHAR / resp-specials.
_ASTRING_ATOM: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\]+')
_PRINTABLE: Final = re.compile(rb"[\x20-\x7e]*")
_UTF7_RUNS: Final = re.compile(r"[\x20-\x7e]+|[^\x20-\x7e]+")
# RFC 2231 section 7: attribute-char, what an extended parameter value carries without %-encoding.
_ATTRIBUTE_CHAR: Final = re.compile(r"[!#$&+.0-9A-Z^_`a-z{|}~-]")
_MONTHS: Final = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")


# -- strings -----------------------------------------------------------------------------------------

def quoted_or_literal(value: str | bytes, *, utf8: bool = False) -> bytes:
    """A `string` (RFC 3501 section 9): quoted when every byte may be, else a literal `{n}\\r\\n...`."""
    data = value.encode() if isinstance(value, str) else value
    if _QUOTABLE.fullmatch(data) or (utf8 and _QUOTABLE_UTF8.fullmatch(data) and _is_utf8(data)):
        if b"\\" in data or b'"' in data:
            data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')  # RFC 3501 section 9: "\" quoted-specials
        return b'"' + data + b'"'
    return literal(data)


def literal(data: bytes) -> bytes:
    """RFC 3501 section 4.3: a synchronizing-literal form, as servers send them."""
    return b"{%d}\r\n" % len(data) + data


def nstring(value: str | bytes | None, *, utf8: bool = False) -> bytes:
    """RFC 3501 section 9: nstring = string / nil."""
    return NIL if value is None else quoted_or_literal(value, utf8=utf8)


def atom_or_string(value: str | bytes, *, utf8: bool = False) -> bytes:
    """An astring that is not a mailbox name (an ACL identifier, a quota root, a header name): an atom
    when it is one (but never "NIL", which some clients read as nil), else a string."""
    data = value.encode() if isinstance(value, str) else value
    if _ASTRING_ATOM.fullmatch(data) and data.upper() != NIL:
        return data
    return quoted_or_literal(data, utf8=utf8)


def astring(mailbox: str, *, utf8: bool = False) -> bytes:
    """A mailbox name as an astring (RFC 3501 section 9 `mailbox`): modified UTF-7 (section 5.1.3) unless
    UTF8=ACCEPT is enabled (RFC 6855 section 3), then an atom when it is one, else a string."""
    data = mailbox.encode() if utf8 else utf7_encode(mailbox)
    return atom_or_string(data, utf8=utf8)


def flags_list(flags: Iterable[str]) -> bytes:
    """RFC 3501 section 9: flag-list = "(" [flag *(SP flag)] ")"."""
    return b"(" + " ".join(flags).encode("ascii") + b")"


def date_time(moment: datetime.datetime) -> bytes:
    """RFC 3501 section 9 `date-time` for INTERNALDATE: "17-Jul-1996 02:44:25 -0700" (UTC when naive)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    offset = moment.utcoffset() or datetime.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = b"-" if minutes < 0 else b"+"
    minutes = abs(minutes)
    return b'"%02d-%s-%04d %02d:%02d:%02d %s%02d%02d"' % (
        moment.day, _MONTHS[moment.month - 1], moment.year, moment.hour, moment.minute, moment.second,
        sign, minutes // 60, minutes % 60)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


# -- modified UTF-7 (RFC 3501 section 5.1.3) -----------------------------------------------------------

def utf7_encode(text: str) -> bytes:
    """A mailbox name in modified UTF-7. Raises ValueError (UnicodeEncodeError) for lone surrogates."""
    if text.isascii() and text.isprintable() and "&" not in text:
        return text.encode("ascii")
    out: list[bytes] = []
    for match in _UTF7_RUNS.finditer(text):
        run = match.group()
        if "\x20" <= run[0] <= "\x7e":
            out.append(run.replace("&", "&-").encode("ascii"))  # "&" is sent as "&-"
        else:
            # Modified BASE64 of UTF-16BE: "," for "/", no "=" padding, closed by "-".
            encoded = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            out.append(b"&" + encoded + b"-")
    return b"".join(out)


_MODIFIED_BASE64: Final = re.compile(rb"[A-Za-z0-9+,]+")


def utf7_decode(data: bytes) -> str:
    """A mailbox name from modified UTF-7. Only the one canonical form is accepted (no encoded printable
    ASCII, no null shifts "-&", zero padding bits): anything else raises ValueError, so one name has one
    spelling on the wire."""
    if b"&" not in data:
        if _PRINTABLE.fullmatch(data):
            return data.decode("ascii")
        raise ValueError("modified UTF-7 holds printable US-ASCII only")
    out: list[str] = []
    pos = 0
    while True:
        shift = data.find(b"&", pos)
        plain = data[pos:] if shift < 0 else data[pos:shift]
        if not _PRINTABLE.fullmatch(plain):
            raise ValueError("modified UTF-7 holds printable US-ASCII only")
        out.append(plain.decode("ascii"))
        if shift < 0:
            break
        end = data.find(b"-", shift + 1)
        if end < 0:
            raise ValueError('"&" without its closing "-" in modified UTF-7')
        if end == shift + 1:
            out.append("&")
        else:
            encoded = data[shift + 1:end]
            if not _MODIFIED_BASE64.fullmatch(encoded) or len(encoded) % 4 == 1:
                raise ValueError("bad modified BASE64 in a mailbox name")
            raw = base64.b64decode(encoded.replace(b",", b"/") + b"=" * (-len(encoded) % 4))
            out.append(raw.decode("utf-16-be"))  # odd lengths and lone surrogates raise here
        pos = end + 1
    text = "".join(out)
    if utf7_encode(text) != data:
        raise ValueError("not the canonical modified UTF-7 form of the name")
    return text


# -- sequence sets ---------------------------------------------------------------------------------------

def sequence_set(numbers: Iterable[int]) -> bytes:
    """RFC 3501 section 9 sequence-set of the given numbers, ascending, runs compressed to ranges
    ("1:3,7,9:10"), for ESEARCH ALL (RFC 4731) and VANISHED (RFC 7162). Raises ValueError when empty or
    when a number is below 1 (the grammar has no empty set and no zero)."""
    ordered = sorted(set(numbers))
    if not ordered:
        raise ValueError("a sequence set holds at least one number")
    if ordered[0] < 1:
        raise ValueError("sequence numbers and UIDs start at 1")
    return ordered_set(ordered)


def ordered_set(values: Sequence[int]) -> bytes:
    """A sequence-set of `values` (at least one) in their order: only runs ascending by one become ranges,
    so the set reads in the order given (ESORT's ALL and PARTIAL keep sort order, RFC 5267 section 3)."""
    parts: list[bytes] = []
    first = last = values[0]
    for number in values[1:]:
        if number == last + 1:
            last = number
            continue
        parts.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
        first = last = number
    parts.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
    return b",".join(parts)


# -- ENVELOPE (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2) ---------------------------------------------

def _address(address: Address, utf8: bool) -> bytes:
    # address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
    return b"(%s %s %s %s)" % (nstring(address.name, utf8=utf8), nstring(address.adl, utf8=utf8),
                               nstring(address.mailbox, utf8=utf8), nstring(address.host, utf8=utf8))


def _address_list(addresses: list[Address] | None, utf8: bool) -> bytes:
    # env-from etc. = "(" 1*address ")" / nil: addresses follow each other without spaces
    if not addresses:
        return NIL
    return b"(" + b"".join(_address(address, utf8) for address in addresses) + b")"


def envelope(env: Envelope, *, utf8: bool = False) -> bytes:
    """RFC 3501 section 9 `envelope`. A missing Sender or Reply-To is sent as the From value, as section
    7.4.2 requires (a stored envelope may leave them None)."""
    sender = env.sender if env.sender else env.from_
    reply_to = env.reply_to if env.reply_to else env.from_
    return b"(" + b" ".join((
        nstring(env.date, utf8=utf8),
        nstring(env.subject, utf8=utf8),
        _address_list(env.from_, utf8),
        _address_list(sender, utf8),
        _address_list(reply_to, utf8),
        _address_list(env.to, utf8),
        _address_list(env.cc, utf8),
        _address_list(env.bcc, utf8),
        nstring(env.in_reply_to, utf8=utf8),
        nstring(env.message_id, utf8=utf8),
    )) + b")"


# -- BODY and BODYSTRUCTURE (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2) --------------------------------

# A multipart without children, or an encapsulated message without its parsed content, still needs a
# body where the grammar has one (multipart: 1*body; message: envelope SP body).
_EMPTY_BODY: Final = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)'
_EMPTY_ENVELOPE: Final = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
_ENCAPSULATED: Final = frozenset({("message", "rfc822"), ("message", "global")})


def _param(param: Param, utf8: bool) -> bytes:
    """One parameter's name and value. The structure keeps RFC 2231 values decoded; a client that has not
    enabled UTF8=ACCEPT gets non-ASCII ones encoded again, as `name*` "utf-8''..." (RFC 2231 section 4),
    which it can decode, rather than 8-bit bytes in a literal, which it cannot tell the charset of."""
    if utf8 or param.value.isascii():
        return quoted_or_literal(param.name, utf8=utf8) + b" " + quoted_or_literal(param.value, utf8=utf8)
    encoded = "".join(chr(byte) if _ATTRIBUTE_CHAR.fullmatch(chr(byte)) else f"%{byte:02X}"
                      for byte in param.value.encode())
    return quoted_or_literal(param.name + "*") + b" " + quoted_or_literal("utf-8''" + encoded)


def _params(params: list[Param], utf8: bool) -> bytes:
    # body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    if not params:
        return NIL
    return b"(" + b" ".join(_param(param, utf8) for param in params) + b")"


def _leaf_params(part: Part) -> list[Param]:
    """A text/plain part's parameters, with the charset MIME assumes when none is given (RFC 2046 4.1.2:
    US-ASCII), as Dovecot and the examples of RFC 3501 7.4.2 show it."""
    if part.type == "text" and part.subtype == "plain" and not any(p.name.lower() == "charset" for p in part.params):
        return [*part.params, Param("CHARSET", "US-ASCII")]
    return part.params


def _disposition(disposition: Disposition | None, utf8: bool) -> bytes:
    # body-fld-dsp = "(" string SP body-fld-param ")" / nil
    if disposition is None:
        return NIL
    return b"(" + quoted_or_literal(disposition.type, utf8=utf8) + b" " + _params(disposition.params, utf8) + b")"


def _language(language: list[str] | None, utf8: bool) -> bytes:
    # body-fld-lang = nstring / "(" string *(SP string) ")"
    if not language:
        return NIL
    if len(language) == 1:
        return quoted_or_literal(language[0], utf8=utf8)
    return b"(" + b" ".join(quoted_or_literal(tag, utf8=utf8) for tag in language) + b")"


def _extension_tail(part: Part, utf8: bool) -> bytes:
    # ... SP body-fld-dsp SP body-fld-lang SP body-fld-loc (every field sent, NIL when absent)
    return b" %s %s %s" % (_disposition(part.disposition, utf8), _language(part.language, utf8),
                           nstring(part.location, utf8=utf8))


def _body(out: bytearray, part: Part, extensible: bool, utf8: bool) -> None:
    out += b"("
    if part.type == "multipart":
        # body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
        if part.parts:
            for child in part.parts:
                _body(out, child, extensible, utf8)
        else:
            out += _EMPTY_BODY
        out += b" " + quoted_or_literal(part.subtype.upper(), utf8=utf8)
        if extensible:
            # body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
            out += b" " + _params(part.params, utf8) + _extension_tail(part, utf8)
        out += b")"
        return
    # body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
    out += b"%s %s %s %s %s %s %d" % (
        quoted_or_literal(part.type.upper(), utf8=utf8), quoted_or_literal(part.subtype.upper(), utf8=utf8),
        _params(_leaf_params(part), utf8), nstring(part.id, utf8=utf8), nstring(part.description, utf8=utf8),
        quoted_or_literal(part.encoding.upper(), utf8=utf8), part.size)
    if (part.type, part.subtype) in _ENCAPSULATED:
        # body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
        out += b" "
        out += envelope(part.envelope, utf8=utf8) if part.envelope is not None else _EMPTY_ENVELOPE
        out += b" "
        if part.parts:
            _body(out, part.parts[0], extensible, utf8)
        else:
            out += _EMPTY_BODY
        out += b" %d" % (part.lines or 0)
    elif part.type == "text":
        # body-type-text = media-text SP body-fields SP body-fld-lines
        out += b" %d" % (part.lines or 0)
    if extensible:
        # body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
        out += b" " + nstring(part.md5, utf8=utf8) + _extension_tail(part, utf8)
    out += b")"


def body_structure(part: Part, extensible: bool, *, utf8: bool = False) -> bytes:
    """FETCH BODY (extensible=False: no extension data) or BODYSTRUCTURE (extensible=True: every
    extension field, NIL when absent). Types, subtypes and encodings go out upper-case as in the RFC's
    examples (the structure keeps them lower-case); parameter names and values as the message gave them."""
    out = bytearray()
    _body(out, part, extensible, utf8)
    return bytes(out)
