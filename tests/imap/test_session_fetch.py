"""FETCH: every data item of RFC 3501/9051 6.4.5 (ENVELOPE, BODYSTRUCTURE, BODY, BODY[section]<partial>,
BODY.PEEK, RFC822.*, FLAGS, INTERNALDATE, UID, the macros), BINARY, BINARY.PEEK and BINARY.SIZE
(RFC 3516), MODSEQ (RFC 7162), EMAILID and THREADID (RFC 8474), SAVEDATE (RFC 8514), and \\Seen set by
reading."""

from __future__ import annotations

import re

import pytest

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import deliver, logged_in, message

# A message with every kind of part: text in quoted-printable, an attachment with RFC 2231 parameters,
# and a forwarded message/rfc822 that is itself multipart.
NESTED = (
    b"From: \"Alice Example\" <alice@example.org>\r\n"
    b"Sender: list-bounces@example.org\r\n"
    b"Reply-To: team@example.org\r\n"
    b"To: bob@example.com, Friends: carol@example.net, dave@example.net;\r\n"
    b"Cc: =?utf-8?q?Ren=C3=A9?= <rene@example.fr>\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= plans\r\n"
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"Message-ID: <nested@example.org>\r\n"
    b"In-Reply-To: <earlier@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"This is the preamble.\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Caf=C3=A9 at noon,=\r\n"
    b" then work.\r\n"
    b"--outer\r\n"
    b"Content-Type: application/octet-stream; name*=utf-8''na%C3%AFve.bin\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''na%C3%AFve.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-ID: <part2@example.org>\r\n"
    b"Content-Description: some bytes\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Carol <carol@example.net>\r\n"
    b"Subject: inner\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n"
    b"\r\n"
    b"--inner\r\n"
    b"\r\n"
    b"plain inner\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>html inner</p>\r\n"
    b"--inner--\r\n"
    b"\r\n"
    b"--outer--\r\n"
)


def body_of(data: bytes, start: bytes, end: bytes) -> bytes:
    """The bytes of `data` from just after `start` to just before `end`."""
    begin = data.index(start) + len(start)
    return data[begin:data.index(end, begin)]


@pytest.fixture
def mailbox(imap_node: ImapNode) -> tuple[Wire, str]:
    """A client with INBOX selected, holding NESTED as message 1 and a plain message as message 2. Its SELECT is
    the first since they came: both are \\Recent to it (RFC 3501 2.3.2)."""
    w, address = logged_in(imap_node)
    deliver(imap_node, address, NESTED)
    deliver(imap_node, address, b"Subject: plain\r\n\r\nJust text.\r\n")
    w.ok("SELECT INBOX")
    return w, address


def test_envelope(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    assert w.ok("FETCH 1 ENVELOPE") == [
        b'* 1 FETCH (ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "=?utf-8?q?Caf=C3=A9?= plans" '
        b'(("Alice Example" NIL "alice" "example.org")) ((NIL NIL "list-bounces" "example.org")) '
        b'((NIL NIL "team" "example.org")) '
        b'((NIL NIL "bob" "example.com")(NIL NIL "Friends" NIL)(NIL NIL "carol" "example.net")'
        b'(NIL NIL "dave" "example.net")(NIL NIL NIL NIL)) '
        b'(("=?utf-8?q?Ren=C3=A9?=" NIL "rene" "example.fr")) NIL "<earlier@example.org>" "<nested@example.org>"))']
    # Without Sender and Reply-To they are From's (RFC 3501 7.4.2); without From, all NIL.
    assert w.ok("FETCH 2 ENVELOPE") == [b'* 2 FETCH (ENVELOPE (NIL "plain" NIL NIL NIL NIL NIL NIL NIL NIL))']


def test_bodystructure(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    text = body_of(NESTED, b"quoted-printable\r\n\r\n", b"\r\n--outer")
    inner = body_of(NESTED, b"message/rfc822\r\n\r\n", b"\r\n--outer--")
    inner_plain = b"plain inner"
    inner_html = b"<p>html inner</p>"
    untagged = w.ok("FETCH 1 BODYSTRUCTURE")
    assert untagged == [
        b'* 1 FETCH (BODYSTRUCTURE ('
        b'("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" %d 2 NIL NIL NIL NIL)'
        b'("APPLICATION" "OCTET-STREAM" ("name*" "utf-8\'\'na%%C3%%AFve.bin") "<part2@example.org>" "some bytes" '
        b'"BASE64" 8 NIL ("attachment" ("filename*" "utf-8\'\'na%%C3%%AFve.bin")) NIL NIL)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d '
        b'(NIL "inner" (("Carol" NIL "carol" "example.net")) (("Carol" NIL "carol" "example.net")) '
        b'(("Carol" NIL "carol" "example.net")) NIL NIL NIL NIL NIL) '
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d 1 NIL NIL NIL NIL)'
        b'("TEXT" "HTML" NIL NIL NIL "7BIT" %d 1 NIL NIL NIL NIL) "ALTERNATIVE" ("boundary" "inner") NIL NIL NIL) '
        b'%d NIL NIL NIL NIL) '
        b'"MIXED" ("boundary" "outer") NIL NIL NIL))'
        % (len(text), len(inner), len(inner_plain), len(inner_html), inner.count(b"\r\n"))]
    # BODY is BODYSTRUCTURE without extension data.
    (line,) = w.ok("FETCH 1 BODY")
    assert line.startswith(b'* 1 FETCH (BODY (("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" ')
    assert b'"QUOTED-PRINTABLE" %d 2)("APPLICATION"' % len(text) in line and line.endswith(b' "MIXED"))')
    # A message without Content-Type is text/plain in US-ASCII (RFC 2045 5.2).
    size = len(b"Just text.\r\n")
    assert w.ok("FETCH 2 BODYSTRUCTURE") == [
        b'* 2 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d 1 NIL NIL NIL NIL))'
        % size]


def test_bodystructure_in_utf8_mode_sends_parameters_decoded(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    w.ok("ENABLE UTF8=ACCEPT")
    (line,) = w.ok("FETCH 1 BODYSTRUCTURE")
    assert '("name" "naïve.bin")'.encode() in line and '("filename" "naïve.bin")'.encode() in line


def test_body_sections(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    header, text = NESTED.split(b"\r\n\r\n", 1)
    header += b"\r\n\r\n"
    part1 = body_of(NESTED, b"quoted-printable\r\n\r\n", b"\r\n--outer")
    part2_mime = body_of(NESTED, b"--outer\r\nContent-Type: application", b"AAEC")
    part2_mime = b"Content-Type: application" + part2_mime
    inner = body_of(NESTED, b"message/rfc822\r\n\r\n", b"\r\n--outer--")
    inner_header, inner_text = inner.split(b"\r\n\r\n", 1)
    fields = b"Subject: =?utf-8?q?Caf=C3=A9?= plans\r\nMessage-ID: <nested@example.org>\r\n\r\n"
    cases = {
        "BODY.PEEK[]": (b"BODY[]", NESTED),
        "BODY.PEEK[HEADER]": (b"BODY[HEADER]", header),
        "BODY.PEEK[TEXT]": (b"BODY[TEXT]", text),
        "BODY.PEEK[1]": (b"BODY[1]", part1),
        "BODY.PEEK[2.MIME]": (b"BODY[2.MIME]", part2_mime),
        "BODY.PEEK[2]": (b"BODY[2]", b"AAECAwQ="),  # the CRLF before a boundary belongs to the boundary
        "BODY.PEEK[3]": (b"BODY[3]", inner),
        "BODY.PEEK[3.HEADER]": (b"BODY[3.HEADER]", inner_header + b"\r\n\r\n"),
        "BODY.PEEK[3.TEXT]": (b"BODY[3.TEXT]", inner_text),
        "BODY.PEEK[3.1]": (b"BODY[3.1]", b"plain inner"),
        "BODY.PEEK[3.2.MIME]": (b"BODY[3.2.MIME]", b"Content-Type: text/html\r\n\r\n"),
        "BODY.PEEK[HEADER.FIELDS (Subject message-id)]": (b"BODY[HEADER.FIELDS (Subject message-id)]", fields),
        "BODY.PEEK[3.HEADER.FIELDS (FROM)]": (b"BODY[3.HEADER.FIELDS (FROM)]",
                                              b"From: Carol <carol@example.net>\r\n\r\n"),
        "BODY.PEEK[HEADER.FIELDS (X-Missing)]": (b"BODY[HEADER.FIELDS (X-Missing)]", b"\r\n"),
        "BODY.PEEK[]<0.4>": (b"BODY[]<0>", b"From"),
        "BODY.PEEK[1]<5.6>": (b"BODY[1]<5>", part1[5:11]),
        "BODY.PEEK[]<100000.10>": (b"BODY[]<100000>", b""),
        "BODY.PEEK[4]": (b"BODY[4]", None),  # no such part
        "BODY.PEEK[1.HEADER]": (b"BODY[1.HEADER]", None),  # part 1 is no message/rfc822
        "BODY.PEEK[1.2.3]": (b"BODY[1.2.3]", None),
    }
    for item, (label, data) in cases.items():
        value = b"NIL" if data is None else b"{%d}\r\n%s" % (len(data), data)
        assert w.ok(f"FETCH 1 {item}") == [b"* 1 FETCH (" + label + b" " + value + b")"], item
    (line,) = w.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (Subject From To Cc Sender Reply-To Date Message-ID "
                   "In-Reply-To MIME-Version)]")
    assert line.endswith(b'\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\n)')
    # BODY[1] of a message that is not multipart is its body (RFC 3501 6.4.5).
    assert w.ok("FETCH 2 BODY.PEEK[1]") == [b"* 2 FETCH (BODY[1] {12}\r\nJust text.\r\n)"]
    assert w.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))"]  # .PEEK leaves \Seen alone


def test_binary(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    decoded = "Café at noon, then work.".encode()  # quoted-printable undone, soft line break and all
    assert w.ok("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])") == [
        b"* 1 FETCH (BINARY[1] {%d}\r\n%s BINARY.SIZE[1] %d)" % (len(decoded), decoded, len(decoded))]
    assert w.ok("FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])") == [
        b"* 1 FETCH (BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04 BINARY.SIZE[2] 5)"]
    assert w.ok("FETCH 1 BINARY.PEEK[2]<1.2>") == [b"* 1 FETCH (BINARY[2]<1> {2}\r\n\x01\x02)"]  # no NUL: a literal
    assert w.ok("FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9])") == [b"* 1 FETCH (BINARY[9] NIL BINARY.SIZE[9] 0)"]
    assert w.command("FETCH 1 BINARY[1.MIME]")[1].startswith(b"BAD bad BINARY section")
    assert w.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))"]
    # BINARY (not .PEEK) sets \Seen like BODY[] does.
    assert w.ok("FETCH 1 BINARY[2]") == [
        b"* 1 FETCH (BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04 FLAGS (\\Seen \\Recent))"]


def test_binary_of_an_unknown_encoding_is_no_unknown_cte(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n")
    w.ok("SELECT INBOX")
    _, tagged = w.command("FETCH 1 BINARY.PEEK[1]")
    assert tagged == b"NO [UNKNOWN-CTE] unknown Content-Transfer-Encoding x-uuencode"
    assert w.ok("FETCH 1 BODY.PEEK[1]") == [b"* 1 FETCH (BODY[1] {7}\r\nbegin\r\n)"]
    w.close()


def test_rfc822_items_and_implicit_seen(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    header, text = NESTED.split(b"\r\n\r\n", 1)
    header += b"\r\n\r\n"
    assert w.ok("FETCH 1 (RFC822.SIZE RFC822.HEADER)") == [
        b"* 1 FETCH (RFC822.SIZE %d RFC822.HEADER {%d}\r\n%s)" % (len(NESTED), len(header), header)]
    assert w.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))"]
    assert w.ok("FETCH 1 RFC822.TEXT") == [
        b"* 1 FETCH (RFC822.TEXT {%d}\r\n%s FLAGS (\\Seen \\Recent))" % (len(text), text)]
    assert w.ok("FETCH 2 RFC822") == [
        b"* 2 FETCH (RFC822 {30}\r\nSubject: plain\r\n\r\nJust text.\r\n FLAGS (\\Seen \\Recent))"]
    # Already \Seen: no FLAGS added.
    assert w.ok("FETCH 2 BODY[TEXT]") == [b"* 2 FETCH (BODY[TEXT] {12}\r\nJust text.\r\n)"]


def test_flags_dates_uid_and_macros(mailbox: tuple[Wire, str]) -> None:
    w, _ = mailbox
    w.ok("STORE 1 +FLAGS (\\Answered $Label)")
    (line,) = w.ok("FETCH 1 (FLAGS INTERNALDATE UID RFC822.SIZE)")
    # \Recent (a session flag) comes after the system flags, before the keywords.
    assert re.fullmatch(rb'\* 1 FETCH \(FLAGS \(\\Answered \\Recent \$Label\) '
                        rb'INTERNALDATE "\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d \+0000" UID 1 RFC822.SIZE %d\)' % len(NESTED),
                        line), line
    (fast,) = w.ok("FETCH 1 FAST")
    assert fast.startswith(b"* 1 FETCH (FLAGS (") and b"INTERNALDATE" in fast and b"RFC822.SIZE" in fast
    (all_,) = w.ok("FETCH 1 ALL")
    assert b"ENVELOPE (" in all_ and b"BODY" not in all_
    (full,) = w.ok("FETCH 1 FULL")
    assert b"ENVELOPE (" in full and b" BODY ((" in full
    # UID FETCH always includes UID; items asked twice come once.
    assert w.ok("UID FETCH 2 (FLAGS UID FLAGS)") == [b"* 2 FETCH (UID 2 FLAGS (\\Recent))"]
    assert w.ok("FETCH 1:2 UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)"]


def test_modseq_emailid_threadid_savedate(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("start", message_id="<start@example.org>"))
    deliver(imap_node, address, message("Re: start", message_id="<reply@example.org>",
                                        headers=["In-Reply-To: <start@example.org>"]))
    deliver(imap_node, address, message("other", message_id="<other@example.org>"))
    w.ok("SELECT INBOX")
    w.ok("COPY 1 Archive")
    # MODSEQ enables CONDSTORE (RFC 7162 3.1), which may be announced with an untagged OK [HIGHESTMODSEQ].
    lines = [line for line in w.ok("FETCH 1:3 (MODSEQ EMAILID THREADID)") if not line.startswith(b"* OK ")]
    found = [re.fullmatch(rb"\* (\d) FETCH \(MODSEQ \((\d+)\) EMAILID \((E\d+)\) THREADID \((T\d+)\)\)", line)
             for line in lines]
    assert all(found), lines
    modseqs, emails, threads = zip(*((int(f.group(2)), f.group(3), f.group(4)) for f in found if f), strict=True)
    assert modseqs == (2, 3, 4)
    assert len(set(emails)) == 3
    assert threads[0] == threads[1] != threads[2]
    (line,) = w.ok("FETCH 1 SAVEDATE")
    assert re.fullmatch(rb'\* 1 FETCH \(SAVEDATE "[^"]+"\)', line)
    # A copy is the same email (RFC 8474 5.1), in the same thread.
    w.ok("SELECT Archive")
    assert w.ok("FETCH 1 (EMAILID THREADID)") == [b"* 1 FETCH (EMAILID (%s) THREADID (%s))" % (emails[0], threads[0])]
    w.close()


def test_fetch_by_uid_skips_missing_and_sequence_numbers_follow_expunges(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for number in range(5):
        deliver(imap_node, address, message(f"m{number}"), flags=["\\Deleted"] if number % 2 else [])
    w.ok("SELECT INBOX")  # the first SELECT: all five are \Recent to this session
    w.ok("EXPUNGE")
    assert w.ok("UID FETCH 1:* FLAGS") == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))", b"* 2 FETCH (UID 3 FLAGS (\\Recent))",
                                         b"* 3 FETCH (UID 5 FLAGS (\\Recent))"]
    assert w.ok("UID FETCH 2,4,6 FLAGS") == []
    assert w.ok("UID FETCH 5:3 UID") == [b"* 2 FETCH (UID 3)", b"* 3 FETCH (UID 5)"]
    assert w.ok("FETCH 2,3 UID") == [b"* 2 FETCH (UID 3)", b"* 3 FETCH (UID 5)"]
    w.close()


def test_fetch_many_messages_in_batches(imap_node: ImapNode) -> None:
    """A FETCH over more messages than one store query reads (fetch.BATCH) answers for every one."""
    w, address = logged_in(imap_node)
    owner = imap_node.running.call(imap_node.running.runtime.directory.account(address)).id
    imap_node.running.call(imap_node.mailstore.ensure_defaults(owner))
    imap_node.running.call(imap_node.mailstore.append_many(
        owner, "INBOX", [(message(f"bulk {n}"), (), None) for n in range(700)]))
    w.ok("SELECT INBOX")
    lines = w.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert len(lines) == 700
    assert lines[699] == b"* 700 FETCH (UID 700 BODY[HEADER.FIELDS (SUBJECT)] {21}\r\nSubject: bulk 699\r\n\r\n)"
    lines = w.ok("FETCH 2:700,1 (UID)")
    assert len(lines) == 700
    w.close()
