"""NOTIFY (RFC 5465) and UNAUTHENTICATE (RFC 8437): a session that asked with NOTIFY SET hears, without
sending a command, STATUS for other mailboxes' message changes, LIST for mailbox names and subscriptions,
METADATA for entries, and EXISTS/EXPUNGE/FETCH for the selected mailbox (expunges held with
SELECTED-DELAYED); the rules between events, BADEVENT, the STATUS option, NONE and the overflow."""

from __future__ import annotations

import re

import pytest

from polyport.bus.events import MessagesChanged
from polyport.imap import notifications
from tests.imap.conftest import ImapNode
from tests.imap.support import account_id, append, deliver, logged_in, message, nothing_pending, wait_for

MESSAGE_EVENTS = "(MessageNew MessageExpunge FlagChange)"


def test_advertised_after_login(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    (caps,) = w.ok("CAPABILITY")
    assert b" NOTIFY" in caps and b" UNAUTHENTICATE" in caps
    w.close()


def test_status_for_other_mailboxes_while_idle(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    a.ok("CREATE Work")
    assert a.command(f"NOTIFY SET (personal {MESSAGE_EVENTS})") == ([], b"OK NOTIFY completed")
    append(b, message("one"), "Work")
    line = wait_for(a, b"STATUS")[-1]
    assert re.fullmatch(rb"\* STATUS Work \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)", line), line
    b.ok("SELECT Work")
    b.ok("STORE 1 +FLAGS (\\Seen)")
    assert re.fullmatch(rb"\* STATUS Work \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0\)",
                        wait_for(a, b"STATUS")[-1])
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    wait_for(a, b"STATUS")
    b.ok("EXPUNGE")
    assert b"MESSAGES 0 " in wait_for(a, b"STATUS")[-1]
    deliver(imap_node, address, message("to INBOX"))
    assert wait_for(a, b"STATUS")[-1].startswith(b"* STATUS INBOX (MESSAGES 1 ")
    a.ok("NOOP")
    a.close()
    b.close()


def test_condstore_adds_highestmodseq(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("ENABLE CONDSTORE")
    a.ok(f"NOTIFY SET (inboxes {MESSAGE_EVENTS})")
    deliver(imap_node, address, message())
    assert re.search(rb"HIGHESTMODSEQ \d+\)$", wait_for(a, b"STATUS")[-1])
    a.close()


def test_mailbox_names_and_subscriptions(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    a.ok("NOTIFY SET (personal (MailboxName SubscriptionChange))")
    b.ok("CREATE Projects")
    assert wait_for(a, b"LIST")[-1] == b'* LIST () "/" Projects'
    b.ok("CREATE Projects/Old")
    assert wait_for(a, b"LIST")[-1] == b'* LIST () "/" Projects/Old'
    b.ok("RENAME Projects Done")
    renamed = {wait_for(a, b"OLDNAME")[-1], wait_for(a, b"OLDNAME")[-1]}  # the subtree moves with it
    assert renamed == {b'* LIST () "/" Done ("OLDNAME" (Projects))',
                       b'* LIST () "/" Done/Old ("OLDNAME" (Projects/Old))'}
    b.ok("SUBSCRIBE Done")
    assert wait_for(a, b"LIST")[-1] == b'* LIST (\\Subscribed) "/" Done'
    b.ok("UNSUBSCRIBE Done")
    assert wait_for(a, b"LIST")[-1] == b'* LIST () "/" Done'
    b.ok("DELETE Done/Old")
    assert wait_for(a, b"LIST")[-1] == b'* LIST (\\NonExistent) "/" Done/Old'
    assert nothing_pending(a)
    a.close()
    b.close()


def test_subtree_and_mailboxes_filters(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    for name in ("Lists", "Lists/python", "Other"):
        a.ok(f"CREATE {name}")
    a.ok(f"NOTIFY SET (subtree Lists {MESSAGE_EVENTS}) (mailboxes (Other) (MailboxName))")
    append(b, message(), "Other")  # Other: names only
    append(b, message(), "Lists/python")
    assert wait_for(a, b"STATUS")[-1].startswith(b"* STATUS Lists/python (MESSAGES 1 ")
    assert nothing_pending(a)
    b.ok("RENAME Other Else")
    assert wait_for(a, b"LIST")[-1] == b'* LIST () "/" Else ("OLDNAME" (Other))'
    a.close()
    b.close()


def test_metadata_changes(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    a.ok("NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))")
    b.ok('SETMETADATA INBOX (/shared/comment "hello")')
    assert wait_for(a, b"METADATA")[-1] == b"* METADATA INBOX /shared/comment"
    b.ok('SETMETADATA "" (/private/note "mine")')
    assert wait_for(a, b"METADATA")[-1] == b'* METADATA "" /private/note'
    # another account's private server entry is not ours to hear of
    c, _ = logged_in(imap_node)
    c.ok('SETMETADATA "" (/private/note "theirs")')
    assert nothing_pending(a)
    a.close()
    b.close()
    c.close()


def test_selected_mailbox_changes_arrive_between_commands(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    deliver(imap_node, address, message("first"))
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge FlagChange))")
    deliver(imap_node, address, message("second"))
    lines = wait_for(a, b"FETCH")
    assert lines[0] == b"* 2 EXISTS"
    assert lines[-1] == b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: second\r\n\r\n)"
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    assert wait_for(a, b"FETCH")[-1].startswith(b"* 1 FETCH (FLAGS (\\Deleted")
    b.ok("EXPUNGE")
    assert wait_for(a, b"EXPUNGE") == [b"* 1 EXPUNGE"]
    # other filters leave the selected mailbox to SELECTED: no STATUS for INBOX
    a.ok(f"NOTIFY SET (selected {MESSAGE_EVENTS}) (personal {MESSAGE_EVENTS})")
    deliver(imap_node, address, message("third"))
    assert wait_for(a, b"EXISTS") == [b"* 2 EXISTS"]
    assert nothing_pending(a)
    a.close()
    b.close()


def test_selected_delayed_holds_expunges_until_a_command(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    deliver(imap_node, address, message("first"), flags=["\\Deleted"])
    a.ok("SELECT INBOX")
    a.ok(f"NOTIFY SET (selected-delayed {MESSAGE_EVENTS})")
    b.ok("SELECT INBOX")
    b.ok("EXPUNGE")
    deliver(imap_node, address, message("second"))
    assert wait_for(a, b"EXISTS") == [b"* 2 EXISTS"]  # the expunged message keeps its number
    assert nothing_pending(a)
    untagged, _ = a.command("FETCH 1 UID")  # no EXPUNGE during FETCH either
    assert b"* 1 EXPUNGE" not in untagged
    assert a.ok("NOOP") == [b"* 1 EXPUNGE"]
    a.close()
    b.close()


def test_status_option_and_none(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("CREATE Work")
    a.ok("SELECT Work")
    untagged = a.ok(f"NOTIFY SET STATUS (selected {MESSAGE_EVENTS}) (personal {MESSAGE_EVENTS})")
    names = [line.split(b" ")[2] for line in untagged]
    assert all(line.startswith(b"* STATUS ") for line in untagged)
    assert b"INBOX" in names and b"Work" not in names  # the selected mailbox is SELECTED's
    assert a.command("NOTIFY NONE") == ([], b"OK NOTIFY NONE completed")
    deliver(imap_node, address, message())
    assert nothing_pending(a, 0.3)
    a.close()


def test_event_rules_and_badevent(imap_node: ImapNode) -> None:
    a, _ = logged_in(imap_node)
    assert a.command("NOTIFY SET (personal (MessageNew))")[1].startswith(b"BAD ")
    assert a.command("NOTIFY SET (personal (MessageExpunge))")[1].startswith(b"BAD ")
    assert a.command("NOTIFY SET (personal (FlagChange))")[1].startswith(b"BAD ")
    assert a.command("NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))")[1] == (
        b"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange "
        b"ServerMetadataChange)] not supported: AnnotationChange")
    assert a.command("NOTIFY SET (inboxes (MailboxName XFoo))")[1].startswith(b"NO [BADEVENT (")
    assert a.command("NOTIFY SET (personal (MessageNew (UID) MessageExpunge))")[1].startswith(b"BAD ")
    assert a.command("NOTIFY SET (selected NONE) (selected-delayed NONE)")[1].startswith(b"BAD ")
    assert a.command("NOTIFY")[1].startswith(b"BAD ")
    a.close()


# The burst must reach the session in one turn of its loop; with the node as several workers the session may
# be in another process, where the hub's frames arrive over many turns and its queue drains between them.
@pytest.mark.one_process
def test_overflow_turns_notify_off(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    a.ok(f"NOTIFY SET (personal {MESSAGE_EVENTS})")
    a.send(b"x1 IDLE\r\n")  # NOTIFY's news reach IDLE too (RFC 5465 section 4)
    assert a.line() == b"+ idling"
    # A burst of events in one turn of the node's loop, more than the session's queue holds: what a mass
    # import does to a reader that cannot keep up.
    owner = account_id(imap_node, address)
    inbox = imap_node.running.call(imap_node.mailstore.mailbox(owner, "INBOX"))
    bus = imap_node.running.runtime.bus
    assert bus is not None

    async def burst() -> None:
        for _ in range(notifications.QUEUE_SIZE + 10):
            await bus.publish(MessagesChanged(owner, inbox.id, "append"))

    imap_node.running.call(burst())
    lines = wait_for(a, b"NOTIFICATIONOVERFLOW")
    assert lines[-1].startswith(b"* OK [NOTIFICATIONOVERFLOW]")
    a.send(b"DONE\r\n")
    a.until(b"x1")
    deliver(imap_node, address, message())
    assert nothing_pending(a, 0.3)  # NOTIFY is off
    a.close()
    b.close()


def test_unauthenticate(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("ENABLE UTF8=ACCEPT")
    a.ok("SELECT INBOX")
    a.ok(f"NOTIFY SET (personal {MESSAGE_EVENTS})")
    assert a.command("UNAUTHENTICATE") == ([], b"OK UNAUTHENTICATE completed; log in again")
    assert a.command("SELECT INBOX")[1].startswith(b"BAD ")  # not authenticated now
    (caps,) = a.ok("CAPABILITY")
    assert b"UNAUTHENTICATE" not in caps and b"AUTH=" in caps
    assert a.command("UNAUTHENTICATE")[1].startswith(b"BAD ")
    deliver(imap_node, address, message())
    assert nothing_pending(a, 0.3)  # NOTIFY went with the login
    a.login(address)
    untagged, _ = a.command("ENABLE UTF8=ACCEPT")
    assert untagged == [b"* ENABLED UTF8=ACCEPT"]  # enabled extensions were reset
    a.ok("SELECT INBOX")
    a.close()
