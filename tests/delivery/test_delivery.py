"""Recipient resolution and local delivery, on the configured store backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from polyport.bus import LocalBus
from polyport.delivery import Delivery, MailboxFull, RecipientDisabled, Trace, UnknownRecipient
from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.store import LocalBlobStore, RecordStore

MESSAGE = b"From: a@remote.test\r\nSubject: hi\r\n\r\nHello.\r\n"
TRACE = Trace("client.test", "192.0.2.1", "ESMTP")


@pytest.fixture
async def mailstore(records: RecordStore, directory: Directory, bus: LocalBus, tmp_path) -> Mailstore:
    return Mailstore(records, LocalBlobStore(tmp_path / "blobs"), directory, bus)


@pytest.fixture
def delivery(directory: Directory, mailstore: Mailstore) -> Delivery:
    return Delivery(directory, mailstore, "mx.example.com")


async def inbox(mailstore: Mailstore, directory: Directory, address: str) -> list[bytes]:
    account = await directory.account(address)
    boxes = {m.name: m for m in await mailstore.mailboxes(account.id)}
    if "INBOX" not in boxes:
        return []
    blobs = await mailstore.blob_ids(boxes["INBOX"].id, 1, 2**32 - 1)
    return [await mailstore.read(blobs[uid]) for uid in sorted(blobs)]


async def accounts_of(delivery: Delivery, address: str) -> list[str]:
    recipient = await delivery.resolve(address)
    assert recipient is not None
    return sorted(t.address for t in recipient.local)


async def test_accounts_aliases_domain_aliases_and_subaddresses(directory: Directory, delivery: Delivery) -> None:
    await directory.create_account("bob@example.com")
    await directory.create_alias("robert@example.com", "bob@example.com")
    await directory.set_domain_aliases("example.com", ["example.net"])
    for address in ("bob@example.com", "Bob@EXAMPLE.com", "robert@example.com", "bob@example.net",
                    "bob+lists@example.com", "robert+x@example.net"):
        assert await accounts_of(delivery, address) == ["bob@example.com"], address
    assert await delivery.resolve("bob@elsewhere.test") is None  # not hosted: the caller decides on relaying
    with pytest.raises(UnknownRecipient):
        await delivery.resolve("nobody@example.com")
    with pytest.raises(UnknownRecipient):
        await delivery.resolve('"odd name"@example.com')


async def test_postmaster_without_a_domain(delivery: Delivery, directory: Directory) -> None:
    await directory.create_account("postmaster@example.com")
    assert await accounts_of(delivery, "postmaster") == ["postmaster@example.com"]


async def test_forwarders_and_groups_expand_without_duplicates(directory: Directory, delivery: Delivery) -> None:
    for name in ("ann", "ben", "cat"):
        await directory.create_account(f"{name}@example.com")
    await directory.create_forwarder("sales@example.com", "ann@example.com")
    await directory.create_forwarder("away@example.com", "friend@elsewhere.test")
    await directory.create_group("team@example.com", members=["ann@example.com", "ben@example.com", "sales",
                                                              "team@example.com"])
    await directory.create_group("all@example.com", members=["team", "cat", "ann", "away"])
    assert await accounts_of(delivery, "sales@example.com") == ["ann@example.com"]
    assert await accounts_of(delivery, "team@example.com") == ["ann@example.com", "ben@example.com"]
    everyone = await delivery.resolve("all@example.com")
    assert everyone is not None
    assert sorted(t.address for t in everyone.local) == ["ann@example.com", "ben@example.com", "cat@example.com"]
    assert everyone.remote == ("friend@elsewhere.test",)


async def test_a_group_that_takes_no_mail(directory: Directory, delivery: Delivery) -> None:
    await directory.create_account("ann@example.com")
    await directory.create_group("closed@example.com", settings={"Expand": "NO"}, members=["ann"])
    with pytest.raises(RecipientDisabled):
        await delivery.resolve("closed@example.com")


async def test_forwarder_loops_end(directory: Directory, delivery: Delivery) -> None:
    await directory.create_forwarder("ping@example.com", "pong@example.com")
    await directory.create_forwarder("pong@example.com", "ping@example.com")
    with pytest.raises(RecipientDisabled):
        await delivery.resolve("ping@example.com")


async def test_mail_to_unknown_names(directory: Directory, delivery: Delivery) -> None:
    await directory.create_account("catchall@example.com")
    await directory.update_domain_settings("example.com", {"MailToUnknown": "Discarded"})
    recipient = await delivery.resolve("whoever@example.com")
    assert recipient is not None and recipient.discarded and not recipient.local
    await directory.update_domain_settings("example.com", {"MailToUnknown": "Rerouted",
                                                           "MailRerouteAddress": "catchall"})
    assert await accounts_of(delivery, "whoever@example.com") == ["catchall@example.com"]
    await directory.update_domain_settings("example.com", {"MailToUnknown": "Rejected"})
    with pytest.raises(UnknownRecipient):
        await delivery.resolve("whoever@example.com")


async def test_delivery_stores_once_for_all_recipients(directory: Directory, delivery: Delivery,
                                                       mailstore: Mailstore, records: RecordStore) -> None:
    for name in ("ann", "ben"):
        await directory.create_account(f"{name}@example.com")
    await directory.create_alias("annie@example.com", "ann@example.com")
    recipients = [r for r in [await delivery.resolve(a) for a in ("ann@example.com", "annie@example.com",
                                                                   "ben@example.com")] if r is not None]
    delivered = await delivery.deliver("a@remote.test", recipients, MESSAGE, TRACE)
    assert delivered.accounts == 2
    [ann] = await inbox(mailstore, directory, "ann@example.com")
    [ben] = await inbox(mailstore, directory, "ben@example.com")
    assert ann == ben and ann.endswith(MESSAGE)
    assert ann.startswith(b"Return-Path: <a@remote.test>\r\nReceived: from client.test ([192.0.2.1]) by")
    assert b"by mx.example.com (Polyport) with ESMTP id " in ann.replace(b"\r\n\t", b" ")
    assert b"for <" not in ann  # several recipients: none named in the shared copy
    bodies = await records.fetch(_count_bodies())
    assert bodies == 1


def _count_bodies():
    from polyport.store import Statement

    return Statement("SELECT count(*) FROM bodies").value()


async def test_over_quota_is_all_or_nothing(directory: Directory, delivery: Delivery, mailstore: Mailstore) -> None:
    await directory.create_account("ann@example.com")
    await directory.create_account("tiny@example.com", settings={"MaxAccountSize": "100"})
    ann, tiny = await delivery.resolve("ann@example.com"), await delivery.resolve("tiny@example.com")
    assert ann is not None and tiny is not None
    await delivery.check_room(tiny, 50)
    with pytest.raises(MailboxFull) as err:
        await delivery.check_room(tiny, 500)
    assert not err.value.permanent
    with pytest.raises(MailboxFull):
        await delivery.deliver("a@remote.test", [ann, tiny], MESSAGE * 10, TRACE)
    assert await inbox(mailstore, directory, "ann@example.com") == []
    await directory.update_domain_settings("example.com", {"OverQuotaReply": "Permanent"})
    with pytest.raises(MailboxFull) as err:
        await delivery.check_room(tiny, 500)
    assert err.value.permanent


async def test_concurrent_deliveries_get_distinct_uids(directory: Directory, delivery: Delivery,
                                                       mailstore: Mailstore) -> None:
    await directory.create_account("ann@example.com")
    ann = await delivery.resolve("ann@example.com")
    assert ann is not None
    await asyncio.gather(*(delivery.deliver("a@remote.test", [ann], MESSAGE + b"%d\r\n" % i, TRACE)
                           for i in range(20)))
    assert len(await inbox(mailstore, directory, "ann@example.com")) == 20


async def test_deliveries_in_any_order_do_not_deadlock(directory: Directory, mailstore: Mailstore) -> None:
    """Several accounts per message, listed in opposite orders by concurrent deliveries: each unit locks
    the mailboxes lowest first (PostgreSQL deadlocked before)."""
    a = (await directory.create_account("ann@example.com")).id
    b = (await directory.create_account("ben@example.com")).id
    await asyncio.gather(*(mailstore.deliver(MESSAGE + b"%d\r\n" % i,
                                             [(a, "INBOX"), (b, "INBOX")] if i % 2 else [(b, "INBOX"), (a, "INBOX")])
                           for i in range(40)))
    assert len(await inbox(mailstore, directory, "ann@example.com")) == 40


async def test_two_names_for_one_mailbox_store_once(directory: Directory, mailstore: Mailstore) -> None:
    a = (await directory.create_account("ann@example.com")).id
    await mailstore.deliver(MESSAGE, [(a, "Nonexistent"), (a, "INBOX")])
    assert len(await inbox(mailstore, directory, "ann@example.com")) == 1
