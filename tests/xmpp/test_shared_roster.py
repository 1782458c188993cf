"""Shared roster groups (CommuniGate groups with SharedRoster): the members see each other in their rosters,
under the group's name and subscribed both ways, and each other's presence, without asking; others do not;
an item of the member's own is kept and completed; the roster version changes with the group."""

from __future__ import annotations

from tests.xmpp.conftest import XmppNode, bound
from tests.xmpp.test_roster import R, items, roster
from tests.xmpp.test_routing import available

C = "{jabber:client}"


def test_members_see_each_other_and_their_presence(xmpp_node: XmppNode) -> None:
    directory = xmpp_node.running.runtime.directory
    ann, bob, eve = xmpp_node.account(), xmpp_node.account(), xmpp_node.account()
    xmpp_node.running.call(directory.create_group("team@example.com", settings={"SharedRoster": "YES",
                                                                                "RealName": "The Team"},
                                                  members=[ann, bob]))
    xmpp_node.running.call(directory.create_group("quiet@example.com", members=[ann, eve]))  # not shared
    a, _ = bound(xmpp_node, "desk", ann)
    first = roster(a)
    assert items(first) == [(bob, None, "both", ["The Team"])]
    version = first.find(R + "query").get("ver")  # type: ignore[union-attr]
    assert version and "-" in version  # the roster's and the shared part's
    assert items(roster(a, version)) == []  # current: nothing sent again (XEP-0237)
    available(a)
    b, _ = bound(xmpp_node, "phone", bob)
    available(b)
    for _ in range(20):  # Bob's presence reaches Ann, and Ann's (her probe's answer) Bob
        element = a.stanza().element
        if element.tag == C + "presence" and element.get("from") == f"{bob}/phone":
            break
    else:
        raise AssertionError("Ann did not see Bob")
    for _ in range(20):
        element = b.stanza().element
        if element.tag == C + "presence" and element.get("from") == f"{ann}/desk":
            break
    else:
        raise AssertionError("Bob did not see Ann")
    e, _ = bound(xmpp_node, "desk", eve)
    assert items(roster(e)) == []  # a member of a group that shares nothing
    # Eve joins the shared group: the clients that asked for their rosters hear it as roster pushes, with
    # the version the next roster get reports.
    xmpp_node.running.call(directory.update_group("team@example.com", members=[ann, bob, eve]))
    pushed: dict[str, str] = {}
    version = ""
    while len(pushed) < 2:
        element = e.stanza().element
        query = element.find(R + "query")
        if element.get("type") == "set" and query is not None:
            pushed.update({i.get("jid", ""): i.get("subscription", "") for i in query.iter(R + "item")})
            version = query.get("ver", "")
    assert pushed == {ann: "both", bob: "both"}
    assert items(roster(e, version)) == []  # the pushes made the client's copy current
    # Eve leaves it: Ann's client hears her go from the roster.
    xmpp_node.running.call(directory.update_group("team@example.com", members=[ann, bob]))
    for _ in range(30):
        element = a.stanza().element
        item = element.find(f"{R}query/{R}item")
        if (element.get("type") == "set" and item is not None and item.get("jid") == eve
                and item.get("subscription") == "remove"):  # (after the push of her joining)
            break
    else:
        raise AssertionError("no push of Eve's leaving")
    for stream in (a, b, e):
        stream.close()


def test_an_own_item_for_a_member_is_kept_and_completed(xmpp_node: XmppNode) -> None:
    directory = xmpp_node.running.runtime.directory
    cat, dan = xmpp_node.account(), xmpp_node.account()
    xmpp_node.running.call(directory.create_group("pair@example.com", settings={"SharedRoster": "YES"},
                                                  members=[cat, dan]))
    c, _ = bound(xmpp_node, "desk", cat)
    roster(c)
    c.send(f"<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='{dan}' name='Danny'>"
           f"<group>Friends</group></item></query></iq>")
    answers = {c.stanza().element.get("type") for _ in range(2)}  # the result and the push, in either order
    assert answers == {"result", "set"}
    assert items(roster(c)) == [(dan, "Danny", "both", ["Friends", "pair"])]
    c.close()


def test_members_read_each_others_personal_events(xmpp_node: XmppNode) -> None:
    """Personal eventing's default access (presence) counts a shared group's members as subscribed."""
    from tests.xmpp.test_pep import PUBSUB, publish

    directory = xmpp_node.running.runtime.directory
    fay, gus, hal = xmpp_node.account(), xmpp_node.account(), xmpp_node.account()
    xmpp_node.running.call(directory.create_group("pep@example.com", settings={"SharedRoster": "YES"},
                                                  members=[fay, gus]))
    f, _ = bound(xmpp_node, "desk", fay)
    assert publish(f, "urn:xmpp:avatar:metadata", "a1", "<metadata xmlns='urn:xmpp:avatar:metadata'/>") \
        .get("type") == "result"
    for reader, allowed in ((gus, True), (hal, False)):
        r, _ = bound(xmpp_node, "desk", reader)
        r.send(f"<iq type='get' id='items' to='{fay}'><pubsub xmlns='{PUBSUB}'>"
               f"<items node='urn:xmpp:avatar:metadata'/></pubsub></iq>")
        reply = r.stanza().element
        assert (reply.get("type") == "result") is allowed, reader
        r.close()
    f.close()
