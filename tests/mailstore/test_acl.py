"""Shared folders: ACLs (RFC 4314) and "~owner/name" foreign mailboxes, on both store backends."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.mailstore import (
    AclRefused,
    CannotDelete,
    InvalidRights,
    Mailstore,
    NoSuchMailbox,
    NotPermitted,
    acl,
    names,
)
from polyport.mailstore import flags as fl
from tests.mailstore.test_mailstore import message

# -- rights as text (pure) --


def test_rights_parse_in_canonical_order_with_the_obsolete_letters() -> None:
    assert acl.parse("rl") == "lr"
    assert acl.parse("lrc") == "lrkx"  # "c" is create and delete-mailbox (CommuniGate's reading)
    assert acl.parse("d") == "te"
    assert acl.parse("") == ""
    with pytest.raises(InvalidRights):
        acl.parse("lrz")
    assert acl.split_mode("+rs") == ("add", "rs")
    assert acl.split_mode("-w") == ("remove", "w")
    assert acl.split_mode("lr") == ("replace", "lr")


def test_answers_show_c_and_d_for_rfc_2086_clients() -> None:
    assert acl.shown("lr") == "lr"
    assert acl.shown("lrk") == "lrkc"
    assert acl.shown(acl.ALL) == "lrswipkxteacd"


def test_effective_rights_are_positive_minus_negative() -> None:
    assert acl.effective([(0, False, "lrs"), (7, False, "wi"), (7, True, "s")]) == "lrwi"
    assert acl.effective([(0, True, "l"), (0, False, "lr")]) == "r"
    assert acl.change("lr", "add", "ri") == "lri"
    assert acl.change("lri", "remove", "l") == "ri"
    assert acl.change("lri", "replace", "s") == "s"


def test_flag_rights_and_permanent_flags() -> None:
    assert acl.flag_rights(fl.SEEN | fl.FLAGGED, False) == "sw"
    assert acl.flag_rights(fl.DELETED, True) == "tw"
    assert acl.flag_mask("s") == (fl.SEEN, False)
    assert acl.permanent_flags("st") == ["\\Deleted", "\\Seen"]
    assert acl.permanent_flags("w")[-1] == "\\*"
    assert not acl.writable("lri") and acl.writable("lrs")


def test_foreign_names() -> None:
    assert names.check("~Bob/inbox/x") == "~bob/INBOX/x"
    assert names.split_foreign("~bob/Shared/a") == ("bob", "Shared/a")
    assert names.split_foreign("Shared") is None
    assert names.foreign("bob", "INBOX") == "~bob/INBOX"
    assert names.may_reach_foreign("", "*") and names.may_reach_foreign("~", "%")
    assert not names.may_reach_foreign("", "INBOX*")


# -- on the store --


async def _account(directory: Directory, mailstore: Mailstore, address: str) -> int:
    account_id = (await directory.create_account(address, password="pw")).id
    await mailstore.ensure_defaults(account_id)
    return account_id


@pytest.fixture
async def alice(directory: Directory, mailstore: Mailstore) -> int:
    account_id = await _account(directory, mailstore, "alice")
    await mailstore.create(account_id, "Shared")
    await mailstore.append(account_id, "Shared", message("one"), ["\\Seen"])
    await mailstore.append(account_id, "Shared", message("two"))
    return account_id


@pytest.fixture
async def bob(directory: Directory, mailstore: Mailstore) -> int:
    return await _account(directory, mailstore, "bob")


async def test_nothing_is_shared_until_granted(mailstore: Mailstore, alice: int, bob: int) -> None:
    assert await mailstore.shared(bob) == []
    # Without any right the mailbox does not exist for bob: its existence is not disclosed.
    with pytest.raises(NoSuchMailbox):
        await mailstore.mailbox(bob, "~alice/Shared")
    with pytest.raises(NoSuchMailbox):
        await mailstore.append(bob, "~alice/Shared", message("x"))
    assert await mailstore.rights(bob, "~alice/Shared") == ""
    with pytest.raises(NoSuchMailbox):
        await mailstore.rights(bob, "~alice/Nothing")
    with pytest.raises(NoSuchMailbox):
        await mailstore.mailbox(bob, "~nobody/INBOX")


async def test_granting_lookup_and_read(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr")])
    shared = await mailstore.shared(bob)
    assert [(m.name, m.rights, m.account_id, m.viewer) for m in shared] == [("~alice/Shared", "lr", alice, bob)]
    box = await mailstore.mailbox(bob, "~Alice/Shared")
    assert (box.name, box.rights, box.messages, box.shared) == ("~alice/Shared", "lr", 2, True)
    assert [e.uid for e in await mailstore.view(box.id)] == [1, 2]
    # Reading is allowed; adding is not, and says which right is missing.
    with pytest.raises(NotPermitted, match="'i'"):
        await mailstore.append(bob, "~alice/Shared", message("x"))
    # The owner's own view is unchanged: every right, no viewer.
    own = await mailstore.mailbox(alice, "Shared")
    assert (own.name, own.rights, own.shared) == ("Shared", acl.ALL, False)
    assert (await mailstore.acl(alice, "Shared")).entries == [("bob", "lr")]


async def test_read_without_lookup_is_not_listed(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "r")])
    assert await mailstore.shared(bob) == []
    assert (await mailstore.mailbox(bob, "~alice/Shared")).rights == "r"
    with pytest.raises(NotPermitted):
        await mailstore.subscribe(bob, "~alice/Shared")  # subscribing needs "l"


async def test_insert_keeps_only_the_flags_the_rights_allow(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lri")])
    appended = await mailstore.append(bob, "~alice/Shared", message("three"), ["\\Seen", "\\Flagged", "$Label"])
    box = await mailstore.mailbox(alice, "Shared")
    meta = (await mailstore.meta(box.id, appended.uid, appended.uid))[0]
    assert meta.flag_names == []  # no s, w: \Seen, \Flagged and keywords are dropped
    await mailstore.change_acl(alice, "Shared", [("bob", "add", "s")])
    many = await mailstore.append_many(bob, "~alice/Shared", [(message("4"), ["\\Seen", "\\Draft"], None),
                                                             (message("5"), [], None)])
    metas = await mailstore.meta(box.id, many[0].uid, many[1].uid)
    assert [m.flag_names for m in metas] == [["\\Seen"], []]
    # The owner pays: the messages count against alice's quota, not bob's.
    assert (await mailstore.usage(alice))[1] == 5
    assert (await mailstore.usage(bob))[1] == 0


async def test_store_flags_follows_the_rights_of_the_moment(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lrs")])
    box = await mailstore.mailbox(bob, "~alice/Shared")
    changes, _ = await mailstore.store_flags(box, [2], "add", ["\\Seen"])
    assert [c.flags for c in changes] == [fl.SEEN]
    with pytest.raises(NotPermitted, match="'w'"):
        await mailstore.store_flags(box, [1, 2], "add", ["\\Flagged"])
    with pytest.raises(NotPermitted, match="'t'"):
        await mailstore.store_flags(box, [1], "add", ["\\Deleted"])
    # Asking for what is allowed and what is not: the allowed part happens, the rest is left alone.
    changes, _ = await mailstore.store_flags(box, [1, 2], "replace", ["\\Answered"])
    assert {c.uid: c.flags for c in changes} == {1: 0, 2: 0}  # \Seen cleared, \Answered not set
    # The owner takes "s" away while bob has the mailbox open: the next change is refused at once.
    await mailstore.change_acl(alice, "Shared", [("bob", "remove", "s")])
    with pytest.raises(NotPermitted):
        await mailstore.store_flags(box, [1], "add", ["\\Seen"])
    # The owner's own path takes a record or an id, as before.
    own = await mailstore.mailbox(alice, "Shared")
    assert (await mailstore.store_flags(own, [1], "add", ["\\Flagged"]))[0]
    assert (await mailstore.store_flags(own.id, [1], "add", ["\\Deleted"]))[0]


async def test_expunge_needs_e(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lrt")])
    box = await mailstore.mailbox(bob, "~alice/Shared")
    await mailstore.store_flags(box, [1], "add", ["\\Deleted"])
    with pytest.raises(NotPermitted, match="'e'"):
        await mailstore.expunge(box)
    await mailstore.change_acl(alice, "Shared", [("bob", "add", "e")])
    assert await mailstore.expunge(box) == [1]


async def test_copy_and_move_across_accounts(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr")])
    source = await mailstore.mailbox(bob, "~alice/Shared")
    copied, _ = await mailstore.copy(bob, source, [1, 2], "INBOX")
    assert copied.target_uids == [1, 2]
    assert (await mailstore.usage(bob))[1] == 2
    inbox = await mailstore.mailbox(bob, "INBOX")
    assert [m.flag_names for m in await mailstore.meta(inbox.id, 1, 2)] == [["\\Seen"], []]
    with pytest.raises(NotPermitted, match="'t'"):
        await mailstore.copy(bob, source, [1], "INBOX", move=True)
    # Into alice's mailbox: "i" there, and flags kept only as the rights allow.
    with pytest.raises(NotPermitted, match="'i'"):
        await mailstore.copy(bob, inbox, [1], "~alice/Shared")
    await mailstore.change_acl(alice, "Shared", [("bob", "add", "ite")])
    copied, _ = await mailstore.copy(bob, inbox, [1], "~alice/Shared")
    shared = await mailstore.mailbox(alice, "Shared")
    assert [m.flag_names for m in await mailstore.meta(shared.id, copied.target_uids[0], copied.target_uids[0])] \
        == [[]]
    moved, removed = await mailstore.copy(bob, source, [2], "INBOX", move=True)
    assert removed == [2] and moved.target_uids == [3]
    assert (await mailstore.usage(alice))[1] == 2 and (await mailstore.usage(bob))[1] == 3


async def test_create_under_a_shared_mailbox_inherits_its_acl(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr"), ("anyone", "replace", "l")])
    with pytest.raises(NotPermitted, match="'k'"):
        await mailstore.create(bob, "~alice/Shared/Sub")
    await mailstore.change_acl(alice, "Shared", [("bob", "add", "k")])
    made = await mailstore.create(bob, "~alice/Shared/Sub")
    assert (made.name, made.account_id, made.rights) == ("~alice/Shared/Sub", alice, "lrk")
    assert (await mailstore.acl(alice, "Shared/Sub")).entries == [("anyone", "l"), ("bob", "lrk")]
    # The owner's own new mailboxes inherit too (CommuniGate's rule), and the top level stays the owner's.
    await mailstore.create(alice, "Shared/Mine")
    assert (await mailstore.acl(alice, "Shared/Mine")).entries == [("anyone", "l"), ("bob", "lrk")]
    with pytest.raises(NotPermitted):
        await mailstore.create(bob, "~alice/Top")
    # "~me/x" is one's own mailbox by another name.
    assert (await mailstore.create(bob, "~bob/Mine")).rights == acl.ALL
    assert "Mine" in {m.name for m in await mailstore.mailboxes(bob)}


async def test_delete_and_rename_need_x_and_k(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.create(alice, "Shared/Old")
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr")])
    await mailstore.change_acl(alice, "Shared/Old", [("bob", "replace", "lr")])
    with pytest.raises(NotPermitted, match="'x'"):
        await mailstore.delete(bob, "~alice/Shared/Old")
    with pytest.raises(NotPermitted, match="'x'"):
        await mailstore.rename(bob, "~alice/Shared/Old", "~alice/Shared/New")
    await mailstore.change_acl(alice, "Shared/Old", [("bob", "add", "x")])
    with pytest.raises(NotPermitted, match="'k'"):
        await mailstore.rename(bob, "~alice/Shared/Old", "~alice/Shared/New")
    await mailstore.change_acl(alice, "Shared", [("bob", "add", "k")])
    with pytest.raises(CannotDelete):
        await mailstore.rename(bob, "~alice/Shared/Old", "Stolen")
    renamed = await mailstore.rename(bob, "~alice/Shared/Old", "~alice/Shared/New")
    assert renamed == [("~alice/Shared/Old", "~alice/Shared/New")]
    assert "Shared/New" in {m.name for m in await mailstore.mailboxes(alice)}
    await mailstore.delete(bob, "~alice/Shared/New")
    assert "Shared/New" not in {m.name for m in await mailstore.mailboxes(alice)}


async def test_anyone_and_negative_entries(mailstore: Mailstore, directory: Directory, alice: int,
                                           bob: int) -> None:
    carol = await _account(directory, mailstore, "carol")
    await mailstore.change_acl(alice, "Shared", [("anyone", "replace", "lrs"), ("-carol", "replace", "rs")])
    assert (await mailstore.mailbox(bob, "~alice/Shared")).rights == "lrs"
    assert (await mailstore.rights(carol, "~alice/Shared")) == "l"
    with pytest.raises(NotPermitted, match="'r'"):
        await mailstore.mailbox(carol, "~alice/Shared")
    assert [m.name for m in await mailstore.shared(carol)] == ["~alice/Shared"]
    assert (await mailstore.acl(alice, "Shared")).entries == [("anyone", "lrs"), ("-carol", "rs")]
    # An entry emptied is removed.
    await mailstore.change_acl(alice, "Shared", [("-carol", "remove", "rs")])
    assert (await mailstore.acl(alice, "Shared")).entries == [("anyone", "lrs")]


async def test_sharing_stays_inside_the_domain(mailstore: Mailstore, directory: Directory, alice: int) -> None:
    await directory.create_domain("other.test")
    stranger = await _account(directory, mailstore, "dave@other.test")
    await mailstore.change_acl(alice, "Shared", [("anyone", "replace", "lr")])
    assert await mailstore.shared(stranger) == []
    with pytest.raises(NoSuchMailbox):
        await mailstore.mailbox(stranger, "~alice/Shared")
    with pytest.raises(AclRefused):
        await mailstore.change_acl(alice, "Shared", [("dave@other.test", "replace", "lr")])
    with pytest.raises(AclRefused):
        await mailstore.change_acl(alice, "Shared", [("dave", "replace", "lr")])


async def test_identifiers(mailstore: Mailstore, directory: Directory, alice: int, bob: int) -> None:
    with pytest.raises(AclRefused, match="owner"):
        await mailstore.change_acl(alice, "Shared", [("alice", "replace", "lr")])
    with pytest.raises(AclRefused):
        await mailstore.change_acl(alice, "Shared", [("#group", "replace", "lr")])
    # One bad entry changes nothing (all or none).
    with pytest.raises(AclRefused):
        await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr"), ("nobody", "replace", "lr")])
    assert (await mailstore.acl(alice, "Shared")).entries == []
    # An alias names its account; name@domain works for the owner's domain.
    await directory.create_alias("robert", "bob")
    await mailstore.change_acl(alice, "Shared", [("Robert", "replace", "lr"), ("bob@example.com", "add", "i")])
    assert (await mailstore.acl(alice, "Shared")).entries == [("bob", "lri")]
    # And "~alias/..." reaches the alias's account.
    await directory.create_alias("ally", "alice")
    assert (await mailstore.mailbox(bob, "~ally/Shared")).account_id == alice
    # A deleted grantee's entry shows no more (and can match no one: ids are never reused).
    await directory.delete_account("bob")
    assert (await mailstore.acl(alice, "Shared")).entries == []


async def test_administering_the_acl(mailstore: Mailstore, directory: Directory, alice: int, bob: int) -> None:
    carol = await _account(directory, mailstore, "carol")
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr")])
    with pytest.raises(NotPermitted, match="'a'"):
        await mailstore.acl(bob, "~alice/Shared")
    with pytest.raises(NotPermitted):
        await mailstore.change_acl(bob, "~alice/Shared", [("carol", "replace", "lr")])
    await mailstore.change_acl(alice, "Shared", [("bob", "add", "a")])
    await mailstore.change_acl(bob, "~alice/Shared", [("carol", "replace", "lr")])
    got = await mailstore.acl(bob, "~alice/Shared")
    assert (got.owner, got.entries) == ("alice", [("bob", "lra"), ("carol", "lr")])
    assert [m.name for m in await mailstore.shared(carol)] == ["~alice/Shared"]
    assert await mailstore.list_rights(bob, "~alice/Shared", "alice") == (acl.ALL, ())
    assert await mailstore.list_rights(alice, "Shared", "carol") == ("", acl.OPTIONAL)
    with pytest.raises(InvalidRights):
        await mailstore.change_acl(alice, "Shared", [("carol", *acl.split_mode("+q"))])


async def test_deleting_a_mailbox_drops_its_acl(mailstore: Mailstore, alice: int, bob: int) -> None:
    await mailstore.change_acl(alice, "Shared", [("bob", "replace", "lr")])
    await mailstore.delete(alice, "Shared")
    await mailstore.create(alice, "Shared")
    assert await mailstore.shared(bob) == []
    assert (await mailstore.acl(alice, "Shared")).entries == []
