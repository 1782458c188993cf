"""IMAP client commands: one command's complete bytes in, a typed command out. Pure: no I/O, fuzzable.

Grammar: RFC 3501 section 9 (IMAP4rev1) and RFC 9051 section 9 (IMAP4rev2), with the extensions'
additions: RFC 7162 (CONDSTORE, QRESYNC), RFC 4731 (ESEARCH), RFC 5182 (SEARCHRES), RFC 5256 (SORT,
THREAD), RFC 5957 (SORT=DISPLAY), RFC 4314 (ACL), RFC 9208 (QUOTA), RFC 5258 and RFC 5819
(LIST-EXTENDED, LIST-STATUS), RFC 6154 (SPECIAL-USE, CREATE-SPECIAL-USE), RFC 3516 (BINARY),
RFC 6855 (UTF8=ACCEPT), RFC 8474 (OBJECTID), RFC 7888 (LITERAL+), RFC 4978 (COMPRESS), RFC 2971 (ID),
RFC 5161 (ENABLE), RFC 2177 (IDLE), RFC 3502 (MULTIAPPEND), RFC 8438 (STATUS=SIZE), RFC 7889
(APPENDLIMIT), RFC 4959 (SASL-IR), RFC 5032 (WITHIN), RFC 3691 (UNSELECT), RFC 6851 (MOVE),
RFC 4315 (UIDPLUS: UID EXPUNGE), RFC 8508 (REPLACE), RFC 8440 (LIST-MYRIGHTS), RFC 5267 section 3
(ESORT), RFC 9394 (PARTIAL), RFC 8970 (PREVIEW), RFC 5464 (METADATA), RFC 4469 (CATENATE).

Framing: the session reads a line; when `literal_at_end(line)` finds a literal marker ({n}, {n+},
~{n}, ~{n+}) it reads n bytes and the next line, and so on; then it hands the whole command, tag to
final CRLF with the literals verbatim, to `parse_command`. The parser reads literals in place.

Implementation notes:
- Total: for any bytes, `parse_command` returns a `Command` or raises `ParseError` (the tag when it
  could be read, and a reason for the client's BAD). `BadCharset` (a ParseError) is the one refusal
  that is a NO: `NO [BADCHARSET (US-ASCII UTF-8)]` (RFC 9051 section 6.4.4). Nesting (parenthesized
  search keys, NOT, OR) stops at MAX_DEPTH; sequence sets at MAX_SEQUENCE_ITEMS items.
- Sequence sets stay as written: ranges with STAR for "*", and "$" (SEARCHRES) as a flag. The server
  resolves them against the mailbox's message count or largest UID, so "1:4294967295" is one tuple.
- Values come out typed: mailbox names as str (modified UTF-7 decoded unless UTF8=ACCEPT is on; INBOX
  in any case at the head of a name becomes "INBOX"), APPEND messages as bytes, numbers as int, dates
  as datetime, flags with system flags in their canonical spelling ("\\seen" is "\\Seen").
- 8-bit bytes only inside literals, and inside quoted strings in UTF-8 mode; NUL only inside literal8.
- Hot commands (FETCH, STORE, SEARCH and their UID forms) cost one regex match per token; sequence sets
  and FETCH item lists, which clients repeat endlessly, are cached by their bytes.

Modules: `errors.py` ParseError, BadCharset and the literal marker, `sequence.py` sequence sets,
`commands.py` the typed commands, `parser.py` the limits, the character classes and the parser. Import
from the package (`from polyport.imap import wire`; `wire.Fetch`, `wire.parse_command`); the modules are
its layout, not its interface.
"""

from polyport.imap.wire.commands import (
    FETCH_ATTRIBUTES,
    FETCH_MACROS,
    SORT_KEYS,
    SPECIAL_USES,
    STATUS_ITEMS,
    SYSTEM_FLAGS,
    THREAD_ALGORITHMS,
    Append,
    AppendMessage,
    Authenticate,
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
    QResync,
    Rename,
    Replace,
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
    Unselect,
    Unsubscribe,
    mentions_modseq,
)
from polyport.imap.wire.errors import BadCharset, BadMailboxName, Literal, ParseError, literal_at_end
from polyport.imap.wire.parser import (
    DELIMITER,
    MAX_DEPTH,
    MAX_ID_PAIRS,
    MAX_NUMBER64,
    SEARCH_CHARSETS,
    parse_command,
    parse_section,
)
from polyport.imap.wire.sequence import MAX_NUMBER, MAX_SEQUENCE_ITEMS, STAR, SequenceSet, parse_sequence_set

__all__ = [
    "DELIMITER", "FETCH_ATTRIBUTES", "FETCH_MACROS", "MAX_DEPTH", "MAX_ID_PAIRS", "MAX_NUMBER", "MAX_NUMBER64",
    "MAX_SEQUENCE_ITEMS", "SEARCH_CHARSETS", "SORT_KEYS", "SPECIAL_USES", "STAR", "STATUS_ITEMS", "SYSTEM_FLAGS",
    "THREAD_ALGORITHMS", "Append", "AppendMessage", "Authenticate", "BadCharset", "BadMailboxName", "Capability",
    "Check", "Close", "Command", "Compress", "Copy", "Create", "Delete", "DeleteAcl", "Enable", "Examine", "Expunge",
    "Fetch",
    "FetchBinarySize", "FetchBody", "FetchItem", "GetAcl", "GetMetadata", "GetQuota", "GetQuotaRoot", "Id", "Idle",
    "List",
    "ListRights", "Literal", "Login", "Logout", "Lsub", "Move", "MyRights", "Namespace", "Noop", "ParseError",
    "QResync", "Rename", "Replace", "Search", "SearchAge", "SearchAll", "SearchAnd", "SearchDate", "SearchFlag",
    "SearchHeader", "SearchKey", "SearchMessages", "SearchModSeq", "SearchNot", "SearchObjectId", "SearchOr",
    "SearchSize", "SearchText", "Section", "Select", "SequenceSet", "SetAcl", "SetMetadata", "SetQuota", "Sort",
    "SortCriterion",
    "StartTls", "Status", "Store", "StoreOperation", "Subscribe", "Thread", "Unselect", "Unsubscribe",
    "literal_at_end", "mentions_modseq", "parse_command", "parse_section", "parse_sequence_set",
]
