"""Delivery: where mail for an address goes, and putting it there durably (DESIGN: the `delivery` service).

`resolve` turns one recipient address into the accounts that receive it, following the directory:
accounts (also by alias and domain alias, and "name+detail" as "name"), forwarders, groups (expanded,
members resolved in turn), and the domain's MailToUnknown for names it does not have. `deliver` stores
one message for every local recipient of a transaction at once (mailstore.deliver: one blob, one unit of
work), after prepending the trace headers, and queues the copy for recipients in other domains in the
same unit; it returns only once all of that is on disk. `notice` hands the queue's bounces and delay
notices back to their senders, wherever those are.

Protocols call this; it knows nothing of SMTP's codes (smtp/codes.py maps its errors).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parseaddr
from typing import Any, NamedTuple

from polyport import log
from polyport.delivery import records as drec
from polyport.delivery.errors import (
    DeliveryError,
    MailboxFull,
    RecipientDisabled,
    RemoteNotAvailable,
    SenderNotOwned,
    UnknownRecipient,
)
from polyport.directory import Directory, InvalidName, UnknownDomain
from polyport.directory import settings as schema
from polyport.directory.names import mail_address
from polyport.directory.records import Route
from polyport.dkim.keys import DkimKey
from polyport.dkim.sign import sign
from polyport.filters import Decision, Facts, sieve, vacation
from polyport.filters import rules as rules_module
from polyport.mailstore import Mailstore
from polyport.mailstore.errors import RecipientOverQuota
from polyport.queue import NewRecipient, Queue, dsn
from polyport.store import Unit

MAX_REDIRECTS = 16  # addresses one account's filters may send one message on to
KEY_CACHE_SECONDS = 300.0  # a domain's DKIM keys are read again this often
MAX_EXPANSION_DEPTH = 8  # forwarders and groups pointing at each other, at most this deep
MAX_EXPANDED = 1000  # most accounts one address may expand to (a group of groups)
# A message this large is copied once more here (its trace fields prepended): a turn of the loop first, so
# that copy (25-35 ms for 50 MB) and the reader's own join of it do not hold the loop back to back.
LARGE_MESSAGE = 1 << 20

Store = tuple[int, str]  # (account id, mailbox name)


@dataclass(frozen=True, slots=True)
class LocalTarget:
    account_id: int
    address: str  # the account's canonical address
    mailbox: str = "INBOX"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One RCPT's address, resolved."""

    address: str  # as the client gave it (domain lower-cased)
    local: tuple[LocalTarget, ...] = ()
    remote: tuple[str, ...] = ()  # addresses in other domains (itself, or a forwarder's target)
    discarded: bool = False  # accepted and thrown away (MailToUnknown = Discarded)
    notify: str | None = None  # DSN (RFC 3461) NOTIFY and ORCPT of the RCPT that named it
    orcpt: str | None = None

    @property
    def hosted(self) -> bool:
        return bool(self.local) or self.discarded or not self.remote


@dataclass(frozen=True, slots=True)
class Trace:
    """What the Received header says about how a message came (RFC 5321 4.4)."""

    helo: str
    remote_ip: str
    protocol: str  # RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP, LMTPS...
    tls: str | None = None  # "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
    authenticated: str | None = None  # the account that authenticated, if any
    trusted: bool = False  # the client is in the trusted networks (may relay, its mail is signed)
    id: str = field(default_factory=lambda: new_id())
    # The sender is who it says (authenticated, trusted, or SPF/DMARC passed): only such senders get
    # success reports, rejection notices and the original back in a bounce, so forged senders cannot make
    # us send their content to others. Queued copies keep it (queue.records.VERIFIED) for their notices.
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Options:
    """The transaction's MAIL parameters that travel with a queued copy."""

    envid: str | None = None
    ret: str | None = None
    smtputf8: bool = False
    requiretls: bool = False


@dataclass(frozen=True, slots=True)
class Delivered:
    id: str
    size: int  # of the stored message, with the trace headers
    accounts: int  # mailboxes it went into (duplicates removed)
    queued: int = 0  # addresses in other domains it was queued for


Targets = dict[int, tuple[LocalTarget, str]]  # account -> (its target, the address the message was sent to)


class _Redirects(NamedTuple):
    """Where the filters' redirects go (Delivery._redirects)."""

    stores: list[Store]  # INBOXes here
    sources: dict[int, set[str]]  # each of those accounts -> the accounts that redirected to it
    remote: dict[str, list[NewRecipient]]  # a redirecting account -> the addresses elsewhere it sends to
    failed: set[str]  # accounts whose redirects could not all be made: they keep the message


@dataclass(slots=True)
class _Plan:
    """Where one transaction's message goes, as the local accounts' filters decided."""

    accounts: dict[str, int]  # each local target's address -> its account
    stores: list[Store] = field(default_factory=list)
    flags: dict[int, list[str]] = field(default_factory=dict)  # set by a filter on an account's copies
    redirected: dict[str, tuple[str, NewRecipient]] = field(default_factory=dict)  # address -> (account, how)
    answers: list[tuple[LocalTarget, Decision, Facts]] = field(default_factory=list)  # sent after the commit

    def add(self, redirects: _Redirects) -> None:
        """The redirects' INBOXes here, once each; their failures kept by the redirecting accounts."""
        self.stores.extend(s for s in redirects.stores if s not in self.stores)
        self.keep(redirects.failed)

    def keep(self, accounts: Iterable[str]) -> None:
        """A redirect that cannot be made keeps the message in the redirecting account's INBOX."""
        for address in accounts:
            if (self.accounts[address], "INBOX") not in self.stores:
                self.stores.append((self.accounts[address], "INBOX"))


def _split(recipients: Sequence[Recipient]) -> tuple[Targets, dict[str, NewRecipient]]:
    """A transaction's local accounts (each once, with the address it was sent to) and its addresses in
    other domains (each once, with the DSN parameters of the RCPT that named it)."""
    targets: Targets = {}
    remote: dict[str, NewRecipient] = {}
    for recipient in recipients:
        for target in recipient.local:
            targets.setdefault(target.account_id, (target, recipient.address))
        for address in recipient.remote:
            orcpt = recipient.orcpt or (f"rfc822;{recipient.address}" if address != recipient.address else None)
            remote.setdefault(address, NewRecipient(address, orcpt, recipient.notify))
    return targets, remote


_FROM = re.compile(rb"(?im)^from[ \t]*:((?:[^\r\n]|\r\n[ \t])*)")


def from_domain(message: bytes) -> str | None:
    """The domain of the address in the message's From field (the one DMARC aligns with), lower-case."""
    end = message.find(b"\r\n\r\n")
    match = _FROM.search(message if end < 0 else message[:end + 2])
    if match is None:
        return None
    _, address = parseaddr(match.group(1).replace(b"\r\n", b"").decode("utf-8", "replace"))
    domain = address.rpartition("@")[2].strip().lower()
    return domain or None


def new_id() -> str:
    """A message's id in logs and replies ("queued as"): unique enough, short, and not guessable."""
    return secrets.token_hex(6).upper()


def _received(trace: Trace, hostname: str, recipient: str | None, now: float) -> bytes:
    """The Received field (RFC 5321 4.4), folded at spaces so no line passes 78 characters."""
    from_part = f"from {trace.helo} ([{trace.remote_ip}])" if trace.remote_ip else f"from {trace.helo}"
    parts = [from_part, f"by {hostname} (Polyport)", f"with {trace.protocol}"]
    if trace.tls:
        parts.append(f"({trace.tls})")
    if trace.authenticated:
        parts.append(f"(authenticated as {trace.authenticated})")
    parts.append(f"id {trace.id}")
    if recipient:
        parts.append(f"for <{recipient}>")
    words = " ".join(parts).split(" ")
    words[-1] += ";"
    words.append(formatdate(now, localtime=True))
    lines: list[str] = []
    current = "Received:"
    for word in words:
        if len(current) + 1 + len(word) > 78 and current.strip() != "Received:":
            lines.append(current)
            current = "\t" + word
        else:
            current += " " + word
    lines.append(current)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")


class Delivery:
    def __init__(self, directory: Directory, mailstore: Mailstore, hostname: str, queue: Queue | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.mailstore = mailstore
        self.hostname = hostname
        self.queue = queue
        self._keys: dict[str, tuple[float, list[DkimKey]]] = {}
        self._clock = clock
        self._log = log.get(service="delivery")

    # -- recipients --

    async def resolve(self, address: str) -> Recipient | None:
        """The recipient `address` resolved, or None when its domain is not hosted here (the caller decides
        whether it may relay). Raises UnknownRecipient or RecipientDisabled."""
        if address.lower() == "postmaster":  # RCPT TO:<Postmaster> with no domain (RFC 5321 4.5.1)
            address = f"postmaster@{await self.directory.main_domain()}"
        route = await self.directory.route(address)
        if route is None:
            return None
        local: dict[int, LocalTarget] = {}
        remote: dict[str, None] = {}
        discarded = await self._expand(route, address, local, remote, set(), 0)
        if not local and not remote and not discarded:
            raise RecipientDisabled(f"<{address}>: the address takes no mail")
        return Recipient(address, tuple(local.values()), tuple(remote), discarded and not local and not remote)

    async def _expand(self, route: Route, asked: str, local: dict[int, LocalTarget], remote: dict[str, None],
                      seen: set[str], depth: int) -> bool:
        """Add where `route` leads to `local` and `remote`; whether something was discarded."""
        if depth > MAX_EXPANSION_DEPTH:
            raise RecipientDisabled(f"<{asked}>: forwarding goes deeper than {MAX_EXPANSION_DEPTH} steps "
                                    "(a loop?)")
        if route.address in seen:
            return False  # reached twice (a group in itself): once is enough
        seen.add(route.address)
        if route.kind == "account":
            assert route.account_id is not None
            local.setdefault(route.account_id, LocalTarget(route.account_id, route.address))
            return False
        if route.kind == "forwarder":
            assert route.target is not None
            return await self._follow(route.target, asked, local, remote, seen, depth)
        if route.kind == "group":
            settings = schema.layered(schema.GROUP_SETTINGS, [route.group_settings or {}])
            if settings["Expand"] != "YES":
                raise RecipientDisabled(f"<{asked}>: the group {route.address} takes no mail")
            discarded = False
            for member in route.members:
                discarded |= await self._follow(member, asked, local, remote, seen, depth)
                if len(local) + len(remote) > MAX_EXPANDED:
                    raise RecipientDisabled(f"<{asked}>: expands to more than {MAX_EXPANDED} recipients")
            return discarded
        # A name the domain does not have.
        settings = schema.layered(schema.DOMAIN_SETTINGS, route.domain_layers)
        policy = settings["MailToUnknown"]
        if policy == "Discarded":
            return True
        if policy == "Rerouted" and settings["MailRerouteAddress"].strip() and depth == 0:
            target = settings["MailRerouteAddress"].strip()
            if "@" not in target:
                target = f"{target}@{route.domain}"
            return await self._follow(target, asked, local, remote, seen, depth)
        raise UnknownRecipient(f"<{asked}>: no such user here")

    async def _follow(self, address: str, asked: str, local: dict[int, LocalTarget], remote: dict[str, None],
                      seen: set[str], depth: int) -> bool:
        route = await self.directory.route(address)
        if route is None:
            remote.setdefault(address.lower(), None)
            return False
        if route.kind == "unknown" and depth > 0:
            # A forwarder or group member naming nobody: skipped (and logged), the rest still get it.
            self._log.warning("delivery.dangling_target", address=address, via=asked)
            return False
        return await self._expand(route, asked, local, remote, seen, depth + 1)

    async def check_remote(self, recipient: Recipient) -> None:
        """Whether mail for `recipient`'s addresses in other domains can be sent on: a node without a queue
        says so plainly rather than accepting mail that would never leave."""
        if recipient.remote and self.queue is None:
            raise RemoteNotAvailable(f"<{recipient.address}>: sending to other domains is not available on "
                                     "this server")

    async def check_room(self, recipient: Recipient, size: int = 0) -> None:
        """MailboxFull if a local account of `recipient` cannot take `size` more octets now."""
        for target in recipient.local:
            why = await self.mailstore.over_quota(target.account_id, size)
            if why is not None:
                raise MailboxFull(f"<{recipient.address}>: {why}",
                                  permanent=await self._permanent_quota(target.address))

    async def _permanent_quota(self, account_address: str) -> bool:
        domain = account_address.rpartition("@")[2]
        settings = await self.directory.effective_domain_settings(domain)
        return bool(settings["OverQuotaReply"] == "Permanent")

    # -- submission: the rules every authenticated sender obeys (SMTP 587/465 and the webmail alike) --

    async def send_limit(self, account_id: int, server_limit: int) -> int:
        """The largest message the account may send: the server's limit, or its MaxMailOutSize if less."""
        settings = await self.directory.effective_account_settings_by_id(account_id)
        own = schema.size_limit(settings["MaxMailOutSize"])
        return server_limit if own is None else min(server_limit, own)

    async def check_sender(self, account_id: int, account_address: str, sender: str) -> None:
        """SenderNotOwned unless `sender` is empty or the account's own address (its name, an alias, in its
        domain or a domain alias), written as the directory writes it: a look-alike domain (fullwidth
        letters, "ß" for "ss") that only maps onto an owned one is not the owner's."""
        if not sender:
            return
        owner = await self.directory.login_record(sender)
        if owner is None or owner.account_id != account_id or not _canonical_domain(sender):
            raise SenderNotOwned(f"<{sender}>: sender address not owned by {account_address}")

    async def submission_recipient(self, address: str, size: int = 0) -> Recipient:
        """A submitted message's recipient: resolved here, or (another domain) to be sent on; checked for
        room and for the queue. Raises UnknownRecipient, RecipientDisabled, MailboxFull, RemoteNotAvailable."""
        recipient = await self.resolve(address)
        if recipient is None:
            recipient = Recipient(address, remote=(address,))
        if recipient.remote:
            await self.check_remote(recipient)
        await self.check_room(recipient, size)
        return recipient

    # -- storing --

    async def deliver(self, sender: str, recipients: Sequence[Recipient], data: bytes, trace: Trace,
                      options: Options | None = None, *, junk: bool = False) -> Delivered:
        """Store `data` for every local target of `recipients` (duplicates once), with Return-Path and
        Received prepended, and queue it (with Received) for their addresses in other domains; returns
        when all of it is durable. Each account's rules and Sieve script decide where its copy goes
        (mailboxes, redirects) and whether it answers (vacation) or refuses it (reject); what they send on
        is queued in the same commit, their answers go out after it. All or none: MailboxFull names the
        recipient over quota and nothing was stored or queued. `junk` puts kept copies in Junk (a DMARC
        quarantine)."""
        options = options or Options()
        targets, remote = _split(recipients)
        if remote and self.queue is None:
            raise RemoteNotAvailable("sending to other domains is not available on this server")
        now = self._clock()
        received = _received(trace, self.hostname, recipients[0].address if len(recipients) == 1 else None, now)
        plan = await self._plan(targets, sender, data, junk=junk)
        redirects = await self._redirects(plan.redirected, len(data))
        plan.add(redirects)
        units = await self._queued_copies(sender, received, data, remote, redirects.remote, trace, options)
        if len(data) >= LARGE_MESSAGE:
            await asyncio.sleep(0)
        message = b"".join((f"Return-Path: <{sender}>\r\n".encode(), received, data))
        await self._commit(message, plan, redirects, units, targets, recipients)
        await self._after_commit(sender, recipients, message, plan, trace, options, queued=bool(units), arrival=now)
        self._log.info("delivery.stored", id=trace.id, sender=sender, recipients=len(recipients),
                       accounts=len(targets), queued=len(remote), redirected=len(plan.redirected), size=len(message))
        return Delivered(trace.id, len(message), len(targets), len(remote))

    async def _plan(self, targets: Targets, sender: str, data: bytes, *, junk: bool) -> _Plan:
        """Each local account's filters on the message: the mailboxes its copies go to and their flags,
        where it redirects the message, and the answers it sends. With `junk` (a DMARC quarantine), every
        kept copy goes to Junk and nothing is sent on."""
        plan = _Plan({target.address: target.account_id for target, _ in targets.values()})
        for target, asked in targets.values():
            decision, facts = await self._filter(target, asked, sender, data)
            if decision is None:
                plan.stores.append((target.account_id, "Junk" if junk else target.mailbox))
                continue
            if junk:
                decision.redirect.clear()
                decision.fileinto = []
                decision.keep = True
            plan.stores.extend((target.account_id, "Junk" if junk and box == "INBOX" else box)
                               for box in decision.mailboxes())
            if decision.flags:
                plan.flags[target.account_id] = decision.flags
            sent_on = list(dict.fromkeys(decision.redirect))
            if len(sent_on) > MAX_REDIRECTS:
                self._log.warning("delivery.too_many_redirects", account=target.address, asked=len(sent_on))
                sent_on = sent_on[:MAX_REDIRECTS]
            for address in sent_on:
                plan.redirected.setdefault(address.lower(), (target.address, NewRecipient(
                    address, f"rfc822;{target.address}")))
            if decision.vacation is not None or decision.reject is not None:
                plan.answers.append((target, decision, facts))
        return plan

    async def _queued_copies(self, sender: str, received: bytes, data: bytes, remote: dict[str, NewRecipient],
                             redirected: dict[str, list[NewRecipient]], trace: Trace, options: Options
                             ) -> list[Unit[Any]]:
        """The units that queue the message for the recipients in other domains, and each redirecting
        account's copy for the addresses it sends the message on to."""
        units: list[Unit[Any]] = []
        if remote:
            units.append(await self._enqueue(sender, received + data, list(remote.values()), trace, options,
                                             trace.id))
        for account_address, wanted in redirected.items():
            # Someone else's message sent on: never signed with our keys (it may claim any From).
            copy = f"Delivered-To: {account_address}\r\n".encode() + received + data
            # The envelope sender stays the original's, and so does whether something vouched for it.
            units.append(await self._enqueue(sender, copy, wanted, Trace(trace.helo, trace.remote_ip, trace.protocol,
                                                                         verified=trace.verified),
                                             options, new_id(), sign_it=False))
        return units

    async def _commit(self, message: bytes, plan: _Plan, redirects: _Redirects, units: list[Unit[Any]],
                      targets: Targets, recipients: Sequence[Recipient]) -> None:
        """Store the message where `plan` says, the queued copies in the same unit of work: all of it durable
        when this returns, or none of it. A redirect's target that filled up since it was checked is left
        out; a recipient's own full account fails the whole transaction: MailboxFull."""
        also = _chain(units) if units else None
        if not plan.stores:
            if also is not None:
                await self.mailstore.store.write(also)
            return
        try:
            await self.mailstore.deliver(message, plan.stores, also=also, target_flags=plan.flags)
        except RecipientOverQuota as error:
            if error.account_id in targets or error.account_id not in redirects.sources:
                raise await self._mailbox_full(error, targets, recipients) from None
            # A redirect's target filled up since it was checked: the redirecting accounts keep the message.
            plan.stores[:] = [s for s in plan.stores if s[0] != error.account_id]
            plan.keep(redirects.sources[error.account_id])
            await self.mailstore.deliver(message, plan.stores, also=also, target_flags=plan.flags)

    async def _mailbox_full(self, error: RecipientOverQuota, targets: Targets, recipients: Sequence[Recipient]
                            ) -> MailboxFull:
        """The refusal for the recipient whose account `error` found full, named as the client named it."""
        full = targets[error.account_id][0]
        asked = next((r.address for r in recipients if full in r.local), full.address)
        return MailboxFull(f"<{asked}>: {error}", permanent=await self._permanent_quota(full.address))

    async def _after_commit(self, sender: str, recipients: Sequence[Recipient], message: bytes, plan: _Plan,
                            trace: Trace, options: Options, *, queued: bool, arrival: float) -> None:
        """Wake the queue for the copies just queued, send the filters' answers and the success notices.
        The message is committed: from here nothing may turn into an error (the client would send it
        again), so a failure is logged."""
        try:
            if queued:
                assert self.queue is not None
                self.queue.wake()
            for target, decision, facts in plan.answers:
                await self._answer(target, decision, facts, sender, message, trace.verified)
            await self._notify_success(sender, recipients, message, trace, options, arrival)
        except Exception:
            self._log.exception("delivery.after_commit_failed", id=trace.id)

    async def _notify_success(self, sender: str, recipients: Sequence[Recipient], message: bytes, trace: Trace,
                              options: Options, arrival: float) -> None:
        """The "delivered" notice (RFC 3461 NOTIFY=SUCCESS) for the local recipients whose RCPT asked for
        one, sent to a verified sender only."""
        delivered_to = [r for r in recipients if r.local and r.notify and "SUCCESS" in r.notify.split(",")]
        if not delivered_to or not sender or not trace.verified:
            return
        notice = dsn.build(action="delivered", reporting_mta=self.hostname, sender=sender,
                           recipients=[dsn.RecipientStatus(r.address, "2.0.0", "250 2.0.0 delivered", r.orcpt)
                                       for r in delivered_to],
                           original=message, arrival=arrival, now=self._clock(), envid=options.envid, ret="HDRS")
        await self.notice(sender, notice)

    async def _enqueue(self, sender: str, outgoing: bytes, wanted: list[NewRecipient], trace: Trace,
                       options: Options, ident: str, *, sign_it: bool = True) -> Unit[int]:
        assert self.queue is not None
        if sign_it and trace.trusted:
            outgoing = await self._signed(outgoing)  # a trusted relay (our own servers): any hosted domain
        elif sign_it and trace.authenticated:
            # An account signs only for its own domain: a user of one hosted domain gets no signature
            # for another's.
            outgoing = await self._signed(outgoing, only=trace.authenticated.rpartition("@")[2])
        prepared = await self.queue.prepare(outgoing)
        return self.queue.enqueue_unit(ident, sender, prepared, wanted, envid=options.envid, ret=options.ret,
                                       smtputf8=options.smtputf8, requiretls=options.requiretls,
                                       origin=trace.authenticated or f"[{trace.remote_ip}]", verified=trace.verified)

    async def _filter(self, target: LocalTarget, asked: str, sender: str, data: bytes
                      ) -> tuple[Decision | None, Facts]:
        """The account's rules and Sieve script on this message (None: it has neither)."""
        settings = await self.directory.effective_account_settings_by_id(target.account_id)
        rules, script = settings.get("Rules") or [], settings.get("SieveScript") or ""
        facts = Facts(sender, asked, data)
        if not rules and not str(script).strip():
            return None, facts
        decision = Decision()
        allowed = str(settings.get("RulesAllowed", "Any"))
        try:
            rules_module.evaluate(rules, facts, decision, allowed=allowed)
            if not decision.stopped and allowed != "None":
                sieve.evaluate(str(script), facts, decision)
            if allowed != "Any" and (decision.redirect or decision.vacation or decision.reject):
                # "Filter Only" (or "None"): nothing that sends mail, whichever filter asked for it.
                if not decision.fileinto:
                    decision.keep = True
                decision.redirect.clear()
                decision.vacation = None
                decision.reject = None
        except Exception:  # a filter must never lose a message: keep it in INBOX instead
            self._log.exception("delivery.filter_failed", account=target.address)
            return None, facts
        if decision.redirect and target.address.lower() in (a.lower() for a in facts.header("delivered-to")):
            # It has been through this account's redirect before: a loop. Store it, send nothing on.
            self._log.warning("delivery.redirect_loop", account=target.address)
            decision.redirect.clear()
            decision.keep = True
        return decision, facts

    async def _redirects(self, redirected: dict[str, tuple[str, NewRecipient]], size: int) -> _Redirects:
        """Where redirected copies go: INBOXes here (filters are not run again; a full one is skipped), or
        queued for elsewhere (grouped by the account that redirected, whose Delivered-To the copy
        carries). Also which accounts redirected to each local target, and the accounts whose redirects
        could not all be made: they keep the message."""
        stores: list[Store] = []
        sources: dict[int, set[str]] = {}
        remote: dict[str, list[NewRecipient]] = {}
        failed: set[str] = set()
        for address, (account, wanted) in redirected.items():
            try:
                mail_address(address, "invalid")  # a redirect to something that is no address is not queued
                recipient = await self.resolve(address)
                if recipient is not None:
                    await self.check_room(recipient, size)
            except (DeliveryError, InvalidName) as error:
                self._log.warning("delivery.redirect_refused", account=account, to=address, reason=str(error))
                failed.add(account)
                continue
            if recipient is None:
                if self.queue is None:
                    failed.add(account)
                    continue
                remote.setdefault(account, []).append(wanted)
                continue
            stores.extend((t.account_id, "INBOX") for t in recipient.local)
            for t in recipient.local:
                sources.setdefault(t.account_id, set()).add(account)
            for other in recipient.remote:
                if self.queue is None:
                    failed.add(account)
                    continue
                remote.setdefault(account, []).append(NewRecipient(other, wanted.orcpt))
        return _Redirects(stores, sources, remote, failed)

    async def _answer(self, target: LocalTarget, decision: Decision, facts: Facts, sender: str,
                      message: bytes, verified: bool) -> None:
        """After the commit: the vacation answer (once per sender per period) and a rejection's notice (to
        a verified sender only: a forged one would make us mail a stranger). A vacation answer quotes
        nothing of the message but its Subject and message ids, header fields a failure notice to an
        unverified sender returns too, so it follows the same setting: an unverified sender gets one
        unless `[queue] notices_to_unverified` is "none"."""
        now = self._clock()
        try:
            if decision.reject is not None and sender and verified:
                notice = dsn.build(action="failed", reporting_mta=self.hostname, sender=sender,
                                   recipients=[dsn.RecipientStatus(facts.recipient, "5.7.1", decision.reject)],
                                   original=message, arrival=now, now=now, ret="HDRS")
                await self.notice(sender, notice)
            vacation_ = decision.vacation
            if vacation_ is None or decision.reject is not None:
                return
            if not verified and self.notices_to_unverified == "none":
                self._log.info("delivery.vacation_withheld", account=target.address, to=sender,
                               reason="sender not verified")
                return
            # The account's own addresses (not the group or forwarder the mail came through: RFC 5230 4.5).
            domain = target.address.rpartition("@")[2]
            aliases = (await self.directory.account(target.address)).aliases
            own = {target.address.lower(), *(f"{a}@{domain}".lower() for a in aliases),
                   *(a.lower() for a in vacation_.addresses)}
            if not vacation.should_answer(facts, own):
                return
            claimed = await self.mailstore.store.write(drec.claim_reply(target.account_id, sender.lower(), int(now),
                                                                        vacation_.days * 86_400))
            if claimed:
                await self.notice(sender, vacation.answer(facts, vacation_, target.address, self.hostname, now))
                self._log.info("delivery.vacation_answer", account=target.address, to=sender)
        except Exception:
            self._log.exception("delivery.answer_failed", account=target.address)

    async def _signed(self, message: bytes, *, only: str | None = None) -> bytes:
        """The message with DKIM signatures of its From domain, when that domain is hosted here (and, with
        `only`, is that domain or one of its aliases)."""
        domain = from_domain(message)
        if domain is None:
            return message
        if only is not None:
            try:
                if (await self.directory.domain(domain)).name != only:  # by its name or an alias's
                    return message
            except (UnknownDomain, InvalidName):
                return message
        cached = self._keys.get(domain)
        now = self._clock()
        if cached is None or cached[0] < now:
            keys = await self.directory.dkim_keys(domain)
            cached = (now + KEY_CACHE_SECONDS, keys)
            self._keys[domain] = cached
        if not cached[1]:
            return message
        return sign(message, domain, cached[1], now=now) + message

    @property
    def notices_to_unverified(self) -> str:
        """What a sender nobody vouched for gets: the queue's setting (queue/service.py); "headers" without
        a queue."""
        return self.queue.notices_to_unverified if self.queue is not None else "headers"

    async def notice(self, to: str, data: bytes) -> None:
        """A bounce or delay notice for `to` (the null reverse-path): into its mailbox when it is ours,
        else queued for it. Nobody to give it to is logged, never answered."""
        try:
            recipient = await self.resolve(to)
        except DeliveryError as error:
            self._log.warning("delivery.notice_undeliverable", to=to, reason=str(error))
            return
        if recipient is None:
            recipient = Recipient(to, remote=(to,))
        trace = Trace("localhost", "", "local", trusted=True, verified=True)  # our own notices: signed when they can be
        try:
            await self.deliver("", [recipient], data, trace)
        except DeliveryError as error:
            self._log.warning("delivery.notice_undeliverable", to=to, reason=str(error))


def _chain(units: list[Unit[Any]]) -> Unit[None]:
    for unit in units:
        yield from unit


def _canonical_domain(address: str) -> bool:
    """Whether the address's domain is written as the directory would write it."""
    from polyport.directory.names import domain_name

    domain = address.rpartition("@")[2]
    try:
        return domain_name(domain) == domain.lower()
    except InvalidName:
        return False
