"""Bad input: malformed commands get BAD with the reason and the session goes on; literals over their limit
are refused before they are read ([TOOBIG]); deep nesting, huge sequence sets, invalid mailbox names,
over-long lines, 8-bit garbage and NULs get clear errors; a client that disconnects mid-APPEND stores
nothing; compressed input cannot inflate without bound."""

from __future__ import annotations

import random
import socket
import time
import zlib

import pytest

from tests.imap.conftest import SMALL_LIMIT, ImapNode, Wire
from tests.imap.support import compress, logged_in, message, selected

APPENDLIMIT = SMALL_LIMIT


@pytest.fixture(scope="module")
def imap_node(small_node: ImapNode) -> ImapNode:
    """This module's node takes messages up to APPENDLIMIT bytes, so refusals are cheap to provoke."""
    return small_node


def still_serving(w: Wire) -> None:
    assert w.command("NOOP")[1] == b"OK NOOP completed"


# -- malformed commands ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "answer"), [
    (b"\r\n", b"* BAD empty command line"),
    (b"(bad NOOP\r\n", b"* BAD bad tag: found '('"),
    (b"a+b NOOP\r\n", b"* BAD bad tag: found '+'"),
    (b"a1\r\n", b"a1 BAD missing command"),
    (b"a1 FROBNICATE\r\n", b"a1 BAD unknown command FROBNICATE"),
    (b"a1 UID FROB 1\r\n", b"a1 BAD unknown command UID FROB"),
    (b"a1 NOOP extra\r\n", b"a1 BAD unexpected text after the arguments"),
    (b"a1 SELECT\r\n", b"a1 BAD missing mailbox name"),
    (b'a1 SELECT "INBOX\r\n', b"a1 BAD unterminated quoted string"),
    (b'a1 SELECT "IN\\BOX"\r\n', b'a1 BAD a backslash in a quoted string may only escape " or \\'),
    (b"a1 STATUS INBOX (MESSAGES\r\n", b"a1 BAD unbalanced parentheses: missing ')' after a status item"),
    (b"a1 STATUS INBOX MESSAGES)\r\n", b"a1 BAD expected '(' starting status items, found 'M'"),
    (b"a1 LIST \"\" * RETURN (STATUS (MESSAGES)))\r\n", b"a1 BAD unbalanced parentheses: unexpected ')'"),
    (b"a1 LOGIN a\x00b c\r\n", b"a1 BAD expected a space before password, found a NUL byte"),
    (b"a1 LOGIN \xff\xfe x\r\n", b"a1 BAD expected user name, found an 8-bit byte outside a quoted string or literal"),
    (b"a1 LOGIN \"a\x00\" c\r\n", b"a1 BAD a NUL byte in a quoted string"),
    (b"a1 LOGIN {3}x\r\n", b"a1 BAD malformed literal: expected {n} or {n+} and the line end"),
    (b"a1 ID (\"a\" \"b\"\r\n", b"a1 BAD unbalanced parentheses: missing ')' after an ID value"),
])
def test_malformed_commands_are_bad_and_the_session_goes_on(imap_node: ImapNode, line: bytes,
                                                             answer: bytes) -> None:
    w = Wire(imap_node.port)
    w.send(line)
    assert w.line() == answer
    still_serving(w)
    w.close()


def test_bare_line_feeds_are_accepted(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    w.send(b"a1 NOOP\n")
    assert w.until(b"a1")[1] == b"OK NOOP completed"
    w.close()


def test_malformed_commands_in_the_selected_state(imap_node: ImapNode) -> None:
    w, _ = selected(imap_node)
    w.ok(b"APPEND INBOX {%d+}\r\n" % len(message()) + message())
    cases = {
        "FETCH": b"BAD missing sequence set",
        "FETCH 1": b"BAD missing message data items",
        "FETCH 1 (FLAGS": b"BAD unbalanced parentheses: missing ')' after a FETCH item",
        "FETCH 1 BOGUS": b"BAD unknown FETCH item BOGUS",
        "FETCH 1 BODY[": b"BAD missing ']' closing the section",
        "FETCH 1 BODY[0]": b"BAD section part numbers run from 1 to 4294967295",
        "FETCH 1 BODY[1.HEADER.BOGUS]": b"BAD bad section 1.HEADER.BOGUS",
        "FETCH 1 BODY[]<5>": b"BAD bad partial: expected <origin.length>",
        "FETCH 1 BODY[]<0.0>": b"BAD partial origin or length out of range",
        "FETCH a:b FLAGS": b"BAD expected sequence set, found 'a'",
        "FETCH 1:: FLAGS": b"BAD bad sequence number ':'",
        "FETCH 1,,2 FLAGS": b"BAD bad sequence number ''",
        "STORE 1 FLAGS": b"BAD missing flags",
        "STORE 1 FLAGS (\\Seen": b"BAD unbalanced parentheses: missing ')' after a flag",
        "SEARCH": b"BAD missing search keys",
        "SEARCH BOGUS": b"BAD unknown search key BOGUS",
        "SEARCH SINCE 32-Jan-2020": b"BAD bad date 32-Jan-2020",
        "SEARCH LARGER x": b"BAD expected size, found 'x'",
        "SEARCH OR SEEN": b"BAD missing second key of OR",
        "SEARCH ()": b"BAD empty parentheses where a search key should be",
        "COPY 1": b"BAD missing mailbox name",
        "UID EXPUNGE": b"BAD missing UID set",
        "SORT (DATE)": b"BAD missing charset",
    }
    for command, answer in cases.items():
        assert w.command(command)[1] == answer, command
    still_serving(w)
    w.close()


# -- limits ---------------------------------------------------------------------------------------------------

def test_over_long_lines(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    w.send(b"a1 NOOP " + b"x" * 100_000 + b"\r\n")
    assert w.line() == b"* BAD command line longer than 65536 bytes; nothing was done"
    still_serving(w)
    w.close()


def test_deep_nesting(imap_node: ImapNode) -> None:
    w, _ = selected(imap_node)
    w.ok(b"APPEND INBOX {%d+}\r\n" % len(message()) + message())
    assert w.command("SEARCH " + "(" * 5000 + "ALL" + ")" * 5000)[1] == b"BAD search keys nested deeper than 64 levels"
    assert w.command("SEARCH " + "NOT " * 5000 + "ALL")[1] == b"BAD search keys nested deeper than 64 levels"
    assert w.command("SEARCH " + "OR ALL " * 5000 + "ALL")[1] == b"BAD search keys nested deeper than 64 levels"
    assert w.command("FETCH 1 BODY.PEEK[" + ".".join(["1"] * 100) + "]")[1] == \
        b"BAD section part nested deeper than 64 levels"
    still_serving(w)
    w.close()


def test_huge_sequence_sets(imap_node: ImapNode) -> None:
    w, _ = selected(imap_node)
    w.ok(b"APPEND INBOX {%d+}\r\n" % len(message()) + message())
    assert w.command("UID FETCH 1:4294967295 (UID)") == ([b"* 1 FETCH (UID 1)"], b"OK FETCH completed")
    assert w.command("UID STORE 1:4294967295 +FLAGS (\\Seen)")[1] == b"OK STORE completed"
    assert w.command("UID COPY 1:4294967295 Trash")[1].startswith(b"OK [COPYUID ")
    assert w.command("UID EXPUNGE 1:4294967295")[1] == b"OK EXPUNGE completed"
    assert w.command("FETCH 1:4294967295 FLAGS")[1].startswith(b"BAD message number 4294967295 is beyond")
    assert w.command("UID FETCH 1:4294967296 FLAGS")[1] == \
        b"BAD sequence number 4294967296 is out of range (1 to 4294967295)"
    assert w.command("UID FETCH 99999999999999999999999 FLAGS")[1].startswith(b"BAD sequence number ")
    many = ",".join(str(n) for n in range(1, 12_000))  # under the line limit, 12,000 items
    assert w.command(f"UID FETCH {many} (UID)") == ([b"* 1 FETCH (UID 1)"], b"OK FETCH completed")
    still_serving(w)
    w.close()


def test_small_literals_over_their_limit(imap_node: ImapNode) -> None:
    """Names, passwords and search strings are small: 64 KiB at most, refused before the "+"."""
    w = Wire(imap_node.port)
    w.send(b"a1 LOGIN {100000}\r\n")
    assert w.line() == b"a1 NO [TOOBIG] literal larger than 65536 bytes"
    still_serving(w)
    w.close()


def test_append_over_the_limit_is_refused_before_the_literal(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.send(b"a1 APPEND INBOX {%d}\r\n" % (APPENDLIMIT + 1))
    assert w.line() == b"a1 NO [TOOBIG] literal larger than %d bytes" % APPENDLIMIT
    still_serving(w)
    # LITERAL+: the client sends the bytes without waiting; they are read into nothing.
    w.send(b"a2 APPEND INBOX {%d+}\r\n" % (APPENDLIMIT + 1) + b"x" * (APPENDLIMIT + 1) + b"\r\n")
    assert w.until(b"a2")[1] == b"NO [TOOBIG] literal larger than %d bytes" % APPENDLIMIT
    # ... also when a MULTIAPPEND's second message is the one too big.
    small = message()
    w.send(b"a3 APPEND INBOX {%d+}\r\n%s {%d+}\r\n" % (len(small), small, APPENDLIMIT * 2) +
           b"y" * (APPENDLIMIT * 2) + b"\r\n")
    assert w.until(b"a3")[1] == b"NO [TOOBIG] literal larger than %d bytes" % APPENDLIMIT
    still_serving(w)
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 0)"]
    w.close()


def test_a_message_at_the_limit_is_taken(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    data = message(body="z" * (APPENDLIMIT - len(message(body=""))))
    assert len(data) == APPENDLIMIT
    w.ok(b"APPEND INBOX {%d+}\r\n" % len(data) + data)
    w.close()


# -- disconnects --------------------------------------------------------------------------------------------

def test_disconnect_mid_append_stores_nothing(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    data = message(body="partial " * 100)
    w.send(b"a1 APPEND INBOX {%d}\r\n" % len(data))
    assert w.line().startswith(b"+ ")
    w.send(data[:len(data) // 2])
    w.close()
    # A MULTIAPPEND whose first message arrived whole and second did not: nothing either.
    w2, _ = logged_in(imap_node, address)
    w2.send(b"a1 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (len(data), data, len(data), data[:100]))
    w2.sock.shutdown(socket.SHUT_WR)
    w2.close()
    # A reset mid-literal, too.
    w3, _ = logged_in(imap_node, address)
    w3.send(b"a1 APPEND INBOX {%d+}\r\n%s" % (len(data), data[:100]))
    w3.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    w3.close()
    check, _ = logged_in(imap_node, address)
    assert check.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 0)"]
    check.close()


# -- garbage ------------------------------------------------------------------------------------------------

def test_random_garbage_gets_an_answer_for_every_line(imap_node: ImapNode) -> None:
    rng = random.Random(3501)
    w, _ = selected(imap_node)
    w.ok(b"APPEND INBOX {%d+}\r\n" % len(message()) + message())
    alphabet = bytes(b for b in range(256) if b not in b"\r\n{}")
    for _ in range(200):
        garbage = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        w.send(b"g " + garbage + b"\r\n")
        line = w.line()
        while line.startswith(b"* ") and not line.startswith(b"* BAD"):
            line = w.line()  # an untagged answer of a command that happened to parse
        assert line.startswith((b"g BAD ", b"g NO ", b"g OK ", b"* BAD ")), (garbage, line)
    still_serving(w)
    w.close()


def test_commands_made_of_nul_and_8bit_bytes(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    for junk in (b"\x00" * 10, b"\xff" * 10, b"a1 \x00NOOP", b"a1 NOOP\x00", b"\x80\x81 NOOP"):
        w.send(junk + b"\r\n")
        assert b"BAD " in w.line(), junk
    still_serving(w)
    w.close()


def test_nul_in_a_literal_needs_literal8(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command(b"SELECT {3+}\r\nI\x00X")[1] == b"BAD a NUL byte in a literal (only a literal8 ~{n} may hold one)"
    assert w.command(b"SELECT ~{5+}\r\nINBOX")[1] == b"BAD a literal8 (~{n}) is allowed only for APPEND's message"
    still_serving(w)
    w.close()


def test_invalid_mailbox_names_in_every_command(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    for command in ("SELECT", "EXAMINE", "CREATE", "DELETE", "SUBSCRIBE", "STATUS", "GETQUOTAROOT"):
        suffix = " (MESSAGES)" if command == "STATUS" else ""
        _, tagged = w.command(f"{command} &Jjo{suffix}")
        # The command is well-formed; the name is not modified UTF-7: NO (RFC 3501 5.1.3), not BAD.
        assert tagged.startswith(b"NO [CANNOT] mailbox name is not valid modified UTF-7"), (command, tagged)
    assert w.command("RENAME INBOX &-&")[1].startswith(b"NO [CANNOT] new mailbox name is not valid modified UTF-7")
    still_serving(w)
    w.close()


def test_compressed_input_cannot_inflate_without_bound(imap_node: ImapNode) -> None:
    """Ten megabytes of one line, deflated to a few kilobytes: refused as an over-long line, and the next
    command is answered."""
    w, _ = logged_in(imap_node)
    deflated = compress(w)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = bomb.compress(b"a1 NOOP " + b"a" * 10_000_000 + b"\r\nb1 NOOP\r\n") + bomb.flush(zlib.Z_SYNC_FLUSH)
    assert len(packed) < 20_000
    deflated.sock.sendall(packed)
    deflated.compressor = bomb  # the stream goes on from here
    assert w.line() == b"* BAD command line longer than 65536 bytes; nothing was done"
    assert w.until(b"b1")[1] == b"OK NOOP completed"
    still_serving(w)
    w.close()


def test_compressed_over_long_line_in_many_packets_is_refused_and_the_session_goes_on(imap_node: ImapNode) -> None:
    """Issue 12 item 5: 100 MB of one line, deflated to about 100 KB and sent in packets that each inflate to
    megabytes; the session, already dropping the line when the next packet came, used to hang until the
    idle timeout."""
    w, _ = logged_in(imap_node)
    deflated = compress(w)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = bomb.compress(b"a1 NOOP " + b"A" * 100_000_000) + bomb.flush(zlib.Z_SYNC_FLUSH)
    assert len(packed) < 120_000
    for start in range(0, len(packed), 16_384):
        deflated.sock.sendall(packed[start:start + 16_384])
        time.sleep(0.02)  # each packet comes on its own, while the session drops the line
    deflated.compressor = bomb  # the stream goes on from here
    deflated.sendall(b"\r\nb1 NOOP\r\n")
    w.sock.settimeout(5)  # the idle timeout is far longer: a hang fails here
    assert w.line() == b"* BAD command line longer than 65536 bytes; nothing was done"
    assert w.until(b"b1")[1] == b"OK NOOP completed"
    still_serving(w)
    w.close()


def test_disconnect_mid_replace_appends_nothing_and_keeps_the_old_message(imap_node: ImapNode) -> None:
    """REPLACE's literal cut short, by a close after the "+" or mid-LITERAL+ with a reset: nothing appended to
    the target, the old message still in its mailbox."""
    w, address = selected(imap_node, "Drafts")
    w.ok(b"APPEND Drafts {%d+}\r\n" % len(message("old")) + message("old"))
    data = message(body="replacement " * 100)
    w.send(b"r1 UID REPLACE 1 Trash {%d}\r\n" % len(data))
    assert w.line().startswith(b"+ ")
    w.send(data[:len(data) // 2])
    w.close()
    w2, _ = selected(imap_node, "Drafts", address)
    w2.send(b"r1 UID REPLACE 1 Trash {%d+}\r\n%s" % (len(data), data[:100]))
    w2.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    w2.close()
    check, _ = logged_in(imap_node, address)
    assert check.ok("STATUS Trash (MESSAGES)") == [b"* STATUS Trash (MESSAGES 0)"]
    check.ok("EXAMINE Drafts")
    assert check.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])") == [
        b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: old\r\n\r\n)"]
    check.close()


@pytest.mark.parametrize(("line", "answer"), [
    (b"NOTIFY SET " + b" ".join([b"(personal NONE)"] * 101), b"BAD more than 100 event groups"),
    (b"NOTIFY SET (mailboxes (" + b" ".join(b"box%d" % n for n in range(101)) + b") (MessageNew))",
     b"BAD more than 100 mailboxes in an event group"),
    (b"URLFETCH " + b" ".join(b"imap://u@h/INBOX/;UID=%d" % n for n in range(1, 102)), b"BAD more than 100 URLs"),
    (b"GENURLAUTH " + b" ".join(b"imap://u@h/INBOX/;UID=%d;URLAUTH=anonymous INTERNAL" % n for n in range(1, 102)),
     b"BAD more than 100 URLs"),
    (b"APPEND Drafts CATENATE (" + b" ".join([b"URL /INBOX/;UID=1"] * 1001) + b")",
     b"BAD more than 1000 CATENATE parts"),
])
def test_too_many_items_in_one_command_are_bad_and_the_session_goes_on(imap_node: ImapNode, line: bytes,
                                                                      answer: bytes) -> None:
    w, _ = logged_in(imap_node)
    assert w.command(line) == ([], answer)
    still_serving(w)
    assert w.ok("STATUS Drafts (MESSAGES)") == [b"* STATUS Drafts (MESSAGES 0)"]
    w.close()
