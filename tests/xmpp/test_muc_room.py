"""The room's rules without I/O (xmpp/muc.py): an account in a room from several clients, what history a
newcomer gets, who sees real JIDs, who may change whose role and affiliation, the configuration form; and,
property-tested, that no sequence of entering, leaving, nick changes, kicks, vanished clients and messages
leaves the room's maps disagreeing or addresses a stanza to anything but a real full JID."""

from __future__ import annotations

import itertools
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.xmpp import muc
from polyport.xmpp.jid import Jid

C = "{jabber:client}"
ROOM = Jid("tea", "conference.example.com")
_ids = itertools.count(1)


def room(**config: object) -> muc.Room:
    return muc.Room(ROOM, muc.Config(**config), {Jid("owner", "example.com"): "owner"},  # type: ignore[arg-type]
                    new_id=lambda: f"id{next(_ids)}", clock=lambda: 1000.0)


def presence(history: str = "", kind: str | None = None) -> ET.Element[str]:
    element = ET.Element(C + "presence", {"type": kind} if kind else {})
    x = ET.SubElement(element, muc.MUC + "x")
    if history:
        ET.SubElement(x, muc.MUC + "history", dict(pair.split("=") for pair in history.split()))
    return element


def user(name: str, resource: str = "r") -> Jid:
    return Jid(name, "example.com", resource)


def to(outcome: muc.Outcome) -> list[tuple[str, str]]:
    return [(s.get("to", ""), s.get("from", "")) for s in outcome.sends]


def groupchat(body: str) -> ET.Element[str]:
    message = ET.Element(C + "message", {"type": "groupchat"})
    ET.SubElement(message, C + "body").text = body
    return message


def test_one_account_from_two_clients_is_one_occupant() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    r.enter(presence(), user("ann", "phone"), "ann")
    second = r.enter(presence(), user("ann", "desk"), "ann")
    # Only the new client hears the room; the others do not hear "ann" enter again.
    assert {t for t, _ in to(second)} == {str(user("ann", "desk"))}
    assert len(r.occupants) == 2 and set(r.occupants["ann"].sessions) == {user("ann", "phone"), user("ann", "desk")}
    said = r.message(groupchat("hi"), user("owner"), "")
    assert sorted(t for t, _ in to(said)) == sorted(str(j) for j in (user("owner"), user("ann", "phone"),
                                                                     user("ann", "desk")))
    left = r.leave(user("ann", "phone"))
    assert to(left) == [(str(user("ann", "phone")), f"{ROOM}/ann")]  # the owner hears nothing
    assert "ann" in r.occupants
    left = r.leave(user("ann", "desk"))
    assert sorted(t for t, _ in to(left)) == [str(user("ann", "desk")), str(user("owner"))]
    assert "ann" not in r.occupants and user("ann", "desk") not in r.nicks


def test_another_account_cannot_take_a_nick() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    with pytest.raises(muc.MucError) as err:
        r.enter(presence(), user("eve"), "boss")
    assert err.value.condition == "conflict"


def test_history_as_the_newcomer_asks() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    for n in range(30):
        r.message(groupchat(f"m{n}"), user("owner"), "")

    def bodies(history: str) -> list[str]:
        jid = user(f"h{next(_ids)}")
        got = r.enter(presence(history), jid, jid.local)
        return [s.findtext(C + "body") or "" for s in got.sends if s.find(C + "body") is not None]

    assert bodies("") == [f"m{n}" for n in range(10, 30)]  # DEFAULT_HISTORY
    assert bodies("maxstanzas=3") == ["m27", "m28", "m29"]
    assert bodies("maxchars=0") == []
    assert bodies("maxstanzas=x") == [f"m{n}" for n in range(10, 30)]
    assert bodies("since=1970-01-01T00:20:00Z") == []  # the clock says 1000 s: nothing after 1200 s


def test_real_jids_in_semi_anonymous_and_non_anonymous_rooms() -> None:
    for anonymous, shown in ((True, None), (False, str(user("owner")))):
        r = room(anonymous=anonymous)
        r.enter(presence(), user("owner"), "boss")
        got = r.enter(presence(), user("ann"), "ann")
        boss = next(s for s in got.sends if s.get("from") == f"{ROOM}/boss")
        item = boss.find(f"{muc.USER}x/{muc.USER}item")
        assert item is not None and item.get("jid") == shown
        # The moderator always sees the newcomer's.
        seen = next(s for s in got.sends if s.get("to") == str(user("owner")))
        assert seen.find(f"{muc.USER}x/{muc.USER}item").get("jid") == str(user("ann"))  # type: ignore[union-attr]


def admin_set(r: muc.Room, sender: Jid, **attributes: str) -> muc.Outcome:
    iq = ET.Element(C + "iq", {"type": "set", "id": "a", "to": str(ROOM), "from": str(sender)})
    ET.SubElement(ET.SubElement(iq, muc.ADMIN + "query"), muc.ADMIN + "item", attributes)
    return r.iq(iq, sender, "")


def test_who_changes_what() -> None:
    r = room()
    r.affiliations[Jid("adam", "example.com")] = "admin"
    r.affiliations[Jid("mem", "example.com")] = "member"
    for name in ("owner", "adam", "mem", "nobody"):
        r.enter(presence(), user(name), name)
    cases = [  # (actor, change, the error or None)
        ("nobody", {"nick": "mem", "role": "none"}, "forbidden"),
        ("mem", {"jid": "nobody@example.com", "affiliation": "member"}, "forbidden"),
        ("adam", {"jid": "owner@example.com", "affiliation": "outcast"}, "not-allowed"),
        ("adam", {"jid": "nobody@example.com", "affiliation": "admin"}, "not-allowed"),
        ("adam", {"nick": "owner", "role": "none"}, "not-allowed"),
        ("adam", {"nick": "mem", "role": "moderator"}, None),
        ("mem", {"nick": "nobody", "role": "visitor"}, None),  # a moderator now
        ("mem", {"nick": "adam", "role": "participant"}, "not-allowed"),
        ("adam", {"jid": "nobody@example.com", "affiliation": "member"}, None),
        ("owner", {"jid": "owner@example.com", "affiliation": "admin"}, "conflict"),  # the last owner
        ("owner", {"jid": "adam@example.com", "affiliation": "owner"}, None),
        ("owner", {"jid": "owner@example.com", "affiliation": "none"}, None),  # adam owns it now
        ("adam", {"nick": "nobody", "role": "none"}, None),
    ]
    for actor, change, error in cases:
        if error is None:
            admin_set(r, user(actor), **change)
        else:
            with pytest.raises(muc.MucError) as err:
                admin_set(r, user(actor), **change)
            assert err.value.condition == error, (actor, change)
    assert r.affiliations == {Jid("adam", "example.com"): "owner", Jid("mem", "example.com"): "member",
                              Jid("nobody", "example.com"): "member"}
    assert "nobody" not in r.occupants and user("nobody") not in r.nicks


def test_the_configuration_form() -> None:
    r = room()
    form = r.config_form().find(muc.DATA + "x")
    assert form is not None

    def submit(**fields: str) -> muc.Config:
        x = ET.Element(muc.DATA + "x", {"type": "submit"})
        for name, value in fields.items():
            field = ET.SubElement(x, muc.DATA + "field", {"var": "muc#roomconfig_" + name})
            ET.SubElement(field, muc.DATA + "value").text = value
        return r.apply_form(x)

    assert submit(persistentroom="1", membersonly="true", whois="anyone", maxusers="20").persistent
    assert submit(whois="anyone").anonymous is False
    for bad in ({"whois": "everyone"}, {"maxusers": "0"}, {"persistentroom": "yes"},
                {"passwordprotectedroom": "1"}):
        with pytest.raises(muc.MucError):
            submit(**bad)
    assert submit(passwordprotectedroom="1", roomsecret="pw").password == "pw"
    assert submit(passwordprotectedroom="0", roomsecret="pw").password == ""


# -- any sequence keeps the room's maps in agreement --

NAMES = ("a", "b", "c", "owner")
RESOURCES = ("1", "2")
NICKS = ("x", "y", "z", "w")
operation = st.one_of(
    st.tuples(st.just("enter"), st.sampled_from(NAMES), st.sampled_from(RESOURCES), st.sampled_from(NICKS)),
    st.tuples(st.just("leave"), st.sampled_from(NAMES), st.sampled_from(RESOURCES), st.just("")),
    st.tuples(st.just("gone"), st.sampled_from(NAMES), st.sampled_from(RESOURCES), st.just("")),
    st.tuples(st.just("say"), st.sampled_from(NAMES), st.sampled_from(RESOURCES), st.sampled_from(("", *NICKS))),
    st.tuples(st.just("kick"), st.sampled_from(NAMES), st.sampled_from(RESOURCES), st.sampled_from(NICKS)),
    st.tuples(st.just("ban"), st.sampled_from(NAMES), st.sampled_from(RESOURCES), st.sampled_from(NAMES)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40), st.booleans())
def test_no_sequence_leaves_the_maps_disagreeing(operations: list[tuple[str, str, str, str]],
                                                 anonymous: bool) -> None:
    r = room(anonymous=anonymous, max_users=3)
    for kind, name, resource, argument in operations:
        sender = user(name, resource)
        try:
            if kind == "enter":
                outcome = r.presence(presence(), sender, argument)
            elif kind == "leave":
                outcome = r.presence(presence(kind="unavailable"), sender, r.nicks.get(sender, "x"))
            elif kind == "gone":
                outcome = r.gone(sender)
            elif kind == "say":
                message = groupchat("hi") if not argument else ET.Element(C + "message", {"type": "chat"})
                outcome = r.message(message, sender, argument)
            elif kind == "kick":
                outcome = admin_set(r, sender, nick=argument, role="none")
            else:
                outcome = admin_set(r, sender, jid=f"{argument}@example.com", affiliation="outcast")
        except muc.MucError:
            continue
        for stanza in outcome.sends:
            target = Jid.parse(stanza.get("to", ""))
            assert target.resource and target.domain == "example.com", ET.tostring(stanza)
            assert Jid.parse(stanza.get("from", "")).bare == ROOM
        for nick, occupant in r.occupants.items():
            assert occupant.nick == nick and occupant.sessions
            assert all(r.nicks.get(jid) == nick and jid.bare == occupant.bare for jid in occupant.sessions)
        for jid, nick in r.nicks.items():
            assert jid in r.occupants[nick].sessions
        assert all(r.affiliation(o.bare) != "outcast" for o in r.occupants.values())
        assert len(r.occupants) <= 4  # max_users, but an owner enters a full room


def test_a_client_that_enters_again_gets_everything_again() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    r.enter(presence(), user("ann"), "ann")
    again = r.presence(presence(), user("ann"), "ann")  # its server lost the room's state: it enters anew
    to_ann = [s for s in again.sends if s.get("to") == str(user("ann"))]
    assert [s.get("from") for s in to_ann if s.tag == C + "presence"] == [f"{ROOM}/boss", f"{ROOM}/ann"]
    assert to_ann[-1].find(C + "subject") is not None
    # A status update (no MUC element) is only a status update.
    update = ET.Element(C + "presence")
    ET.SubElement(update, C + "show").text = "away"
    assert [s.get("to") for s in r.presence(update, user("ann"), "ann").sends] == [str(user("owner")),
                                                                                    str(user("ann"))]


def test_presence_without_the_muc_element_from_someone_not_in_is_told_so() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    told = r.presence(ET.Element(C + "presence"), user("ann"), "ann")
    assert [s.get("to") for s in told.sends] == [str(user("ann"))] and "ann" not in r.occupants
    codes = {c.get("code") for c in told.sends[0].iter(muc.USER + "status")}
    assert told.sends[0].get("type") == "unavailable" and codes == {"110", "307"}


def test_only_the_room_gives_stanza_ids_by_its_jid() -> None:
    r = room(persistent=True)
    r.enter(presence(), user("owner"), "boss")
    message = groupchat("hi")
    ET.SubElement(message, "{urn:xmpp:sid:0}stanza-id", {"by": "TEA@Conference.Example.com", "id": "chosen"})
    ET.SubElement(message, "{urn:xmpp:sid:0}stanza-id", {"by": "someone@else.example", "id": "theirs"})
    said = r.message(message, user("owner"), "")
    ids = [(e.get("by"), e.get("id")) for e in said.sends[0].iter("{urn:xmpp:sid:0}stanza-id")]
    assert ("someone@else.example", "theirs") in ids and all(i != "chosen" for _, i in ids)
    assert said.archived_id and (str(ROOM), said.archived_id) in ids


def test_moderators_below_admin_and_repeated_items() -> None:
    r = room()
    r.affiliations[Jid("mem", "example.com")] = "member"
    for name in ("owner", "mem", "pat", "guest"):
        r.enter(presence(), user(name), name)
    admin_set(r, user("owner"), nick="mem", role="moderator")
    admin_set(r, user("owner"), nick="pat", role="moderator")
    for change in ({"nick": "pat", "role": "none"}, {"nick": "pat", "role": "visitor"}):
        with pytest.raises(muc.MucError) as err:
            admin_set(r, user("mem"), **change)  # a moderator that is only a member: not over a moderator
        assert err.value.condition == "not-allowed"
    admin_set(r, user("mem"), nick="guest", role="visitor")
    iq = ET.Element(C + "iq", {"type": "set", "id": "a", "to": str(ROOM), "from": str(user("owner"))})
    query = ET.SubElement(iq, muc.ADMIN + "query")
    ET.SubElement(query, muc.ADMIN + "item", {"nick": "guest", "role": "none"})
    ET.SubElement(query, muc.ADMIN + "item", {"nick": "guest", "role": "participant"})
    with pytest.raises(muc.MucError) as err:
        r.iq(iq, user("owner"), "")
    assert err.value.condition == "bad-request" and "guest" in r.occupants


def test_a_history_request_of_any_size() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    r.message(groupchat("old"), user("owner"), "")
    got = r.enter(presence("seconds=" + "9" * 400), user("ann"), "ann")
    assert [s.findtext(C + "body") for s in got.sends if s.find(C + "body") is not None] == ["old"]


def test_the_history_keeps_to_its_size() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    for n in range(muc.MAX_HISTORY):
        r.message(groupchat(f"{n:04d}" + "x" * 2000), user("owner"), "")
    assert sum(size for _, _, size in r.history) <= muc.MAX_HISTORY_BYTES
    assert r.history[-1][1].findtext(C + "body", "").startswith(f"{muc.MAX_HISTORY - 1:04d}")


def test_a_visitor_asks_for_voice_and_a_moderator_grants_it() -> None:
    r = room(moderated=True)
    r.enter(presence(), user("owner"), "boss")
    r.enter(presence(), user("ann"), "ann")
    assert r.occupants["ann"].role == "visitor"
    ask = ET.Element(C + "message")
    form = ET.SubElement(ask, muc.DATA + "x", {"type": "submit"})
    for name, value in (("FORM_TYPE", muc.REQUEST_FORM), ("muc#role", "participant")):
        ET.SubElement(ET.SubElement(form, muc.DATA + "field", {"var": name}), muc.DATA + "value").text = value
    asked = r.message(ask, user("ann"), "")
    assert [s.get("to") for s in asked.sends] == [str(user("owner"))]  # the moderators get the form
    request = asked.sends[0].find(muc.DATA + "x")
    assert request is not None and request.get("type") == "form"
    answer = ET.Element(C + "message")
    request.set("type", "submit")
    for item in request.findall(muc.DATA + "field"):
        if item.get("var") == "muc#request_allow":
            item.find(muc.DATA + "value").text = "true"  # type: ignore[union-attr]
    answer.append(request)
    with pytest.raises(muc.MucError):
        r.message(answer, user("ann"), "")  # not a moderator: may not grant itself voice
    granted = r.message(answer, user("owner"), "")
    assert r.occupants["ann"].role == "participant" and granted.sends


def test_nicks_that_cannot_be() -> None:
    r = room()
    r.enter(presence(), user("owner"), "boss")
    for nick in ("", " padded", "x" * (muc.MAX_NICK + 1)):
        with pytest.raises(muc.MucError) as err:
            r.enter(presence(), user("ann"), nick)
        assert err.value.condition == "jid-malformed"
        with pytest.raises(muc.MucError):
            r.presence(presence(), user("owner"), nick)  # nor as a new nick
    assert list(r.occupants) == ["boss"]
