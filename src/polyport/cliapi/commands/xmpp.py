"""Instant messaging: CommuniGate's GETACCOUNTPRESENCE and ROSTER, and Polyport's own LISTXMPPSESSIONS,
KICKXMPPSESSION, LISTXMPPROOMS, DESTROYXMPPROOM and LISTXMPPLINKS (CommuniGate shows its IM sessions and
chat rooms in WebAdmin only)."""

from __future__ import annotations

from polyport.admin import xmpp as xmpp_admin
from polyport.admin.errors import InvalidRequest
from polyport.cliapi.commands import Context, command, dictionary
from polyport.cliapi.wire import Parser, Value
from polyport.im.roster import RosterItem


@command("GETACCOUNTPRESENCE")
async def get_account_presence(cx: Context, args: Parser) -> Value:
    """name: the account's presence over all its clients: its status (online, chat, away, xa, dnd or
    offline) as a string, or an array of the status and the status text when it has one."""
    address = cx.address(args.string())
    args.end()
    show, status = await xmpp_admin.account_presence(cx.runtime, cx.actor, address)
    return [show, status] if status else show


def _roster_entry(item: RosterItem) -> dict[str, Value]:
    entry: dict[str, Value] = {"Subscription": item.subscription}
    if item.name:
        entry["RealName"] = item.name
    if item.groups:
        entry["Groups"] = list[Value](item.groups)
    if item.ask:
        entry["Ask"] = "subscribe"
    if item.pending_in:
        entry["Pending"] = "YES"
    return entry


@command("ROSTER")
async def roster(cx: Context, args: Parser) -> Value:
    """name {what=List|Update|remove; peer=jid; ...}: the account's roster. List: a dictionary of its
    contacts by JID, each {Subscription (both, to, from or none); RealName; Groups; Ask; Pending}. Update:
    add the peer or change its RealName and Groups (as a client's roster set: the subscription stays).
    remove: remove the peer, ending the subscriptions both ways. The account's clients get the pushes; an
    Update without RealName or Groups keeps what the contact has."""
    address = cx.address(args.string())
    params = dictionary(args)
    args.end()
    what = str(params.get("what", "")).lower()
    if what == "list":
        items = await xmpp_admin.account_roster(cx.runtime, cx.actor, address)
        return {item.contact: _roster_entry(item) for item in items}
    if what not in ("update", "remove"):
        raise InvalidRequest("what is List, Update or remove")
    peer = params.get("peer")
    if not isinstance(peer, str) or not peer:
        raise InvalidRequest("name the contact as peer")
    if what == "update":
        groups = params.get("Groups")
        if isinstance(groups, str):
            groups = [groups]
        if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) for g in groups)):
            raise InvalidRequest("Groups is an array of group names")
        name = params.get("RealName")
        if name is not None and not isinstance(name, str):
            raise InvalidRequest("RealName is a string")
        item = await xmpp_admin.set_roster_item(cx.runtime, cx.actor, address, peer, name,
                                                None if groups is None else tuple(str(g) for g in groups))
        return _roster_entry(item)
    await xmpp_admin.remove_roster_item(cx.runtime, cx.actor, address, peer)
    return None


@command("LISTXMPPSESSIONS")
async def list_xmpp_sessions(cx: Context, args: Parser) -> Value:
    """[domain]: the node's XMPP sessions (of the domain), by JID (Polyport's own)."""
    domain = None if args.at_end() else args.string()
    args.end()
    return [{"JID": info.jid, "Available": "YES" if info.available else "NO", "Priority": str(info.priority),
             "Show": info.show, "Status": info.status}
            for info in await xmpp_admin.xmpp_sessions(cx.runtime, cx.actor, domain)]


@command("KICKXMPPSESSION")
async def kick_xmpp_session(cx: Context, args: Parser) -> Value:
    """jid: end the session of a full JID, or every session of an account's bare JID (Polyport's own);
    the number ended."""
    jid = args.string()
    args.end()
    return str(await xmpp_admin.kick_xmpp_session(cx.runtime, cx.actor, jid))


@command("DESTROYXMPPROOM")
async def destroy_xmpp_room(cx: Context, args: Parser) -> Value:
    """jid [reason]: destroy a chat room as its owners can: its occupants are told (with the reason), a
    persistent room leaves the store with its archive (Polyport's own)."""
    jid = args.string()
    reason = "" if args.at_end() else args.string()
    args.end()
    await xmpp_admin.destroy_xmpp_room(cx.runtime, cx.actor, jid, reason)
    return None


@command("LISTXMPPROOMS")
async def list_xmpp_rooms(cx: Context, args: Parser) -> Value:
    """[domain]: the chat rooms (of the domain's service), by JID (Polyport's own): those the node's workers
    hold, and the persistent ones nobody is in (without Occupants)."""
    domain = None if args.at_end() else args.string()
    args.end()
    listed: list[Value] = []
    for info in await xmpp_admin.xmpp_rooms(cx.runtime, cx.actor, domain):
        entry: dict[str, Value] = {
            "JID": info.jid, "Name": info.name, "Persistent": "YES" if info.persistent else "NO",
            "Public": "YES" if info.public else "NO", "MembersOnly": "YES" if info.members_only else "NO",
            "Password": "YES" if info.password else "NO", "Owners": list[Value](info.owners)}
        if info.occupants is not None:
            entry["Occupants"] = str(info.occupants)
        listed.append(entry)
    return listed


@command("LISTXMPPLINKS")
async def list_xmpp_links(cx: Context, args: Parser) -> Value:
    """The streams with other XMPP servers (federation) of the worker that answers (Polyport's own): ours to
    them (Direction out) and theirs to us (in), with how each side proved its domain."""
    args.end()
    return [{"Direction": info.direction, "Local": info.local, "Remote": info.remote, "State": info.state,
             "AuthenticatedBy": info.authenticated_by, "Stanzas": str(info.stanzas), "Queued": str(info.queued),
             "Failures": str(info.failures), "RemoteIP": info.remote_ip}
            for info in await xmpp_admin.xmpp_links(cx.runtime, cx.actor)]
