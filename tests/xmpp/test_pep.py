"""Personal eventing (XEP-0163) on a node, over raw streams, and its pure parts: entity capabilities hashed
as XEP-0115 says (forms included), pubsub requests read, publish-options as preconditions; the account's
service in discovery; a publish notifying the account's own clients and its subscribed contacts' that ask
for the node (`+notify`, learned by asking the client once), the last item on coming online, reading a
contact's node by access model, retraction, deletion."""

from __future__ import annotations

import base64
import hashlib
from xml.etree import ElementTree as ET

import pytest

from polyport.xmpp import caps, pubsub
from tests.xmpp.conftest import Stream, XmppNode, bound
from tests.xmpp.test_presence import heard, subscribe
from tests.xmpp.test_routing import error_condition

C = "{jabber:client}"
PUBSUB = "http://jabber.org/protocol/pubsub"
EVENT = "{http://jabber.org/protocol/pubsub#event}"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
NICK = "http://jabber.org/protocol/nick"
CAPS_NODE = "https://example.org/client"
IDENTITY = ("client", "pc", "", "Test client")


def test_capabilities_hash_as_xep_0115_says() -> None:
    # XEP-0115 5.3's complex example: two identities, features and a software-information form.
    query = ET.fromstring(
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
        "<identity xml:lang='el' category='client' name='\u03a8 0.11' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/><feature var='http://jabber.org/protocol/muc'/>"
        "<x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
        "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>"
        "<field var='os'><value>Mac</value></field><field var='os_version'><value>10.5.1</value></field>"
        "<field var='software'><value>Psi</value></field><field var='software_version'><value>0.11</value></field>"
        "</x></query>")
    answered = caps.answered_ver(query, "sha-1")
    assert answered is not None and answered[0] == "q07IKJEyjvHSyhy//CH0CxmKi8w="
    assert "http://jabber.org/protocol/muc" in answered[1]
    twice = ET.fromstring("<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/>"
                          "<feature var='a'/></query>")
    assert caps.answered_ver(twice, "sha-1") is None
    assert caps.notify_nodes(frozenset({NICK + "+notify", NICK, "x"})) == {NICK}


def test_publish_options_are_preconditions() -> None:
    iq = ET.fromstring(
        f"<iq xmlns='jabber:client' type='set'><pubsub xmlns='{PUBSUB}'><publish node='n'><item id='current'>"
        f"<p xmlns='urn:x'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
        f"<field var='FORM_TYPE'><value>{PUBSUB}#publish-options</value></field>"
        f"<field var='pubsub#access_model'><value>whitelist</value></field>"
        f"<field var='pubsub#max_items'><value>max</value></field></x></publish-options></pubsub></iq>")
    request = pubsub.parse(iq)
    assert isinstance(request, pubsub.Publish) and request.item_id == "current"
    created = pubsub.configured(pubsub.NodeConfig(), request.options)
    assert created.access_model == "whitelist" and created.max_items == 256
    assert pubsub.configured(created, request.options, precondition=True) == created
    with pytest.raises(pubsub.PubsubError) as err:
        pubsub.configured(pubsub.NodeConfig(), request.options, precondition=True)
    assert err.value.condition == "conflict" and err.value.application == \
        "{http://jabber.org/protocol/pubsub#errors}precondition-not-met"
    for bad in ("<retract node='n'/>", "<publish node=''><item><a xmlns='x'/></item></publish>",
                "<publish node='n'><item><a xmlns='x'/><b xmlns='x'/></item></publish>", "<subscribe node='n'/>"):
        with pytest.raises(pubsub.PubsubError):
            pubsub.parse(ET.fromstring(f"<iq xmlns='jabber:client' type='set'><pubsub xmlns='{PUBSUB}'>{bad}"
                                       f"</pubsub></iq>"))


def features_for(*nodes: str) -> list[str]:
    return sorted([DISCO_INFO, *(node + "+notify" for node in nodes)])


def announce(stream: Stream, *nodes: str) -> None:
    """Available presence with capabilities that ask for these nodes' notifications; the server's query for
    them answered if it asks."""
    features = features_for(*nodes)
    digest = hashlib.sha1(caps.verification([IDENTITY], features).encode(), usedforsecurity=False).digest()
    ver = base64.b64encode(digest).decode()
    stream.send(f"<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{CAPS_NODE}' "
                f"ver='{ver}'/></presence>")
    for stanza in heard(stream):
        if stanza.tag == C + "iq" and stanza.get("type") == "get":
            query = stanza.find(f"{{{DISCO_INFO}}}query")
            assert query is not None and query.get("node") == f"{CAPS_NODE}#{ver}"
            answer = "".join(f"<feature var='{f}'/>" for f in features)
            stream.send(f"<iq type='result' id='{stanza.get('id')}' to='{stanza.get('from')}'>"
                        f"<query xmlns='{DISCO_INFO}' node='{CAPS_NODE}#{ver}'><identity category='client' "
                        f"type='pc' name='Test client'/>{answer}</query></iq>")


def publish(stream: Stream, node: str, item_id: str, payload: str, options: str = "",
            also: list[ET.Element[str]] | None = None) -> ET.Element[str]:
    """The publish's answer; what else came meanwhile goes into `also`."""
    stream.send(f"<iq type='set' id='pub-{item_id}'><pubsub xmlns='{PUBSUB}'><publish node='{node}'>"
                f"<item id='{item_id}'>{payload}</item></publish>{options}</pubsub></iq>")
    got = heard(stream)
    if also is not None:
        also.extend(s for s in got if s.get("id") != f"pub-{item_id}")
    for stanza in got:
        if stanza.get("id") == f"pub-{item_id}":
            return stanza
    raise AssertionError("no answer")


def events(stanzas: list[ET.Element[str]]) -> list[ET.Element[str]]:
    return [s for s in stanzas if s.tag == C + "message" and s.find(EVENT + "event") is not None]


def test_the_accounts_service_in_discovery(xmpp_node: XmppNode) -> None:
    stream, address = bound(xmpp_node)
    stream.send(f"<iq type='get' id='d' to='{address}'><query xmlns='{DISCO_INFO}'/></iq>")
    info = stream.stanza().element
    identities = {(i.get("category"), i.get("type")) for i in info.iter(f"{{{DISCO_INFO}}}identity")}
    assert ("pubsub", "pep") in identities
    assert f"{PUBSUB}#publish-options" in [f.get("var") for f in info.iter(f"{{{DISCO_INFO}}}feature")]
    stream.close()


def test_publish_notify_read_retract_delete(xmpp_node: XmppNode) -> None:
    alice, alice_address = bound(xmpp_node, "a")
    bob, bob_address = bound(xmpp_node, "b")
    carol, _ = bound(xmpp_node, "c")
    for stream in (alice, bob, carol):
        stream.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    announce(alice, NICK)
    announce(bob, NICK)
    announce(carol, NICK)
    subscribe(bob, bob_address, alice, alice_address)  # bob hears alice's presence, so her nick

    own: list[ET.Element[str]] = []
    result = publish(alice, NICK, "current", f"<nick xmlns='{NICK}'>Alice</nick>", also=own)
    assert result.get("type") == "result"
    for got in (events(own), events(heard(bob))):  # her own client (it asked) and her subscribed contact's
        assert len(got) == 1 and got[0].get("from") == alice_address and got[0].get("type") == "headline"
        assert got[0].findtext(f"{EVENT}event/{EVENT}items/{EVENT}item/{{{NICK}}}nick") == "Alice"
    assert events(heard(carol)) == []  # not subscribed to her presence

    # Reading the node: her contact may, a stranger may not.
    bob.send(f"<iq type='get' id='i1' to='{alice_address}'><pubsub xmlns='{PUBSUB}'><items node='{NICK}'/>"
             f"</pubsub></iq>")
    answer = bob.stanza().element
    assert answer.get("type") == "result" and answer.findtext(f".//{{{NICK}}}nick") == "Alice"
    carol.send(f"<iq type='get' id='i2' to='{alice_address}'><pubsub xmlns='{PUBSUB}'><items node='{NICK}'/>"
               f"</pubsub></iq>")
    refused = carol.stanza()
    assert error_condition(refused) == "not-authorized"
    assert refused.element.find(".//{http://jabber.org/protocol/pubsub#errors}presence-subscription-required") \
        is not None
    carol.send(f"<iq type='set' id='i3' to='{alice_address}'><pubsub xmlns='{PUBSUB}'><publish node='{NICK}'>"
               f"<item><nick xmlns='{NICK}'>Mallory</nick></item></publish></pubsub></iq>")
    assert error_condition(carol.stanza()) == "forbidden"

    # Bob comes online again: the last item comes with his presence (capabilities known: no query now).
    bob.close()
    bob2, _ = bound(xmpp_node, "b2", bob_address)
    bob2.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    announce(bob2, NICK)
    # (announce read what came: look again for the event among it by publishing nothing new)
    alice.send(f"<iq type='set' id='rt'><pubsub xmlns='{PUBSUB}'><retract node='{NICK}' notify='true'>"
               f"<item id='current'/></retract></pubsub></iq>")
    got = events(heard(bob2))
    assert [e.find(f"{EVENT}event/{EVENT}items/{EVENT}retract").get("id") for e in got  # type: ignore[union-attr]
            if e.find(f"{EVENT}event/{EVENT}items/{EVENT}retract") is not None] == ["current"]

    # Publish-options that the node does not have: precondition-not-met, nothing published.
    options = (f"<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>{PUBSUB}"
               f"#publish-options</value></field><field var='pubsub#access_model'><value>whitelist</value></field>"
               f"</x></publish-options>")
    refused_publish = publish(alice, NICK, "next", f"<nick xmlns='{NICK}'>A.</nick>", options)
    assert refused_publish.get("type") == "error"
    assert refused_publish.find(".//{http://jabber.org/protocol/pubsub#errors}precondition-not-met") is not None
    # A whitelist node (as bookmarks are): only the account reads it.
    assert publish(alice, "urn:xmpp:bookmarks:1", "room@conference.example.com",
                   "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/>", options).get("type") == "result"
    bob2.send(f"<iq type='get' id='i4' to='{alice_address}'><pubsub xmlns='{PUBSUB}'>"
              f"<items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
    assert error_condition(type("S", (), {"element": next(s for s in heard(bob2) if s.get("id") == "i4")})) == \
        "not-allowed"
    alice.send(f"<iq type='get' id='i5'><pubsub xmlns='{PUBSUB}'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
    mine = next(s for s in heard(alice) if s.get("id") == "i5")
    assert mine.find(".//{urn:xmpp:bookmarks:1}conference") is not None

    # Deleting the node: those who asked for it hear it.
    alice.send(f"<iq type='set' id='del'><pubsub xmlns='{PUBSUB}#owner'><delete node='{NICK}'/></pubsub></iq>")
    got = events(heard(bob2))
    assert [e.find(f"{EVENT}event/{EVENT}delete").get("node") for e in got] == [NICK]  # type: ignore[union-attr]
    alice.send(f"<iq type='get' id='items'><pubsub xmlns='{PUBSUB}'><items node='{NICK}'/></pubsub></iq>")
    assert error_condition(next(type("S", (), {"element": s}) for s in heard(alice) if s.get("id") == "items")) \
        == "item-not-found"
    for stream in (alice, bob2, carol):
        stream.close()


def test_the_last_item_comes_with_presence(xmpp_node: XmppNode) -> None:
    alice, alice_address = bound(xmpp_node, "a")
    bob, bob_address = bound(xmpp_node, "b")
    for stream in (alice, bob):
        stream.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    announce(alice)
    announce(bob)
    subscribe(bob, bob_address, alice, alice_address)
    assert publish(alice, NICK, "current", f"<nick xmlns='{NICK}'>Alice</nick>").get("type") == "result"
    bob.close()
    again, _ = bound(xmpp_node, "b", bob_address)
    again.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    features = sorted([*features_for(NICK), "urn:x-test:not-seen-before"])  # a hash new to the server
    digest = hashlib.sha1(caps.verification([IDENTITY], features).encode(), usedforsecurity=False).digest()
    ver = base64.b64encode(digest).decode()
    again.send(f"<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{CAPS_NODE}' "
               f"ver='{ver}'/></presence>")
    got = heard(again)
    query = [s for s in got if s.tag == C + "iq" and s.get("type") == "get"]
    assert len(query) == 1  # not learned yet: asked once
    again.send(f"<iq type='result' id='{query[0].get('id')}' to='{query[0].get('from')}'><query xmlns='{DISCO_INFO}' "
               f"node='{CAPS_NODE}#{ver}'><identity category='client' type='pc' name='Test client'/>"
               + "".join(f"<feature var='{f}'/>" for f in features) + "</query></iq>")
    last = events(heard(again))
    assert len(last) == 1 and last[0].findtext(f".//{{{NICK}}}nick") == "Alice"
    assert last[0].find("{urn:xmpp:delay}delay") is not None
    for stream in (alice, again):
        stream.close()


def test_capabilities_that_could_claim_anothers_hash_are_refused() -> None:
    # Two features a and b hash as one feature "a<b": an answer with '<' in it is not believed.
    merged = ET.fromstring(f"<query xmlns='{DISCO_INFO}'><identity category='client' type='pc'/>"
                           "<feature var='a&lt;b'/></query>")
    assert caps.answered_ver(merged, "sha-1") is None
    hidden = ET.fromstring(f"<query xmlns='{DISCO_INFO}'><x xmlns='jabber:x:data' type='result'>"
                           "<field var='FORM_TYPE' type='text-single'><value>urn:x</value></field></x></query>")
    assert caps.answered_ver(hidden, "sha-1") is None
    long_nodes = frozenset({"n" * 300 + "+notify", *(f"node{n}+notify" for n in range(500))})
    assert len(caps.notify_nodes(long_nodes)) == caps.MAX_NODES


def test_publish_options_a_node_cannot_have_are_preconditions_too() -> None:
    for field, value in (("pubsub#access_model", "authorize"), ("pubsub#persist_items", "maybe")):
        with pytest.raises(pubsub.PubsubError) as err:
            pubsub.configured(pubsub.NodeConfig(), {field: [value]}, options=True)
        assert err.value.condition == "conflict" and err.value.application and \
            err.value.application.endswith("precondition-not-met")
    assert pubsub.configured(pubsub.NodeConfig(), {"pubsub#max_items": ["100000"]}).max_items == 256


def test_blocking_stops_events_and_unknown_items_are_not_found(xmpp_node: XmppNode) -> None:
    alice, alice_address = bound(xmpp_node, "a")
    bob, bob_address = bound(xmpp_node, "b")
    for stream in (alice, bob):
        stream.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    announce(alice, NICK)
    announce(bob, NICK)
    subscribe(bob, bob_address, alice, alice_address)
    alice.send(f"<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'><item jid='{bob_address}'/></block></iq>")
    heard(alice)
    publish(alice, NICK, "current", f"<nick xmlns='{NICK}'>Alice</nick>")
    assert events(heard(bob)) == []  # she blocks him: her events do not reach him
    alice.send(f"<iq type='set' id='rt'><pubsub xmlns='{PUBSUB}'><retract node='{NICK}'><item id='nothing'/>"
               f"</retract></pubsub></iq>")
    assert error_condition(next(type("S", (), {"element": s}) for s in heard(alice) if s.get("id") == "rt")) == \
        "item-not-found"
    for stream in (alice, bob):
        stream.close()
