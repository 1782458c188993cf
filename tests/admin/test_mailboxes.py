"""An account's mailboxes and their ACLs: the account itself, its domain's administrator (never on an
account holding rights it lacks), the server administrator; and acting as another account (`auth`),
through the ACLs."""

from __future__ import annotations

import pytest

from polyport import admin
from polyport.admin import Forbidden, Hidden, InvalidRequest
from polyport.directory import UnknownObject
from polyport.mailstore import NoSuchMailbox, NotPermitted
from tests.admin.conftest import Cast, Services

USER = "user@tenant.test"


def names(listed: list[admin.Listed]) -> list[str]:
    return [entry.name for entry in listed]


async def test_who_may_manage_an_accounts_mailboxes(services: Services, cast: Cast) -> None:
    for actor in (cast.user, cast.reader, cast.master):
        assert "INBOX" in names(await admin.list_mailboxes(services, actor, USER))  # made on first use
    with pytest.raises(Forbidden):
        await admin.list_mailboxes(services, cast.user, "boss@tenant.test")
    with pytest.raises(Hidden):
        await admin.create_mailbox(services, cast.boss, "victim@other.test", "Work")
    with pytest.raises(Hidden):
        await admin.mailbox_subscriptions(services, cast.boss, "root@tenant.test")
    with pytest.raises(UnknownObject):
        await admin.list_mailboxes(services, cast.boss, "ghost@tenant.test")


async def test_create_rename_delete_class_info_subscriptions(services: Services, cast: Cast) -> None:
    await admin.create_mailbox(services, cast.user, USER, "Work/Projects", mailbox_class="IPF.Note")
    listed = {e.name: e for e in await admin.list_mailboxes(services, cast.user, USER, "Work*")}
    assert listed["Work"].has_children and listed["Work/Projects"].mailbox is not None
    await admin.set_mailbox_class(services, cast.reader, USER, "Work/Projects", "IPF.Task")
    box = await admin.mailbox(services, cast.user, USER, "Work/Projects")
    assert box.mailbox_class == "IPF.Task" and box.messages == 0
    await admin.set_mailbox_class(services, cast.user, USER, "Work/Projects", None)
    with pytest.raises(InvalidRequest):
        await admin.create_mailbox(services, cast.user, USER, "Odd", mailbox_class="not a class!")
    await admin.rename_mailbox(services, cast.user, USER, "Work", "Job", subtree=True)
    assert "Job/Projects" in names(await admin.list_mailboxes(services, cast.user, USER))
    await admin.delete_mailbox(services, cast.master, USER, "Job", subtree=True)
    assert not [n for n in names(await admin.list_mailboxes(services, cast.user, USER)) if n.startswith("Job")]
    assert await admin.set_mailbox_subscriptions(services, cast.user, USER, ["INBOX", "Later"]) == ["INBOX", "Later"]
    assert await admin.mailbox_subscriptions(services, cast.reader, USER) == ["INBOX", "Later"]


async def test_acting_as_another_account_goes_through_the_acl(services: Services, cast: Cast) -> None:
    await admin.create_mailbox(services, cast.user, USER, "Shared")
    as_reader = {"auth": "reader@tenant.test"}
    with pytest.raises(NoSuchMailbox):  # no right at all: it does not exist for the reader
        await admin.mailbox(services, cast.master, USER, "Shared", **as_reader)
    await admin.set_mailbox_acl(services, cast.user, USER, "Shared", {"reader": "lr"})
    assert await admin.mailbox_acl(services, cast.user, USER, "Shared") == [("reader", "lr")]
    assert await admin.mailbox_rights(services, cast.master, USER, "Shared", "reader@tenant.test") == "lr"
    assert (await admin.mailbox(services, cast.master, USER, "Shared", **as_reader)).name.endswith("Shared")
    assert "Shared" in names(await admin.list_mailboxes(services, cast.master, USER, **as_reader))
    with pytest.raises(NotPermitted):  # reading the ACL needs "a"
        await admin.mailbox_acl(services, cast.master, USER, "Shared", **as_reader)
    with pytest.raises(NotPermitted):
        await admin.delete_mailbox(services, cast.master, USER, "Shared", subtree=True, **as_reader)
    await admin.set_mailbox_acl(services, cast.user, USER, "Shared", {"reader": "+x"})
    assert await admin.mailbox_rights(services, cast.master, USER, "Shared", "reader@tenant.test") == "lrx"
    # An account of another domain reaches nothing here.
    assert await admin.mailbox_rights(services, cast.master, USER, "Shared", "victim@other.test") == ""
    with pytest.raises(NoSuchMailbox):
        await admin.mailbox_rights(services, cast.master, USER, "Nowhere", "victim@other.test")
    with pytest.raises(UnknownObject):
        await admin.list_mailboxes(services, cast.master, USER, auth="ghost@tenant.test")
    with pytest.raises(Forbidden):  # the caller's own rights come first, whoever it acts as
        await admin.set_mailbox_acl(services, cast.victim, USER, "Shared", {"victim": "lr"})
