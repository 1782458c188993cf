"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4): SEARCH and SORT with RETURN (UPDATE) keep their
result up to date with ADDTO and REMOVEFROM as another session appends, stores and expunges; REMOVEFROM
before the EXPUNGE, ADDTO after the EXISTS; SORT positions; CANCELUPDATE; tag reuse; NOUPDATE past the
limits; updates end with the selection."""

from __future__ import annotations

import pytest

from polyport.imap import contexts
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import append, deliver, logged_in, message, nothing_pending, wait_for


def two_sessions(imap_node: ImapNode, subjects: list[str]) -> tuple[Wire, Wire, str]:
    """Two IMAP4rev2 clients (no RECENT) of one new account, INBOX selected, holding a message per subject."""
    a, address = logged_in(imap_node)
    for subject in subjects:
        deliver(imap_node, address, message(subject))
    b, _ = logged_in(imap_node, address)
    for w in (a, b):
        w.ok("ENABLE IMAP4rev2")
        w.ok("SELECT INBOX")
        w.counter = 0  # each test's commands are tagged t1, t2...
    return a, b, address


def test_capabilities_are_advertised(imap_node: ImapNode) -> None:
    a, _ = logged_in(imap_node)
    (line,) = a.ok("CAPABILITY")
    assert b" CONTEXT=SEARCH " in line and b" CONTEXT=SORT " in line
    a.close()


def test_search_update_follows_stores_appends_and_expunges(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1", "m2", "m3", "m4"])
    b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    a.command("NOOP")
    assert a.command("UID SEARCH RETURN (UPDATE COUNT) UNFLAGGED") == (
        [b'* ESEARCH (TAG "t2") UID COUNT 3'], b"OK SEARCH completed")
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")  # stops matching
    b.ok("STORE 2 -FLAGS.SILENT (\\Flagged)")  # starts matching
    assert a.command("NOOP") == ([b"* 1 FETCH (FLAGS (\\Flagged))", b"* 2 FETCH (FLAGS ())",
                                  b'* ESEARCH (TAG "t2") UID REMOVEFROM (0 1) ADDTO (0 2)'], b"OK NOOP completed")
    append(b, message("m5"))
    append(b, message("m6"), flags="\\Flagged")  # does not match: no ADDTO for it
    assert a.command("NOOP") == ([b"* 6 EXISTS", b'* ESEARCH (TAG "t2") UID ADDTO (0 5)'], b"OK NOOP completed")
    b.ok("STORE 3,6 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    untagged, _ = a.command("NOOP")
    # The flag changes come with nothing (\\Deleted is not in the query); the expunge of UID 3 brings its
    # REMOVEFROM before the EXPUNGE, and UID 6 (not in the result) nothing.
    assert untagged[-3:] == [b'* ESEARCH (TAG "t2") UID REMOVEFROM (0 3)', b"* 3 EXPUNGE", b"* 5 EXPUNGE"]
    assert a.command("NOOP") == ([], b"OK NOOP completed")
    a.close()
    b.close()


def test_message_numbers_and_the_order_of_expunge_and_exists(imap_node: ImapNode) -> None:
    """SEARCH (not UID): numbers; REMOVEFROM uses the numbers before the EXPUNGE, ADDTO the ones after EXISTS."""
    a, b, _ = two_sessions(imap_node, ["m1", "m2", "m3"])
    assert a.command("SEARCH RETURN (UPDATE) ALL") == ([b'* ESEARCH (TAG "t1")'], b"OK SEARCH completed")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    append(b, message("m4"))
    assert a.command("NOOP") == ([b'* ESEARCH (TAG "t1") REMOVEFROM (0 2)', b"* 2 EXPUNGE", b"* 3 EXISTS",
                                  b'* ESEARCH (TAG "t1") ADDTO (0 3)'],
                                 b"OK NOOP completed")
    a.close()
    b.close()


def test_expunge_removal_waits_for_the_expunge(imap_node: ImapNode) -> None:
    """RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH, and so no REMOVEFROM for it either."""
    a, b, _ = two_sessions(imap_node, ["m1", "m2"])
    a.ok("SEARCH RETURN (UPDATE) ALL")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    untagged = a.ok("FETCH 2 (UID)")
    assert not any(b"REMOVEFROM" in line or b"EXPUNGE" in line for line in untagged)
    assert a.command("NOOP")[0][-2:] == [b'* ESEARCH (TAG "t1") REMOVEFROM (0 1)', b"* 1 EXPUNGE"]
    a.close()
    b.close()


def test_own_store_changes_the_result(imap_node: ImapNode) -> None:
    a, _, _ = two_sessions(imap_node, ["m1", "m2"])
    a.ok("UID SEARCH RETURN (UPDATE) UNSEEN")
    assert a.command("STORE 1 +FLAGS (\\Seen)") == (
        [b"* 1 FETCH (FLAGS (\\Seen))", b'* ESEARCH (TAG "t1") UID REMOVEFROM (0 1)'], b"OK STORE completed")
    a.close()


def test_sort_update_positions(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["b", "d", "f"])
    assert a.command("UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED") == (
        [b'* ESEARCH (TAG "t1") UID ALL 1:3'], b"OK SORT completed")
    append(b, message("a"))
    append(b, message("e"))
    append(b, message("c"))
    # a goes first; then c at 3 (after a, b), then e at 5 (after d): each at its place once the earlier are in.
    assert a.command("NOOP") == ([b"* 6 EXISTS", b'* ESEARCH (TAG "t1") UID ADDTO (1 4 3 6 5 5)'],
                                 b"OK NOOP completed")
    b.ok("STORE 2,6 +FLAGS.SILENT (\\Deleted)")  # d at 4 and c at 3: both leave, from position 3
    assert a.command("NOOP")[0][-1] == b'* ESEARCH (TAG "t1") UID REMOVEFROM (3 6,2)'
    assert a.ok("UID SORT RETURN (ALL) (SUBJECT) UTF-8 UNDELETED") == [b'* ESEARCH (TAG "t4") UID ALL 4,1,5,3']
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")  # f, the last, at 4
    assert a.command("NOOP")[0][-1] == b'* ESEARCH (TAG "t1") UID REMOVEFROM (4 3)'
    a.close()
    b.close()


def test_reverse_sort_by_number(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["a", "b"])
    assert a.command("SORT RETURN (UPDATE MIN) (REVERSE SUBJECT) UTF-8 ALL") == (
        [b'* ESEARCH (TAG "t1") MIN 2'], b"OK SORT completed")
    append(b, message("c"))
    assert a.command("NOOP") == ([b"* 3 EXISTS", b'* ESEARCH (TAG "t1") ADDTO (1 3)'], b"OK NOOP completed")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    assert a.command("NOOP")[0][-2:] == [b'* ESEARCH (TAG "t1") REMOVEFROM (3 1)', b"* 1 EXPUNGE"]
    a.close()
    b.close()


def test_cancelupdate(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1"])
    a.ok("SEARCH RETURN (UPDATE) ALL")  # t1
    a.ok("SEARCH RETURN (UPDATE) ALL")  # t2
    assert a.command('CANCELUPDATE "t1" "nope"') == ([], b"NO no result is being updated for nope")
    assert a.command('CANCELUPDATE "t1"') == ([], b"OK no further updates")
    assert a.command('CANCELUPDATE "t1"')[1].startswith(b"NO ")
    append(b, message("m2"))
    assert a.command("NOOP") == ([b"* 2 EXISTS", b'* ESEARCH (TAG "t2") ADDTO (0 2)'], b"OK NOOP completed")
    assert a.command("CANCELUPDATE t2")[1].startswith(b"BAD ")  # quoted only
    a.close()
    b.close()


def test_tag_reuse_is_bad_and_changes_nothing(imap_node: ImapNode) -> None:
    a, _, _ = two_sessions(imap_node, ["m1"])
    a.send(b"x1 SEARCH RETURN (UPDATE) ALL\r\n")
    a.until(b"x1")
    a.send(b"x1 SORT RETURN (UPDATE) (DATE) UTF-8 ALL\r\n")
    assert a.until(b"x1")[1].startswith(b"BAD ")
    a.send(b"x1 SEARCH RETURN (COUNT) ALL\r\n")  # without UPDATE, the tag is the client's business
    assert a.until(b"x1") == ([b'* ESEARCH (TAG "x1") COUNT 1'], b"OK SEARCH completed")
    a.close()


def test_noupdate_past_the_limit(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1"])
    for _ in range(contexts.MAX_CONTEXTS):
        a.ok("SEARCH RETURN (UPDATE) ALL")
    tag = b"t%d" % (a.counter + 1)
    untagged, tagged = a.command("SEARCH RETURN (UPDATE COUNT) ALL")
    assert untagged[0] == b'* ESEARCH (TAG "%s") COUNT 1' % tag
    assert untagged[1].startswith(b'* NO [NOUPDATE "%s"] ' % tag)
    assert tagged == b"OK SEARCH completed"
    a.ok('CANCELUPDATE "t3"')
    assert len(a.ok("SORT RETURN (UPDATE) (DATE) UTF-8 ALL")) == 1  # room again: no NOUPDATE
    a.close()
    b.close()


def test_updates_end_with_the_selection(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1"])
    a.ok("SEARCH RETURN (UPDATE) ALL")
    a.ok("SELECT INBOX")
    append(b, message("m2"))
    assert a.command("NOOP") == ([b"* 2 EXISTS"], b"OK NOOP completed")
    assert a.command('CANCELUPDATE "t1"')[1].startswith(b"NO ")
    a.ok("UNSELECT")
    assert a.command('CANCELUPDATE "t1"')[1].startswith(b"BAD ")  # a selected-state command
    a.close()
    b.close()


def test_save_partial_and_context_with_update(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1", "m2", "m3"])
    # SAVE alone: no ESEARCH; "$" keeps the result of the command's time, the updates go on.
    assert a.command("SEARCH RETURN (SAVE UPDATE) 2:3") == ([], b"OK SEARCH completed, result saved")
    assert a.ok("SEARCH RETURN (CONTEXT) ALL") == [b'* ESEARCH (TAG "t2") ALL 1:3']
    assert a.ok("UID SEARCH RETURN (PARTIAL 1:1 UPDATE) ALL") == [b'* ESEARCH (TAG "t3") UID PARTIAL (1:1 1)']
    append(b, message("m4"))
    # The sequence set 2:3 was evaluated when t1 was received: message 4 is not in it.
    assert a.command("NOOP") == ([b"* 4 EXISTS", b'* ESEARCH (TAG "t3") UID ADDTO (0 4)'], b"OK NOOP completed")
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    assert a.command("NOOP")[0][-3:] == [b'* ESEARCH (TAG "t1") REMOVEFROM (0 2)',
                                         b'* ESEARCH (TAG "t3") UID REMOVEFROM (0 2)', b"* 2 EXPUNGE"]
    assert a.ok("FETCH $ (UID)") == [b"* 2 FETCH (UID 3)"]
    a.close()
    b.close()


def test_updates_in_idle(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1"])
    a.ok("UID SEARCH RETURN (UPDATE) FLAGGED")
    a.send(b"i1 IDLE\r\n")
    assert a.line() == b"+ idling"
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    lines = wait_for(a, b"ADDTO")
    assert lines[-1] == b'* ESEARCH (TAG "t1") UID ADDTO (0 1)'
    a.send(b"DONE\r\n")
    assert a.until(b"i1")[1] == b"OK IDLE terminated"
    a.close()
    b.close()


def test_updates_between_commands_with_notify(imap_node: ImapNode) -> None:
    a, b, _ = two_sessions(imap_node, ["m1"])
    a.ok("NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))")
    a.ok("UID SEARCH RETURN (UPDATE) UNSEEN")
    assert nothing_pending(a)
    b.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    assert wait_for(a, b"REMOVEFROM")[-1] == b'* ESEARCH (TAG "t2") UID REMOVEFROM (0 1)'
    a.close()
    b.close()


def test_a_body_search_is_matched_again_on_arrival(imap_node: ImapNode) -> None:
    a, _, address = two_sessions(imap_node, ["m1"])
    a.ok('UID SEARCH RETURN (UPDATE) BODY "needle"')
    deliver(imap_node, address, message("hay", body="no\r\n"))
    deliver(imap_node, address, message("hit", body="a needle here\r\n"))
    assert a.command("NOOP") == ([b"* 3 EXISTS", b'* ESEARCH (TAG "t1") UID ADDTO (0 3)'], b"OK NOOP completed")
    a.close()


@pytest.mark.parametrize("command", ["SEARCH RETURN (UPDATE) 1:*", "SORT RETURN (UPDATE) (ARRIVAL) UTF-8 1:*"])
def test_message_numbers_in_the_query_are_frozen(imap_node: ImapNode, command: str) -> None:
    a, b, _ = two_sessions(imap_node, ["m1", "m2"])
    a.ok(command)
    append(b, message("m3"))  # beyond "*" as it was
    assert a.command("NOOP") == ([b"* 3 EXISTS"], b"OK NOOP completed")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    assert a.command("NOOP")[0][-2:] == [
        b'* ESEARCH (TAG "t1") REMOVEFROM (%s1)' % (b"0 " if command.startswith("SEARCH") else b"1 "),
        b"* 1 EXPUNGE"]
    a.close()
    b.close()


@pytest.mark.one_process
def test_noupdate_past_the_selections_budget(imap_node: ImapNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """The results of a selection's contexts together are bounded (contexts.MAX_RESULTS, MAX_BYTES): a
    context that would pass the bound is refused, one that grows past it is dropped, each with NOUPDATE."""
    monkeypatch.setattr(contexts, "MAX_RESULTS", 5)
    a, b, _ = two_sessions(imap_node, ["m1", "m2"])
    assert a.ok("UID SEARCH RETURN (UPDATE) ALL") == [b'* ESEARCH (TAG "t1") UID']
    assert a.ok("UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL") == [b'* ESEARCH (TAG "t2") UID']
    untagged = a.ok("UID SEARCH RETURN (UPDATE) ALL")
    assert untagged[-1].startswith(b'* NO [NOUPDATE "t3"] ')
    append(b, message("m3"))
    untagged, _ = a.command("NOOP")
    assert untagged[0] == b"* 3 EXISTS"
    assert untagged[1] == b'* ESEARCH (TAG "t1") UID ADDTO (0 3)'
    assert untagged[2].startswith(b'* NO [NOUPDATE "t2"] ')  # 6 results together: the second dropped
    assert a.command('CANCELUPDATE "t2"')[1].startswith(b"NO ")
    a.close()
    b.close()
