"""slixmpp, a third-party XMPP library, against a node serving XMPP: STARTTLS with the node's certificate,
SASL (SCRAM-SHA-256, as it prefers), a bound resource, the server's ping, service discovery and version as
slixmpp's own plugins ask for them, and the roster through slixmpp's roster calls."""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import Iterator

import pytest

from tests.xmpp.conftest import PASSWORD, XmppNode, start_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppNode]:
    running = start_node(tmp_path_factory)
    yield running
    running.running.stop()


async def test_slixmpp_logs_in_and_asks_the_server(node: XmppNode) -> None:
    import slixmpp

    address = node.account()
    client = slixmpp.ClientXMPP(f"{address}/slix", PASSWORD)
    for plugin in ("xep_0030", "xep_0092", "xep_0199"):
        client.register_plugin(plugin)
    context = ssl.create_default_context(cafile=node.cert)
    context.check_hostname = False
    client.ssl_context = context
    mechanisms: list[str] = []

    def authenticated(_: object) -> None:
        mechanism = client.plugin["feature_mechanisms"].mech
        mechanisms.append(mechanism.name if mechanism is not None else "?")

    client.add_event_handler("auth_success", authenticated)
    started = asyncio.Event()
    client.add_event_handler("session_start", lambda _: started.set())
    client.connect(host="127.0.0.1", port=node.port)
    try:
        await asyncio.wait_for(started.wait(), 15)
        assert str(client.boundjid) == f"{address}/slix"
        assert mechanisms == ["SCRAM-SHA-256"]
        server = slixmpp.JID("example.com")
        assert await client.plugin["xep_0199"].ping(jid=server, timeout=10) >= 0
        info = await client.plugin["xep_0030"].get_info(jid=server, timeout=10)
        assert "urn:xmpp:ping" in info["disco_info"]["features"]
        assert ("server", "im", None, "Polyport") in info["disco_info"]["identities"]
        version = await client.plugin["xep_0092"].get_version(server, timeout=10)
        assert version["software_version"]["name"] == "Polyport"
        # The roster: slixmpp's own get, update (a roster set, then the push it hears) and remove.
        await client.get_roster(timeout=10)
        assert list(client.client_roster) == [] or list(client.client_roster) == [address]
        updated = client.update_roster(slixmpp.JID("romeo@example.com"), name="Romeo", groups=["Friends"], timeout=10)
        assert updated is not None
        await updated
        for _ in range(50):
            if "romeo@example.com" in client.client_roster:
                break
            await asyncio.sleep(0.05)
        assert client.client_roster["romeo@example.com"]["name"] == "Romeo"
        assert client.client_roster["romeo@example.com"]["groups"] == ["Friends"]
        await client.del_roster_item("romeo@example.com")
        fetched = await client.get_roster(timeout=10)
        assert fetched is not None and fetched["roster"]["items"] == {}
    finally:
        client.disconnect()
        await asyncio.wait_for(client.disconnected, 10)


async def test_slixmpp_logs_in_with_scram_sha1(node: XmppNode) -> None:
    """SCRAM-SHA-1, XMPP's mandatory mechanism (RFC 6120 13.8.3), as a client that asks for it uses it."""
    import slixmpp

    address = node.account()
    client = slixmpp.ClientXMPP(f"{address}/sha1", PASSWORD, sasl_mech="SCRAM-SHA-1")
    context = ssl.create_default_context(cafile=node.cert)
    context.check_hostname = False
    client.ssl_context = context
    used: list[str] = []
    client.add_event_handler("auth_success",
                             lambda _: used.append(getattr(client.plugin["feature_mechanisms"].mech, "name", "?")))
    started = asyncio.Event()
    client.add_event_handler("session_start", lambda _: started.set())
    client.connect(host="127.0.0.1", port=node.port)
    try:
        await asyncio.wait_for(started.wait(), 15)
        assert used == ["SCRAM-SHA-1"] and str(client.boundjid) == f"{address}/sha1"
    finally:
        client.disconnect()
        await asyncio.wait_for(client.disconnected, 10)


# A stream resumes only in the worker that holds its detached session (docs/rfc-status.md, XEP-0198): with the
# node as two workers the new connection may reach the other one, which answers item-not-found.
@pytest.mark.one_process
async def test_slixmpp_stream_management_resumes_a_lost_stream(node: XmppNode) -> None:
    """slixmpp's XEP-0198 plugin: it enables resumption, its connection is cut, a message comes meanwhile,
    and it resumes the stream on a new connection and gets the message."""
    import slixmpp

    context = ssl.create_default_context(cafile=node.cert)
    context.check_hostname = False
    clients = []
    for resource, plugins in (("mobile", ("xep_0198",)), ("desk", ())):
        client = slixmpp.ClientXMPP(f"{node.account()}/{resource}", PASSWORD)
        for plugin in plugins:
            client.register_plugin(plugin)
        client.ssl_context = context
        clients.append(client)
    mobile, desk = clients
    events = {name: asyncio.Event() for name in ("sm_enabled", "mobile_started", "desk_started", "disconnected",
                                                 "session_resumed")}
    mobile.add_event_handler("sm_enabled", lambda _: events["sm_enabled"].set())
    mobile.add_event_handler("session_start", lambda _: events["mobile_started"].set())
    desk.add_event_handler("session_start", lambda _: events["desk_started"].set())
    mobile.add_event_handler("disconnected", lambda _: events["disconnected"].set())
    mobile.add_event_handler("session_resumed", lambda _: events["session_resumed"].set())
    bodies: asyncio.Queue[str] = asyncio.Queue()
    mobile.add_event_handler("message", lambda message: bodies.put_nowait(str(message["body"])))
    for client in clients:
        client.connect(host="127.0.0.1", port=node.port)
    try:
        for name in ("sm_enabled", "mobile_started", "desk_started"):
            await asyncio.wait_for(events[name].wait(), 15)
        desk.send_message(mto=slixmpp.JID(mobile.boundjid.full), mbody="before", mtype="chat")
        assert await asyncio.wait_for(bodies.get(), 10) == "before"
        assert mobile.transport is not None
        mobile.transport.abort()  # the connection is lost, no stream close
        await asyncio.wait_for(events["disconnected"].wait(), 10)
        await asyncio.sleep(0.3)
        desk.send_message(mto=slixmpp.JID(mobile.boundjid.full), mbody="while away", mtype="chat")
        mobile.connect(host="127.0.0.1", port=node.port)
        await asyncio.wait_for(events["session_resumed"].wait(), 15)
        assert await asyncio.wait_for(bodies.get(), 10) == "while away"
    finally:
        # Each one's future from disconnect(): `client.disconnected` is replaced by a new one once it is done.
        await asyncio.wait_for(asyncio.gather(*(client.disconnect() for client in clients)), 10)



async def test_slixmpp_reads_the_message_archive_page_by_page(node: XmppNode) -> None:
    """slixmpp's XEP-0313 plugin pages through an account's archive (XEP-0059, five at a time) forwards and
    backwards, and finds the stanza-id its client saw on each live message."""
    import slixmpp

    context = ssl.create_default_context(cafile=node.cert)
    context.check_hostname = False
    clients = []
    for resource in ("reader", "writer"):
        client = slixmpp.ClientXMPP(f"{node.account()}/{resource}", PASSWORD)
        for plugin in ("xep_0059", "xep_0313", "xep_0359"):
            client.register_plugin(plugin)
        client.ssl_context = context
        clients.append(client)
    reader, writer = clients
    started = [asyncio.Event(), asyncio.Event()]
    for client, event in zip(clients, started, strict=True):
        client.add_event_handler("session_start", lambda _, event=event: event.set())
    live: asyncio.Queue[str] = asyncio.Queue()
    reader.add_event_handler("message", lambda message: live.put_nowait(str(message["stanza_id"]["id"])))
    for client in clients:
        client.connect(host="127.0.0.1", port=node.port)
    try:
        for event in started:
            await asyncio.wait_for(event.wait(), 15)
        reader.send_presence()
        await asyncio.sleep(0.2)
        for n in range(12):
            writer.send_message(mto=slixmpp.JID(reader.boundjid.bare), mbody=f"note {n}", mtype="chat")
        seen = [await asyncio.wait_for(live.get(), 10) for _ in range(12)]
        mam = reader.plugin["xep_0313"]
        writer_jid = slixmpp.JID(writer.boundjid.bare)
        forwards = [message async for message in mam.iterate(with_jid=writer_jid, rsm={"max": 5})]
        assert [str(m["mam_result"]["forwarded"]["stanza"]["body"]) for m in forwards] == \
            [f"note {n}" for n in range(12)]
        assert [str(m["mam_result"]["id"]) for m in forwards] == seen
        backwards = [message async for message in mam.iterate(with_jid=writer_jid, reverse=True,
                                                                 rsm={"max": 5}, total=7)]
        assert [str(m["mam_result"]["forwarded"]["stanza"]["body"]) for m in backwards] == \
            [f"note {n}" for n in range(11, 4, -1)]
    finally:
        await asyncio.wait_for(asyncio.gather(*(client.disconnect() for client in clients)), 10)


async def test_slixmpp_a_room_with_three_occupants(node: XmppNode) -> None:
    """slixmpp's XEP-0045 plugin: one client creates a room, reads its configuration form and makes it
    persistent; two more enter; all three hear a groupchat message and a new subject; the owner kicks one;
    slixmpp's XEP-0313 plugin reads the room's archive back. With the node as two workers, the clients may
    be served by either: the room is held by one, the others hand it their clients' stanzas."""
    import slixmpp

    context = ssl.create_default_context(cafile=node.cert)
    context.check_hostname = False
    clients = []
    for name in ("alice", "bob", "carol"):
        client = slixmpp.ClientXMPP(f"{node.account()}/{name}", PASSWORD)
        for plugin in ("xep_0045", "xep_0059", "xep_0313", "xep_0359"):
            client.register_plugin(plugin)
        client.ssl_context = context
        clients.append(client)
    alice, bob, carol = clients
    started = [asyncio.Event() for _ in clients]
    heard: dict[str, asyncio.Queue[str]] = {}
    for client, event, name in zip(clients, started, ("alice", "bob", "carol"), strict=True):
        client.add_event_handler("session_start", lambda _, event=event: event.set())
        queue: asyncio.Queue[str] = asyncio.Queue()
        heard[name] = queue
        client.add_event_handler("groupchat_message", lambda message, queue=queue: queue.put_nowait(
            str(message["body"])) if message["body"] else None)
    subjects: asyncio.Queue[str] = asyncio.Queue()
    carol.add_event_handler("groupchat_subject", lambda message: subjects.put_nowait(str(message["subject"])))
    kicked = asyncio.Event()
    carol.add_event_handler("muc::tea@conference.example.com::presence",
                            lambda presence: kicked.set() if presence["type"] == "unavailable"
                            and 307 in presence["muc"]["status_codes"] else None)
    for client in clients:
        client.connect(host="127.0.0.1", port=node.port)
    room = slixmpp.JID("tea@conference.example.com")
    try:
        for event in started:
            await asyncio.wait_for(event.wait(), 15)
        muc = alice.plugin["xep_0045"]
        own, _, _, _ = await muc.join_muc_wait(room, "Alice", timeout=15)
        assert 201 in own["muc"]["status_codes"]  # a new room, locked until configured
        form = await muc.get_room_config(room, timeout=10)
        fields = form.get_fields()
        assert "muc#roomconfig_persistentroom" in fields
        form.set_values({"muc#roomconfig_persistentroom": True, "muc#roomconfig_roomname": "Tea"})
        await muc.set_room_config(room, form, timeout=10)
        _, _, occupants, _ = await bob.plugin["xep_0045"].join_muc_wait(room, "Bob", timeout=15)
        assert [str(p["from"].resource) for p in occupants] == ["Alice", "Bob"]
        await carol.plugin["xep_0045"].join_muc_wait(room, "Carol", maxstanzas=0, timeout=15)
        alice.send_message(mto=room, mbody="tea is ready", mtype="groupchat")
        for name in ("alice", "bob", "carol"):
            assert await asyncio.wait_for(heard[name].get(), 10) == "tea is ready"
        # The subject on entering: none yet (an empty <subject/>, which slixmpp reads as None).
        assert await asyncio.wait_for(subjects.get(), 10) in ("", "None")
        alice.plugin["xep_0045"].set_subject(room, "Afternoon tea")
        assert await asyncio.wait_for(subjects.get(), 10) == "Afternoon tea"
        assert sorted(bob.plugin["xep_0045"].get_roster(room)) == ["Alice", "Bob", "Carol"]
        await muc.set_role(room, "Carol", "none", timeout=10)
        await asyncio.wait_for(kicked.wait(), 10)
        archived = [message async for message in bob.plugin["xep_0313"].iterate(jid=room, rsm={"max": 10})]
        assert [str(m["mam_result"]["forwarded"]["stanza"]["body"]) for m in archived] == ["tea is ready"]
    finally:
        await asyncio.wait_for(asyncio.gather(*(client.disconnect() for client in clients)), 10)


async def test_slixmpp_personal_eventing_nick_and_avatar(node: XmppNode) -> None:
    """slixmpp's XEP-0115, XEP-0163, XEP-0172 and XEP-0084 plugins: two contacts subscribed to each other,
    each announcing its interest in nicknames and avatars through entity capabilities (which the server
    learns by asking); one publishes a nick and an avatar's metadata, the other gets both events; the
    publisher's own node reads back."""
    import slixmpp

    context = ssl.create_default_context(cafile=node.cert)
    context.check_hostname = False
    clients = []
    for name in ("alice", "bob"):
        client = slixmpp.ClientXMPP(f"{node.account()}/{name}", PASSWORD)
        for plugin in ("xep_0030", "xep_0115", "xep_0163", "xep_0172", "xep_0084", "xep_0060"):
            client.register_plugin(plugin)
        client.ssl_context = context
        clients.append(client)
    alice, bob = clients
    started = [asyncio.Event() for _ in clients]
    for client, event in zip(clients, started, strict=True):
        client.add_event_handler("session_start", lambda _, event=event: event.set())
        client.auto_authorize = True
        client.auto_subscribe = True
    nicks: asyncio.Queue[str] = asyncio.Queue()
    avatars: asyncio.Queue[str] = asyncio.Queue()
    bob.add_event_handler("user_nick_publish", lambda message: nicks.put_nowait(
        str(message["pubsub_event"]["items"]["item"]["nick"]["nick"])))
    bob.add_event_handler("avatar_metadata_publish", lambda message: avatars.put_nowait(
        str(message["pubsub_event"]["items"]["item"]["avatar_metadata"]["info"]["id"])))
    for client in clients:
        client.connect(host="127.0.0.1", port=node.port)
    try:
        for event in started:
            await asyncio.wait_for(event.wait(), 15)
        for client in clients:
            await client.get_roster(timeout=10)
            client.send_presence()
        bob.send_presence_subscription(pto=alice.boundjid.bare)
        for _ in range(100):  # both directions approved (slixmpp's auto_authorize and auto_subscribe)
            item = bob.client_roster[alice.boundjid.bare]
            if item["subscription"] in ("both", "to"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the server learns each client's capabilities
        await alice.plugin["xep_0172"].publish_nick("Alice", timeout=10)
        assert await asyncio.wait_for(nicks.get(), 10) == "Alice"
        # Numbers as text: slixmpp's stanza writer takes only strings, whatever its type hints say.
        await alice.plugin["xep_0084"].publish_avatar_metadata(
            [{"id": "abc123", "type": "image/png", "bytes": "100", "width": "32", "height": "32"}],  # type: ignore[typeddict-item]
            timeout=10)
        assert await asyncio.wait_for(avatars.get(), 10) == "abc123"
        items = await alice.plugin["xep_0060"].get_items(alice.boundjid.bare, "http://jabber.org/protocol/nick",
                                                           timeout=10)
        payloads = [item["payload"] for item in items["pubsub"]["items"]]
        assert [p.text for p in payloads] == ["Alice"] and payloads[0].tag == "{http://jabber.org/protocol/nick}nick"
    finally:
        await asyncio.wait_for(asyncio.gather(*(client.disconnect() for client in clients)), 10)


async def test_slixmpp_uploads_a_file_and_it_is_fetched(tmp_path_factory: pytest.TempPathFactory) -> None:
    """slixmpp's XEP-0363 plugin finds the upload service, asks for a slot and PUTs a file; the URL it gets
    back serves the same bytes. (The node's webmail port is chosen here, so that the slot's URL, from
    `[xmpp] upload_url`, names it.)"""
    import aiohttp
    import slixmpp

    from tests.node_thread import ThreadedNode, free_port, node_config

    port = free_port()
    config = node_config(tmp_path_factory.mktemp("upload-node"), "webuser", port,
                         f'[xmpp]\nupload_url = "http://127.0.0.1:{port}"\n')
    node = XmppNode(ThreadedNode(config).start())
    try:
        context = ssl.create_default_context(cafile=node.cert)
        context.check_hostname = False
        client = slixmpp.ClientXMPP(f"{node.account()}/files", PASSWORD)
        for plugin in ("xep_0030", "xep_0363"):
            client.register_plugin(plugin)
        client.ssl_context = context
        started = asyncio.Event()
        client.add_event_handler("session_start", lambda _: started.set())
        client.connect(host="127.0.0.1", port=node.port)
        try:
            await asyncio.wait_for(started.wait(), 15)
            data = bytes(range(256)) * 40
            url = await client.plugin["xep_0363"].upload_file(
                "photo.bin", size=len(data), content_type="application/octet-stream",
                input_file=io.BytesIO(data), timeout=15)
            assert url.startswith(f"http://127.0.0.1:{port}/upload/")
            async with aiohttp.ClientSession() as web, web.get(url) as response:
                assert response.status == 200 and await response.read() == data
        finally:
            await asyncio.wait_for(client.disconnect(), 10)
    finally:
        node.running.stop()
