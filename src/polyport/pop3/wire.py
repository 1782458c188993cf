"""POP3's wire format (RFC 1939, RFC 2449, RFC 2595, RFC 5034), pure: command lines to typed commands,
answers and multi-line bodies to bytes. No I/O here.

A command is a keyword and arguments separated by single spaces, ended by CRLF (a bare LF is accepted).
RFC 2449 bounds a command line to 255 octets, arguments to 40; we allow longer lines for SASL initial
responses (RFC 5034 raises the bound for AUTH) and refuse arguments longer than the RFC's 40 octets
otherwise, except passwords, which some users make long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Final

MAX_ARGUMENT: Final = 40  # RFC 2449 section 4
MAX_PASSWORD: Final = 255
MAX_NUMBER: Final = 2**31 - 1
# A command line's longest accepted length: an AUTH initial response may be long (RFC 5034 section 4).
MAX_LINE: Final = 8192


class ParseError(ValueError):
    """A command we cannot take: answered -ERR with the reason, and the session goes on."""


@dataclass(frozen=True, slots=True)
class Command:
    name: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class User(Command):
    name: ClassVar[str] = "USER"
    user: str


@dataclass(frozen=True, slots=True)
class Pass(Command):
    name: ClassVar[str] = "PASS"
    password: str


@dataclass(frozen=True, slots=True)
class Apop(Command):
    name: ClassVar[str] = "APOP"
    user: str
    digest: str


@dataclass(frozen=True, slots=True)
class Auth(Command):
    """AUTH with no mechanism lists the mechanisms (a common extension clients probe with)."""

    name: ClassVar[str] = "AUTH"
    mechanism: str | None  # upper-case
    initial_response: bytes | None = None  # base64-decoded; b"" for "="


@dataclass(frozen=True, slots=True)
class Stls(Command):
    name: ClassVar[str] = "STLS"


@dataclass(frozen=True, slots=True)
class Capa(Command):
    name: ClassVar[str] = "CAPA"


@dataclass(frozen=True, slots=True)
class Stat(Command):
    name: ClassVar[str] = "STAT"


@dataclass(frozen=True, slots=True)
class List(Command):
    name: ClassVar[str] = "LIST"
    number: int | None = None


@dataclass(frozen=True, slots=True)
class Uidl(Command):
    name: ClassVar[str] = "UIDL"
    number: int | None = None


@dataclass(frozen=True, slots=True)
class Retr(Command):
    name: ClassVar[str] = "RETR"
    number: int


@dataclass(frozen=True, slots=True)
class Top(Command):
    name: ClassVar[str] = "TOP"
    number: int
    lines: int


@dataclass(frozen=True, slots=True)
class Dele(Command):
    name: ClassVar[str] = "DELE"
    number: int


@dataclass(frozen=True, slots=True)
class Noop(Command):
    name: ClassVar[str] = "NOOP"


@dataclass(frozen=True, slots=True)
class Rset(Command):
    name: ClassVar[str] = "RSET"


@dataclass(frozen=True, slots=True)
class Quit(Command):
    name: ClassVar[str] = "QUIT"


_KEYWORD = re.compile(rb"[A-Za-z]{3,4}")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _number(text: bytes, what: str, *, zero: bool = False) -> int:
    if not text.isdigit() or len(text) > 10:
        raise ParseError(f"{what} must be a number")
    value = int(text)
    if value > MAX_NUMBER:
        raise ParseError(f"{what} is out of range")
    if value == 0 and not zero:
        raise ParseError(f"{what} starts at 1")
    return value


def _text(data: bytes, what: str, limit: int = MAX_ARGUMENT) -> str:
    if len(data) > limit:
        raise ParseError(f"{what} longer than {limit} octets")
    if any(b < 0x20 or b == 0x7F for b in data):
        raise ParseError(f"{what} holds control characters")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{what} is not UTF-8") from None


def _arity(args: list[bytes], keyword: str, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        if low == high == 0:
            raise ParseError(f"{keyword} takes no arguments")
        wanted = str(low) if low == high else f"{low} to {high}"
        raise ParseError(f"{keyword} takes {wanted} argument{'s' if high != 1 else ''}")


def decode_base64(data: bytes) -> bytes:
    """A SASL response line: "=" is the empty response (RFC 5034 section 4); ParseError if not base64."""
    import binascii

    if data == b"=":
        return b""
    if not _BASE64.fullmatch(data) or len(data) % 4:
        raise ParseError("the response is not base64")
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        raise ParseError("the response is not base64") from None


def parse_command(line: bytes) -> Command:
    """One command line (with or without its CRLF) to a typed command; ParseError with the reason."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > MAX_LINE:
        raise ParseError(f"command line longer than {MAX_LINE} octets")
    if not line:
        raise ParseError("empty command")
    keyword_bytes, _, rest = line.partition(b" ")
    if not _KEYWORD.fullmatch(keyword_bytes):
        raise ParseError("unknown command")
    keyword = keyword_bytes.decode().upper()
    if keyword == "PASS":
        # RFC 1939 7: the password is the rest of the line, spaces and all (some clients send them).
        if not rest:
            raise ParseError("PASS takes the password")
        return Pass(_text(rest, "the password", MAX_PASSWORD))
    args = rest.split(b" ") if rest else []
    if any(not a for a in args):
        raise ParseError("arguments are separated by single spaces")
    if keyword == "USER":
        _arity(args, keyword, 1, 1)
        return User(_text(args[0], "the user name", MAX_PASSWORD))
    if keyword == "APOP":
        _arity(args, keyword, 2, 2)
        digest = _text(args[1], "the digest")
        if not re.fullmatch(r"[0-9a-fA-F]{32}", digest):
            raise ParseError("the APOP digest is 32 hexadecimal digits")
        return Apop(_text(args[0], "the user name", MAX_PASSWORD), digest.lower())
    if keyword == "AUTH":
        _arity(args, keyword, 0, 2)
        if not args:
            return Auth(None)
        mechanism = _text(args[0], "the mechanism", 20).upper()
        if not re.fullmatch(r"[A-Z0-9_-]{1,20}", mechanism):
            raise ParseError("bad mechanism name")
        initial = decode_base64(args[1]) if len(args) == 2 else None
        return Auth(mechanism, initial)
    if keyword in ("LIST", "UIDL"):
        _arity(args, keyword, 0, 1)
        number = _number(args[0], "the message number") if args else None
        return List(number) if keyword == "LIST" else Uidl(number)
    if keyword in ("RETR", "DELE"):
        _arity(args, keyword, 1, 1)
        number = _number(args[0], "the message number")
        return Retr(number) if keyword == "RETR" else Dele(number)
    if keyword == "TOP":
        _arity(args, keyword, 2, 2)
        return Top(_number(args[0], "the message number"), _number(args[1], "the line count", zero=True))
    simple: dict[str, type[Command]] = {"STLS": Stls, "CAPA": Capa, "STAT": Stat, "NOOP": Noop, "RSET": Rset,
                                        "QUIT": Quit}
    if keyword in simple:
        _arity(args, keyword, 0, 0)
        return simple[keyword]()
    raise ParseError("unknown command")


# -- answers ---------------------------------------------------------------------------------------------

def ok(text: str = "") -> bytes:
    return b"+OK " + text.encode() + b"\r\n" if text else b"+OK\r\n"


def err(text: str, code: str | None = None) -> bytes:
    """-ERR with an RFC 2449 response code in brackets ([AUTH], [SYS/TEMP], [IN-USE]...)."""
    middle = f"[{code}] " if code else ""
    return f"-ERR {middle}{text}\r\n".encode()


def multiline(lines: list[bytes]) -> bytes:
    """Lines (without line ends) as a multi-line body, byte-stuffed, ending in ".\\r\\n"."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


def _plain(message: bytes) -> bool:
    """Every line ends in CRLF (no bare LF or CR) and none starts with "."."""
    lf = message.count(b"\n")
    return (lf == message.count(b"\r") == message.count(b"\r\n") and not message.startswith(b".")
            and b"\n." not in message)


def message_body(message: bytes, body_lines: int | None = None) -> bytes:
    """A message as a multi-line response body (RFC 1939 section 3): every line ends in CRLF (bare LF
    and CR become CRLF), a leading "." is doubled, then the terminating ".". With `body_lines`, only the
    header, the blank line and that many body lines (TOP)."""
    if body_lines is None and _plain(message):
        # The common case, a CRLF message with no line starting with ".": sent as it is.
        return message + (b".\r\n" if message.endswith(b"\r\n") or not message else b"\r\n.\r\n")
    text = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if text.endswith(b"\n"):
        text = text[:-1]
    lines = text.split(b"\n") if message else []  # "\r\n" alone is one empty line
    if body_lines is not None:
        try:
            blank = lines.index(b"")
        except ValueError:
            blank = len(lines)
        lines = lines[:blank + 1 + body_lines]
    if not any(line.startswith(b".") for line in lines):
        return b"\r\n".join(lines) + (b"\r\n.\r\n" if lines else b".\r\n")
    return multiline(lines)
