"""IMAP command parsing: client lines in (from the RFCs' examples and from real clients), typed commands
out; every refusal a ParseError with the tag and a reason; any bytes at all either parse or fail so."""

from __future__ import annotations

import contextlib
import datetime
from typing import TypeVar, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from polyport.imap import responses, wire
from polyport.imap.wire import (
    STAR,
    Append,
    AppendMessage,
    Authenticate,
    BadCharset,
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
    GetAcl,
    GetMetadata,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    ListRights,
    Literal,
    Login,
    Logout,
    Lsub,
    Move,
    MyRights,
    Namespace,
    Noop,
    ParseError,
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
    SearchMessages,
    SearchModSeq,
    SearchNot,
    SearchObjectId,
    SearchOr,
    SearchSize,
    SearchText,
    Section,
    Select,
    SequenceSet,
    SetAcl,
    SetMetadata,
    SetQuota,
    Sort,
    SortCriterion,
    StartTls,
    Status,
    Store,
    Subscribe,
    Thread,
    Unselect,
    Unsubscribe,
    literal_at_end,
    parse_command,
    parse_sequence_set,
)
from polyport.imap.wire.parser import _Parser, canonical_inbox


def cmd(line: str | bytes, *, utf8: bool = False) -> Command:
    """Parse one command; a str line is UTF-8 and gets its CRLF here."""
    data = line.encode() + b"\r\n" if isinstance(line, str) else line
    return parse_command(data, utf8=utf8)


C = TypeVar("C", bound=Command)


def parsed(kind: type[C], line: str | bytes, *, utf8: bool = False) -> C:
    """Parse one command, which must be a `kind`."""
    command = cmd(line, utf8=utf8)
    assert isinstance(command, kind)
    return command


def bad(line: str | bytes, *, utf8: bool = False) -> ParseError:
    data = line.encode() + b"\r\n" if isinstance(line, str) else line
    with pytest.raises(ParseError) as caught:
        parse_command(data, utf8=utf8)
    return caught.value


def seq(text: str) -> SequenceSet:
    return parse_sequence_set(text.encode())


def frame(stream: bytes) -> list[bytes]:
    """What the session does: lines, and after a line ending in a literal, its bytes and the next line."""
    commands: list[bytes] = []
    pos = 0
    while pos < len(stream):
        start = pos
        while True:
            end = stream.index(b"\n", pos) + 1
            announced = literal_at_end(stream[pos:end])
            if announced is None:
                pos = end
                break
            pos = end + announced.size
        commands.append(stream[start:pos])
    return commands


# -- framing: literal_at_end -------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "literal"), [
    (b"A001 LOGIN {11}\r\n", Literal(11, synchronizing=True, binary=False)),
    (b"A001 LOGIN {11+}\r\n", Literal(11, synchronizing=False, binary=False)),  # RFC 7888 LITERAL+
    (b"A003 APPEND Drafts ~{350}\r\n", Literal(350, synchronizing=True, binary=True)),  # RFC 3516
    (b"A003 APPEND Drafts ~{350+}\r\n", Literal(350, synchronizing=False, binary=True)),
    (b'A APPEND Drafts UTF8 (~{5}\r\n', Literal(5, synchronizing=True, binary=True)),  # RFC 6855
    (b"FRED FOOBAR {7+}\r\n", Literal(7, synchronizing=False, binary=False)),  # a continuation line
    (b"A001 LOGIN {0}\n", Literal(0, synchronizing=True, binary=False)),  # bare LF
    (b'a LOGIN "fred" {5}\r\n', Literal(5, synchronizing=True, binary=False)),
    (b'a LOGIN "a\\"b" {5}\r\n', Literal(5, synchronizing=True, binary=False)),  # escaped quote, closed
    (b'a LOGIN "a\\\\" {5}\r\n', Literal(5, synchronizing=True, binary=False)),  # escaped backslash, closed
    (b"A001 LOGIN {007}\r\n", Literal(7, synchronizing=True, binary=False)),
])
def test_literal_at_end_finds_the_marker(line: bytes, literal: Literal) -> None:
    assert literal_at_end(line) == literal


@pytest.mark.parametrize("line", [
    b"A001 NOOP\r\n",
    b'A001 LOGIN "fred" "{5}"\r\n',  # a quoted string that looks like a literal
    b'A001 LOGIN fred "{5}\r\n',  # an unterminated quoted string still open at the end
    b'A001 LOGIN fred "a\\" {5}\r\n',  # the escaped quote keeps the string open
    b"A001 LOGIN fred {5} \r\n",  # not at the very end
    b"A001 LOGIN fred {}\r\n",
    b"A001 LOGIN fred {5a}\r\n",
    b"A001 LOGIN fred {-5}\r\n",
    b"A001 LOGIN fred {123456789012345678901}\r\n",  # more digits than a number64 has
    b"}\r\n", b"{\r\n", b"\r\n", b"",
])
def test_literal_at_end_is_not_fooled(line: bytes) -> None:
    assert literal_at_end(line) is None


def test_framing_a_stream_into_commands() -> None:
    stream = (b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n"  # RFC 7888 section 4 example
              b'A002 SELECT "{5}"\r\n'
              b"A003 APPEND saved-messages (\\Seen) {13}\r\nHi {3}\r\nthere (\\Seen) {2+}\r\nok\r\n"
              b"A004 LOGOUT\r\n")
    commands = [cmd(data) for data in frame(stream)]
    assert commands == [
        Login("A001", "FRED FOOBAR", "fat man"),
        Select("A002", "{5}"),
        Append("A003", "saved-messages", (AppendMessage(b"Hi {3}\r\nthere", ("\\Seen",)),
                                          AppendMessage(b"ok", ("\\Seen",)))),
        Logout("A004"),
    ]


# -- commands without arguments -------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "command"), [
    ("abcd CAPABILITY", Capability("abcd")),  # RFC 3501 section 6.1.1
    ("a002 NOOP", Noop("a002")),
    ("A023 LOGOUT", Logout("A023")),
    ("a002 STARTTLS", StartTls("a002")),
    ("A001 NAMESPACE", Namespace("A001")),  # RFC 2342
    ("FXXZ CHECK", Check("FXXZ")),
    ("A341 CLOSE", Close("A341")),
    ("A342 UNSELECT", Unselect("A342")),  # RFC 3691
    ("A202 EXPUNGE", Expunge("A202")),
    ("A001 IDLE", Idle("A001")),  # RFC 2177
    ("1 capability", Capability("1")),  # Thunderbird sends lower case
    ("a.b]c NOOP", Noop("a.b]c")),  # "]" may be in a tag
])
def test_simple_commands(line: str, command: Command) -> None:
    assert cmd(line) == command
    assert cmd(line.encode() + b"\n") == command  # a bare LF ends a line too


def test_commands_without_arguments_refuse_arguments() -> None:
    assert bad("a1 NOOP now").message == "unexpected text after the arguments"
    assert bad("a1 CAPABILITY ").message == "unexpected text after the arguments"


def test_command_names() -> None:
    assert cmd("a1 noop").name == "NOOP"
    assert cmd("a1 UID FETCH 1 FLAGS").name == "FETCH"
    assert Examine.readonly and not Select.readonly


# -- not authenticated -------------------------------------------------------------------------------

def test_login() -> None:
    assert cmd("a001 login mrc secret") == Login("a001", "mrc", "secret")  # RFC 3501 section 6.2.3
    assert cmd('JFGC1 LOGIN user "pass word"') == Login("JFGC1", "user", "pass word")  # imaplib quotes
    assert cmd('a LOGIN "fred" "a\\"b\\\\c"') == Login("a", "fred", 'a"b\\c')
    assert cmd(b"a LOGIN {4}\r\nfred {3+}\r\nx y\r\n") == Login("a", "fred", "x y")
    assert cmd(b'a LOGIN "" {0}\r\n\r\n') == Login("a", "", "")
    assert cmd("a LOGIN fred p]ss") == Login("a", "fred", "p]ss")  # ASTRING-CHAR includes "]"
    assert cmd(b"a LOGIN {5}\r\nj\xc3\xb6rg {2}\r\n\xc3\xb6\r\n") == Login("a", "jörg", "ö")
    assert cmd('a LOGIN "jörg" "pässword"', utf8=True) == Login("a", "jörg", "pässword")


def test_login_refusals() -> None:
    assert bad("a LOGIN").message == "missing user name"
    assert bad("a LOGIN fred").message == "missing password"
    assert bad("a LOGIN fred ").message == "missing password"
    assert bad("a LOGIN fred pw extra").message == "unexpected text after the arguments"
    assert bad('a LOGIN fred "unterminated').message == "unterminated quoted string"
    assert bad('a LOGIN fred "a\\b"').message == 'a backslash in a quoted string may only escape " or \\'
    assert bad('a LOGIN "jörg" pw').message.startswith("an 8-bit byte in a quoted string")
    assert bad(b"a LOGIN j\xc3\xb6rg pw\r\n").message == \
        "expected a space before password, found an 8-bit byte outside a quoted string or literal"
    assert bad(b"a LOGIN {2}\r\n\xff\xfe pw\r\n").message == "user name is not valid UTF-8"
    assert bad(b"a LOGIN {5}\r\nab\r\n").message == "literal shorter than its announced size"
    assert bad(b"a LOGIN {3}\r\na\x00b pw\r\n").message == \
        "a NUL byte in a literal (only a literal8 ~{n} may hold one)"
    assert bad(b'a LOGIN "a\x00b" pw\r\n').message == "a NUL byte in a quoted string"
    assert bad(b"a LOGIN ~{1}\r\na pw\r\n").message == "a literal8 (~{n}) is allowed only for APPEND's message"
    assert bad(b"a LOGIN {1} pw\r\n").message == "malformed literal: expected {n} or {n+} and the line end"
    assert bad("a LOGIN  fred pw").message == "expected user name, found ' '"  # one space only


def test_authenticate() -> None:
    assert cmd("A001 AUTHENTICATE GSSAPI") == Authenticate("A001", "GSSAPI")  # RFC 3501 section 6.2.2
    assert cmd("2 authenticate plain") == Authenticate("2", "PLAIN")
    # RFC 4959 section 3: SASL-IR
    assert cmd("a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=") == \
        Authenticate("a01", "PLAIN", b"test\x00test\x00test")
    assert cmd("a01 AUTHENTICATE EXTERNAL =") == Authenticate("a01", "EXTERNAL", b"")
    assert cmd("a AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlx") == \
        Authenticate("a", "SCRAM-SHA-256", b"n,,n=user,r=fyko+d2lbbFgONRv9q")


@pytest.mark.parametrize(("line", "reason"), [
    ("a AUTHENTICATE", "missing SASL mechanism"),
    ("a AUTHENTICATE PLAIN dGVzdA", "initial response is not valid base64"),  # no padding
    ("a AUTHENTICATE PLAIN dGVz=dA==", "initial response is not valid base64"),
    ("a AUTHENTICATE PLAIN ==", "initial response is not valid base64"),
    ("a AUTHENTICATE PLAIN ", "missing initial response (base64)"),
    ("a AUTHENTICATE PLAIN dGVz!", "unexpected '!' after the arguments"),
    ("a AUTHENTICATE PLAIN = =", "unexpected text after the arguments"),
])
def test_authenticate_refusals(line: str, reason: str) -> None:
    error = bad(line)
    assert (error.tag, error.message) == ("a", reason)


def test_enable() -> None:
    assert cmd("t2 ENABLE CONDSTORE X-GOOD-IDEA") == Enable("t2", ("CONDSTORE", "X-GOOD-IDEA"))  # RFC 5161
    assert cmd("a ENABLE qresync utf8=accept") == Enable("a", ("QRESYNC", "UTF8=ACCEPT"))
    assert bad("a ENABLE").message == "missing capability"
    assert bad("a ENABLE (CONDSTORE)").message == "expected capability, found '('"


# -- mailboxes ---------------------------------------------------------------------------------------

def test_select_and_examine() -> None:
    assert cmd("A142 SELECT INBOX") == Select("A142", "INBOX")
    assert cmd("a002 select inbox") == Select("a002", "INBOX")  # INBOX is case-insensitive
    assert cmd('4 select "INBOX" (CONDSTORE)') == Select("4", "INBOX", condstore=True)  # Thunderbird
    assert cmd("A932 EXAMINE blurdybloop") == Examine("A932", "blurdybloop")
    assert cmd("a103 SELECT INBOX (CONDSTORE)") == Select("a103", "INBOX", condstore=True)  # RFC 7162
    assert cmd(b"a SELECT {5}\r\nDraft\r\n") == Select("a", "Draft")


def test_select_qresync() -> None:
    # RFC 7162 section 3.2.5 examples
    assert cmd("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))") == Select(
        "A02", "INBOX", qresync=QResync(67890007, 20050715194045000, seq("41,43:211,214:541")))
    assert cmd("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
               "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))") == Select(
        "B04", "INBOX", qresync=QResync(
            67890007, 90060115194045000, seq("1:29997"), seq("5000,7500,9000,9990:9999"),
            seq("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997")))
    assert cmd("a EXAMINE INBOX (QRESYNC (1 2))") == Examine("a", "INBOX", qresync=QResync(1, 2))
    assert cmd("a SELECT INBOX (QRESYNC (1 2 (1:2 5:6)) CONDSTORE)") == Select(
        "a", "INBOX", condstore=True, qresync=QResync(1, 2, None, seq("1:2"), seq("5:6")))


@pytest.mark.parametrize(("line", "reason"), [
    ("a SELECT", "missing mailbox name"),
    ("a SELECT INBOX ()", "expected SELECT parameter, found ')'"),
    ("a SELECT INBOX (FOO)", "unknown SELECT parameter FOO"),
    ("a SELECT INBOX (CONDSTORE", "unbalanced parentheses: missing ')' after a SELECT parameter"),
    ("a SELECT INBOX CONDSTORE", "expected '(' starting SELECT parameters, found 'C'"),
    ("a SELECT INBOX (QRESYNC (0 5))", "UIDVALIDITY must not be 0"),
    ("a SELECT INBOX (QRESYNC (1 0))", "mod-sequence must not be 0"),
    ("a SELECT INBOX (QRESYNC (1 9223372036854775808))", "mod-sequence is out of range (at most 9223372036854775807)"),
    ("a SELECT INBOX (QRESYNC (1 2 1:*))", 'known UIDs may not hold "*" or "$" (RFC 7162 section 7)'),
    ("a SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4))", "unbalanced parentheses: missing ')' after a SELECT parameter"),
    ("a SELECT INBOX (QRESYNC (1))", "expected a space before mod-sequence, found ')'"),
])
def test_select_refusals(line: str, reason: str) -> None:
    assert bad(line).message == reason


def test_mailbox_names_modified_utf7() -> None:
    # RFC 3501 section 5.1.3's example
    assert cmd("a CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-") == Create("a", "~peter/mail/台北/日本語")
    assert cmd('a DELETE "Tom &- Jerry"') == Delete("a", "Tom & Jerry")
    assert cmd('a SUBSCRIBE "Entw&APw-rfe"') == Subscribe("a", "Entwürfe")
    assert cmd("a SELECT INBOX/&AMQ-pfel") == Select("a", "INBOX/Äpfel")
    assert cmd("a SELECT inBox/Foo") == Select("a", "INBOX/Foo")  # INBOX at the head of a hierarchy
    assert cmd("a SELECT inboxes") == Select("a", "inboxes")
    assert cmd("a SELECT foo/inbox") == Select("a", "foo/inbox")
    # After ENABLE UTF8=ACCEPT names are UTF-8 and "&" is just "&" (RFC 6855 section 3)
    assert cmd('a SELECT "Entwürfe"', utf8=True) == Select("a", "Entwürfe")
    assert cmd('a SELECT "Tom & Jerry"', utf8=True) == Select("a", "Tom & Jerry")
    assert cmd(b"a SELECT {9}\r\nEntw\xc3\xbcrfe\r\n", utf8=True) == Select("a", "Entwürfe")


@pytest.mark.parametrize("name", [
    b"&", b"Tom & Jerry", b"&AGE-", b"&U,BTFw-&ZeVnLIqe-", b"&U,BTFw", b"&3AA-", b"&Jjo", b"&*-",
    b"&AOQ=-", b"&AO-", b"&AOR-", b'"a\tb"', b"&-&-&", b"&2D0-",
])
def test_invalid_modified_utf7_is_refused(name: bytes) -> None:
    error = bad(b"a SELECT " + (name if name.startswith(b'"') else b'"' + name + b'"') + b"\r\n")
    assert error.message.startswith("mailbox name is not valid modified UTF-7")
    assert error.tag == "a"


def test_a_name_that_is_not_modified_utf7_is_a_no_once_the_command_parses() -> None:
    """RFC 3501 5.1.3: the command is well-formed, the name just names no mailbox we could have: the session
    answers NO (BadMailboxName) with the command as parsed, so it can fail as its kind fails."""
    with pytest.raises(wire.BadMailboxName) as caught:
        wire.parse_command(b'a RENAME "&Jjo" &AGE-\r\n')
    assert caught.value.tag == "a"
    assert caught.value.message.startswith('mailbox name is not valid modified UTF-7 ("&" without its closing')
    assert isinstance(caught.value.command, wire.Rename) and caught.value.command.new_name == "&AGE-"
    with pytest.raises(wire.BadMailboxName) as caught:
        wire.parse_command(b"b UID COPY 1:* &Jjo\r\n")
    assert caught.value.command == wire.Copy("b", wire.parse_sequence_set(b"1:*"), "&Jjo", uid=True)
    # Malformed besides: BAD, as any malformed command.
    for line in (b"a STATUS &Jjo MESSAGES\r\n", b"a CREATE &Jjo extra\r\n", b"a SELECT &Jjo (BOGUS)\r\n"):
        error = bad(line)
        assert not isinstance(error, wire.BadMailboxName), line
    # In UTF-8 mode (RFC 6855) "&" is a character like any other.
    assert cmd("a SELECT &Jjo", utf8=True) == Select("a", "&Jjo")


def test_mailbox_8bit_refusals() -> None:
    assert bad(b"a SELECT {6}\r\nK\xc3\xa4se\r\n").message.startswith("mailbox name is not valid modified UTF-7")
    assert bad(b"a SELECT K\xc3\xa4se\r\n").message == "unexpected an 8-bit byte outside a quoted string or " \
        "literal after the arguments"
    assert bad(b"a SELECT {2}\r\n\xff\xfe\r\n", utf8=True).message == "mailbox name is not valid UTF-8"


def test_create_rename_subscribe() -> None:
    assert cmd("A003 CREATE owatagusiam/") == Create("A003", "owatagusiam/")
    # RFC 6154 section 5.2
    assert cmd("t1 CREATE MySpecial (USE (\\Drafts \\Sent))") == Create("t1", "MySpecial", ("\\Drafts", "\\Sent"))
    assert cmd("t1 CREATE x (use (\\junk \\X-Custom))") == Create("t1", "x", ("\\Junk", "\\X-Custom"))
    assert cmd("t1 CREATE x (USE ())") == Create("t1", "x")
    assert cmd("A683 RENAME blurdybloop sarasoop") == Rename("A683", "blurdybloop", "sarasoop")
    assert cmd('a RENAME "Old &- New" inbox/x') == Rename("a", "Old & New", "INBOX/x")
    assert cmd("A002 SUBSCRIBE #news.comp.mail.mime") == Subscribe("A002", "#news.comp.mail.mime")
    assert cmd("A002 UNSUBSCRIBE #news.comp.mail.mime") == Unsubscribe("A002", "#news.comp.mail.mime")
    assert bad("a CREATE x (USE (Drafts))").message == \
        "expected special-use attribute (\\Drafts, \\Sent, ...), found 'D'"
    assert bad("a CREATE x (FOO)").message == "unknown CREATE parameter FOO"
    assert bad("a RENAME x").message == "missing new mailbox name"
    assert bad("a DELETE").message == "missing mailbox name"
    assert bad("a DELETE a b").message == "unexpected text after the arguments"


def test_list_basic() -> None:
    # RFC 3501 section 6.3.8 examples
    assert cmd('A101 LIST "" ""') == List("A101", "", ("",))
    assert cmd('A102 LIST #news.comp.mail.misc ""') == List("A102", "#news.comp.mail.misc", ("",))
    assert cmd('A202 LIST ~/Mail/ %') == List("A202", "~/Mail/", ("%",))
    assert cmd('A682 LIST "" *') == List("A682", "", ("*",))
    assert cmd('a LIST "" foo]%') == List("a", "", ("foo]%",))
    assert cmd('a LIST "" "&ZeVnLIqe-/*"') == List("a", "", ("日本語/*",))
    assert cmd('a LIST "" inbox') == List("a", "", ("INBOX",))
    assert cmd('A02 LSUB "#news." "comp.mail.*"') == Lsub("A02", "#news.", "comp.mail.*")


def test_list_extended() -> None:
    # RFC 5258 section 5 examples
    assert cmd('A02 LIST (SUBSCRIBED) "" "*"') == List("A02", "", ("*",), select_subscribed=True, extended=True)
    assert cmd('A03 LIST () "" "%" RETURN (CHILDREN)') == \
        List("A03", "", ("%",), return_children=True, extended=True)
    assert cmd('A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)') == \
        List("A04", "", ("%",), select_remote=True, return_children=True, extended=True)
    assert cmd('A06 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)') == List(
        "A06", "", ("%",), select_subscribed=True, recursive_match=True, return_children=True, extended=True)
    assert cmd('BBB LIST "" ("INBOX" "Drafts" "Sent/%")') == \
        List("BBB", "", ("INBOX", "Drafts", "Sent/%"), extended=True)
    # RFC 5819 LIST-STATUS and RFC 6154 SPECIAL-USE
    assert cmd('A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))') == \
        List("A01", "", ("%",), return_status=("MESSAGES", "UNSEEN"), extended=True)
    assert cmd('t1 LIST (SPECIAL-USE) "" "*"') == List("t1", "", ("*",), select_special_use=True, extended=True)
    assert cmd('t3 LIST "" "%" RETURN (SPECIAL-USE SUBSCRIBED)') == \
        List("t3", "", ("%",), return_special_use=True, return_subscribed=True, extended=True)
    assert cmd('a LIST "" "*" RETURN ()') == List("a", "", ("*",), extended=True)


@pytest.mark.parametrize(("line", "reason"), [
    ('a LIST (RECURSIVEMATCH) "" "%"', "RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE (RFC 5258 section 3)"),
    ('a LIST (FOO) "" "%"', "unknown LIST selection option FOO"),
    ('a LIST "" "%" RETURN (FOO)', "unknown LIST return option FOO"),
    ('a LIST "" "%" RETURN (STATUS (FOO))', "unknown status item FOO"),
    ('a LIST "" "%" CHILDREN', "expected RETURN after the mailbox pattern"),
    ('a LIST "" ()', "expected mailbox pattern, found ')'"),
    ('a LIST ""', "missing mailbox pattern"),
    ('a LIST', "missing reference name"),
    ('a LIST "" ("a" "b"', "unbalanced parentheses: missing ')' after a mailbox pattern"),
    ('a LSUB ""', "missing mailbox pattern"),
])
def test_list_refusals(line: str, reason: str) -> None:
    assert bad(line).message == reason


def test_status() -> None:
    assert cmd("A042 STATUS blurdybloop (UIDNEXT MESSAGES)") == Status("A042", "blurdybloop", ("UIDNEXT", "MESSAGES"))
    every = "MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT MAILBOXID"
    assert cmd(f"a status INBOX ({every.lower()})") == Status("a", "INBOX", tuple(every.split()))
    assert bad("a STATUS INBOX ()").message == "expected status item, found ')'"
    assert bad("a STATUS INBOX (MESSAGES FOO)").message == "unknown status item FOO"
    assert bad("a STATUS INBOX MESSAGES").message == "expected '(' starting status items, found 'M'"
    assert bad("a STATUS INBOX").message == "missing status items"


def test_append() -> None:
    message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n"
    line = b'A003 APPEND saved-messages (\\Seen) {%d}\r\n%s\r\n' % (len(message), message)  # RFC 3501 6.3.11
    assert cmd(line) == Append("A003", "saved-messages", (AppendMessage(message, ("\\Seen",)),))
    pst = datetime.timezone(datetime.timedelta(hours=-8))
    assert cmd(b'a APPEND INBOX (\\Seen \\draft $Forwarded) " 7-Feb-1994 21:52:25 -0800" {3+}\r\nabc\r\n') == \
        Append("a", "INBOX", (AppendMessage(b"abc", ("\\Seen", "\\Draft", "$Forwarded"),
                                            datetime.datetime(1994, 2, 7, 21, 52, 25, tzinfo=pst)),))
    assert cmd(b'a APPEND INBOX "17-Jul-1996 02:44:25 +0530" {1}\r\nx\r\n') == Append("a", "INBOX", (
        AppendMessage(b"x", (), datetime.datetime(1996, 7, 17, 2, 44, 25, tzinfo=datetime.timezone(
            datetime.timedelta(hours=5, minutes=30)))),))
    assert cmd(b"a APPEND INBOX () {0}\r\n\r\n") == Append("a", "INBOX", (AppendMessage(b""),))
    # iOS Mail saving a draft
    assert cmd(b'14 APPEND "Drafts" (\\Seen \\Draft) {5}\r\nhello\r\n') == \
        Append("14", "Drafts", (AppendMessage(b"hello", ("\\Seen", "\\Draft")),))


def test_multiappend_binary_and_utf8() -> None:
    # RFC 3502 section 6.3.11: two messages in one command
    line = (b'A003 APPEND saved-messages (\\Seen) {4}\r\nmsg1 (\\Seen) " 1-Aug-2002 22:00:00 -0700" {4}\r\n'
            b"msg2 {4+}\r\nmsg3\r\n")
    command = cmd(line)
    assert isinstance(command, Append)
    assert [m.data for m in command.messages] == [b"msg1", b"msg2", b"msg3"]
    assert command.messages[1].internal_date == datetime.datetime(
        2002, 8, 1, 22, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-7)))
    assert command.messages[2].flags == ()
    # RFC 3516 section 4.4: literal8 may hold NUL
    assert cmd(b"a APPEND Drafts ~{3}\r\na\x00b\r\n") == \
        Append("a", "Drafts", (AppendMessage(b"a\x00b", binary=True),))
    # RFC 6855 section 4: the UTF8 form
    assert cmd(b"a APPEND Drafts (\\Draft) UTF8 (~{4+}\r\nh\xc3\xa9y)\r\n") == \
        Append("a", "Drafts", (AppendMessage("héy".encode(), ("\\Draft",), binary=True, utf8=True),))
    assert cmd(b"a APPEND Drafts utf8 (~{1}\r\nx) {1}\r\ny\r\n") == Append(
        "a", "Drafts", (AppendMessage(b"x", binary=True, utf8=True), AppendMessage(b"y")))
    # imapclient 4.1 puts two spaces between two literals in a row; taken as one.
    assert cmd(b"a APPEND INBOX {1+}\r\nx  {1+}\r\ny\r\n") == \
        Append("a", "INBOX", (AppendMessage(b"x"), AppendMessage(b"y")))


@pytest.mark.parametrize(("line", "reason"), [
    (b"a APPEND INBOX\r\n", "missing message literal"),
    (b"a APPEND INBOX \"hello\"\r\n", 'bad date-time: expected "dd-Mon-yyyy hh:mm:ss +zzzz"'),
    (b"a APPEND INBOX hello\r\n", "expected message literal ({n}), found 'h'"),
    (b"a APPEND INBOX {3}\r\na\x00b\r\n", "a NUL byte in a literal (only a literal8 ~{n} may hold one)"),
    (b"a APPEND INBOX (\\Recent) {1}\r\nx\r\n", "\\Recent is set by the server only"),
    (b"a APPEND INBOX (\\Important) {1}\r\nx\r\n", "unknown system flag \\Important"),
    (b"a APPEND INBOX (\\Seen {1}\r\nx\r\n", "expected flag, found '{'"),
    (b'a APPEND INBOX "31-Feb-2020 10:00:00 +0000" {1}\r\nx\r\n', "bad date-time \"31-Feb-2020 10:00:00 +0000\""),
    (b'a APPEND INBOX "01-Foo-2020 10:00:00 +0000" {1}\r\nx\r\n', "bad month 'Foo' in a date-time"),
    (b'a APPEND INBOX "01-Jan-2020 25:00:00 +0000" {1}\r\nx\r\n', "bad date-time \"01-Jan-2020 25:00:00 +0000\""),
    (b'a APPEND INBOX "01-Jan-2020 10:00:00 +0075" {1}\r\nx\r\n', "bad date-time \"01-Jan-2020 10:00:00 +0075\""),
    (b'a APPEND INBOX "01-Jan-2020 10:00:00" {1}\r\nx\r\n', 'bad date-time: expected "dd-Mon-yyyy hh:mm:ss +zzzz"'),
    (b"a APPEND INBOX UTF8 ({1}\r\nx)\r\n", "expected literal8 (~{n}) holding the UTF8 message, found '{'"),
    (b"a APPEND INBOX UTF8 (~{1}\r\nx\r\n", "missing ')' after the UTF8 message"),
    (b"a APPEND INBOX {1}\r\nx \r\n", "missing message literal ({n})"),
    (b"a APPEND INBOX {10}\r\nx\r\n", "literal shorter than its announced size"),
])
def test_append_refusals(line: bytes, reason: str) -> None:
    assert bad(line).message == reason


def test_replace() -> None:
    # RFC 8508 section 3.5's example and the UID form; append-message as APPEND's, one only.
    assert cmd(b"A003 REPLACE 4 Drafts (\\Seen \\Draft) {5}\r\nhello\r\n") == \
        Replace("A003", 4, "Drafts", AppendMessage(b"hello", ("\\Seen", "\\Draft")))
    assert cmd(b'a uid replace 25 "Other" "14-Jul-2021 09:30:00 +0200" {1+}\r\nx\r\n') == Replace(
        "a", 25, "Other", AppendMessage(b"x", (), datetime.datetime(
            2021, 7, 14, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))), uid=True)
    assert cmd(b"a REPLACE 1 Drafts UTF8 (~{1}\r\nx)\r\n") == \
        Replace("a", 1, "Drafts", AppendMessage(b"x", binary=True, utf8=True))


@pytest.mark.parametrize(("line", "reason"), [
    (b"a REPLACE\r\n", "missing message number"),
    (b"a REPLACE 0 Drafts {1}\r\nx\r\n", "message number must not be 0"),
    (b"a REPLACE 1:2 Drafts {1}\r\nx\r\n", "expected a space before mailbox name, found ':'"),
    (b"a REPLACE * Drafts {1}\r\nx\r\n", "expected message number, found '*'"),
    (b"a UID REPLACE x Drafts {1}\r\nx\r\n", "expected UID, found 'x'"),
    (b"a REPLACE 1 Drafts\r\n", "missing message literal"),
    (b"a REPLACE 1 Drafts hello\r\n", "expected message literal ({n}), found 'h'"),
    (b"a REPLACE 1 Drafts {1}\r\nx {1}\r\ny\r\n", "unexpected text after the arguments"),
])
def test_replace_refusals(line: bytes, reason: str) -> None:
    assert bad(line).message == reason


def test_list_return_myrights() -> None:
    # RFC 8440 section 3's example
    assert cmd('A01 LIST "" % RETURN (MYRIGHTS)') == List("A01", "", ("%",), return_myrights=True, extended=True)
    assert cmd('a LIST "" "*" RETURN (STATUS (MESSAGES) myrights)') == \
        List("a", "", ("*",), return_status=("MESSAGES",), return_myrights=True, extended=True)


# -- selected state ------------------------------------------------------------------------------------

def test_expunge() -> None:
    assert cmd("A202 UID EXPUNGE 3000:3002") == Expunge("A202", seq("3000:3002"))  # RFC 4315
    assert parsed(Expunge, "a uid expunge 12").uid
    assert not parsed(Expunge, "a EXPUNGE").uid
    assert bad("a UID EXPUNGE").message == "missing UID set"
    assert bad("a EXPUNGE 1:2").message == "unexpected text after the arguments"


def test_fetch_rfc_examples() -> None:
    assert cmd("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])") == Fetch("A654", seq("2:4"), (
        "FLAGS", FetchBody(Section((), "HEADER.FIELDS", ("DATE", "FROM")))))
    assert cmd("A999 UID FETCH 4827313:4828442 FLAGS") == Fetch("A999", seq("4827313:4828442"), ("FLAGS",), uid=True)
    assert cmd("a FETCH 1 ALL") == Fetch("a", seq("1"), ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"))
    assert cmd("a FETCH 1 fast") == Fetch("a", seq("1"), ("FLAGS", "INTERNALDATE", "RFC822.SIZE"))
    assert cmd("a FETCH 1 FULL") == Fetch("a", seq("1"), ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                                                          "BODY"))
    assert cmd("JFGC3 FETCH 1 (RFC822)") == Fetch("JFGC3", seq("1"), ("RFC822",))  # imaplib


def test_fetch_every_item() -> None:
    items = ("ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID "
             "MODSEQ EMAILID THREADID SAVEDATE")
    assert cmd(f"a FETCH * ({items.lower()})") == Fetch("a", seq("*"), tuple(items.split()))
    command = cmd("a FETCH 1 (BODY[] BODY.PEEK[HEADER] BODY[TEXT]<0.2048> BODY[1.2.3] BODY.PEEK[4.2.MIME] "
                  "BODY[4.2.HEADER] BODY[3.TEXT] BODY[HEADER.FIELDS.NOT (Received \"X Y\")] BINARY[] "
                  "BINARY.PEEK[1.1]<100.5> BINARY.SIZE[2] BINARY.SIZE[])")
    assert isinstance(command, Fetch)
    assert command.items == (
        FetchBody(Section()),
        FetchBody(Section((), "HEADER"), peek=True),
        FetchBody(Section((), "TEXT"), partial=(0, 2048)),
        FetchBody(Section((1, 2, 3))),
        FetchBody(Section((4, 2), "MIME"), peek=True),
        FetchBody(Section((4, 2), "HEADER")),
        FetchBody(Section((3,), "TEXT")),
        FetchBody(Section((), "HEADER.FIELDS.NOT", ("Received", "X Y"))),
        FetchBody(Section(), binary=True),
        FetchBody(Section((1, 1)), peek=True, partial=(100, 5), binary=True),
        FetchBinarySize((2,)),
        FetchBinarySize(()),
    )
    labels = [item.label() for item in command.items if not isinstance(item, str)]
    assert labels == [b"BODY[]", b"BODY[HEADER]", b"BODY[TEXT]<0>", b"BODY[1.2.3]", b"BODY[4.2.MIME]",
                      b"BODY[4.2.HEADER]", b"BODY[3.TEXT]", b'BODY[HEADER.FIELDS.NOT (Received "X Y")]',
                      b"BINARY[]", b"BINARY[1.1]<100>", b"BINARY.SIZE[2]", b"BINARY.SIZE[]"]
    assert command.sets_seen
    assert not parsed(Fetch, "a FETCH 1 (BODY.PEEK[] FLAGS BINARY.PEEK[1])").sets_seen
    assert parsed(Fetch, "a FETCH 1 RFC822.TEXT").sets_seen


def test_fetch_from_clients() -> None:
    # Thunderbird
    line = ("6 UID fetch 45:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
            "Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])")
    command = cmd(line)
    assert isinstance(command, Fetch) and command.uid
    assert command.sequence == SequenceSet(((45, STAR),))
    body = command.items[3]
    assert isinstance(body, FetchBody) and body.peek and len(body.section.fields) == 14
    assert cmd(line) is not command and cmd(line) == command  # the cached item list gives equal commands
    assert cmd("7 UID fetch 1:* (FLAGS) (CHANGEDSINCE 123)") == \
        Fetch("7", seq("1:*"), ("FLAGS",), uid=True, changed_since=123)
    assert cmd("8 UID fetch 4 (UID RFC822.SIZE BODY.PEEK[]<0.32768>)") == Fetch(
        "8", seq("4"), ("UID", "RFC822.SIZE", FetchBody(Section(), peek=True, partial=(0, 32768))), uid=True)
    # mbsync
    assert cmd("5 UID FETCH 1:1000000000 (UID FLAGS)") == Fetch("5", seq("1:1000000000"), ("UID", "FLAGS"), uid=True)
    # iOS Mail
    assert parsed(Fetch, "9 UID FETCH 1:3 (UID FLAGS BODYSTRUCTURE RFC822.SIZE INTERNALDATE BODY.PEEK["
                  "HEADER.FIELDS (References X-Universally-Unique-Identifier)])").items[2] == "BODYSTRUCTURE"
    # RFC 7162 section 3.2.6 and RFC 8474 section 5
    assert cmd("A03 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)") == \
        Fetch("A03", seq("300:500"), ("FLAGS",), uid=True, changed_since=12345, vanished=True)
    assert cmd("3 UID FETCH 1:* (EMAILID THREADID)") == Fetch("3", seq("1:*"), ("EMAILID", "THREADID"), uid=True)
    # RFC 5182: the saved search result
    assert cmd("B02 UID FETCH $ (UID FLAGS)") == Fetch("B02", SequenceSet((), saved=True), ("UID", "FLAGS"), uid=True)
    # A header name sent as a literal
    assert cmd(b"a FETCH 1 BODY[HEADER.FIELDS ({7}\r\nSubject)]\r\n") == \
        Fetch("a", seq("1"), (FetchBody(Section((), "HEADER.FIELDS", ("Subject",))),))


@pytest.mark.parametrize(("line", "reason"), [
    ("a FETCH", "missing sequence set"),
    ("a FETCH 1", "missing message data items"),
    ("a FETCH 1 ()", "expected FETCH item, found ')'"),
    ("a FETCH 1 (FLAGS", "unbalanced parentheses: missing ')' after a FETCH item"),
    ("a FETCH 1 (FLAGS))", "unbalanced parentheses: unexpected ')'"),
    ("a FETCH 1 FLAGS UID", "expected '(' starting FETCH modifiers, found 'U'"),
    ("a FETCH 1 (FLAGS FOO)", "unknown FETCH item FOO"),
    ("a FETCH 1 (ALL)", "unknown FETCH item ALL"),  # macros stand alone
    ("a FETCH 1 BODY.PEEK", "BODY.PEEK needs a [section]"),
    ("a FETCH 1 BINARY.SIZE", "BINARY.SIZE needs a [section]"),
    ("a FETCH 1 FLAGS[]", "FLAGS takes no [section]"),
    ("a FETCH 1 BODY[HEADER", "missing ']' closing the section"),
    ("a FETCH 1 BODY[FOO]", "bad section FOO"),
    ("a FETCH 1 BODY[1..2]", "bad section 1..2"),
    ("a FETCH 1 BODY[0]", "section part numbers run from 1 to 4294967295"),
    ("a FETCH 1 BODY[MIME]", "MIME needs a part number (1.MIME)"),
    ("a FETCH 1 BODY[TEXT.1]", "bad section TEXT.1"),
    ("a FETCH 1 BODY[HEADER.FIELDS]", "expected a space before header field list, found ']'"),
    ("a FETCH 1 BODY[HEADER.FIELDS ()]", "expected header field name, found ')'"),
    ("a FETCH 1 BODY[]<0>", "bad partial: expected <origin.length>"),
    ("a FETCH 1 BODY[]<0.0>", "partial origin or length out of range"),
    ("a FETCH 1 BINARY[1.TEXT]", "bad BINARY section 1.TEXT (part numbers only)"),
    ("a FETCH 1 (FLAGS) (CHANGEDSINCE 0)", "mod-sequence must not be 0"),
    ("a FETCH 1 (FLAGS) (FOO)", "unknown FETCH modifier FOO"),
    ("a UID FETCH 1 (FLAGS) (VANISHED)", "VANISHED needs CHANGEDSINCE (RFC 7162 section 3.2.6)"),
    ("a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "VANISHED is allowed with UID FETCH only (RFC 7162 section 3.2.6)"),
    ("a FETCH 0 FLAGS", "sequence numbers start at 1, not 0"),
    ("a FETCH 1:4294967296 FLAGS", "sequence number 4294967296 is out of range (1 to 4294967295)"),
    ("a FETCH 99999999999999999999999 FLAGS", "sequence number 99999999999999999999 is out of range (1 to 4294967295)"),
    ("a FETCH 1,,2 FLAGS", "bad sequence number ''"),
    ("a FETCH 1:2:3 FLAGS", "bad sequence number '2:3'"),
    ("a FETCH : FLAGS", "bad sequence number ''"),
    ("a FETCH x FLAGS", "expected sequence set, found 'x'"),
])
def test_fetch_refusals(line: str, reason: str) -> None:
    error = bad(line)
    assert (error.tag, error.message) == ("a", reason)


def test_huge_sequence_sets() -> None:
    # One range covering every UID costs one tuple, however large.
    command = cmd("a UID FETCH 1:4294967295 FLAGS")
    assert isinstance(command, Fetch)
    assert command.sequence.ranges == ((1, 4294967295),)
    assert command.sequence.resolve(10) == [(1, 4294967295)]
    assert command.sequence.contains(4000000000, 10)
    many = ",".join(str(n) for n in range(1, 2 * wire.MAX_SEQUENCE_ITEMS + 2, 2))
    assert bad(f"a FETCH {many} FLAGS").message == f"sequence set longer than {wire.MAX_SEQUENCE_ITEMS} items"
    allowed = ",".join(str(n) for n in range(1, 2 * 1000, 2))
    assert len(parsed(Fetch, f"a UID FETCH {allowed} FLAGS").sequence.ranges) == 1000


def test_store() -> None:
    assert cmd("A003 STORE 2:4 +FLAGS (\\Deleted)") == Store("A003", seq("2:4"), "add", ("\\Deleted",))
    assert cmd("a STORE 1 FLAGS ()") == Store("a", seq("1"), "replace", ())
    assert cmd("a STORE 1 -flags.silent \\seen $Junk") == \
        Store("a", seq("1"), "remove", ("\\Seen", "$Junk"), silent=True)
    # mbsync and Thunderbird
    assert cmd("11 UID STORE 12 +FLAGS.SILENT \\Deleted") == \
        Store("11", seq("12"), "add", ("\\Deleted",), silent=True, uid=True)
    assert cmd("8 UID store 41 +FLAGS (\\Seen)") == Store("8", seq("41"), "add", ("\\Seen",), uid=True)
    assert cmd("a UID STORE 1:* FLAGS ($label1 NonJunk $MDNSent)") == \
        Store("a", seq("1:*"), "replace", ("$label1", "NonJunk", "$MDNSent"), uid=True)
    # RFC 7162 section 3.1.3
    assert cmd("a101 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)") == Store(
        "a101", seq("7,5,9"), "add", ("\\Deleted",), silent=True, unchanged_since=320162338)
    assert cmd("a STORE 1 (UNCHANGEDSINCE 0) FLAGS (\\Seen)") == \
        Store("a", seq("1"), "replace", ("\\Seen",), unchanged_since=0)
    # RFC 5182 section 2.1
    assert cmd("a STORE $ +FLAGS (\\Flagged)") == Store("a", SequenceSet((), True), "add", ("\\Flagged",))


@pytest.mark.parametrize(("line", "reason"), [
    ("a STORE 1 +FLAGS", "missing flags"),
    ("a STORE 1", "missing flags operation"),
    ("a STORE 1 +FLAGS (\\Recent)", "\\Recent is set by the server only"),
    ("a STORE 1 +FLAGS (\\Bogus)", "unknown system flag \\Bogus"),
    ("a STORE 1 +FLAGS (\\)", "expected a flag name after \\"),
    ("a STORE 1 +FLAGS (foo]bar)", "expected a space or ')' after a flag, found ']'"),
    ("a STORE 1 +FLAGS (\\Seen", "unbalanced parentheses: missing ')' after a flag"),
    ("a STORE 1 +FLAGS \\Seen)", "unbalanced parentheses: unexpected ')'"),
    ("a STORE 1 +FLAGS (%)", "expected flag, found '%'"),
    ("a STORE 1 +LABELS (x)", "expected FLAGS, +FLAGS or -FLAGS (with .SILENT or not)"),
    ("a STORE 1 *FLAGS (x)", "expected FLAGS, +FLAGS or -FLAGS (with .SILENT or not)"),
    ("a STORE 1 +FLAGSX (x)", "expected FLAGS, +FLAGS or -FLAGS (with .SILENT or not)"),
    ("a STORE 1 (UNCHANGEDSINCE) +FLAGS (x)", "expected a space before mod-sequence, found ')'"),
    ("a STORE 1 (FOO 1) +FLAGS (x)", "unknown STORE modifier FOO"),
])
def test_store_refusals(line: str, reason: str) -> None:
    assert bad(line).message == reason


def test_copy_and_move() -> None:
    assert cmd("A003 COPY 2:4 MEETING") == Copy("A003", seq("2:4"), "MEETING")
    assert cmd('C02 UID COPY $ "Other Messages"') == Copy("C02", SequenceSet((), True), "Other Messages", uid=True)
    assert cmd('10 UID COPY 12 "Trash"') == Copy("10", seq("12"), "Trash", uid=True)
    assert cmd("a UID MOVE 42:69 foo") == Move("a", seq("42:69"), "foo", uid=True)  # RFC 6851
    assert cmd("a MOVE 1 inbox/Archive") == Move("a", seq("1"), "INBOX/Archive")
    assert bad("a COPY 1").message == "missing mailbox name"
    assert bad("a UID MOVE").message == "missing sequence set"


def test_search_rfc_examples() -> None:
    assert cmd('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"') == Search("A282", SearchAnd((
        SearchFlag("\\Flagged"), SearchDate("internal", "since", datetime.date(1994, 2, 1)),
        SearchNot(SearchHeader("from", "Smith")))))
    assert cmd('A283 SEARCH TEXT "string not in mailbox"') == \
        Search("A283", SearchText("text", "string not in mailbox"))
    assert cmd(b"A284 SEARCH CHARSET UTF-8 TEXT {10}\r\n\xd0\xbd\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x80\r\n") == \
        Search("A284", SearchText("text", "набор"), charset="UTF-8")
    # RFC 4731 section 3.1
    search = parsed(Search, 'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert search.return_options == frozenset({"MIN", "COUNT"})
    assert parsed(Search, "A283 SEARCH RETURN () FLAGGED").return_options == frozenset({"ALL"})
    # RFC 5182 section 4
    assert cmd('C01 UID SEARCH RETURN (SAVE) SINCE 19-Mar-2007 NOT FROM "Smith"') == Search(
        "C01", SearchAnd((SearchDate("internal", "since", datetime.date(2007, 3, 19)),
                          SearchNot(SearchHeader("from", "Smith")))), uid=True, return_options=frozenset({"SAVE"}))
    assert cmd("A301 UID SEARCH UID $ SMALLER 4096") == Search("A301", SearchAnd((
        SearchMessages(SequenceSet((), True), uid=True), SearchSize("smaller", 4096))), uid=True)
    # RFC 7162 section 3.1.5
    assert cmd('a SEARCH MODSEQ "/flags/\\\\draft" all 620162338') == \
        Search("a", SearchModSeq(620162338, "/flags/\\draft", "all"))
    assert cmd("a SEARCH MODSEQ 0") == Search("a", SearchModSeq(0))
    # RFC 5032, RFC 8474
    assert cmd("A1 SEARCH UNSEEN YOUNGER 259200") == \
        Search("A1", SearchAnd((SearchFlag("\\Seen", False), SearchAge("younger", 259200))))
    assert cmd("27 SEARCH EMAILID M6d99ac3275bb4e") == Search("27", SearchObjectId("emailid", "M6d99ac3275bb4e"))
    assert cmd("a SEARCH OLDER 60 THREADID T64b478a75b7ea9") == Search("a", SearchAnd((
        SearchAge("older", 60), SearchObjectId("threadid", "T64b478a75b7ea9"))))


def test_search_every_key() -> None:
    line = ("a SEARCH ALL ANSWERED BCC b BEFORE 1-Jan-2020 BODY x CC c DELETED DRAFT FLAGGED FROM f "
            "HEADER X-Mailer \"Apple Mail\" KEYWORD $Junk LARGER 100 NEW NOT SEEN OLD ON 02-Mar-2021 "
            "OR TO t SUBJECT s RECENT SEEN SENTBEFORE 1-jan-2000 SENTON 1-Jan-2000 SENTSINCE \"1-Jan-2000\" "
            "SINCE 31-Dec-1999 SMALLER 10 SUBJECT {3}\r\nhey TEXT t TO t UID 1:5,7 UNANSWERED UNDELETED UNDRAFT "
            "UNFLAGGED UNKEYWORD foo UNSEEN 1:* (FROM x (TO y))")
    command = cmd(line.encode() + b"\r\n")
    assert isinstance(command, Search) and isinstance(command.query, SearchAnd)
    assert command.query.keys == (
        SearchAll(), SearchFlag("\\Answered"), SearchHeader("bcc", "b"),
        SearchDate("internal", "before", datetime.date(2020, 1, 1)), SearchText("body", "x"),
        SearchHeader("cc", "c"), SearchFlag("\\Deleted"), SearchFlag("\\Draft"), SearchFlag("\\Flagged"),
        SearchHeader("from", "f"), SearchHeader("x-mailer", "Apple Mail"), SearchFlag("$Junk"),
        SearchSize("larger", 100), SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))),
        SearchNot(SearchFlag("\\Seen")), SearchFlag("\\Recent", False),
        SearchDate("internal", "on", datetime.date(2021, 3, 2)),
        SearchOr(SearchHeader("to", "t"), SearchHeader("subject", "s")), SearchFlag("\\Recent"),
        SearchFlag("\\Seen"), SearchDate("sent", "before", datetime.date(2000, 1, 1)),
        SearchDate("sent", "on", datetime.date(2000, 1, 1)), SearchDate("sent", "since", datetime.date(2000, 1, 1)),
        SearchDate("internal", "since", datetime.date(1999, 12, 31)), SearchSize("smaller", 10),
        SearchHeader("subject", "hey"), SearchText("text", "t"), SearchHeader("to", "t"),
        SearchMessages(seq("1:5,7"), uid=True), SearchFlag("\\Answered", False), SearchFlag("\\Deleted", False),
        SearchFlag("\\Draft", False), SearchFlag("\\Flagged", False), SearchFlag("foo", False),
        SearchFlag("\\Seen", False), SearchMessages(seq("1:*")),
        SearchAnd((SearchHeader("from", "x"), SearchHeader("to", "y"))),
    )


def test_search_from_clients() -> None:
    assert cmd("JFGC4 SEARCH ALL") == Search("JFGC4", SearchAll())  # imaplib
    assert cmd("a UID SEARCH 1:* NOT DELETED") == \
        Search("a", SearchAnd((SearchMessages(seq("1:*")), SearchNot(SearchFlag("\\Deleted")))), uid=True)  # iOS
    assert cmd("12 UID SEARCH HEADER X-TUID 2Rh3ZzVkqG8f") == \
        Search("12", SearchHeader("x-tuid", "2Rh3ZzVkqG8f"), uid=True)  # mbsync
    assert cmd('a uid search charset us-ascii or (unseen undeleted) (flagged)') == Search("a", SearchOr(
        SearchAnd((SearchFlag("\\Seen", False), SearchFlag("\\Deleted", False))), SearchFlag("\\Flagged")),
        charset="US-ASCII", uid=True)
    assert cmd('a SEARCH SUBJECT "Grüße"', utf8=True) == Search("a", SearchHeader("subject", "Grüße"))
    assert cmd('a SEARCH CHARSET UTF-8 SUBJECT "x"', utf8=True) == \
        Search("a", SearchHeader("subject", "x"), charset="UTF-8")


def test_search_nesting_limit() -> None:
    depth = wire.MAX_DEPTH
    assert cmd("a SEARCH " + "(" * depth + "ALL" + ")" * depth) == Search("a", SearchAll())
    assert bad("a SEARCH " + "(" * (depth + 1) + "ALL" + ")" * (depth + 1)).message == \
        f"search keys nested deeper than {depth} levels"
    assert bad("a SEARCH " + "NOT " * 10_000 + "ALL").message == f"search keys nested deeper than {depth} levels"
    assert bad("a SEARCH " + "OR ALL " * 10_000 + "ALL").message == \
        f"search keys nested deeper than {depth} levels"
    assert isinstance(cmd("a SEARCH " + " ".join(["ALL"] * 10_000)), Search)  # long, flat: fine


@pytest.mark.parametrize(("line", "reason"), [
    ("a SEARCH", "missing search keys"),
    ("a SEARCH FOO", "unknown search key FOO"),
    ("a SEARCH FROM", "missing argument of FROM"),
    ("a SEARCH FROM ", "missing FROM string"),
    ("a SEARCH OR SEEN", "missing second key of OR"),
    ("a SEARCH NOT", "missing argument of NOT"),
    ("a SEARCH (SEEN", "unbalanced parentheses: missing ')' after a search key"),
    ("a SEARCH SEEN)", "unbalanced parentheses: unexpected ')'"),
    ("a SEARCH ()", "empty parentheses where a search key should be"),
    ("a SEARCH SINCE 1-Feb-94", "expected date (d-Mon-yyyy), found '1'"),
    ("a SEARCH SINCE 31-Feb-2020", "bad date 31-Feb-2020"),
    ("a SEARCH SINCE 1-Fob-2020", "bad month 'Fob' in a date"),
    ("a SEARCH SINCE \"1-Feb-2020", "bad date: expected d-Mon-yyyy"),
    ("a SEARCH SINCE 2020-02-01", "expected date (d-Mon-yyyy), found '2'"),
    ("a SEARCH LARGER x", "expected size, found 'x'"),
    ("a SEARCH LARGER 99999999999999999999", "size is out of range (at most 9223372036854775807)"),
    ("a SEARCH KEYWORD \\Seen", "expected keyword, found '\\\\'"),
    ("a SEARCH UID x", "expected UID set, found 'x'"),
    ("a SEARCH YOUNGER 0", "interval must not be 0"),
    ("a SEARCH EMAILID bad!id", "bad object id: 1 to 255 letters, digits, '-' and '_'"),
    ("a SEARCH MODSEQ \"/flags/\\\\Seen\" none 5", "MODSEQ entry type must be priv, shared or all"),
    ("a SEARCH MODSEQ \"/other\" all 5", 'MODSEQ entry name must be "/flags/<flag>"'),
    ("a SEARCH RETURN (FOO) ALL", "unknown search return option FOO"),
    ("a SEARCH RETURN ALL", "expected '(' starting search return options, found 'A'"),
    ("a SEARCH CHARSET", "missing charset"),
    ("a SEARCH CHARSET UTF-8", "missing search keys"),
    ("a SEARCH SUBJECT \"Grüße\"", "an 8-bit byte in a quoted string (send a literal, or ENABLE UTF8=ACCEPT)"),
    ("a SEARCH CHARSET ISO-8859-1 ALL", "charset ISO-8859-1 conflicts with UTF8=ACCEPT"),
])
def test_search_refusals(line: str, reason: str) -> None:
    error = bad(line, utf8=line.endswith("ISO-8859-1 ALL"))
    assert (error.tag, error.message) == ("a", reason)
    assert not isinstance(error, BadCharset)


def test_unknown_charset_is_a_no_not_a_bad() -> None:
    error = bad("a SEARCH CHARSET KOI8-R SUBJECT x")
    assert isinstance(error, BadCharset)
    assert (error.tag, error.charset) == ("a", "KOI8-R")
    assert isinstance(bad("a SORT (DATE) BIG5 ALL"), BadCharset)
    assert isinstance(bad("a THREAD REFERENCES x-unknown ALL"), BadCharset)
    assert bad(b"a SEARCH CHARSET UTF-8 SUBJECT {2}\r\n\xff\xfe\r\n").message == "SUBJECT string is not valid UTF-8"
    # Found by the fuzzer: a charset sent as a literal holding a line end is shown escaped, on one line.
    literal = bad(b"a SEARCH CHARSET {5}\r\nAB\r\n  ALL")
    assert isinstance(literal, BadCharset) and literal.charset == "AB\r\n "
    assert literal.message == "unsupported charset 'AB\\r\\n '"


def test_fetch_preview() -> None:
    # RFC 8970 section 3.2's examples: PREVIEW, and PREVIEW (LAZY), which answers the same here
    assert parsed(Fetch, "A1 FETCH 1 (PREVIEW)").items == ("PREVIEW",)
    assert parsed(Fetch, "A2 FETCH 1:3 (UID PREVIEW (LAZY))").items == ("UID", "PREVIEW")
    assert parsed(Fetch, "a FETCH 1 preview (lazy lazy)").items == ("PREVIEW",)
    fetch = parsed(Fetch, "a FETCH 1 PREVIEW (CHANGEDSINCE 12)")  # FETCH's modifiers, not PREVIEW's
    assert (fetch.items, fetch.changed_since) == (("PREVIEW",), 12)
    fetch = parsed(Fetch, "a UID FETCH 1 PREVIEW (LAZY) (CHANGEDSINCE 12)")
    assert (fetch.items, fetch.changed_since, fetch.uid) == (("PREVIEW",), 12, True)
    assert bad("a FETCH 1 (PREVIEW (LAZY FOO))").message == "unknown PREVIEW modifier FOO"
    assert bad("a FETCH 1 PREVIEW (LAZY").message == "unbalanced parentheses: missing ')' after a PREVIEW modifier"
    assert bad("a FETCH 1 (PREVIEW ())").message == "expected FETCH item, found '('"


def test_esort_and_partial() -> None:
    # RFC 5267 section 3: SORT with search-return-opts
    assert cmd("B01 UID SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 UNDELETED UNKEYWORD $Junk") == Sort(
        "B01", (SortCriterion("DATE"),), "UTF-8",
        SearchAnd((SearchFlag("\\Deleted", False), SearchFlag("$Junk", False))), uid=True,
        return_options=frozenset({"MIN", "MAX", "COUNT", "ALL"}))
    assert parsed(Sort, "a SORT RETURN () (ARRIVAL) UTF-8 ALL").return_options == frozenset({"ALL"})
    assert parsed(Sort, "a SORT (ARRIVAL) UTF-8 ALL").return_options is None
    # RFC 9394 section 3.1's examples: the first 5, the last 100 (a range in either order)
    assert cmd("E01 UID SEARCH RETURN (PARTIAL 1:5) UNDELETED") == Search(
        "E01", SearchFlag("\\Deleted", False), uid=True, return_options=frozenset({"PARTIAL"}), partial=(1, 5))
    assert cmd("E02 UID SEARCH RETURN (COUNT PARTIAL -1:-100) UNDELETED") == Search(
        "E02", SearchFlag("\\Deleted", False), uid=True, return_options=frozenset({"COUNT", "PARTIAL"}),
        partial=(-1, -100))
    assert parsed(Search, "a SEARCH RETURN (partial 500:1 SAVE) ALL").partial == (500, 1)
    assert cmd("a SORT RETURN (PARTIAL 4294967295:1) (SIZE) UTF-8 ALL") == Sort(
        "a", (SortCriterion("SIZE"),), "UTF-8", SearchAll(), return_options=frozenset({"PARTIAL"}),
        partial=(4294967295, 1))


@pytest.mark.parametrize(("line", "reason"), [
    ("a SEARCH RETURN (PARTIAL 1:5 ALL) ALL", "PARTIAL and ALL cannot be used together"),
    ("a SEARCH RETURN (ALL PARTIAL 1:5) ALL", "PARTIAL and ALL cannot be used together"),
    ("a SEARCH RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL", "PARTIAL given twice"),
    ("a SEARCH RETURN (PARTIAL) ALL", "expected a space before partial range, found ')'"),
    ("a SEARCH RETURN (PARTIAL 5) ALL", "expected partial range (first:last, or -first:-last from the end), "
                                        "found '5'"),
    ("a SEARCH RETURN (PARTIAL 1:*) ALL", "expected partial range (first:last, or -first:-last from the end), "
                                          "found '1'"),
    ("a SEARCH RETURN (PARTIAL -1:5) ALL", "a partial range counts from the start or from the end, not both"),
    ("a SEARCH RETURN (PARTIAL 0:5) ALL", "partial range positions are 1 to 4294967295"),
    ("a SEARCH RETURN (PARTIAL 1:4294967296) ALL", "partial range positions are 1 to 4294967295"),
    ("a SORT RETURN (SAVE) (ARRIVAL) UTF-8 ALL", "unknown sort return option SAVE"),
    ("a SORT RETURN (FOO) (ARRIVAL) UTF-8 ALL", "unknown sort return option FOO"),
    ("a SORT RETURN (ALL) UTF-8 ALL", "expected '(' starting the sort criteria, found 'U'"),
    ("a SORT RETURN ALL (ARRIVAL) UTF-8 ALL", "expected '(' starting search return options, found 'A'"),
])
def test_esort_and_partial_refusals(line: str, reason: str) -> None:
    assert bad(line).message == reason


def test_sort_and_thread() -> None:
    # RFC 5256 section 3 examples
    assert cmd("A283 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994") == Sort(
        "A283", (SortCriterion("SUBJECT"),), "UTF-8", SearchDate("internal", "since", datetime.date(1994, 2, 1)))
    assert cmd("A285 SORT (SUBJECT REVERSE DATE) UTF-8 ALL") == Sort(
        "A285", (SortCriterion("SUBJECT"), SortCriterion("DATE", reverse=True)), "UTF-8", SearchAll())
    assert cmd("A284 UID SORT (REVERSE ARRIVAL CC FROM SIZE TO DISPLAYFROM DISPLAYTO) US-ASCII UNSEEN") == Sort(
        "A284", (SortCriterion("ARRIVAL", True), SortCriterion("CC"), SortCriterion("FROM"), SortCriterion("SIZE"),
                 SortCriterion("TO"), SortCriterion("DISPLAYFROM"), SortCriterion("DISPLAYTO")),
        "US-ASCII", SearchFlag("\\Seen", False), uid=True)
    assert cmd("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000") == Thread(
        "A283", "ORDEREDSUBJECT", "UTF-8", SearchDate("internal", "since", datetime.date(2000, 3, 5)))
    assert cmd('A284 UID THREAD REFERENCES US-ASCII TEXT "gewp"') == \
        Thread("A284", "REFERENCES", "US-ASCII", SearchText("text", "gewp"), uid=True)
    assert bad("a SORT () UTF-8 ALL").message == "expected sort key, found ')'"
    assert bad("a SORT (NAME) UTF-8 ALL").message == "unknown sort key NAME"
    assert bad("a SORT (REVERSE) UTF-8 ALL").message == "expected a space before sort key, found ')'"
    assert bad("a SORT (DATE) ALL").message == "missing search keys"  # the charset is not optional
    assert bad("a THREAD FANCY UTF-8 ALL").message == "unknown threading algorithm FANCY"


def test_id() -> None:
    # RFC 2971 section 3.1
    assert cmd('a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")') == Id("a023", (
        ("name", "sodr"), ("version", "19.34"), ("vendor", "Pink Floyd Music Limited")))
    assert cmd("a042 ID NIL") == Id("a042", None)
    assert cmd("a ID ()") == Id("a", ())
    assert cmd('3 ID ("name" "Thunderbird" "version" "115.3.1")') == \
        Id("3", (("name", "Thunderbird"), ("version", "115.3.1")))
    assert cmd('1 ID ("name" "iPhone Mail" "version" "19A404" "os" "iOS" "os-version" "15.0 (19A404)")') == Id(
        "1", (("name", "iPhone Mail"), ("version", "19A404"), ("os", "iOS"), ("os-version", "15.0 (19A404)")))
    assert cmd('a ID ("support-url" NIL)') == Id("a", (("support-url", None),))
    pairs = " ".join(f'"k{n}" "v"' for n in range(31))
    assert bad(f"a ID ({pairs})").message == "more than 30 ID field-value pairs (RFC 2971 section 3.3)"
    assert bad('a ID ("name")').message == "expected a space before ID value, found ')'"
    assert bad("a ID").message == "missing ID parameters"


def test_quota() -> None:
    # RFC 9208 section 4
    assert cmd('G0001 GETQUOTA "!partition/sda4"') == GetQuota("G0001", "!partition/sda4")
    assert cmd("A003 GETQUOTAROOT INBOX") == GetQuotaRoot("A003", "INBOX")
    assert cmd('S0000 SETQUOTA "#user/alice" (STORAGE 510)') == SetQuota("S0000", "#user/alice", (("STORAGE", 510),))
    assert cmd('a SETQUOTA "" (storage 1024 MESSAGE 100)') == SetQuota("a", "", (("STORAGE", 1024), ("MESSAGE", 100)))
    assert cmd('a SETQUOTA "" ()') == SetQuota("a", "", ())
    assert cmd('11 getquotaroot "INBOX"') == GetQuotaRoot("11", "INBOX")  # Thunderbird
    assert bad('a SETQUOTA "" (STORAGE)').message == "expected a space before quota limit, found ')'"
    assert bad('a SETQUOTA "" (STORAGE x)').message == "expected quota limit, found 'x'"


def test_catenate() -> None:
    # RFC 4469 section 4's example, shortened
    c = cmd(b'A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE '
            b'(URL "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER" TEXT {4+}\r\n\r\nhi '
            b'url /Drafts/;UID=20 text ~{3+}\r\na\x00b)\r\n')
    assert c == Append("A003", "Drafts", (AppendMessage(b"", ("\\Seen", "\\Draft", "$MDNSent"), catenate=(
        "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER", b"\r\nhi", "/Drafts/;UID=20", b"a\x00b")),))
    # with MULTIAPPEND: a CATENATE message next to a plain one
    c = cmd(b"a APPEND INBOX CATENATE (TEXT {1+}\r\nx) {2+}\r\nyz\r\n")
    assert c == Append("a", "INBOX", (AppendMessage(b"", catenate=(b"x",)), AppendMessage(b"yz")))
    assert bad("a APPEND INBOX CATENATE ()").message == "expected CATENATE part (TEXT or URL), found ')'"
    assert bad("a APPEND INBOX CATENATE (FILE x)").message == "unknown CATENATE part FILE (TEXT or URL)"
    assert bad('a APPEND INBOX CATENATE (TEXT "x")').message == "expected literal ({n}) of a TEXT part, found '\"'"
    assert bad("a APPEND INBOX CATENATE (URL /INBOX/;UID=1").message == \
        "unbalanced parentheses: missing ')' after a CATENATE part"
    assert bad("a APPEND INBOX CATENATE URL /x").message == "expected '(' starting the CATENATE parts, found 'U'"
    # at most 1000 parts: each URL is a read of the store
    parts = " ".join(["URL /INBOX/;UID=1"] * 1000)
    c = cmd(f"a APPEND Drafts CATENATE ({parts})")
    assert isinstance(c, Append) and len(c.messages[0].catenate or ()) == 1000
    assert bad(f"a APPEND Drafts CATENATE ({parts} TEXT {{1+}}\r\nx)").message == "more than 1000 CATENATE parts"
    assert bad(b"a APPEND Drafts CATENATE (" + b" ".join([b"TEXT {1+}\r\nx"] * 1001) + b")\r\n").message == \
        "more than 1000 CATENATE parts"
    assert bad(f"a REPLACE 1 Drafts CATENATE ({parts} URL /INBOX/;UID=2)").message == "more than 1000 CATENATE parts"
    assert wire.parse_section(b"1.2.MIME") == Section((1, 2), "MIME")
    assert wire.parse_section(b"HEADER.FIELDS (From To)") == Section((), "HEADER.FIELDS", ("From", "To"))
    assert wire.parse_section(b"") == Section()
    with pytest.raises(ParseError):
        wire.parse_section(b"1.X")
    with pytest.raises(ParseError):
        wire.parse_section(b"1]x")


def test_metadata() -> None:
    # RFC 5464 sections 4.2 and 4.3, with the RFC's examples
    assert cmd('a GETMETADATA "" /shared/comment') == GetMetadata("a", "", ("/shared/comment",))
    assert cmd('a GETMETADATA INBOX /private/comment') == GetMetadata("a", "INBOX", ("/private/comment",))
    assert cmd('a GETMETADATA "INBOX" (/shared/comment /private/comment)') == \
        GetMetadata("a", "INBOX", ("/shared/comment", "/private/comment"))
    assert cmd('a GETMETADATA (MAXSIZE 1024) "INBOX" "/shared/comment"') == \
        GetMetadata("a", "INBOX", ("/shared/comment",), 0, 1024)
    assert cmd('a GETMETADATA (DEPTH 1) "INBOX" "/private/filters/values"') == \
        GetMetadata("a", "INBOX", ("/private/filters/values",), 1)
    assert cmd('a GETMETADATA (depth infinity maxsize 5) INBOX ("/shared")') == \
        GetMetadata("a", "INBOX", ("/shared",), -1, 5)
    # the options after the mailbox, as the RFC's section 4.2 examples write them
    assert cmd('a GETMETADATA "INBOX" (MAXSIZE 1024) ("/shared/comment" "/private/comment")') == \
        GetMetadata("a", "INBOX", ("/shared/comment", "/private/comment"), 0, 1024)
    assert cmd("a GETMETADATA INBOX/x (/Shared/Vendor/Acme/X)") == \
        GetMetadata("a", "INBOX/x", ("/Shared/Vendor/Acme/X",))
    assert cmd('a SETMETADATA INBOX (/private/comment "My new comment")') == \
        SetMetadata("a", "INBOX", (("/private/comment", b"My new comment"),))
    assert cmd('a SETMETADATA INBOX (/private/comment NIL /shared/comment "x")') == \
        SetMetadata("a", "INBOX", (("/private/comment", None), ("/shared/comment", b"x")))
    assert cmd(b'a SETMETADATA "" (/shared/comment {6+}\r\na\r\nb\xffc)\r\n') == \
        SetMetadata("a", "", (("/shared/comment", b"a\r\nb\xffc"),))
    assert cmd(b'a SETMETADATA "" (/private/x ~{3+}\r\na\x00b)\r\n') == \
        SetMetadata("a", "", (("/private/x", b"a\x00b"),))
    assert cmd('a SETMETADATA INBOX (/private/x "NIL")') == SetMetadata("a", "INBOX", (("/private/x", b"NIL"),))
    # RFC 5464 3.2: entry names
    assert bad("a GETMETADATA INBOX /comment").message == "an entry name starts with /private/ or /shared/"
    assert bad("a GETMETADATA INBOX /private//x").message == "an entry name may not hold '//'"
    assert bad("a GETMETADATA INBOX /private/x/").message == "an entry name may not end with '/'"
    assert bad('a GETMETADATA INBOX "/private/a*"').message == \
        "an entry name may not hold '*', '%' or control characters"
    assert bad(b'a GETMETADATA INBOX {11}\r\n/private/a\x01\r\n').message == \
        "an entry name may not hold '*', '%' or control characters"
    assert bad('a SETMETADATA INBOX (/shared "x")').message == "/shared names no entry: a name below it is needed"
    assert bad("a GETMETADATA INBOX /privatex").message == "an entry name starts with /private/ or /shared/"
    # the rest of the grammar
    assert bad("a GETMETADATA (DEPTH 2) INBOX /shared/x").message == "DEPTH is 0, 1 or infinity"
    assert bad("a GETMETADATA (COLOR 2) INBOX /shared/x").message == "unknown GETMETADATA option COLOR"
    assert bad("a GETMETADATA (MAXSIZE x) INBOX /shared/x").message == "expected MAXSIZE, found 'x'"
    assert bad("a GETMETADATA INBOX").message == "missing entry names"
    assert bad("a GETMETADATA INBOX (/shared/x").message == \
        "unbalanced parentheses: missing ')' after an entry name"
    assert bad("a SETMETADATA INBOX /shared/x NIL").message == "expected '(' starting the entry values, found '/'"
    assert bad("a SETMETADATA INBOX (/shared/x)").message == "expected a space before entry value, found ')'"
    assert bad(b'a SETMETADATA INBOX (/shared/x {3}\r\na\x00b)\r\n').message == \
        "a NUL byte in a literal (only a literal8 ~{n} may hold one)"
    assert bad("a SETMETADATA INBOX (/shared/x NIL) x").message == "unexpected text after the arguments"


def test_acl() -> None:
    # RFC 4314 section 3
    assert cmd("A035 SETACL INBOX/Drafts John lrswicda") == \
        SetAcl("A035", "INBOX/Drafts", "John", "replace", "lrswicda")
    assert cmd("A036 SETACL INBOX/Drafts Fred +k") == SetAcl("A036", "INBOX/Drafts", "Fred", "add", "k")
    assert cmd('A037 SETACL INBOX/Drafts "Fred" -x0') == SetAcl("A037", "INBOX/Drafts", "Fred", "remove", "x0")
    assert cmd("A001 GETACL INBOX/Drafts") == GetAcl("A001", "INBOX/Drafts")
    assert cmd("A036 DELETEACL INBOX/Drafts Smith") == DeleteAcl("A036", "INBOX/Drafts", "Smith")
    assert cmd("a LISTRIGHTS ~/Mail/saved smith") == ListRights("a", "~/Mail/saved", "smith")
    assert cmd("A003 MYRIGHTS INBOX") == MyRights("A003", "INBOX")
    # RFC 4314 section 3.1: "A002 BAD Uppercase rights are not allowed"
    assert bad("A002 SETACL INBOX/Drafts John lrQswicda").message == \
        "rights are lower-case letters and digits (RFC 4314 section 2)"
    assert bad("a SETACL INBOX John").message == "missing rights"
    assert bad("a DELETEACL INBOX").message == "missing identifier"


def test_compress() -> None:
    assert cmd("t1 COMPRESS DEFLATE") == Compress("t1", "DEFLATE")  # RFC 4978 section 3
    assert cmd("t1 compress deflate") == Compress("t1", "DEFLATE")
    assert bad("t1 COMPRESS LZ4").message == "unknown compression algorithm LZ4 (only DEFLATE)"


# -- the command line in general --------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "tag", "reason"), [
    (b"\r\n", None, "empty command line"),
    (b"", None, "empty command line"),
    (b" NOOP\r\n", None, "bad tag: found ' '"),
    (b"* NOOP\r\n", None, "bad tag: found '*'"),
    (b"+ NOOP\r\n", None, "bad tag: found '+'"),
    (b"a+1 NOOP\r\n", None, "bad tag: found '+'"),
    (b"a(1 NOOP\r\n", None, "bad tag: found '('"),
    (b"\xff\xfe NOOP\r\n", None, "bad tag: found an 8-bit byte outside a quoted string or literal"),
    (b"\x00 NOOP\r\n", None, "bad tag: found a NUL byte"),
    (b"a\x00 NOOP\r\n", None, "bad tag: found a NUL byte"),
    (b"a1\r\n", "a1", "missing command"),
    (b"a1 \r\n", "a1", "missing command"),
    (b"a1 FROBNICATE\r\n", "a1", "unknown command FROBNICATE"),
    (b"a1 UID NOOP\r\n", "a1", "unknown command UID NOOP"),
    (b"a1 UID\r\n", "a1", "missing command after UID"),
    (b"a1 XLIST \"\" *\r\n", "a1", "unknown command XLIST"),
    (b"a1 DONE\r\n", "a1", "unknown command DONE"),  # IDLE's DONE is the session's
    (b"a1 NOOP\x00\r\n", "a1", "unexpected a NUL byte after the arguments"),
    (b"a1 \xc3\xa9\r\n", "a1", "expected command, found an 8-bit byte outside a quoted string or literal"),
    (b"a1 NOOP\rx\r\n", "a1", "unexpected a stray line end after the arguments"),
    (b"a1 NOOP\r\n\r\n", "a1", "unexpected a stray line end after the arguments"),
    (b"a1 SELECT \x01box\r\n", "a1", "expected mailbox name, found a control character"),
    (b"a1 NOOP" + b"\xff" * 100 + b"\r\n", "a1", "unexpected an 8-bit byte outside a quoted string or literal "
     "after the arguments"),
])
def test_command_line_refusals(line: bytes, tag: str | None, reason: str) -> None:
    error = bad(line)
    assert (error.tag, error.message) == (tag, reason)


def test_a_command_without_its_line_end_still_parses() -> None:
    assert parse_command(b"a NOOP") == Noop("a")


# -- sequence sets ---------------------------------------------------------------------------------------

def test_sequence_set_representation() -> None:
    assert seq("1") == SequenceSet(((1, 1),))
    assert seq("*") == SequenceSet(((STAR, STAR),))
    assert seq("5:2,7,9:*,$") == SequenceSet(((5, 2), (7, 7), (9, STAR)), saved=True)
    assert seq("5:2,7,9:*,$").to_bytes() == b"5:2,7,9:*,$"
    assert seq("*").to_bytes() == b"*"
    assert seq("*:4").to_bytes() == b"*:4"
    assert seq("5:2,7,9:*").highest == 9
    assert seq("*").highest == 0
    assert seq("1:*").has_star and not seq("1:5").has_star
    with pytest.raises(ValueError, match="bad sequence set"):
        parse_sequence_set(b"1 2")


def test_sequence_set_resolution() -> None:
    s = seq("5:2,7,9:*,8")
    assert s.resolve(12) == [(2, 5), (7, 12)]
    assert s.resolve(3) == [(2, 9)]  # 9:* with * = 3 is 3:9
    assert list(s.numbers(10)) == [2, 3, 4, 5, 7, 8, 9, 10]
    assert s.contains(4, 10) and not s.contains(6, 10) and s.contains(10, 10) and not s.contains(11, 10)
    assert seq("*").resolve(0) == []  # an empty mailbox: "*" matches nothing
    assert seq("559:*").resolve(500) == [(500, 559)]  # RFC 9051 section 6.4.8: the last UID is included
    assert seq("1:3,2:6,8:9,10").resolve(100) == [(1, 6), (8, 10)]


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=8),
       st.integers(0, 40))
def test_sequence_set_numbers_agree_with_contains(ranges: list[tuple[int, int]], largest: int) -> None:
    text = ",".join(f"{a or '*'}:{b or '*'}" for a, b in ranges)
    s = parse_sequence_set(text.encode())
    expected = {n for n in range(1, 45) if s.contains(n, largest)}
    assert set(s.numbers(largest)) == expected
    assert list(s.numbers(largest)) == sorted(expected)


@given(st.sets(st.integers(1, 4_294_967_295), min_size=1, max_size=60))
def test_compressed_sequence_sets_parse_back(numbers: set[int]) -> None:
    text = responses.sequence_set(numbers)
    command = parse_command(b"a UID FETCH " + text + b" FLAGS\r\n")
    assert isinstance(command, Fetch)
    spans = command.sequence.resolve(1)
    assert sum(high - low + 1 for low, high in spans) == len(numbers)
    assert all(any(low <= n <= high for low, high in spans) for n in numbers)
    assert command.sequence.to_bytes() == text


# -- properties ------------------------------------------------------------------------------------------

TOKENS = [b"a1 ", b"UID ", b"FETCH ", b"STORE ", b"SEARCH ", b"APPEND ", b"LIST ", b"SELECT ", b"SORT ",
          b"THREAD ", b"ID ", b"SETQUOTA ", b"CREATE ", b"STATUS ", b"AUTHENTICATE ", b"LOGIN ", b"(", b")", b" ",
          b"{3}\r\n", b"{0+}\r\n", b"~{2}\r\n", b"1:*", b"$", b"4294967296", b"BODY[", b"BINARY[", b"]", b"<0.5>",
          b"HEADER.FIELDS ", b"MIME", b'"', b"\\", b"NOT ", b"OR ", b"\\Seen", b"+FLAGS", b"QRESYNC ", b"CHARSET ",
          b"RETURN ", b"&AGE-", b"&", b"INBOX", b"1-Jan-2000", b'"1-Jan-2000 00:00:00 +0000"', b"MODSEQ ",
          b"NIL", b"UTF8 ", b"USE ", b"REVERSE ", b"\r\n", b"\x00", b"\xc3\xa9", b"x", b"0", b"=", b"*", b"%"]


@settings(max_examples=1500)
@given(st.binary(max_size=200), st.booleans())
@example(b"a FETCH 1 BODY[" + b"1." * 100 + b"1]\r\n", False)
@example(b"a LOGIN {99999999999999999999}\r\n", False)
@example(b"a SEARCH LARGER " + b"0" * 5000 + b"1\r\n", False)
@example(b"a FETCH " + b"0" * 5000 + b"1 FLAGS\r\n", False)
def test_any_bytes_parse_or_fail_with_parse_error(data: bytes, utf8: bool) -> None:
    try:
        command = parse_command(data, utf8=utf8)
    except ParseError as err:
        assert err.message and (err.tag is None or isinstance(err.tag, str))
    else:
        assert isinstance(command, Command)
    literal_at_end(data)


@settings(max_examples=3000)
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.booleans())
def test_token_soup_parses_or_fails_with_parse_error(tokens: list[bytes], utf8: bool) -> None:
    data = b"".join(tokens)
    with contextlib.suppress(ParseError):
        parse_command(data, utf8=utf8)
    for line in data.splitlines(keepends=True):
        literal_at_end(line)


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.booleans())
@example([b"a1 ", b"FETCH ", b"1:*", b" "], False)  # FETCH's cached tail once took the bytearray itself
def test_a_command_parsed_in_place_is_the_command_parsed_from_bytes(tokens: list[bytes], utf8: bool) -> None:
    """The session reads a command with literals into a bytearray, which a message-sized APPEND is parsed
    from in place: the same command or the same error as from bytes, and literals handed out as bytes."""
    data = b"".join(tokens)

    def outcome(source: bytes) -> object:
        try:
            return _Parser(source, utf8).command()
        except ParseError as err:
            return (err.message, err.tag)

    assert outcome(cast(bytes, bytearray(data))) == outcome(data)  # as parse_command() does


def test_a_large_append_parsed_in_place_gives_bytes() -> None:
    message = b"Subject: big\r\n\r\n" + b"x" * (2 << 20)
    command = parse_command(bytearray(b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(message), message)))
    assert isinstance(command, Append)
    assert type(command.messages[0].data) is bytes and command.messages[0].data == message


text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=40)


@settings(max_examples=500)
@given(text, text)
def test_strings_round_trip_through_the_parser(username: str, password: str) -> None:
    line = b"a LOGIN " + responses.quoted_or_literal(username) + b" " + responses.quoted_or_literal(password)
    assert parse_command(line + b"\r\n") == Login("a", username, password)
    utf8_line = b"a LOGIN " + responses.quoted_or_literal(username, utf8=True) + b" " + \
        responses.quoted_or_literal(password, utf8=True)
    assert parse_command(utf8_line + b"\r\n", utf8=True) == Login("a", username, password)
    # astrings too: atoms where they may be
    line = b"a LOGIN " + responses.atom_or_string(username) + b" " + responses.atom_or_string(password)
    assert parse_command(line + b"\r\n") == Login("a", username, password)


@settings(max_examples=500)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=30))
def test_mailbox_names_round_trip_through_the_parser(name: str) -> None:
    expected = canonical_inbox(name)
    assert parse_command(b"a SELECT " + responses.astring(name) + b"\r\n") == Select("a", expected)
    if "\0" not in name:
        assert parse_command(b"a SELECT " + responses.astring(name, utf8=True) + b"\r\n", utf8=True) == \
            Select("a", expected)
