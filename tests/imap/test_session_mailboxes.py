"""Mailboxes: SELECT/EXAMINE, CREATE (CREATE-SPECIAL-USE, RFC 6154), DELETE, RENAME, SUBSCRIBE, LIST with
LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE and CHILDREN (RFC 3348), LSUB, STATUS with
SIZE (RFC 8438), HIGHESTMODSEQ, MAILBOXID (RFC 8474) and APPENDLIMIT (RFC 7889), QUOTA (RFC 9208), and
mailbox names in modified UTF-7 and, after ENABLE UTF8=ACCEPT, in UTF-8 (RFC 6855)."""

from __future__ import annotations

import re

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import append, deliver, logged_in, message
from tests.imap.test_session_messages import seen_elsewhere

DEFAULTS = [
    b'* LIST (\\HasNoChildren \\Archive) "/" Archive',
    b'* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
    b'* LIST (\\HasNoChildren) "/" INBOX',
    b'* LIST (\\HasNoChildren \\Junk) "/" Junk',
    b'* LIST (\\HasNoChildren \\Sent) "/" Sent',
    b'* LIST (\\HasNoChildren \\Trash) "/" Trash',
]


def listing(w: Wire, command: str) -> list[bytes]:
    untagged, tagged = w.command(command)
    assert tagged.startswith(b"OK "), (command, tagged)
    return untagged


# -- SELECT and EXAMINE ---------------------------------------------------------------------------------------

def test_select_transcript(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"), flags=["\\Seen"])
    deliver(imap_node, address, message("two"))
    untagged, tagged = w.command("SELECT INBOX")
    uidvalidity = re.search(rb"UIDVALIDITY (\d+)", b" ".join(untagged))
    assert uidvalidity is not None
    mailbox_id = int(uidvalidity.group(1))
    assert untagged == [
        b"* 2 EXISTS",
        b"* 2 RECENT",  # the first session to select the mailbox since they came (RFC 3501 2.3.2)
        b"* OK [UNSEEN 2] first unseen message",
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags the client may change",
        b"* OK [UIDVALIDITY %d] UIDs valid" % mailbox_id,
        b"* OK [UIDNEXT 3] predicted next UID",
        b"* OK [HIGHESTMODSEQ 3] highest mod-sequence",
        b"* OK [MAILBOXID (M%d)] mailbox id" % mailbox_id,
        b"* OK [URLMECH INTERNAL] URLAUTH mechanisms",
    ]
    assert tagged == b"OK [READ-WRITE] SELECT completed"
    w.close()


def test_examine_is_read_only(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message())
    seen_elsewhere(imap_node, address)
    untagged, tagged = w.command("EXAMINE INBOX")
    assert tagged == b"OK [READ-ONLY] EXAMINE completed"
    assert b"* OK [PERMANENTFLAGS ()] read-only" in untagged
    assert w.command("STORE 1 +FLAGS (\\Seen)")[1].startswith(b"NO [READ-ONLY] ")
    assert w.command("EXPUNGE")[1].startswith(b"NO [READ-ONLY] ")
    # BODY[] does not set \Seen in a read-only mailbox.
    untagged = w.ok("FETCH 1 (BODY[] FLAGS)")
    assert untagged[0].endswith(b"FLAGS ())")
    w.close()


def test_select_missing_mailbox_leaves_nothing_selected(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("SELECT INBOX")
    assert w.command("SELECT Nowhere")[1] == b"NO [NONEXISTENT] no mailbox Nowhere"
    # RFC 3501 6.3.1: a failed SELECT leaves the authenticated state.
    assert w.command("FETCH 1 FLAGS")[1] == b"BAD FETCH is not allowed in the authenticated state"
    w.close()


def test_inbox_is_case_insensitive(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command("SELECT inbox")[1] == b"OK [READ-WRITE] SELECT completed"
    w.ok("CREATE iNbOx/Child")
    assert listing(w, 'LIST "" "INBOX/*"') == [b'* LIST (\\HasNoChildren) "/" INBOX/Child']
    w.close()


def test_unselect_and_close(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message(), flags=["\\Deleted"])
    w.ok("SELECT INBOX")
    assert w.command("UNSELECT") == ([], b"OK UNSELECT completed")  # no expunge
    w.ok("SELECT INBOX")
    assert w.command("CLOSE") == ([], b"OK CLOSE completed")  # expunges silently
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 0)"]
    assert w.command("CLOSE")[1] == b"BAD CLOSE is not allowed in the authenticated state"
    w.close()


# -- CREATE, DELETE, RENAME ----------------------------------------------------------------------------------

def test_create_delete_rename(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert listing(w, 'LIST "" *') == DEFAULTS
    assert w.command("CREATE Projects/2024/Q1") == ([], b"OK CREATE completed")
    assert listing(w, 'LIST "" Projects*') == [
        b'* LIST (\\HasChildren) "/" Projects',
        b'* LIST (\\HasChildren) "/" Projects/2024',
        b'* LIST (\\HasNoChildren) "/" Projects/2024/Q1',
    ]
    assert w.command("CREATE Projects")[1] == b"NO [ALREADYEXISTS] mailbox Projects already exists"
    assert w.command("CREATE INBOX")[1].startswith(b"NO [ALREADYEXISTS] ")
    w.ok("CREATE Later/")  # a trailing delimiter: the client means to make children later (RFC 3501 6.3.3)
    assert listing(w, 'LIST "" Later') == [b'* LIST (\\HasNoChildren) "/" Later']
    w.ok("RENAME Projects Work")
    assert listing(w, 'LIST "" Work*') == [
        b'* LIST (\\HasChildren) "/" Work',
        b'* LIST (\\HasChildren) "/" Work/2024',
        b'* LIST (\\HasNoChildren) "/" Work/2024/Q1',
    ]
    assert listing(w, 'LIST "" Projects*') == []
    assert w.command("RENAME Work Work/Sub")[1].startswith(b"NO [CANNOT] ")
    assert w.command("RENAME Nowhere Elsewhere")[1].startswith(b"NO [NONEXISTENT] ")
    assert w.command("RENAME Later Work")[1].startswith(b"NO [ALREADYEXISTS] ")
    # DELETE of a mailbox with children leaves them; the name stays as a level with no mailbox.
    w.ok("DELETE Work")
    assert listing(w, 'LIST "" Work*') == [
        b'* LIST (\\Noselect \\HasChildren) "/" Work',
        b'* LIST (\\HasChildren) "/" Work/2024',
        b'* LIST (\\HasNoChildren) "/" Work/2024/Q1',
    ]
    assert w.command("DELETE Nowhere")[1].startswith(b"NO [NONEXISTENT] ")
    assert w.command("DELETE INBOX")[1] == b"NO [CANNOT] INBOX cannot be deleted"
    w.close()


def test_rename_inbox_moves_its_messages(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("one"))
    deliver(imap_node, address, message("two"))
    w.ok("RENAME INBOX Old")
    assert w.ok("STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 0)"]
    assert w.ok("STATUS Old (MESSAGES)") == [b"* STATUS Old (MESSAGES 2)"]
    w.close()


def test_invalid_mailbox_names(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command('CREATE "a//b"')[1].startswith(b"NO [CANNOT] ")
    assert w.command('CREATE "/a"')[1].startswith(b"NO [CANNOT] ")
    assert w.command('CREATE "a*b"')[1].startswith(b"NO [CANNOT] ")
    assert w.command('CREATE ""')[1].startswith(b"NO [CANNOT] ")
    # Not modified UTF-7: "&" must be "&-", base64 runs must be closed and canonical. The command is
    # well-formed: NO, not BAD (RFC 3501 5.1.3).
    assert w.command("CREATE a&b")[1].startswith(b"NO [CANNOT] mailbox name is not valid modified UTF-7")
    assert w.command("CREATE &AGEAYgBj-")[1].startswith(b"NO [CANNOT] ")  # encoded printable ASCII
    assert w.command("CREATE &2D0-")[1].startswith(b"NO [CANNOT] ")  # a lone surrogate
    assert w.command(b"CREATE {3}\r\n\xc3\xa9x")[1].startswith(b"NO [CANNOT] ")  # 8-bit without UTF8=ACCEPT
    w.ok("ENABLE UTF8=ACCEPT")
    assert w.command(b"CREATE {2}\r\n\xc3x")[1] == b"BAD mailbox name is not valid UTF-8"
    assert listing(w, 'LIST "" *') == DEFAULTS
    w.close()


def test_international_names_in_modified_utf7_and_utf8(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("CREATE Entw&APw-rfe")  # "Entwürfe"
    w.ok("CREATE &ZeVnLIqe-")  # "日本語"
    w.ok('CREATE "Tom &- Jerry"')
    w.ok('CREATE "Tom &- Jerry/Cartoons"')
    names = {line.split(b'"/" ', 1)[1] for line in listing(w, 'LIST "" *')}
    assert {b"Entw&APw-rfe", b"&ZeVnLIqe-", b'"Tom &- Jerry"', b'"Tom &- Jerry/Cartoons"'} <= names
    assert w.ok("STATUS Entw&APw-rfe (MESSAGES)") == [b"* STATUS Entw&APw-rfe (MESSAGES 0)"]
    w.ok("ENABLE UTF8=ACCEPT")
    names = {line.split(b'"/" ', 1)[1] for line in listing(w, 'LIST "" *')}
    # UTF-8 goes in quoted strings (RFC 6855 3), never in atoms.
    assert {'"Entwürfe"'.encode(), '"日本語"'.encode(), b'"Tom & Jerry"', b'"Tom & Jerry/Cartoons"'} <= names
    assert w.ok('SELECT "Entwürfe"'.encode())[-1].startswith(b"* OK [URLMECH")
    w.close()


def test_create_special_use(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command("CREATE Spam (USE (\\Junk))") == ([], b"OK CREATE completed")
    assert listing(w, 'LIST "" Spam') == [b'* LIST (\\HasNoChildren \\Junk) "/" Spam']
    assert w.command("CREATE Odd (USE (\\Nonsense))")[1].startswith(b"NO [USEATTR] ")
    assert w.command("CREATE Two (USE (\\Sent \\Trash))")[1].startswith(b"NO [USEATTR] ")
    assert w.command("CREATE Bad (FOO)")[1].startswith(b"BAD ")
    assert listing(w, 'LIST "" Odd') == []
    w.close()


# -- LIST ------------------------------------------------------------------------------------------------------

def test_list_delimiter_and_wildcards(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert listing(w, 'LIST "" ""') == [b'* LIST (\\Noselect) "/" ""']
    w.ok("CREATE a/b/c")
    w.ok("CREATE ab")
    assert listing(w, 'LIST "" a%') == [b'* LIST (\\HasChildren) "/" a', b'* LIST (\\HasNoChildren) "/" ab']
    assert listing(w, 'LIST "" a/%') == [b'* LIST (\\HasChildren) "/" a/b']
    assert listing(w, 'LIST a/ %') == [b'* LIST (\\HasChildren) "/" a/b']
    assert listing(w, 'LIST "" a/*') == [b'* LIST (\\HasChildren) "/" a/b', b'* LIST (\\HasNoChildren) "/" a/b/c']
    assert listing(w, 'LIST "" inbox') == [b'* LIST (\\HasNoChildren) "/" INBOX']
    assert listing(w, 'LIST "" nothing*') == []
    w.close()


def test_list_implied_parents_of_deep_names(imap_node: ImapNode) -> None:
    """A level that exists only as the parent of another name is listed \\Noselect (RFC 3501 6.3.8)."""
    w, _ = logged_in(imap_node)
    w.ok("CREATE x/y/z")
    w.ok("DELETE x/y")
    w.ok("DELETE x")
    assert listing(w, 'LIST "" x/%') == [b'* LIST (\\Noselect \\HasChildren) "/" x/y']
    assert listing(w, 'LIST "" %') == [*DEFAULTS, b'* LIST (\\Noselect \\HasChildren) "/" x']
    w.close()


def test_list_extended_subscribed(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("CREATE Lists/Python")
    w.ok("CREATE Lists/Rust")
    w.ok("SUBSCRIBE Lists/Python")
    w.ok("SUBSCRIBE Gone")
    # RFC 5258 3.1: SUBSCRIBED selects subscribed names, existing or not; \Subscribed is returned.
    assert listing(w, 'LIST (SUBSCRIBED) "" "Lists*"') == [b'* LIST (\\Subscribed \\HasNoChildren) "/" Lists/Python']
    assert listing(w, 'LIST (SUBSCRIBED) "" "Gone"') == [b'* LIST (\\NonExistent \\Subscribed) "/" Gone']
    assert listing(w, 'LIST "" "Lists/*" RETURN (SUBSCRIBED)') == [
        b'* LIST (\\Subscribed \\HasNoChildren) "/" Lists/Python',
        b'* LIST (\\HasNoChildren) "/" Lists/Rust',
    ]
    # RECURSIVEMATCH: a parent whose child matches gets CHILDINFO (RFC 5258 3.5).
    assert listing(w, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Lists"') == [
        b'* LIST (\\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))']
    w.ok("SUBSCRIBE Lists")
    assert listing(w, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Lists"') == [
        b'* LIST (\\Subscribed \\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))']
    w.ok("UNSUBSCRIBE Lists/Python")
    assert listing(w, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Lists"') == [
        b'* LIST (\\Subscribed \\HasChildren) "/" Lists']
    assert w.command('LIST (RECURSIVEMATCH) "" *')[1].startswith(b"BAD ")
    w.close()


def test_list_extended_patterns_and_options(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert listing(w, 'LIST "" (INBOX Sent)') == [DEFAULTS[2], DEFAULTS[4]]
    assert listing(w, 'LIST () "" (Drafts) RETURN (CHILDREN)') == [DEFAULTS[1]]
    assert listing(w, 'LIST (REMOTE) "" INBOX') == [DEFAULTS[2]]
    # SPECIAL-USE selection (RFC 6154 2): only mailboxes with a special use.
    special = listing(w, 'LIST (SPECIAL-USE) "" *')
    assert special == [line for line in DEFAULTS if line != DEFAULTS[2]]
    assert listing(w, 'LIST "" INBOX RETURN (SPECIAL-USE)') == [DEFAULTS[2]]
    assert w.command('LIST (BOGUS) "" *')[1].startswith(b"BAD unknown LIST selection option")
    w.close()


def test_list_status(imap_node: ImapNode) -> None:
    """RFC 5819: a STATUS response after each LIST response of a selectable mailbox."""
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message(body="x" * 100), flags=["\\Seen"])
    deliver(imap_node, address, message(body="y" * 50))
    w.ok("CREATE a/b")
    w.ok("DELETE a")
    untagged = listing(w, 'LIST "" (INBOX a) RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    size = len(message(body="x" * 100)) + len(message(body="y" * 50))
    assert untagged == [
        b'* LIST (\\HasNoChildren) "/" INBOX',
        b"* STATUS INBOX (MESSAGES 2 UNSEEN 1 SIZE %d)" % size,
        b'* LIST (\\NonExistent \\HasChildren) "/" a',
    ]
    w.close()


def test_lsub(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("CREATE News")
    w.ok("SUBSCRIBE News")
    lines = listing(w, 'LSUB "" *')
    assert b'* LSUB () "/" News' in lines and b'* LSUB () "/" INBOX' in lines
    w.ok("UNSUBSCRIBE News")
    assert b'* LSUB () "/" News' not in listing(w, 'LSUB "" *')
    w.close()


# -- STATUS ----------------------------------------------------------------------------------------------------

def test_status_items(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    first = message("one")
    deliver(imap_node, address, first, flags=["\\Deleted"])
    deliver(imap_node, address, message("two"), flags=["\\Seen"])
    (line,) = w.ok("STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)")
    size = len(first) + len(message("two"))
    assert line == (b"* STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UNSEEN 1 DELETED 1 SIZE %d HIGHESTMODSEQ 3 "
                    b"APPENDLIMIT %d)" % (size, imap_node.mailstore.max_message_size))
    (line,) = w.ok("STATUS INBOX (UIDVALIDITY MAILBOXID)")
    assert re.fullmatch(rb"\* STATUS INBOX \(UIDVALIDITY (\d+) MAILBOXID \(M\1\)\)", line)
    assert w.command("STATUS Nowhere (MESSAGES)")[1].startswith(b"NO [NONEXISTENT] ")
    assert w.command("STATUS INBOX (BOGUS)")[1].startswith(b"BAD unknown status item")
    assert w.command("STATUS INBOX ()")[1].startswith(b"BAD ")
    w.close()


def test_status_of_the_selected_mailbox_sees_its_own_changes(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("SELECT INBOX")
    append(w, message())
    assert w.ok("STATUS INBOX (MESSAGES UNSEEN)")[-1] == b"* STATUS INBOX (MESSAGES 1 UNSEEN 1)"
    w.close()


# -- QUOTA (RFC 9208) ---------------------------------------------------------------------------------------------

def test_quota_without_limits(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    # No limits: INBOX has no quota root (RFC 9208 4.3: the list of roots may be empty).
    assert w.command("GETQUOTAROOT INBOX") == ([b"* QUOTAROOT INBOX"], b"OK GETQUOTAROOT completed")
    assert w.command('GETQUOTA ""')[1].startswith(b"NO [NONEXISTENT] ")
    w.close()


def test_quota_with_limits(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    imap_node.running.call(imap_node.running.runtime.directory.update_account_settings(
        address, {"MaxAccountSize": "100K", "MaxMessages": "3"}))
    data = message(body="z" * 3000)
    append(w, data)
    assert w.command("GETQUOTAROOT INBOX") == (
        [b'* QUOTAROOT INBOX ""', b'* QUOTA "" (STORAGE %d 100 MESSAGE 1 3)' % ((len(data) + 1023) // 1024)],
        b"OK GETQUOTAROOT completed")
    assert w.command('GETQUOTA ""')[0] == [b'* QUOTA "" (STORAGE %d 100 MESSAGE 1 3)'
                                            % ((len(data) + 1023) // 1024)]
    assert w.command('GETQUOTA "other"')[1].startswith(b"NO [NONEXISTENT] ")
    assert w.command('SETQUOTA "" (STORAGE 10)')[1].startswith(b"NO [NOPERM] ")
    append(w, data)
    append(w, data)
    _, tagged = w.command(f"APPEND INBOX {{{len(data)}+}}\r\n".encode() + data)
    assert tagged.startswith(b"NO [OVERQUOTA] ")
    w.ok("SELECT INBOX")
    assert w.command("COPY 1 Trash")[1].startswith(b"NO [OVERQUOTA] ")
    assert w.command("MOVE 1 Trash")[1].startswith(b"OK ")  # a move takes no more room
    w.close()


def test_imap4rev2_select_lists_the_mailbox(imap_node: ImapNode) -> None:
    """RFC 9051 6.3.2: after ENABLE IMAP4rev2, SELECT answers a LIST response for the mailbox; no RECENT."""
    w, _ = logged_in(imap_node)
    w.ok("CREATE Trash/Old")
    assert not any(line.startswith(b"* LIST") for line in w.ok("SELECT Trash"))
    w.ok("ENABLE IMAP4rev2")
    untagged = w.ok("EXAMINE Trash")
    assert b'* LIST (\\HasChildren \\Trash) "/" Trash' in untagged
    assert not any(b"RECENT" in line or b"[UNSEEN" in line for line in untagged)
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in w.ok("SELECT inbox")
    w.close()


def test_a_refused_delete_of_the_selected_mailbox_keeps_it_selected(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, message("kept"))
    w.ok("SELECT INBOX")
    assert w.command("DELETE INBOX")[1].startswith(b"NO [CANNOT] ")
    assert w.command("FETCH 1 FLAGS")[1] == b"OK FETCH completed"
    w.ok("CREATE Doomed")
    w.ok("SELECT Doomed")
    assert w.command("DELETE Doomed") == ([], b"OK DELETE completed")
    assert w.command("FETCH 1 FLAGS")[1].startswith(b"BAD ")  # no longer selected
    w.close()
