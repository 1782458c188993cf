"""The queue's SQL, the vacation memory and the DKIM keys on the configured store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

from polyport.delivery import records as drec
from polyport.directory import Directory
from polyport.queue import NewRecipient, Queue
from polyport.queue import records as rec
from polyport.store import LocalBlobStore, RecordStore


async def test_enqueue_lease_record_and_delete(records: RecordStore, tmp_path) -> None:
    queue = Queue(records, LocalBlobStore(tmp_path / "blobs"), None, "mx.example.com")
    big = b"Subject: big\r\n\r\n" + b"x" * 100_000
    for data in (b"Subject: small\r\n\r\nhi\r\n", big):
        await queue.enqueue("a@example.com", data, [NewRecipient("b@one.test", "rfc822;b@one.test", "FAILURE"),
                                                    NewRecipient("c@two.test")], envid="e1", ret="HDRS")
    waiting = await queue.waiting()
    assert len(waiting) == 2 and {int(str(w["recipients"])) for w in waiting} == {2}
    assert (await queue.totals())["recipients"] == 4 and (await queue.totals("one.test"))["recipients"] == 2
    now = 2_000_000_000
    taken = await records.write(rec.take_due(now, now + 900, 10))
    assert len(taken) == 4
    assert await records.write(rec.take_due(now, now + 900, 10)) == []  # leased: nobody takes them twice
    first = [t for t in taken if t.message_id == taken[0].message_id]
    message = rec.to_message(await records.fetch(rec.MESSAGE.one(id=first[0].message_id)))
    assert message.data is not None and message.envid == "e1" and message.ret == "HDRS"
    gone = await records.write(rec.record(first[0].message_id, [
        rec.Outcome(first[0].id, rec.SENT, now, None), rec.Outcome(first[1].id, rec.QUEUED, now + 60, "4.4.1 x")], now))
    assert not gone
    gone = await records.write(rec.record(first[0].message_id, [rec.Outcome(first[1].id, rec.FAILED, now, "5.1.1")],
                                          now))
    assert gone  # every recipient done: the message leaves the queue
    other = (await queue.waiting())[0]
    stored, recipients = await queue.show(str(other["ident"]))
    assert [r["address"] for r in recipients] == ["b@one.test", "c@two.test"]
    assert stored.blob is not None and stored.data is None  # the large one went to the blob store
    assert await queue.retry(str(other["ident"])) == 2
    await queue.delete(str(other["ident"]))
    assert await queue.waiting() == []


async def test_concurrent_leases_take_each_recipient_once(records: RecordStore, tmp_path) -> None:
    queue = Queue(records, LocalBlobStore(tmp_path / "blobs"), None, "mx.example.com")
    for i in range(10):
        await queue.enqueue("a@example.com", b"Subject: x\r\n\r\nx\r\n", [NewRecipient(f"r{i}@d.test")])
    now = 2_000_000_000
    batches = await asyncio.gather(*(records.write(rec.take_due(now, now + 900, 4)) for _ in range(5)))
    ids = [r.id for batch in batches for r in batch]
    assert len(ids) == len(set(ids)) == 10


async def test_vacation_memory(records: RecordStore, directory: Directory) -> None:
    account = await directory.create_account("bob@example.com")
    assert await records.write(drec.claim_reply(account.id, "x@y.test", 1000, 3600))
    assert not await records.write(drec.claim_reply(account.id, "x@y.test", 2000, 3600))
    assert await records.write(drec.claim_reply(account.id, "x@y.test", 5000, 3600))
    claims = await asyncio.gather(*(records.write(drec.claim_reply(account.id, "z@y.test", 9000, 3600))
                                    for _ in range(5)))
    assert claims.count(True) == 1  # two deliveries at once send one answer


async def test_dkim_keys_are_made_once(directory: Directory) -> None:
    await directory.create_domain("keys.test")
    keys = await directory.dkim_keys("keys.test")
    assert {k.algorithm for k in keys} == {"rsa-sha256", "ed25519-sha256"}
    assert await directory.ensure_dkim_keys("keys.test") == keys
    await directory.set_domain_aliases("keys.test", ["alias.test"])
    assert await directory.dkim_keys("alias.test") == keys
    assert await directory.dkim_keys("nowhere.test") == []


async def test_a_bounce_lost_in_a_crash_is_sent_later(records: RecordStore, tmp_path) -> None:
    """A recipient recorded as failed whose bounce never went out (the node died between the two) keeps
    its message in the queue; the sender sends the bounce when it next looks, then the message goes."""
    queue = Queue(records, LocalBlobStore(tmp_path / "blobs"), None, "mx.example.com")
    sent: list[tuple[str, bytes]] = []

    async def notify(to: str, data: bytes) -> None:
        sent.append((to, data))

    queue.notify = notify
    await queue.enqueue("alice@example.com", b"Subject: lost\r\n\r\nx\r\n", [NewRecipient("bob@far.test")])
    now = int(time.time())
    [due] = await records.write(rec.take_due(now, now + 900, 10))
    gone = await records.write(rec.record(due.message_id, [
        rec.Outcome(due.id, rec.BOUNCING, now - 600, "mx.far.test said: 550 5.1.1 no such user")], now - 600))
    assert not gone and len(await queue.waiting()) == 0  # not waiting to be sent, but kept for its bounce
    await queue._resend_bounces()
    [(to, notice)] = sent
    assert to == "alice@example.com" and b"Status: 5.1.1" in notice and b"bob@far.test" in notice
    assert await records.fetch(rec.MESSAGE.one(id=due.message_id)) is None  # then the message is gone
    await queue._resend_bounces()
    assert len(sent) == 1
