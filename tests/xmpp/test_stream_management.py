"""Stream management (XEP-0198): enabling it, acknowledgements both ways, resumption of a lost stream with
what the client had not acknowledged sent again, and the messages of a stream never resumed re-routed or
kept offline."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.metrics import REGISTRY
from polyport.xmpp import sm as sm_module
from polyport.xmpp.sm import AckError, StreamManagement, parse_h
from tests.xmpp.conftest import SASL, Stream, XmppNode, bound, plain_login
from tests.xmpp.test_routing import available, quiet

C = "{jabber:client}"
SM = "{urn:xmpp:sm:3}"
STANZAS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"
NS = "urn:xmpp:sm:3"


def authenticated(node: XmppNode, address: str) -> Stream:
    """A stream logged in as `address`, its features read, no resource bound."""
    stream = Stream(node.port)
    stream.open()
    plain_login(stream, address)
    assert stream.stanza().element.tag == SASL + "success"
    stream.restart()
    stream.open()
    return stream


def not_resumed(node: XmppNode, address: str, stream_id: str, h: int = 0) -> Stream:
    """A new stream of `address` asks to resume `stream_id`, and is told there is no such stream."""
    stream = authenticated(node, address)
    stream.send(f"<resume xmlns='{NS}' previd='{stream_id}' h='{h}'/>")
    assert stream.stanza().element.find(STANZAS + "item-not-found") is not None
    return stream


def enabled(stream: Stream, resume: bool = True) -> str:
    stream.send(f"<enable xmlns='{NS}'" + (" resume='true'/>" if resume else "/>"))
    reply = stream.stanza().element
    assert reply.tag == SM + "enabled", reply.tag
    if resume:
        assert reply.get("resume") == "true" and reply.get("max") == str(sm_module.RESUME_SECONDS)
    return reply.get("id", "")


def chat(sender: Stream, to: str, n: int) -> None:
    sender.send(f"<message to='{to}' type='chat' id='m{n}'><body>message {n}</body></message>")


def frames(stream: Stream, count: int) -> list[str]:
    """The next `count` top-level elements, each as its local name and id (`message:m1`, `r`)."""
    got = []
    for _ in range(count):
        element = stream.stanza().element
        name = element.tag.rpartition("}")[2]
        got.append(f"{name}:{element.get('id')}" if element.get("id") else name)
    return got


def test_counters_and_the_unacknowledged_queue() -> None:
    state = StreamManagement(resumable=True)
    asks = [state.sending(f"<message id='{n}'/>".encode()) for n in range(7)]
    assert asks == [False, False, False, False, True, False, False]  # one request out at a time
    state.acknowledged(5)
    assert state.unacknowledged() == [b"<message id='5'/>", b"<message id='6'/>"] and not state.requested
    state.acknowledged(3)  # behind an earlier acknowledgement: nothing more to forget
    assert len(state.unacked) == 2
    with pytest.raises(AckError):
        state.acknowledged(9)
    state.acknowledged(7)
    assert state.unacked_bytes == 0 and not state.unacked
    wrapping = StreamManagement(resumable=False, sent=2**32 - 1)
    wrapping.sending(b"<iq/>")
    wrapping.sending(b"<iq/>")
    assert wrapping.sent == 1
    wrapping.acknowledged(0)
    assert len(wrapping.unacked) == 1
    for bad in ("", "-1", "x", str(2**32), None):
        with pytest.raises(ValueError):
            parse_h(bad)


@given(st.integers(0, 2**32 - 1), st.lists(st.tuples(st.integers(0, 20), st.integers(0, 30)), max_size=20),
       st.integers(0, 2**32 - 1))
def test_acknowledgements_forget_exactly_what_was_handled(start: int, steps: list[tuple[int, int]],
                                                          stray: int) -> None:
    """Whatever the client acknowledges, the queue holds the stanzas sent after its count, never fewer; a
    count ahead of what was sent is refused, one behind an earlier acknowledgement changes nothing."""
    state = StreamManagement(resumable=True, sent=start)
    acked = start
    for sends, acks in steps:
        for _ in range(sends):
            state.sending(b"<message/>")
        h = (acked + min(acks, (state.sent - acked) % 2**32)) % 2**32
        state.acknowledged(h)
        acked = h
        assert len(state.unacked) == (state.sent - acked) % 2**32
        assert state.unacked_bytes == 10 * len(state.unacked)
    ahead = (stray - state.sent) % 2**32
    held = len(state.unacked)
    if 0 < ahead <= 2**31:
        with pytest.raises(AckError):
            state.acknowledged(stray)
    else:
        state.acknowledged(stray)
        assert len(state.unacked) <= held


def test_enable_after_bind_once_and_acknowledgements_both_ways(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    early = authenticated(xmpp_node, address)
    early.send(f"<enable xmlns='{NS}'/>")  # before a resource is bound
    failed = early.stanza().element
    assert failed.tag == SM + "failed" and failed.find(STANZAS + "unexpected-request") is not None
    early.close()
    client, _ = bound(xmpp_node, "phone", address)
    assert enabled(client)
    client.send(f"<enable xmlns='{NS}'/>")
    assert client.stanza().element.tag == SM + "failed"
    for n in range(3):
        client.send(f"<iq type='get' id='p{n}'><ping xmlns='urn:xmpp:ping'/></iq>")
    client.send(f"<r xmlns='{NS}'/>")
    assert frames(client, 4) == ["iq:p0", "iq:p1", "iq:p2", "a"]
    client.send(f"<a xmlns='{NS}' h='3'/>")
    # The server asks after REQUEST_EVERY stanzas the client has not acknowledged.
    friend, _ = bound(xmpp_node, "f")
    for n in range(sm_module.REQUEST_EVERY):
        chat(friend, f"{address}/phone", n)
    assert frames(client, sm_module.REQUEST_EVERY + 1)[-2:] == [f"message:m{sm_module.REQUEST_EVERY - 1}", "r"]
    client.send(f"<a xmlns='{NS}' h='{3 + sm_module.REQUEST_EVERY}'/>")
    client.send(f"<r xmlns='{NS}'/>")  # the stream goes on: the acknowledgement was right
    assert client.stanza().element.get("h") == "3"
    client.send(f"<a xmlns='{NS}' h='99'/>")  # more than was sent
    error = client.stanza().element
    assert error.tag == "{http://etherx.jabber.org/streams}error"
    assert error.find("{urn:ietf:params:xml:ns:xmpp-streams}undefined-condition") is not None
    for stream in (client, friend):
        stream.close()


def test_a_lost_stream_is_resumed_with_what_the_client_missed(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    client, _ = bound(xmpp_node, "phone", address)
    stream_id = enabled(client)
    available(client)
    friend, friend_address = bound(xmpp_node, "f")
    for n in range(2):
        chat(friend, f"{address}/phone", n)
    assert frames(client, 2) == ["message:m0", "message:m1"]
    client.send(f"<a xmlns='{NS}' h='1'/>")  # the client got the first for sure
    client.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert frames(client, 1) == ["iq:p"]
    client.close()  # the connection is lost, not closed: no </stream:stream>
    time.sleep(0.2)
    chat(friend, f"{address}/phone", 2)  # kept for the client, not refused nor kept offline
    assert quiet(friend)
    # Another account cannot take the stream over.
    stranger = not_resumed(xmpp_node, xmpp_node.account(), stream_id)
    stranger.close()
    resumptions_before = REGISTRY.get_sample_value("polyport_xmpp_resumptions_total", {"result": "resumed"}) or 0
    assert (REGISTRY.get_sample_value("polyport_xmpp_detached") or 0) >= 1
    back = authenticated(xmpp_node, address)
    back.send(f"<resume xmlns='{NS}' previd='{stream_id}' h='1'/>")
    resumed = back.stanza().element
    assert REGISTRY.get_sample_value("polyport_xmpp_resumptions_total", {"result": "resumed"}) == \
        resumptions_before + 1
    assert resumed.tag == SM + "resumed" and resumed.get("previd") == stream_id
    assert resumed.get("h") == "2"  # the presence and the ping
    assert frames(back, 4) == ["message:m1", "iq:p", "message:m2", "r"]
    back.send(f"<a xmlns='{NS}' h='4'/>")
    chat(friend, f"{address}/phone", 3)  # the resource is still the same, and still available
    assert frames(back, 1) == ["message:m3"]
    chat(friend, address, 4)
    assert frames(back, 1) == ["message:m4"]
    back.send(f"<iq type='get' id='q' to='{friend_address}/f'><query xmlns='jabber:iq:version'/></iq>")
    assert frames(friend, 1) == ["iq:q"]
    # A resumption names a stream only once.
    back.send("</stream:stream>")
    again = not_resumed(xmpp_node, address, stream_id, h=5)
    for stream in (friend, back, again):
        stream.close()


def test_a_stream_never_resumed_keeps_its_messages_offline(xmpp_node: XmppNode,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sm_module, "RESUME_SECONDS", 0.3)
    address = xmpp_node.account()
    client, _ = bound(xmpp_node, "phone", address)
    enabled(client)
    available(client)
    friend, _ = bound(xmpp_node, "f")
    chat(friend, f"{address}/phone", 0)
    assert frames(client, 1) == ["message:m0"]  # received, never acknowledged
    client.close()
    time.sleep(0.1)
    chat(friend, f"{address}/phone", 1)  # while it waits to be resumed
    time.sleep(0.6)
    chat(friend, f"{address}/phone", 2)  # after: the resource is gone, so offline
    assert quiet(friend)
    later, _ = bound(xmpp_node, "laptop", address)
    available(later)
    got = [later.stanza().element for _ in range(3)]
    assert [m.get("id") for m in got] == ["m0", "m1", "m2"]
    assert all(m.find("{urn:xmpp:delay}delay") is not None for m in got)
    for stream in (friend, later):
        stream.close()


def test_a_stream_without_resumption_hands_unacknowledged_messages_to_the_other_resources(
        xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    laptop, _ = bound(xmpp_node, "laptop", address)
    available(laptop)
    phone, _ = bound(xmpp_node, "phone", address)
    enabled(phone, resume=False)
    available(phone)
    assert laptop.stanza().element.get("from") == f"{address}/phone"
    friend, _ = bound(xmpp_node, "f")
    chat(friend, f"{address}/phone", 0)
    assert frames(phone, 2) == ["presence", "message:m0"]  # the laptop's presence, then the message
    phone.close()
    assert frames(laptop, 2) == ["presence", "message:m0"]  # the phone gone, then what it never acknowledged
    for stream in (friend, laptop):
        stream.close()


def test_the_resource_bound_again_ends_the_waiting_session(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    client, _ = bound(xmpp_node, "phone", address)
    stream_id = enabled(client)
    client.close()
    time.sleep(0.2)
    fresh, _ = bound(xmpp_node, "phone", address)  # the client gave up resuming and bound the same resource
    fresh.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert frames(fresh, 1) == ["iq:p"]
    other = not_resumed(xmpp_node, address, stream_id)
    for stream in (fresh, other):
        stream.close()


def test_a_client_back_before_its_old_connection_is_noticed_gone_takes_the_stream_over(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    old, _ = bound(xmpp_node, "phone", address)
    stream_id = enabled(old)
    friend, _ = bound(xmpp_node, "f")
    chat(friend, f"{address}/phone", 0)
    assert frames(old, 1) == ["message:m0"]
    back = authenticated(xmpp_node, address)  # the old connection is still open, as far as the server knows
    back.send(f"<resume xmlns='{NS}' previd='{stream_id}' h='0'/>")
    assert back.stanza().element.tag == SM + "resumed"
    assert frames(back, 2) == ["message:m0", "r"]
    error = old.stanza().element
    assert error.find("{urn:ietf:params:xml:ns:xmpp-streams}conflict") is not None
    chat(friend, f"{address}/phone", 1)
    assert frames(back, 1) == ["message:m1"]
    for stream in (friend, old, back):
        stream.close()


def test_a_stream_ended_by_an_administrator_is_not_resumed(xmpp_node: XmppNode) -> None:
    from polyport.xmpp.jid import Jid
    from polyport.xmpp.router import router_for

    address = xmpp_node.account()
    client, _ = bound(xmpp_node, "phone", address)
    stream_id = enabled(client)
    router = router_for(xmpp_node.running.runtime)

    async def kick() -> None:
        router.disconnect(Jid.parse(f"{address}/phone"), "ended by an administrator")

    xmpp_node.running.call(kick())
    assert client.stanza().element.find("{urn:ietf:params:xml:ns:xmpp-streams}policy-violation") is not None
    back = not_resumed(xmpp_node, address, stream_id)
    for stream in (client, back):
        stream.close()


def test_presence_that_comes_while_detached_waits_as_the_latest_of_each_sender(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    client, _ = bound(xmpp_node, "phone", address)
    stream_id = enabled(client)
    available(client)
    other, _ = bound(xmpp_node, "laptop", address)
    other.send("<presence><status>first</status></presence>")
    assert client.stanza().element.findtext(C + "status") == "first"
    client.send(f"<a xmlns='{NS}' h='1'/>")
    client.close()
    time.sleep(0.2)
    for text in ("second", "third"):
        other.send(f"<presence><status>{text}</status></presence>")
    time.sleep(0.2)
    back = authenticated(xmpp_node, address)
    back.send(f"<resume xmlns='{NS}' previd='{stream_id}' h='1'/>")
    assert back.stanza().element.tag == SM + "resumed"
    presence = back.stanza().element
    assert presence.findtext(C + "status") == "third"  # the latest only
    assert quiet(back)
    for stream in (other, back):
        stream.close()


def test_malformed_stream_management_elements(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    resumer = authenticated(xmpp_node, address)
    resumer.send(f"<resume xmlns='{NS}' previd='whatever' h='many'/>")
    assert resumer.stanza().element.find(STANZAS + "bad-request") is not None
    resumer.send(f"<resume xmlns='{NS}' h='0'/>")  # no previd: nothing of that name
    assert resumer.stanza().element.find(STANZAS + "item-not-found") is not None
    resumer.close()
    early, _ = bound(xmpp_node, "early", address)
    early.send(f"<r xmlns='{NS}'/>")  # before enabling it
    error = early.stanza().element
    assert error.find("{urn:ietf:params:xml:ns:xmpp-streams}unsupported-stanza-type") is not None
    early.close()
    client, _ = bound(xmpp_node, "phone", address)
    enabled(client)
    client.send(f"<a xmlns='{NS}' h='-3'/>")
    error = client.stanza().element
    assert error.find("{urn:ietf:params:xml:ns:xmpp-streams}invalid-xml") is not None
    client.close()
