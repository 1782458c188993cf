"""Stanzas between clients (RFC 6120 10, RFC 6121 8.5): every bound resource of the node, in this worker or
another, its availability and priority, and delivery by the RFC's rules for each kind of stanza and address.

Each worker has one `Router`. It holds its own clients' sessions and a view of the other workers' (and,
with the cluster, the other nodes') resources, kept from the bus (topic `xmpp`, bus/events.py): a router
announces each of its resources as it changes (`XmppResource`: bound, presence and priority, roster
interest, carbons; gone) and again every ANNOUNCE_EVERY seconds; a resource not heard of for FORGET_AFTER
seconds is forgotten (its worker died). A router that starts, or whose bus lost events, asks the others to
announce theirs again (`XmppSync`). Delivery is decided where the stanza arrives, over the whole view:
to a resource of this worker it is written on its stream, to one of another worker it is published for
that worker (`XmppStanzas`), which writes it. A resource bound in two workers at once (a client that
reconnected elsewhere) is settled as RFC 6120 7.7.2.2 says, the newer session keeps it (`XmppKick`).

Delivery to a bare JID (`juliet@example.com`): a message of type normal, chat or headline goes to every
available resource of non-negative priority (RFC 6121 8.5.2.1.1 allows all of them, as Prosody does);
groupchat and error messages to a bare JID are dropped; presence goes to every available resource. To a
full JID: the resource if it is bound, else a message falls back to the bare JID's rules (8.5.3.2.1),
presence is dropped. Message carbons (XEP-0280) are decided here too.

An account's own resources hear each other's presence (RFC 6121 4.2.2, 4.5.2) from the router of the worker
that holds the listener: a session's change goes to this worker's resources of the account at once, and to
another worker's through the announcement that worker hears anyway (`_remote`). Sending it both ways
would race: two resources of one account that become available at once in two workers could each miss
the other, each worker's view not yet holding the other resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
import weakref
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from polyport import log, metrics
from polyport.bus import Bus, Subscription, topics
from polyport.bus.events import (
    AccountChanged,
    AliasChanged,
    DomainChanged,
    Event,
    GroupChanged,
    XmppBlocklistChanged,
    XmppKick,
    XmppResource,
    XmppRoomHeld,
    XmppRoomStanza,
    XmppStanzas,
    XmppSync,
)
from polyport.directory.errors import UnknownObject
from polyport.im import OfflineFull
from polyport.im.archive import new_id as new_archive_id
from polyport.im.blocking import blocks
from polyport.runtime import Runtime
from polyport.xmpp import federation, mam, push, wire
from polyport.xmpp.jid import Jid, JidError
from polyport.xmpp.pep import PepService
from polyport.xmpp.rooms import RoomService

if TYPE_CHECKING:
    from polyport.xmpp.session import XmppSession

C = "{" + wire.CLIENT_NS + "}"
CARBONS_NS = "urn:xmpp:carbons:2"
CARBON_COPIES = frozenset({"{" + CARBONS_NS + "}received", "{" + CARBONS_NS + "}sent"})
FORWARD_NS = "urn:xmpp:forward:0"
HINTS_NS = "urn:xmpp:hints"
DELAY_NS = "urn:xmpp:delay"
ANNOUNCE_EVERY = 60.0
EXPIRE_ARCHIVE_EVERY = 3600.0
MAX_ADDRESSEES = 10_000
MAX_SHARED_GROUPS = 1000  # groups of a domain read for shared rosters
MAX_SHARED_MEMBERS = 1000  # members of one shared group that see each other
SharedMap = dict[Jid, dict[Jid, str]]  # member -> the members it shares a roster group with -> the group's name
MAX_LABEL = 256  # characters of a shared group's name in rosters (a roster group's longest, im/roster.py)
FORGET_AFTER = 150.0


@dataclass(slots=True, eq=False)
class Resource:
    """A bound resource: this worker's (`session` set) or another's (`origin`, as last announced)."""

    jid: Jid
    session: XmppSession | None
    origin: str
    available: bool = False  # sent available presence (RFC 6121 4.2)
    priority: int = 0
    last: ET.Element[str] | None = None  # its last available presence, for the account's new resources
    interested: bool = False  # asked for the roster: it gets roster pushes (RFC 6121 2.1.6)
    carbons: bool = False  # gets copies of the account's chats its other resources send and receive
    blocklist: bool = False  # asked for the block list: it gets block list pushes (XEP-0191 3.3)
    seen: float = 0.0  # when another worker last announced it
    bound_at: float = 0.0  # when this worker's session bound it (Unix time: compared across workers)

    @property
    def local(self) -> bool:
        return self.session is not None


@dataclass(frozen=True, slots=True)
class Addressee:
    """An account as a stanza's address resolved to it."""

    jid: Jid  # the account's own bare JID (an alias resolved)
    account_id: int
    history_days: int  # ChatHistoryDays: 0, its messages are not archived


class Router:
    """Every bound resource of the node, by bare JID then resource name."""

    def __init__(self, bus: Bus | None = None, runtime: Runtime | None = None) -> None:
        self.origin = secrets.token_hex(8)
        self.started = time.time()  # the server's uptime, as XEP-0012 asks of it
        self.bus = bus
        # The node's services, for what the router does itself (weak: the runtime holds the router).
        self._runtime = weakref.ref(runtime) if runtime is not None else None
        self.accounts: dict[Jid, dict[str, Resource]] = {}
        self._blocklists: dict[Jid, list[tuple[str, str, str]]] = {}  # by account, as read (XEP-0191)
        self._block_changes = 0  # raised by every change heard: a list read across one is not kept
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()
        # Sessions of resumable streams (XEP-0198), by stream id: connected, or detached and waiting.
        self.resumable: dict[str, XmppSession] = {}
        # Addressees as the directory resolved them (bare JID -> the account's JID and id, or None: nobody),
        # kept while this router hears the directory's changes, forgotten at any change.
        self._addressees: dict[Jid, Addressee | None] = {}
        self._directory_changes = 0
        self._directory: Subscription | None = None  # the directory's changes, while followed
        # Shared roster groups (groups with SharedRoster): member's bare JID -> the others -> the group's name.
        self._shared: dict[Jid, dict[Jid, str]] | None = None
        self._shared_stale = False
        self._shared_reading: asyncio.Task[dict[Jid, dict[Jid, str]]] | None = None
        self._log = log.get(service="xmpp")
        # The chat rooms this router holds, and the way to the others' (xmpp/rooms.py).
        self.rooms = RoomService(self, runtime) if runtime is not None else None
        # Personal eventing (XEP-0163): every account's nodes, and the capabilities the server learned.
        self.pep = PepService(self, runtime) if runtime is not None else None
        # Stanzas to other servers (xmpp/federation.py), when the xmpp-s2s service is on.
        self.federation = federation.on_router(self, runtime) if runtime is not None else None
        self.push_follow_ups: set[int] = set()  # accounts with a push notification due when its window ends

    # -- this worker's resources --

    def bind(self, session: XmppSession, jid: Jid) -> XmppSession | None:
        """Register `session` as `jid`; this worker's session that held that full JID before, if any
        (RFC 6120 7.7.2.2: the new one wins, the caller ends the old one with `conflict`). One of another
        worker is told to end (XmppKick)."""
        resources = self.accounts.setdefault(jid.bare, {})
        old = resources.get(jid.resource)
        resources[jid.resource] = resource = Resource(jid, session, self.origin, bound_at=time.time())
        if old is None or old.session is None:
            metrics.xmpp_resources.inc()
        self._publish(XmppKick(self.origin, str(jid), resource.bound_at))
        self._announce(resource)
        runtime = self._runtime() if self._runtime is not None else None
        if session.identity is not None and runtime is not None:  # it reads what waited: notifications count anew
            self.spawn(push.connected(runtime, session.identity.account_id))
        return old.session if old is not None and old.session is not session else None

    def rebind(self, old: XmppSession, new: XmppSession, jid: Jid) -> bool:
        """A resumed stream's session takes the resource over from the detached one (XEP-0198 5); False
        if the resource is no longer the old session's."""
        resource = self.full(jid)
        if resource is None or resource.session is not old:
            return False
        resource.session = new
        return True

    def unbind(self, session: XmppSession, jid: Jid) -> None:
        resources = self.accounts.get(jid.bare)
        resource = resources.get(jid.resource) if resources is not None else None
        if resources is None or resource is None or resource.session is not session:
            return
        del resources[jid.resource]
        metrics.xmpp_resources.dec()
        if not resources:
            del self.accounts[jid.bare]
        self._publish(XmppResource(self.origin, str(jid), gone=True))

    def set_presence(self, jid: Jid, presence: ET.Element[str] | None, priority: int = 0) -> None:
        """The resource's presence: an available one (with its priority), or None once unavailable."""
        resource = self.full(jid)
        if resource is not None and resource.local:
            resource.available, resource.priority, resource.last = presence is not None, priority, presence
            self._announce(resource)

    def interested(self, jid: Jid) -> None:
        resource = self.full(jid)
        if resource is not None and resource.local and not resource.interested:
            resource.interested = True
            self._announce(resource)

    def wants_blocklist(self, jid: Jid) -> None:
        resource = self.full(jid)
        if resource is not None and resource.local and not resource.blocklist:
            resource.blocklist = True
            self._announce(resource)

    def set_carbons(self, jid: Jid, enabled: bool) -> None:
        resource = self.full(jid)
        if resource is not None and resource.local:
            resource.carbons = enabled
            self._announce(resource)

    # -- every resource --

    def resources(self, bare: Jid) -> Iterator[tuple[str, Resource]]:
        return iter(list(self.accounts.get(bare, {}).items()))

    def available(self, bare: Jid, *, minimum_priority: int | None = None) -> list[Resource]:
        return [r for _, r in self.resources(bare)
                if r.available and (minimum_priority is None or r.priority >= minimum_priority)]

    def full(self, jid: Jid) -> Resource | None:
        return self.accounts.get(jid.bare, {}).get(jid.resource)

    def deliver_message(self, stanza: ET.Element[str], to: Jid) -> bool:
        """Whether anyone took the message (RFC 6121 8.5.2, 8.5.3); the account's resources with carbons
        enabled that did not get it get a copy (XEP-0280 'received')."""
        took: list[Resource] = []
        if to.resource and (resource := self.full(to)) is not None:
            if self.send(resource, stanza):
                took.append(resource)
        elif stanza.get("type", "normal") == "error":
            return True  # dropped silently (8.5.2.1.1, 8.5.3.2.1)
        elif stanza.get("type") == "groupchat":
            return False  # to an account, not a room: the sender gets an error (8.5.2.1.1, 8.5.3.2.1)
        else:
            took = [r for r in self.available(to.bare, minimum_priority=0) if self.send(r, stanza)]
        if took and carbon_eligible(stanza):
            self.carbons(to.bare, stanza, "received", skip=took)
        return bool(took)

    def carbons(self, account: Jid, stanza: ET.Element[str], direction: str, skip: list[Resource]) -> None:
        """Copies of a chat to the account's carbons-enabled resources but those in `skip` (XEP-0280)."""
        for _, resource in self.resources(account):
            if resource.carbons and all(resource is not r for r in skip):
                copy = ET.Element(C + "message", {"from": str(account), "to": str(resource.jid),
                                                  "type": stanza.get("type", "normal")})
                wrapper = ET.SubElement(copy, "{" + CARBONS_NS + "}" + direction)
                ET.SubElement(wrapper, "{" + FORWARD_NS + "}forwarded").append(stanza)
                self.send(resource, copy)

    def deliver_presence(self, stanza: ET.Element[str], to: Jid) -> None:
        """Presence to an account's resources, this node's or (federation on) another server's."""
        if self.federation is not None and to.bare not in self.accounts and self.federation.maybe_remote(to.domain):
            self.federation.send(stanza)
            return
        if to.resource:
            resource = self.full(to)
            if resource is not None:
                self.send(resource, stanza)
            return
        for resource in self.available(to.bare):  # to a bare JID: its available resources (8.5.2.1.1)
            self.send(resource, stanza)

    def deliver_local(self, stanza: ET.Element[str]) -> None:
        """A stanza to one of this node's entities from anywhere (an error a link bounced, or what a link
        found was for us after all), by its kind's rules."""
        try:
            to = Jid.parse(stanza.get("to", ""))
        except JidError:
            return
        if stanza.tag == C + "message":
            self.deliver_message(stanza, to)
        elif stanza.tag == C + "presence":
            if to.bare in self.accounts or self.federation is None or not self.federation.maybe_remote(to.domain):
                self.deliver_presence(stanza, to)
        elif (resource := self.full(to)) is not None:
            self.send(resource, stanza)

    async def archive(self, runtime: Runtime, message: ET.Element[str], sender: Jid, to: Jid) -> None:
        """A message into the archives of its recipient (with the stanza-id its clients will see) and of its
        sender (XEP-0313 5.1.1), those of this node, each kept for its account's ChatHistoryDays."""
        from_account = await self.addressee(runtime, sender.bare)
        recipient = await self.addressee(runtime, to.bare)
        mam.strip_stanza_ids(message, to.bare, sender.bare)
        archive = runtime.archive
        xml = ""
        if recipient is not None and recipient.history_days > 0:
            archive_id = new_archive_id()
            mam.add_stanza_id(message, recipient.jid, archive_id)
            xml = wire.serialize(message).decode()
            await archive.add(archive.entry(recipient.account_id, str(sender.bare), xml, recipient.history_days,
                                            archive_id))
        if from_account is not None and from_account.history_days > 0 and (
                recipient is None or from_account.account_id != recipient.account_id):
            await archive.add(archive.entry(from_account.account_id, str(to.bare),
                                            xml or wire.serialize(message).decode(), from_account.history_days))

    def send(self, resource: Resource, stanza: ET.Element[str]) -> bool:
        """Write the stanza on the resource's stream, or hand it to the worker that holds it; False if it
        cannot take it (gone, or a client of this worker that is not reading)."""
        if resource.session is not None:
            return send(resource.session, stanza)
        self._publish(XmppStanzas(self.origin, [(str(resource.jid), wire.serialize(stanza).decode())],
                                  holder=resource.origin))
        return True

    async def finish(self, grace: float) -> None:
        for session in list(self.resumable.values()):
            if session.detached is not None:
                session.forget_detached()
                session.end_for_good()
        deadline = time.monotonic() + max(grace, 1.0)
        while self._tasks and time.monotonic() < deadline:  # what the tasks start meanwhile too
            await asyncio.wait(list(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    def disconnect(self, jid: Jid, reason: str) -> None:
        """End the session bound to a full JID, this worker's or another's."""
        resource = self.full(jid)
        if resource is not None and resource.session is not None:
            resource.session.disconnect(reason)
        elif resource is not None:
            self._publish(XmppKick(self.origin, str(jid), reason=reason))

    def undeliverable(self, xml: str, to: Jid) -> None:
        """A stanza another worker handed over for a resource of this one that is gone (redeliver: this
        worker's resources only, so two workers' views never pass it back and forth)."""
        stanza = wire.parse_stanza(xml)
        runtime = self._runtime() if self._runtime is not None else None
        if stanza is not None and runtime is not None:
            self.spawn(self.redeliver(runtime, stanza, to.bare, local_only=True))

    async def redeliver(self, runtime: Runtime, stanza: ET.Element[str], account: Jid, *,
                        local_only: bool = False) -> None:
        """A message that did not reach the resource it went to (XEP-0198 5: its client never acknowledged
        it; or the resource went before a handed-over stanza arrived). Sent to a full JID, the account's
        other available resources take it (RFC 6121 8.5.3.2.1) or it waits offline; sent to the bare JID,
        it went to every available resource already, so it waits offline only where none is available
        now. Carbons, and anything but a chat or normal message with a body, are dropped."""
        if (stanza.tag != C + "message" or stanza.get("type", "normal") not in ("normal", "chat")
                or stanza.find(C + "body") is None
                or any(child.tag in CARBON_COPIES for child in stanza)):
            return
        try:
            addressed = Jid.parse(stanza.get("to", ""))
        except JidError:
            return
        if addressed.resource:
            if local_only:
                if [r for r in self.available(account, minimum_priority=0) if r.local and self.send(r, stanza)]:
                    return
            elif self.deliver_message(stanza, account):
                return
        elif self.available(account, minimum_priority=0):
            return
        if stanza.find("{" + DELAY_NS + "}delay") is None:
            ET.SubElement(stanza, "{" + DELAY_NS + "}delay", {"from": account.domain, "stamp": wire.stamp()})
        stanza.set("to", str(account))
        found = await self.addressee(runtime, account)
        if found is None:
            return
        try:
            await runtime.offline.store(found.account_id, wire.serialize(stanza).decode())
        except OfflineFull:
            self._log.info("xmpp.undelivered_dropped", account=str(account), reason="offline store full")
            return
        push.waiting(runtime, self, account, found.account_id, "", stanza)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Work a session leaves behind when it ends (its contacts told it is gone), kept until done."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- addressees --

    async def addressee(self, runtime: Runtime, bare: Jid) -> Addressee | None:
        """The account a bare JID names (through aliases, as the directory resolves them), or None."""
        self._heard_directory()  # a change already queued counts now, not when the follower wakes
        if bare in self._addressees:
            return self._addressees[bare]
        changes = self._directory_changes
        record = await runtime.directory.login_record(str(bare))
        found = (Addressee(Jid.parse(record.address), record.account_id, record.chat_history_days)
                 if record is not None else None)
        self._heard_directory()
        if self._directory is not None and changes == self._directory_changes:  # nothing changed meanwhile
            if len(self._addressees) >= MAX_ADDRESSEES:
                self._addressees.clear()
            self._addressees[bare] = found
        return found

    def directory_changed(self, *, shared: bool = True) -> None:
        self._directory_changes += 1
        self._addressees.clear()
        if shared and self._shared is not None and not self._shared_stale:
            self._shared_stale = True
            runtime = self._runtime() if self._runtime is not None else None
            if runtime is not None:
                with contextlib.suppress(RuntimeError):  # no loop: nothing to tell anyone
                    self.spawn(self.refresh_shared(runtime))
        if self.federation is not None:
            self.federation.forget_domains()

    def _heard_directory(self) -> None:
        subscription = self._directory
        if subscription is None:
            return
        changed = shared = subscription.overflowed
        while (event := subscription.get_nowait()) is not None:
            changed = True
            shared = shared or _changes_shared_groups(event)
        if changed:
            subscription.overflowed = False
            self.directory_changed(shared=shared)

    # -- shared roster groups --

    async def shared_contacts(self, runtime: Runtime, account: Jid) -> dict[Jid, str]:
        """The accounts that share a roster group with `account` (CommuniGate groups with SharedRoster: each
        member sees the others, whatever their domains), each with the group's display name. Read for the
        whole directory at once, kept while this router follows the directory, read again (and the changes
        told to this worker's clients: `refresh_shared`) when a group, account, alias or domain changes."""
        self._heard_directory()
        if self._shared is None or (self._shared_stale and self._directory is None):
            await self._load_shared(runtime)
        return (self._shared or {}).get(account.bare, {})

    def shared_now(self, account: Jid) -> dict[Jid, str]:
        """`shared_contacts` as last read, without waiting (roster pushes)."""
        return (self._shared or {}).get(account.bare, {})

    def roster_version(self, account: Jid, version: int) -> str:
        """The roster version clients see (XEP-0237): the stored roster's, and a digest of the account's shared
        part when it has one, so the version changes with either."""
        shared = self.shared_now(account)
        if not shared:
            return str(version)
        text = "\n".join(sorted(f"{contact} {label}" for contact, label in shared.items()))
        return f"{version}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    async def _load_shared(self, runtime: Runtime) -> tuple[SharedMap, SharedMap] | None:
        """Read the shared groups (a read under way is joined): what was known and what is now; None when the
        read failed (what was known is kept)."""
        if self._shared_reading is None:
            self._shared_reading = asyncio.get_running_loop().create_task(self._read_shared(runtime))
        reading = self._shared_reading
        try:
            fresh = await asyncio.shield(reading)
        except Exception:
            self._log.warning("xmpp.shared_roster_unread")
            return None
        finally:
            if self._shared_reading is reading and reading.done():
                self._shared_reading = None
        old, self._shared, self._shared_stale = self._shared or {}, fresh, False
        return old, fresh

    async def _read_shared(self, runtime: Runtime) -> dict[Jid, dict[Jid, str]]:
        directory = runtime.directory
        by_member: dict[Jid, dict[Jid, str]] = {}
        read = 0
        for domain in await directory.domains():
            for name in await directory.groups(domain):
                read += 1
                if read > MAX_SHARED_GROUPS:
                    return by_member
                try:
                    group = await directory.group(f"{name}@{domain}")
                except UnknownObject:
                    continue  # gone meanwhile
                if str(group.settings.get("SharedRoster", "NO")).upper() != "YES":
                    continue
                label = str(group.settings.get("RealName") or group.name)[:MAX_LABEL]
                members: list[Jid] = []
                for member in group.members[:MAX_SHARED_MEMBERS]:
                    with contextlib.suppress(JidError):
                        found = await self.addressee(runtime, Jid.parse(member).bare)
                        if found is not None and found.jid not in members:
                            members.append(found.jid)
                for jid in members:
                    shared = by_member.setdefault(jid, {})
                    for other in members:
                        if other != jid:
                            shared.setdefault(other, label)
        return by_member

    async def refresh_shared(self, runtime: Runtime) -> None:
        """The directory changed: the shared groups are read again, and this worker's clients whose shared
        contacts changed get roster pushes and presence (a new contact's both ways, a gone one's
        unavailable), as a subscription's change would give them."""
        from polyport.xmpp import presence

        if self._shared is None:
            return  # never read: nobody can have seen any
        loaded = await self._load_shared(runtime)
        if loaded is None:
            return
        old, new = loaded
        for bare, resources in list(self.accounts.items()):
            before, after = old.get(bare, {}), new.get(bare, {})
            if before == after:
                continue
            session = next((r.session for r in resources.values() if r.session is not None
                            and r.session.identity is not None), None)
            if session is None or session.identity is None:
                continue
            account_id = session.identity.account_id
            stored, items = await presence.roster(runtime, self, account_id, bare)
            version = self.roster_version(bare, stored)
            merged = {item.contact: item for item in items}
            for contact in {*before, *after}:
                if before.get(contact) == after.get(contact):
                    continue
                item = merged.get(str(contact))
                element = (presence.roster_item(item) if item is not None
                           else ET.Element(presence.ROSTER + "item", {"jid": str(contact), "subscription": "remove"}))
                presence.push_roster_element(self, bare, version, element)
                if contact in after and contact not in before:
                    # Each side tells the other of its own accounts (the contact's router does the same for it).
                    presence.presence_of(self, bare, contact)
                elif item is None or not item.state.from_:
                    presence.unavailable_from(self, bare, contact)
            gone = {contact for contact in before if contact not in after
                    and not (str(contact) in merged and merged[str(contact)].state.from_)}
            for resource in resources.values():  # whom the account's presence goes to from now on
                if resource.session is not None:
                    kept = [w for w in resource.session.watchers if w not in gone]
                    resource.session.watchers = kept + [c for c in after if c not in kept]

    async def follow_directory(self) -> None:
        """Hear the directory's changes (any worker's) until cancelled: addressees are resolved again."""
        if self.bus is None or self._directory is not None:
            await asyncio.Event().wait()
            return
        subscription = self._directory = self.bus.subscribe(topics.DIRECTORY)
        try:
            while True:
                await subscription.wait()
                self._heard_directory()
        finally:
            self._directory = None
            self.directory_changed()
            subscription.close()

    # -- block lists (XEP-0191) --

    async def blocklist(self, runtime: Runtime, account: Jid, account_id: int) -> list[tuple[str, str, str]]:
        """The account's block list as (local, domain, resource) items, read once and kept until it changes
        (here or in another worker: XmppBlocklistChanged)."""
        found = self._blocklists.get(account)
        if found is None:
            changes = self._block_changes
            found = []
            for text in await runtime.blocklists.items(account_id):
                with contextlib.suppress(JidError):
                    jid = Jid.parse(text)
                    found.append((jid.local, jid.domain, jid.resource))
            if len(self._blocklists) > 10_000:
                self._blocklists.clear()
            if changes == self._block_changes:  # no change heard while it was read: it is current
                self._blocklists[account] = found
        return found

    async def blocks(self, runtime: Runtime, account: Jid, account_id: int, other: Jid) -> bool:
        """Whether the account blocks `other`."""
        return blocks(await self.blocklist(runtime, account.bare, account_id), (other.local, other.domain,
                                                                                 other.resource))

    def blocklist_changed(self, account: Jid) -> None:
        self._block_changes += 1
        self._blocklists.pop(account.bare, None)
        self._publish(XmppBlocklistChanged(self.origin, str(account.bare)))

    # -- the other workers --

    def _announce(self, resource: Resource) -> None:
        last = wire.serialize(resource.last).decode() if resource.last is not None else ""
        self._publish(XmppResource(self.origin, str(resource.jid), presence=last, priority=resource.priority,
                                   interested=resource.interested, carbons=resource.carbons,
                                   blocklist=resource.blocklist))

    def _publish(self, event: Event) -> None:
        if self.bus is not None and self._running:
            self.bus.publish_nowait(event)

    def publish(self, event: Event) -> None:
        """An event for the other routers (on the bus, once this router hears it)."""
        self._publish(event)

    def heard(self, event: Event, now: float) -> None:
        """An event of another router's (its own are ignored)."""
        if getattr(event, "origin", self.origin) == self.origin:
            return
        if isinstance(event, XmppResource):
            self._remote(event, now)
        elif isinstance(event, XmppStanzas):
            for target, xml in event.deliveries:
                with contextlib.suppress(JidError):
                    resource = self.full(Jid.parse(target))
                    if resource is not None and resource.session is not None:
                        if resource.session.deliver(xml.encode()) or event.holder != self.origin:
                            continue
                    elif event.holder != self.origin:
                        continue  # for another router
                    # For a resource of this router that went (or stopped reading) before it arrived.
                    self.undeliverable(xml, Jid.parse(target))
        elif isinstance(event, XmppRoomStanza):
            if event.holder == self.origin and self.rooms is not None:
                self.spawn(self.rooms.forwarded(event))
        elif isinstance(event, XmppRoomHeld):
            if self.rooms is not None:
                self.rooms.heard_held(event, now)
        elif isinstance(event, XmppSync):
            self.announce_all()
            if self.rooms is not None:
                self.rooms.announce_all()
        elif isinstance(event, XmppBlocklistChanged):
            self._block_changes += 1
            with contextlib.suppress(JidError):
                self._blocklists.pop(Jid.parse(event.account), None)
        elif isinstance(event, XmppKick):
            with contextlib.suppress(JidError):
                resource = self.full(Jid.parse(event.jid))
                if resource is not None and resource.session is not None:
                    if event.reason:
                        resource.session.disconnect(event.reason)
                    elif resource.bound_at < event.at:
                        resource.session.replaced()

    def _remote(self, event: XmppResource, now: float) -> None:
        try:
            jid = Jid.parse(event.jid)
        except JidError:
            return
        resources = self.accounts.get(jid.bare, {})
        held = resources.get(jid.resource)
        if held is not None and held.local:
            return  # ours: a kick settles who keeps it
        was = wire.serialize(held.last).decode() if held is not None and held.last is not None else ""
        if event.gone:
            if held is not None and held.origin == event.origin:
                del resources[jid.resource]
                if not resources:
                    self.accounts.pop(jid.bare, None)
                if was:
                    self._tell_own(jid, None)
            return
        last = wire.parse_stanza(event.presence) if event.presence else None
        self.accounts.setdefault(jid.bare, {})[jid.resource] = Resource(
            jid, None, event.origin, available=last is not None, priority=event.priority, last=last,
            interested=event.interested, carbons=event.carbons, blocklist=event.blocklist, seen=now)
        if event.presence != was:  # a change, not the same presence announced again
            self._tell_own(jid, last)

    def _tell_own(self, jid: Jid, last: ET.Element[str] | None) -> None:
        """Another worker's resource changed its presence: this worker's available resources of the account
        hear it (`last`, or unavailable where None)."""
        stanza = last if last is not None else ET.Element(C + "presence", {"type": "unavailable",
                                                                           "from": str(jid)})
        for name, resource in self.resources(jid.bare):
            if name != jid.resource and resource.local and resource.available:
                self.send(resource, wire.addressed(stanza, resource.jid))

    def announce_all(self) -> None:
        for resources in list(self.accounts.values()):
            for resource in list(resources.values()):
                if resource.local:
                    self._announce(resource)

    def forget_silent(self, now: float) -> None:
        """Forget the other workers' resources not announced for FORGET_AFTER seconds (a worker that died)."""
        for bare, resources in list(self.accounts.items()):
            for name, resource in list(resources.items()):
                if not resource.local and now - resource.seen > FORGET_AFTER:
                    del resources[name]
            if not resources:
                del self.accounts[bare]

    async def run(self) -> None:
        """Hear the other routers until cancelled; announce this one's resources now and then."""
        if self.bus is None or self._running:
            await asyncio.Event().wait()  # the node's other XMPP listener's task: the first one runs it
            return
        subscription = self.bus.subscribe(topics.XMPP, queue_size=10_000)
        self._running = True
        self._publish(XmppSync(self.origin))
        next_announce = time.monotonic() + ANNOUNCE_EVERY
        try:
            while True:
                waiter = subscription.wait()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter), max(0.0, next_announce - time.monotonic()))
                now = time.monotonic()
                if subscription.overflowed:  # lost events: everyone's resources are announced again
                    subscription.overflowed = False
                    self._publish(XmppSync(self.origin))
                while (event := subscription.get_nowait()) is not None:
                    try:
                        self.heard(event, now)
                    except Exception:
                        self._log.exception("xmpp.router_event_failed", kind=event.kind)
                if now >= next_announce:
                    self.announce_all()
                    self.forget_silent(now)
                    if self.federation is not None:
                        self.federation.expire(now)
                    next_announce = now + ANNOUNCE_EVERY
        finally:
            self._running = False
            subscription.close()


def _changes_shared_groups(event: Event) -> bool:
    """Whether a directory event may change who shares a roster group with whom (not a password or prefs)."""
    if isinstance(event, GroupChanged | DomainChanged | AliasChanged):
        return True
    return isinstance(event, AccountChanged) and event.change in ("created", "deleted", "renamed")


def carbon_eligible(stanza: ET.Element[str]) -> bool:
    """A message whose copies go to the account's other resources (XEP-0280 6): a chat, or a normal
    message with a body; not one marked private or no-copy, nor a carbon itself."""
    kind = stanza.get("type", "normal")
    if kind not in ("chat", "normal") or (kind == "normal" and stanza.find(C + "body") is None):
        return False
    for child in stanza:
        if child.tag in (f"{{{CARBONS_NS}}}private", f"{{{HINTS_NS}}}no-copy", f"{{{CARBONS_NS}}}received",
                         f"{{{CARBONS_NS}}}sent"):
            return False
    return True


def send(session: XmppSession, stanza: ET.Element[str]) -> bool:
    """Write the stanza on this worker's session's stream; False if it cannot take it (gone, or not
    reading)."""
    held = stanza.tag == C + "presence" and stanza.get("type") in (None, "unavailable")
    return session.deliver(wire.serialize(stanza), presence_from=stanza.get("from", "") if held else None)


_ROUTERS: weakref.WeakKeyDictionary[Runtime, Router] = weakref.WeakKeyDictionary()


def router_for(runtime: Runtime) -> Router:
    """The one router of a node's worker (both XMPP listeners share it)."""
    router = _ROUTERS.get(runtime)
    if router is None:
        router = _ROUTERS[runtime] = Router(runtime.bus, runtime)
    return router


class RouterTask:
    """The router's conversation with the other workers, run beside the XMPP listeners (kernel.protocol's
    BackgroundTask)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.router = router_for(runtime)

    async def run(self) -> None:
        rooms = self.router.rooms
        await asyncio.gather(self.router.run(), self.router.follow_directory(), self.expire_archive(),
                             *([rooms.keep_leases()] if rooms is not None else []))

    async def expire_archive(self) -> None:
        """Archived messages past their account's ChatHistoryDays go, once an hour (every worker tries; what
        one removed the others find gone)."""
        log_ = log.get(service="xmpp")
        while True:
            await asyncio.sleep(EXPIRE_ARCHIVE_EVERY)
            for archive, what in ((self.runtime.archive, "accounts"), (self.runtime.room_archive, "rooms")):
                try:
                    gone = await archive.expire()
                except Exception:
                    log_.exception("xmpp.archive_expiry_failed", archive=what)
                    continue
                if gone:
                    log_.info("xmpp.archive_expired", archive=what, messages=gone)
            try:
                files = await self.runtime.uploads.expire()
            except Exception:
                log_.exception("xmpp.upload_expiry_failed")
            else:
                if files:
                    log_.info("xmpp.uploads_expired", files=files)

    async def stop(self, grace: float) -> None:
        """Sessions waiting to be resumed end now; what sessions left behind is finished (within `grace`),
        and what the archive gathered is stored."""
        await self.router.finish(grace)
        if self.router.federation is not None:
            await self.router.federation.close()
        try:
            if self.router.rooms is not None:
                await asyncio.wait_for(self.router.rooms.finish(), max(grace, 1.0))
            await asyncio.wait_for(asyncio.gather(self.runtime.archive.flush(), self.runtime.room_archive.flush()),
                                   max(grace, 1.0))
        except TimeoutError:
            log.get(service="xmpp").warning("xmpp.archive_not_flushed", seconds=max(grace, 1.0))
