"""Blocking (XEP-0191) over XMPP: the list and its pushes, what a blocked contact can no longer send or see,
what the user is told when writing to someone blocked, and unblocking."""

from __future__ import annotations

from tests.xmpp.conftest import Stream, XmppNode
from tests.xmpp.test_presence import heard, online, presences, subscribe
from tests.xmpp.test_routing import error_condition

B = "{urn:xmpp:blocking}"


def blocklist(stream: Stream) -> list[str | None]:
    stream.send("<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
    reply = stream.stanza().element
    assert reply.get("type") == "result"
    return [item.get("jid") for item in reply.iter(B + "item")]


def subscribed_both_ways(juliet: Stream, juliet_address: str, romeo: Stream, romeo_address: str) -> None:
    subscribe(juliet, juliet_address, romeo, romeo_address)
    subscribe(romeo, romeo_address, juliet, juliet_address)


def test_blocking_and_unblocking(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    phone, _ = online(xmpp_node, "phone", juliet_address)
    romeo, romeo_address = online(xmpp_node, "orchard")
    heard(juliet), heard(phone), heard(romeo)
    subscribed_both_ways(juliet, juliet_address, romeo, romeo_address)
    heard(phone)  # her roster's pushes and his presence
    assert blocklist(juliet) == [] and blocklist(phone) == []
    juliet.send(f"<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='{romeo_address}'/></block></iq>")
    got = heard(juliet)
    assert {s.get("type") for s in got} == {"result", "set"}  # the answer, and the push to herself
    push = next(s for s in heard(phone) if s.get("type") == "set")
    assert [i.get("jid") for i in push.iter(B + "item")] == [romeo_address]
    assert presences(heard(romeo)) == [("unavailable", f"{juliet_address}/balcony"),
                                       ("unavailable", f"{juliet_address}/phone")]
    # He can no longer reach her; she is told she blocks him.
    romeo.send(f"<message to='{juliet_address}' type='chat' id='r1'><body>Juliet?</body></message>")
    assert error_condition(romeo.stanza()) == "service-unavailable"
    romeo.send("<presence><show>away</show></presence>")
    assert heard(juliet) == []
    juliet.send(f"<message to='{romeo_address}' type='chat' id='j1'><body>hush</body></message>")
    refused = juliet.stanza().element
    assert error_condition(type("F", (), {"element": refused})()) == "not-acceptable"
    assert refused.find("{jabber:client}error/{urn:xmpp:blocking:errors}blocked") is not None
    assert blocklist(juliet) == [romeo_address]
    # Unblocking every JID: he sees her presence again, and they talk.
    juliet.send("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>")
    heard(juliet), heard(phone)
    assert (None, f"{juliet_address}/balcony") in presences(heard(romeo))
    romeo.send(f"<message to='{juliet_address}/balcony' type='chat' id='r2'><body>again</body></message>")
    assert juliet.stanza().element.get("id") == "r2"
    for stream in (juliet, phone, romeo):
        stream.close()


def test_what_a_block_may_get_wrong(xmpp_node: XmppNode) -> None:
    stream, _ = online(xmpp_node, "x")
    heard(stream)
    stream.send("<iq type='set' id='e1'><block xmlns='urn:xmpp:blocking'/></iq>")
    assert error_condition(stream.stanza()) == "bad-request"
    stream.send("<iq type='set' id='e2'><block xmlns='urn:xmpp:blocking'><item jid='not a jid@x'/></block></iq>")
    assert error_condition(stream.stanza()) == "jid-malformed"
    stream.close()
