"""POP3's wire format (RFC 1939, RFC 2449, RFC 2595, RFC 5034), pure: command lines to typed commands,
answers and multi-line bodies to bytes. No I/O here.

A command is a keyword and arguments separated by single spaces, ended by CRLF (a bare LF is accepted).
RFC 2449 bounds a command line to 255 octets, arguments to 40; we allow longer lines for SASL initial
responses (RFC 5034 raises the bound for AUTH) and refuse arguments longer than the RFC's 40 octets
otherwise, except passwords, which some users make long.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


# A message goes out in pieces of about this size, each made ready (line ends, stuffing) apart, so that a
# session can write one and let the loop turn before the next: a message at the size limit holds the loop
# for milliseconds at a time, not for the whole message.
PIECE: Final = 1 << 20
# TOP counts line ends a block at a time (bytes.count, in C), then one by one (bytes.find) in the last block.
_BLOCK: Final = 64 * 1024


def _crlf_lines(text: bytes) -> bytes:
    """`text` with every line ending in CRLF (a bare LF or CR is a line end), the last one too; b"" stays
    b"". In C: a few passes of bytes methods, none that copies when it is already CRLF."""
    crlf = text.count(b"\r\n")
    if text.count(b"\n") != crlf or text.count(b"\r") != crlf:
        text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if text and not text.endswith(b"\r\n"):
        text += b"\r\n"
    return text


def _lines_end(text: bytes, start: int, count: int) -> tuple[int, int]:
    """Where the `count`th line of CRLF `text` from `start` ends (after its CRLF), and how many of the
    `count` lines are left when `text` has fewer (then the position is len(text))."""
    size = len(text)
    position = start
    while count > 0 and position < size:
        end = min(position + _BLOCK, size)
        if text[end - 1:end] == b"\r":  # not between the two octets of a CRLF
            end += 1
        found = text.count(b"\r\n", position, end)
        if found < count:
            count -= found
            position = end
            continue
        while count > 0:
            position = text.find(b"\r\n", position, end) + 2
            count -= 1
    return min(position, size), count


def _raw_pieces(message: bytes, size: int) -> Iterator[bytes]:
    """`message` cut after a line end (LF, or a CR not followed by LF) about every `size` octets."""
    position = 0
    any_lf = True
    while position < len(message):
        target = position + size
        if target >= len(message):
            yield message[position:]
            return
        cut = message.find(b"\n", target) if any_lf else -1
        if cut < 0:
            any_lf = False  # none after this point: line ends are CRs alone, if any
            cut = message.find(b"\r", target)
        if cut < 0:
            yield message[position:]
            return
        yield message[position:cut + 1]
        position = cut + 1


def message_pieces(message: bytes, body_lines: int | None = None, size: int = PIECE) -> Iterator[bytes]:
    """A message as the lines of a multi-line response (RFC 1939 section 3), without the terminating ".",
    in pieces of about `size` octets: every line ends in CRLF (bare LF and CR become CRLF) and a leading "."
    is doubled. With `body_lines`, only the header, the blank line and that many body lines (TOP). Each
    piece is made in C (bytes methods over it), and every piece starts at the start of a line."""
    in_header = True
    left = body_lines if body_lines is not None else 0
    for raw in _raw_pieces(message, size):
        text = _crlf_lines(raw)
        if body_lines is not None:
            start = 0
            if in_header:
                # The blank line ending the header; every piece starts at the start of a line.
                blank = -2 if text.startswith(b"\r\n") else text.find(b"\r\n\r\n")
                in_header = blank == -1
                start = len(text) if in_header else blank + 4
            if not in_header:
                end, left = _lines_end(text, start, left)
                text = text[:end]
        # RFC 1939 byte-stuffing: a line starting with "." gets another ".". replace() hands back the same
        # object, uncopied, when there is nothing to stuff.
        stuffed = text.replace(b"\r\n.", b"\r\n..")
        if text.startswith(b"."):
            stuffed = b"." + stuffed
        if stuffed:
            yield stuffed
        if body_lines is not None and not in_header and left == 0:
            return


def message_body(message: bytes, body_lines: int | None = None) -> bytes:
    """A message as a multi-line response body (RFC 1939 section 3): `message_pieces` then the terminating
    ".". With `body_lines`, only the header, the blank line and that many body lines (TOP)."""
    return b"".join(message_pieces(message, body_lines)) + b".\r\n"
