"""The Mailstore's administration calls behind the CLI/API's mailbox commands, on both store backends:
classes, renaming one mailbox or a subtree, deleting a subtree, replacing the subscriptions."""

from __future__ import annotations

import pytest

from polyport.directory import Directory
from polyport.mailstore import CannotDelete, InvalidMailboxName, MailboxExists, Mailstore, NoSuchMailbox


@pytest.fixture
async def account(directory: Directory, mailstore: Mailstore) -> int:
    info = await directory.create_account("admin-box", password="pw")
    await mailstore.ensure_defaults(info.id)
    return info.id


async def names_of(mailstore: Mailstore, account: int) -> list[str]:
    return [m.name for m in await mailstore.mailboxes(account)]


async def test_a_mailbox_class_is_kept_and_changed(mailstore: Mailstore, account: int) -> None:
    created = await mailstore.create(account, "Calendar", mailbox_class="IPF.Appointment")
    assert created.mailbox_class == "IPF.Appointment"
    assert (await mailstore.mailbox(account, "INBOX")).mailbox_class is None
    await mailstore.set_class(account, "Calendar", "IPF.Task")
    assert (await mailstore.mailbox(account, "Calendar")).mailbox_class == "IPF.Task"
    await mailstore.set_class(account, "Calendar", None)
    assert (await mailstore.mailbox(account, "Calendar")).mailbox_class is None
    with pytest.raises(NoSuchMailbox):
        await mailstore.set_class(account, "Nowhere", "IPF.Note")


async def test_rename_one_mailbox_leaves_its_children(mailstore: Mailstore, account: int) -> None:
    await mailstore.create(account, "a/b/c")
    assert await mailstore.rename(account, "a", "z", subtree=False) == [("a", "z")]
    assert {"z", "a/b", "a/b/c"} <= set(await names_of(mailstore, account))
    assert "a" not in await names_of(mailstore, account)
    assert await mailstore.rename(account, "a/b", "y") == [("a/b", "y"), ("a/b/c", "y/c")]


async def test_delete_a_subtree_all_or_nothing(mailstore: Mailstore, account: int) -> None:
    await mailstore.create(account, "t/u/v")
    await mailstore.create(account, "t/w")
    await mailstore.create(account, "tx")  # shares the prefix, not the level: stays
    message = b"Subject: x\r\n\r\nx\r\n"
    await mailstore.append(account, "t/u/v", message)
    await mailstore.delete(account, "t")  # the parent alone: t becomes a folder of others
    await mailstore.delete_tree(account, "t")  # a bare folder with children is deleted with them
    remaining = await names_of(mailstore, account)
    assert not any(n == "t" or n.startswith("t/") for n in remaining) and "tx" in remaining
    assert (await mailstore.usage(account)) == (0, 0)
    with pytest.raises(NoSuchMailbox):
        await mailstore.delete_tree(account, "t")
    await mailstore.create(account, "INBOX/keep")
    with pytest.raises(CannotDelete):
        await mailstore.delete_tree(account, "inbox")
    assert "INBOX/keep" in await names_of(mailstore, account)  # nothing was deleted


async def test_subscriptions_are_replaced(mailstore: Mailstore, account: int) -> None:
    assert await mailstore.set_subscriptions(account, ["inbox", "Lists/a", "INBOX"]) == ["INBOX", "Lists/a"]
    assert await mailstore.subscriptions(account) == ["INBOX", "Lists/a"]
    with pytest.raises(InvalidMailboxName):
        await mailstore.set_subscriptions(account, ["ok", "bad//name"])
    assert await mailstore.subscriptions(account) == ["INBOX", "Lists/a"]
    assert await mailstore.set_subscriptions(account, []) == []
    assert await mailstore.subscriptions(account) == []


async def test_creating_an_existing_mailbox_with_a_class_changes_nothing(mailstore: Mailstore, account: int) -> None:
    with pytest.raises(MailboxExists):
        await mailstore.create(account, "Sent", mailbox_class="IPF.Contact")
    assert (await mailstore.mailbox(account, "Sent")).mailbox_class is None


async def test_deleting_or_renaming_a_mailbox_leaves_one_differing_only_in_case(mailstore: Mailstore,
                                                                                 directory: Directory) -> None:
    account = await directory.create_account("casey@" + await directory.main_domain())
    await mailstore.ensure_defaults(account.id)
    for name in ("work", "work/a", "Work", "Work/Important"):
        await mailstore.create(account.id, name)
    await mailstore.delete_tree(account.id, "work")
    await mailstore.rename(account.id, "Work", "Job")
    names = {m.name for m in await mailstore.mailboxes(account.id)}
    assert {"Job", "Job/Important"} <= names and not {"work", "work/a", "Work/Important"} & names
