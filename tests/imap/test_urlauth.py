"""URLAUTH over IMAP (RFC 4467): GENURLAUTH, URLFETCH (data or NIL), RESETKEY with and without a mailbox,
URLMECH, the capability, the commands' syntax; a URLAUTH URL in CATENATE (RFC 4469 section 3)."""

from __future__ import annotations

import re

from polyport.imap import wire
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import deliver, logged_in, message

DRAFT = message("draft", body="Si vis pacem, para bellum.\r\n")


def _generate(w: Wire, rump: str) -> str:
    untagged = w.ok(f'GENURLAUTH "{rump}" INTERNAL')
    assert len(untagged) == 1
    found = re.fullmatch(rb'\* GENURLAUTH "([^"]+)"', untagged[0])
    assert found is not None, untagged
    return found.group(1).decode()


def _fetched(w: Wire, url: str) -> bytes | None:
    untagged = w.ok(f'URLFETCH "{url}"')
    assert len(untagged) == 1
    head = f'* URLFETCH "{url}" '.encode()
    assert untagged[0].startswith(head), untagged
    value = untagged[0][len(head):]
    if value == b"NIL":
        return None
    size, _, data = value.partition(b"}\r\n")
    assert int(size[1:]) == len(data)
    return data


def test_capability_and_urlmech(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    (caps,) = w.ok("CAPABILITY")
    assert b" URLAUTH" in caps
    assert b"* OK [URLMECH INTERNAL] URLAUTH mechanisms" in w.ok("EXAMINE INBOX")
    w.close()


def test_generate_fetch_and_reset(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, DRAFT, "Drafts")
    encoded = address.replace("@", "%40")
    rump = f"imap://{encoded}@example.com/Drafts/;uid={uid};urlauth=user+{encoded}"
    url = _generate(w, rump)
    assert url.startswith(rump + ":INTERNAL:")
    assert _fetched(w, url) == DRAFT
    # A section, and several URLs in one command: each answered, NIL for one that is no good.
    text = _generate(w, f"imap://{address}@example.com/Drafts/;UID={uid}/;SECTION=TEXT;URLAUTH=authuser")
    bad = url[:-4] + "0000"
    untagged = w.ok(f'URLFETCH {text} "{bad}"')
    assert untagged == [f'* URLFETCH "{text}" {{28}}\r\nSi vis pacem, para bellum.\r\n'.encode(),
                        f'* URLFETCH "{bad}" NIL'.encode()]
    # Another user: authuser lets them in, user+<address> does not.
    other, _ = logged_in(imap_node)
    assert _fetched(other, text) == b"Si vis pacem, para bellum.\r\n"
    assert _fetched(other, url) is None
    # submit+<address> is for the submission server only, not the user's own IMAP session.
    submit = _generate(w, f"imap://{address}@example.com/Drafts/;UID={uid};URLAUTH=submit+{address}")
    assert _fetched(w, submit) is None
    # RESETKEY of another mailbox leaves Drafts' URLs working; RESETKEY Drafts ends them.
    assert w.command("RESETKEY INBOX INTERNAL") == ([b"* OK [URLMECH INTERNAL] URLAUTH mechanisms"],
                                                    b"OK RESETKEY completed for INBOX")
    assert _fetched(w, url) == DRAFT
    w.ok("RESETKEY Drafts")
    assert _fetched(w, url) is None
    assert _fetched(other, text) is None
    renewed = _generate(w, rump)
    assert renewed != url and _fetched(w, renewed) == DRAFT
    assert w.command("RESETKEY")[1] == b"OK RESETKEY completed"
    assert _fetched(w, renewed) is None
    w.close()
    other.close()


def test_expired_url(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, DRAFT, "Drafts")
    past = _generate(w, f"imap://{address}@example.com/Drafts/;UID={uid};EXPIRE=2001-01-01T00:00:00Z"
                        ";URLAUTH=anonymous")
    future = _generate(w, f"imap://{address}@example.com/Drafts/;UID={uid};EXPIRE=2999-01-01T00:00:00+02:00"
                          ";URLAUTH=anonymous")
    assert _fetched(w, past) is None
    assert _fetched(w, future) == DRAFT
    w.close()


def test_refusals(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    other = imap_node.account()
    uid = deliver(imap_node, address, DRAFT, "Drafts")
    mine = f"imap://{address}@example.com/Drafts/;UID={uid};URLAUTH=anonymous"
    assert w.command(f'GENURLAUTH "{mine}" XYZZY') == ([], b"BAD unknown URLAUTH mechanism XYZZY (only INTERNAL)")
    assert w.command(f'GENURLAUTH "/Drafts/;UID={uid};URLAUTH=anonymous" INTERNAL') == (
        [], b"BAD bad URL: a URLAUTH URL is absolute, with a user (imap://user@host/...)")
    theirs = mine.replace(address, other, 1)
    assert w.command(f'GENURLAUTH "{mine}" INTERNAL "{theirs}" INTERNAL') == (
        [], f"NO cannot authorize {theirs}: the URL names another user".encode())
    nowhere = mine.replace("/Drafts/", "/Nowhere/")
    assert w.command(f'GENURLAUTH "{nowhere}" INTERNAL') == (
        [], f"NO cannot authorize {nowhere}: no mailbox Nowhere".encode())
    assert w.command("RESETKEY Nowhere")[1].startswith(b"NO [NONEXISTENT]")
    assert w.command("RESETKEY INBOX XYZZY")[1] == b"BAD unknown URLAUTH mechanism XYZZY (only INTERNAL)"
    assert w.command("URLFETCH")[1] == b"BAD missing URL"
    # Not before login.
    fresh = Wire(imap_node.port)
    assert fresh.command(f'URLFETCH "{mine}"')[1] == b"BAD URLFETCH is not allowed in the not authenticated state"
    fresh.close()
    w.close()


def test_urlauth_url_in_catenate(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, DRAFT, "Drafts")
    url = _generate(w, f"imap://{address}@example.com/Drafts/;UID={uid};URLAUTH=authuser")
    other, _ = logged_in(imap_node)
    assert other.command(f'APPEND INBOX CATENATE (URL "{url}")')[1].startswith(b"OK [APPENDUID ")
    bad = url[:-4] + "0000"
    assert other.command(f'APPEND INBOX CATENATE (URL "{bad}")') == (
        [], f"NO [BADURL {bad}] the URL's authorization does not verify".encode())
    w.close()
    other.close()


def test_parsing() -> None:
    c = wire.parse_command(b'a GENURLAUTH "imap://j@h/INBOX/;UID=1;URLAUTH=anonymous" internal '
                           b"imap://j@h/INBOX/;UID=2;URLAUTH=authuser INTERNAL\r\n")
    assert c == wire.GenUrlAuth("a", (("imap://j@h/INBOX/;UID=1;URLAUTH=anonymous", "INTERNAL"),
                                      ("imap://j@h/INBOX/;UID=2;URLAUTH=authuser", "INTERNAL")))
    assert wire.parse_command(b"a RESETKEY\r\n") == wire.ResetKey("a")
    assert wire.parse_command(b"a RESETKEY inbox INTERNAL x.y\r\n") == wire.ResetKey("a", "INBOX", ("INTERNAL", "X.Y"))
    assert wire.parse_command(b"a URLFETCH {5}\r\nimap:\r\n") == wire.UrlFetch("a", ("imap:",))
    for line, why in [(b"a GENURLAUTH x\r\n", "missing URLAUTH mechanism"),
                      (b"a GENURLAUTH x in_ternal\r\n", "expected URLAUTH mechanism, found 'i'"),
                      (b"a URLFETCH \"\"\r\n", "URL is not a URL (US-ASCII, percent-encoded)"),
                      (b"a RESETKEY INBOX (x)\r\n", "expected URLAUTH mechanism, found '('")]:
        try:
            wire.parse_command(line)
        except wire.ParseError as err:
            assert err.message == why, line
        else:
            raise AssertionError(line)


def test_at_most_100_urls_in_one_command(imap_node: ImapNode) -> None:
    urls = [f"imap://u@h/INBOX/;UID={n};URLAUTH=anonymous" for n in range(1, 102)]
    generate = "a GENURLAUTH " + " ".join(f"{url} INTERNAL" for url in urls[:100])
    fetch = "a URLFETCH " + " ".join(urls[:100])
    generated = wire.parse_command(generate.encode() + b"\r\n")
    assert isinstance(generated, wire.GenUrlAuth) and len(generated.urls) == 100
    fetched = wire.parse_command(fetch.encode() + b"\r\n")
    assert isinstance(fetched, wire.UrlFetch) and len(fetched.urls) == 100
    for line in (f"{generate} {urls[100]} INTERNAL", f"{fetch} {urls[100]}"):
        try:
            wire.parse_command(line.encode() + b"\r\n")
        except wire.ParseError as err:
            assert err.message == "more than 100 URLs", line
        else:
            raise AssertionError(line)
    # Over IMAP: BAD, nothing answered for any URL, and the connection goes on.
    w, address = logged_in(imap_node)
    uid = deliver(imap_node, address, DRAFT, "Drafts")
    mine = _generate(w, f"imap://{address}@example.com/Drafts/;UID={uid};URLAUTH=anonymous")
    assert w.command("URLFETCH " + " ".join([mine] * 101)) == ([], b"BAD more than 100 URLs")
    rump = f"imap://{address}@example.com/Drafts/;UID={uid};URLAUTH=anonymous"
    assert w.command("GENURLAUTH " + " ".join([f"{rump} INTERNAL"] * 101)) == ([], b"BAD more than 100 URLs")
    assert _fetched(w, mine) == DRAFT
    w.close()
