"""Stanzas between clients of one node (RFC 6120 10, RFC 6121 8.5): messages to full and bare JIDs by
availability and priority, presence among an account's own resources, iq between clients, resource
conflicts, aliases, the errors for addressees nobody can reach, and messages kept offline (XEP-0160)."""

from __future__ import annotations

import pytest

from polyport.im import offline as offline_module
from tests.xmpp.conftest import PASSWORD, Stream, XmppNode, bound

C = "{jabber:client}"
STANZAS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"


def quiet(stream: Stream, seconds: float = 0.3) -> bool:
    """Nothing arrives within `seconds`."""
    stream.sock.settimeout(seconds)
    try:
        data = stream.sock.recv(65536)
    except TimeoutError:
        return True
    finally:
        stream.sock.settimeout(5)
    stream.framer.feed(data)
    return False


def available(stream: Stream, priority: int = 0) -> None:
    stream.send(f"<presence><priority>{priority}</priority></presence>")


def error_condition(stanza: object) -> str:
    element = stanza.element  # type: ignore[attr-defined]
    assert element.get("type") == "error", element.attrib
    return str(element.find(C + "error")[0].tag.rpartition("}")[2])


def test_a_chat_message_reaches_the_bare_jids_available_resources(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = bound(xmpp_node, "balcony")
    romeo, romeo_address = bound(xmpp_node, "orchard")
    available(romeo)
    juliet.send(f"<message to='{romeo_address.upper()}' type='chat' id='m1'><body>Wherefore art thou?</body>"
                f"</message>")
    got = romeo.stanza().element
    assert got.tag == C + "message" and got.get("id") == "m1"
    assert got.get("from") == f"{juliet_address}/balcony" and got.get("to") == romeo_address
    assert got.findtext(C + "body") == "Wherefore art thou?"
    # To a full JID: that resource only, available or not.
    juliet.send(f"<message to='{romeo_address}/orchard' id='m2'><body>Here.</body></message>")
    assert romeo.stanza().element.get("id") == "m2"
    for stream in (juliet, romeo):
        stream.close()


def test_priority_decides_among_resources(xmpp_node: XmppNode) -> None:
    sender, _ = bound(xmpp_node, "pc")
    address = xmpp_node.account()
    phone, _ = bound(xmpp_node, "phone", address)
    laptop, _ = bound(xmpp_node, "laptop", address)
    available(phone, 5)
    assert quiet(laptop)  # not available itself yet: it hears nobody's presence
    available(laptop, -1)
    assert phone.stanza().element.get("from") == f"{address}/laptop"  # the account's other resource hears it
    heard = laptop.stanza().element  # and the newcomer hears the phone's (RFC 6121 4.2.2)
    assert heard.get("from") == f"{address}/phone" and heard.findtext(C + "priority") == "5"
    sender.send(f"<message to='{address}' type='chat' id='p1'><body>to the best one</body></message>")
    assert phone.stanza().element.get("id") == "p1"
    assert quiet(laptop)  # negative priority: only messages to its full JID
    sender.send(f"<message to='{address}/laptop' id='p2'><body>to you</body></message>")
    assert laptop.stanza().element.get("id") == "p2"
    # The phone goes away: the laptop hears of it.
    phone.send("</stream:stream>")
    phone.close()
    gone = laptop.stanza().element
    assert gone.get("type") == "unavailable" and gone.get("from") == f"{address}/phone"
    for stream in (sender, laptop):
        stream.close()


def test_iq_between_clients_and_back(xmpp_node: XmppNode) -> None:
    asker, asker_address = bound(xmpp_node, "a")
    answerer, answerer_address = bound(xmpp_node, "b")
    asker.send(f"<iq type='get' id='v1' to='{answerer_address}/b'><query xmlns='jabber:iq:version'/></iq>")
    question = answerer.stanza().element
    assert question.get("from") == f"{asker_address}/a" and question.get("id") == "v1"
    answerer.send(f"<iq type='result' id='v1' to='{asker_address}/a'><query xmlns='jabber:iq:version'>"
                  f"<name>Answerer</name></query></iq>")
    answer = asker.stanza().element
    assert answer.get("type") == "result" and answer.get("from") == f"{answerer_address}/b"
    assert answer.findtext("{jabber:iq:version}query/{jabber:iq:version}name") == "Answerer"
    # A resource that is not there, and a bare JID the server answers for: service-unavailable.
    asker.send(f"<iq type='get' id='v2' to='{answerer_address}/elsewhere'><query xmlns='jabber:iq:version'/></iq>")
    assert error_condition(asker.stanza()) == "service-unavailable"
    asker.send(f"<iq type='get' id='v3' to='{answerer_address}'><query xmlns='jabber:iq:version'/></iq>")
    assert error_condition(asker.stanza()) == "service-unavailable"
    for stream in (asker, answerer):
        stream.close()


def test_a_second_bind_of_a_resource_ends_the_first(xmpp_node: XmppNode) -> None:
    first, address = bound(xmpp_node, "desk")
    second, _ = bound(xmpp_node, "desk", address)
    error = first.stanza().element
    assert error.tag == "{http://etherx.jabber.org/streams}error"
    assert error[0].tag == "{urn:ietf:params:xml:ns:xmpp-streams}conflict"
    sender, _ = bound(xmpp_node, "x")
    sender.send(f"<message to='{address}/desk' id='c1'><body>which one?</body></message>")
    assert second.stanza().element.get("id") == "c1"
    for stream in (first, second, sender):
        stream.close()


def test_aliases_reach_their_account(xmpp_node: XmppNode) -> None:
    sender, _ = bound(xmpp_node, "s")
    target, address = bound(xmpp_node, "t")
    available(target)
    alias = "nickname-" + address.split("@")[0] + "@example.com"
    xmpp_node.running.call(xmpp_node.running.runtime.directory.create_alias(alias, address))
    sender.send(f"<message to='{alias}' type='chat' id='a1'><body>by another name</body></message>")
    got = target.stanza().element
    assert got.get("id") == "a1" and got.get("to") == address
    for stream in (sender, target):
        stream.close()


def test_addressees_nobody_can_reach(xmpp_node: XmppNode) -> None:
    sender, _ = bound(xmpp_node, "s")
    cases = [("nobody-here@example.com", "service-unavailable"),  # RFC 6121 8.5.1
             ("someone@elsewhere.test", "remote-server-not-found"),  # no federation yet
             ("not a jid@example.com", "jid-malformed")]
    for to, condition in cases:
        sender.send(f"<message to='{to}' type='chat' id='n'><body>hello?</body></message>")
        assert error_condition(sender.stanza()) == condition, to
    sender.close()


def test_messages_wait_offline_until_their_account_comes_online(xmpp_node: XmppNode,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sender, sender_address = bound(xmpp_node, "s")
    offline = xmpp_node.account()
    for n in range(3):
        sender.send(f"<message to='{offline}/gone' type='chat' id='o{n}'><body>while you were out {n}</body>"
                    f"</message>")
    sender.send(f"<message to='{offline}' type='headline'><body>dropped quietly</body></message>")
    assert quiet(sender)  # kept, not refused
    monkeypatch.setattr(offline_module, "MAX_MESSAGES", 3)
    sender.send(f"<message to='{offline}' type='chat' id='full'><body>one too many</body></message>")
    assert error_condition(sender.stanza()) == "service-unavailable"
    # Bound but not available, or available with a negative priority: it waits still.
    receiver, _ = bound(xmpp_node, "r", offline)
    available(receiver, -1)
    assert quiet(receiver)
    receiver.close()
    receiver, _ = bound(xmpp_node, "r", offline)
    available(receiver, 1)
    got = [receiver.stanza().element for _ in range(3)]
    assert [m.get("id") for m in got] == ["o0", "o1", "o2"]
    delay = got[0].find("{urn:xmpp:delay}delay")
    assert delay is not None and delay.get("from") == "example.com" and delay.get("stamp", "").endswith("Z")
    assert got[0].get("from") == f"{sender_address}/s" and got[0].get("to") == offline
    assert got[0].findtext(C + "body") == "while you were out 0"
    receiver.close()
    again, _ = bound(xmpp_node, "r2", offline)
    available(again)
    assert quiet(again)  # delivered once
    for stream in (sender, again):
        stream.close()


def test_carbons_copy_an_accounts_chats_to_its_other_resources(xmpp_node: XmppNode) -> None:
    friend, friend_address = bound(xmpp_node, "f")
    available(friend)
    address = xmpp_node.account()
    phone, _ = bound(xmpp_node, "phone", address)
    laptop, _ = bound(xmpp_node, "laptop", address)
    for stream in (phone, laptop):
        available(stream)
    phone.stanza(), laptop.stanza()  # each hears the other's presence
    laptop.send("<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    assert laptop.stanza().element.get("type") == "result"
    # The friend writes to the phone alone: the laptop gets a 'received' copy.
    friend.send(f"<message to='{address}/phone' type='chat' id='in1'><body>to your phone</body></message>")
    assert phone.stanza().element.get("id") == "in1"
    copy = laptop.stanza().element
    assert copy.get("from") == address and copy.get("to") == f"{address}/laptop"
    forwarded = copy.find("{urn:xmpp:carbons:2}received/{urn:xmpp:forward:0}forwarded/" + C + "message")
    assert forwarded is not None and forwarded.get("id") == "in1" and forwarded.get("from") == f"{friend_address}/f"
    # The phone writes: the laptop gets a 'sent' copy; the phone none (carbons are off there).
    phone.send(f"<message to='{friend_address}' type='chat' id='out1'><body>from my phone</body></message>")
    assert friend.stanza().element.get("id") == "out1"
    sent = laptop.stanza().element.find("{urn:xmpp:carbons:2}sent/{urn:xmpp:forward:0}forwarded/" + C + "message")
    assert sent is not None and sent.get("id") == "out1" and sent.get("to") == friend_address
    assert quiet(phone)
    # Private messages are not copied.
    phone.send(f"<message to='{friend_address}' type='chat' id='p'><body>just here</body>"
               "<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>")
    assert friend.stanza().element.get("id") == "p"
    assert quiet(laptop)
    laptop.send("<iq type='set' id='d'><disable xmlns='urn:xmpp:carbons:2'/></iq>")
    assert laptop.stanza().element.get("type") == "result"
    friend.send(f"<message to='{address}/phone' type='chat' id='in2'><body>again</body></message>")
    assert phone.stanza().element.get("id") == "in2"
    assert quiet(laptop)
    for stream in (friend, phone, laptop):
        stream.close()


def test_a_groupchat_message_to_an_account_is_refused_and_an_iq_without_a_type_is_bad(xmpp_node: XmppNode) -> None:
    sender, _ = bound(xmpp_node, "s")
    target, address = bound(xmpp_node, "t")
    available(target)
    for to in (address, f"{address}/elsewhere"):  # RFC 6121 8.5.2.1.1, 8.5.3.2.1: not a room
        sender.send(f"<message to='{to}' type='groupchat' id='g'><body>hello room</body></message>")
        assert error_condition(sender.stanza()) == "service-unavailable"
    assert quiet(target)
    sender.send("<iq type='bogus' id='q'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert error_condition(sender.stanza()) == "bad-request"
    for stream in (sender, target):
        stream.close()


def test_addressees_follow_the_directorys_changes(xmpp_node: XmppNode) -> None:
    """The router keeps how it resolved each addressee (xmpp/router.py); an account created, an alias added
    or an account deleted counts at once."""
    sender, _ = bound(xmpp_node, "s")
    directory = xmpp_node.running.runtime.directory
    name = f"later{xmpp_node.counter}@example.com"
    sender.send(f"<message to='{name}' type='chat' id='x1'><body>anyone?</body></message>")
    assert error_condition(sender.stanza()) == "service-unavailable"
    xmpp_node.running.call(directory.create_account(name, password=PASSWORD))
    sender.send(f"<message to='{name}' type='chat' id='x2'><body>now?</body></message>")
    assert quiet(sender)  # kept offline for the new account
    alias = f"alias-{name}"
    sender.send(f"<message to='{alias}' type='chat' id='x3'><body>and you?</body></message>")
    assert error_condition(sender.stanza()) == "service-unavailable"
    xmpp_node.running.call(directory.create_alias(alias, name))
    receiver, _ = bound(xmpp_node, "r", name)
    available(receiver)
    assert receiver.stanza().element.get("id") == "x2"
    sender.send(f"<message to='{alias}' type='chat' id='x4'><body>by the alias</body></message>")
    assert receiver.stanza().element.get("id") == "x4"
    receiver.close()
    xmpp_node.running.call(directory.delete_account(name))
    sender.send(f"<message to='{name}' type='chat' id='x5'><body>gone?</body></message>")
    assert error_condition(sender.stanza()) == "service-unavailable"
    sender.close()


def test_a_message_handed_over_for_a_resource_gone_meanwhile_waits_offline(xmpp_node: XmppNode) -> None:
    """Another worker routed a message to a resource this worker held, which went before it arrived: it is
    kept offline, not lost (a headline is dropped, as anything but a message with a body)."""
    import time as time_module

    from polyport.bus.events import XmppStanzas
    from polyport.xmpp.router import router_for

    address = xmpp_node.account()
    router = router_for(xmpp_node.running.runtime)
    kept = (f"<message xmlns='jabber:client' from='someone@example.com/x' to='{address}/gone' type='chat' "
            "id='h1'><body>handed over</body></message>")
    dropped = f"<message xmlns='jabber:client' to='{address}/gone' type='headline'><body>news</body></message>"
    elsewhere = f"<message xmlns='jabber:client' to='{address}/gone' type='chat'><body>not ours</body></message>"

    async def hand_over() -> None:
        now = time_module.monotonic()
        router.heard(XmppStanzas("another-worker", [(f"{address}/gone", kept), (f"{address}/gone", dropped)],
                                 holder=router.origin), now)
        router.heard(XmppStanzas("another-worker", [(f"{address}/gone", elsewhere)], holder="a-third-one"), now)

    xmpp_node.running.call(hand_over())
    time_module.sleep(0.3)
    receiver, _ = bound(xmpp_node, "r", address)
    available(receiver)
    message = receiver.stanza().element
    assert message.get("id") == "h1" and message.find("{urn:xmpp:delay}delay") is not None
    assert quiet(receiver)
    receiver.close()
