"""Instant messaging's administration over the CLI/API and `polyport xmpp`: an account's presence over its
clients (GETACCOUNTPRESENCE), the node's sessions (LISTXMPPSESSIONS), ending one (KICKXMPPSESSION) and the chat rooms
(LISTXMPPROOMS)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from polyport.cli.main import cli
from tests.cliapi.conftest import Cli
from tests.node_thread import POSTMASTER_PASSWORD, eventually
from tests.xmpp.conftest import PASSWORD, XmppNode, bound

STREAMS = "{urn:ietf:params:xml:ns:xmpp-streams}"


@contextlib.asynccontextmanager
async def webadmin(node: XmppNode) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser logged in to the node's WebAdmin as postmaster."""
    from tests.web.conftest import browser

    port = next(b.port for b in node.running.node.bound_listeners() if b.service == "webadmin")
    async with browser(f"http://127.0.0.1:{port}") as client:
        async with client.post("/login", data={"name": "postmaster@example.com", "password": POSTMASTER_PASSWORD},
                               allow_redirects=False) as response:
            assert response.status == 303
        yield client


def cli_port(node: XmppNode) -> int:
    return next(b.port for b in node.running.node.bound_listeners() if b.service == "cliapi")


def test_presence_sessions_and_kick(xmpp_node: XmppNode, monkeypatch: pytest.MonkeyPatch) -> None:
    address = xmpp_node.account()
    phone, _ = bound(xmpp_node, "phone", address)
    phone.send("<presence><show>away</show><status>at lunch</status><priority>5</priority></presence>")
    desk, _ = bound(xmpp_node, "desk", address)
    desk.send("<presence><priority>1</priority></presence>")
    phone.stanza()  # the desk's presence: both are available now
    admin = Cli(cli_port(xmpp_node)).login()
    try:
        assert admin.data(f"GETACCOUNTPRESENCE {address}") == ["away", "at lunch"]
        assert admin.data(f"GETACCOUNTPRESENCE {xmpp_node.account()}") == "offline"
        admin.fails("GETACCOUNTPRESENCE nobody@example.com", 513)
        sessions = admin.data("LISTXMPPSESSIONS example.com")
        assert isinstance(sessions, list)
        mine = {s["JID"]: s for s in sessions if str(s["JID"]).startswith(address)}
        assert mine[f"{address}/phone"] == {"JID": f"{address}/phone", "Available": "YES", "Priority": "5",
                                             "Show": "away", "Status": "at lunch"}
        assert mine[f"{address}/desk"]["Show"] == "online"
        # `polyport xmpp` on the node's CLI/API.
        monkeypatch.setenv("POLYPORT_PASSWORD", POSTMASTER_PASSWORD)
        server = f"127.0.0.1:{cli_port(xmpp_node)}"
        listed = CliRunner().invoke(cli, ["xmpp", "sessions", "--domain", "example.com", "--server", server])
        assert listed.exit_code == 0, listed.output
        assert f"{address}/phone" in listed.output and "at lunch" in listed.output
        shown = CliRunner().invoke(cli, ["xmpp", "presence", address, "--server", server])
        assert shown.output.strip() == "away at lunch"
        kicked = CliRunner().invoke(cli, ["xmpp", "kick", f"{address}/phone", "--server", server])
        assert kicked.exit_code == 0 and "ended 1 session(s)" in kicked.output, kicked.output
        error = phone.stanza().element
        assert error.find(STREAMS + "policy-violation") is not None
        eventually(lambda: admin.data(f"GETACCOUNTPRESENCE {address}") == "online")
        assert admin.data(f"KICKXMPPSESSION {address}") == "1"  # every session of the account: the desk's
        admin.fails(f"KICKXMPPSESSION {address}/nowhere", 501, "no session")
        admin.fails("KICKXMPPSESSION example.com", 501, "account")
    finally:
        admin.close()
    # An account sees its own presence, not the node's sessions.
    user = Cli(cli_port(xmpp_node)).login(address, PASSWORD)
    try:
        assert user.data(f"GETACCOUNTPRESENCE {address}") in ("offline", "online")
        user.fails("LISTXMPPSESSIONS", 510, "access rights")
    finally:
        user.close()
    for stream in (phone, desk):
        stream.close()


async def test_webadmin_lists_sessions_and_ends_one(xmpp_node: XmppNode) -> None:
    import asyncio

    from tests.web.conftest import csrf_of

    address = xmpp_node.account()
    phone, _ = await asyncio.to_thread(bound, xmpp_node, "phone", address)
    await asyncio.to_thread(phone.send, "<presence><status>reading</status></presence>")
    async with webadmin(xmpp_node) as client:
        for _ in range(50):  # the presence reaches the router a moment after it was sent
            async with client.get("/im") as response:
                page = await response.text()
            if "reading" in page:
                break
            await asyncio.sleep(0.05)
        assert f"{address}/phone" in page and "reading" in page
        async with client.post("/im", data={"csrf": csrf_of(page), "do": "kick", "jid": f"{address}/phone"},
                               allow_redirects=False) as response:
            assert response.status == 303
    error = (await asyncio.to_thread(phone.stanza)).element
    assert error.find(STREAMS + "policy-violation") is not None
    phone.close()


async def test_chat_rooms_are_listed(xmpp_node: XmppNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """LISTXMPPROOMS, `polyport xmpp rooms` and WebAdmin's /im list a persistent room and a temporary one."""
    import asyncio

    from tests.xmpp.test_muc import create

    owner, owner_address = await asyncio.to_thread(bound, xmpp_node, "desk")
    await asyncio.to_thread(create, owner, "kept@conference.example.com", "o",
                            {"muc#roomconfig_persistentroom": "1", "muc#roomconfig_roomname": "Kept room"})
    await asyncio.to_thread(create, owner, "brief@conference.example.com", "o",
                            {"muc#roomconfig_membersonly": "1"})
    admin = Cli(cli_port(xmpp_node)).login()
    try:
        def rooms_listed() -> dict[str, Any]:
            return {r["JID"]: r for r in admin.data("LISTXMPPROOMS example.com")}

        # With the node as two workers, the other one's rooms are listed once it announced them.
        await asyncio.to_thread(eventually, lambda: "brief@conference.example.com" in rooms_listed())
        rooms = await asyncio.to_thread(rooms_listed)
        kept, brief = rooms["kept@conference.example.com"], rooms["brief@conference.example.com"]
        assert kept["Name"] == "Kept room" and kept["Persistent"] == "YES" and kept["Owners"] == [owner_address]
        assert kept["Occupants"] == "1"
        assert brief["Persistent"] == "NO" and brief["MembersOnly"] == "YES"
    finally:
        admin.close()
    monkeypatch.setenv("POLYPORT_PASSWORD", POSTMASTER_PASSWORD)
    server = f"127.0.0.1:{cli_port(xmpp_node)}"
    listed = await asyncio.to_thread(CliRunner().invoke, cli, ["xmpp", "rooms", "--server", server])
    assert listed.exit_code == 0, listed.output
    assert "kept@conference.example.com" in listed.output and "Kept room" in listed.output
    as_json = await asyncio.to_thread(CliRunner().invoke, cli, ["xmpp", "rooms", "--json", "--server", server])
    assert {json.loads(line)["JID"] for line in as_json.output.splitlines()} >= {"kept@conference.example.com",
                                                                               "brief@conference.example.com"}
    async with webadmin(xmpp_node) as client:
        async with client.get("/im") as response:
            page = await response.text()
        assert "Kept room" in page and "brief@conference.example.com" in page and "members only" in page
    owner.close()


async def test_an_administrator_destroys_rooms(xmpp_node: XmppNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """DESTROYXMPPROOM, `polyport xmpp destroy-room` and WebAdmin's button: the occupants are told, a
    persistent room leaves the store; a room that does not exist is not found, and a domain administrator
    of another domain may not."""
    import asyncio

    from tests.web.conftest import csrf_of
    from tests.xmpp.test_muc import create, until

    owner, _ = await asyncio.to_thread(bound, xmpp_node, "desk")
    await asyncio.to_thread(create, owner, "doomed@conference.example.com", "o",
                            {"muc#roomconfig_persistentroom": "1"})
    admin = Cli(cli_port(xmpp_node)).login()
    try:
        await asyncio.to_thread(admin.ok, 'DESTROYXMPPROOM doomed@conference.example.com "Moving house"')
        told = await asyncio.to_thread(until, owner, lambda e: e.get("type") == "unavailable")
        destroyed = told.find("{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}destroy")
        assert destroyed is not None and destroyed.findtext("{http://jabber.org/protocol/muc#user}reason") == \
            "Moving house"
        eventually(lambda: xmpp_node.running.call(xmpp_node.running.runtime.rooms.load(
            "conference.example.com", "doomed")) is None)
        await asyncio.to_thread(admin.fails, "DESTROYXMPPROOM doomed@conference.example.com", 501, "no room")
        await asyncio.to_thread(admin.fails, "DESTROYXMPPROOM someone@example.com", 501, "room")
    finally:
        admin.close()
    await asyncio.to_thread(create, owner, "cli@conference.example.com", "o")
    monkeypatch.setenv("POLYPORT_PASSWORD", POSTMASTER_PASSWORD)
    server = f"127.0.0.1:{cli_port(xmpp_node)}"
    done = await asyncio.to_thread(CliRunner().invoke, cli, ["xmpp", "destroy-room", "cli@conference.example.com",
                                                             "--server", server])
    assert done.exit_code == 0 and "destroyed" in done.output, done.output
    await asyncio.to_thread(until, owner, lambda e: e.get("type") == "unavailable")
    await asyncio.to_thread(create, owner, "web@conference.example.com", "o")
    async with webadmin(xmpp_node) as client:
        async with client.get("/im") as response:
            page = await response.text()
        async with client.post("/im", data={"csrf": csrf_of(page), "do": "destroy",
                                            "jid": "web@conference.example.com"}, allow_redirects=False) as response:
            assert response.status == 303
    await asyncio.to_thread(until, owner, lambda e: e.get("type") == "unavailable")
    owner.close()


def test_roster_read_and_changed_by_an_administrator(xmpp_node: XmppNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """CommuniGate's ROSTER: List shows the roster as the clients see it; Update adds or renames a contact
    and remove ends the subscriptions both ways, each pushed to the account's clients at once."""
    from tests.xmpp.test_blocking import subscribed_both_ways
    from tests.xmpp.test_presence import heard, online, presences, pushes

    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    heard(juliet), heard(romeo)
    subscribed_both_ways(juliet, juliet_address, romeo, romeo_address)
    heard(juliet), heard(romeo)
    admin = Cli(cli_port(xmpp_node)).login()
    try:
        assert admin.data(f"ROSTER {juliet_address} {{what=List;}}") == {romeo_address: {"Subscription": "both"}}
        # Update: a new contact (no subscription), then a name and groups for Romeo; Juliet's client is told.
        nurse = xmpp_node.account()
        assert admin.data(f'ROSTER {juliet_address} {{what=Update; peer="{nurse}"; RealName=Nurse;}}') == {
            "Subscription": "none", "RealName": "Nurse"}
        assert pushes(heard(juliet)) == [(nurse, "none", None)]
        admin.data(f'ROSTER {juliet_address} {{what=Update; peer="{romeo_address}/orchard"; RealName="R. M.";'
                   f' Groups=(Verona, Friends);}}')
        push = heard(juliet)
        item = next(push[0].iter("{jabber:iq:roster}item"))
        assert item.get("name") == "R. M." and item.get("subscription") == "both"  # the subscription stays
        assert [g.text for g in item.iter("{jabber:iq:roster}group")] == ["Verona", "Friends"]
        listed = admin.data(f"ROSTER {juliet_address} {{what=List;}}")
        assert listed[romeo_address] == {"Subscription": "both", "RealName": "R. M.", "Groups": ["Verona", "Friends"]}
        # An Update without RealName keeps the name (and without Groups the groups).
        assert admin.data(f'ROSTER {juliet_address} {{what=Update; peer="{romeo_address}"; Groups=(Verona);}}') == {
            "Subscription": "both", "RealName": "R. M.", "Groups": ["Verona"]}
        heard(juliet)
        # remove: gone from her roster, and she from his (both subscriptions cancelled, his client told).
        assert admin.ask(f'ROSTER {juliet_address} {{what=remove; peer="{romeo_address}";}}') == "200 OK"
        assert pushes(heard(juliet)) == [(romeo_address, "remove", None)]
        romeo_got = heard(romeo)
        assert pushes(romeo_got)[-1] == (juliet_address, "none", None)
        assert ("unavailable", f"{juliet_address}/balcony") in presences(romeo_got)
        admin.fails(f'ROSTER {juliet_address} {{what=remove; peer="{romeo_address}";}}', 501, "not in the roster")
        admin.fails(f'ROSTER {juliet_address} {{what=Update; peer="@@";}}', 501, "not a JID")
        admin.fails(f"ROSTER {juliet_address} {{what=Presence;}}", 501, "List, Update or remove")
        admin.fails(f"ROSTER {juliet_address} List", 501, "dictionary")  # malformed: no dictionary
        admin.fails(f'ROSTER {juliet_address} {{what=Update; peer="{romeo_address}"; Groups={{a=b;}};}}', 501,
                    "array of group names")
        admin.fails(f"ROSTER {juliet_address} {{what=remove;}}", 501, "peer")
        admin.fails(f'ROSTER {juliet_address} {{what=Update; peer="{juliet_address}";}}', 501, "its own")
        admin.fails("ROSTER nobody@example.com {what=List;}", 513)
    finally:
        admin.close()
    # The account reads its own roster; not another's.
    user = Cli(cli_port(xmpp_node)).login(juliet_address, PASSWORD)
    try:
        assert list(user.data(f"ROSTER {juliet_address} {{what=List;}}")) == [nurse]
        user.fails(f"ROSTER {romeo_address} {{what=List;}}", 510)
    finally:
        user.close()
    # `polyport xmpp roster` on the node's CLI/API.
    monkeypatch.setenv("POLYPORT_PASSWORD", POSTMASTER_PASSWORD)
    server = f"127.0.0.1:{cli_port(xmpp_node)}"
    changed = CliRunner().invoke(cli, ["xmpp", "roster", juliet_address, "--set", romeo_address, "--name", "Romeo",
                                       "--group", "Verona", "--server", server])
    assert changed.exit_code == 0, changed.output
    shown = CliRunner().invoke(cli, ["xmpp", "roster", juliet_address, "--server", server])
    assert shown.exit_code == 0 and romeo_address in shown.output and "Romeo" in shown.output, shown.output
    removed = CliRunner().invoke(cli, ["xmpp", "roster", juliet_address, "--remove", nurse, "--server", server])
    assert removed.exit_code == 0, removed.output
    as_json = CliRunner().invoke(cli, ["xmpp", "roster", juliet_address, "--json", "--server", server])
    assert [json.loads(line)["JID"] for line in as_json.output.splitlines()] == [romeo_address]
    juliet.close()
    romeo.close()


def test_roster_changes_of_a_shared_group_member(xmpp_node: XmppNode) -> None:
    """A member of a shared roster group stays in the roster as the clients see it whatever an administrator
    does to the account's own item: an Update answers and pushes it subscribed both ways in the group, a
    remove pushes it back as the group shows it."""
    from tests.xmpp.test_presence import heard, online, pushes

    directory = xmpp_node.running.runtime.directory
    ann, bob = xmpp_node.account(), xmpp_node.account()
    xmpp_node.running.call(directory.create_group("crew@example.com", settings={"SharedRoster": "YES",
                                                                                "RealName": "Crew"},
                                                  members=[ann, bob]))
    a, _ = online(xmpp_node, "desk", ann)
    heard(a)
    admin = Cli(cli_port(xmpp_node)).login()
    try:
        assert admin.data(f'ROSTER {ann} {{what=Update; peer="{bob}"; RealName=Bobby;}}') == {
            "Subscription": "both", "RealName": "Bobby", "Groups": ["Crew"]}
        assert pushes(heard(a)) == [(bob, "both", None)]
        admin.ask(f'ROSTER {ann} {{what=remove; peer="{bob}";}}')
        assert pushes(heard(a)) == [(bob, "both", None)]  # still there: the group shows him
        assert admin.data(f"ROSTER {ann} {{what=List;}}") == {bob: {"Subscription": "both", "Groups": ["Crew"]}}
    finally:
        admin.close()
    a.close()
