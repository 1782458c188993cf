"""The outbound queue's SQL: statements and units of work (see store/sql.py).

A queued message is one `queue_messages` row and one `queue_recipients` row per address in another
domain. A recipient is "queued" until it is sent or has failed for good; `next_attempt` is when it is
due, and while an attempt runs it is pushed ahead (a lease), so a node that dies mid-attempt leaves the
recipient to be tried again once the lease runs out. A message whose recipients are all done is deleted
with them in the unit that finished the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polyport.store import Row, Statement, Unit

QUEUED, SENT, FAILED = "queued", "sent", "failed"
# Failed, its bounce not sent yet: the message stays until the bounce is durable elsewhere (a crash between
# the two leaves the row here, and the sender takes it up again: queue/service.py _resend_bounces).
BOUNCING = "bouncing"
# queue_messages.flags. VERIFIED: something vouched for the sender (it authenticated, came from a trusted
# network, or passed SPF or DMARC; delivery's Trace.verified): notices to it may carry the original.
SMTPUTF8, EIGHT_BIT, REQUIRETLS, VERIFIED = 1, 2, 4, 8

INSERT_MESSAGE = Statement("""
    INSERT INTO queue_messages (ident, sender, size, blob, envid, ret, flags, origin, created, data)
    VALUES (:ident, :sender, :size, :blob, :envid, :ret, :flags, :origin, :created, :data) RETURNING id""")
INSERT_RECIPIENT = Statement("""
    INSERT INTO queue_recipients (message_id, address, domain, orcpt, notify, status, attempts, next_attempt,
                                  last_error, delay_notified, updated)
    VALUES (:message_id, :address, :domain, :orcpt, :notify, 'queued', 0, :next_attempt, NULL, 0, :now)""")
DUE = Statement("""
    SELECT r.id, r.message_id, r.address, r.domain, r.orcpt, r.notify, r.attempts, r.delay_notified,
           m.created
    FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id
    WHERE r.status = 'queued' AND r.next_attempt <= :now
    ORDER BY r.next_attempt LIMIT :limit FOR UPDATE OF r SKIP LOCKED""")  # nodes sharing a queue take different rows
NEXT_DUE = Statement("SELECT min(next_attempt) FROM queue_recipients WHERE status = 'queued'")
LEASE = Statement("""
    UPDATE queue_recipients SET next_attempt = :until, updated = :now
    WHERE id = :id AND status = 'queued' AND next_attempt <= :now""")
MESSAGE = Statement("""
    SELECT id, ident, sender, size, blob, envid, ret, flags, origin, created, data
    FROM queue_messages WHERE id = :id""")
MESSAGE_BY_IDENT = Statement("""
    SELECT id, ident, sender, size, blob, envid, ret, flags, origin, created, data
    FROM queue_messages WHERE ident = :ident""")
SET_OUTCOME = Statement("""
    UPDATE queue_recipients SET status = :status, attempts = attempts + :tried, next_attempt = :next_attempt,
                                last_error = :last_error, updated = :now
    WHERE id = :id""")
SET_DELAY_NOTIFIED = Statement("UPDATE queue_recipients SET delay_notified = 1 WHERE id = :id")
DELETE_IF_DONE = Statement("""
    DELETE FROM queue_messages WHERE id = :id
    AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE message_id = :id AND status IN ('queued', 'bouncing'))""")
PENDING_BOUNCES = Statement("""
    SELECT r.id, r.message_id, r.address, r.domain, r.orcpt, r.notify, r.attempts, r.delay_notified, r.last_error,
           m.created
    FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id
    WHERE r.status = 'bouncing' AND r.updated <= :before
    ORDER BY r.id LIMIT :limit FOR UPDATE OF r SKIP LOCKED""")
TOUCH = Statement("UPDATE queue_recipients SET updated = :now WHERE id = :id")
MARK_BOUNCED = Statement("""
    UPDATE queue_recipients SET status = 'failed', updated = :now WHERE id = :id AND status = 'bouncing'""")
LIST = Statement("""
    SELECT m.id, m.ident, m.sender, m.size, m.created, m.origin,
           count(r.id) AS recipients, min(r.next_attempt) AS next_attempt, max(r.attempts) AS attempts,
           max(r.last_error) AS last_error
    FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id AND r.status = 'queued'
    GROUP BY m.id, m.ident, m.sender, m.size, m.created, m.origin
    ORDER BY m.id LIMIT :limit""")
RECIPIENTS_OF = Statement("""
    SELECT id, address, domain, orcpt, notify, status, attempts, next_attempt, last_error, delay_notified
    FROM queue_recipients WHERE message_id = :id ORDER BY id""")
RETRY_MESSAGE = Statement("""
    UPDATE queue_recipients SET next_attempt = :now WHERE message_id = :id AND status = 'queued'""")
RETRY_DOMAIN = Statement("""
    UPDATE queue_recipients SET next_attempt = :now WHERE domain = :domain AND status = 'queued'""")
RETRY_ALL = Statement("UPDATE queue_recipients SET next_attempt = :now WHERE status = 'queued'")
DELETE_MESSAGE = Statement("DELETE FROM queue_messages WHERE id = :id")
BLOB_IN_USE = Statement("""
    SELECT 1 WHERE EXISTS (SELECT 1 FROM queue_messages WHERE blob = :blob)
                OR EXISTS (SELECT 1 FROM bodies WHERE blob = :blob)""")
DELETE_RECIPIENTS = Statement("DELETE FROM queue_recipients WHERE message_id = :id")
_TOTALS = """
    SELECT count(DISTINCT r.message_id) AS messages, count(*) AS recipients, min(r.next_attempt) AS next_attempt,
           max(r.last_error) AS last_error
    FROM queue_recipients r WHERE r.status = 'queued'"""
TOTALS = Statement(_TOTALS)
TOTALS_FOR_DOMAIN = Statement(_TOTALS + " AND r.domain = :domain")


@dataclass(frozen=True, slots=True)
class NewRecipient:
    address: str
    orcpt: str | None = None
    notify: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    ident: str
    sender: str
    size: int
    blob: str | None
    envid: str | None
    ret: str | None
    flags: int
    origin: str
    created: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class DueRecipient:
    id: int
    message_id: int
    address: str
    domain: str
    orcpt: str | None
    notify: str | None
    attempts: int
    delay_notified: bool
    created: int


def to_message(row: Row) -> QueuedMessage:
    data = row["data"]
    return QueuedMessage(int(row["id"]), str(row["ident"]), str(row["sender"]), int(row["size"]), row["blob"],
                         row["envid"], row["ret"], int(row["flags"]), str(row["origin"]), int(row["created"]),
                         None if data is None else bytes(data))


def to_due(row: Row) -> DueRecipient:
    return DueRecipient(int(row["id"]), int(row["message_id"]), str(row["address"]), str(row["domain"]),
                        row["orcpt"], row["notify"], int(row["attempts"]), bool(row["delay_notified"]),
                        int(row["created"]))


def enqueue(ident: str, sender: str, size: int, blob: str | None, data: bytes | None, envid: str | None,
            ret: str | None, flags: int, origin: str, recipients: Sequence[NewRecipient], now: int) -> Unit[int]:
    message_id = yield INSERT_MESSAGE.value(ident=ident, sender=sender, size=size, blob=blob, envid=envid, ret=ret,
                                            flags=flags, origin=origin, created=now, data=data)
    for r in recipients:
        yield INSERT_RECIPIENT.run(message_id=message_id, address=r.address, domain=r.domain, orcpt=r.orcpt,
                                   notify=r.notify, next_attempt=now, now=now)
    return int(message_id)


def take_due(now: int, until: int, limit: int) -> Unit[list[DueRecipient]]:
    """Due recipients, leased until `until` (those another node leased first are skipped)."""
    rows = yield DUE.all(now=now, limit=limit)
    taken: list[DueRecipient] = []
    for row in rows:
        leased = yield LEASE.run(until=until, now=now, id=row["id"])
        if leased:
            taken.append(to_due(row))
    return taken


@dataclass(frozen=True, slots=True)
class Outcome:
    recipient_id: int
    status: str  # queued (try again), sent, failed
    next_attempt: int
    error: str | None


def record(message_id: int, outcomes: Sequence[Outcome], now: int, delay_notified: Sequence[int] = ()) -> Unit[bool]:
    """Store how an attempt went; whether the message is gone (every recipient done)."""
    for o in outcomes:
        yield SET_OUTCOME.run(status=o.status, tried=1, next_attempt=o.next_attempt, last_error=o.error, now=now,
                              id=o.recipient_id)
    for recipient_id in delay_notified:
        yield SET_DELAY_NOTIFIED.run(id=recipient_id)
    deleted = yield DELETE_IF_DONE.run(id=message_id)
    return bool(deleted)


RELEASE = Statement("UPDATE queue_recipients SET next_attempt = :now WHERE id = :id AND status = 'queued'")


def release(recipient_ids: Sequence[int], now: int) -> Unit[None]:
    """Leased recipients due again at once (an attempt that never ran, or was cut short)."""
    for recipient_id in recipient_ids:
        yield RELEASE.run(now=now, id=recipient_id)


def take_bounces(before: int, now: int, limit: int) -> Unit[list[tuple[DueRecipient, str]]]:
    """Failed recipients whose bounce was never confirmed sent (a crash, say), each with its last error;
    marked as being handled now, so another node leaves them."""
    rows = yield PENDING_BOUNCES.all(before=before, limit=limit)
    for row in rows:
        yield TOUCH.run(now=now, id=row["id"])
    return [(to_due(row), str(row["last_error"] or "")) for row in rows]


def bounced(message_id: int, recipient_ids: Sequence[int], now: int) -> Unit[bool]:
    """Their bounces are out: done; whether the message is gone."""
    for recipient_id in recipient_ids:
        yield MARK_BOUNCED.run(now=now, id=recipient_id)
    deleted = yield DELETE_IF_DONE.run(id=message_id)
    return bool(deleted)


def delete(message_id: int) -> Unit[bool]:
    yield DELETE_RECIPIENTS.run(id=message_id)
    deleted = yield DELETE_MESSAGE.run(id=message_id)
    return bool(deleted)
