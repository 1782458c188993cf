"""CATENATE (RFC 4469): APPEND from TEXT literals and IMAP URLs (RFC 5092) to the account's own messages,
whole or cut by section and PARTIAL; BADURL and TOOBIG; with MULTIAPPEND and REPLACE."""

from __future__ import annotations

import re

import pytest

from polyport.imap import catenate
from polyport.imap.catenate import BadUrl, MessageUrl
from polyport.mailstore.imapurl import UrlSection as Section
from tests.imap.conftest import SMALL_LIMIT, ImapNode, Wire
from tests.imap.support import account_id, deliver, logged_in

MIXED = (b"From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
         b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
         b"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
         b"--b\r\nContent-Type: text/plain; name=x.txt\r\n\r\nsecond part\r\n--b--\r\n")


# -- URLs (pure) --


def test_urls() -> None:
    assert catenate.parse_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME") == \
        MessageUrl("Drafts", 20, 385759045, Section((1,), "MIME"))
    assert catenate.parse_url("/inbox/Sub%20box/;UID=7/;SECTION=HEADER.FIELDS%20(Subject)/;PARTIAL=2.5") == \
        MessageUrl("INBOX/Sub box", 7, None, Section((), "HEADER.FIELDS", ("Subject",)), (2, 5))
    assert catenate.parse_url("imap://bob;AUTH=*@Example.com:143/INBOX;UIDVALIDITY=9/;UID=1") == \
        MessageUrl("INBOX", 1, 9, user="bob", host="example.com")
    assert catenate.parse_url("/%E2%82%AC/;UID=1/;PARTIAL=10") == MessageUrl("€", 1, partial=(10, None))
    for url, why in [
        ("INBOX/;UID=1", "a URL is imap://... or a path from /"),
        ("/INBOX", "the URL names no message (;UID=)"),
        ("/INBOX;UIDVALIDITY=0/;UID=1", "UIDVALIDITY is not a number from 1 to 4294967295"),
        ("/INBOX/;UID=x", "UID is not a number from 1 to 4294967295"),
        ("/INBOX/;UID=1;EXPIRE=x;URLAUTH=anonymous", "EXPIRE is an RFC 3339 date-time (2026-01-31T12:00:00Z)"),
        ("/INBOX/;UID=1;URLAUTH=anonymous", "a URLAUTH URL is absolute, with a user (imap://user@host/...)"),
        ("/INBOX/;UID=1/;SECTION=1.X", "bad section 1.X"),
        ("/INBOX/;SECTION=1/;UID=1", "unexpected ;SECTION in the URL"),
        ("/INBOX/;UID=1/;PARTIAL=a", "PARTIAL is offset[.length]"),
        ("/%FF/;UID=1", "the mailbox name is not UTF-8"),
        ("imap://example.com", "the URL names no mailbox"),
    ]:
        with pytest.raises(BadUrl) as caught:
            catenate.parse_url(url)
        assert str(caught.value) == why, url


# -- over IMAP --


def _validity(w: Wire, mailbox: str = "INBOX") -> int:
    (line,) = w.ok(f"STATUS {mailbox} (UIDVALIDITY)")
    found = re.search(rb"UIDVALIDITY (\d+)", line)
    assert found is not None
    return int(found.group(1))


def _fetched(w: Wire, uid: int, mailbox: str = "INBOX") -> bytes:
    w.ok(f"EXAMINE {mailbox}")
    (line,) = w.ok(f"UID FETCH {uid} BODY.PEEK[]")
    return line.split(b"}\r\n", 1)[1][:-1]


def test_advertised(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    (caps,) = w.ok("CAPABILITY")
    assert b" CATENATE" in caps
    w.close()


def test_text_and_urls_are_joined(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, MIXED)
    validity = _validity(w)
    header = b"From: me@example.com\r\nSubject: forwarded\r\n"
    tagged = w.command(
        b'APPEND Drafts (\\Draft) CATENATE (TEXT {%d+}\r\n' % len(header) + header +
        b' URL "/INBOX;UIDVALIDITY=%d/;UID=%d/;SECTION=1.MIME"' % (validity, uid) +
        b" URL /INBOX/;UID=%d/;SECTION=2" % uid +
        b" URL imap://%s@example.com/inbox/;UID=%d/;PARTIAL=0.4)" % (address.encode(), uid))
    drafts = _validity(w, "Drafts")
    assert tagged == ([], b"OK [APPENDUID %d 1] APPEND completed" % drafts)
    assert _fetched(w, 1, "Drafts") == header + b"Content-Type: text/plain\r\n\r\n" + \
        b"second part" + b"From"
    w.close()


def test_multiappend_and_replace(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, MIXED)
    assert w.command(b"APPEND Drafts CATENATE (URL /INBOX/;UID=%d/;SECTION=HEADER TEXT {4+}\r\nbody) "
                     b"{3+}\r\nxyz" % uid)[1].startswith(b"OK [APPENDUID ")
    header = _fetched(w, uid)[:MIXED.index(b"\r\n\r\n") + 4]
    assert _fetched(w, 1, "Drafts") == header + b"body"
    assert _fetched(w, 2, "Drafts") == b"xyz"
    w.ok("SELECT Drafts")
    drafts = _validity(w, "Drafts")
    assert w.command(b"UID REPLACE 2 Drafts CATENATE (URL /Drafts/;UID=1/;SECTION=HEADER TEXT {7+}\r\nnewbody)") == (
        [b"* OK [APPENDUID %d 3] replacement message stored" % drafts, b"* 2 EXPUNGE", b"* 2 EXISTS",
         b"* 2 RECENT"],
        b"OK REPLACE completed")
    assert _fetched(w, 3, "Drafts") == header + b"newbody"
    w.close()


def test_bad_urls_and_too_big(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, MIXED)
    validity = _validity(w)
    for url, text in [
        (f"/INBOX;UIDVALIDITY={validity + 1}/;UID={uid}", "the mailbox's UIDVALIDITY has changed"),
        (f"/INBOX/;UID={uid + 1}", f"no message with UID {uid + 1}"),
        ("/Nowhere/;UID=1", "no mailbox Nowhere"),
        (f"/INBOX/;UID={uid}/;SECTION=3", "no part 3"),
        (f"imap://someone-else@example.com/INBOX/;UID={uid}", "the URL names another user"),
        (f"imap://{address}@elsewhere.example/INBOX/;UID={uid}", "the URL names another server"),
        ("/INBOX", "the URL names no message (;UID=)"),
    ]:
        assert w.command(f'APPEND Drafts CATENATE (TEXT {{1+}}\r\nx URL "{url}")') == (
            [], f"NO [BADURL {url}] {text}".encode()), url
    # nothing was appended; the connection goes on
    assert w.ok("STATUS Drafts (MESSAGES)") == [b"* STATUS Drafts (MESSAGES 0)"]
    # another account's mailbox: only with "r" there
    other, other_address = logged_in(imap_node)
    me = address.split("@")[0]
    url = f"/~{me}/INBOX/;UID={uid}"
    assert other.command(f"APPEND INBOX CATENATE (URL {url})") == (
        [], f"NO [BADURL {url}] no mailbox ~{me}/INBOX".encode())
    w.ok(f"SETACL INBOX {other_address.split('@')[0]} lr")
    assert other.command(f"APPEND INBOX CATENATE (URL {url})")[1].startswith(b"OK [APPENDUID ")
    # over the append limit
    limit = imap_node.mailstore.max_message_size
    big_uid = imap_node.running.call(imap_node.mailstore.append(
        account_id(imap_node, address), "INBOX", b"Subject: big\r\n\r\n" + b"x" * (limit // 2 + 10))).uid
    assert w.command(f"APPEND Drafts CATENATE (URL /INBOX/;UID={big_uid} URL /INBOX/;UID={big_uid})") == (
        [], f"NO [TOOBIG] the message would be larger than {limit} bytes".encode())
    w.ok("NOOP")
    w.close()
    other.close()


def test_a_client_vanishing_mid_text_literal_appends_nothing(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    w.send(b"a1 APPEND Drafts CATENATE (TEXT {3+}\r\nabc TEXT {100+}\r\nxyz")
    w.close()
    # ... and after the server's "+" for a synchronizing TEXT literal.
    w2, _ = logged_in(imap_node, address)
    w2.send(b"a1 APPEND Drafts CATENATE (TEXT {3+}\r\nabc TEXT {100}\r\n")
    assert w2.line().startswith(b"+ ")
    w2.send(b"xyz")
    w2.close()
    check, _ = logged_in(imap_node, address)
    assert check.ok("STATUS Drafts (MESSAGES)") == [b"* STATUS Drafts (MESSAGES 0)"]
    check.close()


def test_text_literals_over_the_limit(small_node: ImapNode) -> None:
    w, _ = logged_in(small_node)
    # One TEXT literal over the limit: refused before the "+" (synchronizing), read into nothing (LITERAL+).
    w.send(b"a1 APPEND Drafts CATENATE (TEXT {3+}\r\nabc TEXT {%d}\r\n" % (SMALL_LIMIT + 1))
    assert w.line() == b"a1 NO [TOOBIG] literal larger than %d bytes" % SMALL_LIMIT
    w.send(b"a2 APPEND Drafts CATENATE (TEXT {%d+}\r\n" % (SMALL_LIMIT + 1) + b"x" * (SMALL_LIMIT + 1) + b")\r\n")
    assert w.until(b"a2")[1] == b"NO [TOOBIG] literal larger than %d bytes" % SMALL_LIMIT
    # Two, each under the limit, together over it: the joined message is refused.
    half = b"y" * (SMALL_LIMIT // 2 + 1)
    assert w.command(b"APPEND Drafts CATENATE (TEXT {%d+}\r\n%s TEXT {%d+}\r\n%s)" % (
        len(half), half, len(half), half)) == (
        [], b"NO [TOOBIG] the message would be larger than %d bytes" % SMALL_LIMIT)
    # Nothing was appended, and the connection goes on.
    assert w.ok("STATUS Drafts (MESSAGES)") == [b"* STATUS Drafts (MESSAGES 0)"]
    w.ok("NOOP")
    w.close()
