"""Push notifications (XEP-0357): a client registers an app server and node; a message kept offline, or
queued for a detached stream, makes the server publish a summary (never the text) with the client's
publish options to that node; disabling stops them. The app server here is another client of the node
(its full JID): it gets the publish as an iq and answers it. Through federation: tests/xmpp/test_federation.py."""

from __future__ import annotations

import time
from xml.etree import ElementTree as ET

import pytest

from tests.xmpp.conftest import Stream, XmppNode, bound
from tests.xmpp.test_routing import available, quiet
from tests.xmpp.test_stream_management import enabled

C = "{jabber:client}"
PUBSUB = "{http://jabber.org/protocol/pubsub}"
DATA = "{jabber:x:data}"
SECRET_FORM = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
               "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
               "<field var='secret'><value>eruio234vzxc2kla-91</value></field></x>")


def app_server(node: XmppNode) -> tuple[Stream, str]:
    stream, address = bound(node, "push")
    available(stream)
    return stream, f"{address}/push"


def publish_of(stream: Stream) -> ET.Element[str]:
    """The next pubsub publish the app server gets, answered."""
    for _ in range(20):
        iq = stream.stanza().element
        if iq.tag == C + "iq" and iq.find(PUBSUB + "pubsub") is not None:
            stream.send(f"<iq type='result' id='{iq.get('id')}' to='{iq.get('from')}'/>")
            return iq
    raise AssertionError("no publish")


def fields(iq: ET.Element[str], where: str) -> dict[str, str]:
    form = iq.find(where)
    assert form is not None
    return {f.get("var", ""): f.findtext(DATA + "value") or "" for f in form.iter(DATA + "field")}


def register(client: Stream, service: str, node: str = "yxs32uqsflafdk3iuqo", *, options: str = SECRET_FORM) -> None:
    client.send(f"<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='{service}' node='{node}'>{options}"
                f"</enable></iq>")
    reply = client.stanza().element
    assert reply.get("id") == "en" and reply.get("type") == "result", ET.tostring(reply)


def test_a_message_kept_offline_wakes_the_registered_app_server(xmpp_node: XmppNode) -> None:
    service, service_jid = app_server(xmpp_node)
    phone, address = bound(xmpp_node, "phone")
    phone.send(f"<iq type='get' id='d' to='{address}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    features = {f.get("var") for f in phone.stanza().element.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert "urn:xmpp:push:0" in features
    register(phone, service_jid)
    phone.send("</stream:stream>")
    phone.close()
    time.sleep(0.2)
    friend, friend_address = bound(xmpp_node, "desk")
    # A chat state alone (no body) is not worth waking a phone for.
    friend.send(f"<message to='{address}' type='chat' id='m0'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
                f"</message>")
    assert quiet(service, 0.3)
    friend.send(f"<message to='{address}' type='chat' id='m1'><body>Are you there?</body></message>")
    iq = publish_of(service)
    assert iq.get("type") == "set" and iq.get("from") == address
    publish = iq.find(f"{PUBSUB}pubsub/{PUBSUB}publish")
    assert publish is not None and publish.get("node") == "yxs32uqsflafdk3iuqo"
    summary = fields(iq, f"{PUBSUB}pubsub/{PUBSUB}publish/{PUBSUB}item/{{urn:xmpp:push:0}}notification/{DATA}x")
    # The sender is not named by default ([xmpp] push_with_sender): the app server is a third party.
    assert summary == {"FORM_TYPE": "urn:xmpp:push:summary", "message-count": "1"}
    assert friend_address.encode() not in ET.tostring(iq)
    assert b"Are you there" not in ET.tostring(iq)  # the text never goes to the app server
    assert fields(iq, f"{PUBSUB}pubsub/{PUBSUB}publish-options/{DATA}x")["secret"] == "eruio234vzxc2kla-91"
    # More messages soon after: that one notification woke the phone, they wait without another.
    friend.send(f"<message to='{address}' type='chat' id='m1b'><body>Hello?</body></message>")
    assert quiet(service, 0.5)
    # Disabled: the next message waits without a notification.
    phone, _ = bound(xmpp_node, "phone", address)
    phone.send(f"<iq type='set' id='off'><disable xmlns='urn:xmpp:push:0' jid='{service_jid}'/></iq>")
    assert phone.stanza().element.get("type") == "result"
    phone.send("</stream:stream>")
    phone.close()
    time.sleep(0.2)
    friend.send(f"<message to='{address}' type='chat' id='m2'><body>Hello?</body></message>")
    assert quiet(service, 0.5)
    for stream in (service, friend):
        stream.close()


def test_a_detached_stream_wakes_its_phone_once_a_while(xmpp_node: XmppNode) -> None:
    service, service_jid = app_server(xmpp_node)
    phone, address = bound(xmpp_node, "phone")
    enabled(phone)
    register(phone, service_jid, "n2", options="")
    available(phone)
    phone.close()  # lost, not closed: the session waits to be resumed (XEP-0198)
    time.sleep(0.2)
    friend, _ = bound(xmpp_node, "desk")
    for n in range(3):
        friend.send(f"<message to='{address}/phone' type='chat' id='d{n}'><body>{n}</body></message>")
    iq = publish_of(service)
    assert iq.find(f"{PUBSUB}pubsub/{PUBSUB}publish").get("node") == "n2"  # type: ignore[union-attr]
    assert iq.find(f"{PUBSUB}pubsub/{PUBSUB}publish-options") is None
    assert quiet(service, 0.5)  # one notification wakes it; the next ones wait DETACHED_EVERY
    for stream in (service, friend):
        stream.close()


def test_requests_that_make_no_sense_are_refused(xmpp_node: XmppNode) -> None:
    phone, _ = bound(xmpp_node, "phone")
    for payload, condition in (("<enable xmlns='urn:xmpp:push:0' jid='push.example'/>", "bad-request"),
                               ("<enable xmlns='urn:xmpp:push:0' jid='@@' node='n'/>", "jid-malformed"),
                               ("<other xmlns='urn:xmpp:push:0' jid='push.example'/>", "bad-request"),
                               (f"<enable xmlns='urn:xmpp:push:0' jid='push.example' node='n'>"
                                f"<x xmlns='jabber:x:data'>{'<field/>' * 600}</x></enable>", "not-acceptable")):
        phone.send(f"<iq type='set' id='bad'>{payload}</iq>")
        reply = phone.stanza().element
        assert reply.get("type") == "error"
        assert reply.find(f"{C}error/{{urn:ietf:params:xml:ns:xmpp-stanzas}}{condition}") is not None, condition
    phone.close()


@pytest.mark.one_process  # patches the push module of the node's own worker
def test_messages_within_the_window_are_notified_when_it_ends(xmpp_node: XmppNode,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """One notification wakes the phone; what comes soon after is counted, and notified when the window
    ends unless a client of the account came back (never left without one)."""
    from polyport.xmpp import push

    monkeypatch.setattr(push, "COALESCE_SECONDS", 1.0)
    service, service_jid = app_server(xmpp_node)
    phone, address = bound(xmpp_node, "phone")
    register(phone, service_jid, "n3", options="")
    phone.send("</stream:stream>")
    phone.close()
    time.sleep(0.2)
    friend, _ = bound(xmpp_node, "desk")
    friend.send(f"<message to='{address}' type='chat' id='w1'><body>one</body></message>")
    first = publish_of(service)
    friend.send(f"<message to='{address}' type='chat' id='w2'><body>two</body></message>")
    friend.send(f"<message to='{address}' type='chat' id='w3'><body>three</body></message>")
    assert quiet(service, 0.3)
    second = publish_of(service)  # when the window ends
    where = f"{PUBSUB}pubsub/{PUBSUB}publish/{PUBSUB}item/{{urn:xmpp:push:0}}notification/{DATA}x"
    assert fields(first, where)["message-count"] == "1" and fields(second, where)["message-count"] == "3"
    for stream in (service, friend):
        stream.close()
