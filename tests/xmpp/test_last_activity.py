"""Last activity (XEP-0012): the server's uptime, and how long ago a contact was last available, for those
subscribed to its presence."""

from __future__ import annotations

from tests.xmpp.conftest import XmppNode
from tests.xmpp.test_presence import heard, online, subscribe
from tests.xmpp.test_routing import error_condition

LAST = "{jabber:iq:last}"


def test_uptime_and_a_contacts_last_activity(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = online(xmpp_node, "balcony")
    juliet.send("<iq type='get' id='up'><query xmlns='jabber:iq:last'/></iq>")
    uptime = juliet.stanza().element.find(LAST + "query")
    assert uptime is not None and int(uptime.get("seconds", "-1")) >= 0
    romeo, romeo_address = online(xmpp_node, "orchard")
    subscribe(juliet, juliet_address, romeo, romeo_address)  # juliet sees romeo's presence
    juliet.send(f"<iq type='get' id='l1' to='{romeo_address}'><query xmlns='jabber:iq:last'/></iq>")
    reply = juliet.stanza().element
    assert reply.get("from") == romeo_address and reply.find(LAST + "query").get("seconds") == "0"  # type: ignore[union-attr]
    romeo.send("<presence type='unavailable'><status>gone to Mantua</status></presence>")
    heard(juliet)
    juliet.send(f"<iq type='get' id='l2' to='{romeo_address}'><query xmlns='jabber:iq:last'/></iq>")
    last = juliet.stanza().element.find(LAST + "query")
    assert last is not None and last.text == "gone to Mantua" and int(last.get("seconds", "-1")) >= 0
    # Romeo is not subscribed to Juliet's presence: hers is not his to see.
    romeo.send(f"<iq type='get' id='l3' to='{juliet_address}'><query xmlns='jabber:iq:last'/></iq>")
    assert error_condition(romeo.stanza()) == "forbidden"
    for stream in (juliet, romeo):
        stream.close()
