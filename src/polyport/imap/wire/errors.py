"""The parser's errors, and the literal marker the session frames a command by.

`ParseError` is the BAD answer (RFC 9051 section 7.1.3); `BadCharset` and `BadMailboxName` the refusals
that are a NO (`NO [BADCHARSET ...]`, RFC 9051 section 6.4.4; a well-formed command naming a mailbox whose
name is not modified UTF-7, RFC 3501 section 5.1.3). `literal_at_end` finds a literal marker ending a line
(RFC 9051 section 4.3 literal, RFC 7888 {n+}, RFC 3516 ~{n}), so the session knows to read n bytes more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from polyport.imap.wire.commands import Command

# literal_at_end's marker: parser.py's _LITERAL without the line end (RFC 3501 literal, RFC 3516, RFC 7888).
_LITERAL_MARK: Final = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}")
# A quoted string's body (RFC 3501 section 9 quoted), to tell a "{5}" inside one from a literal marker.
_QUOTED_BODY: Final = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # unrolled: linear, no backtracking


class ParseError(ValueError):
    """A command the server answers with BAD: `tag BAD message`, or `* BAD message` when `tag` is None."""

    def __init__(self, tag: str | None, message: str) -> None:
        super().__init__(message)
        self.tag = tag
        self.message = message


class BadCharset(ParseError):
    """SEARCH, SORT or THREAD named a charset we do not decode: a NO with [BADCHARSET (...)], not a BAD."""

    def __init__(self, tag: str | None, charset: str) -> None:
        # A charset given as a quoted string or literal may hold anything: the one-line answer shows it escaped.
        shown = charset if charset.isprintable() and len(charset) <= 64 else repr(charset[:64])
        super().__init__(tag, f"unsupported charset {shown}")
        self.charset = charset


class BadMailboxName(ParseError):
    """A well-formed command with a mailbox name that is not valid modified UTF-7 (RFC 3501 section 5.1.3):
    answered NO, since nothing is wrong with the command's syntax. `command` is the command as parsed (the
    bad name in it is only a placeholder), for the session to do what a failed command of its kind does."""

    def __init__(self, tag: str | None, message: str, command: Command) -> None:
        super().__init__(tag, message)
        self.command = command


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal announced at the end of a line: `size` bytes follow. A synchronizing literal waits for
    the server's "+" continuation; {n+} (RFC 7888 LITERAL+) does not. `binary` is literal8 ~{n} (RFC 3516)."""

    size: int
    synchronizing: bool
    binary: bool


def literal_at_end(line: bytes) -> Literal | None:
    """The literal marker ending `line` (which ends in CRLF or LF), if any. A "{5}" inside a quoted string
    is not one: quoted strings are tracked from the line's start (they never span lines)."""
    if line.endswith(b"\r\n"):
        end = len(line) - 2
    elif line.endswith(b"\n"):
        end = len(line) - 1
    else:
        end = len(line)
    if end < 1 or line[end - 1] != 0x7D:  # "}"
        return None
    brace = line.rfind(b"{", 0, end)
    if brace < 0:
        return None
    start = brace - 1 if brace > 0 and line[brace - 1] == 0x7E else brace  # "~{" is literal8
    match = _LITERAL_MARK.fullmatch(line, start, end)
    if match is None or _inside_quotes(line, start):
        return None
    return Literal(size=int(match.group(2)), synchronizing=not match.group(3), binary=bool(match.group(1)))


def _inside_quotes(line: bytes, position: int) -> bool:
    """Whether `position` falls inside a quoted string of `line` (RFC 3501 section 9: quoted)."""
    pos = 0
    while True:
        opening = line.find(b'"', pos, position)
        if opening < 0:
            return False
        body = _QUOTED_BODY.match(line, opening + 1)
        closing = body.end() if body is not None else opening + 1
        if closing >= position:
            return True  # the string is still open at `position`
        pos = closing + 1
