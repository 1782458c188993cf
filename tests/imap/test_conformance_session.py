"""Issue 13, the session's part: what an IMAP conformance suite run against us and Dovecot found wrong.

Keywords in FLAGS and PERMANENTFLAGS (RFC 3501 7.2.6, 7.1), CONDSTORE enabling commands (RFC 7162 3.1),
LSUB's \\Noselect parents (RFC 3501 6.3.9), mailbox names that are not modified UTF-7 (RFC 3501 5.1.3),
and \\Recent for IMAP4rev1 sessions (RFC 3501 2.3.2)."""

from __future__ import annotations

import re

import pytest

from polyport.mailstore import flags as fl
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import account_id, append, deliver, logged_in, message, selected

SYSTEM = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft"


def flags_line(untagged: list[bytes]) -> bytes:
    (line,) = [line for line in untagged if line.startswith(b"* FLAGS ")]
    return line


def permanent_line(untagged: list[bytes]) -> bytes:
    (line,) = [line for line in untagged if line.startswith(b"* OK [PERMANENTFLAGS ")]
    return line


# -- 1. keywords in FLAGS and PERMANENTFLAGS ---------------------------------------------------------------

def test_a_new_keyword_is_announced_in_flags_to_the_storing_session(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    untagged = w.ok("SELECT INBOX")
    assert flags_line(untagged) == b"* FLAGS (" + SYSTEM + b")"
    untagged, tagged = w.command("STORE 1 +FLAGS ($Label1)")
    assert tagged == b"OK STORE completed"
    # RFC 3501 7.2.6: FLAGS (and PERMANENTFLAGS) again, before the FETCH that shows the keyword.
    assert untagged == [
        b"* FLAGS (" + SYSTEM + b" $Label1)",
        b"* OK [PERMANENTFLAGS (" + SYSTEM + b" $Label1 \\*)] flags the client may change",
        b"* 1 FETCH (FLAGS (\\Recent $Label1))",  # \\Recent: the first session to select it (RFC 3501 2.3.2)
    ]
    # A keyword already known (in any case) is not announced again.
    assert w.command("STORE 1 FLAGS ($label1 \\Seen)")[0] == [b"* 1 FETCH (FLAGS (\\Seen \\Recent $label1))"]
    w.close()


def test_other_sessions_hear_of_a_new_keyword(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    a.ok("SELECT INBOX")
    b = Wire(imap_node.port).login(address)
    b.ok("SELECT INBOX")
    a.ok("STORE 1 +FLAGS ($Junk)")
    untagged = b.ok("NOOP")
    assert untagged[:2] == [b"* FLAGS (" + SYSTEM + b" $Junk)",
                            b"* OK [PERMANENTFLAGS (" + SYSTEM + b" $Junk \\*)] flags the client may change"]
    assert untagged[2:] == [b"* 1 FETCH (FLAGS ($Junk))"]
    a.close()
    b.close()


def test_select_lists_every_keyword_ever_used_in_the_mailbox(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"), flags=["$Delivered"])
    append(w, message("two"), flags="\\Seen $Appended")
    w.ok("SELECT INBOX")
    w.ok("STORE 1 +FLAGS (Stored $Label2)")
    w.ok("STORE 1 -FLAGS ($Label2)")
    w.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    w.ok("EXPUNGE")  # $Appended's only message is gone; the keyword stays known (RFC 3501 7.2.6: "defined")
    untagged = w.ok("EXAMINE INBOX")
    assert flags_line(untagged) == b"* FLAGS (" + SYSTEM + b" $Delivered $Appended Stored $Label2)"
    untagged = w.ok("SELECT INBOX")
    assert permanent_line(untagged) == (b"* OK [PERMANENTFLAGS (" + SYSTEM + b" $Delivered $Appended Stored $Label2 "
                                        b"\\*)] flags the client may change")
    w.close()


@pytest.mark.one_process
def test_a_full_mailbox_refuses_new_keywords_and_says_so_in_permanentflags(
        imap_node: ImapNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past flags.MAX_MAILBOX_KEYWORDS a STORE of a new keyword is NO [LIMIT] (RFC 5530) and PERMANENTFLAGS
    drops \\* (RFC 3501 7.1: no new keywords can be made); known keywords still go."""
    monkeypatch.setattr(fl, "MAX_MAILBOX_KEYWORDS", 2)
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    w.ok("SELECT INBOX")
    w.ok("STORE 1 +FLAGS (First)")
    untagged, tagged = w.command("STORE 1 +FLAGS (Second)")
    assert untagged[1] == b"* OK [PERMANENTFLAGS (" + SYSTEM + b" First Second)] flags the client may change"
    untagged, tagged = w.command("STORE 1 +FLAGS (Third)")
    assert tagged.startswith(b"NO [LIMIT] a mailbox holds at most 2 keywords"), tagged
    assert w.command("STORE 1 FLAGS (second \\Seen)")[1] == b"OK STORE completed"
    assert permanent_line(w.ok("SELECT INBOX")) == (b"* OK [PERMANENTFLAGS (" + SYSTEM + b" First Second)] flags "
                                                    b"the client may change")
    w.close()


def test_copied_keywords_are_known_in_the_target(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"), flags=["$Forwarded"])
    w.ok("SELECT INBOX")
    w.ok("COPY 1 Archive")
    w.ok("MOVE 1 Trash")
    for mailbox in ("Archive", "Trash"):
        assert flags_line(w.ok(f"SELECT {mailbox}")) == b"* FLAGS (" + SYSTEM + b" $Forwarded)"
    w.close()


def test_keywords_known_in_mailboxes_written_before_they_were_kept(imap_node: ImapNode) -> None:
    """A mailbox whose messages carry keywords but whose keyword list is not known yet (a store migrated
    from a version that did not keep it) learns them from its messages at its first SELECT."""
    from polyport.store import Statement, unit_of

    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"), flags=["$Old"])
    owner = account_id(imap_node, address)
    forget = Statement("UPDATE mailboxes SET keywords = NULL WHERE account_id = :account_id AND name = 'INBOX'")
    imap_node.running.call(imap_node.mailstore.store.write(unit_of(forget.run(account_id=owner))))
    w.ok("SELECT INBOX")
    w.ok("STORE 1 +FLAGS ($New)")
    assert flags_line(w.ok("SELECT INBOX")) == b"* FLAGS (" + SYSTEM + b" $Old $New)"
    w.close()


# -- 2. CONDSTORE enabling commands (RFC 7162 3.1) -------------------------------------------------------------

def _highest(lines: list[bytes]) -> int:
    found = [int(m.group(1)) for line in lines if (m := re.fullmatch(rb"\* OK \[HIGHESTMODSEQ (\d+)\].*", line))]
    assert len(found) == 1, lines
    return found[0]


def test_fetch_modseq_enables_condstore(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    deliver(imap_node, address, message("two"))
    w.ok("SELECT INBOX")
    assert w.command("STORE 1 +FLAGS (\\Flagged)")[0] == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"]
    untagged = w.ok("FETCH 2 (MODSEQ)")
    # RFC 7162 3.1: the first enabling command with a mailbox selected reports its HIGHESTMODSEQ.
    assert _highest(untagged) == 4
    assert untagged[-1] == b"* 2 FETCH (MODSEQ (3))"
    # From now on every FETCH response a STORE causes carries the mod-sequence.
    assert w.command("STORE 2 +FLAGS (\\Seen)")[0] == [b"* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (5))"]
    assert w.command("STORE 1 +FLAGS.SILENT (\\Seen)")[0] == [b"* 1 FETCH (MODSEQ (6))"]
    # Only the first one says HIGHESTMODSEQ.
    assert w.ok("FETCH 1 (MODSEQ)") == [b"* 1 FETCH (MODSEQ (6))"]
    w.close()


def test_every_enabling_command_reports_highestmodseq_once(imap_node: ImapNode) -> None:
    commands = ["FETCH 1 (FLAGS) (CHANGEDSINCE 1)", "UID FETCH 1 (MODSEQ)", "SEARCH MODSEQ 1",
                "UID SEARCH RETURN (COUNT) MODSEQ 1", "STORE 1 (UNCHANGEDSINCE 100) +FLAGS (\\Answered)",
                "STATUS Sent (HIGHESTMODSEQ)", "ENABLE CONDSTORE", "ENABLE QRESYNC"]
    for command in commands:
        w, address = logged_in(imap_node)
        deliver(imap_node, address, message("one"))
        w.ok("SELECT INBOX")
        untagged = w.ok(command)
        assert _highest(untagged) == 2, (command, untagged)
        assert untagged[0].startswith(b"* OK [HIGHESTMODSEQ 2]"), (command, untagged)
        untagged = w.ok(command.replace("ENABLE QRESYNC", "ENABLE CONDSTORE"))
        assert not any(b"HIGHESTMODSEQ" in line and line.startswith(b"* OK") for line in untagged), command
        # ... and flag changes made by others carry MODSEQ too.
        other = Wire(imap_node.port).login(address)
        other.ok("SELECT INBOX")
        other.ok("STORE 1 FLAGS (\\Draft)")
        changed = [line for line in w.ok("NOOP") if b"FETCH" in line]
        wanted = rb"\* 1 FETCH \((UID 1 )?FLAGS \(\\Draft( \\Recent)?\) MODSEQ \(\d+\)\)"
        assert len(changed) == 1 and re.fullmatch(wanted, changed[0]), (command, changed)
        other.close()
        w.close()


def test_enabling_without_a_mailbox_selected_says_nothing_until_select(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.ok("STATUS INBOX (HIGHESTMODSEQ)") == [b"* STATUS INBOX (HIGHESTMODSEQ 1)"]
    untagged = w.ok("SELECT INBOX")
    assert _highest(untagged) == 1
    w.close()


# -- 3. LSUB: parents of subscribed names (RFC 3501 6.3.9) ---------------------------------------------------

def test_lsub_percent_lists_unsubscribed_parents_as_noselect(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("CREATE foo/bar/baz")
    w.ok("SUBSCRIBE foo/bar/baz")
    w.ok("SUBSCRIBE news/comp")  # a subscribed name that does not exist, under a level that does not either
    untagged = w.ok('LSUB "" %')
    assert b'* LSUB (\\Noselect) "/" foo' in untagged
    assert b'* LSUB (\\Noselect) "/" news' in untagged
    assert not any(b"foo/bar" in line or b"news/" in line for line in untagged)
    assert w.ok('LSUB "" foo/%') == [b'* LSUB (\\Noselect) "/" foo/bar']
    assert w.ok('LSUB "" foo/%/%') == [b'* LSUB () "/" foo/bar/baz']
    assert w.ok('LSUB foo/ %') == [b'* LSUB (\\Noselect) "/" foo/bar']
    # "*" reaches the subscribed names themselves: no stand-ins for them.
    assert w.ok('LSUB "" foo*') == [b'* LSUB () "/" foo/bar/baz']
    # A subscribed parent is listed as itself, once.
    w.ok("SUBSCRIBE foo")
    assert w.ok('LSUB "" f%') == [b'* LSUB () "/" foo']
    w.close()


# -- 4. names that are not modified UTF-7: NO, not BAD (RFC 3501 5.1.3) --------------------------------------

def test_names_that_are_not_modified_utf7_are_refused_with_no(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    for name in ("&Jjo", "&AGE-", '"&*-"', "a&b", "&U,BTFw"):
        for command in (f"CREATE {name}", f"SELECT {name}", f"EXAMINE {name}", f"DELETE {name}",
                        f"RENAME INBOX/x {name}", f"RENAME {name} x", f"SUBSCRIBE {name}", f"UNSUBSCRIBE {name}",
                        f"STATUS {name} (MESSAGES)", f"GETQUOTAROOT {name}", f"MYRIGHTS {name}"):
            _, tagged = w.command(command)
            assert tagged.startswith(b"NO [CANNOT] ") and b"modified UTF-7" in tagged, (command, tagged)
    data = message()
    _, tagged = w.command(b"APPEND &Jjo {%d+}\r\n" % len(data) + data)
    assert tagged.startswith(b"NO [CANNOT] "), tagged
    # A command that is malformed besides is still BAD.
    assert w.command("STATUS &Jjo MESSAGES")[1].startswith(b"BAD ")
    assert w.command("CREATE &Jjo extra")[1].startswith(b"BAD ")
    # After ENABLE UTF8=ACCEPT names are UTF-8: "&Jjo" is a name like any other.
    w.ok("ENABLE UTF8=ACCEPT")
    w.ok("CREATE &Jjo")
    assert w.ok("LIST \"\" &Jjo") == [b'* LIST (\\HasNoChildren) "/" &Jjo']
    w.close()


def test_a_select_refused_for_its_name_closes_the_mailbox_selected(imap_node: ImapNode) -> None:
    """RFC 3501 6.3.1: a SELECT that fails leaves no mailbox selected, whatever made it fail."""
    w, _ = selected(imap_node)
    untagged, tagged = w.command("SELECT &Jjo")
    assert untagged == [b"* OK [CLOSED] previous mailbox closed"] and tagged.startswith(b"NO [CANNOT] ")
    assert w.command("FETCH 1:* FLAGS")[1] == b"BAD FETCH is not allowed in the authenticated state"
    w.close()


# -- 5. \Recent for IMAP4rev1 sessions (RFC 3501 2.3.2) --------------------------------------------------------

def _recent(untagged: list[bytes]) -> list[bytes]:
    return [line for line in untagged if line.endswith(b" RECENT")]


def test_the_first_select_after_delivery_has_the_messages_as_recent(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    deliver(imap_node, address, message("two"))
    assert a.ok("STATUS INBOX (RECENT MESSAGES)") == [b"* STATUS INBOX (RECENT 2 MESSAGES 2)"]
    # EXAMINE shows them as recent without taking the flag away (RFC 3501 6.3.2).
    assert _recent(a.ok("EXAMINE INBOX")) == [b"* 2 RECENT"]
    assert a.ok("SEARCH RECENT") == [b"* SEARCH 1 2"]
    assert _recent(a.ok("SELECT INBOX")) == [b"* 2 RECENT"]
    assert a.ok("STATUS INBOX (RECENT)") == [b"* STATUS INBOX (RECENT 0)"]
    b = Wire(imap_node.port).login(address)
    assert _recent(b.ok("SELECT INBOX")) == [b"* 0 RECENT"]  # the first session has them
    assert b.ok("SEARCH RECENT") == [b"* SEARCH"]
    assert b.ok("SEARCH OLD") == [b"* SEARCH 1 2"]
    assert a.ok("SEARCH RECENT") == [b"* SEARCH 1 2"]
    a.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    assert a.ok("SEARCH NEW") == [b"* SEARCH 1"]
    assert a.ok("SEARCH OLD") == [b"* SEARCH"]
    # \Recent is in the FETCH responses a STORE causes, for this session only.
    assert a.command("STORE 1 +FLAGS (\\Flagged)")[0] == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"]
    assert b.ok("NOOP") == [b"* 1 FETCH (FLAGS (\\Flagged))", b"* 2 FETCH (FLAGS (\\Seen))"]
    a.close()
    b.close()


def test_new_messages_are_recent_to_the_first_session_that_sees_them(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    a.ok("SELECT INBOX")
    b = Wire(imap_node.port).login(address)
    b.ok("SELECT INBOX")
    deliver(imap_node, address, message("two"))
    assert b.ok("NOOP") == [b"* 2 EXISTS", b"* 1 RECENT"]
    assert a.ok("NOOP") == [b"* 2 EXISTS", b"* 1 RECENT"]  # message 1 is still a's own
    assert a.ok("SEARCH RECENT") == [b"* SEARCH 1"]
    assert b.ok("SEARCH RECENT") == [b"* SEARCH 2"]
    # A message this session appends is found by it first, as any other.
    data = message("three")
    untagged, tagged = b.command(b"APPEND INBOX {%d+}\r\n" % len(data) + data)
    assert untagged == [b"* 3 EXISTS", b"* 2 RECENT"] and tagged.startswith(b"OK [APPENDUID ")
    a.close()
    b.close()


def test_imap4rev2_sessions_have_no_recent(imap_node: ImapNode) -> None:
    """RFC 9051 dropped \\Recent: no RECENT response, and selecting takes nothing from IMAP4rev1 sessions."""
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    w.ok("ENABLE IMAP4rev2")
    assert _recent(w.ok("SELECT INBOX")) == []
    deliver(imap_node, address, message("two"))
    assert w.ok("NOOP") == [b"* 2 EXISTS"]
    old = Wire(imap_node.port).login(address)
    assert _recent(old.ok("SELECT INBOX")) == [b"* 2 RECENT"]
    old.close()
    w.close()


def test_another_accounts_session_leaves_new_mail_new_to_the_owner(imap_node: ImapNode) -> None:
    owner, owner_address = logged_in(imap_node)
    other, other_address = logged_in(imap_node)
    owner.ok("CREATE Shared")
    owner.ok(f"SETACL Shared {other_address.split('@')[0]} lrswi")
    deliver(imap_node, owner_address, message("one"), "Shared")
    assert _recent(other.ok(f"SELECT ~{owner_address.split('@')[0]}/Shared")) == [b"* 1 RECENT"]
    assert _recent(owner.ok("SELECT Shared")) == [b"* 1 RECENT"]
    owner.close()
    other.close()


def test_fetch_flags_show_recent(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    w.ok("SELECT INBOX")
    assert w.ok("FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS (\\Recent))"]
    w.close()
