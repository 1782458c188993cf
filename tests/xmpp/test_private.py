"""Private XML storage (XEP-0049) over a client's stream: a fragment stored and read back by namespace, an
empty one where nothing is stored, and the errors."""

from __future__ import annotations

from tests.xmpp.conftest import XmppNode, bound
from tests.xmpp.test_routing import error_condition

BOOKMARKS = ("<storage xmlns='storage:bookmarks'><conference name='The Council' autojoin='true' "
             "jid='council@conference.example.com'><nick>juliet</nick></conference></storage>")


def test_stored_read_back_and_refused(xmpp_node: XmppNode) -> None:
    client, address = bound(xmpp_node, "desk")
    client.send(f"<iq type='set' id='s1'><query xmlns='jabber:iq:private'>{BOOKMARKS}</query></iq>")
    assert client.stanza().element.get("type") == "result"
    again, _ = bound(xmpp_node, "phone", address)  # another client of the account reads it
    again.send("<iq type='get' id='g1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/>"
               "</query></iq>")
    conference = again.stanza().element.find(
        "{jabber:iq:private}query/{storage:bookmarks}storage/{storage:bookmarks}conference")
    assert conference is not None and conference.get("jid") == "council@conference.example.com"
    assert conference.findtext("{storage:bookmarks}nick") == "juliet"
    again.send("<iq type='get' id='g2'><query xmlns='jabber:iq:private'><roster xmlns='roster:delimiter'/>"
               "</query></iq>")
    empty = again.stanza().element.find("{jabber:iq:private}query/{roster:delimiter}roster")
    assert empty is not None and len(empty) == 0 and not (empty.text or "").strip()
    for bad, condition in (("<query xmlns='jabber:iq:private'><x xmlns='jabber:client'/></query>", "not-acceptable"),
                           ("<query xmlns='jabber:iq:private'/>", "bad-request"),
                           ("<query xmlns='jabber:iq:private'><a xmlns='x:a'/><b xmlns='x:b'/></query>",
                            "bad-request")):
        client.send(f"<iq type='set' id='bad'>{bad}</iq>")
        assert error_condition(client.stanza()) == condition
    other = xmpp_node.account()
    client.send(f"<iq type='get' id='o' to='{other}'><query xmlns='jabber:iq:private'>"
                "<storage xmlns='storage:bookmarks'/></query></iq>")
    assert error_condition(client.stanza()) == "service-unavailable"  # another account's is not reachable
    for stream in (client, again):
        stream.close()
