"""SEARCH (RFC 3501/9051 6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182, WITHIN RFC 5032, CONDSTORE's MODSEQ,
OBJECTID), SORT and THREAD (RFC 5256, SORT=DISPLAY RFC 5957).

A query is evaluated over the messages' records: flags, dates, sizes and mod-sequences come from the
rows (`full` rows, with the stored structure and search texts, are read only when the query needs them);
FROM/TO/CC/BCC/SUBJECT from the decoded texts stored beside each body; other header fields and the body
text are read from the message only when the query needs them, and only for messages the cheaper keys
have not already ruled out (AND evaluates left to right with short-circuits). Text matches are
case-insensitive substrings (casefold), on decoded text (RFC 2047 words, transfer encodings, charsets).

Implementation notes:
- Matching is synchronous: a key that needs the message's bytes raises `_NeedMessage` when they are not
  read yet; the searcher reads them and evaluates that message again (evaluation has no side effects).
  A search over the records alone costs no await per message.
- A sequence set is resolved once per search into sorted spans and looked up by bisection, so a set of
  a hundred thousand items over a hundred thousand messages stays linear-logarithmic.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime
import email.utils
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from polyport.imap import wire
from polyport.imap.fetch import _header_lines, decoded
from polyport.mailstore import MessageFull, MessageMeta
from polyport.mailstore import flags as fl
from polyport.mime.parse import decode_encoded_words
from polyport.mime.structure import Part, Structure

SYSTEM_FLAGS = fl.SYSTEM  # lower-cased name -> bit


# Messages matched between two turns of the event loop.
YIELD_EVERY = 2000


class UnsupportedSearch(Exception):
    pass


class _NeedMessage(Exception):
    """Raised while matching: this key needs the message's bytes, which are not read yet."""


class Candidate:
    """One message being searched: its record, and what has been read of it (lazily). A search makes one
    per message of the mailbox, so it is kept small."""

    __slots__ = ("_message", "_structure", "_text_cache", "number", "row")

    def __init__(self, number: int, row: MessageMeta) -> None:
        self.number = number
        self.row = row
        self._structure: Structure | None = None
        self._message: bytes | None = None
        self._text_cache: dict[str, str] | None = None

    @property
    def _texts(self) -> dict[str, str]:
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

    @property
    def message(self) -> bytes:
        if self._message is None:
            raise _NeedMessage()
        return self._message


Reader = Callable[[str, int], Awaitable[bytes]]  # (blob, size): the message's bytes


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


def _charset_of(part: Part) -> str:
    for param in part.params:
        if param.name.lower() == "charset":
            return param.value
    return "utf-8"


def body_text(message: bytes, structure: Structure) -> str:
    """The decoded text of a message's text parts, for BODY/TEXT searches."""
    pieces: list[str] = []
    for part in _text_parts(structure.root):
        try:
            data = decoded(message, part)
        except Exception:
            data = message[part.body_start:part.body_end]
        try:
            pieces.append(data.decode(_charset_of(part), "replace"))
        except LookupError:
            pieces.append(data.decode("utf-8", "replace"))
    return "\n".join(pieces).casefold()


def _header_text(raw: bytes) -> str:
    """A header field's value (or a whole header) as searchable text: unfolded, RFC 2047 words decoded."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "").replace("\n", "")
    return decode_encoded_words(text).casefold()


class Searcher:
    def __init__(self, rows: Sequence[tuple[int, MessageMeta]], read: Reader, *, largest_uid: int,
                 count: int, saved: Sequence[int], now: float) -> None:
        self.candidates = [Candidate(number, row) for number, row in rows]
        self.read = read
        self.largest_uid = largest_uid
        self.count = count
        self.saved = set(saved)
        self.now = now
        self._spans: dict[int, tuple[list[int], list[int]]] = {}

    async def run(self, query: wire.SearchKey) -> list[Candidate]:
        found: list[Candidate] = []
        for position, c in enumerate(self.candidates):
            if position % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # a search of a large mailbox must not hold every other session up
            while True:
                try:
                    hit = self.matches(c, query)
                    break
                except _NeedMessage:
                    c._message = await self.read(c.full.blob, c.row.size)
            if hit:
                found.append(c)
            if c._message is not None:
                c._message = None  # keep one message in memory at a time; its decoded texts stay
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
                has = False  # Polyport keeps no \Recent (RFC 9051 dropped it)
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
            return self._header(c, key.field, key.value)
        if isinstance(key, wire.SearchText):
            return self._text(c, key.where, key.value)
        raise UnsupportedSearch(f"unsupported search key {type(key).__name__}")

    def _header(self, c: Candidate, name: str, value: str) -> bool:
        wanted = value.casefold()
        row = c.full
        if name == "subject":
            return wanted in row.subject.casefold()
        if name in ("from", "to", "cc", "bcc"):
            prefix = name + ":"
            return any(wanted in line[len(prefix):].casefold()
                       for line in row.addresses.split("\n") if line.startswith(prefix))
        if name == "message-id" and c.structure.message_id is not None:
            # Clients look messages up by Message-ID (mbsync, neomutt): the stored structure has it, so
            # the message is not read.
            return wanted in c.structure.message_id.casefold()
        key = "header:" + name
        if key not in c._texts:
            header = c.message[:c.structure.root.body_start]
            values = [text.split(b":", 1)[1] if b":" in text else b""
                      for field_name, text in _header_lines(header) if field_name == name.encode()]
            c._texts[key] = "\0".join(_header_text(v) for v in values)
            c._texts[key + ":count"] = str(len(values))
        # HEADER x "" matches every message having the field, and only those (RFC 9051 6.4.4).
        if c._texts[key + ":count"] == "0":
            return False
        return any(wanted in text for text in c._texts[key].split("\0"))

    def _text(self, c: Candidate, where: str, value: str) -> bool:
        wanted = value.casefold()
        if "body" not in c._texts:
            c._texts["body"] = body_text(c.message, c.structure)
        if wanted in c._texts["body"]:
            return True
        if where == "text":
            if "header" not in c._texts:
                c._texts["header"] = _header_text(c.message[:c.structure.root.body_start])
            return wanted in c._texts["header"]
        return False


# -- SORT (RFC 5256, RFC 5957) --------------------------------------------------------------------------

def sort_key(c: Candidate, criterion: str) -> Any:
    s = c.structure
    row = c.row
    if criterion == "ARRIVAL":
        return row.internal_date
    if criterion == "DATE":
        return s.sent if s.sent is not None else row.internal_date
    if criterion == "SIZE":
        return row.size
    if criterion == "SUBJECT":
        return s.base_subject.casefold()
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


def sort(candidates: list[Candidate], criteria: Sequence[wire.SortCriterion]) -> list[Candidate]:
    """Stable sorts from the last criterion to the first; ties end in UID order (RFC 5256 section 3)."""
    ordered = sorted(candidates, key=lambda c: c.row.uid)
    for criterion in reversed(criteria):
        name = criterion.key
        ordered.sort(key=lambda c: sort_key(c, name), reverse=criterion.reverse)
    return ordered


# -- THREAD (RFC 5256 section 4) -------------------------------------------------------------------------

def thread_orderedsubject(candidates: list[Candidate]) -> list[list[int]]:
    """ORDEREDSUBJECT: group by base subject, sort groups and members by sent date; each group is a
    thread whose first message is the parent of all the others."""
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.structure.base_subject.casefold(), []).append(c)

    def date(c: Candidate) -> tuple[int, int]:
        s = c.structure
        return (s.sent if s.sent is not None else c.row.internal_date, c.row.uid)

    threads = [sorted(group, key=date) for group in groups.values()]
    threads.sort(key=lambda group: date(group[0]))
    return [[c.row.uid for c in group] for group in threads]


@dataclass
class _Container:
    message: Candidate | None = None
    parent: _Container | None = None
    children: list[_Container] = field(default_factory=list)


def thread_references(candidates: list[Candidate]) -> list[_Container]:
    """REFERENCES (RFC 5256 section 4, the JWZ algorithm): link messages by Message-ID/References/
    In-Reply-To, prune empty containers, group roots by base subject, sort by sent date."""
    table: dict[str, _Container] = {}

    def container(message_id: str) -> _Container:
        found = table.get(message_id)
        if found is None:
            found = table[message_id] = _Container()
        return found

    def is_ancestor(maybe: _Container, of: _Container) -> bool:
        node: _Container | None = of
        while node is not None:
            if node is maybe:
                return True
            node = node.parent
        return False

    for c in candidates:
        s = c.structure
        own_id = s.message_id or f"<polyport-uid-{c.row.uid}>"
        this = container(own_id)
        if this.message is not None:  # a duplicate Message-ID: give it its own container
            this = _Container()
            table[f"{own_id}#{c.row.uid}"] = this
        this.message = c
        references = list(s.references) or list(s.in_reply_to[:1])
        previous: _Container | None = None
        for reference in references:
            node = container(reference)
            if (previous is not None and node.parent is None and node is not previous
                    and not is_ancestor(node, previous)):
                node.parent = previous
                previous.children.append(node)
            previous = node
        if previous is not None and previous is not this and not is_ancestor(this, previous):
            if this.parent is not None:
                this.parent.children.remove(this)
            this.parent = previous
            previous.children.append(this)

    roots = [c for c in table.values() if c.parent is None]

    def prune(node: _Container, is_root: bool) -> list[_Container]:
        """RFC 5256 4 step 4: a container without a message goes; its children take its place, except
        at the root, where it stays to hold several children together."""
        kept: list[_Container] = []
        for child in node.children:
            kept.extend(prune(child, False))
        node.children = kept
        for child in kept:
            child.parent = node
        if node.message is None and (not is_root or len(kept) <= 1):
            return kept
        return [node]

    pruned: list[_Container] = []
    for root in roots:
        pruned.extend(prune(root, True))
    for root in pruned:
        root.parent = None

    def first_date(node: _Container) -> tuple[int, int]:
        if node.message is not None:
            s = node.message.structure
            return (s.sent if s.sent is not None else node.message.row.internal_date, node.message.row.uid)
        return min((first_date(child) for child in node.children), default=(0, 0))

    # Group roots by base subject (RFC 5256 4 step 5), the earliest keeping its place.
    by_subject: dict[str, _Container] = {}
    grouped: list[_Container] = []
    for root in sorted(pruned, key=first_date):
        probe = root.message or (root.children[0].message if root.children else None)
        subject = probe.structure.base_subject.casefold() if probe is not None else ""
        holder = by_subject.get(subject) if subject else None
        if holder is None:
            if subject:
                by_subject[subject] = root
            grouped.append(root)
        else:
            holder.children.append(root)
            root.parent = holder

    def order(node: _Container) -> None:
        node.children.sort(key=first_date)
        for child in node.children:
            order(child)

    for root in grouped:
        order(root)
    return grouped


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


def format_tree(nodes: list[_Container], number: Callable[[Candidate], int]) -> bytes:
    def render(node: _Container) -> bytes:
        parts: list[bytes] = []
        current: _Container | None = node
        while current is not None:
            if current.message is not None:
                parts.append(b"%d" % number(current.message))
            if len(current.children) == 1:
                current = current.children[0]
                continue
            if current.children:
                parts.append(b"".join(b"(" + render(child) + b")" for child in current.children))
            current = None
        return b" ".join(parts)

    return b"".join(b"(" + render(root) + b")" for root in nodes)

