"""SEARCH (RFC 3501/9051 6.4.4) with every key and CHARSET UTF-8, ESEARCH (RFC 4731), SEARCHRES (RFC 5182),
WITHIN (RFC 5032), OBJECTID keys (RFC 8474); SORT and THREAD (RFC 5256) with SORT=DISPLAY (RFC 5957); and a
search over a hundred thousand messages."""

from __future__ import annotations

import re
import time

import pytest

from polyport.store import Statement, Unit
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import account_id, deliver, logged_in, message


def literal(text: str) -> bytes:
    data = text.encode()
    return b"{%d+}\r\n" % len(data) + data


def search(w: Wire, criteria: str | bytes) -> list[int]:
    """The numbers a plain SEARCH answers."""
    command = criteria if isinstance(criteria, bytes) else criteria.encode()
    untagged, tagged = w.command(b"SEARCH " + command)
    assert tagged == b"OK SEARCH completed", (criteria, tagged)
    lines = [line for line in untagged if line.startswith(b"* SEARCH")]
    assert len(lines) == 1, untagged
    return [int(n) for n in lines[0][len(b"* SEARCH"):].split()]


# Six messages with different senders, dates, sizes, flags, headers and bodies.
MESSAGES = [
    (message("Quarterly report", sender="Alice <alice@example.org>", to="bob@example.com",
             date="Mon, 7 Feb 1994 21:52:25 -0800", body="Numbers are up.\r\n",
             message_id="<q1@example.org>", headers=["X-Priority: 1", "Cc: carol@example.net"]),
     ["\\Seen"], "01-Feb-1994 10:00:00 +0000"),
    (message("=?utf-8?q?Caf=C3=A9_visit?=", sender="=?utf-8?q?Ren=C3=A9?= <rene@example.fr>",
             date="Tue, 8 Feb 1994 08:00:00 +0100",
             headers=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                      "Content-Transfer-Encoding: quoted-printable", "X-Mood: =?utf-8?q?gl=C3=BCcklich?="],
             body="Le caf=C3=A9 est tr=C3=A8s bon.\r\n"), ["\\Flagged"], "08-Feb-1994 10:00:00 +0000"),
    (message("Re: Quarterly report", sender="Bob <bob@example.com>", to="alice@example.org",
             date="Wed, 9 Feb 1994 12:00:00 +0000", body="Good to hear. " + "x" * 2000 + "\r\n",
             headers=["In-Reply-To: <q1@example.org>"]),
     ["\\Answered", "$Work"], "09-Feb-1994 10:00:00 +0000"),
    (message("Holiday", sender="Dave <dave@example.net>", date="Thu, 10 Feb 1994 12:00:00 +0000",
             headers=["Bcc: eve@example.org"], body="Beach.\r\n"), ["\\Deleted", "\\Draft"],
     "10-Feb-1994 10:00:00 +0000"),
    (message("Base64 body", sender="Alice <alice@example.org>", date="Fri, 11 Feb 1994 12:00:00 +0000",
             headers=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                      "Content-Transfer-Encoding: base64"],
             body="SGlkZGVuIG5lZWRsZSBpbiBiYXNlNjQ=\r\n"), [], "11-Feb-1994 10:00:00 +0000"),
    (message("No date", sender="Zed <zed@example.org>", date="", body="Last one.\r\n"), ["$work"],
     "12-Feb-1994 10:00:00 +0000"),
]


@pytest.fixture
def mailbox(imap_node: ImapNode) -> Wire:
    w, _ = logged_in(imap_node)
    for data, flags, date in MESSAGES:
        if b"Date: \r\n" in data:
            data = data.replace(b"Date: \r\n", b"")
        flag_list = " ".join(flags)
        w.ok(f'APPEND INBOX ({flag_list}) "{date}" {{{len(data)}+}}\r\n'.encode() + data)
    w.ok("SELECT INBOX")
    return w


CASES = {
    "ALL": [1, 2, 3, 4, 5, 6],
    "SEEN": [1], "UNSEEN": [2, 3, 4, 5, 6],
    "FLAGGED": [2], "UNFLAGGED": [1, 3, 4, 5, 6],
    "ANSWERED": [3], "UNANSWERED": [1, 2, 4, 5, 6],
    "DELETED": [4], "UNDELETED": [1, 2, 3, 5, 6],
    "DRAFT": [4], "UNDRAFT": [1, 2, 3, 5, 6],
    "KEYWORD $WORK": [3, 6], "UNKEYWORD $Work": [1, 2, 4, 5],
    # The session is the first to select the mailbox: every message is \\Recent to it (RFC 3501 2.3.2).
    "RECENT": [1, 2, 3, 4, 5, 6], "NEW": [2, 3, 4, 5, 6], "OLD": [],
    "2:4": [2, 3, 4], "*": [6], "5:*": [5, 6], "1,3,9": [1, 3],
    "UID 2:3": [2, 3], "UID 6:4294967295": [6],
    "FROM alice": [1, 5], "FROM ALICE@EXAMPLE": [1, 5], "FROM rene": [2],
    "TO bob@example.com": [1, 2, 4, 5, 6], "CC carol": [1], "BCC eve": [4],
    "SUBJECT quarterly": [1, 3], 'SUBJECT "re: quarterly"': [3], "SUBJECT cafe": [],
    "HEADER X-Priority 1": [1], 'HEADER x-priority ""': [1], 'HEADER X-Missing ""': [],
    "HEADER Message-ID q1@": [1], 'HEADER In-Reply-To ""': [3],
    "BODY numbers": [1], "BODY needle": [5], "TEXT Holiday": [4], "TEXT beach": [4], "BODY holiday": [],
    "LARGER 1000": [3], "SMALLER 200": [4, 6], "NOT LARGER 1000": [1, 2, 4, 5, 6],
    "BEFORE 9-Feb-1994": [1, 2], "ON 9-Feb-1994": [3], "SINCE 11-Feb-1994": [5, 6],
    # Sent dates are the Date header's own day, whatever its zone (RFC 3501 6.4.4).
    "SENTON 7-Feb-1994": [1], "SENTBEFORE 9-Feb-1994": [1, 2], "SENTSINCE 10-Feb-1994": [4, 5],
    "OR SEEN FLAGGED": [1, 2], "NOT SEEN": [2, 3, 4, 5, 6], "OR (SEEN) (OR DRAFT ANSWERED)": [1, 3, 4],
    "(FROM alice SEEN)": [1], "FROM alice SEEN": [1], "NOT (FROM alice)": [2, 3, 4, 6],
    "SEEN UNSEEN": [], "OLDER 1": [1, 2, 3, 4, 5, 6], "YOUNGER 1": [],
}


def test_search_keys(mailbox: Wire) -> None:
    for criteria, expected in CASES.items():
        assert search(mailbox, criteria) == expected, criteria


def test_search_charset_utf8(mailbox: Wire) -> None:
    w = mailbox
    assert search(w, b"CHARSET UTF-8 SUBJECT " + literal("café")) == [2]  # RFC 2047 words are decoded
    assert search(w, b"CHARSET UTF-8 FROM " + literal("rené")) == [2]
    assert search(w, b"CHARSET UTF-8 BODY " + literal("trè")) == [2]  # quoted-printable decoded
    assert search(w, b"CHARSET UTF-8 HEADER X-Mood " + literal("GLÜCKLICH")) == [2]
    assert search(w, b"CHARSET US-ASCII SUBJECT report") == [1, 3]
    assert search(w, b'CHARSET "utf-8" TEXT caf') == [2]
    _, tagged = w.command("SEARCH CHARSET ISO-8859-15 SUBJECT x")
    assert tagged == b"NO [BADCHARSET (US-ASCII UTF-8)] unsupported charset ISO-8859-15"
    # 8-bit text goes in a literal unless UTF8=ACCEPT is on (RFC 6855 3).
    assert w.command(b'SEARCH CHARSET UTF-8 SUBJECT "caf\xc3\xa9"')[1].startswith(b"BAD ")
    assert w.command(b"SEARCH SUBJECT {2+}\r\n\xc3(")[1] == b"BAD SUBJECT string is not valid UTF-8"
    w.ok("ENABLE UTF8=ACCEPT")
    assert search(w, 'SUBJECT "café"'.encode()) == [2]


def test_uid_search_and_sequence_numbers_after_expunge(mailbox: Wire) -> None:
    w = mailbox
    w.ok("EXPUNGE")  # message 4 (\Deleted) goes; 5 and 6 become 4 and 5
    assert search(w, "FROM alice") == [1, 4]
    untagged, _ = w.command("UID SEARCH FROM alice")
    assert untagged == [b"* SEARCH 1 5"]
    assert w.command("UID SEARCH UID 4")[0] == [b"* SEARCH"]


def test_esearch(mailbox: Wire) -> None:
    """RFC 4731: RETURN (MIN MAX COUNT ALL), ESEARCH with the command's tag."""
    w = mailbox
    w.send(b"e1 SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN\r\n")
    assert w.until(b"e1") == ([b'* ESEARCH (TAG "e1") MIN 2 MAX 6 COUNT 5 ALL 2:6'], b"OK SEARCH completed")
    w.send(b"e2 UID SEARCH RETURN (COUNT) SEEN\r\n")
    assert w.until(b"e2") == ([b'* ESEARCH (TAG "e2") UID COUNT 1'], b"OK SEARCH completed")
    w.send(b"e3 SEARCH RETURN () FROM alice\r\n")
    assert w.until(b"e3") == ([b'* ESEARCH (TAG "e3") ALL 1,5'], b"OK SEARCH completed")
    w.send(b"e4 SEARCH RETURN (MIN MAX) FROM nobody\r\n")
    assert w.until(b"e4") == ([b'* ESEARCH (TAG "e4")'], b"OK SEARCH completed")
    assert w.command("SEARCH RETURN (BOGUS) ALL")[1].startswith(b"BAD unknown search return option")


def test_imap4rev2_search_answers_esearch(mailbox: Wire) -> None:
    w = mailbox
    w.ok("ENABLE IMAP4rev2")
    w.send(b"r1 SEARCH SEEN\r\n")
    assert w.until(b"r1") == ([b'* ESEARCH (TAG "r1") ALL 1'], b"OK SEARCH completed")


def test_searchres(mailbox: Wire) -> None:
    """RFC 5182: RETURN (SAVE) keeps the result as "$" for later commands."""
    w = mailbox
    assert w.command("SEARCH RETURN (SAVE) FROM alice") == ([], b"OK SEARCH completed, result saved")
    assert w.ok("FETCH $ (UID)") == [b"* 1 FETCH (UID 1)", b"* 5 FETCH (UID 5)"]
    # \Recent: the fixture's SELECT was the first since the APPENDs (made with nothing selected).
    assert w.ok("UID FETCH $ (FLAGS)") == [b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))",
                                          b"* 5 FETCH (UID 5 FLAGS (\\Recent))"]
    assert search(w, "$ SEEN") == [1]
    assert search(w, "UID $") == [1, 5]
    w.ok("STORE $ +FLAGS (\\Flagged)")
    assert search(w, "FLAGGED") == [1, 2, 5]
    # SAVE with MIN alone keeps the minimum only.
    w.ok("SEARCH RETURN (SAVE MIN) FROM alice")
    assert w.ok("FETCH $ (UID)") == [b"* 1 FETCH (UID 1)"]
    # SAVE with another option answers ESEARCH too.
    w.send(b"s1 SEARCH RETURN (SAVE COUNT) UNSEEN\r\n")
    assert w.until(b"s1") == ([b'* ESEARCH (TAG "s1") COUNT 5'], b"OK SEARCH completed")
    assert search(w, "$") == [2, 3, 4, 5, 6]
    # A search that fails leaves "$" empty (RFC 5182 2.1).
    assert w.command("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")[1].startswith(b"NO [BADCHARSET")
    assert w.ok("UID SEARCH RETURN (SAVE) ALL") == []
    w.ok("STORE 1:6 +FLAGS.SILENT (\\Deleted)")
    w.ok("EXPUNGE")
    assert w.ok("FETCH $ (UID)") == []  # saved UIDs that went are dropped from "$"


def test_search_modseq_and_object_ids(mailbox: Wire) -> None:
    w = mailbox
    w.ok("STORE 2 +FLAGS (\\Seen)")
    untagged, _ = w.command("SEARCH MODSEQ 8")
    # The first CONDSTORE enabling command with a mailbox selected reports its HIGHESTMODSEQ (RFC 7162 3.1).
    assert untagged[0].startswith(b"* OK [HIGHESTMODSEQ ")
    line = untagged[1]
    assert re.fullmatch(rb"\* SEARCH 2 \(MODSEQ (\d+)\)", line)
    w.send(b"m1 SEARCH RETURN (COUNT) MODSEQ 1\r\n")
    lines, _ = w.until(b"m1")
    assert re.fullmatch(rb'\* ESEARCH \(TAG "m1"\) COUNT 6 MODSEQ \d+', lines[0])
    (fetched,) = w.ok("FETCH 3 (EMAILID THREADID)")
    found = re.search(rb"EMAILID \((E\d+)\) THREADID \((T\d+)\)", fetched)
    assert found is not None
    assert search(w, b"EMAILID " + found.group(1)) == [3]
    assert search(w, b"THREADID " + found.group(2)) == [1, 3]  # the reply shares its thread
    assert search(w, "EMAILID E999999") == []


def test_huge_and_nested_search_sets(mailbox: Wire) -> None:
    w = mailbox
    assert search(w, "1:4294967295") == [1, 2, 3, 4, 5, 6]
    assert search(w, "UID 1:4294967295") == [1, 2, 3, 4, 5, 6]
    odd = ",".join(str(n) for n in range(1, 20_000, 2))
    assert search(w, odd) == [1, 3, 5]
    assert search(w, "(" * 30 + "SEEN" + ")" * 30) == [1]
    assert search(w, "NOT " * 40 + "SEEN") == [1]
    _, tagged = w.command("SEARCH " + "(" * 100 + "SEEN" + ")" * 100)
    assert tagged == b"BAD search keys nested deeper than 64 levels"


# -- SORT and THREAD (RFC 5256) ------------------------------------------------------------------------------

def test_sort(mailbox: Wire) -> None:
    w = mailbox
    # Base subjects: "base64 body", "café visit" (decoded), "holiday", "no date", "quarterly report" twice.
    assert w.command("SORT (SUBJECT) UTF-8 ALL")[0] == [b"* SORT 5 2 4 6 1 3"]
    assert w.command("SORT (FROM) UTF-8 ALL")[0] == [b"* SORT 1 5 3 4 2 6"]
    assert w.command("SORT (REVERSE SIZE) UTF-8 ALL")[0][0].startswith(b"* SORT 3 ")
    assert w.command("SORT (DATE) UTF-8 ALL")[0] == [b"* SORT 1 2 3 4 5 6"]
    assert w.command("SORT (ARRIVAL) UTF-8 UNSEEN")[0] == [b"* SORT 2 3 4 5 6"]
    assert w.command("SORT (REVERSE ARRIVAL) UTF-8 ALL")[0] == [b"* SORT 6 5 4 3 2 1"]
    assert w.command("SORT (TO SUBJECT) UTF-8 ALL")[0] == [b"* SORT 3 5 2 4 6 1"]
    assert w.command("SORT (CC DATE) UTF-8 ALL")[0] == [b"* SORT 2 3 4 5 6 1"]
    assert w.command("SORT (DISPLAYFROM) UTF-8 ALL")[0] == [b"* SORT 1 5 3 4 2 6"]
    assert w.command("UID SORT (REVERSE SUBJECT) UTF-8 FROM alice")[0] == [b"* SORT 1 5"]
    assert w.command("SORT (BOGUS) UTF-8 ALL")[1].startswith(b"BAD unknown sort key")
    assert w.command("SORT (DATE) KOI8-R ALL")[1].startswith(b"NO [BADCHARSET")
    assert w.command("SORT DATE UTF-8 ALL")[1].startswith(b"BAD ")


def test_thread_orderedsubject(mailbox: Wire) -> None:
    w = mailbox
    # Messages 1 and 3 share the base subject "quarterly report"; 3 is the child of 1.
    assert w.command("THREAD ORDEREDSUBJECT UTF-8 ALL") == (
        [b"* THREAD (1 3)(2)(4)(5)(6)"], b"OK THREAD completed")
    assert w.command("THREAD ORDEREDSUBJECT UTF-8 SEEN")[0] == [b"* THREAD (1)"]
    assert w.command("THREAD ORDEREDSUBJECT UTF-8 FROM nobody")[0] == [b"* THREAD"]


def test_thread_references(imap_node: ImapNode) -> None:
    """RFC 5256 4: threads by Message-ID, References and In-Reply-To; a missing parent holds its children."""
    w, address = logged_in(imap_node)
    day = "Mon, 7 Feb 1994 1{}:00:00 +0000"
    deliver(imap_node, address, message("Plans", message_id="<a@x>", date=day.format(0)))
    deliver(imap_node, address, message("Re: Plans", message_id="<b@x>", date=day.format(1),
                                        headers=["In-Reply-To: <a@x>", "References: <a@x>"]))
    deliver(imap_node, address, message("Other", message_id="<c@x>", date=day.format(2)))
    deliver(imap_node, address, message("Re: Plans", message_id="<d@x>", date=day.format(3),
                                        headers=["References: <a@x>"]))
    deliver(imap_node, address, message("Re: Plans", message_id="<e@x>", date=day.format(4),
                                        headers=["References: <a@x> <b@x>"]))
    # Two replies to a message that is not here: a dummy parent holds them together.
    deliver(imap_node, address, message("Lost", message_id="<f@x>", date=day.format(5),
                                        headers=["References: <gone@x>"]))
    deliver(imap_node, address, message("Re: Lost", message_id="<g@x>", date=day.format(6),
                                        headers=["References: <gone@x>"]))
    w.ok("SELECT INBOX")
    assert w.command("THREAD REFERENCES UTF-8 ALL") == (
        [b"* THREAD (1 (2 5)(4))(3)((6)(7))"], b"OK THREAD completed")
    assert w.command("UID THREAD REFERENCES UTF-8 NOT SUBJECT other")[0] == [b"* THREAD (1 (2 5)(4))((6)(7))"]
    assert w.command("THREAD BOGUS UTF-8 ALL")[1].startswith(b"BAD unknown threading algorithm")
    w.close()


# -- a large mailbox --------------------------------------------------------------------------------------------

# Copies of a mailbox's messages, in one statement each way: 100,000 appends one by one take minutes.
COPY_MESSAGES = Statement("""
    WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :copies)
    INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, saved, size, body_id, thread_id)
    SELECT m.mailbox_id, m.uid + :distinct * k.n, m.modseq, m.flags, m.keywords, m.internal_date, m.saved, m.size,
           m.body_id, m.thread_id
    FROM messages m, k WHERE m.mailbox_id = :mailbox_id""")
COPY_COUNTS = Statement("""
    UPDATE mailboxes SET uidnext = uidnext + :distinct * :copies, messages = messages * (:copies + 1),
           unseen = unseen * (:copies + 1), size = size * (:copies + 1) WHERE id = :mailbox_id""")
COPY_REFS = Statement("""
    UPDATE bodies SET refs = refs + :copies
    WHERE id IN (SELECT body_id FROM messages WHERE mailbox_id = :mailbox_id)""")


def without_progress(answer: tuple[list[bytes], bytes]) -> tuple[list[bytes], bytes]:
    """A command's answer without the RFC 9585 INPROGRESS reports a long search sends (after a second)."""
    untagged, tagged = answer
    return [line for line in untagged if not line.startswith(b"* OK [INPROGRESS (")], tagged


@pytest.mark.slow
def test_search_over_a_hundred_thousand_messages(imap_node: ImapNode) -> None:
    """100,000 messages (twenty bodies, stored once each): searches by flag, by the stored texts, by a set
    of ten thousand numbers, and by a header (read from the messages only where cheaper keys let through)."""
    w, address = logged_in(imap_node)
    owner = account_id(imap_node, address)
    store = imap_node.mailstore
    imap_node.running.call(store.ensure_defaults(owner))
    imap_node.running.call(store.append_many(owner, "INBOX", [
        (message(f"bulk {n}", sender=f"s{n}@example.org"), ["\\Seen"] if n % 2 else [], None) for n in range(20)]))
    mailbox_id = imap_node.running.call(store.mailbox(owner, "INBOX")).id

    def fill() -> Unit[None]:
        yield COPY_REFS.run(copies=4999, mailbox_id=mailbox_id)
        yield COPY_MESSAGES.run(copies=4999, distinct=20, mailbox_id=mailbox_id)
        yield COPY_COUNTS.run(copies=4999, distinct=20, mailbox_id=mailbox_id)

    imap_node.running.call(store.store.write(fill()), timeout=60)
    w.sock.settimeout(60)
    started = time.monotonic()
    assert b"* 100000 EXISTS" in w.ok("SELECT INBOX")
    w.send(b"b1 SEARCH RETURN (COUNT) UNSEEN\r\n")
    assert without_progress(w.until(b"b1")) == ([b'* ESEARCH (TAG "b1") COUNT 50000'], b"OK SEARCH completed")
    w.send(b"b2 UID SEARCH RETURN (COUNT MIN MAX) FROM s7@ 1:4294967295\r\n")
    assert without_progress(w.until(b"b2")) == (
        [b'* ESEARCH (TAG "b2") UID MIN 8 MAX 99988 COUNT 5000'], b"OK SEARCH completed")
    odd = ",".join(str(n) for n in range(1, 20_000, 2)).encode()
    w.send(b"b3 SEARCH RETURN (COUNT MAX) " + odd + b" UNSEEN\r\n")  # odd numbers are the unseen
    assert without_progress(w.until(b"b3")) == ([b'* ESEARCH (TAG "b3") MAX 19999 COUNT 10000'], b"OK SEARCH completed")
    w.send(b"b4 SEARCH RETURN (COUNT) UID 1:2000 HEADER X-Absent x\r\n")
    assert without_progress(w.until(b"b4")) == ([b'* ESEARCH (TAG "b4") COUNT 0'], b"OK SEARCH completed")
    elapsed = time.monotonic() - started
    assert elapsed < 60, elapsed
    w.close()
