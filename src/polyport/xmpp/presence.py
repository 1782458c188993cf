"""Presence between accounts (RFC 6121 3 and 4): subscription stanzas through both sides' rosters, and an
account's presence to the contacts subscribed to it, among the accounts of this node's worker.

The user's side and the contact's side are both here: an outbound subscription stanza changes the user's
roster item (im/subscriptions.py's state machine), and if it goes on, arrives as an inbound one at the
contact's (or goes to the contact's server, for another server's contact: xmpp/federation.py), which may
be answered for the contact ("subscribed" when the subscription was approved before). Each side's roster
changes are pushed to its interested resources; a request waiting for the contact is delivered to its
available resources, now or when it next becomes available.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from xml.etree import ElementTree as ET

from polyport.im import RosterItem, RosterRefused
from polyport.runtime import Runtime
from polyport.xmpp import wire
from polyport.xmpp.jid import Jid
from polyport.xmpp.router import Router

C = "{" + wire.CLIENT_NS + "}"
ROSTER_NS = "jabber:iq:roster"
ROSTER = "{" + ROSTER_NS + "}"


def roster_item(item: RosterItem, *, removed: bool = False) -> ET.Element[str]:
    """The `<item/>` of a roster result or push (RFC 6121 2.1.2)."""
    if removed:  # RFC 6121 2.5.2: the push names the contact alone
        return ET.Element(ROSTER + "item", {"jid": item.contact, "subscription": "remove"})
    element = ET.Element(ROSTER + "item", {"jid": item.contact, "subscription": item.subscription})
    if item.name:
        element.set("name", item.name)
    if item.ask:
        element.set("ask", "subscribe")
    for group in item.groups:
        ET.SubElement(element, ROSTER + "group").text = group
    return element


async def roster(runtime: Runtime, router: Router, account_id: int, account: Jid) -> tuple[int, list[RosterItem]]:
    """The account's roster as its clients see it: its own items, and the members of its shared roster groups
    (subscribed both ways, under the group's name; an own item for one completed so), with the stored
    roster's version (what clients are shown is router.roster_version's)."""
    version, items = await runtime.rosters.roster(account_id)
    shared = await router.shared_contacts(runtime, account)
    if not shared:
        return version, items
    by_contact = {str(contact): group for contact, group in shared.items()}
    merged = [shared_item(item, by_contact.pop(item.contact, None)) for item in items]
    merged.extend(RosterItem(contact, "", "both", groups=(group,)) for contact, group in sorted(by_contact.items()))
    return version, merged


def shared_item(item: RosterItem, group: str | None) -> RosterItem:
    """An own item for a member of a shared roster group (`group`): subscribed both ways, in that group too."""
    if group is None:
        return item
    return replace(item, subscription="both", groups=item.groups if group in item.groups else (*item.groups, group))


def push_roster(router: Router, account: Jid, version: int, item: RosterItem, *, removed: bool = False) -> None:
    """A roster push of a change to the account's own item (RFC 6121 2.1.6), as its clients see the roster:
    a member of a shared roster group stays there (subscribed both ways) whatever its own item says."""
    group = router.shared_now(account.bare).get(Jid.parse(item.contact))
    if group is not None:
        element = roster_item(shared_item(item, group) if not removed
                              else RosterItem(item.contact, "", "both", groups=(group,)))
    else:
        element = roster_item(item, removed=removed)
    push_roster_element(router, account, router.roster_version(account.bare, version), element)


def push_roster_element(router: Router, account: Jid, version: str, item: ET.Element[str]) -> None:
    """A roster push to every resource of the account that asked for the roster (RFC 6121 2.1.6)."""
    for _, resource in router.resources(account.bare):
        if resource.interested:
            push = ET.Element(C + "iq", {"type": "set", "id": f"push-{secrets.token_hex(6)}",
                                        "to": str(resource.jid)})
            ET.SubElement(push, ROSTER + "query", {"ver": version}).append(item)
            router.send(resource, push)


def presence_of(router: Router, account: Jid, to: Jid) -> None:
    """The account's available resources' last presence, to `to`'s available resources (a probe's
    answer, RFC 6121 4.3.2; and what a new subscriber gets, 3.1.5)."""
    for _, resource in router.resources(account.bare):
        if resource.last is not None:
            router.deliver_presence(wire.addressed(resource.last, to, sender=resource.jid), to)


def unavailable_from(router: Router, account: Jid, to: Jid) -> None:
    """Unavailable presence from each of the account's available resources (a subscription ended: 3.2.2)."""
    for _, resource in router.resources(account.bare):
        if resource.available:
            presence = ET.Element(C + "presence", {"type": "unavailable", "from": str(resource.jid)})
            router.deliver_presence(wire.addressed(presence, to), to)


async def contact_of(runtime: Runtime, router: Router, contact: Jid) -> tuple[Jid, bool]:
    """A roster item's contact as stored (a local account under its address, by any of its names) and
    whether subscription stanzas reach it (a local account; another server's while federation is on)."""
    local = await router.addressee(runtime, contact)
    if local is not None:
        return local.jid, True
    federation = router.federation
    return contact, federation is not None and not await federation.is_local(contact.domain)


async def contact_removed(runtime: Runtime, router: Router, user: Jid, contact: Jid, version: int,
                          old: RosterItem, reachable: bool) -> None:
    """What follows the removal of `contact` from the user's roster: the push to its clients, and (RFC
    6121 2.5.2) the subscriptions both ways cancelled where the contact can be told."""
    shared = await router.shared_contacts(runtime, user.bare)  # what the push shows needs the shared groups
    push_roster(router, user, version, old, removed=True)
    if not reachable:
        return
    if old.state.to or old.ask:
        await subscription_to(runtime, router, user.bare, contact, "unsubscribe")
    if old.state.from_ or old.pending_in:
        await subscription_to(runtime, router, user.bare, contact, "unsubscribed")
        if contact not in shared:  # they still see it
            unavailable_from(router, user, contact)


async def outbound(runtime: Runtime, router: Router, account_id: int, user: Jid, contact: Jid, kind: str) -> None:
    """The user's subscription stanza `kind` to `contact` (a bare JID, of this server or another)."""
    version, item, outcome = await runtime.rosters.subscription(account_id, str(contact), kind, outbound=True)
    if version is not None:
        push_roster(router, user, version, item)
    if not outcome.goes_on:
        return
    await subscription_to(runtime, router, user.bare, contact, kind)
    if kind == "subscribed":  # the contact now sees the user's presence (RFC 6121 3.1.5)
        presence_of(router, user, contact)
    elif kind == "unsubscribed":  # and no longer (3.2.2)
        unavailable_from(router, user, contact)
    elif kind == "unsubscribe":  # the user no longer sees the contact's (3.3.3)
        unavailable_from(router, contact, user)


async def inbound(runtime: Runtime, router: Router, user: Jid, contact: Jid, kind: str) -> None:
    """`contact`'s subscription stanza `kind` arriving for the local account `user` (both bare JIDs)."""
    found = await router.addressee(runtime, user)
    if found is None:
        return  # the account went away meanwhile: nothing to change, nobody to tell
    try:
        version, item, outcome = await runtime.rosters.subscription(found.account_id, str(contact), kind,
                                                                    outbound=False)
    except RosterRefused:
        return  # the user's roster is full: the contact's request is not kept (it may ask again)
    if version is not None:
        push_roster(router, user, version, item)
    if outcome.goes_on:
        presence = ET.Element(C + "presence", {"type": kind, "from": str(contact), "to": str(user)})
        router.deliver_presence(presence, user)
    if outcome.auto_reply == "subscribed":  # approved before (RFC 6121 3.1.3): answered for the user
        await subscription_to(runtime, router, user, contact, "subscribed")
        presence_of(router, user, contact)


async def subscription_to(runtime: Runtime, router: Router, sender: Jid, contact: Jid, kind: str) -> None:
    """A subscription stanza from a local account to `contact`: inbound at once for a local contact, to its
    server for another's."""
    federation = router.federation
    if federation is not None and not await federation.is_local(contact.domain):
        federation.send(ET.Element(C + "presence", {"type": kind, "from": str(sender), "to": str(contact)}))
    else:
        await inbound(runtime, router, contact, sender, kind)


async def waiting_requests(runtime: Runtime, router: Router, account_id: int, to: Jid) -> list[ET.Element[str]]:
    """The subscription requests waiting for the user, as the stanzas to deliver to `to` (RFC 6121 3.1.3:
    when the contact next becomes available); not those of contacts the user blocks (XEP-0191 3.4)."""
    return [ET.Element(C + "presence", {"type": "subscribe", "from": item.contact, "to": str(to)})
            for item in await runtime.rosters.waiting(account_id)
            if not await router.blocks(runtime, to.bare, account_id, Jid.parse(item.contact))]
