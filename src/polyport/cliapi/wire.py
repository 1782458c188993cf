"""CommuniGate's textual data format, both ways, and the reader of one CLI command line. Pure: no I/O.

Values and their Python types:

    atom / "quoted string"        str       (adjacent quoted strings join: "ab" "cd" is "abcd")
    [base64]                      bytes     (adjacent blocks join)
    #123  #-5                     int
    #1.5                          float
    #YES  #NO                     bool
    #T22-10-2009_15:24:45         datetime  (UTC, to the second)
    #T22-10-2009                  date
    #TPAST  #TFUTURE              PAST, FUTURE
    #I[10.0.0.1]:25  #I[::1]      IPAddress
    #NULL#                        None
    <tag ...>...</tag>            XmlText
    (a, b, ...)                   list
    {Key=Value; ...}              dict      (every pair ends with ";")

Strings escape `\\"` `\\\\` `\\r` `\\n` `\\t` `\\e` (end of line: read as CRLF, written for CRLF and LF), `\\nnn`
(three decimal digits: a byte; a run of them is read as UTF-8 where it is) and `\\u'HHHH'`.
Every failure is a `DataError` naming the position and what was expected; nesting is bounded.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime
import decimal
import functools
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any, Final

MAX_DEPTH: Final = 64
UTC = datetime.UTC


class DataError(ValueError):
    """Malformed data: says where and what was wrong."""

    def __init__(self, message: str, position: int) -> None:
        # The session answers with this text on one line: a CR or LF quoted from the input must not end it.
        message = message.replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True, slots=True)
class IPAddress:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int | None = None

    def __str__(self) -> str:
        return f"[{self.address}]" + (f":{self.port}" if self.port is not None else "")


@dataclass(frozen=True, slots=True)
class XmlText:
    """An XML object, kept as its text (nothing here needs its tree)."""

    text: str


class _Timeless:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PAST: Final = _Timeless("PAST")
FUTURE: Final = _Timeless("FUTURE")
# A null object to send where None would mean "no data" to the caller (it is written as #NULL#).
NULL: Final = _Timeless("NULL")

Value = Any  # str | bytes | int | float | bool | datetime | date | _Timeless | IPAddress | XmlText | None | list | dict

# Characters an atom may hold: letters, digits, these, and any byte >= 0x80 (UTF-8 text).
_ATOM_EXTRA = frozenset("-_.@!#%:/+*")  # "*" is the CLI's name for "myself"
_SAFE_ATOM = re.compile(r"[A-Za-z0-9_.@-]+")  # what we write unquoted (every client reads these)
_ATOM = re.compile(r"[A-Za-z0-9\-_.@!#%:/+*\x80-\U0010FFFF]+")  # what we read as one: see _is_atom_char
_SPACE = " \t\r\n"
_DIGITS = "0123456789"  # ASCII only: str.isdigit() also takes "²", which int() refuses
# A byte of a \\nnn run that is not part of UTF-8 reads as the character of its code (as before runs were
# read as UTF-8), without spoiling the valid characters around it.
_BYTE_AS_CHARACTER = "polyport-byte-as-character"


def _byte_as_character(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return chr(err.object[err.start]), err.start + 1


codecs.register_error(_BYTE_AS_CHARACTER, _byte_as_character)
_ESCAPES = {'"': '"', "\\": "\\", "r": "\r", "n": "\n", "t": "\t", "e": "\r\n"}
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATETIME = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})(?:_([0-9]{2}):([0-9]{2}):([0-9]{2}))?")


def _is_atom_char(ch: str) -> bool:
    return (ch.isascii() and ch.isalnum()) or ch in _ATOM_EXTRA or ord(ch) >= 0x80


class Parser:
    """A cursor over text holding data values (a command line, or a reply)."""

    def __init__(self, text: str, position: int = 0) -> None:
        self.text = text
        self.pos = position

    # -- helpers --

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise DataError(f"expected {ch!r}", self.pos)
        self.pos += 1

    def error(self, message: str) -> DataError:
        return DataError(message, self.pos)

    def keyword(self, *words: str) -> str:
        """The next atom, which must be one of `words` (any case); returned upper-case."""
        start = self.pos
        try:
            word = self.atom().upper()
        except DataError:
            word = ""
        if word not in words:
            self.pos = start
            raise self.error(f"expected {' or '.join(words)}")
        return word

    def maybe_keyword(self, *words: str) -> str | None:
        """The next atom, upper-case, if it is one of `words`; else nothing is consumed."""
        start = self.pos
        ch = self.peek()
        if not ch or not _is_atom_char(ch) or ch == "#":
            return None
        word = self.atom().upper()
        if word in words:
            return word
        self.pos = start
        return None

    def end(self) -> None:
        """Nothing but space may follow."""
        if not self.at_end():
            raise self.error("unexpected text after the command")

    def secret(self) -> str:
        """The rest of the line as a password: one quoted string if it is one, else the text as is."""
        rest = self.rest()
        if rest.startswith('"'):
            try:
                return str(parse(rest))
            except DataError:
                pass
        self.pos = len(self.text)
        return rest.rstrip(" ")

    def rest(self) -> str:
        self.skip_space()
        return self.text[self.pos:]

    # -- values --

    def value(self, depth: int = 0) -> Value:
        if depth > MAX_DEPTH:
            raise self.error(f"data nested deeper than {MAX_DEPTH} levels")
        ch = self.peek()
        if not ch:
            raise self.error("expected a value, found the end")
        if ch == "(":
            return self._array(depth)
        if ch == "{":
            return self._dictionary(depth)
        if ch == "[":
            return self._datablocks()
        if ch == '"':
            return self._quoted_strings()
        if ch == "#":
            return self._typed()
        if ch == "<":
            return self._xml()
        if _is_atom_char(ch):
            return self.atom()
        raise self.error(f"unexpected {ch!r}")

    def atom(self) -> str:
        self.skip_space()
        match = _ATOM.match(self.text, self.pos)
        if match is None:
            raise self.error("expected a word")
        self.pos = match.end()
        return match.group()

    def string(self) -> str:
        """An atom or quoted string (a name, a keyword argument)."""
        ch = self.peek()
        if ch == '"':
            return self._quoted_strings()
        if ch and _is_atom_char(ch) and ch != "#":
            return self.atom()
        raise self.error("expected a name or a quoted string")

    def _quoted_strings(self) -> str:
        parts = [self._quoted()]
        while True:
            saved = self.pos
            if self.peek() == '"':
                parts.append(self._quoted())
            else:
                self.pos = saved
                return "".join(parts)

    def _quoted(self) -> str:
        self._expect('"')
        text, pos = self.text, self.pos
        out: list[str] = []
        while True:
            end = pos
            while end < len(text) and text[end] not in '"\\':
                end += 1
            out.append(text[pos:end])
            if end >= len(text):
                raise DataError("unterminated quoted string", end)
            if text[end] == '"':
                self.pos = end + 1
                return "".join(out)
            pos = self._escape(end, out)

    def _escape(self, at: int, out: list[str]) -> int:
        """Decode the escape starting at text[at] == "\\"; returns the position after it."""
        text = self.text
        code = text[at + 1:at + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            return at + 2
        if code in _DIGITS:
            # A run of \\nnn is bytes (CommuniGate's Perl library escapes each byte of a UTF-8 character):
            # read as UTF-8 where they are, else each as the character of that code.
            run = bytearray()
            pos = at
            while text[pos:pos + 1] == "\\" and text[pos + 1:pos + 2] in _DIGITS:
                digits = text[pos + 1:pos + 4]
                if len(digits) != 3 or not all(c in _DIGITS for c in digits) or int(digits) > 255:
                    raise DataError("\\nnn needs three decimal digits up to 255", pos)
                run.append(int(digits))
                pos += 4
            out.append(run.decode("utf-8", errors=_BYTE_AS_CHARACTER))
            return pos
        if code == "u" and text[at + 2:at + 3] == "'":
            end = text.find("'", at + 3)
            hex_digits = text[at + 3:end] if end > 0 else ""
            if not (1 <= len(hex_digits) <= 6) or not all(c in "0123456789abcdefABCDEF" for c in hex_digits):
                raise DataError("\\u'HHHH' needs 1 to 6 hex digits between apostrophes", at)
            point = int(hex_digits, 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                raise DataError(f"\\u'{hex_digits}' is not a character", at)
            out.append(chr(point))
            return end + 1
        raise DataError(f"unknown escape \\{code or '(end)'}", at)

    def _datablocks(self) -> bytes:
        data = bytearray()
        while self.peek() == "[":
            start = self.pos
            end = self.text.find("]", start)
            if end < 0:
                raise self.error("unterminated [data block]")
            encoded = "".join(self.text[start + 1:end].split())
            try:
                data += base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise DataError("a [data block] is not valid base64", start) from None
            self.pos = end + 1
        return bytes(data)

    def _typed(self) -> Value:
        start = self.pos
        text = self.text
        rest = text[start + 1:start + 8]
        if text.startswith("#NULL#", start):
            self.pos = start + 6
            return None
        if rest.startswith("I["):
            return self._ip(start)
        if rest.startswith("T"):
            return self._time(start)
        upper = rest[:3].upper()
        if upper == "YES" and not _is_atom_char(text[start + 4:start + 5] or " "):
            self.pos = start + 4
            return True
        if rest[:2].upper() == "NO" and not _is_atom_char(text[start + 3:start + 4] or " "):
            self.pos = start + 3
            return False
        match = _NUMBER.match(text, start + 1)
        if match is None:
            raise DataError("# must start a number, #T time, #I[address], #YES, #NO or #NULL#", start)
        self.pos = match.end()
        number = match.group()
        if "." in number:
            value = float(number)
            if not math.isfinite(value):
                raise DataError("number too large", start)
            return value
        if len(number) > 20:
            raise DataError("number too large", start)
        return int(number)

    def _time(self, start: int) -> Value:
        text = self.text
        for word, value in (("PAST", PAST), ("FUTURE", FUTURE)):
            if text.startswith(word, start + 2):
                self.pos = start + 2 + len(word)
                return value
        match = _DATETIME.match(text, start + 2)
        if match is None:
            raise DataError("#T needs dd-mm-yyyy, dd-mm-yyyy_hh:mm:ss, PAST or FUTURE", start)
        day, month, year, hour, minute, second = match.groups()
        self.pos = match.end()
        try:
            if hour is None:
                return datetime.date(int(year), int(month), int(day))
            return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                     tzinfo=UTC)
        except ValueError as err:
            raise DataError(f"bad date: {err}", start) from None

    def _ip(self, start: int) -> IPAddress:
        end = self.text.find("]", start)
        if end < 0:
            raise DataError("unterminated #I[address]", start)
        text = self.text[start + 3:end]
        try:
            if not text.isprintable() or " " in text:
                raise ValueError
            address = ipaddress.ip_address(text)
        except ValueError:
            raise DataError("#I[...] does not hold an IP address", start) from None
        self.pos = end + 1
        port = None
        if self.text[self.pos:self.pos + 1] == ":":
            match = re.compile(r"[0-9]{1,5}").match(self.text, self.pos + 1)
            if match is None or int(match.group()) > 65535:
                raise DataError("bad port after #I[address]:", self.pos)
            port = int(match.group())
            self.pos = match.end()
        return IPAddress(address, port)

    def _xml(self) -> XmlText:
        """An XML element: balanced tags, quotes inside tags respected."""
        text, start = self.text, self.pos
        depth, pos = 0, start
        while True:
            if pos >= len(text) or text[pos] != "<":
                raise DataError("malformed XML object", pos)
            close = pos
            quote = ""
            while close < len(text):
                ch = text[close]
                if quote:
                    if ch == quote:
                        quote = ""
                elif ch in "\"'":
                    quote = ch
                elif ch == ">":
                    break
                close += 1
            if close >= len(text):
                raise DataError("unterminated XML tag", pos)
            tag = text[pos:close + 1]
            if tag.startswith(("<?", "<!")):
                pass
            elif tag.startswith("</"):
                depth -= 1
            elif not tag.endswith("/>"):
                depth += 1
            if depth > MAX_DEPTH:
                raise DataError(f"XML nested deeper than {MAX_DEPTH} levels", pos)
            pos = close + 1
            if depth <= 0:
                self.pos = pos
                xml = text[start:pos]
                if "\r" in xml or "\n" in xml or "\0" in xml:
                    raise DataError("an XML object must stay on one line", start)
                return XmlText(xml)
            following = text.find("<", pos)
            if following < 0:
                raise DataError("unterminated XML object", pos)
            pos = following

    def _array(self, depth: int) -> list[Value]:
        self._expect("(")
        items: list[Value] = []
        if self.peek() == ")":
            self.pos += 1
            return items
        while True:
            items.append(self.value(depth + 1))
            ch = self.peek()
            if ch == ",":
                self.pos += 1
            elif ch == ")":
                self.pos += 1
                return items
            else:
                raise self.error("expected ',' or ')' in an array")

    def _dictionary(self, depth: int) -> dict[str, Value]:
        self._expect("{")
        result: dict[str, Value] = {}
        while True:
            ch = self.peek()
            if ch == "}":
                self.pos += 1
                return result
            if not ch:
                raise self.error("unterminated dictionary: expected '}'")
            key = self.string()
            self._expect("=")
            result[key] = self.value(depth + 1)
            self._expect(";")


def parse(text: str) -> Value:
    """One whole value; anything after it (but space) is an error."""
    parser = Parser(text)
    value = parser.value()
    if not parser.at_end():
        raise parser.error("unexpected text after the value")
    return value


# -- writing ------------------------------------------------------------------------------------------

def quote(text: str) -> str:
    """A quoted string. A line end (CRLF, or LF alone) is written `\\e`, as CommuniGate writes it: clients
    split multi-line values (rules' texts, address lists, scripts) on it."""
    if "\n" in text:
        text = text.replace("\r\n", "\n")
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\e")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\{ord(ch):03d}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def as_read_back(value: Value) -> Value:
    """`value` as it reads back once written: every line end in its strings (LF alone too) a CRLF, since
    both are written `\\e`."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\n", "\r\n") if "\n" in value else value
    if isinstance(value, list):
        return [as_read_back(item) for item in value]
    if isinstance(value, dict):
        return {str(as_read_back(key)): as_read_back(item) for key, item in value.items()}
    return value


@functools.lru_cache(maxsize=8192)
def string(text: str) -> str:
    """A string's textual form: bare when every client reads it so, else quoted. Cached: replies repeat
    the same keys and values (setting names, YES, unlimited) endlessly."""
    return text if _SAFE_ATOM.fullmatch(text) and not text.startswith("#") else quote(text)


def serialize(value: Value) -> str:
    """The textual form of a value, on one line."""
    if isinstance(value, str):
        return string(value)
    if value is None or value is NULL:
        return "#NULL#"
    if value is True:
        return "#YES"
    if value is False:
        return "#NO"
    if isinstance(value, int):
        return f"#{value}"
    if isinstance(value, float):
        text = repr(value)
        if not _NUMBER.fullmatch(text):
            # The shortest digits that read back as this float, without an exponent (the format has none):
            # 4.5e-06 is #0.0000045, where six decimals wrote #0.000005, another number.
            text = format(decimal.Decimal(text), "f") if math.isfinite(value) else text
            if "." not in text:
                text += ".0"
            if not _NUMBER.fullmatch(text):
                raise TypeError(f"no CommuniGate form for the number {value!r}")
        return f"#{text}"
    if isinstance(value, bytes | bytearray):
        return f"[{base64.b64encode(value).decode()}]"
    if isinstance(value, dict):
        return "{" + "".join(f"{string(str(k))}={serialize(v)};" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "(" + ",".join(serialize(v) for v in value) + ")"  # compact: some clients split on ","
    if isinstance(value, datetime.datetime):
        m = value.astimezone(UTC) if value.tzinfo else value
        return f"#T{m.day:02d}-{m.month:02d}-{m.year:04d}_{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    if isinstance(value, datetime.date):
        return f"#T{value.day:02d}-{value.month:02d}-{value.year:04d}"
    if value is PAST:
        return "#TPAST"
    if value is FUTURE:
        return "#TFUTURE"
    if isinstance(value, IPAddress):
        return f"#I{value}"
    if isinstance(value, XmlText):
        return value.text
    raise TypeError(f"no CommuniGate form for {type(value).__name__}")
