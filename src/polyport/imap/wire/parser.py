"""The parser: `parse_command`, a cursor over one command's bytes with a method per grammar rule, the
character classes it matches tokens with, and the tables from command and search-key names to its methods.

RFC 3501 section 9 and RFC 9051 section 9, with the extensions' ABNF the package docstring lists (the rules
are quoted beside the code that reads them). Every refusal is a ParseError with the tag and a reason.
"""

from __future__ import annotations

import binascii
import datetime
import functools
import re
import typing
from collections.abc import Callable
from typing import Final, cast

from polyport.imap.responses import utf7_decode
from polyport.imap.wire import commands, sequence
from polyport.imap.wire.commands import (
    FETCH_ATTRIBUTES,
    NOTIFY_EVENTS,
    SORT_KEYS,
    STATUS_ITEMS,
    THREAD_ALGORITHMS,
    Append,
    AppendMessage,
    Authenticate,
    CancelUpdate,
    Capability,
    Check,
    Close,
    Command,
    Compress,
    Copy,
    Create,
    Delete,
    DeleteAcl,
    Enable,
    Examine,
    Expunge,
    Fetch,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    GenUrlAuth,
    GetAcl,
    GetMetadata,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    ListRights,
    Login,
    Logout,
    Lsub,
    Move,
    MyRights,
    Namespace,
    Noop,
    Notify,
    NotifyEventGroup,
    NotifyFilterKind,
    QResync,
    Rename,
    Replace,
    ResetKey,
    Search,
    SearchAge,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchMessages,
    SearchModSeq,
    SearchNot,
    SearchObjectId,
    SearchOr,
    SearchSize,
    SearchText,
    Section,
    Select,
    SetAcl,
    SetMetadata,
    SetQuota,
    Sort,
    SortCriterion,
    StartTls,
    Status,
    Store,
    StoreOperation,
    Subscribe,
    Thread,
    Unauthenticate,
    Unselect,
    Unsubscribe,
    UrlFetch,
)
from polyport.imap.wire.errors import BadCharset, BadMailboxName, ParseError
from polyport.imap.wire.sequence import MAX_NUMBER, SequenceSet, _cached_sequence_set, _parse_sequence_set
from polyport.mailstore.metadata import check_name as _check_entry_name

MAX_DEPTH: Final = 64  # parentheses and NOT/OR in search keys, section part numbers
MAX_NUMBER64: Final = 9_223_372_036_854_775_807  # RFC 9051 number64, RFC 7162 mod-sequence-value
MAX_ID_PAIRS: Final = 30  # RFC 2971 section 3.3
MAX_CATENATE_PARTS: Final = 1000  # each URL is a read of the store
MAX_NOTIFY_GROUPS: Final = 100  # NOTIFY's event groups, and mailboxes in one of them: each a watch to keep
MAX_CANCELLED_TAGS: Final = 100  # CANCELUPDATE's tags (a session keeps far fewer contexts: imap/contexts.py)
MAX_URLS: Final = 100  # GENURLAUTH's and URLFETCH's URLs, RESETKEY's mechanisms: each a read of the store
DELIMITER: Final = "/"  # the hierarchy delimiter, for recognizing "INBOX/child"
SEARCH_CHARSETS: Final = ("US-ASCII", "UTF-8")  # RFC 9051 section 6.4.4: both are required

# Bound by assignment, not imported: CPython compiles `name.method(...)` to a method call only when `name`
# is not bound by an import statement (3.11's compile.c: is_import_originated); on an imported name each
# call first makes a bound method. The parser calls methods of these (_SEQUENCE's on every sequence set).
_SEQUENCE: Final = sequence._SEQUENCE
FETCH_MACROS: Final = commands.FETCH_MACROS
SPECIAL_USES: Final = commands.SPECIAL_USES
SYSTEM_FLAGS: Final = commands.SYSTEM_FLAGS

# -- character classes (RFC 3501 section 9) -------------------------------------------------------------
# ATOM-CHAR: any CHAR except atom-specials = "(" ")" "{" SP CTL list-wildcards quoted-specials resp-specials.
_ATOM: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
# ASTRING-CHAR = ATOM-CHAR / resp-specials
_ASTRING_ATOM: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\]+')
_MECHANISM: Final = re.compile(rb"[A-Za-z0-9.\-]{1,64}(?![^ \r\n])")  # RFC 4467 section 9
# list-char = ATOM-CHAR / list-wildcards / resp-specials
_LIST_ATOM: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){"\\]+')
# tag = 1*<any ASTRING-CHAR except "+">
_TAG: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+')
# The first byte that ends a run inside a quoted string (UTF-8 mode lets 8-bit through, RFC 6855 section 3).
_QUOTED_STOP: Final = re.compile(rb'["\\\x00\r\n\x80-\xff]')
_QUOTED_STOP_UTF8: Final = re.compile(rb'["\\\x00\r\n]')
# literal = "{" number64 ["+"] "}" CRLF *CHAR8; literal8 = "~{" number64 ["+"] "}" CRLF *OCTET (RFC 3516, 7888)
_LITERAL: Final = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\r?\n")
_DIGITS: Final = re.compile(rb"[0-9]+")
_FETCH_NAME: Final = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_SPEC: Final = re.compile(rb"[A-Za-z0-9.]*")
_PARTIAL: Final = re.compile(rb"<([0-9]{1,20})\.([0-9]{1,20})>")
_PARTIAL_RANGE: Final = re.compile(rb"(-?)([0-9]{1,20}):(-?)([0-9]{1,20})(?=[ )]|\Z)")  # RFC 9394
_STORE_ITEM: Final = re.compile(rb"([+-]?)FLAGS(\.SILENT)?(?=[ \r\n]|\Z)", re.IGNORECASE)
_BASE64: Final = re.compile(rb"[A-Za-z0-9+/=]+")
_OBJECT_ID: Final = re.compile(rb"[A-Za-z0-9_-]{1,255}")  # RFC 8474 section 7: objectid
_RIGHTS: Final = re.compile(r"[+-]?[a-z0-9]*")  # RFC 4314 section 2: rights are lower-case letters and digits
# date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year
_DATE: Final = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
# date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
_DATE_TIME: Final = re.compile(rb'"([ 0-9]?[0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) '
                               rb'([+-])([0-9]{2})([0-9]{2})"')
_MONTHS: Final = {name: number for number, name in enumerate(
    (b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC"), 1)}
_SEQUENCE_START: Final = frozenset(b"0123456789*$")


# -- the parser ------------------------------------------------------------------------------------------

def _describe(byte: int) -> str:
    if byte == 0:
        return "a NUL byte"
    if byte >= 0x80:
        return "an 8-bit byte outside a quoted string or literal"
    if byte in (0x0D, 0x0A):
        return "a stray line end"
    if byte < 0x20 or byte == 0x7F:
        return "a control character"
    return repr(chr(byte))


def canonical_inbox(name: str) -> str:
    """RFC 9051 section 5.1: INBOX is case-insensitive; spell it "INBOX" at the head of a hierarchy."""
    if len(name) >= 5 and name[:5].isascii() and name[:5].upper() == "INBOX" and (
            len(name) == 5 or name[5] == DELIMITER) and not name.startswith("INBOX"):
        return "INBOX" + name[5:]
    return name


class _Parser:
    """A cursor over one command's bytes. Methods named for grammar rules consume them or raise."""

    __slots__ = ("bad_name", "data", "pos", "tag", "utf8")

    def __init__(self, data: bytes, utf8: bool) -> None:
        self.data = data
        self.pos = 0
        self.tag: str | None = None
        self.utf8 = utf8
        self.bad_name: str | None = None  # why a mailbox name is not modified UTF-7 (see mailbox_name)

    # -- basics --

    def error(self, message: str) -> ParseError:
        return ParseError(self.tag, message)

    def at_end(self) -> bool:
        pos = self.pos
        return pos >= len(self.data) or self.data[pos] in (0x0D, 0x0A)

    def unexpected(self, what: str) -> ParseError:
        """The error for finding something other than `what` here."""
        if self.at_end():
            return self.error(f"missing {what}")
        return self.error(f"expected {what}, found {_describe(self.data[self.pos])}")

    def sp(self, what: str) -> None:
        """SP, before `what`."""
        if self.data.startswith(b" ", self.pos):
            self.pos += 1
            return
        if self.at_end():
            raise self.error(f"missing {what}")
        raise self.error(f"expected a space before {what}, found {_describe(self.data[self.pos])}")

    def maybe_sp(self) -> bool:
        if self.data.startswith(b" ", self.pos):
            self.pos += 1
            return True
        return False

    def open_paren(self, what: str) -> None:
        if not self.data.startswith(b"(", self.pos):
            raise self.unexpected(f"'(' starting {what}")
        self.pos += 1

    def more(self, what: str) -> bool:
        """After an item of a parenthesized list: False at its ")" (consumed), True after a SP."""
        data, pos = self.data, self.pos
        if data.startswith(b")", pos):
            self.pos = pos + 1
            return False
        if data.startswith(b" ", pos):
            self.pos = pos + 1
            return True
        if self.at_end():
            raise self.error(f"unbalanced parentheses: missing ')' after {what}")
        raise self.error(f"expected a space or ')' after {what}, found {_describe(data[pos])}")

    def empty_list(self) -> bool:
        """At "()" (after the "("): consume the ")"."""
        if self.data.startswith(b")", self.pos):
            self.pos += 1
            return True
        return False

    def finish(self) -> None:
        """The command's end: CRLF (or LF, or nothing, as the session framed it)."""
        rest = self.data[self.pos:]
        if rest in (b"\r\n", b"\n", b""):
            return
        if rest[0] == 0x20:
            raise self.error("unexpected text after the arguments")
        if rest[0] == 0x29:
            raise self.error("unbalanced parentheses: unexpected ')'")
        raise self.error(f"unexpected {_describe(rest[0])} after the arguments")

    # -- atoms, strings, numbers (RFC 3501 section 9) --

    def atom(self, what: str) -> bytes:
        match = _ATOM.match(self.data, self.pos)
        if match is None:
            raise self.unexpected(what)
        self.pos = match.end()
        return match.group()

    def word(self, what: str) -> str:
        """An atom as an upper-case keyword."""
        return self.atom(what).decode("ascii").upper()

    def peek_word(self) -> str:
        match = _ATOM.match(self.data, self.pos)
        return match.group().decode("ascii").upper() if match is not None else ""

    def quoted(self) -> bytes:
        """quoted = DQUOTE *QUOTED-CHAR DQUOTE, at the opening quote."""
        data = self.data
        stop = _QUOTED_STOP_UTF8 if self.utf8 else _QUOTED_STOP
        start = pos = self.pos + 1
        pieces: list[bytes] = []
        while True:
            found = stop.search(data, pos)
            if found is None:
                raise self.error("unterminated quoted string")
            end = found.start()
            byte = data[end]
            if byte == 0x22:
                self.pos = end + 1
                if not pieces:
                    return data[start:end]
                pieces.append(data[pos:end])
                return b"".join(pieces)
            if byte == 0x5C:
                escaped = data[end + 1:end + 2]
                if escaped not in (b'"', b"\\"):
                    raise self.error('a backslash in a quoted string may only escape " or \\')
                pieces.append(data[pos:end])
                pieces.append(escaped)
                pos = end + 2
                continue
            if byte in (0x0D, 0x0A):
                raise self.error("unterminated quoted string")
            if byte == 0:
                raise self.error("a NUL byte in a quoted string")
            raise self.error("an 8-bit byte in a quoted string (send a literal, or ENABLE UTF8=ACCEPT)")

    def literal(self, *, binary_allowed: bool = False) -> tuple[bytes, bool]:
        """literal / literal8 at "{" or "~{": its bytes, and whether it was literal8."""
        match = _LITERAL.match(self.data, self.pos)
        if match is None:
            raise self.error("malformed literal: expected {n} or {n+} and the line end")
        binary = bool(match.group(1))
        if binary and not binary_allowed:
            raise self.error("a literal8 (~{n}) is allowed only for APPEND's message")
        start = match.end()
        end = start + int(match.group(2))
        if end > len(self.data):
            raise self.error("literal shorter than its announced size")
        with memoryview(self.data) as view:  # one copy, whether the command came as bytes or bytearray
            content = bytes(view[start:end])
        if not binary and b"\0" in content:
            raise self.error("a NUL byte in a literal (only a literal8 ~{n} may hold one)")
        self.pos = end
        return content, binary

    def string(self, what: str) -> bytes:
        """string = quoted / literal"""
        data, pos = self.data, self.pos
        if data.startswith(b'"', pos):
            return self.quoted()
        if data.startswith(b"{", pos):
            return self.literal()[0]
        if data.startswith(b"~{", pos):
            raise self.error("a literal8 (~{n}) is allowed only for APPEND's message")
        raise self.unexpected(what)

    def astring(self, what: str) -> bytes:
        """astring = 1*ASTRING-CHAR / string"""
        if self.data.startswith(b"~{", self.pos):
            raise self.error("a literal8 (~{n}) is allowed only for APPEND's message")
        match = _ASTRING_ATOM.match(self.data, self.pos)
        if match is not None:
            self.pos = match.end()
            return match.group()
        return self.string(what)

    def nstring_value(self, what: str) -> bytes | None:
        """nstring = string / nil (an atom is read as a string too, leniently)."""
        match = _ASTRING_ATOM.match(self.data, self.pos)
        if match is not None:
            self.pos = match.end()
            value = match.group()
            return None if value.upper() == b"NIL" else value
        return self.string(what)

    def text(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise self.error(f"{what} is not valid UTF-8") from None

    def mailbox_name(self, raw: bytes, what: str) -> str:
        """RFC 3501 section 5.1.3 (modified UTF-7), or UTF-8 after ENABLE UTF8=ACCEPT (RFC 6855 section 3)."""
        if self.utf8:
            name = self.text(raw, what)
        else:
            try:
                name = utf7_decode(raw)
            except ValueError as err:
                # A well-formed astring naming no mailbox we could have: the command is parsed to its end
                # (BAD if it is malformed besides), then refused with NO (BadMailboxName), not BAD.
                if self.bad_name is None:
                    self.bad_name = f"{what} is not valid modified UTF-7 ({err})"
                return raw.decode("latin-1")
        return canonical_inbox(name)

    def mailbox(self, what: str = "mailbox name") -> str:
        """mailbox = "INBOX" / astring"""
        return self.mailbox_name(self.astring(what), what)

    def list_mailbox(self, what: str) -> str:
        """list-mailbox = 1*list-char / string (RFC 3501 section 9)"""
        match = _LIST_ATOM.match(self.data, self.pos)
        if match is not None:
            self.pos = match.end()
            raw = match.group()
        else:
            raw = self.string(what)
        return self.mailbox_name(raw, what)

    def number(self, what: str, *, limit: int = MAX_NUMBER, nonzero: bool = False) -> int:
        """number / nz-number / number64 / mod-sequence-value, bounded by `limit`."""
        match = _DIGITS.match(self.data, self.pos)
        if match is None:
            raise self.unexpected(what)
        significant = match.group().lstrip(b"0") or b"0"
        if len(significant) > 20 or int(significant) > limit:
            raise self.error(f"{what} is out of range (at most {limit})")
        value = int(significant)
        if nonzero and value == 0:
            raise self.error(f"{what} must not be 0")
        self.pos = match.end()
        return value

    def sequence_set(self, what: str = "sequence set") -> SequenceSet:
        match = _SEQUENCE.match(self.data, self.pos)
        if match is None:
            raise self.unexpected(what)
        text = match.group()
        result = _cached_sequence_set(text) if len(text) <= 64 else _parse_sequence_set(text)
        if isinstance(result, str):
            raise self.error(result)
        self.pos = match.end()
        return result

    def date(self) -> datetime.date:
        """date = date-text / DQUOTE date-text DQUOTE (RFC 3501 section 9)."""
        quoted = self.data.startswith(b'"', self.pos)
        start = self.pos + quoted
        match = _DATE.match(self.data, start)
        if match is None:
            raise self.unexpected("date (d-Mon-yyyy)")
        end = match.end()
        if quoted:
            if not self.data.startswith(b'"', end):
                raise self.error("bad date: expected d-Mon-yyyy")
            end += 1
        day, month_name, year = match.groups()
        month = _MONTHS.get(month_name.upper())
        if month is None:
            raise self.error(f"bad month {month_name.decode()!r} in a date")
        try:
            value = datetime.date(int(year), month, int(day))
        except ValueError:
            raise self.error(f"bad date {match.group().decode()}") from None
        self.pos = end
        return value

    def date_time(self) -> datetime.datetime:
        """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
        match = _DATE_TIME.match(self.data, self.pos)
        if match is None:
            raise self.error('bad date-time: expected "dd-Mon-yyyy hh:mm:ss +zzzz"')
        day, month_name, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
        month = _MONTHS.get(month_name.upper())
        if month is None:
            raise self.error(f"bad month {month_name.decode()!r} in a date-time")
        try:
            if int(zone_minutes) >= 60:
                raise ValueError
            offset = datetime.timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
            zone = datetime.timezone(-offset if sign == b"-" else offset)
            value = datetime.datetime(int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=zone)
        except ValueError:
            raise self.error(f"bad date-time {match.group().decode()}") from None
        self.pos = match.end()
        return value

    # -- flags (RFC 3501 section 9: flag, flag-list) --

    def flag(self) -> str:
        data, pos = self.data, self.pos
        if data.startswith(b"\\", pos):
            match = _ATOM.match(data, pos + 1)  # flag-extension = "\" atom
            if match is None:
                raise self.error("expected a flag name after \\")
            lowered = b"\\" + match.group().lower()
            canonical = SYSTEM_FLAGS.get(lowered.decode("ascii"))
            if canonical is None:
                if lowered == b"\\recent":
                    raise self.error("\\Recent is set by the server only")
                raise self.error(f"unknown system flag \\{match.group()[:30].decode()}")
            self.pos = match.end()
            return canonical
        return self.atom("flag").decode("ascii")  # flag-keyword = atom

    def flag_list(self) -> tuple[str, ...]:
        """flag-list = "(" [flag *(SP flag)] ")" """
        self.open_paren("the flag list")
        if self.empty_list():
            return ()
        flags = [self.flag()]
        while self.more("a flag"):
            flags.append(self.flag())
        return tuple(flags)

    # -- the command line --

    def command(self) -> Command:
        command = self.any_command()
        if self.bad_name is not None:
            raise BadMailboxName(self.tag, self.bad_name, command)
        return command

    def any_command(self) -> Command:
        data = self.data
        match = _TAG.match(data)
        if match is None:
            if not data or data[0] in (0x0D, 0x0A):
                raise ParseError(None, "empty command line")
            raise ParseError(None, f"bad tag: found {_describe(data[0])}")
        self.pos = match.end()
        if not self.at_end() and not data.startswith(b" ", self.pos):
            raise ParseError(None, f"bad tag: found {_describe(data[self.pos])}")
        self.tag = match.group().decode("ascii")
        self.sp("command")
        name = self.word("command")
        if name == "UID":
            self.sp("command after UID")
            name = self.word("command after UID")
            handler = _UID_COMMANDS.get(name)
            if handler is None:
                raise self.error(f"unknown command UID {name[:30]}")
            return handler(self, self.tag, True)
        simple = _SIMPLE_COMMANDS.get(name)
        if simple is not None:
            self.finish()
            return simple(self.tag)
        handler = _COMMANDS.get(name)
        if handler is None:
            raise self.error(f"unknown command {name[:30]}")
        return handler(self, self.tag, False)

    # -- RFC 9051 section 6.2: not authenticated --

    def cmd_authenticate(self, tag: str, _uid: bool) -> Authenticate:
        self.sp("SASL mechanism")
        mechanism = self.word("SASL mechanism")  # auth-type = atom
        initial: bytes | None = None
        if self.maybe_sp():  # RFC 4959 section 7: initial-resp = (base64 / "=")
            match = _BASE64.match(self.data, self.pos)
            if match is None:
                raise self.unexpected("initial response (base64)")
            token = match.group()
            self.pos = match.end()
            if token == b"=":
                initial = b""
            else:
                try:
                    initial = binascii.a2b_base64(token, strict_mode=True)
                except binascii.Error:
                    raise self.error("initial response is not valid base64") from None
        self.finish()
        return Authenticate(tag, mechanism, initial)

    def cmd_login(self, tag: str, _uid: bool) -> Login:
        self.sp("user name")
        username = self.text(self.astring("user name"), "user name")
        self.sp("password")
        password = self.text(self.astring("password"), "password")
        self.finish()
        return Login(tag, username, password)

    def cmd_enable(self, tag: str, _uid: bool) -> Enable:
        # RFC 5161 section 4: enable = "ENABLE" 1*(SP capability)
        self.sp("capability")
        names = [self.word("capability")]
        while self.maybe_sp():
            names.append(self.word("capability"))
        self.finish()
        return Enable(tag, tuple(names))

    # -- RFC 9051 section 6.3: authenticated --

    def select_arguments(self) -> tuple[str, bool, QResync | None]:
        self.sp("mailbox name")
        mailbox = self.mailbox()
        condstore = False
        qresync: QResync | None = None
        if self.maybe_sp():
            # RFC 4466 section 2.1: select-params = "(" select-param *(SP select-param) ")"
            self.open_paren("SELECT parameters")
            while True:
                parameter = self.word("SELECT parameter")
                if parameter == "CONDSTORE":  # RFC 7162 section 3.1.8
                    condstore = True
                elif parameter == "QRESYNC":
                    self.sp("QRESYNC parameters")
                    qresync = self.qresync()
                else:
                    raise self.error(f"unknown SELECT parameter {parameter[:30]}")
                if not self.more("a SELECT parameter"):
                    break
        self.finish()
        return mailbox, condstore, qresync

    def qresync(self) -> QResync:
        # RFC 7162 section 7: "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
        #                     [SP seq-match-data] ")"
        self.open_paren("QRESYNC parameters")
        uidvalidity = self.number("UIDVALIDITY", nonzero=True)
        self.sp("mod-sequence")
        modseq = self.number("mod-sequence", limit=MAX_NUMBER64, nonzero=True)
        known_uids: SequenceSet | None = None
        known_sequence: SequenceSet | None = None
        known_sequence_uids: SequenceSet | None = None
        if self.maybe_sp() and not self.data.startswith(b"(", self.pos):
            known_uids = self.known_set("known UIDs")
            self.maybe_sp()
        if self.data.startswith(b"(", self.pos):
            # seq-match-data = "(" known-sequence-set SP known-uid-set ")"
            self.pos += 1
            known_sequence = self.known_set("known sequence set")
            self.sp("known UID set")
            known_sequence_uids = self.known_set("known UID set")
            if not self.data.startswith(b")", self.pos):
                raise self.unexpected("')' closing the sequence match data")
            self.pos += 1
        if not self.data.startswith(b")", self.pos):
            raise self.unexpected("')' closing the QRESYNC parameters")
        self.pos += 1
        return QResync(uidvalidity, modseq, known_uids, known_sequence, known_sequence_uids)

    def known_set(self, what: str) -> SequenceSet:
        sequence = self.sequence_set(what)
        if sequence.has_star or sequence.saved:
            raise self.error(f'{what} may not hold "*" or "$" (RFC 7162 section 7)')
        return sequence

    def cmd_select(self, tag: str, _uid: bool) -> Select:
        return Select(tag, *self.select_arguments())

    def cmd_examine(self, tag: str, _uid: bool) -> Examine:
        return Examine(tag, *self.select_arguments())

    def cmd_create(self, tag: str, _uid: bool) -> Create:
        self.sp("mailbox name")
        mailbox = self.mailbox()
        uses: list[str] = []
        if self.maybe_sp():
            # RFC 4466 section 2.2: create-params; RFC 6154 section 6: "USE" SP "(" [use-attr *(SP use-attr)] ")"
            self.open_paren("CREATE parameters")
            while True:
                parameter = self.word("CREATE parameter")
                if parameter != "USE":
                    raise self.error(f"unknown CREATE parameter {parameter[:30]}")
                self.sp("special-use attributes")
                self.open_paren("special-use attributes")
                if not self.empty_list():
                    while True:
                        uses.append(self.special_use())
                        if not self.more("a special-use attribute"):
                            break
                if not self.more("a CREATE parameter"):
                    break
        self.finish()
        return Create(tag, mailbox, tuple(uses))

    def special_use(self) -> str:
        if not self.data.startswith(b"\\", self.pos):
            raise self.unexpected("special-use attribute (\\Drafts, \\Sent, ...)")
        self.pos += 1
        name = "\\" + self.atom("special-use attribute").decode("ascii")  # use-attr-ext = "\" atom
        return SPECIAL_USES.get(name.lower(), name)

    def one_mailbox(self) -> str:
        self.sp("mailbox name")
        mailbox = self.mailbox()
        self.finish()
        return mailbox

    def cmd_delete(self, tag: str, _uid: bool) -> Delete:
        return Delete(tag, self.one_mailbox())

    def cmd_subscribe(self, tag: str, _uid: bool) -> Subscribe:
        return Subscribe(tag, self.one_mailbox())

    def cmd_unsubscribe(self, tag: str, _uid: bool) -> Unsubscribe:
        return Unsubscribe(tag, self.one_mailbox())

    def cmd_rename(self, tag: str, _uid: bool) -> Rename:
        self.sp("mailbox name")
        old = self.mailbox()
        self.sp("new mailbox name")
        new = self.mailbox("new mailbox name")
        self.finish()
        return Rename(tag, old, new)

    def cmd_list(self, tag: str, _uid: bool) -> List:
        # RFC 5258 section 6: list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
        options: dict[str, bool] = {}
        extended = False
        self.sp("reference name")
        if self.data.startswith(b"(", self.pos):
            extended = True
            self.pos += 1
            if not self.empty_list():
                while True:
                    option = self.word("LIST selection option")
                    if option not in ("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"):
                        raise self.error(f"unknown LIST selection option {option[:30]}")
                    options[option] = True
                    if not self.more("a LIST selection option"):
                        break
            if options.get("RECURSIVEMATCH") and not (options.get("SUBSCRIBED") or options.get("SPECIAL-USE")):
                raise self.error("RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE (RFC 5258 section 3)")
            self.sp("reference name")
        reference = self.mailbox("reference name")
        self.sp("mailbox pattern")
        if self.data.startswith(b"(", self.pos):
            # patterns = "(" list-mailbox *(SP list-mailbox) ")"
            extended = True
            self.pos += 1
            patterns = [self.list_mailbox("mailbox pattern")]
            while self.more("a mailbox pattern"):
                patterns.append(self.list_mailbox("mailbox pattern"))
        else:
            patterns = [self.list_mailbox("mailbox pattern")]
        returns: dict[str, bool] = {}
        status: tuple[str, ...] | None = None
        if self.maybe_sp():
            # list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
            if self.word("RETURN") != "RETURN":
                raise self.error("expected RETURN after the mailbox pattern")
            extended = True
            self.sp("LIST return options")
            self.open_paren("LIST return options")
            if not self.empty_list():
                while True:
                    option = self.word("LIST return option")
                    if option == "STATUS":  # RFC 5819 section 2
                        self.sp("status items")
                        status = self.status_items()
                    elif option in ("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "MYRIGHTS"):  # MYRIGHTS: RFC 8440
                        returns[option] = True
                    else:
                        raise self.error(f"unknown LIST return option {option[:30]}")
                    if not self.more("a LIST return option"):
                        break
        self.finish()
        return List(tag, reference, tuple(patterns),
                    select_subscribed=options.get("SUBSCRIBED", False), select_remote=options.get("REMOTE", False),
                    select_special_use=options.get("SPECIAL-USE", False),
                    recursive_match=options.get("RECURSIVEMATCH", False),
                    return_subscribed=returns.get("SUBSCRIBED", False),
                    return_children=returns.get("CHILDREN", False),
                    return_special_use=returns.get("SPECIAL-USE", False),
                    return_status=status, return_myrights=returns.get("MYRIGHTS", False), extended=extended)

    def cmd_lsub(self, tag: str, _uid: bool) -> Lsub:
        self.sp("reference name")
        reference = self.mailbox("reference name")
        self.sp("mailbox pattern")
        pattern = self.list_mailbox("mailbox pattern")
        self.finish()
        return Lsub(tag, reference, pattern)

    def status_items(self) -> tuple[str, ...]:
        # "(" status-att *(SP status-att) ")"
        self.open_paren("status items")
        items: list[str] = []
        while True:
            item = self.word("status item")
            if item not in STATUS_ITEMS:
                raise self.error(f"unknown status item {item[:30]}")
            items.append(item)
            if not self.more("a status item"):
                return tuple(items)

    def cmd_status(self, tag: str, _uid: bool) -> Status:
        self.sp("mailbox name")
        mailbox = self.mailbox()
        self.sp("status items")
        items = self.status_items()
        self.finish()
        return Status(tag, mailbox, items)

    def cmd_append(self, tag: str, _uid: bool) -> Append:
        # RFC 3502 section 6.1: append = "APPEND" SP mailbox 1*append-message
        # append-message = append-opts SP append-data; append-opts = [SP flag-list] [SP date-time]
        self.sp("mailbox name")
        mailbox = self.mailbox()
        messages: list[AppendMessage] = []
        while True:
            self.sp("message literal")
            if messages:
                # Leniency: imapclient (4.1) sends two spaces between consecutive MULTIAPPEND literals.
                while self.maybe_sp():
                    pass
            messages.append(self.append_message())
            if self.at_end():
                break
        self.finish()
        return Append(tag, mailbox, tuple(messages))

    def append_message(self) -> AppendMessage:
        """append-opts SP append-data, after the SP before them (RFC 3502, RFC 3516, RFC 6855)."""
        flags: tuple[str, ...] = ()
        internal_date: datetime.datetime | None = None
        if self.data.startswith(b"(", self.pos):
            flags = self.flag_list()
            self.sp("message literal")
        if self.data.startswith(b'"', self.pos):
            internal_date = self.date_time()
            self.sp("message literal")
        utf8 = False
        if self.data[self.pos:self.pos + 4].upper() == b"UTF8":
            # RFC 6855 section 4: append-data =/ "UTF8" SP "(" literal8 ")"
            self.pos += 4
            self.sp("UTF8 message")
            self.open_paren("the UTF8 message")
            if not self.data.startswith(b"~{", self.pos):
                raise self.unexpected("literal8 (~{n}) holding the UTF8 message")
            data, binary = self.literal(binary_allowed=True)
            if not self.data.startswith(b")", self.pos):
                raise self.unexpected("')' after the UTF8 message")
            self.pos += 1
            utf8 = True
        elif self.data.startswith((b"{", b"~{"), self.pos):
            data, binary = self.literal(binary_allowed=True)  # RFC 3516 section 4.4: literal8
        elif self.data[self.pos:self.pos + 8].upper() == b"CATENATE":
            self.pos += 8
            return AppendMessage(b"", flags, internal_date, catenate=self.catenate_parts())
        else:
            raise self.unexpected("message literal ({n})")
        return AppendMessage(data, flags, internal_date, binary, utf8)

    def catenate_parts(self) -> tuple[bytes | str, ...]:
        """RFC 4469 section 5, after "CATENATE": SP "(" cat-part *(SP cat-part) ")";
        cat-part = text-literal / url; text-literal = "TEXT" SP literal; url = "URL" SP astring.
        A literal8 is taken for TEXT too (RFC 4469 section 5 with BINARY)."""
        self.sp("CATENATE parts")
        self.open_paren("the CATENATE parts")
        parts: list[bytes | str] = []
        while True:
            kind = self.word("CATENATE part (TEXT or URL)")
            self.sp(f"the {kind[:30]} part")
            if kind == "TEXT":
                if not self.data.startswith((b"{", b"~{"), self.pos):
                    raise self.unexpected("literal ({n}) of a TEXT part")
                parts.append(self.literal(binary_allowed=True)[0])
            elif kind == "URL":
                parts.append(self.text(self.astring("URL"), "URL"))
            else:
                raise self.error(f"unknown CATENATE part {kind[:30]} (TEXT or URL)")
            if len(parts) > MAX_CATENATE_PARTS:
                raise self.error(f"more than {MAX_CATENATE_PARTS} CATENATE parts")
            if not self.more("a CATENATE part"):
                return tuple(parts)

    def cmd_replace(self, tag: str, uid: bool) -> Replace:
        # RFC 8508 section 6: replace = "REPLACE" SP seq-number SP mailbox append-message
        #                     uid-replace = "UID" SP replace (the number a UID)
        self.sp("message number" if not uid else "UID")
        number = self.number("message number" if not uid else "UID", nonzero=True)
        self.sp("mailbox name")
        mailbox = self.mailbox()
        self.sp("message literal")
        message = self.append_message()
        self.finish()
        return Replace(tag, number, mailbox, message, uid)

    # -- RFC 9051 section 6.4: selected --

    def cmd_expunge(self, tag: str, uid: bool) -> Expunge:
        if not uid:
            self.finish()
            return Expunge(tag)
        self.sp("UID set")  # RFC 4315 section 4: uid-expunge = "UID" SP "EXPUNGE" SP sequence-set
        uids = self.sequence_set("UID set")
        self.finish()
        return Expunge(tag, uids)

    def search_return(self, *, sort: bool = False) -> tuple[frozenset[str], tuple[int, int] | None]:
        """The return options and PARTIAL's range. RFC 4731 section 3: search-return-opts = SP "RETURN" SP
        "(" [search-return-opt *(SP search-return-opt)] ")"; RFC 9394 section 3: search-return-opt =/
        "PARTIAL" SP partial-range; RFC 5267 section 5: search-return-opt =/ modifier-context /
        modifier-update (modifier-context = "CONTEXT", modifier-update = "UPDATE"). SORT (RFC 5267
        section 3) takes them all but SAVE. CONTEXT is a hint that asks for no result: alone, it is
        RETURN () (RFC 5267 4.2)."""
        self.sp("search return options")
        self.open_paren("search return options")
        if self.empty_list():
            return frozenset({"ALL"}), None  # RFC 4731 section 3.1: RETURN () means RETURN (ALL)
        options: set[str] = set()
        partial: tuple[int, int] | None = None
        while True:
            option = self.word("search return option")
            if option == "PARTIAL":
                if partial is not None:
                    raise self.error("PARTIAL given twice")
                self.sp("partial range")
                partial = self.partial_range()
            elif option in ("MIN", "MAX", "ALL", "COUNT", "UPDATE", "CONTEXT") or (option == "SAVE" and not sort):
                options.add(option)
            else:
                raise self.error(f"unknown {'sort' if sort else 'search'} return option {option[:30]}")
            if not self.more("a search return option"):
                break
        if partial is not None:
            if "ALL" in options:  # RFC 9394 section 3.1: one PARTIAL, one ALL, or neither
                raise self.error("PARTIAL and ALL cannot be used together")
            options.add("PARTIAL")
        if options == {"CONTEXT"}:
            options.add("ALL")
        return frozenset(options), partial

    def partial_range(self) -> tuple[int, int]:
        # RFC 9394 section 5: partial-range = partial-range-first / partial-range-last
        # partial-range-first = nz-number ":" nz-number; partial-range-last = MINUS nz-number ":" MINUS nz-number
        match = _PARTIAL_RANGE.match(self.data, self.pos)
        if match is None:
            raise self.unexpected("partial range (first:last, or -first:-last from the end)")
        low, high = int(match.group(2)), int(match.group(4))
        if match.group(1) != match.group(3):
            raise self.error("a partial range counts from the start or from the end, not both")
        if not 0 < low <= MAX_NUMBER or not 0 < high <= MAX_NUMBER:
            raise self.error(f"partial range positions are 1 to {MAX_NUMBER}")
        self.pos = match.end()
        return (-low, -high) if match.group(1) else (low, high)

    def charset(self) -> str:
        raw = self.astring("charset")  # charset = atom / quoted
        charset = raw.decode("ascii", "replace").upper()[:40]
        if charset in SEARCH_CHARSETS:
            return charset
        if self.at_end():
            raise self.error("missing search keys")
        if self.utf8:  # RFC 6855 section 3: no other charset once UTF-8 is on
            raise self.error(f"charset {charset} conflicts with UTF8=ACCEPT")
        raise BadCharset(self.tag, charset)

    def cmd_search(self, tag: str, uid: bool) -> Search:
        # RFC 9051 section 9: search = "SEARCH" [search-return-opts] SP search-program
        # search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
        self.sp("search keys")
        return_options: frozenset[str] | None = None
        partial: tuple[int, int] | None = None
        if self.peek_word() == "RETURN":
            self.pos += 6
            return_options, partial = self.search_return()
            self.sp("search keys")
        charset: str | None = None
        if self.peek_word() == "CHARSET":
            self.pos += 7
            self.sp("charset")
            charset = self.charset()
            self.sp("search keys")
        query = self.search_keys()
        self.finish()
        return Search(tag, query, charset, uid, return_options, partial)

    def search_keys(self) -> SearchKey:
        keys = [self.search_key(0)]
        while self.maybe_sp():
            keys.append(self.search_key(0))
        return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))

    def search_key(self, depth: int) -> SearchKey:
        if depth > MAX_DEPTH:
            raise self.error(f"search keys nested deeper than {MAX_DEPTH} levels")
        data, pos = self.data, self.pos
        if pos < len(data):
            byte = data[pos]
            if byte == 0x28:  # "(" search-key *(SP search-key) ")"
                self.pos = pos + 1
                if self.data.startswith(b")", self.pos):
                    raise self.error("empty parentheses where a search key should be")
                keys = [self.search_key(depth + 1)]
                while self.more("a search key"):
                    keys.append(self.search_key(depth + 1))
                return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))
            if byte in _SEQUENCE_START:
                return SearchMessages(self.sequence_set())
        name = self.word("search key")
        constant = _SEARCH_CONSTANTS.get(name)
        if constant is not None:
            return constant
        handler = _SEARCH_KEYS.get(name)
        if handler is None:
            raise self.error(f"unknown search key {name[:30]}")
        self.sp(f"argument of {name}")
        return handler(self, name, depth)

    def search_string(self, what: str) -> str:
        # Strings in the search's charset: US-ASCII is read as UTF-8 (its superset).
        raw = self.astring(what)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise self.error(f"{what} is not valid UTF-8") from None

    def key_header(self, name: str, _depth: int) -> SearchKey:
        return SearchHeader(name.lower(), self.search_string(f"{name} string"))

    def key_header_field(self, _name: str, _depth: int) -> SearchKey:
        # "HEADER" SP header-fld-name SP astring
        field = self.astring("header field name")
        if not field.isascii():
            raise self.error("a header field name is US-ASCII")
        self.sp("header search string")
        return SearchHeader(field.decode().lower(), self.search_string("header search string"))

    def key_text(self, name: str, _depth: int) -> SearchKey:
        return SearchText("body" if name == "BODY" else "text", self.search_string(f"{name} string"))

    def key_date(self, name: str, _depth: int) -> SearchKey:
        return SearchDate(*_DATE_KEYS[name], self.date())

    def key_keyword(self, name: str, _depth: int) -> SearchKey:
        return SearchFlag(self.atom("keyword").decode("ascii"), name == "KEYWORD")  # flag-keyword = atom

    def key_size(self, name: str, _depth: int) -> SearchKey:
        return SearchSize("larger" if name == "LARGER" else "smaller", self.number("size", limit=MAX_NUMBER64))

    def key_not(self, _name: str, depth: int) -> SearchKey:
        return SearchNot(self.search_key(depth + 1))

    def key_or(self, _name: str, depth: int) -> SearchKey:
        left = self.search_key(depth + 1)
        self.sp("second key of OR")
        return SearchOr(left, self.search_key(depth + 1))

    def key_uid(self, _name: str, _depth: int) -> SearchKey:
        return SearchMessages(self.sequence_set("UID set"), uid=True)

    def key_modseq(self, _name: str, _depth: int) -> SearchKey:
        # RFC 7162 section 7: search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
        # search-modseq-ext = SP entry-name SP entry-type-req; entry-name = DQUOTE "/flags/" attr-flag DQUOTE
        entry: str | None = None
        entry_type: str | None = None
        if self.data.startswith(b'"', self.pos):
            raw = self.quoted()
            if not raw.lower().startswith(b"/flags/") or not raw.isascii():
                raise self.error('MODSEQ entry name must be "/flags/<flag>"')
            entry = raw.decode()
            self.sp("MODSEQ entry type")
            entry_type = self.word("MODSEQ entry type").lower()
            if entry_type not in ("priv", "shared", "all"):
                raise self.error("MODSEQ entry type must be priv, shared or all")
            self.sp("mod-sequence")
        return SearchModSeq(self.number("mod-sequence", limit=MAX_NUMBER64), entry, entry_type)

    def key_age(self, name: str, _depth: int) -> SearchKey:
        # RFC 5032 section 4: "OLDER" SP nz-number / "YOUNGER" SP nz-number
        return SearchAge("older" if name == "OLDER" else "younger", self.number("interval", nonzero=True))

    def key_object_id(self, name: str, _depth: int) -> SearchKey:
        # RFC 8474 section 7: "EMAILID" SP objectid / "THREADID" SP objectid
        match = _OBJECT_ID.match(self.data, self.pos)
        if match is None:
            raise self.unexpected("object id")
        end = match.end()
        if end < len(self.data) and self.data[end] not in (0x20, 0x29, 0x0D, 0x0A):
            raise self.error("bad object id: 1 to 255 letters, digits, '-' and '_'")
        self.pos = end
        return SearchObjectId("emailid" if name == "EMAILID" else "threadid", match.group().decode())

    def cmd_fetch(self, tag: str, uid: bool) -> Fetch:
        # RFC 9051 section 9: fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
        #                     "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
        self.sp("sequence set")
        sequence = self.sequence_set()
        self.sp("message data items")
        rest = self.data[self.pos:]
        if len(rest) <= 512 and b"{" not in rest:
            try:
                # The cache needs a hashable key: a command parsed in place is a bytearray.
                key = rest if isinstance(rest, bytes) else bytes(rest)
                items, changed_since, vanished = _cached_fetch_tail(key, self.utf8)
            except ParseError as err:
                raise self.error(err.message) from None
        else:
            items, changed_since, vanished = self.fetch_tail()
        if vanished and not uid:
            raise self.error("VANISHED is allowed with UID FETCH only (RFC 7162 section 3.2.6)")
        return Fetch(tag, sequence, items, uid, changed_since, vanished)

    def fetch_tail(self) -> tuple[tuple[FetchItem, ...], int | None, bool]:
        """The FETCH items, modifiers and the command's end."""
        data, pos = self.data, self.pos
        if data.startswith(b"(", pos):
            self.pos = pos + 1
            items = [self.fetch_att()]
            while self.more("a FETCH item"):
                items.append(self.fetch_att())
            result = tuple(items)
        else:
            match = _FETCH_NAME.match(data, pos)
            macro = FETCH_MACROS.get(match.group().upper().decode()) if match is not None else None
            if match is not None and macro is not None:
                self.pos = match.end()
                result = macro
            else:
                result = (self.fetch_att(),)
        changed_since: int | None = None
        vanished = False
        if self.maybe_sp():
            # RFC 7162 section 7: fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
            self.open_paren("FETCH modifiers")
            while True:
                modifier = self.word("FETCH modifier")
                if modifier == "CHANGEDSINCE":
                    self.sp("mod-sequence")
                    changed_since = self.number("mod-sequence", limit=MAX_NUMBER64, nonzero=True)
                elif modifier == "VANISHED":
                    vanished = True
                else:
                    raise self.error(f"unknown FETCH modifier {modifier[:30]}")
                if not self.more("a FETCH modifier"):
                    break
            if vanished and changed_since is None:
                raise self.error("VANISHED needs CHANGEDSINCE (RFC 7162 section 3.2.6)")
        self.finish()
        return result, changed_since, vanished

    def fetch_att(self) -> FetchItem:
        match = _FETCH_NAME.match(self.data, self.pos)
        if match is None:
            raise self.unexpected("FETCH item")
        name = match.group().upper().decode()
        self.pos = match.end()
        if not self.data.startswith(b"[", self.pos):
            if name in FETCH_ATTRIBUTES:
                if name == "PREVIEW":
                    self.preview_modifiers()
                return name
            if name in ("BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"):
                raise self.error(f"{name} needs a [section]")
            raise self.error(f"unknown FETCH item {name[:30]}")
        self.pos += 1
        if name in ("BODY", "BODY.PEEK"):
            # "BODY" section [partial] / "BODY.PEEK" section [partial]
            section = self.section()
            return FetchBody(section, name == "BODY.PEEK", self.partial())
        if name in ("BINARY", "BINARY.PEEK"):
            # RFC 3516 section 6: "BINARY" [".PEEK"] section-binary [partial]
            part = self.section_binary()
            return FetchBody(Section(part), name == "BINARY.PEEK", self.partial(), binary=True)
        if name == "BINARY.SIZE":
            return FetchBinarySize(self.section_binary())
        raise self.error(f"{name[:30]} takes no [section]")

    def preview_modifiers(self) -> None:
        """RFC 8970 section 6: fetch-att =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"];
        preview-mod = "LAZY". LAZY lets the server answer NIL when a preview is costly; ours never is, so
        it changes nothing. A "(" after PREVIEW that does not hold LAZY is left to FETCH's modifiers."""
        data, pos = self.data, self.pos
        if not data.startswith(b" (", pos) or data[pos + 2:pos + 6].upper() != b"LAZY" or \
                _ATOM.match(data, pos + 6) is not None:
            return
        self.pos = pos + 2
        while True:
            modifier = self.word("PREVIEW modifier")
            if modifier != "LAZY":
                raise self.error(f"unknown PREVIEW modifier {modifier[:30]}")
            if not self.more("a PREVIEW modifier"):
                return

    def section_numbers(self, tokens: list[bytes]) -> tuple[tuple[int, ...], int]:
        """section-part = nz-number *("." nz-number): the numbers leading `tokens`, and how many."""
        part: list[int] = []
        for token in tokens:
            if not token.isdigit():
                break
            if len(token) > 10 or not 1 <= int(token) <= MAX_NUMBER:
                raise self.error("section part numbers run from 1 to 4294967295")
            part.append(int(token))
        if len(part) > MAX_DEPTH:
            raise self.error(f"section part nested deeper than {MAX_DEPTH} levels")
        return tuple(part), len(part)

    def section(self) -> Section:
        # section = "[" [section-spec] "]"; section-spec = section-msgtext / (section-part ["." section-text])
        # section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"; section-text =/ "MIME"
        data = self.data
        match = _SECTION_SPEC.match(data, self.pos)
        end = match.end() if match is not None else self.pos
        spec = data[self.pos:end]
        tokens = spec.split(b".") if spec else []
        if b"" in tokens:
            raise self.error(f"bad section {spec[:40].decode()}")
        part, count = self.section_numbers(tokens)
        text = b".".join(tokens[count:]).upper().decode()
        if text not in ("", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"):
            raise self.error(f"bad section {spec[:40].decode()}")
        if text == "MIME" and not part:
            raise self.error("MIME needs a part number (1.MIME)")
        self.pos = end
        fields: tuple[str, ...] = ()
        if text.startswith("HEADER.FIELDS"):
            self.sp("header field list")
            fields = self.header_list()
        if not data.startswith(b"]", self.pos):
            raise self.unexpected("']' closing the section")
        self.pos += 1
        return Section(part, text, fields)

    def section_binary(self) -> tuple[int, ...]:
        # RFC 3516 section 6: section-binary = "[" [section-part] "]"
        data = self.data
        match = _SECTION_SPEC.match(data, self.pos)
        end = match.end() if match is not None else self.pos
        spec = data[self.pos:end]
        tokens = spec.split(b".") if spec else []
        part, count = self.section_numbers(tokens)
        if count != len(tokens) or not data.startswith(b"]", end):
            raise self.error(f"bad BINARY section {spec[:40].decode()} (part numbers only)")
        self.pos = end + 1
        return part

    def header_list(self) -> tuple[str, ...]:
        # header-list = "(" header-fld-name *(SP header-fld-name) ")"; header-fld-name = astring
        self.open_paren("the header field list")
        names: list[str] = []
        while True:
            raw = self.astring("header field name")
            if not raw or not raw.isascii():
                raise self.error("a header field name is US-ASCII")
            names.append(raw.decode())
            if not self.more("a header field name"):
                return tuple(names)

    def partial(self) -> tuple[int, int] | None:
        # partial = "<" number64 "." nz-number64 ">"
        if not self.data.startswith(b"<", self.pos):
            return None
        match = _PARTIAL.match(self.data, self.pos)
        if match is None:
            raise self.error("bad partial: expected <origin.length>")
        origin, length = int(match.group(1)), int(match.group(2))
        if origin > MAX_NUMBER64 or not 1 <= length <= MAX_NUMBER64:
            raise self.error("partial origin or length out of range")
        self.pos = match.end()
        return origin, length

    def cmd_store(self, tag: str, uid: bool) -> Store:
        # RFC 9051 section 9: store = "STORE" SP sequence-set SP store-att-flags
        # RFC 7162 section 7: store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"
        self.sp("sequence set")
        sequence = self.sequence_set()
        self.sp("flags operation")
        unchanged_since: int | None = None
        if self.data.startswith(b"(", self.pos):
            self.pos += 1
            while True:
                modifier = self.word("STORE modifier")
                if modifier != "UNCHANGEDSINCE":
                    raise self.error(f"unknown STORE modifier {modifier[:30]}")
                self.sp("mod-sequence")
                unchanged_since = self.number("mod-sequence", limit=MAX_NUMBER64)  # mod-sequence-valzer
                if not self.more("a STORE modifier"):
                    break
            self.sp("flags operation")
        # store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
        match = _STORE_ITEM.match(self.data, self.pos)
        if match is None:
            if self.at_end():
                raise self.error("missing flags operation")
            raise self.error("expected FLAGS, +FLAGS or -FLAGS (with .SILENT or not)")
        sign, silent = match.groups()
        self.pos = match.end()
        self.sp("flags")
        if self.data.startswith(b"(", self.pos):
            flags = self.flag_list()
        else:
            found = [self.flag()]
            while self.maybe_sp():
                found.append(self.flag())
            flags = tuple(found)
        self.finish()
        operation: StoreOperation = "add" if sign == b"+" else "remove" if sign == b"-" else "replace"
        return Store(tag, sequence, operation, flags, bool(silent), uid, unchanged_since)

    def copy_arguments(self) -> tuple[SequenceSet, str]:
        self.sp("sequence set")
        sequence = self.sequence_set()
        self.sp("mailbox name")
        mailbox = self.mailbox()
        self.finish()
        return sequence, mailbox

    def cmd_copy(self, tag: str, uid: bool) -> Copy:
        sequence, mailbox = self.copy_arguments()
        return Copy(tag, sequence, mailbox, uid)

    def cmd_move(self, tag: str, uid: bool) -> Move:
        sequence, mailbox = self.copy_arguments()  # RFC 6851 section 3.1: same arguments as COPY
        return Move(tag, sequence, mailbox, uid)

    def cmd_sort(self, tag: str, uid: bool) -> Sort:
        # RFC 5256 section 5: sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
        # sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"; sort-criterion = ["REVERSE" SP] sort-key
        # RFC 5267 section 5: sort =/ ["UID" SP] "SORT" search-return-opts SP sort-criteria SP search-criteria
        self.sp("sort criteria")
        return_options: frozenset[str] | None = None
        partial: tuple[int, int] | None = None
        if self.peek_word() == "RETURN":
            self.pos += 6
            return_options, partial = self.search_return(sort=True)
            self.sp("sort criteria")
        self.open_paren("the sort criteria")
        criteria: list[SortCriterion] = []
        while True:
            key = self.word("sort key")
            reverse = key == "REVERSE"
            if reverse:
                self.sp("sort key")
                key = self.word("sort key")
            if key not in SORT_KEYS:
                raise self.error(f"unknown sort key {key[:30]}")
            criteria.append(SortCriterion(key, reverse))
            if not self.more("a sort key"):
                break
        self.sp("charset")  # search-criteria = charset 1*(SP search-key)
        charset = self.charset()
        self.sp("search keys")
        query = self.search_keys()
        self.finish()
        return Sort(tag, tuple(criteria), charset, query, uid, return_options, partial)

    def cmd_thread(self, tag: str, uid: bool) -> Thread:
        # RFC 5256 section 5: thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
        self.sp("threading algorithm")
        algorithm = self.word("threading algorithm")
        if algorithm not in THREAD_ALGORITHMS:
            raise self.error(f"unknown threading algorithm {algorithm[:30]}")
        self.sp("charset")
        charset = self.charset()
        self.sp("search keys")
        query = self.search_keys()
        self.finish()
        return Thread(tag, algorithm, charset, query, uid)

    # -- extensions without a mailbox selected --

    def cmd_id(self, tag: str, _uid: bool) -> Id:
        # RFC 2971 section 4: id ::= "ID" SPACE id_params_list; id_params_list ::= "(" #(string SPACE nstring) ")" / nil
        self.sp("ID parameters")
        if self.peek_word() == "NIL":
            self.pos += 3
            self.finish()
            return Id(tag, None)
        self.open_paren("ID parameters")
        pairs: list[tuple[str, str | None]] = []
        if not self.empty_list():
            while True:
                if len(pairs) >= MAX_ID_PAIRS:
                    raise self.error(f"more than {MAX_ID_PAIRS} ID field-value pairs (RFC 2971 section 3.3)")
                field = self.astring("ID field").decode(errors="replace")
                self.sp("ID value")
                value = self.nstring_value("ID value")
                pairs.append((field, None if value is None else value.decode(errors="replace")))
                if not self.more("an ID value"):
                    break
        self.finish()
        return Id(tag, tuple(pairs))

    def cmd_getquota(self, tag: str, _uid: bool) -> GetQuota:
        self.sp("quota root")
        root = self.text(self.astring("quota root"), "quota root")  # quota-root-name = astring
        self.finish()
        return GetQuota(tag, root)

    def cmd_getquotaroot(self, tag: str, _uid: bool) -> GetQuotaRoot:
        return GetQuotaRoot(tag, self.one_mailbox())

    def cmd_setquota(self, tag: str, _uid: bool) -> SetQuota:
        # RFC 9208 section 7: setquota = "SETQUOTA" SP quota-root-name SP setquota-list
        # setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"; resource-name SP resource-limit
        self.sp("quota root")
        root = self.text(self.astring("quota root"), "quota root")
        self.sp("quota limits")
        self.open_paren("the quota limits")
        limits: list[tuple[str, int]] = []
        if not self.empty_list():
            while True:
                resource = self.word("quota resource name")
                self.sp("quota limit")
                limits.append((resource, self.number("quota limit", limit=MAX_NUMBER64)))
                if not self.more("a quota limit"):
                    break
        self.finish()
        return SetQuota(tag, root, tuple(limits))

    def acl_mailbox_identifier(self) -> tuple[str, str]:
        self.sp("mailbox name")
        mailbox = self.mailbox()
        self.sp("identifier")
        identifier = self.text(self.astring("identifier"), "identifier")  # identifier = astring
        return mailbox, identifier

    def cmd_getacl(self, tag: str, _uid: bool) -> GetAcl:
        return GetAcl(tag, self.one_mailbox())

    def cmd_myrights(self, tag: str, _uid: bool) -> MyRights:
        return MyRights(tag, self.one_mailbox())

    def cmd_setacl(self, tag: str, _uid: bool) -> SetAcl:
        # RFC 4314 section 7: setacl = "SETACL" SP mailbox SP identifier SP mod-rights
        # mod-rights = astring ; +rights to add, -rights to remove, rights to replace
        mailbox, identifier = self.acl_mailbox_identifier()
        self.sp("rights")
        rights = self.astring("rights").decode("ascii", "replace")
        if not _RIGHTS.fullmatch(rights):
            raise self.error("rights are lower-case letters and digits (RFC 4314 section 2)")
        self.finish()
        operation: StoreOperation = "add" if rights.startswith("+") else (
            "remove" if rights.startswith("-") else "replace")
        return SetAcl(tag, mailbox, identifier, operation, rights.lstrip("+-"))

    def cmd_deleteacl(self, tag: str, _uid: bool) -> DeleteAcl:
        mailbox, identifier = self.acl_mailbox_identifier()
        self.finish()
        return DeleteAcl(tag, mailbox, identifier)

    def cmd_listrights(self, tag: str, _uid: bool) -> ListRights:
        mailbox, identifier = self.acl_mailbox_identifier()
        self.finish()
        return ListRights(tag, mailbox, identifier)

    # -- RFC 5464: METADATA --

    def metadata_mailbox(self) -> str:
        """A mailbox name, or "" for the server (RFC 5464 4.2, 4.3)."""
        raw = self.astring("mailbox name")
        return "" if raw == b"" else self.mailbox_name(raw, "mailbox name")

    def metadata_entry(self, *, settable: bool) -> str:
        """entry = astring (RFC 5464 section 5), checked against section 3.2's rules."""
        name = self.text(self.astring("entry name"), "entry name")
        why = _check_entry_name(name, settable=settable)
        if why is not None:
            raise self.error(why)
        return name

    def metadata_options(self, depth: int, maxsize: int | None) -> tuple[int, int | None]:
        """getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")", at the "(":
        MAXSIZE number, DEPTH ("0" / "1" / "infinity")."""
        self.open_paren("GETMETADATA options")
        while True:
            option = self.word("GETMETADATA option")
            self.sp(f"the value of {option[:30]}")
            if option == "MAXSIZE":
                maxsize = self.number("MAXSIZE")
            elif option == "DEPTH":
                value = self.word("DEPTH")
                if value not in ("0", "1", "INFINITY"):
                    raise self.error("DEPTH is 0, 1 or infinity")
                depth = -1 if value == "INFINITY" else int(value)
            else:
                raise self.error(f"unknown GETMETADATA option {option[:30]}")
            if not self.more("a GETMETADATA option"):
                return depth, maxsize

    def cmd_getmetadata(self, tag: str, _uid: bool) -> GetMetadata:
        # getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries (RFC 5464 section 5);
        # the RFC's examples put the options after the mailbox, and clients follow both: both are read.
        self.sp("mailbox name")
        depth: int = 0
        maxsize: int | None = None
        if self.data.startswith(b"(", self.pos):
            depth, maxsize = self.metadata_options(depth, maxsize)
            self.sp("mailbox name")
        mailbox = self.metadata_mailbox()
        self.sp("entry names")
        if self.data.startswith(b"(", self.pos) and self.data[self.pos + 1:self.pos + 2] not in (b"/", b'"', b"{"):
            depth, maxsize = self.metadata_options(depth, maxsize)
            self.sp("entry names")
        entries: list[str] = []
        if self.data.startswith(b"(", self.pos):
            self.pos += 1
            while True:
                entries.append(self.metadata_entry(settable=False))
                if not self.more("an entry name"):
                    break
        else:
            entries.append(self.metadata_entry(settable=False))
        self.finish()
        return GetMetadata(tag, mailbox, tuple(entries), cast(typing.Literal[0, 1, -1], depth), maxsize)

    def cmd_setmetadata(self, tag: str, _uid: bool) -> SetMetadata:
        # setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")"
        # entry-value = entry SP value; value = nstring / literal8 (RFC 5464 section 5)
        self.sp("mailbox name")
        mailbox = self.metadata_mailbox()
        self.sp("entry values")
        self.open_paren("the entry values")
        pairs: list[tuple[str, bytes | None]] = []
        while True:
            entry = self.metadata_entry(settable=True)
            self.sp("entry value")
            value = self.literal(binary_allowed=True)[0] if self.data.startswith(b"~{", self.pos) else \
                self.nstring_value("entry value")
            pairs.append((entry, value))
            if not self.more("an entry value"):
                break
        self.finish()
        return SetMetadata(tag, mailbox, tuple(pairs))

    # -- RFC 4467: URLAUTH --

    def url(self, what: str) -> str:
        """url-rump / url-full = astring, holding a URL (US-ASCII: RFC 5092 percent-encodes the rest)."""
        raw = self.astring(what)
        if not raw or not raw.isascii():
            raise self.error(f"{what} is not a URL (US-ASCII, percent-encoded)")
        return raw.decode("ascii")

    def mechanism(self) -> str:
        """mechanism = "INTERNAL" / 1*(ALPHA / DIGIT / "-" / ".")"""
        match = _MECHANISM.match(self.data, self.pos)
        if match is None:
            raise self.unexpected("URLAUTH mechanism")
        self.pos = match.end()
        return match.group().decode("ascii").upper()

    def cmd_genurlauth(self, tag: str, _uid: bool) -> GenUrlAuth:
        # genurlauth = "GENURLAUTH" 1*(SP url-rump SP mechanism)
        pairs: list[tuple[str, str]] = []
        while True:
            self.sp("URL")
            url = self.url("URL")
            self.sp("URLAUTH mechanism")
            pairs.append((url, self.mechanism()))
            if self.at_end():
                break
            if len(pairs) >= MAX_URLS:
                raise self.error(f"more than {MAX_URLS} URLs")
        self.finish()
        return GenUrlAuth(tag, tuple(pairs))

    def cmd_resetkey(self, tag: str, _uid: bool) -> ResetKey:
        # resetkey = "RESETKEY" [SP mailbox *(SP mechanism)]
        if self.at_end():
            self.finish()
            return ResetKey(tag)
        self.sp("mailbox name")
        mailbox = self.mailbox()
        mechanisms: list[str] = []
        while not self.at_end() and len(mechanisms) < MAX_URLS:
            self.sp("URLAUTH mechanism")
            mechanisms.append(self.mechanism())
        self.finish()
        return ResetKey(tag, mailbox, tuple(mechanisms))

    def cmd_urlfetch(self, tag: str, _uid: bool) -> UrlFetch:
        # urlfetch = "URLFETCH" 1*(SP url-full)
        urls: list[str] = []
        while True:
            self.sp("URL")
            urls.append(self.url("URL"))
            if self.at_end():
                break
            if len(urls) >= MAX_URLS:
                raise self.error(f"more than {MAX_URLS} URLs")
        self.finish()
        return UrlFetch(tag, tuple(urls))

    def cmd_compress(self, tag: str, _uid: bool) -> Compress:
        # RFC 4978 section 4: compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE"
        self.sp("compression algorithm")
        algorithm = self.word("compression algorithm")
        if algorithm != "DEFLATE":
            raise self.error(f"unknown compression algorithm {algorithm[:30]} (only DEFLATE)")
        self.finish()
        return Compress(tag, algorithm)

    def cmd_cancelupdate(self, tag: str, _uid: bool) -> CancelUpdate:
        # RFC 5267 section 5: command-select =/ "CANCELUPDATE" 1*(SP quoted)
        tags: list[str] = []
        written = 0
        while True:
            self.sp("the tag of a searching command")
            if not self.data.startswith(b'"', self.pos):
                raise self.unexpected("a quoted tag")
            value = self.quoted().decode("utf-8", "replace")
            if not value:
                raise self.error("an empty tag names no searching command")
            written += 1
            if written > MAX_CANCELLED_TAGS:
                raise self.error(f"more than {MAX_CANCELLED_TAGS} tags")
            if value not in tags:
                tags.append(value)
            if self.at_end():
                break
        self.finish()
        return CancelUpdate(tag, tuple(tags))

    # -- RFC 5465: NOTIFY --

    def cmd_notify(self, tag: str, _uid: bool) -> Notify:
        # notify          = "NOTIFY" SP (notify-set / notify-none)
        # notify-set      = "SET" [status-indicator] SP event-groups
        # status-indicator = SP "STATUS"
        # notify-none     = "NONE"
        # event-groups    = event-group *(SP event-group)
        self.sp("SET or NONE")
        verb = self.word("SET or NONE")
        if verb == "NONE":
            self.finish()
            return Notify(tag, None)
        if verb != "SET":
            raise self.error(f"expected SET or NONE after NOTIFY, found {verb[:30]}")
        self.sp("event group")
        status = False
        if self.peek_word() == "STATUS":
            self.atom("STATUS")
            status = True
            self.sp("event group")
        groups = [self.notify_event_group()]
        while self.maybe_sp():
            if len(groups) >= MAX_NOTIFY_GROUPS:
                raise self.error(f"more than {MAX_NOTIFY_GROUPS} event groups")
            groups.append(self.notify_event_group())
        self.finish()
        if sum(g.kind in ("SELECTED", "SELECTED-DELAYED") for g in groups) > 1:
            raise self.error("SELECTED or SELECTED-DELAYED may be named once (RFC 5465 section 8)")
        return Notify(tag, tuple(groups), status)

    def notify_event_group(self) -> NotifyEventGroup:
        # event-group = "(" filter-mailboxes SP events ")"
        # filter-mailboxes = filter-mailboxes-selected / filter-mailboxes-other
        # filter-mailboxes-selected = "selected" / "selected-delayed"
        # filter-mailboxes-other = "inboxes" / "personal" / "subscribed" /
        #                          ( "subtree" SP one-or-more-mailbox ) / ( "mailboxes" SP one-or-more-mailbox )
        self.open_paren("an event group")
        kind = self.word("mailbox filter")
        mailboxes: tuple[str, ...] = ()
        if kind in ("SUBTREE", "MAILBOXES"):
            self.sp("mailboxes")
            mailboxes = self.one_or_more_mailbox()
        elif kind not in ("SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED"):
            raise self.error(f"unknown mailbox filter {kind[:30]}")
        self.sp("events")
        events, fetch = self.notify_events(kind)
        if not self.data.startswith(b")", self.pos):
            raise self.unexpected("')' ending the event group")
        self.pos += 1
        return NotifyEventGroup(cast(NotifyFilterKind, kind), events, mailboxes, fetch)

    def one_or_more_mailbox(self) -> tuple[str, ...]:
        # one-or-more-mailbox = mailbox / many-mailboxes
        # many-mailboxes = "(" mailbox *(SP mailbox) ")"
        if not self.data.startswith(b"(", self.pos):
            return (self.mailbox(),)
        self.pos += 1
        found = [self.mailbox()]
        while self.more("a mailbox name"):
            if len(found) >= MAX_NOTIFY_GROUPS:
                raise self.error(f"more than {MAX_NOTIFY_GROUPS} mailboxes in an event group")
            found.append(self.mailbox())
        return tuple(found)

    def notify_events(self, kind: str) -> tuple[tuple[str, ...], tuple[FetchItem, ...]]:
        # events = ( "(" event *(SP event) ")" ) / "NONE"
        # event = message-event / mailbox-event / user-event / event-ext
        # message-event = ( "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")" ] ) / "MessageExpunge" /
        #                 "FlagChange" / "AnnotationChange"
        # mailbox-event = "MailboxName" / "SubscriptionChange" / "MailboxMetadataChange"
        # user-event = "ServerMetadataChange"
        # event-ext = atom
        if not self.data.startswith(b"(", self.pos):
            if self.word("events") != "NONE":
                raise self.error("expected '(' starting the events, or NONE")
            return (), ()
        self.pos += 1
        events: list[str] = []
        fetch: tuple[FetchItem, ...] = ()
        while True:
            word = self.atom("event").decode("ascii")
            event = NOTIFY_EVENTS.get(word.upper(), word)  # event-ext: kept as written, for BADEVENT
            if event == "MessageNew" and self.data.startswith(b" (", self.pos):
                if kind not in ("SELECTED", "SELECTED-DELAYED"):
                    raise self.error("MessageNew takes fetch attributes for SELECTED only (RFC 5465 5.2)")
                self.pos += 2
                items = [self.fetch_att()]
                while self.more("a fetch attribute"):
                    items.append(self.fetch_att())
                fetch = tuple(items)
            if event not in events:
                events.append(event)
            if len(events) > len(NOTIFY_EVENTS) + 10:
                raise self.error("too many events")
            if not self.more("an event"):
                return tuple(events), fetch


def parse_section(spec: bytes) -> Section:
    """A section-spec alone (as an IMAP URL's ";SECTION=" gives it, RFC 5092 section 3.2), e.g. b"1.2.MIME"
    or b"HEADER.FIELDS (FROM)": the FETCH grammar's. ParseError when it is not one."""
    parser = _Parser(spec + b"]", False)
    section = parser.section()
    if parser.pos != len(spec) + 1:
        raise ParseError(None, "unexpected text after the section")
    return section


def _fetch_tail(rest: bytes, utf8: bool) -> tuple[tuple[FetchItem, ...], int | None, bool]:
    parser = _Parser(rest, utf8)
    return parser.fetch_tail()


# FETCH item lists repeat endlessly (each client has a handful); results are immutable, so share them.
_cached_fetch_tail = functools.lru_cache(maxsize=1024)(_fetch_tail)

_Handler = Callable[[_Parser, str, bool], Command]
_SIMPLE_COMMANDS: Final[dict[str, Callable[[str], Command]]] = {
    "CAPABILITY": Capability, "NOOP": Noop, "LOGOUT": Logout, "STARTTLS": StartTls, "NAMESPACE": Namespace,
    "CHECK": Check, "CLOSE": Close, "UNSELECT": Unselect, "IDLE": Idle, "UNAUTHENTICATE": Unauthenticate,
}
_COMMANDS: Final[dict[str, _Handler]] = {
    "AUTHENTICATE": _Parser.cmd_authenticate, "LOGIN": _Parser.cmd_login, "ENABLE": _Parser.cmd_enable,
    "SELECT": _Parser.cmd_select, "EXAMINE": _Parser.cmd_examine, "CREATE": _Parser.cmd_create,
    "DELETE": _Parser.cmd_delete, "RENAME": _Parser.cmd_rename, "SUBSCRIBE": _Parser.cmd_subscribe,
    "UNSUBSCRIBE": _Parser.cmd_unsubscribe, "LIST": _Parser.cmd_list, "LSUB": _Parser.cmd_lsub,
    "STATUS": _Parser.cmd_status, "APPEND": _Parser.cmd_append, "EXPUNGE": _Parser.cmd_expunge,
    "SEARCH": _Parser.cmd_search, "FETCH": _Parser.cmd_fetch, "STORE": _Parser.cmd_store, "COPY": _Parser.cmd_copy,
    "MOVE": _Parser.cmd_move, "SORT": _Parser.cmd_sort, "THREAD": _Parser.cmd_thread, "ID": _Parser.cmd_id,
    "GETQUOTA": _Parser.cmd_getquota, "GETQUOTAROOT": _Parser.cmd_getquotaroot, "SETQUOTA": _Parser.cmd_setquota,
    "GETACL": _Parser.cmd_getacl, "SETACL": _Parser.cmd_setacl, "DELETEACL": _Parser.cmd_deleteacl,
    "LISTRIGHTS": _Parser.cmd_listrights, "MYRIGHTS": _Parser.cmd_myrights, "COMPRESS": _Parser.cmd_compress,
    "REPLACE": _Parser.cmd_replace, "GETMETADATA": _Parser.cmd_getmetadata, "SETMETADATA": _Parser.cmd_setmetadata,
    "GENURLAUTH": _Parser.cmd_genurlauth, "RESETKEY": _Parser.cmd_resetkey, "URLFETCH": _Parser.cmd_urlfetch,
    "NOTIFY": _Parser.cmd_notify, "CANCELUPDATE": _Parser.cmd_cancelupdate,
}
_UID_COMMANDS: Final[dict[str, _Handler]] = {
    "FETCH": _Parser.cmd_fetch, "STORE": _Parser.cmd_store, "SEARCH": _Parser.cmd_search, "COPY": _Parser.cmd_copy,
    "MOVE": _Parser.cmd_move, "EXPUNGE": _Parser.cmd_expunge, "SORT": _Parser.cmd_sort, "THREAD": _Parser.cmd_thread,
    "REPLACE": _Parser.cmd_replace,
}

_SEARCH_CONSTANTS: Final[dict[str, SearchKey]] = {
    "ALL": SearchAll(),
    "ANSWERED": SearchFlag("\\Answered"), "UNANSWERED": SearchFlag("\\Answered", False),
    "DELETED": SearchFlag("\\Deleted"), "UNDELETED": SearchFlag("\\Deleted", False),
    "DRAFT": SearchFlag("\\Draft"), "UNDRAFT": SearchFlag("\\Draft", False),
    "FLAGGED": SearchFlag("\\Flagged"), "UNFLAGGED": SearchFlag("\\Flagged", False),
    "SEEN": SearchFlag("\\Seen"), "UNSEEN": SearchFlag("\\Seen", False),
    "RECENT": SearchFlag("\\Recent"), "OLD": SearchFlag("\\Recent", False),
    "NEW": SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))),  # RFC 3501: RECENT UNSEEN
}
_DATE_KEYS: Final[dict[str, tuple[typing.Literal["internal", "sent"], typing.Literal["before", "on", "since"]]]] = {
    "BEFORE": ("internal", "before"), "ON": ("internal", "on"), "SINCE": ("internal", "since"),
    "SENTBEFORE": ("sent", "before"), "SENTON": ("sent", "on"), "SENTSINCE": ("sent", "since"),
}
_SEARCH_KEYS: Final[dict[str, Callable[[_Parser, str, int], SearchKey]]] = {
    "BCC": _Parser.key_header, "CC": _Parser.key_header, "FROM": _Parser.key_header,
    "SUBJECT": _Parser.key_header, "TO": _Parser.key_header, "HEADER": _Parser.key_header_field,
    "BODY": _Parser.key_text, "TEXT": _Parser.key_text,
    **{name: _Parser.key_date for name in _DATE_KEYS},
    "KEYWORD": _Parser.key_keyword, "UNKEYWORD": _Parser.key_keyword,
    "LARGER": _Parser.key_size, "SMALLER": _Parser.key_size,
    "NOT": _Parser.key_not, "OR": _Parser.key_or, "UID": _Parser.key_uid,
    "MODSEQ": _Parser.key_modseq,  # RFC 7162 section 3.1.5
    "OLDER": _Parser.key_age, "YOUNGER": _Parser.key_age,  # RFC 5032
    "EMAILID": _Parser.key_object_id, "THREADID": _Parser.key_object_id,  # RFC 8474 section 6
}


# Commands larger than this are parsed without a copy of the whole (see parse_command).
_PARSE_IN_PLACE = 1 << 20


def parse_command(data: bytes | bytearray, *, utf8: bool = False) -> Command:
    """One command's complete bytes (tag to final CRLF, literals verbatim) as a typed command. `utf8`
    once the client has enabled UTF8=ACCEPT (RFC 6855). Raises ParseError (BadCharset for NO [BADCHARSET],
    BadMailboxName for a mailbox name that is not modified UTF-7: a NO as well).

    `data` may be a bytearray (the session reads a command with literals into one): a small one is made
    bytes first; a message-sized one (APPEND) is parsed in place, and only its literals are copied out."""
    if isinstance(data, bytearray):
        # Only APPEND's command is larger (the session caps other commands' literals far below). A bytearray
        # answers every read the parser makes as bytes would (the property test in tests/imap/test_wire.py
        # compares the two), and literal() copies the message out as bytes.
        data = bytes(data) if len(data) <= _PARSE_IN_PLACE else cast(bytes, data)
    return _Parser(data, utf8).command()
