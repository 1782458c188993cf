"""Mail delivery sends to a message's sender on its own (issue 12: backscatter): whether the sender was
verified travels with every copy queued for elsewhere (forwarders, redirects), so the queue's notices can
follow it, and vacation answers and rejections follow the same rule. On the configured store backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyport.bus import LocalBus
from polyport.delivery import Delivery, Recipient, Trace
from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.queue import Queue
from polyport.queue import records as rec
from polyport.queue.service import UnverifiedNotices
from polyport.store import LocalBlobStore, RecordStore
from tests.delivery.test_delivery import inbox

VERIFIED = Trace("mail.sender.test", "192.0.2.1", "ESMTP", verified=True)  # SPF passed, say
UNVERIFIED = Trace("forger.test", "192.0.2.66", "ESMTP")


def message(to: str, subject: str = "hello") -> bytes:
    return (f"From: <friend@example.com>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@sender.test>\r\n\r\nHi.\r\n").encode()


@pytest.fixture
async def mailstore(records: RecordStore, directory: Directory, bus: LocalBus, tmp_path: Path) -> Mailstore:
    return Mailstore(records, LocalBlobStore(tmp_path / "blobs"), directory, bus)


def delivery_with(directory: Directory, mailstore: Mailstore, policy: UnverifiedNotices = "headers") -> Delivery:
    queue = Queue(mailstore.store, mailstore.blobs, None, "mx.example.com", notices_to_unverified=policy)
    return Delivery(directory, mailstore, "mx.example.com", queue)


async def queued_flags(delivery: Delivery) -> dict[str, int]:
    """Each queued copy's first recipient -> its flags."""
    assert delivery.queue is not None
    out = {}
    for entry in await delivery.queue.waiting():
        message, recipients = await delivery.queue.show(str(entry["ident"]))
        out[str(recipients[0]["address"])] = message.flags
    return out


async def resolved(delivery: Delivery, address: str) -> Recipient:
    recipient = await delivery.resolve(address)
    assert recipient is not None
    return recipient


@pytest.mark.parametrize("trace", [VERIFIED, UNVERIFIED], ids=["verified", "unverified"])
async def test_forwarded_and_redirected_copies_keep_whether_the_sender_was_verified(
        directory: Directory, mailstore: Mailstore, trace: Trace) -> None:
    delivery = delivery_with(directory, mailstore)
    await directory.create_forwarder("fwd@example.com", "away@far.test")
    await directory.create_account("rules@example.com")
    await directory.update_account_settings("rules@example.com", {
        "Rules": [["5", "out", [], [["Redirect to", "elsewhere@far.test"]]]]})
    recipients = [await resolved(delivery, "fwd@example.com"), await resolved(delivery, "rules@example.com")]
    await delivery.deliver("someone@sender.test", recipients, message("fwd@example.com"), trace)
    flags = await queued_flags(delivery)
    assert set(flags) == {"away@far.test", "elsewhere@far.test"}
    assert all(bool(f & rec.VERIFIED) == trace.verified for f in flags.values()), flags


async def test_authenticated_and_trusted_senders_are_verified(directory: Directory, mailstore: Mailstore) -> None:
    # The SMTP session sets `verified` for them; the queue takes what the trace says, and nothing else.
    delivery = delivery_with(directory, mailstore)
    submitted = Trace("laptop", "192.0.2.5", "ESMTPSA", authenticated="ann@example.com", verified=True)
    await delivery.deliver("ann@example.com", [Recipient("x@far.test", remote=("x@far.test",))],
                           message("x@far.test"), submitted)
    assert (await queued_flags(delivery))["x@far.test"] & rec.VERIFIED


def vacation_script() -> dict[str, str]:
    return {"SieveScript": 'require ["vacation"]; vacation :subject "Away" "Back on Monday.";'}


@pytest.mark.parametrize(("trace", "policy", "answered"), [
    (VERIFIED, "none", True),
    (UNVERIFIED, "headers", True),  # it quotes the Subject and Message-ID, no more than a header-only notice
    (UNVERIFIED, "full", True),
    (UNVERIFIED, "none", False),
], ids=["verified", "unverified-headers", "unverified-full", "unverified-none"])
async def test_vacation_answers_follow_the_setting(directory: Directory, mailstore: Mailstore, trace: Trace,
                                                   policy: UnverifiedNotices, answered: bool) -> None:
    delivery = delivery_with(directory, mailstore, policy)
    await directory.create_account("away@example.com")
    await directory.create_account("friend@example.com")
    await directory.update_account_settings("away@example.com", vacation_script())
    await delivery.deliver("friend@example.com", [await resolved(delivery, "away@example.com")],
                           message("away@example.com"), trace)
    answers = await inbox(mailstore, directory, "friend@example.com")
    assert len(answers) == int(answered)
    if answered:
        assert b"Back on Monday." in answers[0] and answers[0].startswith(b"Return-Path: <>")


@pytest.mark.parametrize("policy", ["headers", "full"])
async def test_rejections_go_to_verified_senders_only(directory: Directory, mailstore: Mailstore,
                                                      policy: UnverifiedNotices) -> None:
    delivery = delivery_with(directory, mailstore, policy)
    await directory.create_account("picky@example.com")
    await directory.create_account("friend@example.com")
    await directory.update_account_settings("picky@example.com",
                                            {"SieveScript": 'require ["reject"]; reject "not wanted";'})
    picky = await resolved(delivery, "picky@example.com")
    await delivery.deliver("friend@example.com", [picky], message("picky@example.com", "one"), UNVERIFIED)
    assert await inbox(mailstore, directory, "friend@example.com") == []
    await delivery.deliver("friend@example.com", [picky], message("picky@example.com", "two"), VERIFIED)
    [notice] = await inbox(mailstore, directory, "friend@example.com")
    assert b"not wanted" in notice and b"text/rfc822-headers" in notice and b"Hi." not in notice
