"""SEARCH (RFC 3501/9051 6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182, WITHIN RFC 5032, CONDSTORE's MODSEQ,
OBJECTID), SORT and THREAD (RFC 5256, SORT=DISPLAY RFC 5957).

A query is evaluated over the messages' records: flags, dates, sizes and mod-sequences come from the
rows (`full` rows, with the stored structure and search texts, are read only when the query needs them);
FROM/TO/CC/BCC/SUBJECT from the decoded texts stored beside each body; other header fields and the body
text are read from the message only when the query needs them, and only for messages the cheaper keys
have not already ruled out (AND evaluates left to right with short-circuits). Text matches are
case-insensitive substrings (casefold), on decoded text (RFC 2047 words, transfer encodings, charsets).
HEADER x "" matches the messages having field x, whatever its value (RFC 9051 6.4.4): for the stored fields
the envelope says whether the field is there, and an address field without an address is looked for in the
message. SORT SUBJECT and both THREAD algorithms compare base subjects (RFC 5256 2.1) with i;ascii-casemap
(`subject_key`), never Unicode case folding.

Limits (issue 12: 4,000 NOT BODY keys against one 1 MB message held every session of the node 4.5 s):
- A query has at most MAX_KEYS keys (operators included; the parser bounds their nesting). More is
  refused (SearchLimit, answered NO [LIMIT]) before a message is read.
- A command's work is counted in bytes: each text decoded, each text scanned by a key (equal strings
  are scanned once per text), and KEY_COST per key per message for the keys that scan no text. Past
  MAX_WORK (1 GiB: 1-3 s of a core on the machines measured) the command ends NO [LIMIT]. It admits a
  body search through about 500 MB of message text, where a full-text index is what is needed.
- The loop turns after every SLICE of that work, wherever it falls: between messages, while a large text
  part or header is decoded (in PIECE-sized pieces), inside the scan of a large text (in windows).
- HEADER and TEXT search the first MAX_FIELD_TEXT bytes of each header field.

A message whose bytes the query needs but cannot be read (BlobError: damaged or missing in the store) is
left out of the result, whatever the query (NOT BODY too), and counted (`Searcher.unreadable`); the
others are searched, and the command says how many were not (commands/searching.py).

Implementation notes:
- Matching is synchronous: a key that needs what is not ready yet (the message's bytes, its body text,
  its header fields) raises `_Need`, and one whose slice of work is spent raises `_Pause`; the searcher
  prepares what was needed (async, with turns of the loop) or lets the loop turn, and evaluates that
  message again. Evaluation has no side effects but the candidate's caches: scans finished are
  remembered (`_memo`), and an unfinished one goes on where it stopped, so every restart makes progress.
  A search over the records alone costs no await per message.
- Messages come in batches (commands/searching.py reads their records a batch at a time) and a match
  is kept as a plain tuple of what the command answers with (`hit`, `sortable`, `threadable`); a
  candidate's message, texts and structure are dropped once it is evaluated. A search over a hundred
  thousand messages so leaves the garbage collector little to walk: records and decoded structures
  kept to the end set off its full collections, each of which held every session up 0.1-0.9 s.
- SORT sorts long lists in runs merged with turns of the loop; THREAD links, prunes and orders without
  recursion (a reply chain thousands deep) and with turns of the loop, on the last MAX_REFERENCES ids
  of each References field.
- A sequence set is resolved once per search into sorted spans and looked up by bisection, so a set of
  a hundred thousand items over a hundred thousand messages stays linear-logarithmic.
"""

from __future__ import annotations

import asyncio
import binascii
import bisect
import codecs
import datetime
import email.utils
import heapq
from collections.abc import AsyncIterable, Awaitable, Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from polyport.imap import wire
from polyport.imap.fetch import charset_of, decoded, unquote_printable
from polyport.mailstore import MessageFull, MessageMeta
from polyport.mailstore import flags as fl
from polyport.mime.parse import base_subject_and_reply, decode_encoded_words
from polyport.mime.structure import Part, Structure
from polyport.store.blobs import BlobError

T = TypeVar("T")

SYSTEM_FLAGS = fl.SYSTEM  # lower-cased name -> bit
_STORED_FIELDS = frozenset({"subject", "from", "to", "cc", "bcc"})  # searched in the texts stored at delivery

MAX_KEYS = 1000  # search keys of one command, operators included
MAX_WORK = 1 << 30  # bytes decoded and scanned by one command (see the module's docstring)
SLICE = 2 << 20  # work between two turns of the loop: 1-5 ms
PIECE = 1 << 20  # bytes of one text part or header decoded at once; larger ones go piece by piece
KEY_COST = 256  # work of evaluating a key that scans no text, per message (as long as scanning 256 bytes)
SMALL_TEXT = 4096  # characters of a text scanned again rather than remembered, when a message is evaluated again
HEADER_PIECE = 64 * 1024  # bytes of header decoded at once (RFC 2047 words cost up to 0.1 us a byte)
MAX_FIELD_TEXT = 64 * 1024  # bytes of one header field that HEADER and TEXT look at


class UnsupportedSearch(Exception):
    pass


class SearchLimit(Exception):
    """The search would cost more than one command may (MAX_KEYS, MAX_WORK): NO [LIMIT]."""


class _Need(Exception):
    """Raised while matching: this key needs what is not ready yet: "body" (the text of the message's
    text parts), "header" (the whole header's text), "text" (both) or "field" (the values of header
    field `name`). The searcher reads the message, prepares it and evaluates the message again."""

    def __init__(self, what: str, name: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.name = name


class _Pause(Exception):
    """Raised while matching: a slice of work is spent; the loop turns before the message is evaluated
    again."""


class Candidate:
    """One message being searched: its record, and what has been read of it (lazily). A search makes one
    per message of the mailbox, so it is kept small."""

    __slots__ = ("_fields", "_memo", "_message", "_structure", "_text_cache", "number", "row")

    def __init__(self, number: int, row: MessageMeta) -> None:
        self.number = number
        self.row = row
        self._structure: Structure | None = None
        self._message: bytes | None = None
        self._text_cache: dict[str, str | None] | None = None
        self._memo: dict[tuple[str, str], bool | int] | None = None  # (text, string) -> found, or where to go on
        self._fields: list[tuple[bytes, bytes]] | None = None  # header fields: (lower-case name, text)

    @property
    def _texts(self) -> dict[str, str | None]:
        if self._text_cache is None:
            self._text_cache = {}
        return self._text_cache

    @property
    def full(self) -> MessageFull:
        assert isinstance(self.row, MessageFull), "this key needs full rows (search.needs_full)"
        return self.row

    @property
    def structure(self) -> Structure:
        if self._structure is None:
            self._structure = self.full.structure()
        return self._structure

    def forget(self) -> None:
        """Drop what was read and decoded for matching. Even the structure: a hundred thousand decoded
        structures are millions of objects, and every full collection of the garbage collector walks
        them all while every session waits (SORT and THREAD take what they need of each in turn)."""
        if self._text_cache is not None or self._message is not None or self._structure is not None:
            self._structure = None
            self._message = None
            self._text_cache = None
            self._memo = None
            self._fields = None

    def peek(self) -> Structure:
        """The structure, decoded again if it was dropped, and not kept."""
        return self._structure if self._structure is not None else self.full.structure()


Reader = Callable[[str, int], Awaitable[bytes]]  # (blob, size): the message's bytes
Unreadable = Callable[[int, BlobError], None]  # (uid, why): a message whose bytes could not be read


def _needs(key: wire.SearchKey) -> set[str]:
    """What a query needs beyond the rows' flags, dates and sizes: "full" (the structure and search texts),
    "header" (other header fields), "text" (bodies)."""
    if isinstance(key, wire.SearchAnd):
        return set().union(*(_needs(k) for k in key.keys)) if key.keys else set()
    if isinstance(key, wire.SearchOr):
        return _needs(key.left) | _needs(key.right)
    if isinstance(key, wire.SearchNot):
        return _needs(key.key)
    if isinstance(key, wire.SearchHeader):
        return {"full"} if key.field in ("from", "to", "cc", "bcc", "subject") else {"full", "header"}
    if isinstance(key, wire.SearchText):
        return {"full", "text"}
    if isinstance(key, wire.SearchDate) and key.field == "sent":
        return {"full"}
    return set()


def needs_full(query: wire.SearchKey) -> bool:
    """Whether matching `query` needs full rows (MessageFull) rather than MessageMeta."""
    return "full" in _needs(query)


def _walk(query: wire.SearchKey) -> Iterator[wire.SearchKey]:
    """Every key of a query, operators included, without recursion."""
    pending = [query]
    while pending:
        key = pending.pop()
        yield key
        if isinstance(key, wire.SearchAnd):
            pending.extend(key.keys)
        elif isinstance(key, wire.SearchOr):
            pending.extend((key.left, key.right))
        elif isinstance(key, wire.SearchNot):
            pending.append(key.key)


def check_keys(query: wire.SearchKey) -> None:
    """SearchLimit if the query has more keys than a command may (MAX_KEYS)."""
    count = sum(1 for _ in _walk(query))
    if count > MAX_KEYS:
        raise SearchLimit(f"the search has {count} keys; at most {MAX_KEYS} are evaluated at once")


def _day(seconds: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).date()


def _sent_day(c: Candidate) -> datetime.date | None:
    """The day of the Date header as written (RFC 3501: "disregarding time and timezone"); the stored UTC
    instant when the header's own date cannot be read."""
    if "sent_day" not in c._texts:
        day = ""
        date = c.structure.envelope.date
        parsed = email.utils.parsedate_tz(date) if date else None
        if parsed is not None:
            try:
                day = datetime.date(parsed[0], parsed[1], parsed[2]).isoformat()
            except ValueError:
                day = ""
        if not day and c.full.sent is not None:
            day = _day(c.full.sent).isoformat()
        c._texts["sent_day"] = day
    text = c._texts["sent_day"]
    return datetime.date.fromisoformat(text) if text else None


def _date_matches(day: datetime.date, relation: str, wanted: datetime.date) -> bool:
    if relation == "before":
        return day < wanted
    if relation == "on":
        return day == wanted
    return day >= wanted


def _text_parts(part: Part) -> list[Part]:
    if part.type == "multipart":
        return [leaf for child in part.parts for leaf in _text_parts(child)]
    if part.type == "message" and part.parts:
        return _text_parts(part.parts[0])
    return [part] if part.type == "text" or part.type == "message" else []


def _text_decoder(charset: str) -> codecs.IncrementalDecoder:
    """A decoder of the charset, "replace" for what it cannot read; UTF-8's, as in _part_text, for a
    charset Python does not know, one that is no text encoding ("base64") or refuses "replace" ("idna")."""
    try:
        info = codecs.lookup(charset)
        if getattr(info, "_is_text_encoding", True):
            info.incrementaldecoder("replace").decode(b"\xff\xfe\x80", True)
            return info.incrementaldecoder("replace")
    except (LookupError, UnicodeError):
        pass
    return codecs.getincrementaldecoder("utf-8")("replace")


def _part_text(message: bytes, part: Part) -> str:
    """One text part's decoded, case-folded text, at once (parts up to PIECE)."""
    try:
        data = decoded(message, part)
    except Exception:
        data = message[part.body_start:part.body_end]
    try:
        return data.decode(charset_of(part), "replace").casefold()
    except (LookupError, UnicodeError):
        return data.decode("utf-8", "replace").casefold()


def body_text(message: bytes, structure: Structure) -> str:
    """The decoded text of a message's text parts, for BODY/TEXT searches."""
    return "\n".join(_part_text(message, part) for part in _text_parts(structure.root))


def _lines(data: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """[start, end) in pieces of about PIECE bytes, each ending after a line feed where there is one, and
    otherwise not between CR and LF nor inside a quoted-printable escape."""
    while start < end:
        stop = min(end, start + PIECE)
        if stop < end:
            feed = data.rfind(b"\n", start, stop)
            if feed >= 0:
                stop = feed + 1
            else:
                for _ in range(3):
                    if data[stop - 1] in b"\r=" or data[stop - 2] == 0x3D:  # "="
                        stop -= 1
        yield start, stop
        start = stop


class _Damaged(Exception):
    """A large base64 part that does not decode: it is searched as written, as a small one is."""


_NOT_BASE64 = bytes(b for b in range(256) if not (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/=")))


class _Unbase64:
    """Base64 undone piece by piece as binascii.a2b_base64 undoes well-formed base64 at once: characters
    outside the alphabet skipped, the padding ending the data. What a2b_base64 refuses (a last group cut
    short), and "=" anywhere but in a group's padding, raise _Damaged."""

    def __init__(self) -> None:
        self.carry = b""  # the characters of a group the last piece cut (each piece starts a group)
        self.ended = False

    def __call__(self, data: bytes, final: bool = False) -> bytes:
        if self.ended:
            return b""
        clean = self.carry + data.translate(None, _NOT_BASE64)
        pad = clean.find(b"=")
        if pad >= 0:
            needed = 4 - pad % 4  # "=" characters that complete the group
            if needed > 2 or clean[pad:pad + needed] != b"=" * needed:
                raise _Damaged()
            self.ended = True  # a2b_base64 stops after the padding too
            clean = clean[:pad + needed]
        usable = len(clean) // 4 * 4
        self.carry = clean[usable:]
        if self.carry and (final or self.ended):
            if self.ended or len(self.carry) == 1:
                raise _Damaged()
            # A last group without its padding, as mail in the wild has it: completed, as FETCH's decoder
            # of the whole part does (fetch._unbase64); a group of one character is damage.
            usable, clean = len(clean) + 4 - len(self.carry), clean + b"=" * (4 - len(self.carry))
            self.carry = b""
        try:
            return binascii.a2b_base64(clean[:usable])
        except binascii.Error:
            raise _Damaged() from None


class Searcher:
    """Matches a query against the messages given in batches, keeping what the command needs of each
    match (`keep`: a tuple of numbers and strings, which the garbage collector soon stops tracking, where
    a hundred thousand records and structures kept to the end would make each of its full collections
    hold every session up for a tenth of a second or more)."""

    def __init__(self, read: Reader, *, largest_uid: int, count: int, saved: Sequence[int], now: float,
                 budget: int | None = None, unreadable: Unreadable | None = None,
                 recent: Container[int] = frozenset()) -> None:
        self.read = read
        self.recent = recent  # UIDs that are \Recent for this session (RECENT, NEW, OLD)
        self.report = unreadable
        self.unreadable = 0  # messages left out because their bytes could not be read (BlobError)
        self.largest_uid = largest_uid
        self.count = count
        self.saved = set(saved)
        self.now = now
        self._spans: dict[int, tuple[list[int], list[int]]] = {}
        self._wanted: dict[int, str] = {}  # id of a text key -> its string, case-folded
        self.budget = MAX_WORK if budget is None else budget
        self.work = 0  # bytes decoded and scanned so far (see the module's docstring)
        self.pause_at = SLICE  # the loop turns once `work` reaches this
        self.replay = 0

    # -- the work and the loop's turns --

    def spend(self, amount: int) -> None:
        self.work += amount
        if self.work > self.budget:
            raise SearchLimit(f"the search would read more than {self.budget >> 20} MiB of message text; "
                              "narrow it down (fewer keys, or a range of messages)")

    async def turn(self) -> None:
        """Let the loop turn (other sessions run), then a new slice of work: with room for the small texts
        scanned again when a message is evaluated again, so that evaluation gets further."""
        await asyncio.sleep(0)
        self.pause_at = self.work + SLICE + self.replay

    async def pace(self) -> None:
        """A turn of the loop once a slice of work is spent; SearchLimit past the budget."""
        if self.work >= self.pause_at:
            self.spend(0)
            await self.turn()

    # -- matching every message --

    async def run(self, query: wire.SearchKey, batches: AsyncIterable[Sequence[Candidate]],
                  keep: Callable[[Candidate], T]) -> list[T]:
        check_keys(query)
        keys = 0
        for key in _walk(query):
            keys += 1
            if isinstance(key, wire.SearchHeader | wire.SearchText):
                self.spend(len(key.value))
                self._wanted[id(key)] = key.value.casefold()
        per_message = KEY_COST * (keys + 1)
        self.replay = SMALL_TEXT * keys
        forget = needs_full(query)
        found: list[T] = []
        async for batch in batches:
            for c in batch:
                self.work += per_message
                if self.work >= self.pause_at:
                    await self.pace()
                while True:
                    try:
                        hit = self.matches(c, query)
                        break
                    except _Need as need:
                        try:
                            await self._prepare(c, need)
                        except BlobError as err:
                            # Damaged or missing (issue 12): left out of the result, not searched, and
                            # counted for the command to say so; the other messages are searched.
                            self.unreadable += 1
                            if self.report is not None:
                                self.report(c.row.uid, err)
                            hit = False
                            break
                    except _Pause:
                        await self.turn()
                if hit:
                    found.append(keep(c))
                if forget:
                    c.forget()  # one message's bytes and texts in memory at a time
        self.spend(0)
        return found

    def _in_set(self, key: wire.SearchMessages, value: int) -> bool:
        spans = self._spans.get(id(key))
        if spans is None:
            resolved = key.sequence.resolve(self.largest_uid if key.uid else self.count)
            spans = self._spans[id(key)] = ([low for low, _ in resolved], [high for _, high in resolved])
        lows, highs = spans
        index = bisect.bisect_right(lows, value) - 1
        return index >= 0 and value <= highs[index]

    def matches(self, c: Candidate, key: wire.SearchKey) -> bool:
        row = c.row
        if isinstance(key, wire.SearchAll):
            return True
        if isinstance(key, wire.SearchAnd):
            return all(self.matches(c, sub) for sub in key.keys)
        if isinstance(key, wire.SearchOr):
            return self.matches(c, key.left) or self.matches(c, key.right)
        if isinstance(key, wire.SearchNot):
            return not self.matches(c, key.key)
        if isinstance(key, wire.SearchFlag):
            name = key.flag.lower()
            if name == "\\recent":
                has = row.uid in self.recent  # given by the session, which alone knows what is recent to it
            elif name in SYSTEM_FLAGS:
                has = bool(row.flags & SYSTEM_FLAGS[name])
            else:
                has = name in {k.lower() for k in row.keywords.split(" ") if k}
            return has == key.present
        if isinstance(key, wire.SearchMessages):
            hit = self._in_set(key, row.uid if key.uid else c.number) if key.sequence.ranges else False
            return hit or (key.sequence.saved and row.uid in self.saved)
        if isinstance(key, wire.SearchSize):
            return row.size > key.size if key.relation == "larger" else row.size < key.size
        if isinstance(key, wire.SearchDate):
            day = _day(row.internal_date) if key.field == "internal" else _sent_day(c)
            return day is not None and _date_matches(day, key.relation, key.date)
        if isinstance(key, wire.SearchAge):
            age = self.now - row.internal_date
            return age > key.seconds if key.relation == "older" else age <= key.seconds
        if isinstance(key, wire.SearchModSeq):
            return row.modseq >= key.modseq
        if isinstance(key, wire.SearchObjectId):
            wanted = key.value
            return wanted == (f"E{row.body_id}" if key.kind == "emailid" else f"T{row.thread_id}")
        if isinstance(key, wire.SearchHeader):
            return self._header(c, key.field, self._wanted[id(key)])
        if isinstance(key, wire.SearchText):
            return self._text(c, key.where, self._wanted[id(key)])
        raise UnsupportedSearch(f"unsupported search key {type(key).__name__}")

    def _contains(self, c: Candidate, where: str, text: str, wanted: str) -> bool:
        """Whether `text` (the candidate's text called `where`) holds `wanted`: scanned once per candidate
        and string, in windows of SLICE characters with a pause between two when a slice is spent."""
        size = len(text)
        if size <= SMALL_TEXT:
            self.work += size
            return wanted in text
        memo = c._memo
        if memo is None:
            memo = c._memo = {}
        done = memo.get((where, wanted))
        if done is True or done is False:
            return done
        start = done or 0
        while True:
            if self.work >= self.pause_at:
                memo[where, wanted] = start
                raise _Pause()
            end = min(size, start + SLICE + len(wanted))
            self.spend(end - start)
            if text.find(wanted, start, end) >= 0:
                memo[where, wanted] = True
                return True
            if end >= size:
                memo[where, wanted] = False
                return False
            start = end - len(wanted) + 1

    def _header(self, c: Candidate, name: str, wanted: str) -> bool:
        present = _stored_field_present(c, name) if name in _STORED_FIELDS and not wanted else None
        if present is not None:
            return present
        if name in _STORED_FIELDS and wanted:
            row = c.full
            if name == "subject":
                text = row.subject.casefold()
            else:
                prefix = name + ":"
                text = "\0".join(line[len(prefix):].casefold()
                                 for line in row.addresses.split("\n") if line.startswith(prefix))
            return self._contains(c, name, text, wanted)
        if name == "message-id" and c.structure.message_id is not None:
            # Clients look messages up by Message-ID (mbsync, neomutt): the stored structure has it, so
            # the message is not read.
            return wanted in c.structure.message_id.casefold()
        # Other fields, and HEADER x "" for a stored field the stored texts do not show (missing, or with no
        # address in it): read from the message.
        key = "header:" + name
        texts = c._texts
        if key not in texts:
            raise _Need("field", name)
        values = texts[key]
        # HEADER x "" matches every message having the field, and only those (RFC 9051 6.4.4). Values are
        # joined by NUL, which no search string holds (the parser refuses it).
        return values is not None and self._contains(c, key, values, wanted)

    def _text(self, c: Candidate, where: str, wanted: str) -> bool:
        body = c._texts.get("body")
        if body is None:
            raise _Need(where)  # TEXT prepares the header's text with the body's: one evaluation fewer
        if self._contains(c, "body", body, wanted):
            return True
        if where == "text":
            header = c._texts.get("header")
            if header is None:
                raise _Need("header")
            return self._contains(c, "header", header, wanted)
        return False

    # -- what matching needs of a message, prepared with turns of the loop --

    async def _prepare(self, c: Candidate, need: _Need) -> None:
        if c._message is None:
            c._message = await self.read(c.full.blob, c.row.size)
        texts = c._texts
        what = need.what
        if what in ("body", "text") and "body" not in texts:
            texts["body"] = await self._body_text(c._message, c.structure)
        end = c.structure.root.body_start
        if what == "field" or (what in ("header", "text") and "header" not in texts and end > HEADER_PIECE):
            fields = c._fields
            if fields is None:
                fields = c._fields = await self._header_fields(c._message, end)
            if what == "field":
                texts["header:" + need.name] = await self._field_text(fields, need.name)
            else:
                texts["header"] = await self._header_text(fields)
        elif what in ("header", "text") and "header" not in texts:
            self.spend(end)
            texts["header"] = _header_text(c._message[:end])

    async def _body_text(self, message: bytes, structure: Structure) -> str:
        pieces = []
        for part in _text_parts(structure.root):
            if part.body_end - part.body_start <= PIECE:
                self.spend(part.body_end - part.body_start)
                pieces.append(_part_text(message, part))
            else:
                try:
                    pieces.append(await self._large_part_text(message, part, part.encoding))
                except _Damaged:
                    pieces.append(await self._large_part_text(message, part, "7bit"))
            await self.pace()
        return "\n".join(pieces)

    async def _large_part_text(self, message: bytes, part: Part, encoding: str) -> str:
        """_part_text of a part over PIECE, a piece at a time: the transfer encoding undone line by line
        (base64 carrying its last partial group over), the charset's decoder carrying split characters."""
        unbase64 = _Unbase64() if encoding == "base64" else None
        if encoding not in ("7bit", "8bit", "binary", "", "base64", "quoted-printable"):
            encoding = "7bit"  # an unknown encoding is searched as written, as in _part_text
        text = _text_decoder(charset_of(part))
        pieces = []
        for start, stop in _lines(message, part.body_start, part.body_end):
            data = message[start:stop]
            if unbase64 is not None:
                data = unbase64(data, final=stop == part.body_end)
            elif encoding == "quoted-printable":
                data = unquote_printable(data)  # a piece ends at a line end: its padding is whole
            pieces.append(text.decode(data).casefold())
            self.spend(stop - start)
            await self.pace()
        pieces.append(text.decode(b"", True).casefold())
        return "".join(pieces)

    async def _header_fields(self, message: bytes, end: int) -> list[tuple[bytes, bytes]]:
        """The header's fields in order, (lower-case name, its text with continuation lines, at most
        MAX_FIELD_TEXT bytes), read a piece at a time."""
        fields: list[tuple[bytes, bytes]] = []
        name: bytes | None = None
        text = b""
        more: list[bytes] = []  # continuation lines of the field being read
        size = 0
        cut = b""  # the start of a line longer than a piece (at most MAX_FIELD_TEXT bytes of it)
        for start, stop in _lines(message, 0, end):
            self.spend(stop - start)
            lines = message[start:stop].splitlines(keepends=True)
            if cut:
                lines[0] = (cut + lines[0])[:MAX_FIELD_TEXT]
                cut = b""
            if stop < end and not lines[-1].endswith((b"\n", b"\r")):
                cut = lines.pop()[:MAX_FIELD_TEXT]
            for line in lines:
                if line == b"\r\n" or line == b"\n":
                    break
                if line[:1] in (b" ", b"\t") and name is not None:
                    if size < MAX_FIELD_TEXT:
                        more.append(line[:MAX_FIELD_TEXT - size])
                        size += len(more[-1])
                    continue
                if name is not None:
                    fields.append((name, text + b"".join(more) if more else text))
                    more = []
                name = line.split(b":", 1)[0].strip().lower()
                text = line[:MAX_FIELD_TEXT]
                size = len(text)
            else:
                await self.pace()
                continue
            break
        if name is not None:
            fields.append((name, text + b"".join(more) if more else text))
        return fields

    async def _header_text(self, fields: list[tuple[bytes, bytes]]) -> str:
        """The whole header as searchable text (TEXT), decoded a group of whole fields at a time."""
        pieces = []
        group: list[bytes] = []
        size = 0
        for index, (_name, text) in enumerate(fields):
            group.append(text)
            size += len(text)
            if size >= HEADER_PIECE or index == len(fields) - 1:
                pieces.append(_header_text(b"".join(group)))
                self.spend(size)
                await self.pace()
                group, size = [], 0
        return "".join(pieces)

    async def _field_text(self, fields: list[tuple[bytes, bytes]], name: str) -> str | None:
        """The values of one header field, decoded and joined by NUL; None when the message has none."""
        wanted = name.encode()
        values = []
        size = len(fields)
        for field_name, text in fields:
            if field_name == wanted:
                values.append(_header_text(text.split(b":", 1)[1] if b":" in text else b""))
                size += len(text)
                if size >= HEADER_PIECE:
                    self.spend(size)
                    await self.pace()
                    size = 0
        self.spend(size)
        return "\0".join(values) if values else None


def _stored_field_present(c: Candidate, name: str) -> bool | None:
    """Whether the message has this stored field (_STORED_FIELDS), for HEADER x "", which matches exactly
    the messages having the field (RFC 9051 6.4.4): an empty stored text is also that of a message without
    it, so the envelope tells. None when it cannot: an address field with no address in it ("To:") is
    not in the envelope either, and is looked for in the message."""
    envelope = c.structure.envelope
    if name == "subject":
        return envelope.subject is not None  # None only without a Subject field; "Subject:" is ""
    if getattr(envelope, "from_" if name == "from" else name) is not None:
        return True  # a group without members, which the stored lines leave out, too
    return None


def _header_text(raw: bytes) -> str:
    """A header field's value (or a whole header) as searchable text: unfolded, RFC 2047 words decoded."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "").replace("\n", "")
    return decode_encoded_words(text).casefold()


# -- what a command keeps of each match ---------------------------------------------------------------

# Plain tuples, not named ones: the garbage collector stops tracking a tuple of numbers and strings
# (exact tuples only), so a hundred thousand of them do not lengthen its full collections.
Hit = tuple[int, int, int]  # (message number, UID, mod-sequence)


def hit(c: Candidate) -> Hit:
    """What SEARCH keeps of a match."""
    return (c.number, c.row.uid, c.row.modseq)


# -- SORT (RFC 5256, RFC 5957) --------------------------------------------------------------------------

def subject_key(base: str) -> str:
    """A base subject as i;ascii-casemap compares it (RFC 4790 9.2, RFC 5256 2.2): a-z as A-Z and every
    other character as it is. Code point order is the octet order of UTF-8, so strings compare as the
    collation says; Unicode case folding would make "straße" equal "STRASSE" and "É" equal "é"."""
    if base.isascii():
        return base.upper()
    return base.encode("utf-8", "surrogatepass").upper().decode("utf-8", "surrogatepass")  # bytes: ASCII only


def sort_key(row: MessageMeta, s: Structure, criterion: str) -> Any:
    if criterion == "ARRIVAL":
        return row.internal_date
    if criterion == "DATE":
        return s.sent if s.sent is not None else row.internal_date
    if criterion == "SIZE":
        return row.size
    if criterion == "SUBJECT":
        # The base subject stored at delivery (mime.parse.base_subject) is base_subject's: reading it costs
        # nothing where computing it again would cost a SORT of 100,000 messages a fifth more.
        return subject_key(s.base_subject)
    if criterion == "FROM":
        return s.sort_from
    if criterion == "TO":
        return s.sort_to
    if criterion == "CC":
        return s.sort_cc
    if criterion == "DISPLAYFROM":
        return s.display_from.casefold()
    if criterion == "DISPLAYTO":
        return s.display_to.casefold()
    raise UnsupportedSearch(f"unknown sort criterion {criterion}")


Sortable = tuple[int, int, tuple[Any, ...]]  # (message number, UID, a key per criterion)


def sortable(criteria: Sequence[wire.SortCriterion], searcher: Searcher) -> Callable[[Candidate], Sortable]:
    """What SORT keeps of a match: its sort keys, taken from its structure (which is not kept)."""
    names = [criterion.key for criterion in criteria]

    def keep(c: Candidate) -> Sortable:
        s = c.peek()
        searcher.work += len(c.full.structure_json)
        return (c.number, c.row.uid, tuple(sort_key(c.row, s, name) for name in names))

    return keep


SORT_RUN = 8192  # items sorted at once; longer lists are sorted in runs and merged, with turns of the loop


async def _sorted(items: list[T], key: Callable[[T], Any], searcher: Searcher, *, reverse: bool = False) -> list[T]:
    """sorted(items, key=key, reverse=reverse), stable, with turns of the loop: keys computed one by one,
    runs of SORT_RUN sorted at once, then merged (heapq.merge keeps ties in the runs' order)."""
    if len(items) <= SORT_RUN:
        searcher.work += KEY_COST * len(items)
        return sorted(items, key=key, reverse=reverse)
    keys = []
    for item in items:
        keys.append(key(item))
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    runs = []
    for start in range(0, len(items), SORT_RUN):
        run = list(range(start, min(len(items), start + SORT_RUN)))
        run.sort(key=keys.__getitem__, reverse=reverse)
        runs.append(run)
        searcher.work += KEY_COST * len(run)
        await searcher.pace()
    merged = []
    for i in heapq.merge(*runs, key=keys.__getitem__, reverse=reverse):
        merged.append(items[i])
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    return merged


async def sort(found: list[Sortable], criteria: Sequence[wire.SortCriterion], searcher: Searcher) -> list[Sortable]:
    """Stable sorts from the last criterion to the first; ties end in UID order (RFC 5256 section 3)."""
    ordered = await _sorted(found, _uid, searcher)
    for position in reversed(range(len(criteria))):
        ordered = await _sorted(ordered, _key_at(position), searcher, reverse=criteria[position].reverse)
    return ordered


def _uid(item: Sortable) -> int:
    return item[1]


def _key_at(position: int) -> Callable[[Sortable], Any]:
    return lambda item: item[2][position]


# -- THREAD (RFC 5256 section 4) -------------------------------------------------------------------------

MAX_REFERENCES = 1000  # the last ids of a References field that THREAD=REFERENCES links (the nearest decide)
STEP_COST = 64  # work of one step up a thread while linking (as long as scanning 64 bytes)


# (message number, UID, (sent date or internal date, UID), base subject as compared (subject_key),
# Message-ID, the last MAX_REFERENCES of References or else the first In-Reply-To, whether the subject says
# a reply or forward)
Threadable = tuple[int, int, tuple[int, int], str, str, tuple[str, ...], bool]
SENT: Final = 2
SUBJECT: Final = 3
MESSAGE_ID: Final = 4
REFERENCES: Final = 5
REPLY: Final = 6


def number_of(item: Threadable, uid: bool) -> int:
    return item[1] if uid else item[0]


def threadable(searcher: Searcher) -> Callable[[Candidate], Threadable]:
    """What THREAD keeps of a match, taken from its structure (which is not kept)."""

    def keep(c: Candidate) -> Threadable:
        s = c.peek()
        row = c.row
        searcher.work += len(c.full.structure_json)
        base, reply = base_subject_and_reply(s.envelope.subject or "")
        # A missing Message-ID gets one of its own (RFC 5256 4 step 1 A); a message whose real one is the
        # same is a duplicate, and gets another.
        return (c.number, row.uid, (s.sent if s.sent is not None else row.internal_date, row.uid),
                subject_key(base), s.message_id or f"<polyport-uid-{row.uid}>",
                tuple(s.references[-MAX_REFERENCES:] or s.in_reply_to[:1]), reply)

    return keep


async def thread_orderedsubject(found: list[Threadable], searcher: Searcher) -> list[list[Threadable]]:
    """ORDEREDSUBJECT: group by base subject, sort groups and members by sent date; each group is a
    thread whose first message is the parent of all the others."""
    groups: dict[str, list[Threadable]] = {}
    for item in found:
        groups.setdefault(item[SUBJECT], []).append(item)
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    threads = [await _sorted(group, _sent_of, searcher) for group in groups.values()]
    return await _sorted(threads, _first_sent, searcher)


def _sent_of(item: Threadable) -> tuple[int, int]:
    return item[SENT]


def _first_sent(group: list[Threadable]) -> tuple[int, int]:
    return group[0][SENT]


@dataclass(eq=False, slots=True)
class _Container:
    message: Threadable | None = None
    parent: _Container | None = None
    children: list[_Container] = field(default_factory=list)


async def thread_references(found: list[Threadable], searcher: Searcher) -> list[_Container]:
    """REFERENCES (RFC 5256 section 4): link messages by Message-ID/References/In-Reply-To (step 1), prune
    empty containers (4), gather roots by base subject (5), sort siblings by sent date (6). Without
    recursion (threads may be thousands deep), with turns of the loop. No link is made that would close a
    loop, so the parent pointers always form trees, and every message is in exactly one of them."""
    table: dict[str, _Container] = {}

    def container(message_id: str) -> _Container:
        found = table.get(message_id)
        if found is None:
            found = table[message_id] = _Container()
        return found

    def is_ancestor(maybe: _Container, of: _Container) -> bool:
        if not maybe.children:
            return False  # `of` is not `maybe` wherever this is asked; a leaf is no one's ancestor
        node: _Container | None = of
        steps = 0
        while node is not None and node is not maybe:
            node = node.parent
            steps += 1
        searcher.work += STEP_COST * steps
        return node is not None

    def unlink(node: _Container) -> None:
        if node.parent is not None:
            searcher.work += len(node.parent.children)
            node.parent.children.remove(node)
            node.parent = None

    for item in found:
        # Step 1 A: the message's container; a Message-ID already taken (a duplicate: the first message by
        # sequence keeps it) gets one of its own, under a key no Message-ID has.
        this = container(item[MESSAGE_ID])
        if this.message is not None:
            this = _Container()
            table[f"{item[MESSAGE_ID]}#{item[1]}"] = this
        this.message = item
        # Step 1 B: each reference the parent of the next, unless that one has a parent already or the link
        # would close a loop (the parent is the child's descendant already).
        previous: _Container | None = None
        for reference in item[REFERENCES]:
            node = container(reference)
            if (previous is not None and node.parent is None and node is not previous
                    and not is_ancestor(node, previous)):
                node.parent = previous
                previous.children.append(node)
            previous = node
            searcher.work += KEY_COST
            if searcher.work >= searcher.pause_at:
                await searcher.pace()
        # Step 1 C: the last reference is the parent (none: a root), replacing a parent that another
        # message's References presumed; never the message itself, nor a link that would close a loop.
        if previous is None:
            unlink(this)
        elif previous is not this and this.parent is not previous and not is_ancestor(this, previous):
            unlink(this)
            this.parent = previous
            previous.children.append(this)
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()

    # Steps 2 to 4: the containers without a parent are the roots; empty ones go (a root's stays to hold
    # several children together).
    roots: list[_Container] = []
    for root in [c for c in table.values() if c.parent is None]:
        roots.extend(await _prune(root, searcher))
    for root in roots:
        root.parent = None
        if root.message is None:
            # A dummy stands for its first child (step 5 B i, step 6): the earliest, as step 6 orders them.
            root.children = await _sorted(root.children, _first_date, searcher)
    top = await _gather_by_subject(await _sorted(roots, _first_date, searcher), searcher)

    # Step 6: every set of siblings by sent date, a dummy by its first child's.
    top = await _sorted(top, _first_date, searcher)
    pending = list(top)
    while pending:
        node = pending.pop()
        if len(node.children) > 1:
            node.children = await _sorted(node.children, _first_date, searcher)
        pending.extend(node.children)
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    return top


def _first_date(node: _Container) -> tuple[int, int]:
    """The sent date a container sorts by: its message's, or (a dummy) its first child's, which after step
    6 is the earliest. Only a root is a dummy after pruning, and its children have messages."""
    if node.message is not None:
        return node.message[SENT]
    return min((child.message[SENT] for child in node.children if child.message is not None), default=(0, 0))


def _thread_subject(root: _Container) -> str:
    """RFC 5256 4 step 5 B i: the base subject of a root's message, or of a dummy's first child's."""
    message = root.message if root.message is not None else root.children[0].message if root.children else None
    return message[SUBJECT] if message is not None else ""


async def _gather_by_subject(roots: list[_Container], searcher: Searcher) -> list[_Container]:
    """RFC 5256 4 step 5: roots with the same (non-empty) base subject become one thread. The subject table
    holds for each subject the root the others join: a dummy if there is one, else a message that is no
    reply or forward if there is one (the earliest; roots come in date order, so the result does not
    depend on the order of the table). Returns the roots left at the top."""
    subjects: dict[str, _Container] = {}
    for root in roots:  # 5 B
        subject = _thread_subject(root)
        if subject:
            held = subjects.get(subject)
            if held is None or (held.message is not None and (
                    root.message is None or (held.message[REPLY] and not root.message[REPLY]))):
                subjects[subject] = root
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    top = {id(root): root for root in roots}  # in order, without the roots merged into others
    for root in roots:  # 5 C
        subject = _thread_subject(root)
        held = subjects.get(subject) if subject else None
        # A root that became a child of a new dummy below is in its thread already.
        if held is not None and held is not root and root.parent is None:
            del top[id(root)]
            if held.message is None and root.message is None:  # both dummies: one holds all the children
                for child in root.children:
                    child.parent = held
                held.children.extend(root.children)
                root.children = []
            elif held.message is None or (root.message is not None and root.message[REPLY]
                                          and held.message is not None and not held.message[REPLY]):
                root.parent = held  # under a dummy, or a reply under what it replies to
                held.children.append(root)
            else:  # siblings under a new dummy, which the subject's other roots join
                dummy = _Container(children=[held, root])
                held.parent = root.parent = dummy
                del top[id(held)]
                top[id(dummy)] = dummy
                subjects[subject] = dummy
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    return list(top.values())


async def _prune(root: _Container, searcher: Searcher) -> list[_Container]:
    """RFC 5256 4 step 4: a container without a message goes; its children take its place, except at
    the root, where it stays to hold several children together. Depth first, children before parents."""
    replaced: dict[int, list[_Container]] = {}  # id of a container done -> what takes its place
    pending: list[tuple[_Container, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if not children_done:
            pending.append((node, True))
            pending.extend((child, False) for child in node.children)
            continue
        kept = [taking for child in node.children for taking in replaced.pop(id(child))]
        node.children = kept
        for child in kept:
            child.parent = node
        keep = node.message is not None or (node is root and len(kept) > 1)
        replaced[id(node)] = [node] if keep else kept
        searcher.work += KEY_COST
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    return replaced[id(root)]


def format_threads_orderedsubject(threads: list[list[int]]) -> bytes:
    out = []
    for uids in threads:
        if len(uids) == 1:
            out.append(b"(%d)" % uids[0])
        else:
            # thread-nested = 2*thread-list, no spaces between them (RFC 5256 section 5); one child is
            # simply the next member.
            children = b"".join(b"(%d)" % u for u in uids[1:]) if len(uids) > 2 else b"%d" % uids[1]
            out.append(b"(%d %s)" % (uids[0], children))
    return b"".join(out)


async def format_tree(nodes: list[_Container], uid: bool, searcher: Searcher) -> bytes:
    """The threads as RFC 5256 section 5 writes them (by UID or message number): a chain of single
    children as numbers in a row, several children each in parentheses. Without recursion."""
    out: list[bytes] = []
    pending: list[_Container | bytes] = []
    for root in reversed(nodes):
        pending.extend((b")", root, b"("))
    while pending:
        item = pending.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        numbers = []
        current = item
        while True:
            if current.message is not None:
                numbers.append(b"%d" % number_of(current.message, uid))
            if len(current.children) != 1:
                break
            current = current.children[0]
        out.append(b" ".join(numbers))
        if current.children:
            if numbers:
                out.append(b" ")
            for child in reversed(current.children):
                pending.extend((b")", child, b"("))
        searcher.work += KEY_COST * len(numbers)
        if searcher.work >= searcher.pause_at:
            await searcher.pace()
    return b"".join(out)
