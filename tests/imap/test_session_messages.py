"""Messages in and out: APPEND with UIDPLUS (RFC 4315), MULTIAPPEND (RFC 3502), BINARY APPEND (RFC 3516),
UTF8 APPEND (RFC 6855), APPENDLIMIT (RFC 7889); STORE; COPY and MOVE (RFC 6851) with COPYUID; EXPUNGE and
UID EXPUNGE; CHECK; message numbers out of range."""

from __future__ import annotations

import re

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import account_id, deliver, logged_in, message, selected


def uidvalidity(w: Wire, mailbox: str) -> int:
    (line,) = w.ok(f"STATUS {mailbox} (UIDVALIDITY)")
    found = re.search(rb"UIDVALIDITY (\d+)", line)
    assert found is not None
    return int(found.group(1))


def fetch_flags(w: Wire, sequence: str = "1:*") -> list[bytes]:
    return w.ok(f"FETCH {sequence} (FLAGS)")


def seen_elsewhere(node: ImapNode, address: str, mailbox: str = "INBOX") -> None:
    """As if another IMAP4rev1 session had selected the mailbox: none of its messages is \\Recent to the
    test's session (RFC 3501 2.3.2), whose FLAGS then show only what the test is about."""
    box = node.running.call(node.mailstore.mailbox(account_id(node, address), mailbox))
    node.running.call(node.mailstore.recent(box.id, claim=True))


# -- APPEND --------------------------------------------------------------------------------------------------

def test_append_answers_appenduid_and_keeps_flags_and_date(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    data = message("appended")
    validity = uidvalidity(w, "INBOX")
    untagged, tagged = w.command(b'APPEND INBOX (\\Seen \\Flagged $Work) "14-Jul-2021 09:30:00 +0200" {%d+}\r\n'
                                 % len(data) + data)
    assert (untagged, tagged) == ([], b"OK [APPENDUID %d 1] APPEND completed" % validity)
    seen_elsewhere(imap_node, address)
    w.ok("SELECT INBOX")
    assert w.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)") == [
        b'* 1 FETCH (FLAGS (\\Seen \\Flagged $Work) INTERNALDATE "14-Jul-2021 07:30:00 +0000" RFC822.SIZE %d)'
        % len(data)]
    assert w.ok("FETCH 1 BODY.PEEK[]") == [b"* 1 FETCH (BODY[] {%d}\r\n" % len(data) + data + b")"]
    w.close()


def test_append_with_synchronizing_literal(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    data = message("sync")
    w.send(b"a1 APPEND Drafts (\\Draft) {%d}\r\n" % len(data))
    assert w.line() == b"+ Ready for literal data"
    w.send(data + b"\r\n")
    _, tagged = w.until(b"a1")
    assert tagged.startswith(b"OK [APPENDUID ")
    assert w.ok("STATUS Drafts (MESSAGES)") == [b"* STATUS Drafts (MESSAGES 1)"]
    w.close()


def test_append_to_a_missing_mailbox_says_trycreate(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    data = message()
    _, tagged = w.command(b"APPEND Nowhere {%d+}\r\n" % len(data) + data)
    assert tagged == b"NO [TRYCREATE] no mailbox Nowhere"
    w.close()


def test_append_refuses_bad_flags_and_dates(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    data = message()
    assert w.command(b"APPEND INBOX (\\Recent) {%d+}\r\n" % len(data) + data)[1] == \
        b"BAD \\Recent is set by the server only"
    assert w.command(b'APPEND INBOX "31-Feb-2021 00:00:00 +0000" {%d+}\r\n' % len(data) + data)[1].startswith(
        b"BAD bad date-time")
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 0)"]
    w.close()


def test_append_to_the_selected_mailbox_announces_it(imap_node: ImapNode) -> None:
    w, _ = selected(imap_node)
    data = message()
    untagged, tagged = w.command(b"APPEND INBOX {%d+}\r\n" % len(data) + data)
    # The session sees the message first: it is \\Recent to it (RFC 3501 6.3.11, 2.3.2).
    assert untagged == [b"* 1 EXISTS", b"* 1 RECENT"] and tagged.startswith(b"OK [APPENDUID ")
    w.close()


def test_multiappend_is_all_or_nothing(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    one, two, three = message("one"), message("two"), message("three")
    validity = uidvalidity(w, "INBOX")
    command = (b"APPEND INBOX (\\Seen) {%d+}\r\n%s {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s"
               % (len(one), one, len(two), two, len(three), three))
    assert w.command(command) == ([], b"OK [APPENDUID %d 1:3] APPEND completed" % validity)
    seen_elsewhere(imap_node, address)
    w.ok("SELECT INBOX")
    assert fetch_flags(w) == [b"* 1 FETCH (FLAGS (\\Seen))", b"* 2 FETCH (FLAGS ())",
                              b"* 3 FETCH (FLAGS (\\Flagged))"]
    w.ok("UNSELECT")
    # Over quota at the second message: none of them is stored (RFC 3502 6.3.11).
    imap_node.running.call(imap_node.running.runtime.directory.update_account_settings(
        address, {"MaxMessages": "4"}))
    _, tagged = w.command(b"APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (len(one), one, len(two), two))
    assert tagged.startswith(b"NO [OVERQUOTA] ")
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 3)"]
    w.close()


def test_binary_append_with_literal8(imap_node: ImapNode) -> None:
    """RFC 3516 4.4: a literal8 may carry NULs and 8-bit content of a binary part."""
    w, _ = logged_in(imap_node)
    data = (b"From: a@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            b"\x00\x01\x02\xff\r\n")
    _, tagged = w.command(b"APPEND INBOX ~{%d+}\r\n" % len(data) + data)
    assert tagged.startswith(b"OK [APPENDUID ")
    w.ok("SELECT INBOX")
    assert w.ok("FETCH 1 BINARY.PEEK[1]") == [b"* 1 FETCH (BINARY[1] ~{6}\r\n\x00\x01\x02\xff\r\n)"]
    assert w.ok("FETCH 1 BINARY.SIZE[1]") == [b"* 1 FETCH (BINARY.SIZE[1] 6)"]
    # A plain literal may not hold a NUL (RFC 3501 4.3).
    assert w.command(b"APPEND INBOX {%d+}\r\n" % len(data) + data)[1].startswith(b"BAD a NUL byte in a literal")
    w.close()


def test_utf8_append(imap_node: ImapNode) -> None:
    """RFC 6855 4: APPEND INBOX UTF8 (~{n}) once UTF8=ACCEPT is enabled."""
    w, _ = logged_in(imap_node)
    data = "From: Jürgen <jürgen@example.org>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    w.ok("ENABLE UTF8=ACCEPT")
    _, tagged = w.command(b"APPEND INBOX UTF8 (~{%d+}\r\n%s)" % (len(data), data))
    assert tagged.startswith(b"OK [APPENDUID ")
    w.ok("SELECT INBOX")
    untagged = w.ok("FETCH 1 ENVELOPE")
    assert untagged == ['* 1 FETCH (ENVELOPE (NIL "Grüße" (("Jürgen" NIL "jürgen" "example.org")) '
                        '(("Jürgen" NIL "jürgen" "example.org")) (("Jürgen" NIL "jürgen" "example.org")) '
                        "NIL NIL NIL NIL NIL))".encode()]
    w.close()


def test_appendlimit_refuses_before_reading_the_literal(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    limit = imap_node.mailstore.max_message_size
    w.send(b"a1 APPEND INBOX {%d}\r\n" % (limit + 1))
    assert w.until(b"a1")[1] == b"NO [TOOBIG] literal larger than %d bytes" % limit
    assert w.command("NOOP")[1] == b"OK NOOP completed"  # nothing of a literal was expected
    w.close()


# -- STORE ----------------------------------------------------------------------------------------------------

def test_store_transcript(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for number in range(3):
        deliver(imap_node, address, message(f"m{number}"))
    w.ok("SELECT INBOX")
    w.ok("SELECT INBOX")  # selected again: the messages are no longer \Recent (RFC 3501 2.3.2)
    # A keyword new to the mailbox is announced in FLAGS first (RFC 3501 7.2.6).
    assert w.command("STORE 1:2 +FLAGS (\\Seen $Important)") == (
        [b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)",
         b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important \\*)] "
         b"flags the client may change",
         b"* 1 FETCH (FLAGS (\\Seen $Important))", b"* 2 FETCH (FLAGS (\\Seen $Important))"],
        b"OK STORE completed")
    assert w.command("STORE 2 -FLAGS ($important)") == ([b"* 2 FETCH (FLAGS (\\Seen))"], b"OK STORE completed")
    assert w.command("STORE 3 FLAGS (\\Answered \\Draft)") == (
        [b"* 3 FETCH (FLAGS (\\Answered \\Draft))"], b"OK STORE completed")
    assert w.command("STORE 1:3 +FLAGS.SILENT (\\Deleted)") == ([], b"OK STORE completed")
    # Messages the STORE did not change are reported too (RFC 3501 6.4.6).
    assert w.command("STORE 1 +FLAGS (\\Seen)") == (
        [b"* 1 FETCH (FLAGS (\\Seen \\Deleted $Important))"], b"OK STORE completed")
    assert w.command("UID STORE 2 -FLAGS (\\Deleted)") == (
        [b"* 2 FETCH (UID 2 FLAGS (\\Seen))"], b"OK STORE completed")
    assert w.command("STORE 1 FLAGS ()") == ([b"* 1 FETCH (FLAGS ())"], b"OK STORE completed")
    assert w.command("STORE 1 +FLAGS \\Seen \\Flagged") == (
        [b"* 1 FETCH (FLAGS (\\Seen \\Flagged))"], b"OK STORE completed")
    w.close()


def test_store_refusals(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message())
    seen_elsewhere(imap_node, address)
    w.ok("SELECT INBOX")
    assert w.command("STORE 1 +FLAGS (\\Recent)")[1] == b"BAD \\Recent is set by the server only"
    assert w.command("STORE 1 +FLAGS (\\Bogus)")[1].startswith(b"BAD unknown system flag")
    assert w.command("STORE 2 +FLAGS (\\Seen)")[1] == b"BAD message number 2 is beyond the 1 messages of the mailbox"
    assert w.command("STORE 1 +FLAGZ (\\Seen)")[1].startswith(b"BAD expected FLAGS")
    many = " ".join(f"k{i}" for i in range(60))
    assert w.command(f"STORE 1 +FLAGS ({many})")[1].startswith(b"BAD at most 50 keywords")
    assert w.command("UID STORE 99 +FLAGS (\\Seen)") == ([], b"OK STORE completed")  # no such UID: nothing
    assert fetch_flags(w) == [b"* 1 FETCH (FLAGS ())"]
    w.close()


# -- COPY and MOVE --------------------------------------------------------------------------------------------

def test_copy_with_copyuid(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for number in range(4):
        deliver(imap_node, address, message(f"m{number}"), flags=["\\Seen"] if number == 1 else [])
    validity = uidvalidity(w, "Archive")
    w.ok("SELECT INBOX")
    assert w.command("COPY 2:3 Archive") == ([], b"OK [COPYUID %d 2:3 1:2] COPY completed" % validity)
    assert w.command("UID COPY 4,1 Archive") == ([], b"OK [COPYUID %d 1,4 3:4] COPY completed" % validity)
    assert w.command("UID COPY 10:20 Archive") == ([], b"OK COPY completed (nothing matched)")
    assert w.command("COPY 1 Nowhere")[1] == b"NO [TRYCREATE] no mailbox Nowhere"
    assert w.ok("STATUS Archive (MESSAGES UNSEEN)") == [b"* STATUS Archive (MESSAGES 4 UNSEEN 3)"]
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 4)"]
    seen_elsewhere(imap_node, address, "Archive")
    w.ok("SELECT Archive")
    assert fetch_flags(w, "1") == [b"* 1 FETCH (FLAGS (\\Seen))"]
    w.close()


def test_move_transcript(imap_node: ImapNode) -> None:
    """RFC 6851 4.3: COPYUID in an untagged OK, then the expunges, then the tagged OK."""
    w, address = logged_in(imap_node)
    for number in range(5):
        deliver(imap_node, address, message(f"m{number}"))
    validity = uidvalidity(w, "Trash")
    w.ok("SELECT INBOX")
    assert w.command("MOVE 2:3 Trash") == (
        [b"* OK [COPYUID %d 2:3 1:2] moved" % validity, b"* 2 EXPUNGE", b"* 2 EXPUNGE"], b"OK MOVE completed")
    assert w.command("UID MOVE 5 Trash") == (
        [b"* OK [COPYUID %d 5 3] moved" % validity, b"* 3 EXPUNGE"], b"OK MOVE completed")
    assert w.command("UID MOVE 2 Trash") == ([], b"OK MOVE completed (nothing matched)")
    assert w.command("MOVE 1 Nowhere")[1] == b"NO [TRYCREATE] no mailbox Nowhere"
    assert w.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 4)"]
    assert w.ok("STATUS Trash (MESSAGES)") == [b"* STATUS Trash (MESSAGES 3)"]
    w.ok("EXAMINE INBOX")
    assert w.command("MOVE 1 Trash")[1].startswith(b"NO [READ-ONLY] ")
    w.close()


def test_move_with_qresync_says_vanished(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for number in range(3):
        deliver(imap_node, address, message(f"m{number}"))
    w.ok("ENABLE QRESYNC")
    w.ok("SELECT INBOX")
    untagged, tagged = w.command("MOVE 1:2 Junk")
    assert untagged[1:] == [b"* VANISHED 1:2"] and tagged == b"OK MOVE completed"
    w.close()


# -- EXPUNGE ----------------------------------------------------------------------------------------------------

def test_expunge_transcript(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for number in range(6):
        deliver(imap_node, address, message(f"m{number}"), flags=["\\Deleted"] if number in (1, 2, 4) else [])
    w.ok("SELECT INBOX")
    # RFC 3501 6.4.3's example: each EXPUNGE names the message number at the time it is sent.
    assert w.command("EXPUNGE") == ([b"* 2 EXPUNGE", b"* 2 EXPUNGE", b"* 3 EXPUNGE"], b"OK EXPUNGE completed")
    assert w.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 4)", b"* 3 FETCH (UID 6)"]
    assert w.command("EXPUNGE") == ([], b"OK EXPUNGE completed")
    w.close()


def test_uid_expunge_only_removes_the_named_messages(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for number in range(3):
        deliver(imap_node, address, message(f"m{number}"), flags=["\\Deleted"])
    seen_elsewhere(imap_node, address)
    w.ok("SELECT INBOX")
    assert w.command("UID EXPUNGE 2:3") == ([b"* 2 EXPUNGE", b"* 2 EXPUNGE"], b"OK EXPUNGE completed")
    assert w.ok("FETCH 1:* (UID FLAGS)") == [b"* 1 FETCH (UID 1 FLAGS (\\Deleted))"]
    w.close()


def test_expunge_with_condstore_reports_highestmodseq(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message(), flags=["\\Deleted"])
    w.ok("ENABLE CONDSTORE")
    w.ok("SELECT INBOX")
    untagged, tagged = w.command("EXPUNGE")
    assert untagged == [b"* 1 EXPUNGE"]
    assert tagged == b"OK [HIGHESTMODSEQ 3] EXPUNGE completed"
    w.close()


def test_check(imap_node: ImapNode) -> None:
    w, _ = selected(imap_node)
    assert w.command("CHECK") == ([], b"OK CHECK completed")
    w.close()


# -- message numbers ---------------------------------------------------------------------------------------------

def test_message_numbers_beyond_the_mailbox_are_bad(imap_node: ImapNode) -> None:
    """RFC 9051 9 (seq-number): a number above the message count, or "*" in an empty mailbox, is BAD."""
    w, address = selected(imap_node)
    assert w.command("FETCH * FLAGS")[1] == b"BAD there are no messages in the mailbox"
    assert w.command("FETCH 1:* FLAGS")[1].startswith(b"BAD ")
    assert w.command("UID FETCH 1:* FLAGS") == ([], b"OK FETCH completed")
    assert w.command("UID FETCH 1:4294967295 FLAGS") == ([], b"OK FETCH completed")
    deliver(imap_node, address, message())
    seen_elsewhere(imap_node, address)
    assert w.ok("NOOP") == [b"* 1 EXISTS", b"* 0 RECENT"]
    assert w.command("FETCH 1:4294967295 FLAGS")[1] == \
        b"BAD message number 4294967295 is beyond the 1 messages of the mailbox"
    assert w.command("FETCH 4294967296 FLAGS")[1].startswith(b"BAD sequence number 4294967296 is out of range")
    assert w.command("FETCH 0 FLAGS")[1] == b"BAD sequence numbers start at 1, not 0"
    assert w.command("FETCH 1:* FLAGS") == ([b"* 1 FETCH (FLAGS ())"], b"OK FETCH completed")
    assert w.command("FETCH *:1 UID") == ([b"* 1 FETCH (UID 1)"], b"OK FETCH completed")
    w.close()
