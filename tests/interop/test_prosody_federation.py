"""Federation with Prosody (Debian's 0.12) on loopback: a node of ours serving polyport.example and a private
Prosody serving prosody.example find each other through a DNS fixture (SRV records; Prosody resolves through
libunbound forwarding to it) and connect with STARTTLS. Prosody trusts our self-signed certificate, so ours
to it is proved by certificate (XEP-0178); we cannot check Prosody's, so it proves its domain with dialback
(XEP-0220). Their users exchange messages, subscriptions and presence both ways, and Prosody's user talks in
a chat room of ours. Prosody's own log is shown when a step fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.dnsfixture import DnsFixture
from tests.interop.conftest import need_binary
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.xmpp.conftest import PASSWORD, SASL, Stream, plain_login

pytestmark = [pytest.mark.interop, pytest.mark.one_process, pytest.mark.timeout(120)]

C = "{jabber:client}"
ROSTER = "{jabber:iq:roster}"
# Not under .test: libunbound answers that name itself (a special-use domain, RFC 6761) without asking.
OURS, THEIRS = "polyport.example", "prosody.example"

CONFIG = """
run_as_root = true
daemonize = false
pidfile = "{home}/prosody.pid"
data_path = "{home}/data"
plugin_paths = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "presence" }}
modules_disabled = {{ "offline" }}
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{home}/prosody.log" }} }}
network_backend = "epoll"
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ {s2s} }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = true
s2s_secure_auth = false
authentication = "internal_plain"
unbound = {{ resolvconf = false; hoststxt = false; forward = "127.0.0.1@{dns_port}";
            options = {{ ["do-not-query-localhost"] = "no" }} }}
VirtualHost "{domain}"
    ssl = {{ certificate = "{home}/cert.pem"; key = "{home}/key.pem"; cafile = "{our_cert}" }}
"""


@dataclass
class Peers:
    ours: ThreadedNode
    our_port: int
    prosody_port: int
    log: Path

    def prosody_log(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(line for line in lines if "Processing queries" not in line)[-12000:]


def start_prosody(home: Path, dns: DnsFixture, users: list[str], our_cert: Path) -> tuple[subprocess.Popen[bytes], int,
                                                                                          int]:
    """Prosody for THEIRS, trusting our node's self-signed certificate (so it takes it as proof of our
    domain: XEP-0178); ours cannot check its, so Prosody proves its domain to us with dialback."""
    prosody = need_binary("prosody")
    c2s, s2s = free_port(), free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={THEIRS}", "-addext", f"subjectAltName=DNS:{THEIRS}", "-keyout", str(home / "key.pem"),
                    "-out", str(home / "cert.pem")], check=True, capture_output=True)
    accounts = home / "data" / THEIRS.replace(".", "%2e") / "accounts"
    accounts.mkdir(parents=True)
    for user in users:  # internal_plain's account files, as prosodyctl register writes them
        (accounts / f"{user}.dat").write_text(f'return {{\n\t["password"] = "{PASSWORD}";\n}};\n')
    config = home / "prosody.cfg.lua"
    config.write_text(CONFIG.format(home=home, c2s=c2s, s2s=s2s, dns_port=dns.port, domain=THEIRS,
                                     our_cert=our_cert))
    process = subprocess.Popen([prosody, "-F", "--config", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(home)})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            Stream(c2s).close()
            break
        except OSError:
            if process.poll() is not None:
                log = (home / "prosody.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"Prosody exited: {log}") from None
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("Prosody did not start listening")
    return process, c2s, s2s


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    need_binary("prosody")
    dns = DnsFixture()
    home = Path(tempfile.mkdtemp(prefix="prosody-"))
    data = tmp_path_factory.mktemp("federation")
    ours = ThreadedNode(node_config(data, "xmpp-s2s", 0, "enabled = true\n[xmpp]\ns2s_private_addresses = true\n",
                                         dns=dns.server, domain=OURS)).start()
    try:
        process, prosody_c2s, prosody_s2s = start_prosody(home, dns, ["bob", "carol", "erin"],
                                                          data / "tls" / "cert.pem")
    except BaseException:
        ours.stop()
        raise
    ports = {b.service: b.port for b in ours.node.bound_listeners()}
    for domain, port in ((OURS, ports["xmpp-s2s"]), (f"conference.{OURS}", ports["xmpp-s2s"]), (THEIRS, prosody_s2s)):
        dns.add(f"_xmpp-server._tcp.{domain}", "SRV", f"0 5 {port} xmpp.{domain}.")
        dns.add(f"xmpp.{domain}", "A", "127.0.0.1")
    for name in ("alice", "dave"):
        ours.call(ours.runtime.directory.create_account(f"{name}@{OURS}", password=PASSWORD))
    try:
        yield Peers(ours, ports["xmpp"], prosody_c2s, home / "prosody.log")
    finally:
        ours.stop()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        dns.close()
        shutil.rmtree(home, ignore_errors=True)


def login(port: int, domain: str, user: str, resource: str) -> Stream:
    stream = Stream(port)
    stream.open(domain)
    plain_login(stream, f"{user}@{domain}" if domain == OURS else user)
    assert stream.stanza().element.tag == SASL + "success"
    stream.restart()
    stream.open(domain)
    stream.send(f"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}"
                f"</resource></bind></iq>")
    assert wait_for(stream, lambda e: e.tag == C + "iq" and e.get("id") == "b1").get("type") == "result"
    stream.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    wait_for(stream, lambda e: e.get("id") == "s1")
    stream.send("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>")
    wait_for(stream, lambda e: e.get("id") == "r0")
    stream.send("<presence/>")
    return stream


def wait_for(stream: Stream, wanted: Callable[[ET.Element[str]], bool], what: str = "stanza",
             peers: Peers | None = None) -> ET.Element[str]:
    stream.sock.settimeout(15)
    try:
        for _ in range(100):
            element = stream.stanza().element
            if wanted(element):
                return element
    except TimeoutError:
        pass
    raise AssertionError(f"no {what}" + (f"; Prosody's log:\n{peers.prosody_log()}" if peers else ""))


def test_messages_both_ways_with_prosody(peers: Peers) -> None:
    alice = login(peers.our_port, OURS, "alice", "desk")
    bob = login(peers.prosody_port, THEIRS, "bob", "laptop")
    alice.send(f"<message to='bob@{THEIRS}' type='chat' id='p1'><body>Hello Prosody</body></message>")
    got = wait_for(bob, lambda e: e.tag == C + "message" and e.get("id") == "p1", "message at Prosody", peers)
    assert got.get("from") == f"alice@{OURS}/desk"
    assert got.findtext(C + "body") == "Hello Prosody"
    bob.send(f"<message to='alice@{OURS}/desk' type='chat' id='p2'><body>Hello Polyport</body></message>")
    got = wait_for(alice, lambda e: e.tag == C + "message" and e.get("id") == "p2", "message at Polyport", peers)
    assert got.get("from") == f"bob@{THEIRS}/laptop"
    assert got.findtext(C + "body") == "Hello Polyport"
    # Prosody took our certificate for our domain (XEP-0178): no dialback was needed on our link.
    links = peers.ours.call(_links(peers.ours))
    assert [(link["remote"], link["authenticated_by"]) for link in links] == [(THEIRS, "certificate")], links
    # An iq to Prosody's server itself comes back answered.
    alice.send(f"<iq type='get' to='{THEIRS}' id='ping'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert wait_for(alice, lambda e: e.get("id") == "ping", "ping answer", peers).get("type") == "result"
    alice.close()
    bob.close()


async def _links(node: ThreadedNode) -> list[dict[str, object]]:
    from polyport.xmpp.router import router_for

    federation = router_for(node.runtime).federation
    assert federation is not None
    return federation.summary()


def test_subscriptions_and_presence_with_prosody(peers: Peers) -> None:
    dave = login(peers.our_port, OURS, "dave", "desk")
    carol = login(peers.prosody_port, THEIRS, "carol", "phone")
    # Ours asks theirs; theirs approves and asks back; ours approves: both see each other.
    dave.send(f"<presence to='carol@{THEIRS}' type='subscribe'/>")
    wait_for(carol, lambda e: e.tag == C + "presence" and e.get("type") == "subscribe"
             and e.get("from") == f"dave@{OURS}", "subscription request at Prosody", peers)
    carol.send(f"<presence to='dave@{OURS}' type='subscribed'/>")
    wait_for(dave, lambda e: e.tag == C + "presence" and e.get("from") == f"carol@{THEIRS}/phone"
             and e.get("type") is None, "Prosody user's presence at Polyport", peers)
    carol.send(f"<presence to='dave@{OURS}' type='subscribe'/>")
    wait_for(dave, lambda e: e.tag == C + "presence" and e.get("type") == "subscribe", "request at Polyport", peers)
    dave.send(f"<presence to='carol@{THEIRS}' type='subscribed'/>")
    wait_for(carol, lambda e: e.tag == C + "presence" and e.get("from") == f"dave@{OURS}/desk"
             and e.get("type") is None, "Polyport user's presence at Prosody", peers)
    # Dave's roster says both; his leaving reaches Carol.
    dave.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    roster = wait_for(dave, lambda e: e.get("id") == "r1", "roster", peers)
    items = {i.get("jid"): i.get("subscription") for i in roster.iter(ROSTER + "item")}
    assert items.get(f"carol@{THEIRS}") == "both"
    dave.send("<presence type='unavailable'/>")
    wait_for(carol, lambda e: e.tag == C + "presence" and e.get("from") == f"dave@{OURS}/desk"
             and e.get("type") == "unavailable", "unavailable at Prosody", peers)
    dave.close()
    carol.close()


def test_a_prosody_user_in_our_chat_room(peers: Peers) -> None:
    """XEP-0045 across servers: Prosody's user enters a room of ours, and both sides talk."""
    from tests.xmpp.test_muc import create

    frank = login(peers.our_port, OURS, "alice", "room")
    erin = login(peers.prosody_port, THEIRS, "erin", "desk")
    room = f"garden@conference.{OURS}"
    create(frank, room, "frank")
    erin.send(f"<presence to='{room}/erin'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    wait_for(erin, lambda e: e.tag == C + "message" and e.find(C + "subject") is not None, "the room's subject",
             peers)
    wait_for(frank, lambda e: e.tag == C + "presence" and e.get("from") == f"{room}/erin", "Erin entering", peers)
    erin.send(f"<message to='{room}' type='groupchat' id='e1'><body>hi from Prosody</body></message>")
    got = wait_for(frank, lambda e: e.tag == C + "message" and e.get("type") == "groupchat", "groupchat", peers)
    assert got.get("from") == f"{room}/erin" and got.findtext(C + "body") == "hi from Prosody"
    frank.send(f"<message to='{room}' type='groupchat' id='f1'><body>welcome, Erin</body></message>")
    got = wait_for(erin, lambda e: e.tag == C + "message" and e.findtext(C + "body") == "welcome, Erin",
                   "groupchat at Prosody", peers)
    assert got.get("from") == f"{room}/frank"
    frank.close()
    erin.close()
