"""`polyport xmpp ...`: instant messaging's live sessions, on the running node of the data folder (its CLI/API
on loopback, as postmaster) or on the node named with --server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import click

from polyport import datadir
from polyport.cli.common import fail, local_or_remote, remote_call, with_remote_directory
from polyport.config import Config


async def _running_node(config: Config, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """`work(call)` on the node running on this data folder: only a running node knows its sessions."""
    status = datadir.read_status(config.data_dir)
    if status is None:
        fail(f"no node is running on {config.data_dir}: sessions exist only while it runs (or give --server)")
    listener = next((b for b in status.listeners if b.service == "cliapi" and b.transport == "tcp"), None)
    if listener is None:
        fail("the running node has no CLI/API listener: give --server")
    host = "127.0.0.1" if listener.host in ("0.0.0.0", "", "*") else listener.host  # a wildcard bind
    host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
    return await with_remote_directory(f"{host}:{listener.port}", "postmaster", False, True,
                                       lambda remote: work(remote_call(remote)))


node_admin = local_or_remote(_running_node, remote_call)


def shown_plainly(entries: list[dict[str, Any]], as_json: bool, none: str) -> bool:
    """Whether the listing is shown already: as JSON lines (one object each), or as `none` when empty."""
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry))
        return True
    if not entries:
        click.echo(none)
        return True
    return False


@click.group()
def xmpp() -> None:
    """Instant messaging (XMPP): the sessions and chat rooms of a running node."""


@xmpp.command("sessions")
@click.option("--domain", help="Only this domain's sessions (a domain administrator must name one).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per session.")
@node_admin
async def sessions_command(call: Any, domain: str | None, as_json: bool) -> None:
    """The bound resources, by JID, with their presence."""
    entries = await call("LISTXMPPSESSIONS", *([domain] if domain else []))
    if shown_plainly(entries, as_json, "no XMPP sessions"):
        return
    click.echo(f"{'JID':<48} {'presence':<10} {'prio':>4}  status")
    for e in entries:
        presence = e["Show"] if e["Available"] == "YES" else "-"
        click.echo(f"{e['JID']:<48} {presence:<10} {e['Priority']:>4}  {e['Status']}")


@xmpp.command("kick")
@click.argument("jid")
@node_admin
async def kick_command(call: Any, jid: str) -> None:
    """End the session of a full JID (user@domain/resource), or every session of user@domain."""
    ended = await call("KICKXMPPSESSION", jid)
    click.echo(f"ended {ended} session(s)")


@xmpp.command("rooms")
@click.option("--domain", help="Only this domain's rooms (a domain administrator must name one).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per room.")
@node_admin
async def rooms_command(call: Any, domain: str | None, as_json: bool) -> None:
    """The chat rooms (XEP-0045): persistent ones, and temporary ones with someone in them."""
    entries = await call("LISTXMPPROOMS", *([domain] if domain else []))
    if shown_plainly(entries, as_json, "no chat rooms"):
        return
    click.echo(f"{'room':<48} {'kind':<10} {'in':>4}  name")
    for e in entries:
        kind = ("persistent" if e["Persistent"] == "YES" else "temporary")
        click.echo(f"{e['JID']:<48} {kind:<10} {e.get('Occupants', '-'):>4}  {e['Name']}")


@xmpp.command("destroy-room")
@click.argument("jid")
@click.option("--reason", default="", help="What the occupants are told.")
@node_admin
async def destroy_room_command(call: Any, jid: str, reason: str) -> None:
    """Destroy a chat room (room@conference.<domain>): its occupants are told, a persistent room is deleted
    with its archive."""
    await call("DESTROYXMPPROOM", jid, *([reason] if reason else []))
    click.echo(f"destroyed {jid}")


@xmpp.command("links")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per stream.")
@node_admin
async def links_command(call: Any, as_json: bool) -> None:
    """The streams with other XMPP servers (federation), both ways, and how each proved its domain."""
    entries = await call("LISTXMPPLINKS")
    if shown_plainly(entries, as_json, "no streams with other servers"):
        return
    click.echo(f"{'remote':<32} {'dir':<4} {'local':<24} {'state':<12} {'proved by':<12} {'stanzas':>8}")
    for e in entries:
        click.echo(f"{e['Remote']:<32} {e['Direction']:<4} {e['Local']:<24} {e['State']:<12} "
                   f"{e['AuthenticatedBy'] or '-':<12} {e['Stanzas']:>8}")


@xmpp.command("presence")
@click.argument("account")
@node_admin
async def presence_command(call: Any, account: str) -> None:
    """An account's presence over all its clients."""
    found = await call("GETACCOUNTPRESENCE", account)
    click.echo(" ".join(found) if isinstance(found, list) else found)


@xmpp.command("roster")
@click.argument("account")
@click.option("--set", "contact", metavar="JID", help="Add this contact, or change its name and groups.")
@click.option("--name", help="With --set: the contact's name in the roster (kept when not given).")
@click.option("--group", "groups", multiple=True,
              help="With --set: a group to put it in (repeat for several; its groups are kept when none is given).")
@click.option("--remove", metavar="JID", help="Remove this contact (the subscriptions both ways end).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per contact.")
@node_admin
async def roster_command(call: Any, account: str, contact: str | None, name: str | None, groups: tuple[str, ...],
                         remove: str | None, as_json: bool) -> None:
    """An account's roster; with --set or --remove, a change to it (its clients are told at once)."""
    if contact and remove:
        fail("give --set or --remove, not both")
    if (name or groups) and not contact:
        fail("--name and --group go with --set")
    if remove:
        await call("ROSTER", account, {"what": "remove", "peer": remove})
        click.echo(f"removed {remove}")
        return
    if contact:
        change: dict[str, Any] = {"what": "Update", "peer": contact}
        if name is not None:
            change["RealName"] = name
        if groups:
            change["Groups"] = list(groups)
        await call("ROSTER", account, change)
        click.echo(f"set {contact}")
        return
    found = await call("ROSTER", account, {"what": "List"})
    entries = [{"JID": jid, **entry} for jid, entry in found.items()]
    if shown_plainly(entries, as_json, "the roster is empty"):
        return
    click.echo(f"{'contact':<40} {'subscription':<16} {'name':<20} groups")
    for e in entries:
        state = e["Subscription"] + (" +ask" if e.get("Ask") else "") + (" +pending" if e.get("Pending") else "")
        click.echo(f"{e['JID']:<40} {state:<16} "
                   f"{e.get('RealName', ''):<20} {', '.join(e.get('Groups', []))}")


def register(cli: click.Group) -> None:
    cli.add_command(xmpp)
