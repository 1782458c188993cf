"""METADATA entries (RFC 5464) in the mailstore, on both store backends: scopes, all-or-none changes,
limits, access, and entries following their mailbox (deleted with it, kept through a rename)."""

from __future__ import annotations

import asyncio

import pytest

from polyport.directory import Directory
from polyport.mailstore import (
    Mailstore,
    MetadataTooLarge,
    MetadataTooMany,
    NoSuchMailbox,
    NotPermitted,
)
from polyport.mailstore import metadata as md

# -- pure --


def test_entry_names() -> None:
    assert md.check_name("/private/comment", settable=True) is None
    assert md.check_name("/Shared/Vendor/acme/x", settable=True) is None
    assert md.check_name("/shared", settable=False) is None
    assert md.check_name("/shared", settable=True) == "/shared names no entry: a name below it is needed"
    assert md.check_name("/public/x", settable=False) == "an entry name starts with /private/ or /shared/"
    assert md.check_name("/private/a\tb", settable=True) == \
        "an entry name may not hold '*', '%' or control characters"
    assert md.check_name("/private/a//b", settable=True) == "an entry name may not hold '//'"
    assert md.check_name("/private/a/", settable=True) == "an entry name may not end with '/'"
    assert md.check_name("/private/" + "x" * 1024, settable=True) == "an entry name is at most 1024 bytes"


def test_depth_and_scopes() -> None:
    rows = [("/private/a", b"1"), ("/private/a/b", b"2"), ("/private/a/b/c", b"3"), ("/private/ab", b"4")]
    assert md.select(rows, ["/private/a"], 0) == [("/private/a", b"1")]
    assert md.select(rows, ["/Private/A"], 1) == [("/private/a", b"1"), ("/private/a/b", b"2")]
    assert md.select(rows, ["/private/a"], -1) == rows[:3]
    assert md.select(rows, ["/private/a", "/private/a/b"], 0) == rows[:2]  # each once
    assert md.scope(None, None) == "s:s" and md.scope(7, 3) == "m7:a3" and md.scope(7, None) == "m7:s"


# -- on the store --


async def _account(directory: Directory, mailstore: Mailstore, address: str) -> int:
    account_id = (await directory.create_account(address, password="pw")).id
    await mailstore.ensure_defaults(account_id)
    return account_id


async def test_entries_by_scope(directory: Directory, mailstore: Mailstore) -> None:
    alice = await _account(directory, mailstore, "alice@example.com")
    bob = await _account(directory, mailstore, "bob@example.com")
    await mailstore.set_metadata(alice, "INBOX", [("/private/comment", b"a\x00b"), ("/shared/Comment", b"s")])
    await mailstore.set_metadata(alice, "", [("/private/comment", b"server, alice")])
    await mailstore.set_metadata(bob, "", [("/private/comment", b"server, bob")])
    await mailstore.set_metadata(bob, "", [("/shared/comment", b"motd")], server_admin=True)
    assert await mailstore.get_metadata(alice, "INBOX", ["/private", "/shared"], -1) == [
        ("/private/comment", b"a\x00b"), ("/shared/comment", b"s")]
    assert await mailstore.get_metadata(alice, "", ["/private/comment", "/shared/comment"]) == [
        ("/private/comment", b"server, alice"), ("/shared/comment", b"motd")]
    assert await mailstore.get_metadata(bob, "", ["/private/comment"]) == [("/private/comment", b"server, bob")]
    assert await mailstore.get_metadata(bob, "INBOX", ["/shared/comment"]) == []  # bob's own INBOX
    with pytest.raises(NotPermitted):
        await mailstore.set_metadata(alice, "", [("/shared/comment", b"x")])
    await mailstore.set_metadata(alice, "INBOX", [("/shared/comment", None)])
    assert await mailstore.get_metadata(alice, "INBOX", ["/shared/comment"]) == []


async def test_all_or_none_and_limits(directory: Directory, mailstore: Mailstore) -> None:
    alice = await _account(directory, mailstore, "alice@example.com")
    with pytest.raises(MetadataTooLarge):
        await mailstore.set_metadata(alice, "INBOX", [("/private/a", b"x"), ("/private/b", b"x" * 16385)])
    entries: list[tuple[str, bytes | None]] = [(f"/private/n{i}", b"v") for i in range(md.MAX_ENTRIES + 1)]
    with pytest.raises(MetadataTooMany):
        await mailstore.set_metadata(alice, "INBOX", entries)
    assert await mailstore.get_metadata(alice, "INBOX", ["/private"], -1) == []
    await mailstore.set_metadata(alice, "INBOX", entries[:-1])
    await mailstore.set_metadata(alice, "INBOX", [("/private/n0", b"again")])  # a replacement adds none
    with pytest.raises(MetadataTooMany):
        await mailstore.set_metadata(alice, "INBOX", entries[-1:])
    assert len(await mailstore.get_metadata(alice, "INBOX", ["/private"], 1)) == md.MAX_ENTRIES


async def test_concurrent_writers_cannot_pass_the_limit_together(directory: Directory, mailstore: Mailstore) -> None:
    """Two SETMETADATA at once, each adding the 100th and 101st... entry: one of them is refused. On
    PostgreSQL the count after the writes saw only its own transaction's (READ COMMITTED) until writers of a
    mailbox's (or an account's server) entries were made to go one at a time."""
    alice = await _account(directory, mailstore, "alice@example.com")
    for mailbox in ("INBOX", ""):
        await mailstore.set_metadata(alice, mailbox, [(f"/private/n{i}", b"v") for i in range(md.MAX_ENTRIES - 1)])
        outcomes = await asyncio.gather(*(mailstore.set_metadata(alice, mailbox, [(f"/private/new{k}", b"v")])
                                          for k in range(4)), return_exceptions=True)
        assert sum(isinstance(o, MetadataTooMany) for o in outcomes) == 3, outcomes
        assert len(await mailstore.get_metadata(alice, mailbox, ["/private"], 1)) == md.MAX_ENTRIES


async def test_entries_follow_their_mailbox(directory: Directory, mailstore: Mailstore) -> None:
    alice = await _account(directory, mailstore, "alice@example.com")
    await mailstore.create(alice, "Box/Child")
    await mailstore.set_metadata(alice, "Box/Child", [("/shared/comment", b"child")])
    await mailstore.rename(alice, "Box", "Crate")
    assert await mailstore.get_metadata(alice, "Crate/Child", ["/shared/comment"]) == [("/shared/comment", b"child")]
    await mailstore.delete_tree(alice, "Crate")
    await mailstore.create(alice, "Crate/Child")
    assert await mailstore.get_metadata(alice, "Crate/Child", ["/shared/comment"]) == []
    with pytest.raises(NoSuchMailbox):
        await mailstore.get_metadata(alice, "Nowhere", ["/shared/comment"])


async def test_shared_mailboxes_need_rights(directory: Directory, mailstore: Mailstore) -> None:
    alice = await _account(directory, mailstore, "alice@example.com")
    bob = await _account(directory, mailstore, "bob@example.com")
    await mailstore.create(alice, "Team")
    await mailstore.set_metadata(alice, "Team", [("/shared/comment", b"team")])
    with pytest.raises(NoSuchMailbox):
        await mailstore.get_metadata(bob, "~alice/Team", ["/private/comment"])
    await mailstore.change_acl(alice, "Team", [("bob", "replace", "l")])
    await mailstore.set_metadata(bob, "~alice/Team", [("/private/comment", b"bob's")])
    with pytest.raises(NotPermitted):
        await mailstore.get_metadata(bob, "~alice/Team", ["/shared/comment"])
    await mailstore.change_acl(alice, "Team", [("bob", "replace", "lr")])
    assert await mailstore.get_metadata(bob, "~alice/Team", ["/shared/comment", "/private/comment"]) == [
        ("/private/comment", b"bob's"), ("/shared/comment", b"team")]
    with pytest.raises(NotPermitted):
        await mailstore.set_metadata(bob, "~alice/Team", [("/shared/comment", b"x")])
    assert await mailstore.get_metadata(alice, "Team", ["/private/comment"]) == []  # bob's is bob's
    # the account's private entries go with the account
    await mailstore.set_metadata(bob, "", [("/private/x", b"1")])
    team = (await mailstore.mailbox(alice, "Team")).id
    scopes = (md.scope(None, bob), md.scope(team, bob))
    for key in scopes:
        assert int(await mailstore.store.fetch(md.COUNT_ENTRIES.value(scope=key))) == 1
    await directory.delete_account("bob@example.com")
    for key in scopes:
        assert int(await mailstore.store.fetch(md.COUNT_ENTRIES.value(scope=key))) == 0
