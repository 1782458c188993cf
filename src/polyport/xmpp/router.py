"""Stanzas between the clients of one worker (RFC 6120 10, RFC 6121 8.5): the bound resources, their
availability and priority, and delivery by the RFC's rules for each kind of stanza and address.

Delivery to a bare JID (`juliet@example.com`): a message of type normal, chat or headline goes to every
available resource of non-negative priority (RFC 6121 8.5.2.1.1 allows all of them, as Prosody does);
groupchat and error messages to a bare JID are dropped; presence goes to every available resource; an
iq is the server's to answer (the session does). To a full JID: the resource if it is bound, else a
message falls back to the bare JID's rules (8.5.3.2.1), presence and iq are dropped or refused.

What is not built yet (issue 16): routing between a node's worker processes (each worker knows only its
own clients), offline storage (XEP-0160), rosters and subscriptions; a message nobody can take is
answered `service-unavailable`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from polyport.runtime import Runtime
from polyport.xmpp import wire
from polyport.xmpp.jid import Jid

if TYPE_CHECKING:
    from polyport.xmpp.session import XmppSession

C = "{" + wire.CLIENT_NS + "}"
CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"
HINTS_NS = "urn:xmpp:hints"


@dataclass(slots=True)
class Resource:
    session: XmppSession
    available: bool = False  # sent available presence (RFC 6121 4.2)
    priority: int = 0
    last: ET.Element[str] | None = None  # its last available presence, for the account's new resources
    interested: bool = False  # asked for the roster: it gets roster pushes (RFC 6121 2.1.6)
    carbons: bool = False  # gets copies of the account's chats its other resources send and receive


@dataclass(slots=True)
class Account:
    resources: dict[str, Resource] = field(default_factory=dict)


class Router:
    """The bound resources of one worker, by bare JID."""

    def __init__(self) -> None:
        self.accounts: dict[Jid, Account] = {}

    def bind(self, session: XmppSession, jid: Jid) -> XmppSession | None:
        """Register `session` as `jid`; the session that held that full JID before, if any (RFC 6120
        7.7.2.2: the new one wins, the old one is ended with a `conflict` stream error by the caller)."""
        account = self.accounts.setdefault(jid.bare, Account())
        old = account.resources.get(jid.resource)
        account.resources[jid.resource] = Resource(session)
        return old.session if old is not None and old.session is not session else None

    def unbind(self, session: XmppSession, jid: Jid) -> None:
        account = self.accounts.get(jid.bare)
        if account is None:
            return
        resource = account.resources.get(jid.resource)
        if resource is not None and resource.session is session:
            del account.resources[jid.resource]
        if not account.resources:
            del self.accounts[jid.bare]

    def set_presence(self, jid: Jid, presence: ET.Element[str] | None, priority: int = 0) -> None:
        """The resource's presence: an available one (with its priority), or None once unavailable."""
        account = self.accounts.get(jid.bare)
        resource = account.resources.get(jid.resource) if account is not None else None
        if resource is not None:
            resource.available, resource.priority, resource.last = presence is not None, priority, presence

    def interested(self, jid: Jid) -> None:
        resource = self.full(jid)
        if resource is not None:
            resource.interested = True

    def set_carbons(self, jid: Jid, enabled: bool) -> None:
        resource = self.full(jid)
        if resource is not None:
            resource.carbons = enabled

    def resources(self, bare: Jid) -> Iterator[tuple[str, Resource]]:
        account = self.accounts.get(bare)
        return iter(list(account.resources.items())) if account is not None else iter(())

    def available(self, bare: Jid, *, minimum_priority: int | None = None) -> list[Resource]:
        return [r for _, r in self.resources(bare)
                if r.available and (minimum_priority is None or r.priority >= minimum_priority)]

    def full(self, jid: Jid) -> Resource | None:
        account = self.accounts.get(jid.bare)
        return account.resources.get(jid.resource) if account is not None else None

    def deliver_message(self, stanza: ET.Element[str], to: Jid) -> bool:
        """Whether anyone took the message (RFC 6121 8.5.2, 8.5.3); the account's resources with carbons
        enabled that did not get it get a copy (XEP-0280 'received')."""
        took: list[Resource] = []
        if to.resource and (resource := self.full(to)) is not None:
            if send(resource.session, stanza):
                took.append(resource)
        elif stanza.get("type", "normal") in ("groupchat", "error"):
            return True  # dropped silently (8.5.2.1.1, 8.5.3.2.1)
        else:
            took = [r for r in self.available(to.bare, minimum_priority=0) if send(r.session, stanza)]
        if took and carbon_eligible(stanza):
            self.carbons(to.bare, stanza, "received", skip=took)
        return bool(took)

    def carbons(self, account: Jid, stanza: ET.Element[str], direction: str, skip: list[Resource]) -> None:
        """Copies of a chat to the account's carbons-enabled resources but those in `skip` (XEP-0280)."""
        for _, resource in self.resources(account):
            if resource.carbons and all(resource is not r for r in skip) and resource.session.jid is not None:
                copy = ET.Element(C + "message", {"from": str(account), "to": str(resource.session.jid),
                                                  "type": stanza.get("type", "normal")})
                wrapper = ET.SubElement(copy, "{" + CARBONS_NS + "}" + direction)
                ET.SubElement(wrapper, "{" + FORWARD_NS + "}forwarded").append(stanza)
                send(resource.session, copy)

    def deliver_presence(self, stanza: ET.Element[str], to: Jid) -> None:
        if to.resource:
            resource = self.full(to)
            if resource is not None:
                send(resource.session, stanza)
            return
        for _, resource in self.resources(to.bare):  # to a bare JID: its available resources (8.5.2.1.1)
            if resource.available and resource.session.jid is not None:
                send(resource.session, stanza)


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
    """Write the stanza on the session's stream; False if it cannot take it (gone, or not reading)."""
    conn = session.conn
    if session.finished or conn.writing_paused:
        return False
    conn.write(wire.serialize(stanza))
    return True


_ROUTERS: weakref.WeakKeyDictionary[Runtime, Router] = weakref.WeakKeyDictionary()


def router_for(runtime: Runtime) -> Router:
    """The one router of a node's worker (both XMPP listeners share it)."""
    router = _ROUTERS.get(runtime)
    if router is None:
        router = _ROUTERS[runtime] = Router()
    return router
