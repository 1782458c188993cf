"""The roster over XMPP (RFC 6121 2, XEP-0237): get, set and remove, pushes to every resource that asked
for the roster, versions, and the errors for what a roster set may get wrong."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tests.xmpp.conftest import Stream, XmppNode, bound
from tests.xmpp.test_routing import error_condition, quiet

R = "{jabber:iq:roster}"


def roster(stream: Stream, ver: str | None = None) -> ET.Element[str]:
    version = f" ver='{ver}'" if ver is not None else ""
    stream.send(f"<iq type='get' id='r'><query xmlns='jabber:iq:roster'{version}/></iq>")
    reply = stream.stanza().element
    assert reply.get("type") == "result" and reply.get("id") == "r", reply.attrib
    return reply


def items(reply: ET.Element[str]) -> list[tuple[str | None, str | None, str | None, list[str | None]]]:
    return [(i.get("jid"), i.get("name"), i.get("subscription"), [g.text for g in i.findall(R + "group")])
            for i in reply.iter(R + "item")]


def push(stream: Stream) -> ET.Element[str]:
    pushed = stream.stanza().element
    assert pushed.get("type") == "set" and pushed.find(R + "query") is not None, pushed.attrib
    return pushed


def test_get_set_push_and_remove(xmpp_node: XmppNode) -> None:
    phone, address = bound(xmpp_node, "phone")
    laptop, _ = bound(xmpp_node, "laptop", address)
    watch, _ = bound(xmpp_node, "watch", address)  # never asks for the roster: no pushes
    first = roster(phone)
    assert first.find(R + "query").get("ver") == "0" and items(first) == []  # type: ignore[union-attr]
    roster(laptop)
    phone.send("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='Romeo@Example.net/phone' "
               "name='Romeo'><group>Friends</group><group>Lovers</group></item></query></iq>")
    result, pushed_to_phone = sorted((phone.stanza().element, phone.stanza().element),
                                     key=lambda e: e.get("type") != "result")  # the result and the push, in any order
    assert (result.get("type"), result.get("id")) == ("result", "s1")
    for pushed in (pushed_to_phone, push(laptop)):
        assert pushed.get("type") == "set" and pushed.find(R + "query").get("ver") == "1"  # type: ignore[union-attr]
        assert items(pushed) == [("romeo@example.net", "Romeo", "none", ["Friends", "Lovers"])]
    assert quiet(watch)
    again = roster(phone)
    assert items(again) == [("romeo@example.net", "Romeo", "none", ["Friends", "Lovers"])]
    assert len(roster(phone, ver="1")) == 0  # current: an empty result, no query
    assert items(roster(phone, ver="0")) == items(again)  # behind: the whole roster
    laptop.send("<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='romeo@example.net' "
                "subscription='remove'/></query></iq>")
    assert {laptop.stanza().element.get("type"), laptop.stanza().element.get("type")} == {"result", "set"}
    removed = push(phone)
    assert items(removed) == [("romeo@example.net", None, "remove", [])]
    assert removed.find(R + "query").get("ver") == "2"  # type: ignore[union-attr]
    assert items(roster(phone)) == []
    for stream in (phone, laptop, watch):
        stream.close()


def test_what_a_roster_set_may_get_wrong(xmpp_node: XmppNode) -> None:
    stream, _ = bound(xmpp_node, "x")
    cases = [
        ("<item jid='a@example.com'/><item jid='b@example.com'/>", "bad-request"),
        ("<item jid='a@example.com'><group>G</group><group>G</group></item>", "bad-request"),
        ("<item jid='not a jid@example.com'/>", "jid-malformed"),
        ("<item jid='nobody@example.com' subscription='remove'/>", "item-not-found"),
        (f"<item jid='a@example.com' name='{'n' * 300}'/>", "not-acceptable"),
    ]
    for payload, condition in cases:
        stream.send(f"<iq type='set' id='bad'><query xmlns='jabber:iq:roster'>{payload}</query></iq>")
        assert error_condition(stream.stanza()) == condition, payload
    assert items(roster(stream)) == []  # nothing half stored
    stream.close()


def test_an_item_named_by_an_alias_is_its_account(xmpp_node: XmppNode) -> None:
    stream, _ = bound(xmpp_node, "x")
    target = xmpp_node.account()
    alias = "alias-of-" + target.split("@")[0] + "@example.com"
    xmpp_node.running.call(xmpp_node.running.runtime.directory.create_alias(alias, target))
    roster(stream)
    stream.send(f"<iq type='set' id='a'><query xmlns='jabber:iq:roster'><item jid='{alias}' name='N'/></query></iq>")
    got = [stream.stanza().element, stream.stanza().element]
    assert [i.get("jid") for s in got for i in s.iter(R + "item")] == [target]
    assert items(roster(stream)) == [(target, "N", "none", [])]
    stream.close()
