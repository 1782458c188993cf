"""The message archive (XEP-0313) over a client's stream: messages archived both ways with the stanza-id the
recipient sees (XEP-0359), queries by contact with result set paging, the query form, preferences, service
discovery on the account, and the errors for queries that cannot be answered."""

from __future__ import annotations

import time
from xml.etree import ElementTree as ET

from tests.xmpp.conftest import Stream, XmppNode, bound
from tests.xmpp.test_routing import available, error_condition, quiet

C = "{jabber:client}"
MAM = "{urn:xmpp:mam:2}"
RSM = "{http://jabber.org/protocol/rsm}"
SID = "{urn:xmpp:sid:0}"


def query(stream: Stream, qid: str, *, with_jid: str | None = None, page: str = "") -> tuple[list[ET.Element],
                                                                                          ET.Element]:
    """Run a MAM query; the forwarded messages and the <fin/>."""
    form = ""
    if with_jid:
        form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>"
                f"urn:xmpp:mam:2</value></field><field var='with'><value>{with_jid}</value></field></x>")
    stream.send(f"<iq type='set' id='{qid}'><query xmlns='urn:xmpp:mam:2' queryid='{qid}'>{form}"
                f"{page}</query></iq>")
    found: list[ET.Element] = []
    while True:
        element = stream.stanza().element
        if element.tag == C + "iq":
            assert element.get("type") == "result" and element.get("id") == qid, ET.tostring(element)
            fin = element.find(MAM + "fin")
            assert fin is not None
            return found, fin
        result = element.find(MAM + "result")
        assert result is not None and result.get("queryid") == qid
        found.append(result)


def bodies(results: list[ET.Element]) -> list[str]:
    return [r.findtext("{urn:xmpp:forward:0}forwarded/" + C + "message/" + C + "body") or "" for r in results]


def test_messages_are_archived_both_ways_and_paged(xmpp_node: XmppNode) -> None:
    juliet, juliet_address = bound(xmpp_node, "balcony")
    available(juliet)
    romeo, romeo_address = bound(xmpp_node, "orchard")
    got = []
    for n in range(3):
        romeo.send(f"<message to='{juliet_address}' type='chat' id='m{n}'><body>line {n}</body>"
                   f"<stanza-id xmlns='urn:xmpp:sid:0' by='{juliet_address}' id='forged'/></message>")
        got.append(juliet.stanza().element)
    stanza_ids = [m.findall(SID + "stanza-id") for m in got]
    assert all(len(ids) == 1 and ids[0].get("by") == juliet_address and ids[0].get("id") != "forged"
               for ids in stanza_ids)  # the client's forged one removed, the archive's added
    romeo.send("<message type='headline' to='" + juliet_address + "'><body>not kept</body></message>")
    romeo.send(f"<message to='{juliet_address}' type='chat'><body>nor this</body>"
               "<no-store xmlns='urn:xmpp:hints'/></message>")
    assert juliet.stanza().element.get("type") == "headline"
    juliet.stanza()
    first, fin = query(juliet, "q1", with_jid=romeo_address, page=f"<set xmlns='{RSM[1:-1]}'><max>2</max></set>")
    assert bodies(first) == ["line 0", "line 1"] and fin.get("complete") is None
    assert [r.get("id") for r in first] == [ids[0].get("id") for ids in stanza_ids[:2]]
    forwarded = first[0].find("{urn:xmpp:forward:0}forwarded")
    assert forwarded is not None and forwarded.find("{urn:xmpp:delay}delay") is not None
    last = fin.findtext(f"{RSM}set/{RSM}last")
    rest, fin = query(juliet, "q2", page=f"<set xmlns='{RSM[1:-1]}'><max>5</max><after>{last}</after></set>")
    assert bodies(rest) == ["line 2"] and fin.get("complete") == "true"
    newest, _ = query(juliet, "q3", page=f"<set xmlns='{RSM[1:-1]}'><max>1</max><before/></set>")
    assert bodies(newest) == ["line 2"]
    # The sender's archive holds them too.
    sent, _ = query(romeo, "q4", with_jid=juliet_address)
    assert bodies(sent) == ["line 0", "line 1", "line 2"]
    nobody, fin = query(romeo, "q5", with_jid="nurse@example.com")
    assert nobody == [] and fin.get("complete") == "true"
    for stream in (juliet, romeo):
        stream.close()


def test_messages_kept_offline_are_archived(xmpp_node: XmppNode) -> None:
    sender, _ = bound(xmpp_node, "s")
    absent = xmpp_node.account()
    sender.send(f"<message to='{absent}' type='chat' id='o'><body>while away</body></message>")
    assert quiet(sender)
    later, _ = bound(xmpp_node, "r", absent)
    archived, _ = query(later, "q")
    assert bodies(archived) == ["while away"]
    available(later)
    stanza_id = later.stanza().element.find(SID + "stanza-id")
    assert stanza_id is not None and stanza_id.get("id") == archived[0].get("id")
    for stream in (sender, later):
        stream.close()


def test_discovery_form_preferences_and_errors(xmpp_node: XmppNode) -> None:
    client, address = bound(xmpp_node, "desk")
    client.send(f"<iq type='get' id='d' to='{address}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    features = {f.get("var") for f in client.stanza().element.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert {"urn:xmpp:mam:2", "urn:xmpp:mam:2#extended", "urn:xmpp:sid:0"} <= features
    client.send("<iq type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>")
    fields = [f.get("var") for f in client.stanza().element.iter("{jabber:x:data}field")]
    assert fields == ["FORM_TYPE", "with", "start", "end", "after-id", "before-id"]
    client.send("<iq type='get' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
    assert client.stanza().element.find(MAM + "prefs").get("default") == "always"  # type: ignore[union-attr]
    client.send("<iq type='set' id='p2'><prefs xmlns='urn:xmpp:mam:2' default='never'><always/><never/></prefs></iq>")
    assert client.stanza().element.find(MAM + "prefs").get("default") == "never"  # type: ignore[union-attr]
    assert xmpp_node.running.call(xmpp_node.running.runtime.directory.account_settings(address))[
        "ChatHistoryDays"] == "0"
    friend, friend_address = bound(xmpp_node, "f")
    available(client)
    friend.send(f"<message to='{address}' type='chat'><body>off the record</body></message>")
    assert client.stanza().element.find(SID + "stanza-id") is None
    time.sleep(0.1)
    assert query(client, "none")[0] == []
    assert bodies(query(friend, "theirs", with_jid=address)[0]) == ["off the record"]  # the friend keeps it
    client.send("<iq type='set' id='p3'><prefs xmlns='urn:xmpp:mam:2' default='roster'/></iq>")
    assert error_condition(client.stanza()) == "feature-not-implemented"
    client.send("<iq type='set' id='p4'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>")
    assert client.stanza().element.find(MAM + "prefs").get("default") == "always"  # type: ignore[union-attr]
    client.send("<iq type='set' id='e1'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
                "<after>no-such-id</after></set></query></iq>")
    assert error_condition(client.stanza()) == "item-not-found"
    client.send("<iq type='set' id='e2'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
                "<field var='start'><value>yesterday</value></field></x></query></iq>")
    assert error_condition(client.stanza()) == "bad-request"
    client.send(f"<iq type='set' id='e3' to='{friend_address}'><query xmlns='urn:xmpp:mam:2'/></iq>")
    assert error_condition(client.stanza()) == "service-unavailable"  # another account's archive is its own
    for stream in (client, friend):
        stream.close()
