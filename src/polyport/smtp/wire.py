"""SMTP and LMTP on the wire (RFC 5321, RFC 2033), without I/O: command lines into typed commands,
replies into bytes, and the DATA reader that finds the end of a message.

Everything here is pure and property-tested: a session hands it bytes and gets values or a `ParseError`
carrying the reply to send (code, enhanced status code, text), so a malformed command is answered with
SMTP's own codes and the connection goes on.

Extensions parsed here: SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), CHUNKING/BDAT
(RFC 3030), DSN (RFC 3461: RET, ENVID, NOTIFY, ORCPT), AUTH (RFC 4954, also MAIL's AUTH=), REQUIRETLS
(RFC 8689), ENHANCEDSTATUSCODES (RFC 2034/3463), BURL (RFC 4468).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from polyport.mime import xtext

# RFC 5321 4.5.3.1.4 allows 512 octets per command line and more for extension parameters; we take up to
# 1,000 octets with the CRLF (the text line limit), as the limits say. Longer lines are refused
# unbuffered by the connection's framer.
MAX_LINE = 998
MAX_PATH = 256  # RFC 5321 4.5.3.1.3: forward- or reverse-path, with the brackets
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    enhanced: str | None
    text: str


class ParseError(Exception):
    """A command that cannot be accepted as written; `reply` is what to answer."""

    def __init__(self, code: int, enhanced: str | None, text: str) -> None:
        super().__init__(text)
        self.reply = Reply(code, enhanced, text)


def syntax(text: str) -> ParseError:
    return ParseError(501, "5.5.4", text)


# -- replies --

def reply(code: int, enhanced: str | None, text: str | list[str]) -> bytes:
    """One reply, multi-line when `text` is a list ("250-a", "250 b"). CR and LF inside the text are
    replaced, so nothing a client sent can split a reply."""
    lines = text if isinstance(text, list) else [text]
    if not lines:
        lines = [""]
    prefix = f"{enhanced} " if enhanced else ""
    out = []
    last = len(lines) - 1
    for i, line in enumerate(lines):
        clean = line.replace("\r", " ").replace("\n", " ")
        # RFC 2034: the enhanced code starts every line of a multi-line reply, except EHLO's list.
        out.append(f"{code}{'-' if i < last else ' '}{prefix if i == 0 or enhanced else ''}{clean}\r\n")
    return "".join(out).encode("utf-8", "replace")


def ehlo_reply(greeting: str, keywords: list[str]) -> bytes:
    """EHLO's reply: the greeting line, then one extension keyword per line, without enhanced codes."""
    lines = [greeting, *keywords]
    last = len(lines) - 1
    return "".join(f"250{'-' if i < last else ' '}{line}\r\n" for i, line in enumerate(lines)).encode()


def encode(r: Reply) -> bytes:
    return reply(r.code, r.enhanced, r.text)


# -- addresses --

# RFC 5322 atext, and with SMTPUTF8 any non-ASCII UTF-8 (RFC 6531 3.3).
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_DOT_STRING = re.compile(rf"[{_ATEXT}\u0080-\U0010ffff]+(?:\.[{_ATEXT}\u0080-\U0010ffff]+)*")
_QUOTED = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*)"')
_LABEL = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?")
_IPV4 = re.compile(r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}")
_IPV6 = re.compile(r"IPv6:[0-9A-Fa-f:.]{2,45}")
_SOURCE_ROUTE = re.compile(r"@[^,:]+(?:,@[^,:]+)*:")
# Not in what is written into a header field (Return-Path, Received, delivery reports): C0 and C1 controls,
# DEL, and the line and paragraph separators that Python's splitlines() and some clients take for line ends
# (the set directory/settings.py refuses in one-line values). SMTPUTF8 lets the rest of Unicode through.
_NOT_IN_A_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _domain(text: str) -> str:
    if text.startswith("["):
        if not text.endswith("]"):
            raise syntax("an address literal ends with ]")
        inner = text[1:-1]
        if not (_IPV4.fullmatch(inner) or _IPV6.fullmatch(inner)):
            raise syntax(f"bad address literal [{inner[:60]}]")
        return text
    if not text or len(text.encode()) > MAX_DOMAIN:
        raise syntax("the domain is missing or too long")
    for label in text.split("."):
        if not _LABEL.fullmatch(label) or len(label.encode()) > 63:
            raise syntax(f"bad domain {text[:80]}")
    return text.lower()


def parse_mailbox(text: str) -> str:
    """`local@domain` (RFC 5321 Mailbox), with the domain lower-cased and a quoted local part unquoted
    when quoting was not needed. ParseError (501 5.1.3) if it is not an address."""
    if _NOT_IN_A_HEADER.search(text):
        raise ParseError(501, "5.1.3", "the address holds control characters or line separators")
    if text.startswith('"'):
        match = _QUOTED.match(text)
        if match is None or text[match.end():match.end() + 1] != "@":
            raise ParseError(501, "5.1.3", "bad quoted local part")
        inner = re.sub(r"\\(.)", r"\1", match.group(1))
        local = inner if _DOT_STRING.fullmatch(inner) else match.group(0)
        rest = text[match.end() + 1:]
    else:
        local, at, rest = text.rpartition("@")
        if not at:
            raise ParseError(501, "5.1.3", "an address needs a domain (name@domain)")
        if not _DOT_STRING.fullmatch(local):
            raise ParseError(501, "5.1.3", f"bad local part {local[:64]!r}")
    if len(local.encode()) > MAX_LOCAL_PART:
        raise ParseError(501, "5.1.3", "the local part is longer than 64 octets")
    try:
        domain = _domain(rest)
    except ParseError as err:
        raise ParseError(501, "5.1.3", err.reply.text) from None
    return f"{local}@{domain}"


def parse_path(text: str, *, null_ok: bool) -> tuple[str, str]:
    """A path at the start of `text` ("<a@b>", "<>", or a bare address, as lenient servers take it).
    Returns (address, rest of the text); the null path is ""."""
    if text.startswith("<"):
        end = _path_end(text)
        inner, rest = text[1:end], text[end + 1:]
        if len(inner) + 2 > MAX_PATH:
            raise ParseError(501, "5.1.3", "the path is longer than 256 octets")
        route = _SOURCE_ROUTE.match(inner)
        if route:  # RFC 5321 4.1.2: a source route is accepted and ignored
            inner = inner[route.end():]
    else:
        inner, _, rest = text.partition(" ")
        rest = " " + rest if rest else ""
    if inner == "":
        if not null_ok:
            raise ParseError(501, "5.1.3", "an empty address is not allowed here")
        return "", rest
    if inner.lower() == "postmaster" and not null_ok:  # RCPT TO:<Postmaster> (RFC 5321 4.5.1)
        return "postmaster", rest
    return parse_mailbox(inner), rest


def _path_end(text: str) -> int:
    """Index of the ">" closing a path that starts at 0, skipping quoted strings."""
    quoted = False
    i = 1
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return i
        i += 1
    raise ParseError(501, "5.1.3", "the path has no closing >")


# -- xtext (RFC 3461 4) --

encode_xtext = xtext.encode


def decode_xtext(text: str) -> str:
    """An xtext value; one that decodes to control characters (CR, LF, NUL...) is refused: it would end
    up in the headers of delivery reports."""
    try:
        decoded = xtext.decode(text)
    except xtext.XtextError as err:
        raise syntax(str(err)) from None
    if _NOT_IN_A_HEADER.search(decoded):
        raise syntax("the value holds control characters")
    return decoded


# -- parameters --

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII digits only (str.isdigit takes "²")


def parse_params(text: str) -> dict[str, str | None]:
    """ESMTP parameters: "KEY=value" or "KEY", separated by spaces; keys upper-cased, each once."""
    params: dict[str, str | None] = {}
    for item in text.split():
        key, eq, value = item.partition("=")
        if not _KEYWORD.fullmatch(key):
            raise syntax(f"bad parameter {item[:40]!r}")
        if eq and (not value or any(ord(c) < 33 or ord(c) == 127 for c in value) or _NOT_IN_A_HEADER.search(value)):
            raise syntax(f"bad value for {key.upper()}")
        key = key.upper()
        if key in params:
            raise syntax(f"{key} given twice")
        params[key] = value if eq else None
    return params


@dataclass(frozen=True, slots=True)
class MailParams:
    size: int | None = None
    body: str | None = None  # 7BIT, 8BITMIME, BINARYMIME
    smtputf8: bool = False
    ret: str | None = None  # FULL or HDRS
    envid: str | None = None
    auth: str | None = None  # RFC 4954 5: the original submitter ("<>" for unknown)
    requiretls: bool = False


@dataclass(frozen=True, slots=True)
class RcptParams:
    notify: frozenset[str] = frozenset()  # empty: not given (the default, RFC 3461 4.1)
    orcpt: str | None = None  # "rfc822;address", decoded


def _unknown(key: str) -> ParseError:
    return ParseError(555, "5.5.4", f"unsupported parameter {key}")


def _no_value(key: str, value: str | None) -> None:
    if value is not None:
        raise syntax(f"{key} takes no value")


def _value(key: str, value: str | None) -> str:
    if value is None:
        raise syntax(f"{key} needs a value")
    return value


def mail_params(params: dict[str, str | None]) -> MailParams:
    size = body = ret = envid = auth = None
    smtputf8 = requiretls = False
    for key, value in params.items():
        if key == "SIZE":
            text = _value(key, value)
            if not _DIGITS.fullmatch(text):
                raise syntax("SIZE needs a number of octets")
            size = int(text)
        elif key == "BODY":
            body = _value(key, value).upper()
            if body not in ("7BIT", "8BITMIME", "BINARYMIME"):
                raise syntax("BODY is 7BIT, 8BITMIME or BINARYMIME")
        elif key == "SMTPUTF8":
            _no_value(key, value)
            smtputf8 = True
        elif key == "RET":
            ret = _value(key, value).upper()
            if ret not in ("FULL", "HDRS"):
                raise syntax("RET is FULL or HDRS")
        elif key == "ENVID":
            envid = decode_xtext(_value(key, value))
            if len(envid) > 100:
                raise syntax("ENVID is longer than 100 characters")
        elif key == "AUTH":
            auth = decode_xtext(_value(key, value))
        elif key == "REQUIRETLS":
            _no_value(key, value)
            requiretls = True
        else:
            raise _unknown(key)
    return MailParams(size, body, smtputf8, ret, envid, auth, requiretls)


def rcpt_params(params: dict[str, str | None]) -> RcptParams:
    notify: frozenset[str] = frozenset()
    orcpt = None
    for key, value in params.items():
        if key == "NOTIFY":
            items = frozenset(v.upper() for v in _value(key, value).split(","))
            if not items <= {"NEVER", "SUCCESS", "FAILURE", "DELAY"} or ("NEVER" in items and len(items) > 1):
                raise syntax("NOTIFY is NEVER, or a list of SUCCESS, FAILURE and DELAY")
            notify = items
        elif key == "ORCPT":
            addr_type, semi, addr = _value(key, value).partition(";")
            if not semi or not _KEYWORD.fullmatch(addr_type) or not addr:
                raise syntax("ORCPT is addr-type;xtext")
            # RFC 6533: a utf-8 address stays in its own encoding (utf-8-addr-xtext).
            utf8 = addr_type.lower() == "utf-8"
            orcpt = f"utf-8;{addr}" if utf8 else f"{addr_type.lower()};{decode_xtext(addr)}"
        else:
            raise _unknown(key)
    return RcptParams(notify, orcpt)


# -- commands --

@dataclass(frozen=True, slots=True)
class Hello:
    """HELO, EHLO or LHLO."""
    verb: str
    domain: str

    @property
    def extended(self) -> bool:
        return self.verb != "HELO"


@dataclass(frozen=True, slots=True)
class Mail:
    sender: str  # "" for the null reverse-path
    params: MailParams = field(default_factory=MailParams)
    utf8: bool = False  # the path as sent was not ASCII (judged before lower-casing: K (U+212A) is not k)


@dataclass(frozen=True, slots=True)
class Rcpt:
    recipient: str  # "postmaster" alone for <Postmaster>
    params: RcptParams = field(default_factory=RcptParams)
    utf8: bool = False


@dataclass(frozen=True, slots=True)
class Data:
    pass


@dataclass(frozen=True, slots=True)
class Bdat:
    size: int
    last: bool


@dataclass(frozen=True, slots=True)
class Burl:
    """RFC 4468: a URL whose data is the next piece of the message (as a BDAT chunk is), and whether it is
    the last."""
    url: str
    last: bool


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Vrfy:
    argument: str


@dataclass(frozen=True, slots=True)
class Expn:
    argument: str


@dataclass(frozen=True, slots=True)
class Help:
    topic: str


@dataclass(frozen=True, slots=True)
class StartTls:
    pass


@dataclass(frozen=True, slots=True)
class Auth:
    mechanism: str
    initial: bytes | None  # None: no initial response; b"" for "="


Command = Hello | Mail | Rcpt | Data | Bdat | Burl | Rset | Noop | Quit | Vrfy | Expn | Help | StartTls | Auth

MAX_BDAT = 2**40  # a chunk size beyond any message limit: refused by size, not by parsing
# RFC 3986 absolute-URI: a scheme, ":", then URI characters (unreserved, reserved, "%"); nothing else, so
# a URL can never hold a space, a control character or 8-bit text.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _no_argument(verb: str, rest: str, command: Command) -> Command:
    if rest.strip():
        raise syntax(f"{verb} takes no argument")
    return command


def parse_command(line: bytes, *, utf8: bool = True) -> Command:
    """One command line (with or without its CRLF). Non-ASCII is accepted where SMTPUTF8 allows it
    (`utf8`); a line that is not UTF-8 is refused. Verbs are case-insensitive."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    try:
        text = line.decode("ascii" if not utf8 else "utf-8")
    except UnicodeDecodeError:
        raise ParseError(500, "5.5.2", "the command is not valid UTF-8" if utf8 else "8-bit command") from None
    if "\r" in text or "\0" in text:
        raise ParseError(500, "5.5.2", "bad characters in the command")
    verb, _, rest = text.partition(" ")
    verb = verb.upper()
    if verb in ("HELO", "EHLO", "LHLO"):
        domain = rest.strip(" ")
        if not domain or " " in domain:
            raise syntax(f"{verb} needs your host name")
        if _NOT_IN_A_HEADER.search(domain):
            raise syntax(f"{verb} takes a host name or an address literal, without control characters")
        if len(domain) > MAX_DOMAIN + 2:
            raise syntax("the host name is too long")
        return Hello(verb, domain)
    if verb == "MAIL":
        if not rest[:5].upper() == "FROM:":
            raise syntax("MAIL FROM:<address> expected")
        sender, params = parse_path(rest[5:].lstrip(" "), null_ok=True)
        if params and not params.startswith(" "):
            raise syntax("a space goes between the address and its parameters")
        return Mail(sender, mail_params(parse_params(params)), not rest[5:].isascii())
    if verb == "RCPT":
        if not rest[:3].upper() == "TO:":
            raise syntax("RCPT TO:<address> expected")
        recipient, params = parse_path(rest[3:].lstrip(" "), null_ok=False)
        if params and not params.startswith(" "):
            raise syntax("a space goes between the address and its parameters")
        return Rcpt(recipient, rcpt_params(parse_params(params)), not rest[3:].isascii())
    if verb == "DATA":
        return _no_argument(verb, rest, Data())
    if verb == "BDAT":
        parts = rest.split()
        if not parts or len(parts) > 2 or not _DIGITS.fullmatch(parts[0]):
            raise syntax("BDAT <size> [LAST] expected")
        if len(parts) == 2 and parts[1].upper() != "LAST":
            raise syntax("BDAT <size> [LAST] expected")
        return Bdat(int(parts[0]), len(parts) == 2)
    if verb == "BURL":
        # burl-cmd = "BURL" SP absolute-URI [SP end-marker] CRLF; end-marker = "LAST" (RFC 4468 section 3)
        parts = rest.split(" ")
        if len(parts) > 2 or not _ABSOLUTE_URI.fullmatch(parts[0]):
            raise syntax("BURL <absolute URL> [LAST] expected")
        if len(parts) == 2 and parts[1].upper() != "LAST":
            raise syntax("BURL <absolute URL> [LAST] expected")
        return Burl(parts[0], len(parts) == 2)
    if verb == "RSET":
        return _no_argument(verb, rest, Rset())
    if verb == "NOOP":
        return Noop()  # RFC 5321 4.1.1.9: a parameter is allowed and ignored
    if verb == "QUIT":
        return _no_argument(verb, rest, Quit())
    if verb == "VRFY":
        return Vrfy(rest.strip())
    if verb == "EXPN":
        return Expn(rest.strip())
    if verb == "HELP":
        return Help(rest.strip())
    if verb == "STARTTLS":
        return _no_argument(verb, rest, StartTls())
    if verb == "AUTH":
        parts = rest.split()
        if not parts or len(parts) > 2:
            raise syntax("AUTH <mechanism> [initial-response] expected")
        initial: bytes | None = None
        if len(parts) == 2:
            initial = b"" if parts[1] == "=" else decode_base64(parts[1])
        return Auth(parts[0].upper(), initial)
    raise ParseError(500, "5.5.2", "command not recognized")


def decode_base64(text: str | bytes) -> bytes:
    """A SASL response; ParseError (501 5.5.2) if it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(501, "5.5.2", "the response is not base64") from None


# -- message data --

_BARE_CR = re.compile(rb"\r(?!\n)")
# A stuffed dot: at the start of a line that began after a CRLF, on a line holding more than the dot. Once
# bare CRs are spaces, a CR is always the first octet of a CRLF.
_STUFFED = re.compile(rb"\r\n\.(?=[^\r\n])")


def normalize(data: bytes, *, unstuff: bool) -> tuple[bytes, bool]:
    """`data` with every line ending CRLF and, for DATA (`unstuff`), the leading dot of each line removed
    (RFC 5321 4.5.2). Returns (message, whether a bare CR or LF was found).

    A bare LF is a line end here (so no variant of "<LF>.<LF>" can hide a second message behind the first
    when it is relayed: the copy sent on has CRLF everywhere and is dot-stuffed again). A bare CR is not a
    line end (it would split a header field in two after filters had judged it as one): it becomes a
    space. A dot is unstuffed only at the start of a line that began after a real CRLF; a line holding a
    single dot that was not the end of the data stays as it is.

    All in C (bytes methods, and regular expressions with a literal prefix), never a Python step per line."""
    return _normalize(data, unstuff, True)


def _normalize(data: bytes, unstuff: bool, after_crlf: bool) -> tuple[bytes, bool]:
    """`normalize`, for data whose first line begins after a CRLF (`after_crlf`, as the start of the data
    does) or after a bare LF (then its dot stays). `data` ends the data: a last line without its line end
    is the last line of the message."""
    crlf = data.count(b"\r\n")
    bare_cr = data.count(b"\r") != crlf
    bare = bare_cr or data.count(b"\n") != crlf
    if not bare and (not unstuff or (b"\r\n." not in data and not (after_crlf and data.startswith(b".")))):
        return data, False
    if bare_cr:
        data = _BARE_CR.sub(b" ", data)
    if unstuff:
        # The first line, then every line after a real CRLF: before bare LFs become CRLF below, so a line
        # after a bare LF keeps its dot.
        if after_crlf and data.startswith(b".") and data[1:2] not in (b"", b"\r", b"\n"):
            data = data[1:]
        data = _STUFFED.sub(b"\r\n", data)
    if bare:
        # Every CR now starts a CRLF: the LFs alone are the bare ones.
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data, bare


class Normaliser:
    """Message data fed in pieces as it arrives (DATA's, BDAT's chunks), normalised as `normalize` does
    with the whole, but a piece at a time: the end of the data has only its last line to normalise and the
    joining left to do, however large the message (normalising 50 MB at once holds the loop 75-100 ms).

    Whole lines are normalised as they come. A line can only be judged once its end is seen (a CR may be
    the first half of a CRLF in the next piece; a dot may be a stuffing dot or the end line's), so what
    follows the last line end waits; once MAX_PENDING of one line have waited, all but a final CR is
    normalised as the middle of a line (a client sending 50 MB without a line end)."""

    MAX_PENDING = 1 << 20

    def __init__(self, *, unstuff: bool) -> None:
        self.unstuff = unstuff
        self.parts: list[bytes] = []  # the message so far, normalised
        self.kept = 0  # octets in parts
        self.pending: list[bytes] = []  # what came after the last line end, as sent
        self.pending_size = 0
        self.after_crlf = True  # the pending line begins after a CRLF (or at the start)
        self.at_line_start = True  # nothing of the pending line was normalised yet
        self.bare = False

    def take(self, data: bytes) -> None:
        cut = data.rfind(b"\n") + 1
        if cut:
            # The whole lines so far go normalised; what follows the last line end waits for its own.
            self.pending.append(data[:cut])
            self._normalise(self.pending[0] if len(self.pending) == 1 else b"".join(self.pending))
            data = data[cut:]
        if data:
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size >= self.MAX_PENDING:
                waiting = b"".join(self.pending)
                # A final CR may begin a CRLF; a lone first dot is judged by the octet after it.
                hold = 1 if waiting.endswith(b"\r") else 0
                if len(waiting) - hold < (2 if self.at_line_start else 1):
                    self.pending[:] = [waiting]
                    return
                self._normalise(waiting[:len(waiting) - hold], middle=True)
                if hold:
                    self.pending.append(b"\r")
                    self.pending_size = 1

    def finish(self, last: bytes = b"", *, drop: int = 0) -> None:
        """The end of the data: what waits, and `last`, but for their final `drop` octets (DATA's end line),
        normalised as its last line."""
        self.pending.append(last)
        lines = b"".join(self.pending)
        self._normalise(lines[:len(lines) - drop])

    def clear(self) -> None:
        """Keep nothing more (the message is refused; the input is still read to its end)."""
        self.parts.clear()
        self.pending.clear()
        self.pending_size = 0

    def message(self) -> tuple[bytes, bool]:
        """The message normalised, and whether it had bare line ends; after finish()."""
        return b"".join(self.parts), self.bare

    def _normalise(self, lines: bytes, *, middle: bool = False) -> None:
        """`lines` (the pending data, as sent) normalised onto the message; `middle` when they end inside
        a line (the rest of it to come)."""
        self.pending.clear()
        self.pending_size = 0
        # A line's first octets after a real CRLF may hold a stuffing dot; its middle never does.
        message, bare = _normalize(lines, self.unstuff, self.after_crlf and self.at_line_start)
        self.bare = self.bare or bare
        if middle:
            self.at_line_start = False
        else:
            self.after_crlf = lines.endswith(b"\r\n")
            self.at_line_start = True
        if message:
            self.parts.append(message)
            self.kept += len(message)


class DotReader:
    """The body of DATA, fed as it arrives, until the line holding only "." after a CRLF.

    Only CRLF "." CRLF ends the data; "<LF>.<LF>", "<CR>.<CR>" and their mixtures are content (then
    normalised to CRLF lines, see `normalize`), a piece at a time as it comes (Normaliser). The limit is on
    the message as delivered (RFC 1870: the stuffing dots do not count); past it nothing more is kept: the
    reader only watches for the end, so an oversized message is refused (552) without being held in memory."""

    END = b"\r\n.\r\n"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._body = Normaliser(unstuff=True)
        # The last up-to-4 octets seen, to find an end split across pieces. The data is searched as if
        # preceded by CRLF, so ".\r\n" at the very start is the end of an empty message.
        self._tail = b"\r\n"
        self._end = 0  # where the end line's dot is, in the data
        self.received = 0  # octets of data seen (with dot-stuffing), kept or not
        self.too_big = False
        self.done = False

    def feed(self, data: bytes) -> int:
        """Take a piece of input; returns how many of its octets belong to the data (all of them until the
        end; after the end is found `done` is set and the rest of the piece is the client's next input)."""
        assert not self.done
        window = self._tail + data
        found = window.find(self.END)
        if found >= 0:
            self._end = self.received + found + 2 - len(self._tail)
            used = self._end + 3 - self.received
            self.received += used
            if not self.too_big:
                # The end line's ".\r\n" (its dot and CR perhaps waiting in the normaliser) is not the
                # message's: the normaliser never judges a line's last octets before its line end.
                body = self._body
                body.finish(data[:used], drop=3)
                if body.kept > self.limit:
                    self._refuse()
            self.done = True
            return used
        self.received += len(data)
        if not self.too_big and data:
            self._body.take(data)
            # What waits is part of one line: of its octets only a first dot may be a stuffing one, and the
            # end line's ".\r" is within the 3 octets of margin.
            if self._body.kept + self._body.pending_size > self.limit + 3:
                self._refuse()
        self._tail = window[-4:]
        return len(data)

    def _refuse(self) -> None:
        self.too_big = True
        self._body.clear()

    @property
    def size(self) -> int:
        """Octets of the data before its end (as sent, dot-stuffed); once done."""
        return self._end

    def message(self) -> tuple[bytes, bool]:
        """The message, unstuffed and normalised, and whether it had bare line ends. Only once done and not
        too big."""
        assert self.done and not self.too_big
        return self._body.message()
