"""Multi-user chat (XEP-0045) on a node, over raw streams: the service in discovery, a room created and
configured by its owner, occupants entering (history, subject, nick conflicts), groupchat with stanza-ids,
private messages, nick changes, leaving (and a client that goes without a word), moderation (kick, voice,
ban), members-only rooms and invitations, passwords, persistent rooms kept in the store with their
archive (XEP-0313), and destruction."""

from __future__ import annotations

import itertools
from xml.etree import ElementTree as ET

from polyport.xmpp.jid import Jid
from polyport.xmpp.router import router_for
from tests.xmpp.conftest import Stream, XmppNode, bound
from tests.xmpp.test_routing import error_condition, quiet

C = "{jabber:client}"
MUC = "http://jabber.org/protocol/muc"
USER = "{http://jabber.org/protocol/muc#user}"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
SERVICE = "conference.example.com"
_rooms = itertools.count(1)


def new_room() -> str:
    return f"room{next(_rooms)}@{SERVICE}"


def statuses(element: ET.Element[str]) -> set[str]:
    return {status.get("code", "") for status in element.iterfind(f"{USER}x/{USER}status")}


def item(element: ET.Element[str]) -> ET.Element[str]:
    found = element.find(f"{USER}x/{USER}item")
    assert found is not None, ET.tostring(element)
    return found


def until(stream: Stream, predicate: object, limit: int = 30) -> ET.Element[str]:
    """The first stanza that `predicate` accepts (others before it are skipped)."""
    for _ in range(limit):
        element = stream.stanza().element
        if predicate(element):  # type: ignore[operator]
            return element
    raise AssertionError("not received")


def enter(stream: Stream, room: str, nick: str, extra: str = "") -> list[ET.Element[str]]:
    """Enter the room; everything the room sends up to and including the subject."""
    stream.send(f"<presence to='{room}/{nick}'><x xmlns='{MUC}'>{extra}</x></presence>")
    got = []
    while True:
        element = stream.stanza().element
        got.append(element)
        if element.tag == C + "message" and element.find(C + "subject") is not None:
            return got
        if element.get("type") == "error":
            return got


def create(stream: Stream, room: str, nick: str, config: dict[str, str] | None = None) -> None:
    """Create the room and configure it (an instant room unless `config` names fields)."""
    got = enter(stream, room, nick)
    own = [e for e in got if e.tag == C + "presence" and "110" in statuses(e)]
    assert own and "201" in statuses(own[0]) and item(own[0]).get("affiliation") == "owner"
    fields = "".join(f"<field var='{name}'><value>{value}</value></field>" for name, value in (config or {}).items())
    stream.send(f"<iq type='set' id='cfg' to='{room}'><query xmlns='{MUC}#owner'><x xmlns='jabber:x:data' "
                f"type='submit'>{fields}</x></query></iq>")
    assert until(stream, lambda e: e.get("id") == "cfg").get("type") == "result"


def test_the_service_and_a_room_in_discovery(xmpp_node: XmppNode) -> None:
    stream, _ = bound(xmpp_node)
    stream.send(f"<iq type='get' id='i1' to='example.com'><query xmlns='{DISCO_ITEMS}'/></iq>")
    items = stream.stanza().element.findall(f"{{{DISCO_ITEMS}}}query/{{{DISCO_ITEMS}}}item")
    assert SERVICE in [i.get("jid") for i in items]
    stream.send(f"<iq type='get' id='i2' to='{SERVICE}'><query xmlns='{DISCO_INFO}'/></iq>")
    info = stream.stanza().element
    assert info.get("type") == "result" and info.get("from") == SERVICE
    identity = info.find(f"{{{DISCO_INFO}}}query/{{{DISCO_INFO}}}identity")
    assert identity is not None and identity.get("category") == "conference"
    assert MUC in [f.get("var") for f in info.iter(f"{{{DISCO_INFO}}}feature")]
    room = new_room()
    create(stream, room, "host", {"muc#roomconfig_roomname": "Tea room", "muc#roomconfig_persistentroom": "1"})
    stream.send(f"<iq type='get' id='i3' to='{room}'><query xmlns='{DISCO_INFO}'/></iq>")
    features = [f.get("var") for f in until(stream, lambda e: e.get("id") == "i3").iter(f"{{{DISCO_INFO}}}feature")]
    assert {"muc_persistent", "muc_open", "muc_semianonymous", "urn:xmpp:mam:2"} <= set(features)
    stream.send(f"<iq type='get' id='i4' to='{SERVICE}'><query xmlns='{DISCO_ITEMS}'/></iq>")
    listed = {i.get("jid"): i.get("name") for i in until(stream, lambda e: e.get("id") == "i4").iter(
        f"{{{DISCO_ITEMS}}}item")}
    assert listed[room] == "Tea room"
    # Another server's conference service, or an unserved domain's: not ours.
    stream.send("<iq type='get' id='i5' to='conference.elsewhere.example'><query xmlns='"
                f"{DISCO_INFO}'/></iq>")
    assert error_condition(stream.stanza()) == "remote-server-not-found"
    stream.close()


def test_occupants_enter_talk_and_leave(xmpp_node: XmppNode) -> None:
    room = new_room()
    alice, alice_address = bound(xmpp_node, "a")
    bob, bob_address = bound(xmpp_node, "b")
    carol, _ = bound(xmpp_node, "c")
    create(alice, room, "Alice")
    alice.send(f"<message to='{room}' type='groupchat'><subject>Plans</subject></message>")
    assert until(alice, lambda e: e.find(C + "subject") is not None).findtext(C + "subject") == "Plans"
    alice.send(f"<message to='{room}' type='groupchat' id='g0'><body>first</body></message>")
    assert until(alice, lambda e: e.get("id") == "g0").findtext(C + "body") == "first"

    got = enter(bob, room, "Bob")
    presences = [e for e in got if e.tag == C + "presence"]
    assert [p.get("from") for p in presences] == [f"{room}/Alice", f"{room}/Bob"]
    assert item(presences[0]).get("affiliation") == "owner" and item(presences[0]).get("jid") is None
    assert statuses(presences[1]) == {"110"} and item(presences[1]).get("role") == "participant"
    history = [e for e in got if e.tag == C + "message" and e.find(C + "body") is not None]
    assert [h.findtext(C + "body") for h in history] == ["first"]
    assert history[0].find("{urn:xmpp:delay}delay") is not None
    assert got[-1].findtext(C + "subject") == "Plans" and got[-1].get("from") == f"{room}/Alice"
    # The owner (a moderator) sees the newcomer's real JID.
    joined = until(alice, lambda e: e.get("from") == f"{room}/Bob")
    assert item(joined).get("jid") == f"{bob_address}/b"

    # A nick taken by another account is a conflict; the room is unaffected.
    refused = enter(carol, room, "Bob")
    assert error_condition(type("S", (), {"element": refused[-1]})) == "conflict"
    enter(carol, room, "Carol")
    until(alice, lambda e: e.get("from") == f"{room}/Carol")
    until(bob, lambda e: e.get("from") == f"{room}/Carol")

    bob.send(f"<message to='{room}' type='groupchat' id='g1'><body>hello all</body>"
             f"<stanza-id xmlns='urn:xmpp:sid:0' by='{room}' id='forged'/></message>")
    for stream in (alice, bob, carol):
        message = until(stream, lambda e: e.get("id") == "g1")
        assert message.get("from") == f"{room}/Bob" and message.get("type") == "groupchat"
        ids = message.findall("{urn:xmpp:sid:0}stanza-id")
        assert len(ids) == 1 and ids[0].get("by") == room and ids[0].get("id") != "forged"

    # A private message through the room; the recipient sees the occupant JID only.
    carol.send(f"<message to='{room}/Alice' type='chat' id='p1'><body>psst</body></message>")
    private = until(alice, lambda e: e.get("id") == "p1")
    assert private.get("from") == f"{room}/Carol" and private.find(USER + "x") is not None
    carol.send(f"<message to='{room}/Nobody' type='chat' id='p2'><body>?</body></message>")
    assert error_condition(type("S", (), {"element": until(carol, lambda e: e.get("id") == "p2")})) == \
        "item-not-found"

    # A nick change: unavailable with 303 and the new nick, then available from it.
    bob.send(f"<presence to='{room}/Robert'/>")
    changed = until(alice, lambda e: e.get("from") == f"{room}/Bob")
    assert changed.get("type") == "unavailable" and "303" in statuses(changed)
    assert item(changed).get("nick") == "Robert"
    assert until(alice, lambda e: e.get("from") == f"{room}/Robert").get("type") is None
    own = until(bob, lambda e: e.get("from") == f"{room}/Robert")
    assert "110" in statuses(own)

    # Self-ping (XEP-0410): answered by the room while in it.
    bob.send(f"<iq type='get' id='sp' to='{room}/Robert'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert until(bob, lambda e: e.get("id") == "sp").get("type") == "result"

    # Leaving: everyone hears it, the leaver with 110.
    carol.send(f"<presence to='{room}/Carol' type='unavailable'><status>bye</status></presence>")
    left = until(carol, lambda e: e.get("from") == f"{room}/Carol")
    assert left.get("type") == "unavailable" and "110" in statuses(left)
    gone = until(alice, lambda e: e.get("from") == f"{room}/Carol")
    assert gone.get("type") == "unavailable" and gone.findtext(C + "status") == "bye"
    carol.send(f"<iq type='get' id='sp2' to='{room}/Carol'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert error_condition(type("S", (), {"element": until(carol, lambda e: e.get("id") == "sp2")})) == \
        "not-acceptable"
    carol.send(f"<message to='{room}' type='groupchat' id='g2'><body>still here?</body></message>")
    assert error_condition(type("S", (), {"element": until(carol, lambda e: e.get("id") == "g2")})) == \
        "not-acceptable"

    # A client that closes its stream leaves the room (its directed presence ends, RFC 6121 4.6.3).
    bob.send("</stream:stream>")
    bob.close()
    went = until(alice, lambda e: e.get("from") == f"{room}/Robert")
    assert went.get("type") == "unavailable"
    del alice_address
    for stream in (alice, carol):
        stream.close()


def test_a_locked_room_and_the_room_going_with_its_last_occupant(xmpp_node: XmppNode) -> None:
    room = new_room()
    owner, _ = bound(xmpp_node)
    other, _ = bound(xmpp_node)
    got = enter(owner, room, "owner")
    assert "201" in statuses([e for e in got if e.tag == C + "presence"][-1])
    # Until its owner configures it, nobody else enters (10.1.1).
    assert error_condition(type("S", (), {"element": enter(other, room, "early")[-1]})) == "item-not-found"
    owner.send(f"<iq type='get' id='f' to='{room}'><query xmlns='{MUC}#owner'/></iq>")
    form = until(owner, lambda e: e.get("id") == "f")
    names = [f.get("var") for f in form.iter("{jabber:x:data}field")]
    assert "muc#roomconfig_membersonly" in names and "muc#roomconfig_roomsecret" in names
    other.send(f"<iq type='get' id='f2' to='{room}'><query xmlns='{MUC}#owner'/></iq>")
    assert error_condition(type("S", (), {"element": until(other, lambda e: e.get("id") == "f2")})) == "forbidden"
    owner.send(f"<iq type='set' id='c' to='{room}'><query xmlns='{MUC}#owner'><x xmlns='jabber:x:data' "
               f"type='submit'><field var='muc#roomconfig_maxusers'><value>many</value></field></x></query></iq>")
    assert error_condition(type("S", (), {"element": until(owner, lambda e: e.get("id") == "c")})) == \
        "not-acceptable"
    owner.send(f"<iq type='set' id='c2' to='{room}'><query xmlns='{MUC}#owner'><x xmlns='jabber:x:data' "
               f"type='submit'/></query></iq>")
    assert until(owner, lambda e: e.get("id") == "c2").get("type") == "result"
    enter(other, room, "later")
    other.send(f"<presence to='{room}/later' type='unavailable'/>")
    until(other, lambda e: e.get("type") == "unavailable")
    owner.send(f"<presence to='{room}/owner' type='unavailable'/>")
    until(owner, lambda e: e.get("from") == f"{room}/owner" and e.get("type") == "unavailable")
    # Temporary and empty: gone. Whoever enters next creates it anew.
    got = enter(other, room, "again")
    assert "201" in statuses([e for e in got if e.tag == C + "presence"][-1])
    for stream in (owner, other):
        stream.close()


def test_moderation_kick_voice_and_ban(xmpp_node: XmppNode) -> None:
    room = new_room()
    mod, _ = bound(xmpp_node)
    user, user_address = bound(xmpp_node)
    create(mod, room, "mod", {"muc#roomconfig_moderatedroom": "1"})
    got = enter(user, room, "user")
    own = next(e for e in got if e.tag == C + "presence" and "110" in statuses(e))
    assert item(own).get("role") == "visitor"
    user.send(f"<message to='{room}' type='groupchat' id='v1'><body>hi</body></message>")
    assert error_condition(type("S", (), {"element": until(user, lambda e: e.get("id") == "v1")})) == "forbidden"
    # Voice granted by the moderator.
    mod.send(f"<iq type='set' id='a1' to='{room}'><query xmlns='{MUC}#admin'><item nick='user' role='participant'/>"
             f"</query></iq>")
    assert until(mod, lambda e: e.get("id") == "a1").get("type") == "result"
    assert item(until(user, lambda e: e.get("from") == f"{room}/user")).get("role") == "participant"
    user.send(f"<message to='{room}' type='groupchat' id='v2'><body>hi now</body></message>")
    assert until(mod, lambda e: e.get("id") == "v2").findtext(C + "body") == "hi now"
    # A participant cannot kick; the moderator can (307).
    user.send(f"<iq type='set' id='a2' to='{room}'><query xmlns='{MUC}#admin'><item nick='mod' role='none'/>"
              f"</query></iq>")
    assert error_condition(type("S", (), {"element": until(user, lambda e: e.get("id") == "a2")})) == "forbidden"
    mod.send(f"<iq type='set' id='a3' to='{room}'><query xmlns='{MUC}#admin'><item nick='user' role='none'>"
             f"<reason>calm down</reason></item></query></iq>")
    kicked = until(user, lambda e: e.get("from") == f"{room}/user" and e.get("type") == "unavailable")
    assert {"307", "110"} <= statuses(kicked) and item(kicked).findtext(USER + "reason") == "calm down"
    # Banned (301): out, and cannot come back; the outcast list names the account.
    enter(user, room, "user")
    mod.send(f"<iq type='set' id='a4' to='{room}'><query xmlns='{MUC}#admin'><item jid='{user_address}' "
             f"affiliation='outcast'/></query></iq>")
    banned = until(user, lambda e: e.get("from") == f"{room}/user" and e.get("type") == "unavailable")
    assert "301" in statuses(banned)
    assert error_condition(type("S", (), {"element": enter(user, room, "user")[-1]})) == "forbidden"
    mod.send(f"<iq type='get' id='a5' to='{room}'><query xmlns='{MUC}#admin'><item affiliation='outcast'/>"
             f"</query></iq>")
    listed = until(mod, lambda e: e.get("id") == "a5")
    assert [i.get("jid") for i in listed.iter(f"{{{MUC}#admin}}item")] == [user_address]
    # The last owner cannot leave the room without one.
    mod.send(f"<iq type='set' id='a6' to='{room}'><query xmlns='{MUC}#admin'><item jid='{user_address}' "
             f"affiliation='none'/><item nick='mod' affiliation='member'/></query></iq>")
    assert error_condition(type("S", (), {"element": until(mod, lambda e: e.get("id") == "a6")})) == "conflict"
    for stream in (mod, user):
        stream.close()


def test_members_only_invitations_and_passwords(xmpp_node: XmppNode) -> None:
    room = new_room()
    owner, _ = bound(xmpp_node)
    guest, guest_address = bound(xmpp_node)
    guest.send("<presence/>")
    create(owner, room, "owner", {"muc#roomconfig_membersonly": "1"})
    assert error_condition(type("S", (), {"element": enter(guest, room, "guest")[-1]})) == "registration-required"
    owner.send(f"<message to='{room}'><x xmlns='{MUC}#user'><invite to='{guest_address}'><reason>join us"
               f"</reason></invite></x></message>")
    invitation = until(guest, lambda e: e.find(USER + "x") is not None and e.tag == C + "message")
    assert invitation.get("from") == room
    invite = invitation.find(f"{USER}x/{USER}invite")
    assert invite is not None and invite.findtext(USER + "reason") == "join us"
    got = enter(guest, room, "guest")
    assert item(next(e for e in got if "110" in statuses(e))).get("affiliation") == "member"

    secret = new_room()
    create(owner, secret, "owner", {"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3"})
    assert error_condition(type("S", (), {"element": enter(guest, secret, "guest")[-1]})) == "not-authorized"
    got = enter(guest, secret, "guest", "<password>s3</password>")
    assert got[-1].find(C + "subject") is not None
    for stream in (owner, guest):
        stream.close()


def test_a_persistent_room_is_kept_with_its_archive(xmpp_node: XmppNode) -> None:
    room = new_room()
    owner, _ = bound(xmpp_node)
    create(owner, room, "owner", {"muc#roomconfig_persistentroom": "1", "muc#roomconfig_roomdesc": "kept"})
    for n in range(3):
        owner.send(f"<message to='{room}' type='groupchat' id='k{n}'><body>note {n}</body></message>")
        until(owner, lambda e, n=n: e.get("id") == f"k{n}")
    owner.send(f"<presence to='{room}/owner' type='unavailable'/>")
    until(owner, lambda e: e.get("type") == "unavailable")
    # Empty, but persistent: still there, configured as it was, with its archive.
    stored = xmpp_node.running.call(xmpp_node.running.runtime.rooms.load(SERVICE, room.partition("@")[0]))
    assert stored is not None and stored.state["config"]["description"] == "kept"
    reader, _ = bound(xmpp_node)
    reader.send(f"<iq type='set' id='q' to='{room}'><query xmlns='urn:xmpp:mam:2' queryid='x'>"
                f"<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query></iq>")
    results = []
    while True:
        element = reader.stanza().element
        if element.get("id") == "q":
            fin = element
            break
        results.append(element)
    bodies = [r.findtext("{urn:xmpp:mam:2}result/{urn:xmpp:forward:0}forwarded/" + C + "message/" + C + "body")
              for r in results]
    assert bodies == ["note 1", "note 2"]
    assert all(r.get("from") == room for r in results)
    assert fin.get("type") == "result" and fin.find("{urn:xmpp:mam:2}fin") is not None
    # Destroyed by its owner: gone from the store, its occupants told.
    enter(reader, room, "reader")
    enter(owner, room, "owner")
    owner.send(f"<iq type='set' id='d' to='{room}'><query xmlns='{MUC}#owner'><destroy jid='other@{SERVICE}'>"
               f"<reason>moved</reason></destroy></query></iq>")
    told = until(reader, lambda e: e.find(f"{USER}x/{USER}destroy") is not None)
    destroyed = told.find(f"{USER}x/{USER}destroy")
    assert told.get("type") == "unavailable" and destroyed is not None and destroyed.get("jid") == f"other@{SERVICE}"
    assert until(owner, lambda e: e.get("id") == "d").get("type") == "result"
    assert xmpp_node.running.call(xmpp_node.running.runtime.rooms.load(SERVICE, room.partition("@")[0])) is None
    assert quiet(reader)
    for stream in (owner, reader):
        stream.close()


def test_two_clients_creating_one_room_at_once_make_one_owner(xmpp_node: XmppNode) -> None:
    room = new_room()
    first, first_address = bound(xmpp_node)
    second, _ = bound(xmpp_node)
    for stream, nick in ((first, "one"), (second, "two")):
        stream.send(f"<presence to='{room}/{nick}'><x xmlns='{MUC}'/></presence>")
    replies = [first.stanza().element, second.stanza().element]
    made = [r for r in replies if r.get("type") is None and "201" in statuses(r)]
    refused = [r for r in replies if r.get("type") == "error"]
    assert len(made) == 1 and len(refused) == 1, [ET.tostring(r) for r in replies]
    assert error_condition(type("S", (), {"element": refused[0]})) == "item-not-found"  # locked till configured
    stored = xmpp_node.running.runtime.rooms  # temporary: nothing stored
    assert xmpp_node.running.call(stored.load(SERVICE, room.partition("@")[0])) is None
    del first_address
    for stream in (first, second):
        stream.close()


def test_a_status_update_to_a_room_one_is_not_in(xmpp_node: XmppNode) -> None:
    """7.2.1 since 1.32: told it is out (110, 307), and no room is made of it."""
    stream, _ = bound(xmpp_node)
    room = new_room()
    stream.send(f"<presence to='{room}/me'><show>away</show></presence>")
    told = stream.stanza().element
    assert told.get("type") == "unavailable" and told.get("from") == f"{room}/me"
    assert statuses(told) == {"110", "307"}
    stream.send(f"<iq type='get' id='i' to='{room}'><query xmlns='{DISCO_INFO}'/></iq>")
    assert error_condition(stream.stanza()) == "item-not-found"
    stream.close()


def test_a_persistent_rooms_history_outlives_its_occupants(xmpp_node: XmppNode) -> None:
    room = new_room()
    owner, _ = bound(xmpp_node)
    create(owner, room, "owner", {"muc#roomconfig_persistentroom": "1"})
    owner.send(f"<message to='{room}' type='groupchat' id='h1'><body>remember me</body></message>")
    until(owner, lambda e: e.get("id") == "h1")
    owner.send(f"<presence to='{room}/owner' type='unavailable'/>")
    until(owner, lambda e: e.get("type") == "unavailable")
    xmpp_node.running.call(xmpp_node.running.runtime.room_archive.flush())
    # Empty: out of memory (it is read again from the store, its history from its archive).
    held = router_for(xmpp_node.running.runtime).rooms
    assert held is not None and Jid.parse(room) not in held.rooms
    later, _ = bound(xmpp_node)
    got = enter(later, room, "later")
    assert [e.findtext(C + "body") for e in got if e.find(C + "body") is not None] == ["remember me"]
    for stream in (owner, later):
        stream.close()


def test_a_rooms_archive_by_occupant(xmpp_node: XmppNode) -> None:
    room = new_room()
    owner, _ = bound(xmpp_node)
    guest, _ = bound(xmpp_node)
    create(owner, room, "owner", {"muc#roomconfig_persistentroom": "1"})
    enter(guest, room, "guest")
    for stream, nick in ((owner, "owner"), (guest, "guest"), (owner, "owner")):
        stream.send(f"<message to='{room}' type='groupchat' id='w-{nick}'><body>by {nick}</body></message>")
        until(stream, lambda e, nick=nick: e.get("id") == f"w-{nick}")
    guest.send(f"<iq type='set' id='q' to='{room}'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' "
               f"type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='with'>"
               f"<value>{room}/guest</value></field></x></query></iq>")
    results = []
    while (element := guest.stanza().element).get("id") != "q":
        if element.find("{urn:xmpp:mam:2}result") is not None:
            results.append(element.findtext(".//" + C + "body"))
    assert results == ["by guest"]
    for stream in (owner, guest):
        stream.close()
