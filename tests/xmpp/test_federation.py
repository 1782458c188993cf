"""Federation (RFC 6120 on 5269, dialback XEP-0220) between two nodes of ours, each serving its own domain
and finding the other through the DNS (a fixture answering SRV and address records): messages, iq and
subscriptions both ways, probes, bounces where no server answers, and what a stream from another server
may and may not do (TLS first, keys checked with the domain's server, stanzas only for accepted domains)."""

from __future__ import annotations

import secrets
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from polyport.net.framing.xmlstream import StreamClose
from polyport.net.tls import make_self_signed
from polyport.xmpp import dialback
from polyport.xmpp.jid import Jid
from tests.cliapi.conftest import Cli
from tests.dnsfixture import DnsFixture
from tests.node_thread import ThreadedNode, eventually, node_config
from tests.xmpp.conftest import PASSWORD, SASL, Stream, plain_login

C = "{jabber:client}"
S2S_OPEN = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
            "xmlns:stream='http://etherx.jabber.org/streams' from='{sender}' to='{to}' version='1.0'>")
STREAM_ERRORS = "{urn:ietf:params:xml:ns:xmpp-streams}"
ROSTER = "{jabber:iq:roster}"

pytestmark = pytest.mark.one_process  # the nodes' federation tasks are the local worker's (the test reads them)


@dataclass
class Server:
    domain: str
    running: ThreadedNode
    port: int  # client
    s2s_port: int
    data: Path
    counter: int = 0

    def account(self) -> str:
        self.counter += 1
        address = f"user{self.counter}@{self.domain}"
        self.running.call(self.running.runtime.directory.create_account(address, password=PASSWORD))
        return address


def start(tmp_path_factory: pytest.TempPathFactory, dns: DnsFixture, domain: str, xmpp: str = "",
          data: Path | None = None) -> Server:
    data = data or tmp_path_factory.mktemp(domain)
    # Loopback is where the other node is: s2s_private_addresses lets links go there.
    settings = f"enabled = true\n[xmpp]\ns2s_private_addresses = true\n{xmpp}"
    config = node_config(data, "xmpp-s2s", 0, settings, dns=dns.server, domain=domain)
    running = ThreadedNode(config).start()
    ports = {b.service: b.port for b in running.node.bound_listeners()}
    host = f"xmpp.{domain}"
    for name in (domain, f"conference.{domain}"):  # the chat service is a domain of its own to other servers
        dns.add(f"_xmpp-server._tcp.{name}", "SRV", f"0 5 {ports['xmpp-s2s']} {host}.")
    dns.add(host, "A", "127.0.0.1")
    return Server(domain, running, ports["xmpp"], ports["xmpp-s2s"], data)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    dns = DnsFixture()
    one, two = start(tmp_path_factory, dns, "one.test"), start(tmp_path_factory, dns, "two.test")
    yield one, two
    for server in (one, two):
        server.running.stop()
    dns.close()


def login(server: Server, address: str, resource: str = "desk", *, available: bool = True) -> Stream:
    stream = Stream(server.port)
    stream.open(server.domain)
    plain_login(stream, address)
    assert stream.stanza().element.tag == SASL + "success"
    stream.restart()
    stream.open(server.domain)
    stream.send(f"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}"
                f"</resource></bind></iq>")
    assert stream.stanza().element.get("type") == "result"
    if available:
        stream.send("<presence/>")
    return stream


def next_of(stream: Stream, tag: str, **attributes: str) -> ET.Element[str]:
    """The next stanza of that kind with those attributes, skipping others (presence, roster pushes)."""
    for _ in range(50):
        element = stream.stanza().element
        if element.tag == C + tag and all(element.get(k) == v for k, v in attributes.items()):
            return element
    raise AssertionError(f"no {tag} {attributes}")


def presence_from(stream: Stream, sender: str, kind: str | None = None) -> None:
    """Skip to the presence of that type (None: available) from `sender`."""
    for _ in range(50):
        element = stream.stanza().element
        if element.tag == C + "presence" and element.get("from") == sender and element.get("type") == kind:
            return
    raise AssertionError(f"no presence {kind} from {sender}")


def test_messages_go_both_ways(servers: tuple[Server, Server]) -> None:
    one, two = servers
    alice, bob = one.account(), two.account()
    a, b = login(one, alice), login(two, bob)
    a.send(f"<message to='{bob}' type='chat' id='m1'><body>Hello from one</body></message>")
    got = next_of(b, "message", id="m1")
    assert got.get("from") == f"{alice}/desk" and got.findtext(C + "body") == "Hello from one"
    b.send(f"<message to='{alice}/desk' type='chat' id='m2'><body>And back</body></message>")
    got = next_of(a, "message", id="m2")
    assert got.get("from") == f"{bob}/desk" and got.findtext(C + "body") == "And back"
    # Each side archived what it saw (XEP-0313), and the links are up both ways.
    links = {(link["local"], link["remote"]): link["state"]
             for link in one.running.call(_links(one))}
    assert links.get(("one.test", "two.test")) == "ready"
    # Administrators see both ways: LISTXMPPLINKS on the CLI/API.
    cli_port = next(b.port for b in one.running.node.bound_listeners() if b.service == "cliapi")
    admin = Cli(cli_port).login()
    listed = admin.data("LISTXMPPLINKS")
    assert isinstance(listed, list)
    ways = {(e["Direction"], e["Remote"], e["State"], e["AuthenticatedBy"]) for e in listed}
    assert ("out", "two.test", "ready", "dialback") in ways and ("in", "two.test", "accepted", "dialback") in ways
    admin.close()
    a.close()
    b.close()


async def _links(server: Server) -> list[dict[str, object]]:
    from polyport.xmpp.router import router_for

    federation = router_for(server.running.runtime).federation
    assert federation is not None
    return federation.summary()


def test_a_message_for_someone_offline_waits_on_their_server(servers: tuple[Server, Server]) -> None:
    one, two = servers
    alice, bob = one.account(), two.account()
    a = login(one, alice)
    a.send(f"<message to='{bob}' type='chat' id='later'><body>When you are back</body></message>")
    # The other server handles a stream's stanzas in order: once its answer to a ping is back, the message
    # is stored.
    a.send("<iq type='get' to='two.test' id='after'><ping xmlns='urn:xmpp:ping'/></iq>")
    next_of(a, "iq", id="after")
    b = login(two, bob)
    got = next_of(b, "message", id="later")
    assert got.find("{urn:xmpp:delay}delay") is not None
    a.close()
    b.close()


def test_subscriptions_and_presence_across_servers(servers: tuple[Server, Server]) -> None:
    one, two = servers
    alice, bob = one.account(), two.account()
    a, b = login(one, alice), login(two, bob)
    a.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    next_of(a, "iq", id="r1")
    a.send(f"<presence to='{bob}' type='subscribe'/>")
    request = next_of(b, "presence", type="subscribe")
    assert request.get("from") == alice
    b.send(f"<presence to='{alice}' type='subscribed'/>")
    # Alice's roster now has Bob with a subscription "to"; Bob's presence comes to her.
    for _ in range(20):
        element = a.stanza().element
        item = element.find(f"{ROSTER}query/{ROSTER}item")
        if element.tag == C + "iq" and item is not None and item.get("subscription") == "to":
            break
    else:
        raise AssertionError("no roster push with subscription 'to'")
    presence_from(a, f"{bob}/desk")
    # Bob goes away and comes back: Alice hears both; a new client of Alice's probes and learns he is there.
    b.close()
    presence_from(a, f"{bob}/desk", "unavailable")
    b = login(two, bob, "phone")
    presence_from(a, f"{bob}/phone")
    a2 = login(one, alice, "laptop")
    presence_from(a2, f"{bob}/phone")
    # Alice removes Bob: his server learns her subscription is gone (RFC 6121 2.5.2).
    assert two.running.call(_subscription(two, bob, alice)) == "from"
    a.send(f"<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='{bob}' subscription='remove'/>"
           f"</query></iq>")
    next_of(a, "iq", id="rm")
    eventually(lambda: two.running.call(_subscription(two, bob, alice)) == "none", timeout=10)
    for stream in (a, a2, b):
        stream.close()


async def _subscription(server: Server, account: str, contact: str) -> str | None:
    runtime = server.running.runtime
    record = await runtime.directory.login_record(account)
    assert record is not None
    item = await runtime.rosters.item(record.account_id, contact)
    return item.subscription if item is not None else None


def test_iq_to_the_other_server_and_account(servers: tuple[Server, Server]) -> None:
    one, two = servers
    alice, bob = one.account(), two.account()
    a = login(one, alice)
    a.send("<iq type='get' to='two.test' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    reply = next_of(a, "iq", id="p1")
    assert reply.get("type") == "result" and reply.get("from") == "two.test"
    a.send(f"<iq type='get' to='{bob}' id='v1'><vCard xmlns='vcard-temp'/></iq>")
    assert next_of(a, "iq", id="v1").get("type") == "result"
    a.send(f"<iq type='get' to='{bob}/nowhere' id='x1'><query xmlns='jabber:iq:version'/></iq>")
    error = next_of(a, "iq", id="x1")
    assert error.get("type") == "error"
    assert error.find(f"{C}error/{{urn:ietf:params:xml:ns:xmpp-stanzas}}service-unavailable") is not None
    a.close()


def test_a_domain_without_a_server_bounces(servers: tuple[Server, Server]) -> None:
    one, _ = servers
    a = login(one, one.account())
    a.send("<message to='someone@nowhere.test' type='chat' id='lost'><body>?</body></message>")
    error = next_of(a, "message", id="lost")
    assert error.get("type") == "error"
    assert error.find(f"{C}error/{{urn:ietf:params:xml:ns:xmpp-stanzas}}remote-server-not-found") is not None
    a.close()


# -- a stream from another server, by hand --


def s2s_stream(server: Server, sender: str, *, tls: bool = True, dialback_offered: bool = True) -> tuple[Stream, str]:
    stream = Stream(server.s2s_port)
    stream.send(S2S_OPEN.format(sender=sender, to=server.domain))
    header, features = stream.frame(), stream.frame()
    assert features.element.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls/"  # type: ignore[union-attr]
                                 "{urn:ietf:params:xml:ns:xmpp-tls}required") is not None
    if not tls:
        return stream, header.attributes["id"]  # type: ignore[union-attr]
    stream.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert stream.stanza().element.tag == "{urn:ietf:params:xml:ns:xmpp-tls}proceed"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    stream.sock = context.wrap_socket(stream.sock)
    stream.restart()
    stream.send(S2S_OPEN.format(sender=sender, to=server.domain))
    header, features = stream.frame(), stream.frame()
    offered = features.element.find("{urn:xmpp:features:dialback}dialback") is not None  # type: ignore[union-attr]
    assert offered == dialback_offered
    return stream, header.attributes["id"]  # type: ignore[union-attr]


def stream_error(stream: Stream) -> str:
    element = stream.stanza().element
    assert element.tag == "{http://etherx.jabber.org/streams}error", element.tag
    return next(c.tag[len(STREAM_ERRORS):] for c in element if not c.tag.endswith("}text"))


def test_a_forged_key_is_refused_and_stanzas_need_acceptance(servers: tuple[Server, Server]) -> None:
    one, _ = servers
    victim = one.account()
    stream, _ = s2s_stream(one, "two.test")
    stream.send(f"<db:result from='two.test' to='one.test'>{'0' * 64}</db:result>")
    answer = stream.stanza().element
    assert answer.tag == dialback.DB + "result" and answer.get("type") == "invalid"
    assert isinstance(stream.frame(), StreamClose)  # XEP-0220 2.4: and the stream ends
    stream.close()
    # Nothing accepted: a stanza from two.test ends the stream.
    stream, _ = s2s_stream(one, "two.test")
    stream.send(f"<message from='mallory@two.test' to='{victim}'><body>hi</body></message>")
    assert stream_error(stream) == "invalid-from"
    stream.close()


def test_a_key_is_checked_with_its_domains_server(servers: tuple[Server, Server]) -> None:
    one, two = servers
    # Two's own key for a stream of ours: two's server says it is valid when one asks it.
    secret = one.running.call(_secret(two))
    stream, stream_id = s2s_stream(one, "two.test")
    stream.send(f"<db:result from='two.test' to='one.test'>"
                f"{dialback.key(secret, 'one.test', 'two.test', stream_id)}</db:result>")
    answer = stream.stanza().element
    assert answer.get("type") == "valid"
    alice = one.account()
    a = login(one, alice)
    stream.send(f"<message from='carol@two.test/x' to='{alice}' type='chat' id='direct'><body>hi</body></message>")
    assert next_of(a, "message", id="direct").get("from") == "carol@two.test/x"
    # The stream is for two.test only: a stanza from another domain ends it.
    stream.send(f"<message from='eve@three.test' to='{alice}'><body>hi</body></message>")
    assert stream_error(stream) == "invalid-from"
    stream.close()
    a.close()


async def _secret(server: Server) -> bytes:
    from polyport.xmpp.router import router_for

    federation = router_for(server.running.runtime).federation
    assert federation is not None
    return await federation.secret()


def test_verify_answers_for_our_keys_only(servers: tuple[Server, Server]) -> None:
    one, _ = servers
    secret = one.running.call(_secret(one))
    stream, _ = s2s_stream(one, "elsewhere.test")
    good = dialback.key(secret, "elsewhere.test", "one.test", "abc")
    stream.send(f"<db:verify from='elsewhere.test' to='one.test' id='abc'>{good}</db:verify>")
    assert stream.stanza().element.get("type") == "valid"
    stream.send(f"<db:verify from='elsewhere.test' to='one.test' id='abd'>{good}</db:verify>")
    assert stream.stanza().element.get("type") == "invalid"
    stream.close()


def test_tls_first_and_our_domains_only(servers: tuple[Server, Server]) -> None:
    one, _ = servers
    stream, _ = s2s_stream(one, "two.test", tls=False)
    stream.send(f"<db:result from='two.test' to='one.test'>{secrets.token_hex(32)}</db:result>")
    assert stream_error(stream) == "policy-violation"
    stream.close()
    stream = Stream(one.s2s_port)
    stream.send(S2S_OPEN.format(sender="two.test", to="not-ours.test"))
    stream.frame()
    assert stream_error(stream) == "host-unknown"
    stream.close()
    stream = Stream(one.s2s_port)  # a client's stream on the servers' port
    stream.send(S2S_OPEN.format(sender="two.test", to="one.test").replace("jabber:server'", "jabber:client'"))
    stream.frame()
    assert stream_error(stream) == "invalid-namespace"
    stream.close()


def test_bad_xml_ends_only_that_stream(servers: tuple[Server, Server]) -> None:
    one, _ = servers
    stream, _ = s2s_stream(one, "two.test")
    stream.send("<!DOCTYPE x [<!ENTITY a 'b'>]>")
    assert stream_error(stream) in ("restricted-xml", "not-well-formed")
    stream.close()
    with socket.create_connection(("127.0.0.1", one.s2s_port), timeout=5):
        pass  # the listener still answers


# -- [xmpp] s2s_secure: certificates only (XEP-0178 both ways) --


@pytest.fixture(scope="module")
def secure_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two nodes that federate on certificates only, each trusting the other's (self-signed) one."""
    dns = DnsFixture()
    folders = {domain: tmp_path_factory.mktemp(domain) for domain in ("three.test", "four.test")}
    certs = {domain: make_self_signed(domain, folder / "tls")[0] for domain, folder in folders.items()}
    three = start(tmp_path_factory, dns, "three.test", f"s2s_secure = true\ns2s_ca_file = \"{certs['four.test']}\"\n",
                  folders["three.test"])
    four = start(tmp_path_factory, dns, "four.test", f"s2s_secure = true\ns2s_ca_file = \"{certs['three.test']}\"\n",
                 folders["four.test"])
    yield three, four
    for server in (three, four):
        server.running.stop()
    dns.close()


def test_certificates_prove_domains_both_ways(secure_servers: tuple[Server, Server]) -> None:
    three, four = secure_servers
    carol, dan = three.account(), four.account()
    c, d = login(three, carol), login(four, dan)
    c.send(f"<message to='{dan}' type='chat' id='s1'><body>signed</body></message>")
    assert next_of(d, "message", id="s1").findtext(C + "body") == "signed"
    d.send(f"<message to='{carol}' type='chat' id='s2'><body>sealed</body></message>")
    assert next_of(c, "message", id="s2").findtext(C + "body") == "sealed"
    for server, other in ((three, "four.test"), (four, "three.test")):
        links = server.running.call(_links(server))
        assert [(link["remote"], link["verified"], link["authenticated_by"]) for link in links] == \
            [(other, True, "certificate")]
    c.close()
    d.close()


def test_without_a_certificate_there_is_no_way_in(secure_servers: tuple[Server, Server]) -> None:
    three, _ = secure_servers
    stream, _ = s2s_stream(three, "four.test", dialback_offered=False)
    stream.send(f"<db:result from='four.test' to='three.test'>{secrets.token_hex(32)}</db:result>")
    answer = stream.stanza().element
    assert answer.tag == dialback.DB + "result" and answer.get("type") == "error"
    stream.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
    assert stream.stanza().element.tag == SASL + "failure"
    stream.close()


def test_presence_to_our_own_domain_leaves_no_link(servers: tuple[Server, Server]) -> None:
    """A domain not yet known to be ours goes to a link first, which finds it ours and hands it back."""
    one, _ = servers
    assert one.running.call(_detour(one)) == []


async def _detour(server: Server) -> list[dict[str, object]]:
    import asyncio

    from polyport.xmpp.router import router_for

    router = router_for(server.running.runtime)
    federation = router.federation
    assert federation is not None
    federation.forget_domains()
    presence = ET.Element(C + "presence", {"from": "user1@one.test/desk", "to": "nobody@one.test"})
    router.deliver_presence(presence, Jid.parse("nobody@one.test"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if not any(link["remote"] == "one.test" for link in federation.summary()):
            break
    return [link for link in federation.summary() if link["remote"] == "one.test"]


def test_links_go_only_to_public_addresses_unless_allowed() -> None:
    """The DNS is anyone's: an SRV record aiming at this host or its network is refused."""
    import asyncio
    from types import SimpleNamespace

    from polyport.xmpp import federation
    from polyport.xmpp.federation import S2sFailure

    class Resolver:
        async def query(self, name: str, rdtype: str) -> object:
            target = SimpleNamespace(priority=0, weight=0, port=6379, target="redis.evil.test.")
            return SimpleNamespace(records=(target,))

        async def addresses(self, host: str) -> list[str]:
            return ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"]

    runtime = SimpleNamespace(resolver=Resolver(),
                              config=SimpleNamespace(xmpp=SimpleNamespace(s2s_private_addresses=False)))
    with pytest.raises(S2sFailure) as caught:
        asyncio.run(federation.connect(runtime, "one.test", "evil.test"))  # type: ignore[arg-type]
    assert "not a public address" in caught.value.text


def test_push_notifications_reach_an_app_server_on_another_server(servers: tuple[Server, Server]) -> None:
    """XEP-0357 as phones use it: the app server is another server's entity, reached through federation."""
    one, two = servers
    alice, app = one.account(), two.account()
    service = login(two, app, "push")
    phone = login(one, alice, "phone")
    phone.send(f"<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='{app}/push' node='n1'/></iq>")
    assert next_of(phone, "iq", id="en").get("type") == "result"
    phone.send("</stream:stream>")
    phone.close()
    friend = login(one, one.account())
    friend.send(f"<message to='{alice}' type='chat' id='wake'><body>wake up</body></message>")
    iq = next_of(service, "iq", type="set")
    assert iq.get("from") == alice
    assert iq.find("{http://jabber.org/protocol/pubsub}pubsub/{http://jabber.org/protocol/pubsub}publish") \
        .get("node") == "n1"  # type: ignore[union-attr]
    # The app server forgot the device: its error ends the registration, and the next message wakes nobody.
    service.send(f"<iq type='error' id='{iq.get('id')}' to='{alice}'><error type='cancel'>"
                 f"<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
    eventually(lambda: one.running.call(_registrations(one, alice)) == [], timeout=10)
    for stream in (service, friend):
        stream.close()


async def _registrations(server: Server, address: str) -> list[str]:
    runtime = server.running.runtime
    record = await runtime.directory.login_record(address)
    assert record is not None
    return [r.node for r in await runtime.push.registrations(record.account_id)]


def test_another_servers_user_in_our_chat_room(servers: tuple[Server, Server]) -> None:
    """XEP-0045 across servers: the room speaks to a remote occupant through a link of its own domain."""
    from tests.xmpp.test_muc import create, until

    one, two = servers
    alice, bob = one.account(), two.account()
    a, b = login(one, alice), login(two, bob)
    room = "lounge@conference.one.test"
    create(a, room, "alice")
    b.send(f"<presence to='{room}/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    until(b, lambda e: e.tag == C + "presence" and e.get("from") == f"{room}/alice")
    until(b, lambda e: e.tag == C + "message" and e.find(C + "subject") is not None)
    until(a, lambda e: e.tag == C + "presence" and e.get("from") == f"{room}/bob")
    b.send(f"<message to='{room}' type='groupchat' id='g1'><body>hello from two</body></message>")
    got = until(a, lambda e: e.tag == C + "message" and e.get("type") == "groupchat")
    assert got.get("from") == f"{room}/bob" and got.findtext(C + "body") == "hello from two"
    a.send(f"<message to='{room}' type='groupchat' id='g2'><body>welcome</body></message>")
    got = until(b, lambda e: e.tag == C + "message" and e.findtext(C + "body") == "welcome")
    assert got.get("from") == f"{room}/alice"
    b.send(f"<presence to='{room}/bob' type='unavailable'/>")
    until(a, lambda e: e.tag == C + "presence" and e.get("from") == f"{room}/bob" and e.get("type") == "unavailable")
    a.close()
    b.close()


def certified_stream(server: Server, sender: str, chain: Path) -> tuple[Stream, ET.Element[str]]:
    """A server's stream over TLS that presents the certificate of the node whose data folder is `chain`."""
    stream = Stream(server.s2s_port)
    stream.send(S2S_OPEN.format(sender=sender, to=server.domain))
    stream.frame()
    stream.frame()
    stream.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert stream.stanza().element.tag == "{urn:ietf:params:xml:ns:xmpp-tls}proceed"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(chain / "tls" / "cert.pem", chain / "tls" / "key.pem")
    stream.sock = context.wrap_socket(stream.sock)
    stream.restart()
    stream.send(S2S_OPEN.format(sender=sender, to=server.domain))
    stream.frame()
    return stream, stream.stanza().element


def test_a_certificate_proves_only_the_domain_it_names(secure_servers: tuple[Server, Server]) -> None:
    """XEP-0178 on streams to us: four.test's certificate is no proof of five.test."""
    import base64

    three, four = secure_servers
    carol = three.account()
    c = login(three, carol)
    stream, features = certified_stream(three, "five.test", four.data)
    assert features.find(f"{SASL}mechanisms") is None  # nothing to offer a server its certificate does not name
    stream.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
                f"{base64.b64encode(b'five.test').decode()}</auth>")
    assert stream.stanza().element.tag == SASL + "failure"
    stream.close()
    stream, features = certified_stream(three, "four.test", four.data)
    assert [m.text for m in features.iter(f"{SASL}mechanism")] == ["EXTERNAL"]
    stream.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
    assert stream.stanza().element.tag == SASL + "success"
    stream.restart()
    stream.send(S2S_OPEN.format(sender="four.test", to="three.test"))
    stream.frame()
    stream.frame()  # features, empty: nothing more to negotiate
    stream.send(f"<message from='dan@four.test/x' to='{carol}' type='chat' id='ext'><body>by certificate</body>"
                f"</message>")
    assert next_of(c, "message", id="ext").findtext(C + "body") == "by certificate"
    stream.close()
    c.close()


def accepted_stream(one: Server, two: Server) -> Stream:
    """A stream to `one` on which two.test is accepted (its own key, which its server confirms)."""
    secret = one.running.call(_secret(two))
    stream, stream_id = s2s_stream(one, "two.test")
    stream.send(f"<db:result from='two.test' to='one.test'>"
                f"{dialback.key(secret, 'one.test', 'two.test', stream_id)}</db:result>")
    assert stream.stanza().element.get("type") == "valid"
    return stream


def test_bad_stanzas_on_an_accepted_stream(servers: tuple[Server, Server]) -> None:
    """A stanza without its addresses is improper-addressing; one over the size limit is refused before it is
    buffered whole (policy-violation); each ends only its stream."""
    one, two = servers
    stream = accepted_stream(one, two)
    stream.send("<message to='someone@one.test'><body>from whom?</body></message>")
    assert stream_error(stream) == "improper-addressing"
    stream.close()
    stream = accepted_stream(one, two)
    stream.send("<message from='a@two.test' to='b@one.test'><body>" + "x" * (300 * 1024))
    assert stream_error(stream) == "policy-violation"
    stream.close()
    accepted_stream(one, two).close()  # the listener goes on
