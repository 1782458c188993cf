"""Changes made elsewhere reach every session on a mailbox: EXISTS, EXPUNGE (or VANISHED), FETCH FLAGS after
another session's APPEND, STORE, EXPUNGE, COPY or MOVE and after deliveries (mailstore.append); at the next
command, or within a second while in IDLE (RFC 2177); expunges held back during FETCH, STORE and SEARCH
(RFC 3501 7.4.1)."""

from __future__ import annotations

import time

import pytest

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import append, compress, deliver, logged_in, message, nothing_pending, wait_for
from tests.node_thread import eventually


def two_sessions(imap_node: ImapNode, count: int = 3) -> tuple[Wire, Wire, str]:
    """Two clients of one new account, both with INBOX selected, holding `count` messages."""
    a, address = logged_in(imap_node)
    for number in range(count):
        deliver(imap_node, address, message(f"m{number}"))
    b, _ = logged_in(imap_node, address)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    return a, b, address


def start_idle(w: Wire) -> None:
    w.send(b"i1 IDLE\r\n")
    assert w.line() == b"+ idling"


def stop_idle(w: Wire) -> list[bytes]:
    w.send(b"DONE\r\n")
    untagged, tagged = w.until(b"i1")
    assert tagged == b"OK IDLE terminated"
    return untagged


# -- at the next command -------------------------------------------------------------------------------------

def test_another_sessions_append_store_and_expunge_at_noop(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node)
    append(b, message("from b"))
    # IMAP4rev1: RECENT follows EXISTS; a, which selected first, holds 1-3 as \\Recent, b the one it appended.
    assert a.command("NOOP") == ([b"* 4 EXISTS", b"* 3 RECENT"], b"OK NOOP completed")
    b.ok("STORE 2 +FLAGS (\\Seen)")
    assert a.command("NOOP") == ([b"* 2 FETCH (FLAGS (\\Seen \\Recent))"], b"OK NOOP completed")
    b.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # The flag changes went with their messages: only the expunges are left to say.
    assert a.command("NOOP") == ([b"* 1 EXPUNGE", b"* 2 EXPUNGE"], b"OK NOOP completed")
    assert a.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 4)"]
    assert a.command("NOOP") == ([], b"OK NOOP completed")  # nothing twice
    a.close()
    b.close()


def test_expunges_flags_and_arrivals_in_one_catch_up(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node)
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("STORE 3 +FLAGS.SILENT (\\Flagged)")
    b.ok("EXPUNGE")
    append(b, message())
    # Expunges first (each number as it is when sent), then arrivals, then flags by their new numbers.
    assert a.command("NOOP") == ([b"* 1 EXPUNGE", b"* 3 EXISTS", b"* 2 RECENT",
                                  b"* 2 FETCH (FLAGS (\\Flagged \\Recent))"], b"OK NOOP completed")
    assert a.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)", b"* 3 FETCH (UID 4)"]
    a.close()
    b.close()


def test_own_changes_are_not_announced_twice(imap_node: ImapNode) -> None:
    a, _, _ = two_sessions(imap_node)
    assert a.command("STORE 1 +FLAGS (\\Flagged)")[0] == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"]
    assert a.command("NOOP") == ([], b"OK NOOP completed")
    assert a.command(b"APPEND INBOX {%d+}\r\n" % len(message()) + message())[0] == [b"* 4 EXISTS", b"* 4 RECENT"]
    assert a.command("NOOP") == ([], b"OK NOOP completed")
    a.close()


def test_expunges_wait_during_fetch_store_and_search(imap_node: ImapNode) -> None:
    """RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH, so the numbers the client uses stay put;
    UID commands may have them."""
    a, b, _ = two_sessions(imap_node)
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # Message 2 is gone from the store: it has nothing to answer with, but keeps its number for now.
    assert a.ok("FETCH 1:3 (UID)") == [b"* 1 FETCH (UID 1)", b"* 3 FETCH (UID 3)"]
    assert a.ok("STORE 3 +FLAGS (\\Seen)") == [b"* 3 FETCH (FLAGS (\\Seen \\Recent))"]
    assert search_numbers(a, "ALL") == [1, 3]  # message 2 is gone, but 3 keeps its number
    assert a.command("NOOP") == ([b"* 2 EXPUNGE"], b"OK NOOP completed")
    assert search_numbers(a, "ALL") == [1, 2]
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # A UID command may shift numbers (once the session has heard of the expunge: over the bus, from another
    # worker, when the node is two).
    eventually(lambda: b"* 1 EXPUNGE" in a.command("UID FETCH 1:* (UID)")[0])
    a.close()
    b.close()


def search_numbers(w: Wire, criteria: str) -> list[int]:
    untagged = w.ok(f"SEARCH {criteria}")
    (line,) = [line for line in untagged if line.startswith(b"* SEARCH")]
    return [int(n) for n in line.split()[2:]]


def test_copy_and_move_by_another_session(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node)
    a.ok("SELECT Archive")
    b.ok("COPY 1 Archive")
    assert a.command("NOOP")[0] == [b"* 1 EXISTS", b"* 1 RECENT"]
    a.ok("SELECT INBOX")
    b.ok("MOVE 2 Trash")
    assert a.command("NOOP")[0] == [b"* 2 EXPUNGE"]
    a.close()
    b.close()


def test_deliveries_reach_the_selected_session(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("SELECT INBOX")
    deliver(imap_node, address, message("one"))
    deliver(imap_node, address, message("two"))
    deliver(imap_node, address, message("elsewhere"), mailbox="Junk")
    assert a.command("NOOP") == ([b"* 2 EXISTS", b"* 2 RECENT"], b"OK NOOP completed")
    assert a.ok("FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)"]
    a.close()


def test_catch_up_after_more_events_than_the_queue_holds(imap_node: ImapNode) -> None:
    """A session that falls behind loses events but not changes: it re-reads what changed."""
    a, b, _ = two_sessions(imap_node, 1)
    for number in range(100):
        b.ok(f"STORE 1 {'+' if number % 2 == 0 else '-'}FLAGS.SILENT (\\Flagged)")
    b.ok("STORE 1 +FLAGS.SILENT ($Done)")
    for _ in range(30):
        append(b, message())
    # $Done is new to the mailbox: FLAGS first (RFC 3501 7.2.6). a holds message 1 as \\Recent; b, which appended
    # the others, saw them first.
    assert a.command("NOOP")[0] == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done \\*)] "
        b"flags the client may change",
        b"* 31 EXISTS", b"* 1 RECENT", b"* 1 FETCH (FLAGS (\\Recent $Done))"]
    a.close()
    b.close()


# -- IDLE ----------------------------------------------------------------------------------------------------

def test_idle_hears_a_delivery_within_a_second(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("SELECT INBOX")
    start_idle(a)
    started = time.monotonic()
    deliver(imap_node, address, message())
    assert wait_for(a, b"EXISTS", timeout=1.0) == [b"* 1 EXISTS"]
    assert time.monotonic() - started < 1.0
    assert stop_idle(a) == [b"* 1 RECENT"]  # IMAP4rev1: RECENT follows EXISTS
    a.close()


def test_idle_hears_flags_expunges_and_appends_from_another_session(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node)
    start_idle(a)
    b.ok("STORE 2 +FLAGS (\\Answered)")
    assert wait_for(a, b"FETCH") == [b"* 2 FETCH (FLAGS (\\Answered \\Recent))"]
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    assert wait_for(a, b"EXPUNGE")[-1] == b"* 3 EXPUNGE"
    append(b, message())
    assert wait_for(a, b"EXISTS") == [b"* 3 EXISTS"]
    # The new message is \Recent to exactly one session (RFC 3501 2.3.2): the appender's, unless, with the
    # node as two workers, this one (hearing of it over the bus) claims it first.
    assert wait_for(a, b"RECENT") in ([b"* 2 RECENT"], [b"* 3 RECENT"])
    assert nothing_pending(a)
    assert stop_idle(a) == []
    assert a.ok("FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 4)"]
    a.close()
    b.close()


def test_idle_with_qresync_and_condstore(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node)
    a.ok("ENABLE QRESYNC")
    a.ok("SELECT INBOX")
    start_idle(a)
    b.ok("STORE 1 +FLAGS (\\Seen)")
    (line,) = wait_for(a, b"FETCH")
    assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    assert wait_for(a, b"VANISHED")[-1] == b"* VANISHED 2"
    stop_idle(a)
    a.close()
    b.close()


def test_two_idling_sessions_both_hear(imap_node: ImapNode) -> None:
    a, b, address = two_sessions(imap_node)
    start_idle(a)
    start_idle(b)
    deliver(imap_node, address, message())
    assert wait_for(a, b"EXISTS") == [b"* 4 EXISTS"]
    assert wait_for(b, b"EXISTS") == [b"* 4 EXISTS"]
    stop_idle(a)
    stop_idle(b)
    a.close()
    b.close()


def test_idle_announces_what_happened_before_it_started(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node)
    append(b, message())
    a.send(b"i1 IDLE\r\n")
    assert a.line() == b"+ idling"
    assert wait_for(a, b"EXISTS") == [b"* 4 EXISTS"]
    stop_idle(a)
    a.close()
    b.close()


def test_idle_without_a_mailbox_and_a_bad_done(imap_node: ImapNode) -> None:
    a, _ = logged_in(imap_node)
    start_idle(a)
    assert nothing_pending(a)
    assert stop_idle(a) == []
    a.ok("SELECT INBOX")
    start_idle(a)
    a.send(b"STOP\r\n")
    assert a.until(b"i1")[1] == b"BAD expected DONE"
    assert a.command("NOOP")[1] == b"OK NOOP completed"
    a.send(b"i2 IDLE\r\n")
    assert a.line() == b"+ idling"
    a.send(b"done\r\n")  # case does not matter
    assert a.until(b"i2")[1] == b"OK IDLE terminated"
    a.close()


def test_an_overlong_line_in_idle_is_dropped_unbuffered(imap_node: ImapNode) -> None:
    """In IDLE the line limit holds as for commands: a client sending megabytes without a line end
    cannot make the server buffer them."""
    a, _ = logged_in(imap_node)
    a.ok("SELECT INBOX")
    start_idle(a)
    a.send(b"x" * 3_000_000)  # no line end yet
    a.send(b"\r\n")
    assert a.until(b"i1")[1] == b"BAD expected DONE, got a line longer than the limit"
    assert a.command("NOOP")[1] == b"OK NOOP completed"
    a.close()


def test_selected_mailbox_deleted_by_another_session(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("CREATE Doomed")
    a.ok("SELECT Doomed")
    b, _ = logged_in(imap_node, address)
    start_idle(a)
    b.ok("DELETE Doomed")
    assert wait_for(a, b"BYE") == [b"* BYE the selected mailbox was deleted"]
    assert a.file.read() == b""  # and the connection ends
    b.close()


def test_idle_under_compression(imap_node: ImapNode) -> None:
    """COMPRESS=DEFLATE and IDLE together: changes and DONE both pass through the compressed stream."""
    a, address = logged_in(imap_node)
    compress(a)
    a.ok("SELECT INBOX")
    start_idle(a)
    deliver(imap_node, address, message())
    assert wait_for(a, b"EXISTS") == [b"* 1 EXISTS"]
    assert stop_idle(a) == [b"* 1 RECENT"]
    assert a.ok("FETCH 1 (UID)") == [b"* 1 FETCH (UID 1)"]
    a.close()


def test_noop_finds_changes_the_bus_never_carried(imap_node: ImapNode) -> None:
    """A writer the node's bus does not carry (another process on the data folder) is found at NOOP: the
    session asks the store whether the mailbox's HIGHESTMODSEQ moved, and catches up when it did."""
    from polyport.mailstore import Mailstore
    from tests.imap.support import account_id

    a, _, address = two_sessions(imap_node)
    node_store = imap_node.mailstore
    quiet = Mailstore(node_store.store, node_store.blobs, node_store.directory, bus=None)  # publishes nothing
    owner = account_id(imap_node, address)
    imap_node.running.call(quiet.append(owner, "INBOX", message("unheard"), []))
    assert a.command("NOOP") == ([b"* 4 EXISTS", b"* 4 RECENT"], b"OK NOOP completed")
    mailbox = imap_node.running.call(quiet.mailbox(owner, "INBOX"))
    imap_node.running.call(quiet.store_flags(mailbox.id, [1], "add", ["\\Flagged"]))
    assert a.command("NOOP") == ([b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"], b"OK NOOP completed")
    assert a.command("NOOP") == ([], b"OK NOOP completed")
    a.close()


def test_own_store_still_finds_a_change_no_bus_carried(imap_node: ImapNode) -> None:
    """After its own STORE a session moves its view on without reading the store only when its change took
    the mod-sequence right after its view's: a change between (here one no bus carried) is read and shown."""
    from polyport.mailstore import Mailstore
    from tests.imap.support import account_id

    a, _, address = two_sessions(imap_node)
    node_store = imap_node.mailstore
    quiet = Mailstore(node_store.store, node_store.blobs, node_store.directory, bus=None)
    owner = account_id(imap_node, address)
    mailbox = imap_node.running.call(quiet.mailbox(owner, "INBOX"))
    imap_node.running.call(quiet.store_flags(mailbox.id, [1], "add", ["\\Flagged"]))
    untagged, tagged = a.command("STORE 2 +FLAGS (\\Seen)")
    assert tagged == b"OK STORE completed"
    assert sorted(untagged) == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))", b"* 2 FETCH (FLAGS (\\Seen \\Recent))"]
    assert a.command("STORE 3 +FLAGS (\\Seen)") == ([b"* 3 FETCH (FLAGS (\\Seen \\Recent))"], b"OK STORE completed")
    assert a.command("NOOP") == ([], b"OK NOOP completed")
    a.close()


@pytest.mark.one_process
def test_own_store_and_a_quiet_noop_read_no_changes(imap_node: ImapNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reads these paths save: after the session's own STORE (nothing else heard) and at a NOOP when
    the mailbox's HIGHESTMODSEQ has not moved, no catch-up reads the changes; another session's STORE is."""
    from polyport.imap import selected as imap_selected
    from polyport.imap import session as imap_session

    a, b, _ = two_sessions(imap_node)
    catch_ups: list[int] = []
    real = imap_selected.catch_up

    async def counted(*args: object, **kwargs: object) -> list[bytes]:
        catch_ups.append(1)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(imap_session, "catch_up", counted)
    assert a.command("STORE 1 +FLAGS (\\Seen)")[1] == b"OK STORE completed"
    assert a.command("NOOP") == ([], b"OK NOOP completed")
    assert catch_ups == []
    assert b.command("NOOP") == ([b"* 1 FETCH (FLAGS (\\Seen))"], b"OK NOOP completed")  # a's change: read
    b.ok("STORE 2 +FLAGS (\\Flagged)")  # b's own, right after its view: not read
    assert catch_ups == [1]
    assert a.command("NOOP") == ([b"* 2 FETCH (FLAGS (\\Flagged \\Recent))"], b"OK NOOP completed")
    assert catch_ups == [1, 1]
    a.close()
    b.close()
