"""Shared folders over IMAP: ACL (RFC 4314) commands, the "~" namespace (RFC 2342), and rights enforced on
LIST, SELECT, STATUS, FETCH, STORE, APPEND, COPY, MOVE, EXPUNGE and CREATE in another account's mailbox."""

from __future__ import annotations

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import deliver, logged_in, message, nothing_pending, wait_for

ALL = b"lrswipkxteacd"


def two(node: ImapNode) -> tuple[Wire, str, Wire, str]:
    """An owner with a mailbox Shared holding two messages (the first \\Seen), and another account; both
    logged in. Returns (owner's client, owner's name, other's client, other's name)."""
    owner, owner_address = logged_in(node)
    other, other_address = logged_in(node)
    owner.ok("CREATE Shared")
    deliver(node, owner_address, message("one"), "Shared", ["\\Seen"])
    deliver(node, owner_address, message("two"), "Shared")
    return owner, owner_address.split("@")[0], other, other_address.split("@")[0]


def test_capabilities_and_the_other_users_namespace(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    (caps,) = w.ok("CAPABILITY")
    assert b" ACL " in caps and b" RIGHTS=texk" in caps
    assert w.command("NAMESPACE") == ([b'* NAMESPACE (("" "/")) (("~" "/")) NIL'], b"OK NAMESPACE completed")
    w.close()


def test_the_owner_reads_and_sets_the_acl(imap_node: ImapNode) -> None:
    owner, me, _, bob = two(imap_node)
    assert owner.ok("GETACL Shared") == [b"* ACL Shared %s %s" % (me.encode(), ALL)]
    assert owner.ok("MYRIGHTS Shared") == [b"* MYRIGHTS Shared " + ALL]
    owner.ok(f"SETACL Shared {bob} lr")
    owner.ok("SETACL Shared anyone +l")
    assert owner.ok("GETACL Shared") == [b"* ACL Shared %s %s anyone l %s lr" % (me.encode(), ALL, bob.encode())]
    assert owner.ok(f"LISTRIGHTS Shared {bob}") == [
        b'* LISTRIGHTS Shared %s "" l r s w i p k x t e a c d' % bob.encode()]
    assert owner.ok(f"LISTRIGHTS Shared {me}") == [b"* LISTRIGHTS Shared %s %s" % (me.encode(), ALL)]
    owner.ok(f"SETACL Shared {bob} +c")  # the obsolete "c" is "kx", and answers show it again
    assert owner.ok("GETACL Shared")[0].endswith(b" %s lrkxc" % bob.encode())
    owner.ok(f"DELETEACL Shared {bob}")
    owner.ok(f"DELETEACL Shared {bob}")  # nothing to delete is fine
    assert owner.ok("GETACL Shared") == [b"* ACL Shared %s %s anyone l" % (me.encode(), ALL)]


def test_refusals_of_setacl(imap_node: ImapNode) -> None:
    owner, me, _, bob = two(imap_node)
    _, tagged = owner.command(f"SETACL Shared {bob} lrz")
    assert tagged.startswith(b"BAD ") and b"'z' is not a right" in tagged
    assert owner.command("SETACL Shared nobody-here lr")[1].startswith(b"NO ")
    assert owner.command(f"SETACL Shared {me} lr")[1].startswith(b"NO ")
    assert owner.command("SETACL Nowhere anyone lr")[1].startswith(b"NO [NONEXISTENT]")


def test_read_only_sharing(imap_node: ImapNode) -> None:
    owner, me, other, name = two(imap_node)
    shared = f"~{me}/Shared"
    # Nothing granted: the mailbox does not exist for the other account.
    assert other.command(f"SELECT {shared}")[1].startswith(b"NO [NONEXISTENT]")
    assert other.command(f"STATUS ~{me}/INBOX (MESSAGES)")[1].startswith(b"NO [NONEXISTENT]")
    assert not mine(other.ok('LIST "" "*"'), me)
    owner.ok(f"SETACL Shared {name} lr")
    assert mine(other.ok('LIST "" "*"'), me) == [b'* LIST (\\Noselect \\HasChildren) "/" ~%s' % me.encode(),
                           b'* LIST (\\HasNoChildren) "/" %s' % shared.encode()]
    assert mine(other.ok('LIST "~" "%"'), me) == [b'* LIST (\\Noselect \\HasChildren) "/" ~%s' % me.encode()]
    assert other.ok(f'LIST "" "~{me}/%"') == [b'* LIST (\\HasNoChildren) "/" %s' % shared.encode()]
    assert not [line for line in other.ok('LIST "" "%"') if b"Shared" in line]
    assert other.ok(f"MYRIGHTS {shared}") == [b"* MYRIGHTS %s lr" % shared.encode()]
    assert other.ok(f"STATUS {shared} (MESSAGES UNSEEN)") == [b"* STATUS %s (MESSAGES 2 UNSEEN 1)" % shared.encode()]
    untagged, tagged = other.command(f"SELECT {shared}")
    assert b"* 2 EXISTS" in untagged and b"* OK [PERMANENTFLAGS ()] read-only" in untagged
    assert tagged == b"OK [READ-ONLY] SELECT completed"
    # Reading does not set \Seen (no "s" right), writing is refused. \Recent: the owner has not selected
    # Shared since the messages came, and another account's session sees them as recent without claiming.
    assert b"FLAGS (\\Recent)" in other.ok("FETCH 2 (BODY[] FLAGS)")[0]
    assert other.ok("FETCH 2 FLAGS") == [b"* 2 FETCH (FLAGS (\\Recent))"]
    assert other.command("STORE 2 +FLAGS (\\Seen)")[1].startswith(b"NO [READ-ONLY]")
    tagged = append_tagged(other, shared)
    assert tagged.startswith(b"NO [NOPERM]") and b"'i'" in tagged
    assert other.command(f"GETACL {shared}")[1].startswith(b"NO [NOPERM]")
    assert other.command(f"SETACL {shared} anyone lr")[1].startswith(b"NO [NOPERM]")
    assert other.command(f"DELETE {shared}")[1].startswith(b"NO [NOPERM]")
    # The owner's new mail shows up in the other account's session.
    deliver(imap_node, f"{me}@example.com", message("three"), "Shared")
    assert b"* 3 EXISTS" in other.ok("NOOP")


def test_write_rights_and_a_revocation(imap_node: ImapNode) -> None:
    owner, me, other, name = two(imap_node)
    shared = f"~{me}/Shared"
    owner.ok(f"SETACL Shared {name} lrsi")
    untagged, tagged = other.command(f"SELECT {shared}")
    assert b"* OK [PERMANENTFLAGS (\\Seen)] flags your rights let you change" in untagged
    assert tagged == b"OK [READ-WRITE] SELECT completed"
    assert other.ok("FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]")[0].endswith(b"FLAGS (\\Seen \\Recent))")
    # Still \\Recent: the other account's session looks at them without taking the flag from the owner.
    assert other.ok("STORE 2 -FLAGS (\\Seen)") == [b"* 2 FETCH (FLAGS (\\Recent))"]
    tagged = other.command("STORE 2 +FLAGS (\\Flagged)")[1]
    assert tagged.startswith(b"NO [NOPERM]") and b"'w'" in tagged
    assert other.command("STORE 1 +FLAGS (\\Deleted)")[1].startswith(b"NO [NOPERM]")
    assert other.command("EXPUNGE")[1].startswith(b"NO [NOPERM]")
    # APPEND keeps \Seen (s) and drops \Flagged (no w); the owner pays for it.
    assert append_tagged(other, shared, "\\Seen \\Flagged").startswith(b"OK [APPENDUID ")
    # \Recent too: nobody claimed it, and this session sees without claiming (RFC 3501 2.3.2).
    assert other.ok("FETCH 3 FLAGS")[-1] == b"* 3 FETCH (FLAGS (\\Seen \\Recent))"
    # The owner takes "s" away while the other account has the mailbox selected: refused at once.
    owner.ok(f"SETACL Shared {name} -s")
    assert other.command("STORE 2 +FLAGS (\\Seen)")[1].startswith(b"NO [NOPERM]")
    other.ok("CLOSE")  # no "e": CLOSE expunges nothing, and does not fail


def test_copy_and_move_between_accounts(imap_node: ImapNode) -> None:
    owner, me, other, name = two(imap_node)
    shared = f"~{me}/Shared"
    owner.ok(f"SETACL Shared {name} lr")
    other.ok(f"EXAMINE {shared}")
    other.ok("COPY 1:2 INBOX")  # reading is enough to copy out
    assert other.command("MOVE 1 INBOX")[1].startswith(b"NO [READ-ONLY]")
    other.ok("SELECT INBOX")
    assert other.command(f"COPY 1 {shared}")[1].startswith(b"NO [NOPERM]")
    owner.ok(f"SETACL Shared {name} +ite")
    untagged, tagged = other.command(f"COPY 1 {shared}")
    assert tagged.startswith(b"OK [COPYUID ")
    other.ok(f"SELECT {shared}")
    # No "s": \Seen was not copied. \Recent: nobody selected Shared for itself since the copy came.
    assert other.ok("UID FETCH 3 FLAGS") == [b"* 3 FETCH (UID 3 FLAGS (\\Recent))"]
    untagged = other.ok("MOVE 3 INBOX")
    assert b"* 3 EXPUNGE" in untagged
    assert other.ok(f"STATUS {shared} (MESSAGES)") == [b"* STATUS %s (MESSAGES 2)" % shared.encode()]


def test_delegated_administration_anyone_and_negative_rights(imap_node: ImapNode) -> None:
    owner, me, other, name = two(imap_node)
    third, third_address = logged_in(imap_node)
    third_name = third_address.split("@")[0]
    shared = f"~{me}/Shared"
    owner.ok("SETACL Shared anyone lr")
    owner.ok(f"SETACL Shared {name} lra")
    other.ok(f"SETACL {shared} -{third_name} r")  # a negative entry: anyone's "r" is taken away
    assert third.ok(f"MYRIGHTS {shared}") == [b"* MYRIGHTS %s l" % shared.encode()]
    assert third.command(f"SELECT {shared}")[1].startswith(b"NO [NOPERM]")
    assert other.ok(f"GETACL {shared}") == [
        b"* ACL %s %s %s anyone lr %s lra -%s r" % (shared.encode(), me.encode(), ALL, name.encode(),
                                                   third_name.encode())]
    other.ok(f"DELETEACL {shared} -{third_name}")
    third.ok(f"EXAMINE {shared}")


def test_create_and_subscribe_under_another_account(imap_node: ImapNode) -> None:
    owner, me, other, name = two(imap_node)
    shared = f"~{me}/Shared"
    owner.ok(f"SETACL Shared {name} lr")
    assert other.command(f"CREATE {shared}/Sub")[1].startswith(b"NO [NOPERM]")
    assert other.command(f"CREATE ~{me}/Top")[1].startswith(b"NO [NOPERM]")
    owner.ok(f"SETACL Shared {name} +k")
    other.ok(f"CREATE {shared}/Sub")
    assert owner.ok("GETACL Shared/Sub") == [b"* ACL Shared/Sub %s %s %s lrkc" % (me.encode(), ALL, name.encode())]
    other.ok(f"SUBSCRIBE {shared}/Sub")
    assert other.ok('LSUB "" "*"')[-1] == b'* LSUB () "/" %s/Sub' % shared.encode()
    assert mine(other.ok('LIST "" "~*"'), me) == [
        b'* LIST (\\Noselect \\HasChildren) "/" ~%s' % me.encode(),
        b'* LIST (\\HasChildren) "/" %s' % shared.encode(),
        b'* LIST (\\HasNoChildren) "/" %s/Sub' % shared.encode()]
    assert nothing_pending(other)


def test_a_session_on_a_shared_mailbox_hears_the_owner(imap_node: ImapNode) -> None:
    owner, me, other, name = two(imap_node)
    owner.ok(f"SETACL Shared {name} lr")
    other.ok(f"EXAMINE ~{me}/Shared")
    other.send(b"i1 IDLE\r\n")
    assert other.line() == b"+ idling"
    owner.ok("SELECT Shared")
    owner.ok("STORE 2 +FLAGS (\\Flagged)")
    wait_for(other, b"FETCH (FLAGS (\\Flagged \\Recent))")  # \\Recent: EXAMINE looks, nobody had selected it
    other.send(b"DONE\r\n")
    assert other.until(b"i1")[1] == b"OK IDLE terminated"


def mine(lines: list[bytes], owner: str) -> list[bytes]:
    """The LIST lines of one owner's shared mailboxes (accounts of earlier tests share some with anyone)."""
    name = b"~" + owner.encode()
    return [line for line in lines if line.endswith(name) or name + b"/" in line]


def append_tagged(w: Wire, mailbox: str, flags: str = "") -> bytes:
    data = message("appended")
    options = f" ({flags})" if flags else ""
    return w.command(f"APPEND {mailbox}{options} {{{len(data)}+}}\r\n".encode() + data)[1]
