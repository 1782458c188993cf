"""IMAP URLs naming a message or a part of one (RFC 5092), with URLAUTH's authorization (RFC 4467). Pure.

Used by IMAP (CATENATE's URL parts, GENURLAUTH, URLFETCH) and by submission (BURL, RFC 4468), so it lives
beside the mailstore, which resolves such URLs (service.py `url_bytes`, urlauth.py).

Grammar (RFC 5092 section 11, RFC 4467 section 9), the parts read here:

    imapurl        = "imap://" iserver "/" imessagepart [iurlauth]     ; or a relative path from "/"
    iserver        = [iuserinfo "@"] host [":" port]; iuserinfo = enc-user [iauth]
    imessagepart   = enc-mailbox [";UIDVALIDITY=" nz-number] "/;UID=" nz-number
                     ["/;SECTION=" enc-section] ["/;PARTIAL=" partial-range]
    iurlauth       = iurlauth-rump [":" mechanism ":" enc-urlauth]
    iurlauth-rump  = [";EXPIRE=" date-time] ";URLAUTH=" access
    access         = ("submit+" enc-user) / ("user+" enc-user) / "authuser" / "anonymous"
    mechanism      = "INTERNAL" / 1*(ALPHA / DIGIT / "-" / "."); enc-urlauth = 32*HEXDIG

Implementation notes:
- ";" never appears in an encoded mailbox name (it is percent-encoded), so "/;" parts the pieces even
  though "/" may be in the name, and ";EXPIRE=" / ";URLAUTH=" can be found by search.
- The rump (RFC 4467 section 2.2) is the URL as written up to the end of the access identifier: the
  INTERNAL token is HMAC-SHA256 of exactly those characters under the mailbox access key, so a URL that
  differs in any character (case too) is another URL.
- date-time is RFC 3339's; keywords (UID, SECTION, URLAUTH, the access identifiers) are case-insensitive.
- Total: `parse_url` returns a MessageUrl or raises BadUrl, for any string.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from polyport.mailstore import names

MAX_NUMBER = 2**32 - 1
INTERNAL = "INTERNAL"  # the one URLAUTH mechanism (RFC 4467 section 7)

_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_PARTIAL = re.compile(r"([0-9]{1,20})(?:\.([1-9][0-9]{0,19}))?")
_MECHANISM = re.compile(r"[A-Za-z0-9.\-]{1,64}")
_TOKEN = re.compile(r"[0-9A-Fa-f]{32,256}")
_DATE_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
                        r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")
_SECTION_PART = re.compile(r"[1-9][0-9]{0,9}(?:\.[1-9][0-9]{0,9})*")
_FIELD_NAME = re.compile(r'[!#-\'*-~]+|"(?:[^"\\\r\n]|\\["\\])*"')  # an atom or a quoted string
_MAX_DEPTH = 64
# What quote() leaves alone in a mailbox name: RFC 5092's achar without ";" and "/" is handled apart.
_MAILBOX_SAFE = "!$'()*+,&=~/"

AccessKind = Literal["submit", "user", "authuser", "anonymous"]


class BadUrl(Exception):
    """Why a URL does not name anything (IMAP's NO [BADURL url], BURL's 554)."""


class NotAuthorized(BadUrl):
    """A URL without URLAUTH: it grants whoever holds it nothing (BURL answers 554 5.7.0)."""


@dataclass(frozen=True, slots=True)
class UrlSection:
    """A section-spec (RFC 3501 6.4.5): part numbers, then "", HEADER, HEADER.FIELDS[.NOT] (with its field
    names), TEXT or MIME; as FETCH's BODY[...] takes it."""

    part: tuple[int, ...] = ()
    text: str = ""
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        out = ".".join(str(n) for n in self.part)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True, slots=True)
class UrlAuth:
    """The URLAUTH part of a URL (RFC 4467 section 2): who may use it, until when, and its token."""

    rump: str  # the URL as written, up to and including the access identifier
    kind: AccessKind
    access_user: str | None  # the user of "submit+user" and "user+user", percent-decoded
    expire: datetime.datetime | None = None
    mechanism: str | None = None  # upper-case; None in a rump (GENURLAUTH's argument)
    token: str | None = None  # lower-case hex


@dataclass(frozen=True, slots=True)
class MessageUrl:
    """An IMAP URL naming a message or a part of one."""

    mailbox: str
    uid: int
    uidvalidity: int | None = None
    section: UrlSection | None = None
    partial: tuple[int, int | None] | None = None  # (offset, length or None: to the end)
    user: str | None = None  # absolute URLs: the user and host before the path
    host: str | None = None
    urlauth: UrlAuth | None = None


def _number(text: str, what: str) -> int:
    if not _NUMBER.fullmatch(text) or int(text) > MAX_NUMBER:
        raise BadUrl(f"{what} is not a number from 1 to 4294967295")
    return int(text)


def _decoded(text: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise BadUrl(f"the {what} is not UTF-8") from None


def parse_section(text: str) -> UrlSection:
    """An enc-section, percent-decoded: section-part ["." section-text] / section-msgtext, where
    HEADER.FIELDS[.NOT] takes SP "(" header-fld-name *(SP header-fld-name) ")"."""
    spec, _, names = text.partition(" ")
    part: tuple[int, ...] = ()
    rest = spec
    numbers = _SECTION_PART.match(spec)
    if numbers is not None and (numbers.end() == len(spec) or spec[numbers.end()] == "."):
        part = tuple(int(n) for n in numbers.group().split("."))
        if len(part) > _MAX_DEPTH or any(n > MAX_NUMBER for n in part):
            raise BadUrl("bad section part numbers")
        rest = spec[numbers.end() + 1:]
    section_text = rest.upper()
    if section_text not in ("", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"):
        raise BadUrl(f"bad section {text[:40]}")
    if section_text == "MIME" and not part:
        raise BadUrl("MIME needs a part number (1.MIME)")
    fields: tuple[str, ...] = ()
    if section_text.startswith("HEADER.FIELDS"):
        if not (names.startswith("(") and names.endswith(")")):
            raise BadUrl("HEADER.FIELDS needs a list of field names")
        found = names[1:-1].split(" ")
        if not all(_FIELD_NAME.fullmatch(name) for name in found):
            raise BadUrl("bad header field names")
        fields = tuple(name[1:-1].replace('\\"', '"').replace("\\\\", "\\") if name.startswith('"') else name
                       for name in found)
        if not all(name and name.isascii() for name in fields):
            raise BadUrl("a header field name is US-ASCII")
    elif names:
        raise BadUrl(f"bad section {text[:40]}")
    return UrlSection(part, section_text, fields)


def _expire(text: str) -> datetime.datetime:
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise BadUrl("EXPIRE is an RFC 3339 date-time (2026-01-31T12:00:00Z)")
    year, month, day, hour, minute, second, fraction, zulu, sign, zone_hour, zone_minute = match.groups()
    try:
        offset = datetime.timedelta()
        if not zulu:
            if int(zone_minute) >= 60:
                raise ValueError
            offset = datetime.timedelta(hours=int(zone_hour), minutes=int(zone_minute))
            if sign == "-":
                offset = -offset
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59),
                                 micro, tzinfo=datetime.timezone(offset))
    except (ValueError, OverflowError):
        raise BadUrl(f"bad EXPIRE date-time {text[:40]}") from None


def _access(text: str) -> tuple[AccessKind, str | None]:
    lower = text.lower()
    if lower == "authuser":
        return "authuser", None
    if lower == "anonymous":
        return "anonymous", None
    for prefix in ("submit+", "user+"):
        if lower.startswith(prefix):
            user = _decoded(text[len(prefix):], "access identifier's user")
            if not user or any(ch in user for ch in "\0\r\n"):
                raise BadUrl("the access identifier names no user")
            return ("submit" if prefix == "submit+" else "user"), user
    raise BadUrl("the access identifier is submit+user, user+user, authuser or anonymous")


def _urlauth(url: str) -> tuple[str, UrlAuth | None]:
    """The URL without its iurlauth, and the iurlauth read."""
    upper = url.upper()
    at = upper.find(";URLAUTH=")
    if at < 0:
        if ";EXPIRE=" in upper:
            raise BadUrl("EXPIRE without URLAUTH")
        return url, None
    if upper.find(";URLAUTH=", at + 1) >= 0:
        raise BadUrl("URLAUTH given twice")
    head = url[:at]
    access_text, colon, verifier = url[at + 9:].partition(":")
    rump = url[:at + 9 + len(access_text)]
    kind, access_user = _access(access_text)
    mechanism = token = None
    if colon:
        mechanism, colon, token = verifier.partition(":")
        if not colon or not _MECHANISM.fullmatch(mechanism) or not _TOKEN.fullmatch(token):
            raise BadUrl("URLAUTH's verifier is :mechanism:token (32 or more hex digits)")
        mechanism, token = mechanism.upper(), token.lower()
    expire = None
    expire_at = head.upper().rfind(";EXPIRE=")
    if expire_at >= 0:
        expire = _expire(head[expire_at + 8:])
        head = head[:expire_at]
    return head, UrlAuth(rump, kind, access_user, expire, mechanism, token)


def parse_url(url: str) -> MessageUrl:
    """The parts of an IMAP URL naming a message (pure); BadUrl when it is not one."""
    if len(url) > 8192:
        raise BadUrl("the URL is too long")
    user: str | None = None
    host: str | None = None
    url_rest, urlauth = _urlauth(url)
    if url_rest[:7].lower() == "imap://":
        rest = url_rest[7:]
        slash = rest.find("/")
        if slash < 0:
            raise BadUrl("the URL names no mailbox")
        server, path = rest[:slash], rest[slash + 1:]
        if "@" in server:
            userinfo, server = server.rsplit("@", 1)
            user = _decoded(userinfo.split(";", 1)[0], "user") or None  # ";AUTH=..." says how to log in
        host = server.rsplit(":", 1)[0].lower() if not server.endswith("]") else server.lower()
        if not host:
            raise BadUrl("the URL names no server")
    elif url_rest.startswith("/"):
        path = url_rest[1:]
    else:
        raise BadUrl("a URL is imap://... or a path from /")
    if urlauth is not None and user is None:
        raise BadUrl("a URLAUTH URL is absolute, with a user (imap://user@host/...)")
    head, *rest_pieces = path.split("/;")
    name, _, validity = head.partition(";")
    uidvalidity: int | None = None
    if validity:
        key, _, value = validity.partition("=")
        if key.upper() != "UIDVALIDITY":
            raise BadUrl(f"unexpected ;{key[:30]} after the mailbox")
        uidvalidity = _number(value, "UIDVALIDITY")
    mailbox = _decoded(name, "mailbox name")
    if not mailbox:
        raise BadUrl("the URL names no mailbox")
    uid: int | None = None
    section: UrlSection | None = None
    partial: tuple[int, int | None] | None = None
    for piece in rest_pieces:
        key, _, value = piece.partition("=")
        key = key.upper()
        if ";" in value:
            raise BadUrl(f"unexpected ; in {key[:30]}")
        if key == "UID" and uid is None:
            uid = _number(value.rstrip("/"), "UID")
        elif key == "SECTION" and uid is not None and section is None and partial is None:
            section = parse_section(_decoded(value, "section"))
        elif key == "PARTIAL" and uid is not None and partial is None:
            match = _PARTIAL.fullmatch(value)
            if match is None:
                raise BadUrl("PARTIAL is offset[.length]")
            partial = int(match.group(1)), int(match.group(2)) if match.group(2) else None
        else:
            raise BadUrl(f"unexpected ;{key[:30]} in the URL")
    if uid is None:
        raise BadUrl("the URL names no message (;UID=)")
    return MessageUrl(names.canonical(mailbox), uid, uidvalidity, section, partial, user, host, urlauth)


def url_text(url: MessageUrl) -> str:
    """The URL written out (canonical spelling), so that `parse_url(url_text(u)) == u` for URLs whose
    URLAUTH rump is this same text. Without URLAUTH, or with a rump written by `url_text` itself."""
    out = ""
    if url.host is not None:
        out = "imap://" + (quote(url.user, safe="!$'()*+,&=~") + "@" if url.user is not None else "") + url.host
    mailbox = quote(url.mailbox, safe=_MAILBOX_SAFE)
    if mailbox.endswith("/"):  # "/;" ends the name: a name that ends with the delimiter has it escaped
        mailbox = mailbox[:-1] + "%2F"
    out += "/" + mailbox
    if url.uidvalidity is not None:
        out += f";UIDVALIDITY={url.uidvalidity}"
    out += f"/;UID={url.uid}"
    if url.section is not None:
        out += "/;SECTION=" + quote(url.section.spec(), safe="!$'()*+,&=~.")
    if url.partial is not None:
        offset, length = url.partial
        out += f"/;PARTIAL={offset}" + (f".{length}" if length is not None else "")
    auth = url.urlauth
    if auth is not None:
        if auth.expire is not None:
            out += ";EXPIRE=" + auth.expire.isoformat().replace("+00:00", "Z")
        out += ";URLAUTH=" + (auth.kind + "+" + quote(auth.access_user or "", safe="!$'()*+,&=~")
                              if auth.kind in ("submit", "user") else auth.kind)
        if auth.mechanism is not None:
            out += f":{auth.mechanism}:{auth.token}"
    return out


def token(key: bytes, rump: str) -> str:
    """The INTERNAL mechanism's token for a rump (RFC 4467 section 7): HMAC-SHA256 under the mailbox access
    key, as 64 lower-case hex digits."""
    return hmac.new(key, rump.encode(), hashlib.sha256).hexdigest()


def verified(key: bytes, auth: UrlAuth) -> bool:
    """Whether a URL's token is the one `key` gives its rump (compared in constant time)."""
    if auth.mechanism != INTERNAL or auth.token is None:
        return False
    return hmac.compare_digest(token(key, auth.rump), auth.token)


def expired(auth: UrlAuth, now: float) -> bool:
    return auth.expire is not None and auth.expire.timestamp() <= now
