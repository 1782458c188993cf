"""What the queue's notices carry back to a sender, and to which senders (issue 12: backscatter). A sender
something vouched for (records.VERIFIED) gets the original as RET asks; one nobody vouched for may be
forged, and gets what `notices_to_unverified` says: the header fields (default), nothing, or everything.
On the configured store backend (SQLite and PostgreSQL); the remote server is a stand-in that answers
every recipient the same way."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import cast

import pytest

from polyport.queue import Delivered, NewRecipient, Queue, QueueLimits, SmtpSender, dsn
from polyport.queue import records as rec
from polyport.queue.service import UNVERIFIED_HEADERS, UnverifiedNotices
from polyport.store import LocalBlobStore, RecordStore

BODY = b"Cheap watches at http://forger.example/ - this is what a forger wants mailed to strangers."
MESSAGE = (b"From: <ceo@victim.test>\r\nTo: <fwd@example.com>\r\nSubject: invoice\r\n"
           b"Message-ID: <m1@forger.test>\r\n\r\n" + BODY + b"\r\n")
SENDER = "victim@victim.test"


class Answering:
    """A remote server that gives every recipient the same reply (no SMTP)."""

    relayed = False

    def __init__(self, code: int, enhanced: str, text: str) -> None:
        self.reply = Delivered(code, enhanced, text, "mx.far.test")

    async def send(self, domain: str, message: rec.QueuedMessage, recipients: list[rec.DueRecipient],
                   data: bytes) -> dict[int, Delivered]:
        return {r.id: self.reply for r in recipients}


REFUSES = Answering(550, "5.1.1", "no such user")
DEFERS = Answering(451, "4.4.1", "try again later")
TAKES = Answering(250, "2.0.0", "ok")


class Setup:
    def __init__(self, records: RecordStore, tmp_path: Path, server: Answering,
                 policy: UnverifiedNotices = "headers", limits: QueueLimits | None = None) -> None:
        self.records = records
        self.queue = Queue(records, LocalBlobStore(tmp_path / "blobs"), cast(SmtpSender, server), "mx.example.com",
                           limits, notices_to_unverified=policy)
        self.sent: list[tuple[str, bytes]] = []

        async def notify(to: str, data: bytes) -> None:
            self.sent.append((to, data))

        self.queue.notify = notify

    async def enqueue(self, *, verified: bool, data: bytes = MESSAGE, notify: str | None = None) -> str:
        """Queue `data` with RET=FULL, as a forger would ask."""
        return await self.queue.enqueue(SENDER, data, [NewRecipient("someone@far.test", None, notify)],
                                        ret="FULL", verified=verified)

    async def attempt(self) -> None:
        """One attempt at everything due."""
        now = int(time.time()) + 1
        taken = await self.records.write(rec.take_due(now, now + 900, 100))
        groups: defaultdict[tuple[int, str], list[rec.DueRecipient]] = defaultdict(list)
        for recipient in taken:
            groups[(recipient.message_id, recipient.domain)].append(recipient)
        for key, recipients in groups.items():
            await self.queue._attempt(key, recipients)

    def notice(self) -> bytes:
        [(to, data)] = self.sent
        assert to == SENDER
        return data


def returned(notice: bytes) -> str:
    """What of the original the notice carries: "full", "headers", or "nothing"."""
    if b"Content-Type: message/rfc822" in notice and BODY in notice:
        return "full"
    if b"Content-Type: text/rfc822-headers" in notice and BODY not in notice:
        assert b"Subject: invoice" in notice  # the header is there, whole
        return "headers"
    return "nothing"


@pytest.mark.parametrize(("verified", "policy", "expected"), [
    (True, "headers", "full"),
    (True, "none", "full"),  # the setting is about unverified senders only
    (False, "headers", "headers"),
    (False, "none", None),
    (False, "full", "full"),
])
async def test_a_bounce_returns_the_original_to_verified_senders_only(
        records: RecordStore, tmp_path: Path, verified: bool, policy: UnverifiedNotices, expected: str | None
) -> None:
    setup = Setup(records, tmp_path, REFUSES, policy)
    ident = await setup.enqueue(verified=verified)
    await setup.attempt()
    if expected is None:
        assert setup.sent == []
    else:
        notice = setup.notice()
        assert b"Action: failed" in notice and b"Status: 5.1.1" in notice
        assert returned(notice) == expected
    # Notice or none, the failure is done with: nothing is left waiting for a bounce.
    assert await setup.queue.waiting() == []
    with pytest.raises(KeyError):
        await setup.queue.show(ident)


async def test_the_header_returned_to_an_unverified_sender_is_cut_at_a_field(records: RecordStore,
                                                                             tmp_path: Path) -> None:
    # A forger who knows only the header comes back moves the content there.
    stuffed = b"".join(b"X-Ad-%d: %s\r\n\t%s\r\n" % (i, b"a" * 500, b"b" * 480) for i in range(100))
    setup = Setup(records, tmp_path, REFUSES)
    await setup.enqueue(verified=False, data=stuffed + MESSAGE)
    await setup.attempt()
    notice = setup.notice()
    part = notice[notice.index(b"Content-Type: text/rfc822-headers"):]
    header = part[part.index(b"\r\n\r\n") + 4:part.rindex(b"\r\n--")]
    assert UNVERIFIED_HEADERS - 1000 < len(header) <= UNVERIFIED_HEADERS
    assert header.startswith(b"X-Ad-0: ") and header.endswith(b"b" * 480 + b"\r\n")  # whole fields only
    assert b"X-Ad-99" not in notice and BODY not in notice


def test_header_fields() -> None:
    message = b"A: 1\r\nB: 22\r\n\t33\r\nC: 4\r\n\r\nbody\r\n"
    assert dsn.header_fields(message, 24) == b"A: 1\r\nB: 22\r\n\t33\r\nC: 4\r\n"  # all of it fits
    for limit in range(18, 24):
        assert dsn.header_fields(message, limit) == b"A: 1\r\nB: 22\r\n\t33\r\n"
    for limit in range(6, 18):  # never half of B's folded value
        assert dsn.header_fields(message, limit) == b"A: 1\r\n"
    assert dsn.header_fields(message, 5) == b""


@pytest.mark.parametrize(("verified", "policy", "expected"), [
    (True, "headers", "full"), (False, "headers", "headers"), (False, "none", None)])
async def test_delay_notices_follow_the_same_rule(records: RecordStore, tmp_path: Path, verified: bool,
                                                  policy: UnverifiedNotices, expected: str | None) -> None:
    setup = Setup(records, tmp_path, DEFERS, policy, QueueLimits(delay_warning=0.0))
    ident = await setup.enqueue(verified=verified)
    await setup.attempt()
    if expected is None:
        assert setup.sent == []
    else:
        notice = setup.notice()
        assert b"Action: delayed" in notice and returned(notice) == expected
    _, [recipient] = await setup.queue.show(ident)
    assert recipient["status"] == rec.QUEUED and recipient["delay_notified"]  # still tried, warned once


@pytest.mark.parametrize("policy", ["headers", "none", "full"])
async def test_relay_reports_go_to_verified_senders_only(records: RecordStore, tmp_path: Path,
                                                         policy: UnverifiedNotices) -> None:
    setup = Setup(records, tmp_path, TAKES, policy)
    await setup.enqueue(verified=True, notify="SUCCESS")
    await setup.attempt()
    assert b"Action: relayed" in setup.notice()
    setup.sent.clear()
    await setup.enqueue(verified=False, notify="SUCCESS")  # anyone can ask for a report in a stranger's name
    await setup.attempt()
    assert setup.sent == []


async def test_an_administrators_rejection_follows_the_same_rule(records: RecordStore, tmp_path: Path) -> None:
    setup = Setup(records, tmp_path, REFUSES)
    ident = await setup.enqueue(verified=False)
    await setup.queue.reject(ident, "spam, removed by the postmaster")
    notice = setup.notice()
    assert b"spam, removed by the postmaster" in notice and returned(notice) == "headers"
    setup.sent.clear()
    ident = await setup.enqueue(verified=True)
    await setup.queue.reject(ident)
    assert returned(setup.notice()) == "full"


async def test_a_bounce_sent_after_a_crash_follows_the_same_rule(records: RecordStore, tmp_path: Path) -> None:
    setup = Setup(records, tmp_path, REFUSES)
    await setup.enqueue(verified=False)
    now = int(time.time())
    [due] = await records.write(rec.take_due(now + 1, now + 900, 10))
    await records.write(rec.record(due.message_id, [
        rec.Outcome(due.id, rec.BOUNCING, now - 600, "mx.far.test said: 550 5.1.1 no such user")], now - 600))
    await setup.queue._resend_bounces()
    assert returned(setup.notice()) == "headers"


async def test_verified_travels_in_the_flags(records: RecordStore, tmp_path: Path) -> None:
    setup = Setup(records, tmp_path, REFUSES)
    verified = await setup.enqueue(verified=True)
    unverified = await setup.enqueue(verified=False)
    assert (await setup.queue.show(verified))[0].flags & rec.VERIFIED
    assert not (await setup.queue.show(unverified))[0].flags & rec.VERIFIED
