"""The typed commands `parse_command` returns: one frozen dataclass per command (RFC 9051 section 6, and
the extensions the package docstring lists), the SEARCH key tree (RFC 9051 section 6.4.4, RFC 7162,
RFC 5032, RFC 8474), FETCH items (RFC 9051 section 6.4.5, RFC 3516), and the names the commands accept
(FETCH attributes and macros, STATUS items, sort keys, threading algorithms, special uses, system flags).
"""

from __future__ import annotations

import datetime
import typing
from dataclasses import dataclass
from typing import ClassVar, Final

from polyport.imap.responses import atom_or_string
from polyport.imap.wire.sequence import SequenceSet


@dataclass(frozen=True, slots=True)
class Command:
    """One client command; `name` is its verb (without "UID")."""

    tag: str
    name: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class Capability(Command):
    name: ClassVar[str] = "CAPABILITY"


@dataclass(frozen=True, slots=True)
class Noop(Command):
    name: ClassVar[str] = "NOOP"


@dataclass(frozen=True, slots=True)
class Logout(Command):
    name: ClassVar[str] = "LOGOUT"


@dataclass(frozen=True, slots=True)
class StartTls(Command):
    name: ClassVar[str] = "STARTTLS"


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    """RFC 9051 section 6.2.2; `initial_response` decoded (RFC 4959 SASL-IR; "=" is b"", absent is None)."""

    mechanism: str  # upper-case
    initial_response: bytes | None = None
    name: ClassVar[str] = "AUTHENTICATE"


@dataclass(frozen=True, slots=True)
class Login(Command):
    username: str
    password: str
    name: ClassVar[str] = "LOGIN"


@dataclass(frozen=True, slots=True)
class Enable(Command):
    """RFC 5161."""

    capabilities: tuple[str, ...]  # upper-case
    name: ClassVar[str] = "ENABLE"


@dataclass(frozen=True, slots=True)
class QResync:
    """RFC 7162 section 3.2.5: the QRESYNC select parameter."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    known_sequence: SequenceSet | None = None  # seq-match-data: sequence numbers ...
    known_sequence_uids: SequenceSet | None = None  # ... and their UIDs


@dataclass(frozen=True, slots=True)
class Select(Command):
    mailbox: str
    condstore: bool = False  # RFC 7162 section 3.1.8
    qresync: QResync | None = None
    name: ClassVar[str] = "SELECT"
    readonly: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Examine(Command):
    mailbox: str
    condstore: bool = False
    qresync: QResync | None = None
    name: ClassVar[str] = "EXAMINE"
    readonly: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Create(Command):
    mailbox: str
    special_use: tuple[str, ...] = ()  # RFC 6154 section 3: CREATE ... (USE (\Drafts))
    name: ClassVar[str] = "CREATE"


@dataclass(frozen=True, slots=True)
class Delete(Command):
    mailbox: str
    name: ClassVar[str] = "DELETE"


@dataclass(frozen=True, slots=True)
class Rename(Command):
    mailbox: str
    new_name: str
    name: ClassVar[str] = "RENAME"


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    mailbox: str
    name: ClassVar[str] = "SUBSCRIBE"


@dataclass(frozen=True, slots=True)
class Unsubscribe(Command):
    mailbox: str
    name: ClassVar[str] = "UNSUBSCRIBE"


@dataclass(frozen=True, slots=True)
class List(Command):
    """RFC 9051 section 6.3.9 with RFC 5258 (selection and return options, several patterns), RFC 5819
    (RETURN (STATUS ...)), RFC 6154 (SPECIAL-USE) and RFC 8440 (RETURN (MYRIGHTS)). `extended` when any
    extended syntax was used."""

    reference: str
    patterns: tuple[str, ...]
    select_subscribed: bool = False
    select_remote: bool = False
    select_special_use: bool = False
    recursive_match: bool = False
    return_subscribed: bool = False
    return_children: bool = False
    return_special_use: bool = False
    return_status: tuple[str, ...] | None = None
    return_myrights: bool = False  # RFC 8440
    extended: bool = False
    name: ClassVar[str] = "LIST"


@dataclass(frozen=True, slots=True)
class Lsub(Command):
    reference: str
    pattern: str
    name: ClassVar[str] = "LSUB"


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    name: ClassVar[str] = "NAMESPACE"


@dataclass(frozen=True, slots=True)
class Status(Command):
    mailbox: str
    items: tuple[str, ...]  # upper-case, from STATUS_ITEMS
    name: ClassVar[str] = "STATUS"


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of APPEND (RFC 3502 MULTIAPPEND sends several). `data` is the literal's bytes;
    `binary` when it came as literal8 (RFC 3516), `utf8` when as UTF8 (~{n}) (RFC 6855 section 4)."""

    data: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime.datetime | None = None
    binary: bool = False
    utf8: bool = False
    # RFC 4469 CATENATE: the parts to join instead of `data` (then b""): bytes for a TEXT literal, str for a
    # URL (resolved by the session: imap/catenate.py). None for a plain APPEND.
    catenate: tuple[bytes | str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Append(Command):
    mailbox: str
    messages: tuple[AppendMessage, ...]
    name: ClassVar[str] = "APPEND"


@dataclass(frozen=True, slots=True)
class Replace(Command):
    """RFC 8508 REPLACE / UID REPLACE: `number` is a message number, or a UID when `uid`."""

    number: int
    mailbox: str
    message: AppendMessage
    uid: bool = False
    name: ClassVar[str] = "REPLACE"


@dataclass(frozen=True, slots=True)
class Check(Command):
    name: ClassVar[str] = "CHECK"


@dataclass(frozen=True, slots=True)
class Close(Command):
    name: ClassVar[str] = "CLOSE"


@dataclass(frozen=True, slots=True)
class Unselect(Command):
    name: ClassVar[str] = "UNSELECT"


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE (RFC 4315) when `uids` is set."""

    uids: SequenceSet | None = None
    name: ClassVar[str] = "EXPUNGE"

    @property
    def uid(self) -> bool:
        return self.uids is not None


# Search keys (RFC 9051 section 6.4.4, RFC 3501 section 6.4.4), as a tree.

@dataclass(frozen=True, slots=True)
class SearchAll:
    pass


@dataclass(frozen=True, slots=True)
class SearchAnd:
    keys: tuple[SearchKey, ...]


@dataclass(frozen=True, slots=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class SearchFlag:
    """A flag set (`present`) or not: ANSWERED/UNANSWERED ... as "\\Answered", KEYWORD/UNKEYWORD as written.
    RECENT/OLD are "\\Recent"; NEW is SearchAnd(\\Recent set, \\Seen not set)."""

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class SearchHeader:
    """BCC/CC/FROM/SUBJECT/TO value, or HEADER field value: `field` lower-case; substring, any case."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class SearchText:
    """BODY (`where` "body") or TEXT (header and body, `where` "text") containing `value`."""

    where: typing.Literal["body", "text"]
    value: str


@dataclass(frozen=True, slots=True)
class SearchDate:
    """BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date header), by day."""

    field: typing.Literal["internal", "sent"]
    relation: typing.Literal["before", "on", "since"]
    date: datetime.date


@dataclass(frozen=True, slots=True)
class SearchSize:
    relation: typing.Literal["larger", "smaller"]
    size: int


@dataclass(frozen=True, slots=True)
class SearchMessages:
    """A sequence set of message numbers, or of UIDs (`uid`, the UID key). May hold "$" (RFC 5182)."""

    sequence: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class SearchModSeq:
    """RFC 7162 section 3.1.5: MODSEQ ["/flags/\\Seen" priv|shared|all] n: mod-sequence >= n."""

    modseq: int
    entry: str | None = None  # the entry name, e.g. "/flags/\\Seen"
    entry_type: str | None = None  # "priv", "shared" or "all"


@dataclass(frozen=True, slots=True)
class SearchAge:
    """RFC 5032 WITHIN: OLDER/YOUNGER than `seconds`, by internal date."""

    relation: typing.Literal["older", "younger"]
    seconds: int


@dataclass(frozen=True, slots=True)
class SearchObjectId:
    """RFC 8474 section 6: EMAILID / THREADID."""

    kind: typing.Literal["emailid", "threadid"]
    value: str


SearchKey = (SearchAll | SearchAnd | SearchOr | SearchNot | SearchFlag | SearchHeader | SearchText | SearchDate
             | SearchSize | SearchMessages | SearchModSeq | SearchAge | SearchObjectId)


def mentions_modseq(key: SearchKey) -> bool:
    """Whether a search uses the MODSEQ key (RFC 7162 3.1.5): such a SEARCH enables CONDSTORE (section 3.1)
    and its answer carries the highest mod-sequence found (section 3.1.6)."""
    if isinstance(key, SearchModSeq):
        return True
    if isinstance(key, SearchAnd):
        return any(mentions_modseq(k) for k in key.keys)
    if isinstance(key, SearchOr):
        return mentions_modseq(key.left) or mentions_modseq(key.right)
    if isinstance(key, SearchNot):
        return mentions_modseq(key.key)
    return False


@dataclass(frozen=True, slots=True)
class Search(Command):
    """SEARCH / UID SEARCH. `return_options` None is the plain SEARCH answer; a set (RFC 4731 ESEARCH:
    MIN MAX ALL COUNT, RFC 5182 SAVE, RFC 9394 PARTIAL, RFC 5267 section 4 CONTEXT and UPDATE) asks for
    ESEARCH. RETURN () is read as RETURN (ALL), and so is RETURN (CONTEXT), a mere hint; RETURN (UPDATE)
    asks for no result now, only its updates. `partial` is PARTIAL's range as written: (1, 100), or
    (-1, -100) counting from the last result."""

    query: SearchKey
    charset: str | None = None
    uid: bool = False
    return_options: frozenset[str] | None = None
    partial: tuple[int, int] | None = None
    name: ClassVar[str] = "SEARCH"


@dataclass(frozen=True, slots=True)
class Section:
    """RFC 3501 section 6.4.5 / RFC 9051 section 6.4.5 section-spec: `part` numbers, then `text`:
    "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME" (a part's MIME header)."""

    part: tuple[int, ...] = ()
    text: str = ""
    fields: tuple[str, ...] = ()  # HEADER.FIELDS (...) names, as the client wrote them

    def to_bytes(self) -> bytes:
        spec = b".".join(b"%d" % number for number in self.part)
        if self.text:
            spec = spec + b"." + self.text.encode() if spec else self.text.encode()
        if self.fields:
            spec += b" (" + b" ".join(atom_or_string(field) for field in self.fields) + b")"
        return spec


@dataclass(frozen=True, slots=True)
class FetchBody:
    """BODY[section]<partial>, BODY.PEEK[...], BINARY[part]<partial>, BINARY.PEEK[...] (RFC 3516)."""

    section: Section
    peek: bool = False
    partial: tuple[int, int] | None = None  # (origin, length)
    binary: bool = False

    def label(self) -> bytes:
        """The item's name in the FETCH response (RFC 9051 section 7.5.2): no .PEEK, origin only."""
        name = b"BINARY[" if self.binary else b"BODY["
        tail = b"]" if self.partial is None else b"]<%d>" % self.partial[0]
        return name + self.section.to_bytes() + tail


@dataclass(frozen=True, slots=True)
class FetchBinarySize:
    """BINARY.SIZE[part] (RFC 3516 section 4.2)."""

    part: tuple[int, ...]

    def label(self) -> bytes:
        return b"BINARY.SIZE[" + b".".join(b"%d" % number for number in self.part) + b"]"


# Plain FETCH attributes are their upper-case names (str); see FETCH_ATTRIBUTES.
FetchItem = str | FetchBody | FetchBinarySize

FETCH_ATTRIBUTES: Final = frozenset({
    "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT", "BODY",
    "BODYSTRUCTURE", "UID",
    "MODSEQ",  # RFC 7162 section 3.1.4.1
    "EMAILID", "THREADID",  # RFC 8474 section 5
    "SAVEDATE",  # RFC 8514
    "PREVIEW",  # RFC 8970 (with or without its LAZY modifier)
})
# RFC 3501 section 6.4.5: the macros.
FETCH_MACROS: Final = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    sequence: SequenceSet
    items: tuple[FetchItem, ...]  # macros expanded
    uid: bool = False
    changed_since: int | None = None  # RFC 7162 section 3.1.4.1: CHANGEDSINCE
    vanished: bool = False  # RFC 7162 section 3.2.6: VANISHED (UID FETCH only, with CHANGEDSINCE)
    name: ClassVar[str] = "FETCH"

    @property
    def sets_seen(self) -> bool:
        """Whether the fetch sets \\Seen (RFC 9051 section 6.4.5: BODY[...], BINARY[...], RFC822, RFC822.TEXT)."""
        return any(item in ("RFC822", "RFC822.TEXT") if isinstance(item, str)
                   else isinstance(item, FetchBody) and not item.peek for item in self.items)


StoreOperation = typing.Literal["replace", "add", "remove"]


@dataclass(frozen=True, slots=True)
class Store(Command):
    """STORE / UID STORE: FLAGS (replace), +FLAGS (add), -FLAGS (remove), .SILENT; RFC 7162 UNCHANGEDSINCE."""

    sequence: SequenceSet
    operation: StoreOperation
    flags: tuple[str, ...]
    silent: bool = False
    uid: bool = False
    unchanged_since: int | None = None
    name: ClassVar[str] = "STORE"


@dataclass(frozen=True, slots=True)
class Copy(Command):
    sequence: SequenceSet
    mailbox: str
    uid: bool = False
    name: ClassVar[str] = "COPY"


@dataclass(frozen=True, slots=True)
class Move(Command):
    """RFC 6851."""

    sequence: SequenceSet
    mailbox: str
    uid: bool = False
    name: ClassVar[str] = "MOVE"


SORT_KEYS: Final = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
                              "DISPLAYFROM", "DISPLAYTO"})  # RFC 5256 section 3, RFC 5957 section 3


@dataclass(frozen=True, slots=True)
class SortCriterion:
    key: str  # from SORT_KEYS
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Sort(Command):
    """RFC 5256 section 3 SORT / UID SORT; with `return_options` (RFC 5267 section 3 ESORT: MIN MAX ALL
    COUNT, RFC 9394 PARTIAL, RFC 5267 section 4 CONTEXT and UPDATE, as Search's) answered by ESEARCH in
    sort order."""

    criteria: tuple[SortCriterion, ...]
    charset: str
    query: SearchKey
    uid: bool = False
    return_options: frozenset[str] | None = None
    partial: tuple[int, int] | None = None
    name: ClassVar[str] = "SORT"


THREAD_ALGORITHMS: Final = frozenset({"REFERENCES", "ORDEREDSUBJECT"})


@dataclass(frozen=True, slots=True)
class Thread(Command):
    """RFC 5256 section 3 THREAD / UID THREAD."""

    algorithm: str
    charset: str
    query: SearchKey
    uid: bool = False
    name: ClassVar[str] = "THREAD"


@dataclass(frozen=True, slots=True)
class Idle(Command):
    """RFC 2177; the session reads the DONE line itself."""

    name: ClassVar[str] = "IDLE"


@dataclass(frozen=True, slots=True)
class Id(Command):
    """RFC 2971: the client's field/value pairs, or None for ID NIL."""

    parameters: tuple[tuple[str, str | None], ...] | None
    name: ClassVar[str] = "ID"


@dataclass(frozen=True, slots=True)
class GetQuota(Command):
    """RFC 9208 section 4.2."""

    root: str
    name: ClassVar[str] = "GETQUOTA"


@dataclass(frozen=True, slots=True)
class GetQuotaRoot(Command):
    mailbox: str
    name: ClassVar[str] = "GETQUOTAROOT"


@dataclass(frozen=True, slots=True)
class SetQuota(Command):
    root: str
    limits: tuple[tuple[str, int], ...]  # (resource name upper-case, limit)
    name: ClassVar[str] = "SETQUOTA"


@dataclass(frozen=True, slots=True)
class GetAcl(Command):
    """RFC 4314 section 3.3."""

    mailbox: str
    name: ClassVar[str] = "GETACL"


@dataclass(frozen=True, slots=True)
class SetAcl(Command):
    """RFC 4314 section 3.1: rights with "+" add, "-" remove, else replace."""

    mailbox: str
    identifier: str
    operation: StoreOperation
    rights: str
    name: ClassVar[str] = "SETACL"


@dataclass(frozen=True, slots=True)
class DeleteAcl(Command):
    mailbox: str
    identifier: str
    name: ClassVar[str] = "DELETEACL"


@dataclass(frozen=True, slots=True)
class ListRights(Command):
    mailbox: str
    identifier: str
    name: ClassVar[str] = "LISTRIGHTS"


@dataclass(frozen=True, slots=True)
class MyRights(Command):
    mailbox: str
    name: ClassVar[str] = "MYRIGHTS"


@dataclass(frozen=True, slots=True)
class GetMetadata(Command):
    """RFC 5464 section 4.2. `mailbox` "" is the server; `depth` 0, 1 or -1 (infinity); `maxsize` None when
    not given. Entry names are checked (RFC 5464 3.2) and kept as the client wrote them."""

    mailbox: str
    entries: tuple[str, ...]
    depth: typing.Literal[0, 1, -1] = 0
    maxsize: int | None = None
    name: ClassVar[str] = "GETMETADATA"


@dataclass(frozen=True, slots=True)
class SetMetadata(Command):
    """RFC 5464 section 4.3: (entry, value) pairs; a value None (NIL) deletes the entry."""

    mailbox: str
    entries: tuple[tuple[str, bytes | None], ...]
    name: ClassVar[str] = "SETMETADATA"


@dataclass(frozen=True, slots=True)
class GenUrlAuth(Command):
    """RFC 4467 section 6.1: (URL rump, mechanism) pairs; mechanisms upper-case."""

    urls: tuple[tuple[str, str], ...]
    name: ClassVar[str] = "GENURLAUTH"


@dataclass(frozen=True, slots=True)
class ResetKey(Command):
    """RFC 4467 section 6.2: all the account's keys (`mailbox` None), or one mailbox's for `mechanisms`
    (upper-case; none given: all)."""

    mailbox: str | None = None
    mechanisms: tuple[str, ...] = ()
    name: ClassVar[str] = "RESETKEY"


@dataclass(frozen=True, slots=True)
class UrlFetch(Command):
    """RFC 4467 section 6.3: URLAUTH-authorized URLs, as written."""

    urls: tuple[str, ...]
    name: ClassVar[str] = "URLFETCH"


@dataclass(frozen=True, slots=True)
class Compress(Command):
    """RFC 4978: DEFLATE is the only algorithm."""

    mechanism: str
    name: ClassVar[str] = "COMPRESS"


@dataclass(frozen=True, slots=True)
class Unauthenticate(Command):
    """RFC 8437: back to the not-authenticated state."""

    name: ClassVar[str] = "UNAUTHENTICATE"


@dataclass(frozen=True, slots=True)
class CancelUpdate(Command):
    """RFC 5267 section 4.3.5: stop the updates of the searching commands tagged `tags`."""

    tags: tuple[str, ...]
    name: ClassVar[str] = "CANCELUPDATE"


NotifyFilterKind = typing.Literal["SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE",
                                  "MAILBOXES"]


@dataclass(frozen=True, slots=True)
class NotifyEventGroup:
    """RFC 5465 section 3.1: one event-group. `mailboxes` names SUBTREE's and MAILBOXES' mailboxes (empty for
    the others); `events` are the event names as the RFC spells them ("MessageNew", ...), empty for NONE;
    `fetch` MessageNew's fetch attributes (SELECTED and SELECTED-DELAYED only)."""

    kind: NotifyFilterKind
    events: tuple[str, ...]
    mailboxes: tuple[str, ...] = ()
    fetch: tuple[FetchItem, ...] = ()


@dataclass(frozen=True, slots=True)
class Notify(Command):
    """RFC 5465: NOTIFY SET [STATUS] event-groups, or NOTIFY NONE (`groups` None)."""

    groups: tuple[NotifyEventGroup, ...] | None
    status: bool = False
    name: ClassVar[str] = "NOTIFY"


# RFC 5465 section 8: the events by their canonical spelling (events compare without case: atoms).
NOTIFY_EVENTS: Final = {name.upper(): name for name in (
    "MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName", "SubscriptionChange",
    "MailboxMetadataChange", "ServerMetadataChange")}


STATUS_ITEMS: Final = frozenset({
    "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT",  # RFC 9051 6.3.11, RFC 8438
    "HIGHESTMODSEQ",  # RFC 7162 section 3.1.9
    "APPENDLIMIT",  # RFC 7889 section 3
    "MAILBOXID",  # RFC 8474 section 4
})
SPECIAL_USES: Final = {name.lower(): name for name in (  # RFC 6154 section 2, RFC 8457
    "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important")}
# RFC 3501 section 9: flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / keyword / extension
SYSTEM_FLAGS: Final = {name.lower(): name for name in (
    "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}
