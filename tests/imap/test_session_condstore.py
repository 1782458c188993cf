"""CONDSTORE and QRESYNC (RFC 7162): mod-sequences in SELECT, FETCH, STORE and SEARCH; CHANGEDSINCE,
UNCHANGEDSINCE and MODIFIED; SELECT ... (QRESYNC ...) with VANISHED (EARLIER); VANISHED instead of EXPUNGE;
[CLOSED] when a SELECT closes the mailbox selected before."""

from __future__ import annotations

import re

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import deliver, logged_in, message
from tests.imap.test_session_messages import seen_elsewhere


def modseq_of(w: Wire, number: int) -> int:
    (line,) = w.ok(f"FETCH {number} (MODSEQ)")
    found = re.fullmatch(rb"\* \d+ FETCH \(MODSEQ \((\d+)\)\)", line)
    assert found is not None, line
    return int(found.group(1))


def highestmodseq(lines: list[bytes]) -> int:
    found = re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(lines))
    assert found is not None, lines
    return int(found.group(1))


def filled(imap_node: ImapNode, count: int = 4) -> tuple[Wire, str]:
    """A session on a new account with `count` messages, none \\Recent to it."""
    w, address = logged_in(imap_node)
    for number in range(count):
        deliver(imap_node, address, message(f"m{number}"))
    seen_elsewhere(imap_node, address)
    return w, address


def test_select_condstore_and_fetch_modseq(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node)
    untagged = w.ok("SELECT INBOX (CONDSTORE)")
    assert b"* OK [HIGHESTMODSEQ 5] highest mod-sequence" in untagged
    assert w.ok("FETCH 1:* (FLAGS)") == [b"* %d FETCH (FLAGS () MODSEQ (%d))" % (n, n + 1) for n in range(1, 5)]
    assert w.command("STORE 2 +FLAGS (\\Seen)") == (
        [b"* 2 FETCH (FLAGS (\\Seen) MODSEQ (6))"], b"OK STORE completed")
    # FETCH ... (CHANGEDSINCE m): only what changed after m, each with its MODSEQ.
    assert w.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE 4)") == [
        b"* 2 FETCH (FLAGS (\\Seen) MODSEQ (6))", b"* 4 FETCH (FLAGS () MODSEQ (5))"]
    assert w.ok("UID FETCH 1:* (UID) (CHANGEDSINCE 5)") == [b"* 2 FETCH (UID 2 MODSEQ (6))"]
    assert w.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE 6)") == []
    w.close()


def test_changedsince_enables_condstore(imap_node: ImapNode) -> None:
    """RFC 7162 3.1: a CHANGEDSINCE (or MODSEQ search key, or STATUS HIGHESTMODSEQ) turns CONDSTORE on."""
    w, _ = filled(imap_node, 2)
    w.ok("SELECT INBOX")
    assert w.ok("FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())"]
    # The first enabling command with a mailbox selected reports its HIGHESTMODSEQ (RFC 7162 3.1).
    assert w.ok("FETCH 1 (FLAGS) (CHANGEDSINCE 1)") == [b"* OK [HIGHESTMODSEQ 3] CONDSTORE is on",
                                                        b"* 1 FETCH (FLAGS () MODSEQ (2))"]
    assert w.ok("FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS () MODSEQ (2))"]
    w.close()


def test_store_unchangedsince_and_modified(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node)
    w.ok("ENABLE CONDSTORE")
    w.ok("SELECT INBOX")
    w.ok("STORE 3 +FLAGS (\\Flagged)")  # message 3 is now at 6
    untagged, tagged = w.command("STORE 1:4 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Seen) MODSEQ (7))", b"* 2 FETCH (FLAGS (\\Seen) MODSEQ (7))",
                        b"* 4 FETCH (FLAGS (\\Seen) MODSEQ (7))"]
    assert tagged == b"OK [MODIFIED 3] STORE completed; some messages changed meanwhile"
    untagged, tagged = w.command("UID STORE 1:4 (UNCHANGEDSINCE 6) FLAGS.SILENT (\\Deleted)")
    assert untagged == [b"* 3 FETCH (UID 3 MODSEQ (8))"]  # .SILENT still reports the new mod-sequence
    assert tagged == b"OK [MODIFIED 1:2,4] STORE completed; some messages changed meanwhile"
    # UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3).
    _, tagged = w.command("STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Answered)")
    assert tagged.startswith(b"OK [MODIFIED 1] ")
    w.close()


def test_search_modseq(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node)
    w.ok("SELECT INBOX")
    w.ok("STORE 2,3 +FLAGS (\\Flagged)")
    assert w.command("SEARCH MODSEQ 6")[0] == [b"* OK [HIGHESTMODSEQ 6] CONDSTORE is on", b"* SEARCH 2 3 (MODSEQ 6)"]
    assert w.command('SEARCH MODSEQ "/flags/\\\\Flagged" all 6')[0] == [b"* SEARCH 2 3 (MODSEQ 6)"]
    assert w.command("SEARCH MODSEQ 100")[0] == [b"* SEARCH"]
    w.close()


def test_status_highestmodseq_and_expunge_code(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node, 2)
    assert w.ok("STATUS INBOX (HIGHESTMODSEQ)") == [b"* STATUS INBOX (HIGHESTMODSEQ 3)"]
    w.ok("SELECT INBOX")
    w.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    untagged, tagged = w.command("EXPUNGE")
    assert untagged == [b"* 1 EXPUNGE"] and tagged == b"OK [HIGHESTMODSEQ 5] EXPUNGE completed"
    w.close()


def test_qresync_select(imap_node: ImapNode) -> None:
    """RFC 7162 3.2.5: a client that knew the mailbox at some mod-sequence learns what vanished and what
    changed since, in the SELECT's answer."""
    w, address = filled(imap_node, 6)
    w.ok("ENABLE QRESYNC")
    untagged = w.ok("SELECT INBOX")
    validity = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(untagged)).group(1))  # type: ignore[union-attr]
    known = highestmodseq(untagged)
    w.ok("STORE 2 +FLAGS (\\Seen)")
    w.ok("STORE 4,5 +FLAGS.SILENT (\\Deleted)")
    w.ok("EXPUNGE")
    deliver(imap_node, address, message("new"))
    w.ok("UNSELECT")
    untagged, tagged = w.command(f"SELECT INBOX (QRESYNC ({validity} {known}))")
    assert tagged == b"OK [READ-WRITE] SELECT completed"
    assert untagged[0] == b"* 5 EXISTS"
    end = untagged.index(next(line for line in untagged if line.startswith(b"* OK [URLMECH")))
    assert untagged[end + 1:] == [
        b"* VANISHED (EARLIER) 4:5",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (8))",
        b"* 5 FETCH (UID 7 FLAGS (\\Recent) MODSEQ (11))",  # \Recent: this session is the first to see it
    ]
    # Known UIDs limit what VANISHED reports.
    untagged, _ = w.command(f"SELECT INBOX (QRESYNC ({validity} {known} 1:4))")
    assert untagged[0] == b"* OK [CLOSED] previous mailbox closed"
    assert b"* VANISHED (EARLIER) 4" in untagged
    # Another UIDVALIDITY: nothing to resynchronize, a plain SELECT.
    untagged, _ = w.command(f"SELECT INBOX (QRESYNC ({validity + 1000} {known}))")
    assert not any(b"VANISHED" in line or b"FETCH" in line for line in untagged)
    w.close()


def test_qresync_needs_enable(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node, 1)
    _, tagged = w.command("SELECT INBOX (QRESYNC (1 1))")
    assert tagged == b"BAD QRESYNC needs ENABLE QRESYNC first"
    w.ok("SELECT INBOX")
    assert w.command("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")[1] == \
        b"BAD VANISHED needs ENABLE QRESYNC first"
    assert w.command("FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")[1].startswith(b"BAD VANISHED is allowed with UID")
    w.close()


def test_fetch_vanished_and_expunges_as_vanished(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node, 5)
    w.ok("ENABLE QRESYNC")
    known = highestmodseq(w.ok("SELECT INBOX"))
    w.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    # With QRESYNC, expunges are VANISHED responses, with UIDs (RFC 7162 3.2.10).
    assert w.command("EXPUNGE") == ([b"* VANISHED 2:3"], b"OK [HIGHESTMODSEQ 8] EXPUNGE completed")
    w.ok("STORE 1 +FLAGS (\\Seen)")
    assert w.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)") == [
        b"* VANISHED (EARLIER) 2:3",
        b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (9))",
    ]
    # Unsolicited FETCH responses name the UID when QRESYNC is on.
    assert w.command("STORE 2 +FLAGS (\\Flagged)")[0] == [b"* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (10))"]
    w.close()


def test_implicit_seen_reports_modseq(imap_node: ImapNode) -> None:
    w, _ = filled(imap_node, 1)
    w.ok("ENABLE CONDSTORE")
    w.ok("SELECT INBOX")
    (line,) = w.ok("FETCH 1 BODY[TEXT]")
    assert line.endswith(b" FLAGS (\\Seen) MODSEQ (3))")
    w.close()
