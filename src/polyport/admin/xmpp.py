"""Instant messaging's live state: the XMPP sessions of the node (every worker's, as this worker's router
sees them), an account's presence as CommuniGate's GETACCOUNTPRESENCE gives it, ending a session, and the
chat rooms (XEP-0045), an account's roster (read and changed as its clients would). Server administrators
see every domain; a domain administrator its own."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

from polyport.admin.errors import InvalidRequest, NotFound
from polyport.admin.rights import Actor, require_domain, require_master, require_object
from polyport.directory.errors import UnknownObject
from polyport.im.roster import RosterItem, RosterRefused
from polyport.runtime import Runtime
from polyport.xmpp import muc, presence
from polyport.xmpp.jid import Jid, JidError
from polyport.xmpp.rooms import summary as room_summary
from polyport.xmpp.router import C, router_for

# RFC 6121 4.7.2.1's <show/> values, and what an available resource without one is.
SHOWS = ("chat", "away", "xa", "dnd")
ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class XmppSessionInfo:
    jid: str
    available: bool
    priority: int
    show: str  # "online" (available, no <show/>), chat, away, xa, dnd; "" while not available
    status: str  # its status text
    local: bool  # held by the worker that answered (else by another worker of the node)


@dataclass(frozen=True, slots=True)
class XmppRoomInfo:
    jid: str
    name: str
    persistent: bool
    public: bool
    members_only: bool
    password: bool
    occupants: int | None  # None: a persistent room no worker holds now (nobody is in it)
    owners: list[str]


@dataclass(frozen=True, slots=True)
class XmppLinkInfo:
    """A stream with another server (federation): ours to it ("out") or its to us ("in")."""

    direction: str
    local: str  # our domain
    remote: str  # the other server's domain
    state: str  # out: ready, connecting, waiting (a back-off after a failure), idle; in: accepted, negotiating
    authenticated_by: str  # certificate (XEP-0178), dialback (XEP-0220) or ""
    stanzas: int  # sent (out) or received (in) on it
    queued: int  # waiting for it (out)
    failures: int  # attempts failed in a row (out)
    remote_ip: str  # in: the peer's address


async def xmpp_links(runtime: Runtime, actor: Actor) -> list[XmppLinkInfo]:
    """The streams with other servers of the worker that answers (each worker has its own)."""
    require_master(actor)
    federation = router_for(runtime).federation
    if federation is None:
        return []
    found = [XmppLinkInfo("out", str(link["local"]), str(link["remote"]), str(link["state"]),
                          str(link["authenticated_by"]), int(str(link["sent"])), int(str(link["queued"])),
                          int(str(link["failures"])), "")
             for link in federation.summary()]
    for session in list(federation.incoming):
        pairs = sorted(session.accepted_by.items()) or [((session.remote or "?", session.domain or "?"), "")]
        for (remote, local), how in pairs:
            found.append(XmppLinkInfo("in", local, remote, "accepted" if how else "negotiating", how,
                                      session.stanzas, 0, 0, session.conn.remote_ip))
    return sorted(found, key=lambda info: (info.remote, info.direction, info.local))


def _show_and_status(resource: object) -> tuple[str, str]:
    last = getattr(resource, "last", None)
    if not getattr(resource, "available", False) or last is None:
        return "", ""
    show = (last.findtext(C + "show") or "").strip()
    return (show if show in SHOWS else ONLINE), (last.findtext(C + "status") or "").strip()


async def xmpp_sessions(runtime: Runtime, actor: Actor, domain: str | None = None) -> list[XmppSessionInfo]:
    """The bound resources of the node (of `domain`, when given), by JID."""
    if domain is None:
        require_master(actor)
    else:
        domain = await require_domain(runtime.directory, actor, domain)
    found = []
    for bare, resources in list(router_for(runtime).accounts.items()):
        if domain is not None and bare.domain != domain:
            continue
        for resource in list(resources.values()):
            show, status = _show_and_status(resource)
            found.append(XmppSessionInfo(str(resource.jid), resource.available, resource.priority, show, status,
                                         resource.local))
    return sorted(found, key=lambda info: info.jid)


async def account_presence(runtime: Runtime, actor: Actor, address: str) -> tuple[str, str]:
    """The account's presence over all its clients (CommuniGate's aggregation): the show and status of
    its available resource of the highest priority ("offline" and "" when none is available)."""
    address = await require_object(runtime.directory, actor, address, own=True)
    record = await runtime.directory.login_record(address)
    if record is None:
        raise UnknownObject(f"no account {address}", "account")
    bare = Jid.parse(record.address)
    available = router_for(runtime).available(bare)
    if not available:
        return OFFLINE, ""
    return _show_and_status(max(available, key=lambda resource: resource.priority))


async def _roster_owner(runtime: Runtime, actor: Actor, address: str) -> tuple[int, Jid]:
    """The account whose roster is asked for (an administrator of its domain, or the account itself)."""
    address = await require_object(runtime.directory, actor, address, own=True)
    record = await runtime.directory.login_record(address)
    if record is None:
        raise UnknownObject(f"no account {address}", "account")
    return record.account_id, Jid.parse(record.address)


def _contact(jid: str) -> Jid:
    try:
        contact = Jid.parse(jid).bare
    except JidError:
        raise InvalidRequest(f"{jid!r} is not a JID") from None
    return contact


async def account_roster(runtime: Runtime, actor: Actor, address: str) -> list[RosterItem]:
    """The account's roster as its clients see it (its shared roster groups' members included), by contact."""
    account_id, owner = await _roster_owner(runtime, actor, address)
    _, items = await presence.roster(runtime, router_for(runtime), account_id, owner)
    return sorted(items, key=lambda item: item.contact)


async def set_roster_item(runtime: Runtime, actor: Actor, address: str, contact: str, name: str | None,
                          groups: tuple[str, ...] | None) -> RosterItem:
    """Add a contact to the account's roster, or change its name or groups (None keeps what it has), as a
    client's roster set does (the subscription stays the server's; the account's clients get the push).
    The item as the clients see it."""
    account_id, owner = await _roster_owner(runtime, actor, address)
    router = router_for(runtime)
    jid, _ = await presence.contact_of(runtime, router, _contact(contact))
    if jid == owner.bare:
        raise InvalidRequest("an account is not a contact of its own")
    if name is None or groups is None:
        current = await runtime.rosters.item(account_id, str(jid))
        kept = current if current is not None and current.listed else RosterItem(str(jid))
        name = kept.name if name is None else name
        groups = kept.groups if groups is None else groups
    try:
        version, stored = await runtime.rosters.set_item(account_id, str(jid), name, groups)
    except RosterRefused as err:
        raise InvalidRequest(str(err)) from None
    group = (await router.shared_contacts(runtime, owner)).get(jid)  # the push shows the shared groups too
    presence.push_roster(router, owner, version, stored)
    return stored if group is None else presence.shared_item(stored, group)


async def remove_roster_item(runtime: Runtime, actor: Actor, address: str, contact: str) -> None:
    """Remove a contact from the account's roster as its client would: the subscriptions both ways end."""
    account_id, owner = await _roster_owner(runtime, actor, address)
    router = router_for(runtime)
    jid, reachable = await presence.contact_of(runtime, router, _contact(contact))
    removed = await runtime.rosters.remove(account_id, str(jid))
    if removed is None:
        raise NotFound(f"{jid} is not in the roster of {owner}")
    await presence.contact_removed(runtime, router, owner, jid, *removed, reachable)


async def kick_xmpp_session(runtime: Runtime, actor: Actor, jid: str) -> int:
    """End the session bound to a full JID, or every session of a bare one; how many were ended."""
    try:
        named = Jid.parse(jid)
    except JidError:
        raise InvalidRequest(f"{jid!r} is not a JID") from None
    if not named.local:
        raise InvalidRequest("name an account's JID (with its resource for one session)")
    await require_object(runtime.directory, actor, str(named.bare))
    record = await runtime.directory.login_record(str(named.bare))  # an alias names its account
    if record is None:
        raise UnknownObject(f"no account {named.bare}", "account")
    router = router_for(runtime)
    targets = [resource.jid for _, resource in router.resources(Jid.parse(record.address))
               if not named.resource or resource.jid.resource == named.resource]
    if not targets:
        raise NotFound(f"no session of {jid}")
    for target in targets:
        router.disconnect(target, "ended by an administrator")
    return len(targets)


async def destroy_xmpp_room(runtime: Runtime, actor: Actor, jid: str, reason: str = "") -> None:
    """Destroy a chat room as its owners can (XEP-0045 10.9: its occupants are told, a persistent room
    leaves the store with its archive), wherever it is held."""
    label = runtime.config.xmpp.rooms
    try:
        room = Jid.parse(jid).bare
    except JidError:
        raise InvalidRequest(f"{jid!r} is not a JID") from None
    if not label or not room.local or not room.domain.startswith(label + "."):
        raise InvalidRequest(f"name a room: room@{label or 'conference'}.<domain>")
    await require_domain(runtime.directory, actor, room.domain[len(label) + 1:])
    rooms = router_for(runtime).rooms
    if rooms is None or not await rooms.exists(room):
        raise NotFound(f"no room {room}")
    service = Jid("", room.domain)
    iq = ET.Element(C + "iq", {"type": "set", "id": "admin-destroy", "from": str(service), "to": str(room)})
    destroy = ET.SubElement(ET.SubElement(iq, muc.OWNER + "query"), muc.OWNER + "destroy")
    if reason:
        ET.SubElement(destroy, muc.OWNER + "reason").text = reason[:muc.MAX_TEXT]
    await rooms.submit(iq, service)


async def xmpp_rooms(runtime: Runtime, actor: Actor, domain: str | None = None) -> list[XmppRoomInfo]:
    """The chat rooms: those the node's workers hold (this one's, and the others' as they announced them)
    and the persistent ones nobody holds now (from the store), of `domain`'s service when given."""
    if domain is None:
        require_master(actor)
    else:
        domain = await require_domain(runtime.directory, actor, domain)
    rooms = router_for(runtime).rooms
    label = runtime.config.xmpp.rooms
    service = f"{label}.{domain}" if domain is not None else None
    found: dict[str, dict[str, object]] = {}  # room -> its summary (xmpp/rooms.py's)
    for stored in await runtime.rooms.rooms(service):
        if service is None and label and not stored.service.startswith(label + "."):
            continue
        found[f"{stored.name}@{stored.service}"] = room_summary(
            muc.Config.from_dict(stored.state.get("config", {})), stored.state.get("affiliations", {}), None)
    if rooms is not None:
        held = [*rooms.held_elsewhere().items(),  # other workers', as they announced them; then this one's
                *((jid, rooms.summary(room)) for jid, room in list(rooms.rooms.items()))]
        for jid, summary in held:
            if service is None or jid.domain == service:
                found[str(jid)] = summary
    return [_room_info(jid, found[jid]) for jid in sorted(found)]


def _room_info(jid: str, summary: dict[str, object]) -> XmppRoomInfo:
    owners, occupants = summary.get("owners"), summary.get("occupants")
    return XmppRoomInfo(jid, str(summary.get("name", "")), bool(summary.get("persistent")), bool(summary.get("public")),
                        bool(summary.get("members_only")), bool(summary.get("password")),
                        None if occupants is None else int(str(occupants)),
                        [str(owner) for owner in owners] if isinstance(owners, list) else [])
