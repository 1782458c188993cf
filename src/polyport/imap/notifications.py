"""IMAP NOTIFY (RFC 5465): what one session asked to hear about, and the untagged responses it is sent.

`Notifications` holds one NOTIFY SET: its event groups, the bus subscriptions they need, and the mailboxes
the session can see. Changes to the selected mailbox keep arriving on the session's own subscription
(session.py, selected.py); this class hears the rest on account topics (bus/topics.py):
- the account's own topic carries MessagesChanged (a message event in any of its mailboxes),
  MailboxListChanged, SubscriptionsChanged and MetadataChanged, so a session watching PERSONAL has one
  subscription, never one to every mailbox (`mailbox.*`); another account's mailbox named by SUBTREE,
  MAILBOXES or SUBSCRIBED adds its owner's topic, and ServerMetadataChange `server-metadata`.
- message events of a mailbox other than the selected one become STATUS (MESSAGES UIDNEXT UIDVALIDITY
  UNSEEN, and HIGHESTMODSEQ with CONDSTORE on), one per mailbox per batch of events;
- MailboxName becomes LIST: created `()`, deleted `(\\NonExistent)`, renamed with `("OLDNAME" ("old"))`,
  found by comparing the mailbox list (by id) before and after, so a subtree rename is reported whole;
- SubscriptionChange becomes LIST with or without \\Subscribed; metadata changes become METADATA with the
  entry names (RFC 5464 4.4.2's unsolicited form).
Another account's mailbox is left out without the "l" right, its message events and shared METADATA entries
without "r" (RFC 5465 section 3.1: silently); the rights are read again before its STATUS or METADATA goes
out, since they may have been taken away since the last refresh. Its owner's topic carries every mailbox of
the owner: the subscription keeps only the events of the mailboxes watched, so the others never fill the
queue. AnnotationChange is refused with BADEVENT: there is no ANNOTATE here.

SELECTED and SELECTED-DELAYED take message events only (RFC 5465 6.1; others are BAD): the selected
mailbox's names, subscription and metadata come from the other groups. Which groups cover a name is
indexed (a set of MAILBOXES names, a set of SUBTREE roots looked up with the name's ancestors) and kept per
(event, name) until the next refresh; one NOTIFY names at most MAX_MAILBOX_NAMES mailboxes (NO [LIMIT]).

A session that falls behind (a subscription's queue overflowed) is told `* OK [NOTIFICATIONOVERFLOW]` and
NOTIFY is turned off, as section 5.8 says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from polyport.bus import Bus, Subscription, topics
from polyport.bus.events import (
    Event,
    MailboxListChanged,
    MessagesChanged,
    MetadataChanged,
    SubscriptionsChanged,
)
from polyport.errors import ServiceError
from polyport.imap import responses, wire
from polyport.kernel.turns import Turns
from polyport.mailstore import Mailbox, Mailstore
from polyport.mailstore import names as mailbox_names

# Every event this server reports, in the RFC's spelling: BADEVENT's list (RFC 5465 section 3.1).
SUPPORTED_EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange",
                    "MailboxMetadataChange", "ServerMetadataChange")
MESSAGE_EVENTS = frozenset({"MessageNew", "MessageExpunge", "FlagChange"})
# What SELECTED and SELECTED-DELAYED may carry (RFC 5465 6.1): AnnotationChange is one, refused as BADEVENT.
SELECTED_EVENTS = MESSAGE_EVENTS | {"AnnotationChange"}
SELECTED_KINDS = frozenset({"SELECTED", "SELECTED-DELAYED"})
CHANGE_EVENTS = {"append": "MessageNew", "expunge": "MessageExpunge", "flags": "FlagChange"}
# Events held for a session between two looks; beyond this it has fallen behind (NOTIFICATIONOVERFLOW).
QUEUE_SIZE = 256
# Mailbox names one NOTIFY SET may list across its SUBTREE and MAILBOXES groups: each is indexed and
# looked up at every refresh, so their number is bounded as the mailboxes' is not.
MAX_MAILBOX_NAMES = 1000


class NotifyError(Exception):
    """A NOTIFY SET the server refuses: `status` "BAD" (the RFC's rules between events) or "NO" with
    `code` (BADEVENT)."""

    def __init__(self, status: str, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.code = code


def check_groups(groups: Iterable[wire.NotifyEventGroup]) -> None:
    """RFC 5465 section 5: MessageNew and MessageExpunge go together, FlagChange (and AnnotationChange)
    needs both, SELECTED and SELECTED-DELAYED take message events only (6.1) (BAD); more than
    MAX_MAILBOX_NAMES names in all is NO [LIMIT]; an event not supported is NO [BADEVENT (the supported
    ones)]."""
    groups = tuple(groups)
    unsupported: list[str] = []
    for group in groups:
        events = set(group.events)
        if ("MessageNew" in events) != ("MessageExpunge" in events):
            raise NotifyError("BAD", "MessageNew and MessageExpunge must be asked for together (RFC 5465 5)")
        if events & {"FlagChange", "AnnotationChange"} and "MessageNew" not in events:
            raise NotifyError("BAD", "FlagChange needs MessageNew and MessageExpunge (RFC 5465 section 5)")
        if group.kind in SELECTED_KINDS and (other := [e for e in group.events if e not in SELECTED_EVENTS]):
            raise NotifyError("BAD", f"{group.kind} takes message events only, not {' '.join(other)} "
                                     "(RFC 5465 section 6.1)")
        unsupported += [e for e in group.events if e not in SUPPORTED_EVENTS and e not in unsupported]
    named = sum(len(g.mailboxes) for g in groups)
    if named > MAX_MAILBOX_NAMES:
        raise NotifyError("NO", f"NOTIFY names {named} mailboxes; at most {MAX_MAILBOX_NAMES} at once", "LIMIT")
    if unsupported:
        raise NotifyError("NO", f"not supported: {' '.join(unsupported)}",
                          f"BADEVENT ({' '.join(SUPPORTED_EVENTS)})")


@dataclass(slots=True)
class Filter:
    """The mailboxes the groups asking for one event cover, indexed so a name is looked up, not compared
    with every name of every group."""

    inboxes: bool = False
    personal: bool = False
    subscribed: bool = False
    names: set[str] = field(default_factory=set)  # MAILBOXES
    roots: set[str] = field(default_factory=set)  # SUBTREE: a root and every name below it

    def add(self, group: wire.NotifyEventGroup) -> None:
        kind = group.kind
        if kind == "INBOXES":
            self.inboxes = True
        elif kind == "PERSONAL":
            self.personal = True
        elif kind == "SUBSCRIBED":
            self.subscribed = True
        elif kind == "SUBTREE":
            self.roots.update(group.mailboxes)
        else:
            self.names.update(group.mailboxes)

    def covers(self, name: str, subscribed: set[str]) -> bool:
        if self.inboxes and name == "INBOX":  # delivery (and Sieve's fileinto aside) lands in INBOX
            return True
        if self.personal and not name.startswith(mailbox_names.FOREIGN):
            return True
        if (self.subscribed and name in subscribed) or name in self.names:
            return True
        if self.roots:
            if name in self.roots:
                return True
            cut = name.rfind(mailbox_names.SEPARATOR)
            while cut > 0:  # its ancestors, nearest first
                if name[:cut] in self.roots:
                    return True
                cut = name.rfind(mailbox_names.SEPARATOR, 0, cut)
        return False


class Notifications:
    """One session's NOTIFY SET: its groups, subscriptions and view of the account's mailboxes."""

    def __init__(self, groups: tuple[wire.NotifyEventGroup, ...], account_id: int, bus: Bus,
                 mailstore: Mailstore) -> None:
        self.account_id = account_id
        self.bus = bus
        self.mailstore = mailstore
        selected = next((g for g in groups if g.kind in SELECTED_KINDS), None)
        self.selected_events: frozenset[str] = frozenset(selected.events) if selected is not None else frozenset()
        self.delayed = selected is not None and selected.kind == "SELECTED-DELAYED"
        self.fetch: tuple[wire.FetchItem, ...] = selected.fetch if selected is not None else ()
        self.groups = tuple(g for g in groups if g.kind not in SELECTED_KINDS)
        self.filters: dict[str, Filter] = {}  # by event
        self.other_accounts = Filter()  # any group but PERSONAL: what needs another owner's topic
        for group in self.groups:
            for event in group.events:
                self.filters.setdefault(event, Filter()).add(group)
            if group.kind != "PERSONAL":
                self.other_accounts.add(group)
        # (event, name) -> covered: the groups are looked at once per name until the next refresh.
        self.coverage: dict[tuple[str, str], bool] = {}
        # Per other owner, the ids of their mailboxes watched: the only ones whose events the owner's
        # topic subscription keeps.
        self.watched: dict[int, set[int]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.mailboxes: dict[int, Mailbox] = {}  # every mailbox the session can see, by id
        self.subscribed: set[str] = set()
        self.overflowed = False
        self.selected_id: int | None = None  # the session's selected mailbox, as of the last batch
        self._wakers: list[tuple[asyncio.Future[None], Any]] = []

    # -- what is watched --

    @property
    def watches_selected(self) -> bool:
        """Whether changes to the selected mailbox are sent as they come (SELECTED or SELECTED-DELAYED with
        message events)."""
        return bool(self.selected_events & MESSAGE_EVENTS)

    def wants(self, event: str, mailbox: Mailbox | None, name: str | None = None) -> bool:
        """Whether a group asks for `event` about a mailbox (or a `name` that names none, for
        SubscriptionChange), which needs "l", and "r" for message events. The selected mailbox's message
        events are SELECTED's, the session's own (RFC 5465 section 6.1); its other events are the other
        groups', as any mailbox's."""
        if mailbox is not None:
            rights = mailbox.rights
            if "l" not in rights or (event in MESSAGE_EVENTS and "r" not in rights):
                return False
            if event in MESSAGE_EVENTS and mailbox.id == self.selected_id:
                return False
            name = mailbox.name
        assert name is not None
        key = (event, name)
        covered = self.coverage.get(key)
        if covered is None:
            found = self.filters.get(event)
            covered = self.coverage[key] = found is not None and found.covers(name, self.subscribed)
        return covered

    def _asks(self, event: str) -> bool:
        return event in self.filters or event in self.selected_events

    # -- subscriptions --

    async def start(self) -> None:
        """Read the mailboxes and subscriptions, and subscribe to the topics they need."""
        await self.refresh()

    async def refresh(self) -> dict[int, Mailbox]:
        """Re-read the visible mailboxes and subscribed names; returns the mailboxes as they were before."""
        before = self.mailboxes
        own = await self.mailstore.mailboxes(self.account_id)
        shared = await self.mailstore.shared(self.account_id)
        self.mailboxes = {m.id: m for m in (*own, *shared)}
        self.subscribed = set(await self.mailstore.subscriptions(self.account_id))
        self.coverage.clear()
        wanted = {topics.account(self.account_id)}
        watched: dict[int, set[int]] = {}
        turns = Turns()
        for mailbox in shared:
            if self.other_accounts.covers(mailbox.name, self.subscribed):
                watched.setdefault(mailbox.account_id, set()).add(mailbox.id)
                wanted.add(topics.account(mailbox.account_id))
            await turns.share()
        self.watched = watched
        if self._asks("ServerMetadataChange"):
            wanted.add(topics.SERVER_METADATA)
        for topic in set(self.subscriptions) - wanted:
            self.subscriptions.pop(topic).close()
        for mailbox in shared:
            topic = topics.account(mailbox.account_id)
            if topic in wanted and topic not in self.subscriptions:
                self.subscriptions[topic] = self.bus.subscribe(topic, queue_size=QUEUE_SIZE,
                                                               accept=self._watching(mailbox.account_id))
        for topic in wanted - set(self.subscriptions):
            self.subscriptions[topic] = self.bus.subscribe(topic, queue_size=QUEUE_SIZE)
        return before

    def _watching(self, owner: int) -> Callable[[Event], bool]:
        """The filter of another owner's topic: the events of the mailboxes watched, and changes to the
        owner's mailbox list (one watched may have been renamed or deleted); never the owner's own
        subscriptions or another account's private entries."""

        def accept(event: Event) -> bool:
            if isinstance(event, MailboxListChanged):
                return True
            if isinstance(event, MessagesChanged | MetadataChanged):
                if isinstance(event, MetadataChanged) and event.private_to not in (None, self.account_id):
                    return False
                return event.mailbox_id in self.watched.get(owner, ())
            return False

        return accept

    def close(self) -> None:
        self._forget_wakers()
        for subscription in self.subscriptions.values():
            subscription.close()
        self.subscriptions.clear()

    def waiter(self, *others: Subscription | None) -> asyncio.Future[None]:
        """A future done once any of the subscriptions (this set's and `others`) has an event. Built anew at
        each call, with the callbacks of the previous one taken off, so an idle session collects none."""
        self._forget_wakers()
        combined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake(_: asyncio.Future[None]) -> None:
            if not combined.done():
                combined.set_result(None)

        for subscription in (*self.subscriptions.values(), *others):
            if subscription is None:
                continue
            future = subscription.wait()
            if future.done():
                wake(future)
                break
            future.add_done_callback(wake)
            self._wakers.append((future, wake))
        return combined

    def _forget_wakers(self) -> None:
        for future, wake in self._wakers:
            future.remove_done_callback(wake)
        self._wakers.clear()

    def pending(self) -> list[Event]:
        """The events waiting, oldest first per topic; `overflowed` set when one queue lost some."""
        events: list[Event] = []
        for subscription in self.subscriptions.values():
            if subscription.overflowed:
                self.overflowed = True
            while (event := subscription.get_nowait()) is not None:
                events.append(event)
        return events

    # -- the responses --

    async def responses(self, events: list[Event], *, selected_id: int | None, condstore: bool,
                        utf8: bool) -> list[bytes]:
        """The untagged responses for a batch of events."""
        self.selected_id = selected_id
        out: list[bytes] = []
        status_of: dict[int, None] = {}
        list_changed = subscriptions_changed = False
        for event in events:
            if isinstance(event, MessagesChanged):
                mailbox = self.mailboxes.get(event.mailbox_id)
                if mailbox is not None and self.wants(CHANGE_EVENTS[event.change], mailbox):
                    status_of[mailbox.id] = None
            elif isinstance(event, MailboxListChanged):
                list_changed = True
            elif isinstance(event, SubscriptionsChanged):
                if event.account_id == self.account_id:
                    subscriptions_changed = True
                    out += self._subscription_lines(event, utf8)
            elif isinstance(event, MetadataChanged):
                out += await self._metadata_lines(event, utf8)
        if list_changed or subscriptions_changed:
            before = await self.refresh()
            if list_changed:
                out += self._name_lines(before, utf8)
        for mailbox_id in status_of:
            line = await self.status_line(mailbox_id, condstore=condstore, utf8=utf8)
            if line is not None:
                out.append(line)
        return out

    async def status_line(self, mailbox_id: int, *, condstore: bool, utf8: bool) -> bytes | None:
        """RFC 5465 5.2-5.4: STATUS of a mailbox other than the selected one, as it is now."""
        known = self.mailboxes.get(mailbox_id)
        if known is None:
            return None
        try:
            mailbox = await self.mailstore.mailbox(self.account_id, known.name, need="lr")
        except ServiceError:  # gone, or the rights went, since the event: nothing to say
            return None
        items = b"MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN %d" % (
            mailbox.messages, mailbox.uidnext, mailbox.uidvalidity, mailbox.unseen)
        if condstore:
            items += b" HIGHESTMODSEQ %d" % mailbox.highestmodseq
        return b"* STATUS " + responses.astring(known.name, utf8=utf8) + b" (" + items + b")\r\n"

    async def status_mailboxes(self, selected_id: int | None) -> list[int]:
        """The mailboxes NOTIFY SET STATUS reports at once: those a group asks message events of. Shares the
        loop as it goes: an account may have thousands."""
        self.selected_id = selected_id
        found: list[int] = []
        turns = Turns()
        for mailbox in sorted(self.mailboxes.values(), key=lambda m: m.name):
            if any(self.wants(e, mailbox) for e in MESSAGE_EVENTS):
                found.append(mailbox.id)
            await turns.share()
        return found

    def _name_lines(self, before: dict[int, Mailbox], utf8: bool) -> list[bytes]:
        out: list[bytes] = []
        after = self.mailboxes
        for mailbox_id, old in before.items():
            new = after.get(mailbox_id)
            if new is None:
                if self.wants("MailboxName", old):
                    out.append(_list_line("\\NonExistent", old.name, utf8))
            elif new.name != old.name and (self.wants("MailboxName", old) or self.wants("MailboxName", new)):
                out.append(_list_line("", new.name, utf8, b' ("OLDNAME" (' + responses.astring(old.name, utf8=utf8)
                                      + b"))"))
        for mailbox_id, new in after.items():
            if mailbox_id not in before and self.wants("MailboxName", new):
                out.append(_list_line("", new.name, utf8))
        return out

    def _subscription_lines(self, event: SubscriptionsChanged, utf8: bool) -> list[bytes]:
        by_name = {m.name: m for m in self.mailboxes.values()}
        asked = self.filters.get("SubscriptionChange")
        subscribed_group = asked is not None and asked.subscribed
        out: list[bytes] = []
        for name in event.names:
            mailbox = by_name.get(name)  # one's own subscribed names need not exist
            covered = self.wants("SubscriptionChange", mailbox, name)
            if not covered and subscribed_group:
                # SUBSCRIBED: the name has just left the set, or joins it at the next refresh.
                covered = mailbox is None or "l" in mailbox.rights
            if covered:
                out.append(_list_line("\\Subscribed" if event.subscribed else "", name, utf8))
        return out

    async def _metadata_lines(self, event: MetadataChanged, utf8: bool) -> list[bytes]:
        if event.private_to is not None and event.private_to != self.account_id:
            return []
        entries = b" ".join(responses.atom_or_string(e, utf8=utf8) for e in event.entries)
        if event.mailbox_id is None:
            if self._asks("ServerMetadataChange"):
                return [b'* METADATA "" ' + entries + b"\r\n"]
            return []
        mailbox = self.mailboxes.get(event.mailbox_id)
        if mailbox is None or not self.wants("MailboxMetadataChange", mailbox):
            return []
        if mailbox.shared:
            # Shared entries are read with "r", private ones need the mailbox visible (RFC 5464 3.3); as the
            # rights are now, not as they were at the last refresh.
            need = "lr" if event.private_to is None else "l"
            if any(right not in mailbox.rights for right in need):
                return []
            try:
                await self.mailstore.mailbox(self.account_id, mailbox.name, need=need)
            except ServiceError:
                return []
        return [b"* METADATA " + responses.astring(mailbox.name, utf8=utf8) + b" " + entries + b"\r\n"]


def _list_line(attributes: str, name: str, utf8: bool, extra: bytes = b"") -> bytes:
    return (b"* LIST (" + attributes.encode() + b') "/" ' + responses.astring(name, utf8=utf8) + extra
            + b"\r\n")
