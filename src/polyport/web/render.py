"""What the webmail shows of a stored message, from its bytes and its parsed structure (pure: no I/O).

The body is chosen as mail readers do: in multipart/alternative the HTML version is displayed and the
plain one kept for the text view; multipart/related shows its root and serves the other parts to it by
Content-ID; in multipart/mixed (and any other multipart) inline text parts are body, one after the
other, and everything else is an attachment. A forwarded message (message/rfc822) is an attachment.

Sections are IMAP section numbers (RFC 3501 6.4.5): "1" is the body of a single-part message, "2.1" the
first part inside part 2, counting inside an attached message. Nothing here raises on a damaged message:
broken transfer encodings decode as far as they can, unknown charsets fall back to UTF-8/Latin-1.
"""

from __future__ import annotations

import binascii
import codecs
import datetime
import encodings
import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_tz
from encodings.aliases import aliases as _charset_aliases

import nh3

from polyport.mime.parse import decode_encoded_words
from polyport.mime.structure import Address, Param, Part, Structure
from polyport.web.sanitize import SanitizedHtml, sanitize_html, text_to_html

__all__ = [
    "AttachmentInfo",
    "DisplayAddress",
    "RenderedMessage",
    "decode_header",
    "format_addresses",
    "html_to_text",
    "part_bytes",
    "render_message",
    "text_of",
]


@dataclass(frozen=True, slots=True)
class DisplayAddress:
    name: str  # decoded display name, "" when none (or when it only repeats the address)
    email: str  # mailbox@host; a group's name (with name "") for an empty group

    def __str__(self) -> str:
        if not self.name:
            return self.email
        if not self.email:
            return self.name
        name = self.name
        if _NEEDS_QUOTES.search(name):  # keep "Doe, John" <j@x> one address when the text is reused
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.email}>"


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    section: str  # IMAP section, for part_bytes and the download URL
    filename: str  # decoded and safe for Content-Disposition (never empty)
    content_type: str  # "type/subtype", lower-case
    size: int  # decoded size, estimated from the encoded size
    inline: bool  # shown inside the displayed HTML (a cid: image): the webmail need not list it
    content_id: str | None  # without angle brackets


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    from_: list[DisplayAddress]
    to: list[DisplayAddress]
    cc: list[DisplayAddress]
    bcc: list[DisplayAddress]
    reply_to: list[DisplayAddress]  # empty when absent or the same as From: replies go to reply_to or from_
    date: str | None  # the Date header as written
    sent: datetime.datetime | None  # the Date header parsed, with its own UTC offset; None when unparsable
    message_id: str | None  # "<id>"
    in_reply_to: str | None  # "<id>" (several separated by spaces, rarely)
    references: list[str]  # "<id>" each, oldest first
    text: str | None  # the plain text body, or None when the message has no plain text
    html: SanitizedHtml | None  # the HTML body, sanitized; None when the message has no HTML
    attachments: list[AttachmentInfo] = field(default_factory=list)
    blocked_remote: int = 0  # remote images left out of html (allow_remote=False)


# --- Headers --------------------------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,"]')  # RFC 5322 specials, less "." (obs-phrase allows it)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s{2,}")


def decode_header(value: str | None) -> str:
    """A header value for display: RFC 2047 encoded-words decoded (bad charsets and encodings tolerated),
    unfolded, control characters gone, white space runs collapsed. Never raises."""
    if not value:
        return ""
    try:
        text = decode_encoded_words(value)
    except Exception:  # decode_encoded_words promises not to raise; a header must never break a page
        text = value
    return _SPACES.sub(" ", _CONTROLS.sub(" ", text)).strip()


def format_addresses(addresses: list[Address] | None) -> list[DisplayAddress]:
    """Envelope addresses for display. Group markers are dropped (their members stay); an empty group
    ("undisclosed-recipients:;") shows as its name."""
    result: list[DisplayAddress] = []
    if not addresses:
        return result
    group: str | None = None
    members = 0
    for address in addresses:
        if address.host is None:  # a group marker: start (mailbox = the name) or end (all None)
            if address.mailbox is not None:
                group, members = decode_header(address.mailbox), 0
            else:
                if group and not members:
                    result.append(DisplayAddress(name="", email=group))
                group = None
            continue
        members += 1
        mailbox = address.mailbox or ""
        email = f"{mailbox}@{address.host}" if address.host else mailbox
        name = decode_header(address.name)
        if name == email or name == f"<{email}>":
            name = ""
        if name or email:
            result.append(DisplayAddress(name=name, email=email))
    return result


def _header_field(header: bytes, name: str) -> str | None:
    """The first `name` field of a header block, unfolded; tolerant of LF line ends and junk lines."""
    pattern = re.compile(rb"(?im)^" + re.escape(name.encode()) + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)")
    match = pattern.search(header)
    if match is None:
        return None
    return _utf8(match.group(1)).replace("\r", "").replace("\n", "").strip()


_MESSAGE_ID = re.compile(r"<([^<>]*)>")


def _message_ids(value: str) -> list[str]:
    return ["<" + "".join(found.split()) + ">" for found in _MESSAGE_ID.findall(value) if found.strip()]


def _sent(date: str | None, seconds: int | None) -> datetime.datetime | None:
    if date:
        try:
            parsed = parsedate_tz(date)
            if parsed is not None:
                offset = datetime.timedelta(seconds=parsed[9] or 0)
                year, month, day, hour, minute, second = parsed[:6]
                return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone(offset))
        except (ValueError, TypeError, IndexError, OverflowError):  # out-of-range fields, odd zones
            pass
    if seconds is not None:  # the parser's reading, in UTC
        try:
            return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return None


# --- Text decoding --------------------------------------------------------------------------------------

_LATIN1_FALLBACK = "polyport.web.latin1"


def _latin1_for_invalid_utf8(error: UnicodeError) -> tuple[str, int]:
    # Undeclared 8-bit text is mostly UTF-8 or Latin-1: each byte that is not UTF-8 reads as Latin-1.
    if isinstance(error, UnicodeDecodeError):
        return error.object[error.start : error.end].decode("latin-1"), error.end
    raise error


codecs.register_error(_LATIN1_FALLBACK, _latin1_for_invalid_utf8)


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", _LATIN1_FALLBACK)


# Only the names Python's codecs answer to are looked up: any other name would add an entry to the
# encodings module's cache, which never shrinks (as in mime/parse.py).
_KNOWN_CHARSETS = frozenset(_charset_aliases) | frozenset(_charset_aliases.values())
# Labels that senders use for a superset (as browsers read them, WHATWG Encoding).
_CHARSET_SUPERSETS = {
    "ascii": "",  # "us-ascii" mail is very often 8-bit UTF-8 in fact: the UTF-8/Latin-1 rule reads both
    "646": "",
    "us_ascii": "",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "iso_8859_1": "cp1252",
    "latin1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


def _decode_text(data: bytes, charset: str) -> str:
    """Bytes in a declared charset; no or an unknown charset reads as UTF-8 with Latin-1 for bad bytes."""
    name = encodings.normalize_encoding(charset.strip().strip("\"'").lower()) if charset else ""
    name = _CHARSET_SUPERSETS.get(name, name)
    if name and name not in _KNOWN_CHARSETS:
        name = name.replace(".", "_")
    text: str | None = None
    if name in _KNOWN_CHARSETS and name not in ("utf_8", "utf8", "u8", "utf"):
        try:
            text = data.decode(name, "replace")
            text.encode("utf-8")  # utf-7, unicode_escape and friends can produce lone surrogates
        except (LookupError, ValueError, TypeError):  # not a text codec (base64, rot13...), or a surrogate
            text = None
    if text is None:
        text = _utf8(data)
    return text[1:] if text.startswith("\ufeff") else text


def _param(params: list[Param], name: str) -> str | None:
    for param in params:
        if param.name.lower() == name:
            return param.value
    return None


_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]{1,40})""", re.IGNORECASE)


def _charset_of(part: Part, body: bytes) -> str:
    charset = _param(part.params, "charset")
    if charset:
        return charset
    if part.subtype == "html":  # an HTML part may say it only in a <meta>, as browsers read it
        match = _META_CHARSET.search(body, 0, 2048)
        if match is not None:
            return match.group(1).decode("ascii")
    return ""


def _decoded(data: bytes, part: Part) -> bytes:
    """A leaf's body with its transfer encoding undone, as far as it decodes: damage never raises."""
    body = data[part.body_start : part.body_end]
    if part.encoding == "base64":
        return _base64(body)
    if part.encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body  # 7bit, 8bit, binary, and encodings we do not know (shown as they are)


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")


def _base64(body: bytes) -> bytes:
    try:
        return binascii.a2b_base64(body)  # fast path; ignores line breaks and stray characters
    except binascii.Error:
        pass
    # Padding wrong or missing (or junk after it): keep the alphabet, drop a dangling sixth bit group.
    clean = _NOT_BASE64.sub(b"", body)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:
        return b""


def _text_of_part(data: bytes, part: Part) -> str:
    body = _decoded(data, part)
    return _decode_text(body, _charset_of(part, body))


# --- HTML to text ---------------------------------------------------------------------------------------

_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
# Markers for block boundaries (private-use characters, removed from the text itself): a run of them
# becomes one line break, or a blank line when a paragraph-like element is among them, as a browser
# shows nested blocks without stacking their breaks.
_LINE, _PARAGRAPH = "\ue000", "\ue001"
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "hr"})
_BLOCK_TAGS = _PARAGRAPH_TAGS | {"br", "div", "tr", "td", "th", "li", "ul", "ol", "dl", "dt", "dd", "pre"}
_BLOCK_TAGS |= {"section", "article", "header", "footer"}
_TAG = re.compile(r"<(/?)([a-z0-9]+)>")  # nh3's output: only the tags above, without attributes
# Each starts where a run of blanks starts (a start inside one fails or succeeds as the run's own start
# does, after scanning the rest of it: quadratic, issue 12).
_BOUNDARY_RUN = re.compile(f"(?<![ \\t])[ \\t]*+[{_LINE}{_PARAGRAPH}][{_LINE}{_PARAGRAPH} \\t\\n]*")
_BLANK_RUNS = re.compile(r"\n{3,}")
_LINE_EDGE_SPACES = re.compile(r"(?<![ \t])[ \t]++\n|\n[ \t]+")


def html_to_text(markup: str) -> str:
    """HTML as plain text (for replies and forwards): white space collapsed as a browser does, block
    elements and <br> as line breaks, tags gone, entities decoded, runs of blank lines shortened."""
    # nh3 first, keeping only the block tags, bare ("*" must be given, or ammonia keeps title and lang):
    # what is left to read is well-formed, and any "<" in the text is escaped.
    cleaned = nh3.clean(
        _HTML_SPACE.sub(" ", markup),
        tags=set(_BLOCK_TAGS),
        attributes={"*": set()},
        clean_content_tags={"script", "style", "title", "xml", "template"},
        link_rel=None,
    )
    pieces = _TAG.split(cleaned)  # text, "/" or "", tag name, text, ...
    out: list[str] = []
    for index in range(0, len(pieces), 3):
        out.append(html.unescape(pieces[index]).replace(_LINE, "").replace(_PARAGRAPH, "").replace("\xa0", " "))
        if index + 2 < len(pieces):
            closing, tag = pieces[index + 1], pieces[index + 2]
            if tag == "br":
                out.append("\n")
            elif tag in ("td", "th"):
                out.append(" " if closing else "")  # cells of a row side by side
            else:
                out.append(_PARAGRAPH if tag in _PARAGRAPH_TAGS else _LINE)
    text = _BOUNDARY_RUN.sub(lambda run: "\n\n" if _PARAGRAPH in run.group(0) else "\n", "".join(out))
    text = _LINE_EDGE_SPACES.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


# --- Sections and attachments ---------------------------------------------------------------------------


def _child_section(section: str, number: int) -> str:
    return f"{section}.{number}" if section else str(number)


_SECTION = re.compile(r"[1-9][0-9]{0,5}(?:\.[1-9][0-9]{0,5}){0,60}")


def _find(structure: Structure, section: str) -> Part:
    """The part a section names, as IMAP's (RFC 3501 6.4.5), with one difference: the "1" of a message whose
    root is itself a message/rfc822 is that root (the attached message as a whole), as render_message lists it."""
    if _SECTION.fullmatch(section) is None:
        raise KeyError(section)
    part = structure.root
    for index, number in enumerate(int(number) for number in section.split(".")):
        in_message = index == 0  # the numbers count in a message: its body is "1" when it is not multipart
        if index > 0 and part.type == "message" and part.parts:
            part, in_message = part.parts[0], True  # numbers after a message/rfc822 count inside it
        if part.type == "multipart" and part.parts:
            if number > len(part.parts):
                raise KeyError(section)
            part = part.parts[number - 1]
        elif not (in_message and number == 1):
            raise KeyError(section)
    return part


_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069<>:"|?*]')
_SEPARATORS = re.compile(r"[/\\]")
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
}


def _safe_filename(name: str, *, path: bool = True) -> str:
    """A name safe for Content-Disposition and a download folder: the last path component (path) or slashes
    as "_", without control, bidi-override or Windows-reserved characters, no leading dots, at most 200
    characters (extension kept)."""
    name = _SEPARATORS.split(name)[-1] if path else _SEPARATORS.sub("_", name)
    name = _UNSAFE_FILENAME.sub("", name)
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = stem[: 200 - len(extension) - 1] + dot + extension if dot and len(extension) <= 16 else name[:200]
    return name


def _filename(part: Part, section: str) -> str:
    raw = None
    if part.disposition is not None:
        raw = _param(part.disposition.params, "filename")
    if not raw:
        raw = _param(part.params, "name")
    name = _safe_filename(decode_header(raw)) if raw else ""  # encoded-words in names: Outlook's habit
    content_type = f"{part.type}/{part.subtype}"
    if not name and part.type == "message" and part.envelope is not None:
        subject = _safe_filename(decode_header(part.envelope.subject), path=False)
        name = (subject[:150] or "message") + ".eml"
    if not name:
        name = f"part-{section}" + _EXTENSIONS.get(content_type, ".bin")
    return name


def _content_id(part: Part) -> str | None:
    if not part.id:
        return None
    return part.id.strip().strip("<>").strip() or None


def _decoded_size(data: bytes, part: Part) -> int:
    size = part.body_end - part.body_start
    if part.encoding == "base64":
        start, end = part.body_start, part.body_end
        ignored = data.count(b"\n", start, end) + data.count(b"\r", start, end) + data.count(b"=", start, end)
        return max(size - ignored, 0) * 3 // 4
    return size


def part_bytes(data: bytes, structure: Structure, section: str) -> tuple[bytes, str, str]:
    """(decoded content, "type/subtype", safe filename) of a section. A message/rfc822 part gives the
    attached message's bytes; a multipart its raw body. KeyError when the section does not exist."""
    part = _find(structure, section)
    content_type = f"{part.type}/{part.subtype}"
    if part.type == "multipart" or (part.type == "message" and part.parts):
        body = data[part.body_start : part.body_end]
    else:
        body = _decoded(data, part)
    return body, content_type, _filename(part, section)


# --- Choosing the body ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Piece:
    """One displayed body part. html is a list of (is_html, text) segments when this piece has an HTML
    form; text is its plain form (None for an HTML part without a plain alternative)."""

    text: str | None
    html: list[tuple[bool, str]] | None


def _contains_html(part: Part) -> bool:
    if part.type == "text":
        return part.subtype == "html"
    return part.type == "multipart" and any(_contains_html(child) for child in part.parts)


def _is_plain(part: Part) -> bool:
    return part.type == "text" and part.subtype == "plain"


class _Walker:
    __slots__ = ("attachments", "cids", "data", "pieces")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pieces: list[_Piece] = []
        self.attachments: list[tuple[str, Part]] = []
        self.cids: dict[str, str] = {}  # Content-ID -> section

    def body(self, part: Part, section: str) -> None:
        """A part in a place where a body is expected (the root, a multipart's child)."""
        if part.type == "multipart" and part.parts:
            if part.subtype == "alternative":
                self.alternative(part, section)
            elif part.subtype == "related":
                self.related(part, section)
            else:
                for number, child in enumerate(part.parts, 1):
                    self.child(child, _child_section(section, number), first=number == 1)
        elif part.type == "multipart":  # no boundary found: show what is there as text
            self.pieces.append(_Piece(_utf8(self.data[part.body_start : part.body_end]), None))
        else:
            self.child(part, section or "1", first=True)

    def child(self, part: Part, section: str, *, first: bool) -> None:
        if part.type == "multipart":
            self.body(part, section)
            return
        disposition = part.disposition.type if part.disposition is not None else None
        named = _param(part.params, "name") is not None or (
            part.disposition is not None and _param(part.disposition.params, "filename") is not None
        )
        # A text part is body unless marked as an attachment, or named without being marked inline past the
        # first place (a .txt attached by a client that sets no disposition).
        if (
            part.type == "text"
            and part.subtype in ("plain", "html")
            and disposition != "attachment"
            and (first or not named or disposition == "inline")
        ):
            text = _text_of_part(self.data, part)
            self.pieces.append(_Piece(None, [(True, text)]) if part.subtype == "html" else _Piece(text, None))
        else:
            self.attach(part, section)

    def attach(self, part: Part, section: str) -> None:
        self.attachments.append((section, part))
        content_id = _content_id(part)
        if content_id is not None:
            self.cids.setdefault(content_id, section)

    def related(self, part: Part, section: str) -> None:
        start = _param(part.params, "start")
        root_index = 0
        if start:
            wanted = start.strip().strip("<>").strip()
            for index, child in enumerate(part.parts):
                if _content_id(child) == wanted:
                    root_index = index
                    break
        for index, child in enumerate(part.parts):
            child_section = _child_section(section, index + 1)
            if index == root_index or child.type == "multipart":
                self.body(child, child_section)
            else:
                self.attach(child, child_section)  # a resource for the root (cid:), or an attachment

    def alternative(self, part: Part, section: str) -> None:
        html_index = text_index = None
        for index, child in enumerate(part.parts):  # the last of each kind is the sender's preferred one
            if _contains_html(child):
                html_index = index
            elif _is_plain(child) or (child.type == "multipart" and child.parts):
                text_index = index
        if html_index is None and text_index is None:
            for number, child in enumerate(part.parts, 1):
                self.child(child, _child_section(section, number), first=number == 1)
            return
        if html_index is None:
            assert text_index is not None
            self.body(part.parts[text_index], _child_section(section, text_index + 1))
            return
        # The HTML version's own pieces (and its related images) go to this walker; the plain version is
        # read by a walker of its own, whose attachments (usually the same files again) are not listed.
        shown = _Walker(self.data)
        shown.attachments, shown.cids = self.attachments, self.cids
        shown.body(part.parts[html_index], _child_section(section, html_index + 1))
        segments: list[tuple[bool, str]] = []
        for piece in shown.pieces:
            segments.extend(piece.html if piece.html is not None else [(False, piece.text or "")])
        text: str | None = None
        if text_index is not None:
            plain = _Walker(self.data)
            plain.body(part.parts[text_index], _child_section(section, text_index + 1))
            texts = [piece.text for piece in plain.pieces if piece.text is not None]
            text = "\n\n".join(texts) if texts else None
        self.pieces.append(_Piece(text, segments))
        for index, child in enumerate(part.parts):  # an invitation sent as an alternative is worth a download
            if index not in (html_index, text_index) and child.type == "text" and child.subtype == "calendar":
                self.attach(child, _child_section(section, index + 1))


def _walk(data: bytes, structure: Structure) -> _Walker:
    walker = _Walker(data)
    root = structure.root
    if root.type == "message":
        walker.attach(root, "1")  # a message whose whole body is another message
    else:
        walker.body(root, "")
    return walker


def _plain_text(pieces: list[_Piece], *, convert_html: bool) -> str | None:
    """The pieces' plain text: None when none has any (unless convert_html, which reads HTML as text)."""
    if not convert_html and all(piece.text is None for piece in pieces):
        return None
    texts: list[str] = []
    for piece in pieces:
        if piece.text is not None:
            texts.append(piece.text)
        elif piece.html is not None:
            texts.append("\n\n".join(html_to_text(s) if is_html else s for is_html, s in piece.html))
    return "\n\n".join(texts)


def render_message(
    data: bytes, structure: Structure, *, allow_remote: bool, part_url: Callable[[str], str]
) -> RenderedMessage:
    """Everything the message view shows. part_url(section) builds the same-origin URL of a part, for the
    HTML's cid: images."""
    envelope = structure.envelope
    walker = _walk(data, structure)
    used_cids: set[str] = set()

    def cid_url(content_id: str) -> str | None:
        section = walker.cids.get(content_id)
        if section is None:
            return None
        used_cids.add(content_id)
        return part_url(section)

    sanitized: SanitizedHtml | None = None
    if any(piece.html is not None for piece in walker.pieces):
        blocks: list[str] = []
        blocked = 0
        for piece in walker.pieces:
            for is_html, segment in piece.html if piece.html is not None else [(False, piece.text or "")]:
                if is_html:
                    cleaned = sanitize_html(segment, allow_remote=allow_remote, cid_url=cid_url)
                    blocks.append(cleaned.html)
                    blocked += cleaned.blocked_remote
                else:  # plain text between HTML parts (mixed): the same pre-wrap block as a text message
                    blocks.append('<pre class="plain">' + text_to_html(segment) + "</pre>")
        sanitized = SanitizedHtml(html="\n".join(blocks), blocked_remote=blocked)

    attachments = [
        AttachmentInfo(
            section=section,
            filename=_filename(part, section),
            content_type=f"{part.type}/{part.subtype}",
            size=_decoded_size(data, part),
            inline=(content_id := _content_id(part)) is not None and content_id in used_cids,
            content_id=content_id,
        )
        for section, part in walker.attachments
    ]

    references = structure.references
    if not references:  # structures stored before the parser kept References: read the header itself
        header = data[structure.root.header_start : structure.root.body_start]
        references = _message_ids(_header_field(header, "references") or "")
    from_ = format_addresses(envelope.from_)
    reply_to = format_addresses(envelope.reply_to)
    return RenderedMessage(
        subject=decode_header(envelope.subject),
        from_=from_,
        to=format_addresses(envelope.to),
        cc=format_addresses(envelope.cc),
        bcc=format_addresses(envelope.bcc),
        reply_to=[] if reply_to == from_ else reply_to,
        date=envelope.date,
        sent=_sent(envelope.date, structure.sent),
        message_id=structure.message_id,
        in_reply_to=" ".join(structure.in_reply_to) or None,
        references=list(references),
        text=_plain_text(walker.pieces, convert_html=False),
        html=sanitized,
        attachments=attachments,
        blocked_remote=sanitized.blocked_remote if sanitized is not None else 0,
    )


def text_of(data: bytes, structure: Structure) -> str:
    """The message's text for quoting in a reply or inlining in a forward: its plain text, or its HTML read
    as text when it has none."""
    walker = _walk(data, structure)
    return _plain_text(walker.pieces, convert_html=True) or ""
