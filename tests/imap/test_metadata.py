"""METADATA (RFC 5464) over IMAP: server and mailbox entries, private and shared, DEPTH and MAXSIZE, the
limits, entry names, and access through ACLs (RFC 5464 3.3) and the server administrator's right."""

from __future__ import annotations

from polyport.mailstore import metadata as md
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import logged_in


def test_advertised(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    (caps,) = w.ok("CAPABILITY")
    assert b" METADATA" in caps
    assert b" METADATA" not in Wire(imap_node.port).greeting  # only once logged in
    w.close()


def test_set_get_and_delete_on_a_mailbox(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command('SETMETADATA INBOX (/private/comment "My own comment" /shared/comment "For all")') == \
        ([], b"OK SETMETADATA completed")
    assert w.command('GETMETADATA "INBOX" (/shared/comment /private/comment)') == (
        [b'* METADATA INBOX (/private/comment "My own comment" /shared/comment "For all")'],
        b"OK GETMETADATA completed")
    # names are case-insensitive, kept and answered lower-case
    assert w.ok("GETMETADATA INBOX /Shared/Comment") == [b'* METADATA INBOX (/shared/comment "For all")']
    # NIL deletes; an entry without a value is left out of the answer
    w.ok("SETMETADATA INBOX (/private/comment NIL)")
    assert w.command("GETMETADATA INBOX (/private/comment /shared/comment)") == (
        [b'* METADATA INBOX (/shared/comment "For all")'], b"OK GETMETADATA completed")
    assert w.command("GETMETADATA INBOX /private/comment") == ([], b"OK GETMETADATA completed")
    w.ok("SETMETADATA INBOX (/private/comment NIL)")  # deleting what is not there is fine
    w.ok('SETMETADATA INBOX (/shared/comment "Replaced")')
    assert w.ok("GETMETADATA INBOX /shared/comment") == [b'* METADATA INBOX (/shared/comment "Replaced")']
    w.close()


def test_values_are_binary_safe(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    value = b'line one\r\nline "two" \xc3\xa9'
    w.ok(b"SETMETADATA INBOX (/private/vendor/acme/note {%d+}\r\n" % len(value) + value + b")")
    assert w.ok("GETMETADATA INBOX /private/vendor/acme/note") == [
        b"* METADATA INBOX (/private/vendor/acme/note {%d}\r\n" % len(value) + value + b")"]
    w.ok(b"SETMETADATA INBOX (/private/vendor/acme/raw ~{4+}\r\na\x00\xffb)")
    assert w.ok("GETMETADATA INBOX /private/vendor/acme/raw") == [
        b"* METADATA INBOX (/private/vendor/acme/raw ~{4}\r\na\x00\xffb)"]
    w.ok('SETMETADATA INBOX (/private/vendor/acme/empty "")')
    assert w.ok("GETMETADATA INBOX /private/vendor/acme/empty") == [
        b'* METADATA INBOX (/private/vendor/acme/empty "")']
    w.close()


def test_depth_and_maxsize(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok('SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" '
         '/private/filters/values/boss "FROM \\"boss@example.com\\"" /private/filters/values/x/deep "d" '
         '/private/filtersx "not a child")')
    # RFC 5464 4.2.2's example: DEPTH 1 gives the children, not the entry itself (it has no value)
    assert w.command('GETMETADATA (DEPTH 1) "INBOX" "/private/filters/values"') == (
        [b'* METADATA INBOX (/private/filters/values/boss "FROM \\"boss@example.com\\"" '
         b'/private/filters/values/small "SMALLER 5000")'], b"OK GETMETADATA completed")
    assert w.ok("GETMETADATA (DEPTH infinity) INBOX /private/filters") == [
        b'* METADATA INBOX (/private/filters/values/boss "FROM \\"boss@example.com\\"" '
        b'/private/filters/values/small "SMALLER 5000" /private/filters/values/x/deep "d")']
    assert w.command("GETMETADATA (DEPTH 0) INBOX /private/filters") == ([], b"OK GETMETADATA completed")
    # MAXSIZE: larger values are left out; LONGENTRIES gives the largest of them
    assert w.command("GETMETADATA (MAXSIZE 12 DEPTH infinity) INBOX /private/filters") == (
        [b'* METADATA INBOX (/private/filters/values/small "SMALLER 5000" /private/filters/values/x/deep "d")'],
        b"OK [METADATA LONGENTRIES 23] GETMETADATA completed")
    assert w.command('GETMETADATA INBOX (MAXSIZE 0) ("/private/filters/values/x/deep")') == (
        [], b"OK [METADATA LONGENTRIES 1] GETMETADATA completed")
    assert w.command("GETMETADATA (MAXSIZE 100) INBOX /private/filters/values/small") == (
        [b'* METADATA INBOX (/private/filters/values/small "SMALLER 5000")'], b"OK GETMETADATA completed")
    w.close()


def test_private_entries_are_per_user_and_server_entries(imap_node: ImapNode) -> None:
    one, _ = logged_in(imap_node)
    two, _ = logged_in(imap_node)
    one.ok('SETMETADATA "" (/private/comment "mine")')
    assert one.ok('GETMETADATA "" /private/comment') == [b'* METADATA "" (/private/comment "mine")']
    assert two.command('GETMETADATA "" /private/comment') == ([], b"OK GETMETADATA completed")
    # The server's shared entries: anyone reads them, only a server administrator writes them.
    assert two.command('SETMETADATA "" (/shared/comment "x")') == (
        [], b"NO [NOPERM] only a server administrator may set the server's shared entries")
    admin_address = imap_node.account()
    imap_node.running.call(imap_node.running.runtime.directory.set_account_rights(admin_address, ["Master"]))
    admin = Wire(imap_node.port).login(admin_address)
    admin.ok('SETMETADATA "" (/shared/vendor/polyport/test-motd "Hello")')
    assert two.ok('GETMETADATA "" /shared/vendor/polyport/test-motd') == [
        b'* METADATA "" (/shared/vendor/polyport/test-motd "Hello")']
    admin.ok('SETMETADATA "" (/shared/vendor/polyport/test-motd NIL)')
    assert two.command('GETMETADATA "" /shared/vendor/polyport/test-motd') == ([], b"OK GETMETADATA completed")
    for w in (one, two, admin):
        w.close()


def test_limits(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    big = b"x" * (md.MAX_VALUE_SIZE + 1)
    assert w.command(b"SETMETADATA INBOX (/private/big {%d+}\r\n" % len(big) + big + b")") == (
        [], b"NO [METADATA MAXSIZE 16384] the value of /private/big is larger than 16384 bytes")
    assert w.command("GETMETADATA INBOX /private/big") == ([], b"OK GETMETADATA completed")
    # Larger than any command's literal may be (64 KiB): refused from its marker, still METADATA MAXSIZE.
    huge = b"x" * (64 * 1024 + 1)
    assert w.command(b"SETMETADATA INBOX (/private/big {%d+}\r\n" % len(huge) + huge + b")") == (
        [], b"NO [METADATA MAXSIZE 16384] a METADATA value is at most 16384 bytes")
    w.send(b"m1 SETMETADATA INBOX (/private/big {%d}\r\n" % len(huge))  # synchronizing: never sent
    assert w.line() == b"m1 NO [METADATA MAXSIZE 16384] a METADATA value is at most 16384 bytes"
    # Values each within the limit that only together pass the command's 64 KiB: TOOBIG, no value blamed.
    values = b"".join(b" /private/v%d {15000+}\r\n" % n + b"v" * 15000 for n in range(10))
    untagged, tagged = w.command(b"SETMETADATA INBOX (" + values[1:] + b")")
    assert untagged == [] and tagged.startswith(b"NO [TOOBIG] "), tagged
    many = " ".join(f'/private/n{i} "v"' for i in range(md.MAX_ENTRIES + 1))
    assert w.command(f"SETMETADATA INBOX ({many})") == (
        [], b"NO [METADATA TOOMANY] at most 100 entries per mailbox (or server) and per user")
    assert w.command("GETMETADATA (DEPTH 1) INBOX /private") == ([], b"OK GETMETADATA completed")  # none set
    many = " ".join(f'/private/n{i} "v"' for i in range(md.MAX_ENTRIES))
    w.ok(f"SETMETADATA INBOX ({many})")
    w.ok('SETMETADATA INBOX (/private/n0 "replaced" /shared/n0 "another scope")')  # no more private entries
    assert w.command('SETMETADATA INBOX (/private/one-more "v")')[1].startswith(b"NO [METADATA TOOMANY]")
    w.ok('SETMETADATA INBOX (/private/n1 NIL /private/one-more "v")')  # one out, one in: all in one unit
    w.ok('SETMETADATA Sent (/private/n0 "other mailbox")')  # limits are per mailbox
    w.close()


def test_bad_arguments_keep_the_connection(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command("GETMETADATA INBOX /comment") == (
        [], b"BAD an entry name starts with /private/ or /shared/")
    assert w.command('SETMETADATA INBOX ("/private/a%" "x")') == (
        [], b"BAD an entry name may not hold '*', '%' or control characters")
    assert w.command("GETMETADATA (DEPTH 3) INBOX /private/x") == ([], b"BAD DEPTH is 0, 1 or infinity")
    assert w.command("SETMETADATA INBOX /private/x") == (
        [], b"BAD expected '(' starting the entry values, found '/'")
    assert w.command("GETMETADATA Nowhere /private/x") == ([], b"NO [NONEXISTENT] no mailbox Nowhere")
    assert w.command('SETMETADATA Nowhere (/private/x "y")') == ([], b"NO [NONEXISTENT] no mailbox Nowhere")
    assert w.command("GETMETADATA INBOX /private/x") == ([], b"OK GETMETADATA completed")
    w.close()


def test_delete_removes_and_rename_keeps_entries(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("CREATE Projects")
    w.ok('SETMETADATA Projects (/shared/comment "work" /private/comment "mine")')
    w.ok("RENAME Projects Work")
    assert w.ok("GETMETADATA Work (/shared/comment /private/comment)") == [
        b'* METADATA Work (/private/comment "mine" /shared/comment "work")']
    w.ok("DELETE Work")
    w.ok("CREATE Work")  # a new mailbox of the same name starts without entries
    assert w.command("GETMETADATA Work (/shared/comment /private/comment)") == ([], b"OK GETMETADATA completed")
    w.close()


def test_shared_mailbox_access_follows_the_acl(imap_node: ImapNode) -> None:
    owner, owner_address = logged_in(imap_node)
    other, other_address = logged_in(imap_node)
    me, them = owner_address.split("@")[0], other_address.split("@")[0]
    shared = f"~{me}/Team"
    owner.ok("CREATE Team")
    owner.ok('SETMETADATA Team (/shared/comment "team box" /private/comment "owner only")')
    assert other.command(f"GETMETADATA {shared} /shared/comment") == ([], b"NO [NONEXISTENT] no mailbox " +
                                                                         shared.encode())
    owner.ok(f"SETACL Team {them} l")
    # visible: private entries of its own, but shared ones need "r" to read and "w" to write
    other.ok(f'SETMETADATA {shared} (/private/comment "other\'s own")')
    assert other.ok(f"GETMETADATA {shared} /private/comment") == [
        b'* METADATA %s (/private/comment "other\'s own")' % shared.encode()]
    assert other.command(f"GETMETADATA {shared} /shared/comment")[1].startswith(b"NO [NOPERM] ")
    owner.ok(f"SETACL Team {them} lr")
    assert other.ok(f"GETMETADATA {shared} (/shared/comment /private/comment)") == [
        b'* METADATA %s (/private/comment "other\'s own" /shared/comment "team box")' % shared.encode()]
    assert other.command(f'SETMETADATA {shared} (/shared/comment "mine now")')[1].startswith(b"NO [NOPERM] ")
    owner.ok(f"SETACL Team {them} lrw")
    other.ok(f'SETMETADATA {shared} (/shared/comment "edited")')
    assert owner.ok("GETMETADATA Team (/shared/comment /private/comment)") == [
        b'* METADATA Team (/private/comment "owner only" /shared/comment "edited")']
    owner.close()
    other.close()
