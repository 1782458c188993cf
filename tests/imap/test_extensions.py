"""Extensions: REPLACE (RFC 8508), LIST-MYRIGHTS (RFC 8440), ESORT (RFC 5267 section 3), PARTIAL (RFC 9394),
PREVIEW (RFC 8970), INPROGRESS (RFC 9585): each command and option with the responses the RFCs give."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any

import pytest

from polyport.imap import session
from polyport.imap.commands import searching
from tests.imap.conftest import SMALL_LIMIT, ImapNode, Wire
from tests.imap.support import deliver, logged_in, message


def uidvalidity(w: Wire, mailbox: str) -> int:
    (line,) = w.ok(f"STATUS {mailbox} (UIDVALIDITY)")
    found = re.search(rb"UIDVALIDITY (\d+)", line)
    assert found is not None
    return int(found.group(1))


def capabilities(w: Wire) -> set[str]:
    (line,) = w.ok("CAPABILITY")
    return set(line.decode().split()[2:])


# -- REPLACE (RFC 8508) ------------------------------------------------------------------------------------

def test_replace_is_advertised(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert "REPLACE" in capabilities(w)
    w.close()


def test_replace_in_another_mailbox(imap_node: ImapNode) -> None:
    """RFC 8508 3.3's example: APPENDUID in an untagged OK, then the expunge of the replaced message."""
    w, address = logged_in(imap_node)
    for n in range(1, 4):
        deliver(imap_node, address, message(f"draft {n}"), "Drafts")
    w.ok("SELECT Drafts")
    validity = uidvalidity(w, "INBOX")
    data = message("draft 2, edited")
    untagged, tagged = w.command(b"REPLACE 2 INBOX (\\Seen \\Draft) {%d+}\r\n" % len(data) + data)
    assert (untagged, tagged) == ([b"* OK [APPENDUID %d 1] replacement message stored" % validity, b"* 2 EXPUNGE"],
                                  b"OK REPLACE completed")
    assert w.ok("FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)"]
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 1)"]
    w.ok("EXAMINE INBOX")
    assert w.ok("FETCH 1 (FLAGS BODY.PEEK[])") == [
        b"* 1 FETCH (FLAGS (\\Seen \\Draft \\Recent) BODY[] {%d}\r\n" % len(data) + data + b")"]
    w.close()


def test_uid_replace_in_the_selected_mailbox(imap_node: ImapNode) -> None:
    """The same mailbox: the new message's EXISTS and the old one's EXPUNGE."""
    w, address = logged_in(imap_node)
    for n in range(1, 3):
        deliver(imap_node, address, message(f"draft {n}"), "Drafts")
    w.ok("SELECT Drafts")
    validity = uidvalidity(w, "Drafts")
    data = message("draft 1, edited")
    untagged, tagged = w.command(b'UID REPLACE 1 Drafts "14-Jul-2021 09:30:00 +0200" {%d+}\r\n' % len(data) + data)
    assert (untagged, tagged) == ([b"* OK [APPENDUID %d 3] replacement message stored" % validity,
                                   b"* 1 EXPUNGE", b"* 2 EXISTS", b"* 2 RECENT"], b"OK REPLACE completed")
    assert w.ok("FETCH 2 (UID INTERNALDATE)") == [b'* 2 FETCH (UID 3 INTERNALDATE "14-Jul-2021 07:30:00 +0000")']
    assert w.ok("FETCH 1 (UID)") == [b"* 1 FETCH (UID 2)"]
    w.close()


def test_replace_under_qresync_says_vanished(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for n in range(1, 3):
        deliver(imap_node, address, message(f"draft {n}"), "Drafts")
    w.ok("ENABLE QRESYNC")
    w.ok("SELECT Drafts")
    data = message("edited")
    untagged, tagged = w.command(b"UID REPLACE 2 Trash {%d+}\r\n" % len(data) + data)
    assert tagged == b"OK REPLACE completed"
    assert untagged[0].startswith(b"* OK [APPENDUID ") and untagged[1:] == [b"* VANISHED 2"]
    w.close()


def test_replace_refusals_leave_the_message(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("only"), "Drafts")
    data = message("new")
    literal = b" {%d+}\r\n" % len(data) + data
    w.ok("SELECT Drafts")
    # A missing target: TRYCREATE (as APPEND), nothing appended, nothing expunged.
    assert w.command(b"REPLACE 1 Nowhere" + literal) == ([], b"NO [TRYCREATE] no mailbox Nowhere")
    # A message number beyond the mailbox is BAD (RFC 9051 section 9); a UID not there is a NO.
    assert w.command(b"REPLACE 2 Drafts" + literal)[1] == (
        b"BAD message number 2 is beyond the 1 messages of the mailbox")
    assert w.command(b"UID REPLACE 7 Drafts" + literal) == (
        [], b"NO [NONEXISTENT] no message with UID 7 in the mailbox")
    # Malformed: BAD, and the connection goes on.
    assert w.command(b"REPLACE 0 Drafts" + literal)[1].startswith(b"BAD ")
    assert w.command(b"REPLACE 1 Drafts")[1] == b"BAD missing message literal"
    assert w.command(b"REPLACE 1 Drafts (\\Seen)")[1].startswith(b"BAD ")
    assert w.command(b"REPLACE 1 Drafts" + literal + b" {3+}\r\nabc")[1] == b"BAD unexpected text after the arguments"
    assert w.ok("FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)"]
    assert w.ok("STATUS Trash (MESSAGES)") == [b"* STATUS Trash (MESSAGES 0)"]
    # Read-only (EXAMINE): NO [READ-ONLY].
    w.ok("EXAMINE Drafts")
    assert w.command(b"REPLACE 1 Trash" + literal)[1].startswith(b"NO [READ-ONLY] ")
    # Not selected: BAD for the state.
    w.ok("UNSELECT")
    assert w.command(b"REPLACE 1 Trash" + literal)[1] == b"BAD REPLACE is not allowed in the authenticated state"
    w.close()


def test_replace_of_a_message_expunged_meanwhile_appends_nothing(imap_node: ImapNode) -> None:
    """The append and the expunge are one unit: when the old message went (another session expunged it,
    not yet announced here), the REPLACE fails whole and the target is left as it was."""
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("old"), "Drafts")
    w.ok("SELECT Drafts")
    other = Wire(imap_node.port).login(address)
    other.ok("SELECT Drafts")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    other.close()
    data = message("new")
    untagged, tagged = w.command(b"UID REPLACE 1 Trash {%d+}\r\n" % len(data) + data)
    assert tagged == b"NO [NONEXISTENT] message UID 1 is no longer in Drafts"
    assert b"* 1 EXPUNGE" in untagged  # announced with the refusal
    assert w.ok("STATUS Trash (MESSAGES)") == [b"* STATUS Trash (MESSAGES 0)"]
    w.close()


def test_replace_with_a_synchronizing_literal_larger_than_small_literals(imap_node: ImapNode) -> None:
    """REPLACE carries messages as APPEND does: its literal may be message-sized (up to APPENDLIMIT)."""
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("old"), "Drafts")
    w.ok("SELECT Drafts")
    data = message("big", body="y" * (100 * 1024) + "\r\n")
    w.send(b"r1 UID REPLACE 1 Drafts {%d}\r\n" % len(data))
    assert w.line() == b"+ Ready for literal data"
    w.send(data + b"\r\n")
    _, tagged = w.until(b"r1")
    assert tagged == b"OK REPLACE completed"
    assert w.ok("FETCH 1 (RFC822.SIZE)") == [b"* 1 FETCH (RFC822.SIZE %d)" % len(data)]
    w.close()


def test_replace_from_a_shared_mailbox_needs_t_and_e(imap_node: ImapNode) -> None:
    """RFC 8508 section 3.4 (as we read it): replacing deletes and expunges the old message, so another
    account's mailbox must grant "t" and "e" besides "i" on the target; refused, nothing changes."""
    owner, owner_address = logged_in(imap_node)
    other, other_address = logged_in(imap_node)
    me, bob = owner_address.split("@")[0], other_address.split("@")[0]
    owner.ok("CREATE Shared")
    deliver(imap_node, owner_address, message("shared draft"), "Shared")
    owner.ok(f"SETACL Shared {bob} lrswi")
    shared = f"~{me}/Shared"
    other.ok(f"SELECT {shared}")
    data = message("edited")
    literal = b" {%d+}\r\n" % len(data) + data
    tagged = other.command(f"UID REPLACE 1 {shared}".encode() + literal)[1]
    assert tagged.startswith(b"NO [NOPERM] "), tagged
    assert owner.ok("STATUS Shared (MESSAGES)") == [b"* STATUS Shared (MESSAGES 1)"]
    owner.ok(f"SETACL Shared {bob} +te")
    untagged, tagged = other.command(f"UID REPLACE 1 {shared}".encode() + literal)
    assert tagged == b"OK REPLACE completed"
    assert untagged[1:] == [b"* 1 EXPUNGE", b"* 1 EXISTS", b"* 1 RECENT"]
    owner.close()
    other.close()


def test_replace_over_the_append_limit_is_refused_and_leaves_the_message(small_node: ImapNode) -> None:
    w, address = logged_in(small_node)
    deliver(small_node, address, message("old"), "Drafts")
    w.ok("SELECT Drafts")
    # Synchronizing: refused before any "+".
    w.send(b"r1 UID REPLACE 1 Trash {%d}\r\n" % (SMALL_LIMIT + 1))
    assert w.line() == b"r1 NO [TOOBIG] literal larger than %d bytes" % SMALL_LIMIT
    w.ok("NOOP")
    # LITERAL+: the bytes are read into nothing, then the refusal.
    w.send(b"r2 UID REPLACE 1 Trash {%d+}\r\n" % (SMALL_LIMIT + 1) + b"x" * (SMALL_LIMIT + 1) + b"\r\n")
    assert w.until(b"r2") == ([], b"NO [TOOBIG] literal larger than %d bytes" % SMALL_LIMIT)
    w.ok("NOOP")
    assert w.ok("FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)"]
    assert w.ok("STATUS Trash (MESSAGES)") == [b"* STATUS Trash (MESSAGES 0)"]
    w.close()


def test_malformed_replace_with_catenate_is_bad_and_leaves_the_message(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("old"), "Drafts")
    w.ok("SELECT Drafts")
    unbalanced = b"BAD unbalanced parentheses: missing ')' after a CATENATE part"
    for line, answer in [
        (b"REPLACE 1 Drafts CATENATE ()", b"BAD expected CATENATE part (TEXT or URL), found ')'"),
        (b"REPLACE 1 Drafts CATENATE (TEXT {3+}\r\nabc", unbalanced),
        (b"UID REPLACE 1 Drafts CATENATE (URL /Drafts/;UID=1", unbalanced),
    ]:
        assert w.command(line) == ([], answer), line
    assert w.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])") == [
        b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: old\r\n\r\n)"]
    w.close()


# -- LIST-MYRIGHTS (RFC 8440) ------------------------------------------------------------------------------

def test_list_return_myrights(imap_node: ImapNode) -> None:
    owner, owner_address = logged_in(imap_node)
    other, other_address = logged_in(imap_node)
    me, bob = owner_address.split("@")[0], other_address.split("@")[0]
    assert "LIST-MYRIGHTS" in capabilities(owner)
    owner.ok("CREATE Shared/Child")  # Shared exists as a parent; Child too
    owner.ok("SETACL Shared/Child anyone lr")
    owner.ok(f"SETACL Shared {bob} lrs")
    assert owner.ok('LIST "" "Shared*" RETURN (MYRIGHTS)') == [
        b'* LIST (\\HasChildren) "/" Shared', b"* MYRIGHTS Shared lrswipkxteacd",
        b'* LIST (\\HasNoChildren) "/" Shared/Child', b"* MYRIGHTS Shared/Child lrswipkxteacd"]
    # Another account's view: its own rights, as MYRIGHTS gives them; none for a \Noselect parent.
    assert other.ok(f'LIST "" "~{me}/*" RETURN (MYRIGHTS)') == [
        b'* LIST (\\HasChildren) "/" ~%s/Shared' % me.encode(), b"* MYRIGHTS ~%s/Shared lrs" % me.encode(),
        b'* LIST (\\HasNoChildren) "/" ~%s/Shared/Child' % me.encode(),
        b"* MYRIGHTS ~%s/Shared/Child lr" % me.encode()]
    assert other.ok(f"MYRIGHTS ~{me}/Shared") == [b"* MYRIGHTS ~%s/Shared lrs" % me.encode()]
    assert other.ok(f'LIST "" "~{me}" RETURN (MYRIGHTS)') == [
        b'* LIST (\\NonExistent \\HasChildren) "/" ~%s' % me.encode()]
    # With STATUS and other return options; a non-existent parent gets none.
    owner.ok("CREATE Deep/Leaf")
    owner.ok("DELETE Deep")
    assert owner.ok('LIST "" "Deep*" RETURN (CHILDREN MYRIGHTS STATUS (MESSAGES))') == [
        b'* LIST (\\NonExistent \\HasChildren) "/" Deep',
        b'* LIST (\\HasNoChildren) "/" Deep/Leaf', b"* STATUS Deep/Leaf (MESSAGES 0)",
        b"* MYRIGHTS Deep/Leaf lrswipkxteacd"]
    assert owner.command('LIST "" "%" RETURN (MYRIGHTS FOO)')[1] == b"BAD unknown LIST return option FOO"
    owner.close()
    other.close()


# -- ESORT (RFC 5267 section 3) and PARTIAL (RFC 9394) --------------------------------------------------------

def five(node: ImapNode) -> Wire:
    """A mailbox of five messages whose subjects sort as 3, 5, 2, 4, 1 (UIDs = message numbers)."""
    w, address = logged_in(node)
    for subject in ("e", "c", "a", "d", "b"):
        deliver(node, address, message(subject))
    w.ok("SELECT INBOX")
    w.counter = 0  # the tags in ESEARCH answers count from t1 in each test
    return w


def test_esort_and_partial_are_advertised(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert {"ESORT", "PARTIAL"} <= capabilities(w)
    w.close()


def test_sort_return_options(imap_node: ImapNode) -> None:
    w = five(imap_node)
    # MIN and MAX are the first and the last in sort order; ALL keeps the order.
    assert w.command("SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL") == (
        [b'* ESEARCH (TAG "t1") MIN 3 MAX 1 COUNT 5 ALL 3,5,2,4,1'], b"OK SORT completed")
    assert w.command("UID SORT RETURN () (SUBJECT) UTF-8 ALL") == (
        [b'* ESEARCH (TAG "t2") UID ALL 3,5,2,4,1'], b"OK SORT completed")
    assert w.ok("SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL") == [b'* ESEARCH (TAG "t3") ALL 1:5']
    assert w.ok("SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 ALL") == [b'* ESEARCH (TAG "t4") ALL 1,4,2,5,3']
    assert w.ok("SORT RETURN (MIN) (SUBJECT) UTF-8 NOT SUBJECT b") == [b'* ESEARCH (TAG "t5") MIN 3']
    # Nothing found: MIN, MAX and ALL say nothing, COUNT says 0.
    assert w.ok('SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 SUBJECT "zz"') == [
        b'* ESEARCH (TAG "t6") COUNT 0']
    # Without RETURN: the plain SORT answer.
    assert w.ok("SORT (SUBJECT) UTF-8 ALL") == [b"* SORT 3 5 2 4 1"]
    w.close()


def test_sort_partial(imap_node: ImapNode) -> None:
    w = five(imap_node)
    assert w.ok("SORT RETURN (PARTIAL 1:2) (SUBJECT) US-ASCII ALL") == [b'* ESEARCH (TAG "t1") PARTIAL (1:2 3,5)']
    assert w.ok("UID SORT RETURN (COUNT PARTIAL -1:-2) (SUBJECT) UTF-8 ALL") == [
        b'* ESEARCH (TAG "t2") UID COUNT 5 PARTIAL (-1:-2 4,1)']
    assert w.ok("SORT RETURN (PARTIAL 2:4) (ARRIVAL) UTF-8 ALL") == [b'* ESEARCH (TAG "t3") PARTIAL (2:4 2:4)']
    assert w.ok("SORT RETURN (PARTIAL 6:9) (ARRIVAL) UTF-8 ALL") == [b'* ESEARCH (TAG "t4") PARTIAL (6:9 NIL)']
    assert w.command("SORT RETURN (SAVE) (ARRIVAL) UTF-8 ALL")[1] == b"BAD unknown sort return option SAVE"
    w.close()


def test_search_partial(imap_node: ImapNode) -> None:
    w = five(imap_node)
    assert w.command("SEARCH RETURN (PARTIAL 2:3) ALL") == (
        [b'* ESEARCH (TAG "t1") PARTIAL (2:3 2:3)'], b"OK SEARCH completed")
    # From the end: -1 is the last result; a range in either order; COUNT and MIN/MAX of the whole result.
    assert w.ok("UID SEARCH RETURN (PARTIAL -1:-2 COUNT MIN) ALL") == [
        b'* ESEARCH (TAG "t2") UID MIN 1 COUNT 5 PARTIAL (-1:-2 4:5)']
    assert w.ok("SEARCH RETURN (PARTIAL 3:1) ALL") == [b'* ESEARCH (TAG "t3") PARTIAL (3:1 1:3)']
    assert w.ok("SEARCH RETURN (PARTIAL -4:-100) ALL") == [b'* ESEARCH (TAG "t4") PARTIAL (-4:-100 1:2)']
    # Beyond the results: what there is, else NIL.
    assert w.ok("SEARCH RETURN (PARTIAL 4:100) ALL") == [b'* ESEARCH (TAG "t5") PARTIAL (4:100 4:5)']
    assert w.ok("SEARCH RETURN (PARTIAL 10:20) ALL") == [b'* ESEARCH (TAG "t6") PARTIAL (10:20 NIL)']
    assert w.ok("SEARCH RETURN (PARTIAL -6:-9) ALL") == [b'* ESEARCH (TAG "t7") PARTIAL (-6:-9 NIL)']
    assert w.ok("SEARCH RETURN (PARTIAL 1:5) NOT ALL") == [b'* ESEARCH (TAG "t8") PARTIAL (1:5 NIL)']
    # A page of a subset: the 2nd and 3rd of 2, 4, 5.
    assert w.ok("SEARCH RETURN (PARTIAL 2:3) NOT SUBJECT e NOT SUBJECT a") == [
        b'* ESEARCH (TAG "t9") PARTIAL (2:3 4:5)']
    # SAVE with PARTIAL keeps the page (as MIN/MAX alone keep theirs, RFC 5182 2.1).
    assert w.ok("SEARCH RETURN (SAVE PARTIAL -1:-2) ALL") == [b'* ESEARCH (TAG "t10") PARTIAL (-1:-2 4:5)']
    assert w.ok("FETCH $ (UID)") == [b"* 4 FETCH (UID 4)", b"* 5 FETCH (UID 5)"]
    w.close()


def test_partial_refusals(imap_node: ImapNode) -> None:
    w = five(imap_node)
    for line, reason in [
        ("SEARCH RETURN (PARTIAL 1:2 ALL) ALL", b"PARTIAL and ALL cannot be used together"),
        ("SEARCH RETURN (PARTIAL 0:2) ALL", b"partial range positions are 1 to 4294967295"),
        ("SEARCH RETURN (PARTIAL 1:-2) ALL", b"a partial range counts from the start or from the end, not both"),
        ("SEARCH RETURN (PARTIAL 1) ALL",
         b"expected partial range (first:last, or -first:-last from the end), found '1'"),
        ("SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", b"PARTIAL given twice"),
        ("SORT RETURN (PARTIAL *:2) (ARRIVAL) UTF-8 ALL",
         b"expected partial range (first:last, or -first:-last from the end), found '*'"),
    ]:
        assert w.command(line)[1] == b"BAD " + reason, line
    assert w.ok("SEARCH RETURN (COUNT) ALL") == [b'* ESEARCH (TAG "t7") COUNT 5']  # still usable
    w.close()


# -- PREVIEW (RFC 8970) --------------------------------------------------------------------------------------

def mime(content_type: str, body: str, *, encoding: str | None = None, extra: str = "") -> bytes:
    lines = ["From: a@example.org", "Subject: s", "MIME-Version: 1.0", f"Content-Type: {content_type}"]
    if encoding:
        lines.append(f"Content-Transfer-Encoding: {encoding}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def test_fetch_preview(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    assert "PREVIEW" in capabilities(w)
    deliver(imap_node, address, message(body="Hello  there,\r\n\r\n  see you\ttomorrow.\r\n"))
    alternative = (
        "--b\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n"
        "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Caf=E9 at n=\r\noon\r\n--b--\r\n")
    deliver(imap_node, address, mime('multipart/alternative; boundary="b"', alternative))
    html = ("<html><head><title>T</title><style>p {color: red}</style></head><body><p>Dear&nbsp;Bob,</p>"
            "<!-- hidden --><script>var x = 1;</script><div>Your order &amp; receipt</div></body></html>\r\n")
    deliver(imap_node, address, mime("text/html; charset=utf-8", html))
    deliver(imap_node, address, mime("image/png", "iVBORw0KGgo=\r\n", encoding="base64"))
    long_text = ("word " * 100).encode()
    deliver(imap_node, address, mime("text/plain; charset=utf-8",
                                     base64.encodebytes("Grüße ".encode() + long_text).decode(), encoding="base64"))
    mixed = ("--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\n%PDF\r\n"
             "--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n"
             "--m\r\nContent-Type: text/plain\r\n\r\nThe body.\r\n--m--\r\n")
    deliver(imap_node, address, mime('multipart/mixed; boundary="m"', mixed))
    deliver(imap_node, address, message(body="  \r\n\r\n"))
    w.ok("EXAMINE INBOX")
    assert w.ok("FETCH 1 PREVIEW") == [b'* 1 FETCH (PREVIEW "Hello there, see you tomorrow.")']
    # Plain text preferred in an alternative; quoted-printable and the charset undone; 8-bit as a literal.
    cafe = "Café at noon".encode()
    assert w.ok("FETCH 2 (PREVIEW)") == [b"* 2 FETCH (PREVIEW {%d}\r\n%s)" % (len(cafe), cafe)]
    # HTML: markup, head, style, script and comments dropped, entities read.
    assert w.ok("FETCH 3 (UID PREVIEW (LAZY))") == [b'* 3 FETCH (UID 3 PREVIEW "Dear Bob, Your order & receipt")']
    assert w.ok("FETCH 4 PREVIEW (LAZY)") == [b"* 4 FETCH (PREVIEW NIL)"]  # no text at all
    # At most 256 characters (not bytes).
    (line,) = w.ok("FETCH 5 PREVIEW")
    expected = ("Grüße " + "word " * 100)[:256].encode()
    assert line == b"* 5 FETCH (PREVIEW {%d}\r\n%s)" % (len(expected), expected)
    assert w.ok("FETCH 6 PREVIEW") == [b'* 6 FETCH (PREVIEW "The body.")']  # attachments are skipped
    assert w.ok("FETCH 7 PREVIEW") == [b"* 7 FETCH (PREVIEW NIL)"]  # only white space
    # PREVIEW does not set \Seen; with FETCH's modifiers after it.
    assert w.ok("UID FETCH 1 (PREVIEW FLAGS)") == [b'* 1 FETCH (UID 1 PREVIEW "Hello there, see you tomorrow." '
                                                   b"FLAGS (\\Recent))"]
    untagged = w.ok("FETCH 1 PREVIEW (CHANGEDSINCE 1)")
    assert re.fullmatch(rb'\* 1 FETCH \(PREVIEW "Hello there, see you tomorrow\." MODSEQ \(\d+\)\)', untagged[-1])
    assert w.command("FETCH 1 PREVIEW (LAZY FOO)")[1] == b"BAD unknown PREVIEW modifier FOO"
    assert w.command("FETCH 1 PREVIEW (LAZY")[1].startswith(b"BAD ")
    w.close()


def test_preview_of_a_message_sent_in_pieces(imap_node: ImapNode) -> None:
    """A message over fetch.STREAM_AT is not held whole: its preview is made from the first PREVIEW_READ
    bytes of its text part, read alone (here base64, cut there inside a line)."""
    w, address = logged_in(imap_node)
    text = "Start of a long text. " + "x" * (400 * 1024)
    deliver(imap_node, address, mime("text/plain; charset=utf-8", base64.encodebytes(text.encode()).decode(),
                                     encoding="base64"))
    w.ok("EXAMINE INBOX")
    expected = text[:256].encode()
    assert w.ok("FETCH 1 (RFC822.SIZE PREVIEW)")[0].endswith(b' PREVIEW "%s")' % expected)
    w.close()


def test_preview_text_pieces() -> None:
    """The preview of a cut prefix: base64 decoded up to its last whole group, a split character replaced."""
    from polyport.imap.fetch import _preview_text

    assert _preview_text(b"SGVsbG8gd29y", encoding="base64", charset="utf-8", html=False) == b"Hello wor"
    assert _preview_text(b"SGVsbG8gd29yb", encoding="base64", charset="utf-8", html=False) == b"Hello wor"
    assert _preview_text("é".encode()[:1], encoding="8bit", charset="utf-8", html=False) == "\ufffd".encode()
    assert _preview_text(b"a=\r\nb=4", encoding="quoted-printable", charset="us-ascii", html=False) == b"ab=4"
    assert _preview_text(b"x", encoding="7bit", charset="no-such-charset", html=False) == b"x"
    assert _preview_text(b"<b>bold</b><a href='x'>link", encoding="7bit", charset="utf-8", html=True) == \
        b"bold link"
    assert _preview_text(b"a<!-- never closed", encoding="7bit", charset="utf-8", html=True) == b"a"
    assert _preview_text(b"a<script>x<b>y", encoding="7bit", charset="utf-8", html=True) == b"a"
    # Many unclosed elements stay linear: a 64 KiB worst case takes well under a second.
    started = time.monotonic()
    assert _preview_text(b"<head" * 13000 + b"<!--" * 3000, encoding="7bit", charset="utf-8", html=True) == b""
    assert time.monotonic() - started < 1


# -- INPROGRESS (RFC 9585) -----------------------------------------------------------------------------------

def test_inprogress_is_advertised_and_quick_commands_say_nothing(imap_node: ImapNode) -> None:
    w = five(imap_node)
    assert "INPROGRESS" in capabilities(w)
    w.counter = 0
    # Below PROGRESS_INTERVAL (a second) nothing is reported.
    assert w.command("SEARCH RETURN (COUNT) ALL") == ([b'* ESEARCH (TAG "t1") COUNT 5'], b"OK SEARCH completed")
    w.close()


@pytest.mark.one_process
def test_inprogress_during_search_sort_and_thread(imap_node: ImapNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports after each run of messages read, with how many of the mailbox's were gone through."""
    w = five(imap_node)
    monkeypatch.setattr(session, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(searching, "SEARCH_BATCH", 2)

    def reports(tag: str) -> list[bytes]:
        return [b'* OK [INPROGRESS ("%s" %d 5)] %d of 5 messages done' % (tag.encode(), n, n) for n in (2, 4, 5)]

    assert w.command("UID SEARCH RETURN (COUNT) ALL") == (
        [*reports("t1"), b'* ESEARCH (TAG "t1") UID COUNT 5'], b"OK SEARCH completed")
    assert w.command("SORT (SUBJECT) UTF-8 ALL") == ([*reports("t2"), b"* SORT 3 5 2 4 1"], b"OK SORT completed")
    assert w.command("THREAD ORDEREDSUBJECT UTF-8 ALL") == (
        [*reports("t3"), b"* THREAD (1)(2)(3)(4)(5)"], b"OK THREAD completed")
    w.close()


@pytest.mark.one_process
def test_inprogress_during_copy_move_and_expunge(imap_node: ImapNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """One write of the store cannot say how far it is: `("tag" NIL NIL)` while it runs, every interval."""
    w = five(imap_node)
    monkeypatch.setattr(session, "PROGRESS_INTERVAL", 0.01)
    monkeypatch.setattr(session, "PROGRESS_MIN_MESSAGES", 3)
    store = imap_node.mailstore
    slow_copy, slow_expunge = store.copy, store.expunge

    async def copy(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.1)
        return await slow_copy(*args, **kwargs)

    async def expunge(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.1)
        return await slow_expunge(*args, **kwargs)

    monkeypatch.setattr(store, "copy", copy)
    monkeypatch.setattr(store, "expunge", expunge)

    def split(answer: tuple[list[bytes], bytes], tag: str) -> tuple[list[bytes], bytes]:
        untagged, tagged = answer
        report = b'* OK [INPROGRESS ("%s" NIL NIL)] still working' % tag.encode()
        reports = [line for line in untagged if line.startswith(b"* OK [INPROGRESS")]
        assert reports and set(reports) == {report}, untagged
        assert untagged[:len(reports)] == reports  # before the command's own answers
        return untagged[len(reports):], tagged

    validity = uidvalidity(w, "Trash")
    w.counter = 1
    assert split(w.command("COPY 1:4 Trash"), "t2") == ([], b"OK [COPYUID %d 1:4 1:4] COPY completed" % validity)
    assert split(w.command("MOVE 1:3 Trash"), "t3") == (
        [b"* OK [COPYUID %d 1:3 5:7] moved" % validity, b"* 1 EXPUNGE", b"* 1 EXPUNGE", b"* 1 EXPUNGE"],
        b"OK MOVE completed")
    # Fewer than PROGRESS_MIN_MESSAGES: no watcher, nothing reported.
    assert w.command("COPY 1 Trash") == ([], b"OK [COPYUID %d 4 8] COPY completed" % validity)
    w.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    monkeypatch.setattr(session, "PROGRESS_MIN_MESSAGES", 2)
    assert split(w.command("EXPUNGE"), "t6") == ([b"* 1 EXPUNGE", b"* 1 EXPUNGE"], b"OK EXPUNGE completed")
    w.close()
