"""Subscriptions and presence between two accounts of one node (RFC 6121 3 and 4): a request, its
approval and what each side's roster and resources hear; a request waiting for its contact to come
online; pre-approval; cancelling; presence reaching only subscribers; removal cancelling both ways."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tests.xmpp.conftest import Stream, XmppNode, bound
from tests.xmpp.test_routing import available, quiet

C = "{jabber:client}"
R = "{jabber:iq:roster}"


def online(node: XmppNode, resource: str, address: str | None = None) -> tuple[Stream, str]:
    """Bound, interested in its roster, available."""
    stream, address = bound(node, resource, address)
    stream.send("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>")
    assert stream.stanza().element.get("id") == "r0"
    available(stream)
    return stream, address


def heard(stream: Stream) -> list[ET.Element[str]]:
    """Every stanza that arrives until the stream is quiet."""
    got: list[ET.Element[str]] = []
    while True:
        frame = stream.framer.next_frame()
        if frame is not None:
            got.append(frame.element)  # type: ignore[union-attr]
            continue
        if quiet(stream, 0.25):
            return got


def subscribe(asker: Stream, asker_address: str, contact: Stream, contact_address: str) -> None:
    """`asker` subscribes to `contact`'s presence and `contact` approves; what each hears meanwhile is read."""
    asker.send(f"<presence type='subscribe' to='{contact_address}'/>")
    heard(asker), heard(contact)
    contact.send(f"<presence type='subscribed' to='{asker_address}'/>")
    heard(asker), heard(contact)


def pushes(stanzas: list[ET.Element[str]]) -> list[tuple[str | None, str | None, str | None]]:
    return [(i.get("jid"), i.get("subscription"), i.get("ask")) for s in stanzas if s.tag == C + "iq"
            for i in s.iter(R + "item")]


def presences(stanzas: list[ET.Element[str]]) -> list[tuple[str | None, str | None]]:
    return [(s.get("type"), s.get("from")) for s in stanzas if s.tag == C + "presence"]


def test_a_request_its_approval_and_presence_after(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    heard(juliet), heard(romeo)
    juliet.send(f"<presence type='subscribe' to='{romeo_address}'/>")
    assert pushes(heard(juliet)) == [(romeo_address, "none", "subscribe")]
    assert presences(heard(romeo)) == [("subscribe", juliet_address)]  # from her bare JID
    romeo.send(f"<presence type='subscribed' to='{juliet_address}'/>")
    romeo_got, juliet_got = heard(romeo), heard(juliet)
    assert pushes(romeo_got) == [(juliet_address, "from", None)]  # she joins his roster
    assert pushes(juliet_got) == [(romeo_address, "to", None)]
    assert presences(juliet_got) == [("subscribed", romeo_address), (None, f"{romeo_address}/orchard")]
    # His presence reaches her now; hers does not reach him (he did not ask).
    romeo.send("<presence><show>away</show></presence>")
    assert presences(heard(juliet)) == [(None, f"{romeo_address}/orchard")]
    juliet.send("<presence><show>chat</show></presence>")
    assert presences(heard(romeo)) == []
    # He goes: she hears it.
    romeo.send("</stream:stream>")
    romeo.close()
    assert presences(heard(juliet)) == [("unavailable", f"{romeo_address}/orchard")]
    juliet.close()


def test_a_request_waits_for_its_contact_to_come_online(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo_address = xmpp_node.account()
    juliet.send(f"<presence type='subscribe' to='{romeo_address}'/>")
    heard(juliet)
    romeo, _ = bound(xmpp_node, "orchard", romeo_address)
    romeo.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
    assert [i.get("jid") for i in romeo.stanza().element.iter(R + "item")] == []  # not in his roster yet
    available(romeo)
    assert presences(heard(romeo)) == [("subscribe", juliet_address)]
    for stream in (juliet, romeo):
        stream.close()


def test_a_pre_approved_request_is_answered_at_once(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    heard(juliet), heard(romeo)
    romeo.send(f"<presence type='subscribed' to='{juliet_address}'/>")  # before she asks (RFC 6121 3.4)
    assert heard(juliet) == []  # a pre-approval goes nowhere
    juliet.send(f"<presence type='subscribe' to='{romeo_address}'/>")
    juliet_got = heard(juliet)
    assert pushes(juliet_got)[-1] == (romeo_address, "to", None)
    assert ("subscribed", romeo_address) in presences(juliet_got)
    assert (None, f"{romeo_address}/orchard") in presences(juliet_got)
    assert presences(heard(romeo)) == []  # not asked: answered for him
    for stream in (juliet, romeo):
        stream.close()


def test_cancelling_and_removing(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    subscribe(juliet, juliet_address, romeo, romeo_address)
    romeo.send(f"<presence type='unsubscribed' to='{juliet_address}'/>")  # he takes it back
    juliet_got = heard(juliet)
    assert pushes(juliet_got) == [(romeo_address, "none", None)]
    assert presences(juliet_got) == [("unsubscribed", romeo_address), ("unavailable", f"{romeo_address}/orchard")]
    assert pushes(heard(romeo)) == [(juliet_address, "none", None)]
    # Subscribed again, then she removes him from her roster: his side learns her subscription ended.
    subscribe(juliet, juliet_address, romeo, romeo_address)
    juliet.send(f"<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='{romeo_address}' "
                f"subscription='remove'/></query></iq>")
    assert pushes(heard(juliet)) == [(romeo_address, "remove", None)]
    romeo_got = heard(romeo)
    assert pushes(romeo_got) == [(juliet_address, "none", None)]
    assert presences(romeo_got) == [("unsubscribe", juliet_address)]
    for stream in (juliet, romeo):
        stream.close()


def test_an_inactive_client_gets_only_the_latest_presence_when_it_is_active_again(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    subscribe(romeo, romeo_address, juliet, juliet_address)
    romeo.send("<inactive xmlns='urn:xmpp:csi:0'/>")  # XEP-0352: his phone is in his pocket
    for show in ("away", "xa", "dnd"):
        juliet.send(f"<presence><show>{show}</show></presence>")
    assert heard(romeo) == []  # held
    romeo.send("<active xmlns='urn:xmpp:csi:0'/>")
    got = heard(romeo)
    assert [(s.get("from"), s.findtext(C + "show")) for s in got] == [(f"{juliet_address}/balcony", "dnd")]
    # Inactive again: a message flushes what is held first, so the order stays.
    romeo.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    juliet.send("<presence><show>chat</show></presence>")
    juliet.send(f"<message to='{romeo_address}' type='chat' id='m'><body>up?</body></message>")
    got = heard(romeo)
    assert [s.tag.rpartition("}")[2] for s in got] == ["presence", "message"]
    for stream in (juliet, romeo):
        stream.close()


def test_going_away_after_directed_presence_and_after_unsubscribing(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    heard(juliet), heard(romeo)
    # Directed presence to someone not subscribed: she hears he went away (RFC 6121 4.6.3).
    romeo.send(f"<presence to='{juliet_address}'><show>chat</show></presence>")
    assert presences(heard(juliet)) == [(None, f"{romeo_address}/orchard")]
    romeo.send("</stream:stream>")
    romeo.close()
    assert presences(heard(juliet)) == [("unavailable", f"{romeo_address}/orchard")]
    # Subscribed to him, then unsubscribing: he no longer shows online to her (3.3.3).
    romeo, _ = online(xmpp_node, "orchard", romeo_address)
    subscribe(juliet, juliet_address, romeo, romeo_address)
    juliet.send(f"<presence type='unsubscribe' to='{romeo_address}'/>")
    assert ("unavailable", f"{romeo_address}/orchard") in presences(heard(juliet))
    for stream in (juliet, romeo):
        stream.close()


def test_a_replaced_session_is_seen_going_away(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    subscribe(juliet, juliet_address, romeo, romeo_address)
    again, _ = bound(xmpp_node, "orchard", romeo_address)  # he reconnects with the same resource
    assert ("unavailable", f"{romeo_address}/orchard") in presences(heard(juliet))
    for stream in (juliet, romeo, again):
        stream.close()


def test_a_sender_cannot_choose_whose_held_presence_it_replaces(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    mallory, mallory_address = online(xmpp_node, "m")
    romeo.send(f"<presence type='subscribe' to='{juliet_address}'/>")
    heard(juliet), heard(romeo)
    juliet.send(f"<presence type='subscribed' to='{romeo_address}'/>")
    heard(juliet), heard(romeo), heard(mallory)
    romeo.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    juliet.send("<presence><show>dnd</show></presence>")
    mallory.send(f"<presence to='{romeo_address}' x-from='{juliet_address}/balcony'><show>chat</show></presence>")
    romeo.send("<active xmlns='urn:xmpp:csi:0'/>")
    got = {(s.get("from"), s.findtext(C + "show")) for s in heard(romeo)}
    assert got == {(f"{juliet_address}/balcony", "dnd"), (f"{mallory_address}/m", "chat")}
    for stream in (juliet, romeo, mallory):
        stream.close()


def test_a_client_that_vanishes_mid_stanza_is_seen_going_away(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    romeo, romeo_address = online(xmpp_node, "orchard")
    subscribe(juliet, juliet_address, romeo, romeo_address)
    romeo.send(f"<message to='{juliet_address}' type='chat'><body>half a thou")  # and the line drops
    romeo.close()
    assert presences(heard(juliet)) == [("unavailable", f"{romeo_address}/orchard")]
    juliet.send(f"<message to='{romeo_address}' type='chat' id='later'><body>still there?</body></message>")
    assert heard(juliet) == []  # kept offline for him, not refused
    juliet.close()
