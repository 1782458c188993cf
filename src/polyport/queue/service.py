"""The outbound queue: mail for other domains, kept in the store until it is sent or given up.

- `prepare` + `enqueue_unit` put a message in the queue inside the caller's unit of work (delivery stores
  local copies and queues remote ones in one commit, so one acknowledgement covers both).
- `run` is the node's sender: it leases due recipients (records.take_due), groups them by message and
  destination domain, and sends each group over one SMTP connection (client.py), at most `concurrency`
  at once and `per_destination` per domain. A 2xx marks a recipient sent, a 5xx failed (a bounce goes to
  the sender), anything else is tried again after a backoff (Postfix's: 5 minutes doubling up to about
  an hour) until `lifetime` (5 days) has passed; a delay notice goes out once after `delay_warning`.
- Notices (dsn.py) go back through delivery with the null reverse-path, so a notice never causes another.
- Backscatter: only a sender something vouched for (records.VERIFIED, set from delivery's Trace.verified:
  authenticated, a trusted network, SPF or DMARC passed) gets the original back in a notice, or a success
  report. Anyone can write a stranger's address in MAIL FROM; what such a sender gets is
  `notices_to_unverified`'s: the original's header fields (at most UNVERIFIED_HEADERS octets), nothing, or
  everything (`_returned`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from polyport import log
from polyport.queue import dsn
from polyport.queue import records as rec
from polyport.queue.client import Delivered, SmtpSender
from polyport.store import BlobStore, RecordStore, Unit, unit_of

LEASE = 15 * 60  # an attempt that has not reported back in this long is taken to have died
INLINE = 64 * 1024  # queued messages up to this size keep their bytes in their row
TAKE = 200  # due recipients taken per look
BOUNCE_GRACE = 60  # a bounce not confirmed within this many seconds is taken to have been lost
UNVERIFIED_HEADERS = 32 * 1024  # most of the original's header a sender nobody vouched for gets back

# What a sender nobody vouched for gets of failure and delay notices ([queue] notices_to_unverified).
UnverifiedNotices = Literal["headers", "none", "full"]


@dataclass(frozen=True, slots=True)
class QueueLimits:
    min_backoff: float = 300.0
    max_backoff: float = 4000.0
    lifetime: float = 5 * 86_400.0
    delay_warning: float = 4 * 3600.0
    concurrency: int = 100
    per_destination: int = 20


@dataclass(frozen=True, slots=True)
class Prepared:
    size: int
    blob: str | None
    data: bytes | None
    eight_bit: bool


Notify = Callable[[str, bytes], Awaitable[None]]  # (recipient of the notice, its bytes)


def new_ident() -> str:
    return secrets.token_hex(6).upper()


class Queue:
    def __init__(self, store: RecordStore, blobs: BlobStore, sender: SmtpSender | None, hostname: str,
                 limits: QueueLimits | None = None, *, notices_to_unverified: UnverifiedNotices = "headers",
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.blobs = blobs
        self.sender = sender
        self.hostname = hostname
        self.limits = limits or QueueLimits()
        self.notices_to_unverified = notices_to_unverified  # delivery's vacation answers follow it too
        self.notify: Notify | None = None  # set by delivery: how notices reach senders
        # Set in a worker that does not send (a node of several, workers/): tells the one that does.
        self.wake_sender: Callable[[], None] | None = None
        self._clock = clock
        self._wake = asyncio.Event()
        self._running: dict[tuple[int, str], asyncio.Task[None]] = {}
        self._all = asyncio.Semaphore(self.limits.concurrency)
        self._per_domain: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.limits.per_destination))
        self._stopping = False
        self._log = log.get(service="queue")

    # -- in --

    async def prepare(self, data: bytes) -> Prepared:
        """The bytes' place: in the row when small, else in the blob store (durably, before the row)."""
        eight_bit = not data.isascii()
        if len(data) <= INLINE:
            return Prepared(len(data), None, data, eight_bit)
        return Prepared(len(data), await self.blobs.put(data), None, eight_bit)

    def enqueue_unit(self, ident: str, sender: str, prepared: Prepared, recipients: Sequence[rec.NewRecipient], *,
                     envid: str | None = None, ret: str | None = None, smtputf8: bool = False,
                     requiretls: bool = False, origin: str = "", verified: bool = False) -> Unit[int]:
        """`verified`: something vouched for `sender` (delivery's Trace.verified); only then may its notices
        carry the original."""
        # A non-ASCII address anywhere in the envelope needs SMTPUTF8 on the way out (a bounce to one, say).
        smtputf8 = smtputf8 or not sender.isascii() or any(not r.address.isascii() for r in recipients)
        flags = ((rec.SMTPUTF8 if smtputf8 else 0) | (rec.EIGHT_BIT if prepared.eight_bit else 0)
                 | (rec.REQUIRETLS if requiretls else 0) | (rec.VERIFIED if verified else 0))
        return rec.enqueue(ident, sender, prepared.size, prepared.blob, prepared.data, envid, ret, flags, origin,
                           recipients, int(self._clock()))

    async def enqueue(self, sender: str, data: bytes, recipients: Sequence[rec.NewRecipient], **options: str | bool
                      ) -> str:
        """Queue a message on its own (notices); returns its ident once it is durable."""
        ident = new_ident()
        prepared = await self.prepare(data)
        await self.store.write(self.enqueue_unit(ident, sender, prepared, recipients, **options))  # type: ignore[arg-type]
        self.wake()
        return ident

    def wake(self) -> None:
        self._wake.set()
        if self.wake_sender is not None:
            self.wake_sender()

    # -- the sender --

    async def run(self) -> None:
        """Send what is due, for as long as the node runs."""
        assert self.sender is not None, "a queue without a sender (administration only) does not run"
        while not self._stopping:
            self._wake.clear()  # before looking: a wake-up during the look is not lost
            try:
                await self._dispatch_due()
                wait = await self._until_next_due()
            except Exception:  # the store was briefly unavailable, say: keep the sender alive
                self._log.exception("queue.dispatch_failed")
                wait = 5.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _until_next_due(self) -> float:
        due = await self.store.fetch(rec.NEXT_DUE.value())
        if due is None:
            return 60.0
        return max(0.05, min(60.0, float(due) - self._clock()))

    async def _dispatch_due(self) -> None:
        if self._stopping:
            return
        await self._resend_bounces()
        now = int(self._clock())
        taken = await self.store.write(rec.take_due(now, now + LEASE, TAKE))
        if self._stopping:  # stopped while taking: give them back for whoever starts next
            await self.store.write(rec.release([r.id for r in taken], now))
            return
        groups: defaultdict[tuple[int, str], list[rec.DueRecipient]] = defaultdict(list)
        for recipient in taken:
            key = (recipient.message_id, "" if self.sender is not None and self.sender.relayed else recipient.domain)
            groups[key].append(recipient)
        for key, recipients in groups.items():
            if key in self._running:  # already on its way (a lease that ran out while it was slow)
                continue
            self._running[key] = asyncio.get_running_loop().create_task(self._attempt(key, recipients))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work; attempts still running after `grace` are cut and their recipients due again."""
        self._stopping = True
        self.wake()
        deadline = asyncio.get_running_loop().time() + grace
        while self._running:  # until every attempt is over: the node closes the store after this
            tasks = list(self._running.values())
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one attempt --

    async def _attempt(self, key: tuple[int, str], recipients: list[rec.DueRecipient]) -> None:
        message_id, domain = key
        recorded: list[bool] = []  # set once the outcome is in the store
        try:
            # The destination's slot first: a busy domain's waiting attempts must not hold the global slots.
            async with self._per_domain[domain or "*"], self._all:
                await self._attempt_now(message_id, domain, recipients, recorded)
        except asyncio.CancelledError:
            # Cut by a shutdown: due again at once for whoever starts next (unless already recorded; the
            # release touches only rows still queued, so a recorded outcome is never undone).
            if not recorded:
                await asyncio.shield(self.store.write(rec.release([r.id for r in recipients], int(self._clock()))))
            raise
        except Exception:
            self._log.exception("queue.attempt_failed", message=message_id, domain=domain)
        finally:
            # Off the list before the sender looks again, so the recipients' next due time is honoured.
            self._running.pop(key, None)
            self.wake()

    async def _attempt_now(self, message_id: int, domain: str, recipients: list[rec.DueRecipient],
                           recorded: list[bool]) -> None:
        row = await self.store.fetch(rec.MESSAGE.one(id=message_id))
        if row is None:  # deleted by an administrator meanwhile
            return
        message = rec.to_message(row)
        assert self.sender is not None
        data = b""
        try:
            data = message.data if message.data is not None else await self.blobs.get(message.blob or "")
            results = await self.sender.send(domain, message, recipients, data)
        except Exception as error:  # anything unforeseen is a deferral: retried, then expired and bounced
            self._log.exception("queue.attempt_error", id=message.ident, domain=domain)
            results = {r.id: Delivered(0, "4.3.0", f"local error: {type(error).__name__}: {error}")
                       for r in recipients}
        now = self._clock()
        outcomes: list[rec.Outcome] = []
        failed: list[tuple[rec.DueRecipient, Delivered]] = []
        delayed: list[tuple[rec.DueRecipient, Delivered]] = []
        relayed: list[tuple[rec.DueRecipient, Delivered]] = []
        for recipient in recipients:
            result = results[recipient.id]
            if result.code // 100 == 2:
                outcomes.append(rec.Outcome(recipient.id, rec.SENT, int(now), None))
                if not result.reports and dsn.wants(recipient.notify, "SUCCESS") and recipient.notify:
                    relayed.append((recipient, result))
                self._log.info("queue.sent", id=message.ident, to=recipient.address, host=result.host,
                               reply=result.text[:200])
                continue
            expired = now - message.created >= self.limits.lifetime
            if result.code // 100 == 5 or expired:
                if expired and result.code // 100 != 5:
                    result = Delivered(result.code, "4.4.7",
                                       f"gave up after {self.limits.lifetime / 86400:g} days: {result.text}",
                                       result.host)
                notify = dsn.wants(recipient.notify, "FAILURE") and self._tells(message, "failed")
                outcomes.append(rec.Outcome(recipient.id, rec.BOUNCING if notify else rec.FAILED, int(now),
                                            result.describe()))
                if notify:
                    failed.append((recipient, result))
                self._log.info("queue.failed", id=message.ident, to=recipient.address, reply=result.describe()[:300],
                               bounce=notify)
                continue
            retry = now + self.backoff(recipient.attempts + 1)
            outcomes.append(rec.Outcome(recipient.id, rec.QUEUED, int(retry), result.describe()))
            if (not recipient.delay_notified and now - message.created >= self.limits.delay_warning
                    and dsn.wants(recipient.notify, "DELAY")):
                delayed.append((recipient, result))
            self._log.info("queue.deferred", id=message.ident, to=recipient.address, reply=result.describe()[:300],
                           retry_in=int(retry - now))
        recorded.append(True)  # from here a cancellation must not release them: the write goes through
        gone = await asyncio.shield(self.store.write(rec.record(message_id, outcomes, int(now),
                                                                [r.id for r, _ in delayed])))
        if gone and message.blob:
            await self._drop_blob(message.blob)
        await self._bounce(message, data, failed)
        await self._notices(message, data, delayed, "delayed")
        await self._notices(message, data, relayed, "relayed")

    async def _bounce(self, message: rec.QueuedMessage, data: bytes,
                      failed: list[tuple[rec.DueRecipient, Delivered]]) -> None:
        """The failure notice, then (once it is durable wherever it went) the recipients done."""
        if not failed:
            return
        if await self._notices(message, data, failed, "failed"):
            now = int(self._clock())
            gone = await asyncio.shield(self.store.write(rec.bounced(message.id, [r.id for r, _ in failed], now)))
            if gone and message.blob:
                await self._drop_blob(message.blob)

    async def _resend_bounces(self) -> None:
        """Bounces decided but never confirmed sent (the node died in between): sent now."""
        now = int(self._clock())
        pending = await self.store.write(rec.take_bounces(now - BOUNCE_GRACE, now, TAKE))
        by_message: defaultdict[int, list[tuple[rec.DueRecipient, Delivered]]] = defaultdict(list)
        for recipient, error in pending:
            by_message[recipient.message_id].append((recipient, _from_error(error)))
        for message_id, failed in by_message.items():
            row = await self.store.fetch(rec.MESSAGE.one(id=message_id))
            if row is None:
                continue
            message = rec.to_message(row)
            try:
                data = message.data if message.data is not None else await self.blobs.get(message.blob or "")
            except Exception:
                self._log.exception("queue.bounce_data_missing", id=message.ident)
                data = b""
            await self._bounce(message, data, failed)

    async def _drop_blob(self, blob: str) -> None:
        """A large queued message's blob, once nothing refers to it (a stored body may share its content)."""
        try:
            if await self.store.fetch(rec.BLOB_IN_USE.value(blob=blob)) is None:
                await self.blobs.delete(blob)
        except Exception:
            self._log.exception("queue.blob_cleanup_failed", blob=blob)

    def backoff(self, attempts: int) -> float:
        return float(min(self.limits.min_backoff * 2 ** min(max(0, attempts - 1), 32), self.limits.max_backoff))

    def _tells(self, message: rec.QueuedMessage, action: str) -> bool:
        """Whether `message`'s sender gets notices of this kind ("failed", "delayed", "relayed") at all."""
        if not message.sender:
            return False  # never a notice about a notice (the null reverse-path)
        if message.flags & rec.VERIFIED:
            return True
        # Success reports only to verified senders, as for mail stored here (delivery's _notify_success):
        # anyone can ask for one in the name of a stranger.
        return action != "relayed" and self.notices_to_unverified != "none"

    def _returned(self, message: rec.QueuedMessage, data: bytes) -> tuple[bytes, str | None]:
        """What of the original a notice carries, and as which RET: what the sender asked for when something
        vouched for it (RET=FULL, the default, up to dsn.RETURN_FULL), else the setting's: the header fields
        only, at most UNVERIFIED_HEADERS octets (a forged MAIL FROM and a message that must fail, through a
        forwarder to an unreachable address say, would otherwise make us mail the forger's content to a
        stranger), or ("full") what a verified sender gets."""
        if message.flags & rec.VERIFIED or self.notices_to_unverified == "full":
            return data, message.ret
        return dsn.header_fields(data, UNVERIFIED_HEADERS), "HDRS"

    async def _notices(self, message: rec.QueuedMessage, data: bytes,
                       recipients: list[tuple[rec.DueRecipient, Delivered]], action: str) -> bool:
        """Send the notice (if one is due); whether that is done (sent, or none needed)."""
        asked = {"failed": "FAILURE", "delayed": "DELAY"}.get(action, "SUCCESS")
        wanted = [(r, d) for r, d in recipients if dsn.wants(r.notify, asked)]
        if not wanted or not message.sender or self.notify is None:
            return True  # never a notice about a notice (null sender), nor one that was not asked for
        if not self._tells(message, action):
            self._log.info("queue.notice_withheld", id=message.ident, to=message.sender, action=action,
                           reason="sender not verified")
            return True
        original, ret = self._returned(message, data)
        notice = dsn.build(
            action=action, reporting_mta=self.hostname, sender=message.sender,
            recipients=[dsn.RecipientStatus(r.address, d.enhanced or _status(d.code), d.describe(), r.orcpt, d.host)
                        for r, d in wanted],
            original=original, arrival=message.created, now=self._clock(), envid=message.envid, ret=ret,
            retry_until=message.created + self.limits.lifetime)
        try:
            await self.notify(message.sender, notice)
        except Exception:
            self._log.exception("queue.notice_failed", id=message.ident, to=message.sender)
            return False
        return True

    # -- administration --

    async def waiting(self, limit: int = 1000) -> list[dict[str, object]]:
        """Messages with recipients still waiting, oldest first."""
        rows = await self.store.fetch(rec.LIST.all(limit=limit))
        return [dict(r) for r in rows]

    async def show(self, ident: str) -> tuple[rec.QueuedMessage, list[dict[str, object]]]:
        row = await self.store.fetch(rec.MESSAGE_BY_IDENT.one(ident=ident.upper()))
        if row is None:
            raise KeyError(ident)
        message = rec.to_message(row)
        recipients = await self.store.fetch(rec.RECIPIENTS_OF.all(id=message.id))
        return message, [dict(r) for r in recipients]

    async def retry(self, ident: str | None = None, *, domain: str | None = None) -> int:
        """Make a message, a domain's recipients, or everything due now; how many recipients that was."""
        now = int(self._clock())
        if ident is not None:
            message, _ = await self.show(ident)
            count = await self.store.write(unit_of(rec.RETRY_MESSAGE.run(now=now, id=message.id)))
        elif domain is not None:
            count = await self.store.write(unit_of(rec.RETRY_DOMAIN.run(now=now, domain=domain.lower())))
        else:
            count = await self.store.write(unit_of(rec.RETRY_ALL.run(now=now)))
        self.wake()
        return int(count)

    async def delete(self, ident: str) -> None:
        """Drop a message from the queue without telling anyone."""
        message, _ = await self.show(ident)
        await self.store.write(rec.delete(message.id))
        if message.blob:
            await self._drop_blob(message.blob)
        self._log.info("queue.deleted", id=message.ident)

    async def reject(self, ident: str, reason: str = "deleted from the queue by the administrator") -> None:
        """Drop a message and send its sender a failure notice for every recipient still waiting."""
        message, recipients = await self.show(ident)
        waiting = [r for r in recipients if r["status"] == rec.QUEUED]
        data = message.data if message.data is not None else await self.blobs.get(message.blob or "")
        await self.store.write(rec.delete(message.id))
        if message.blob:
            await self._drop_blob(message.blob)
        due = [rec.DueRecipient(int(str(r["id"])), message.id, str(r["address"]), str(r["domain"]),
                                _text(r["orcpt"]), _text(r["notify"]), int(str(r["attempts"])),
                                bool(r["delay_notified"]), message.created)
               for r in waiting]
        await self._notices(message, data, [(r, Delivered(550, "5.7.0", reason, None)) for r in due], "failed")
        self._log.info("queue.rejected", id=message.ident, recipients=len(due))

    async def totals(self, domain: str | None = None) -> dict[str, object]:
        if domain:
            row = await self.store.fetch(rec.TOTALS_FOR_DOMAIN.one(domain=domain.lower()))
        else:
            row = await self.store.fetch(rec.TOTALS.one())
        return dict(row) if row is not None else {}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _status(code: int) -> str:
    """An enhanced status for a reply that had none (no server reached: 4.0.0)."""
    return f"{code // 100}.0.0" if code else "4.0.0"


_REPLY = re.compile(r"(?:.* said: )?(\d{3}) (?:([245]\.\d{1,3}\.\d{1,3}) )?(.*)$|([245]\.\d{1,3}\.\d{1,3}) (.*)$")


def _from_error(error: str) -> Delivered:
    """A recipient's recorded last error as the result a bounce describes."""
    match = _REPLY.match(error)
    if match and match.group(1):
        return Delivered(int(match.group(1)), match.group(2), match.group(3))
    if match and match.group(4):
        return Delivered(0, match.group(4), match.group(5))
    return Delivered(0, "5.0.0", error)
