"""xmpp/mam.py (pure): a query's form and page as parsed, what is archived, and stanza-ids given and stripped."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.im.archive import MAX_PAGE, Archived
from polyport.xmpp import mam
from polyport.xmpp.jid import Jid

FORM = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value>"
        "</field>{fields}</x>")


def query(inner: str = "", queryid: str = "q") -> mam.Query:
    return mam.parse_query(ET.fromstring(f"<query xmlns='urn:xmpp:mam:2' queryid='{queryid}'>{inner}</query>"))


def field(name: str, value: str) -> str:
    return f"<field var='{name}'><value>{value}</value></field>"


def test_forms_and_pages() -> None:
    assert query() == mam.Query("q")
    parsed = query(FORM.format(fields=field("with", "Juliet@Example.com/balcony")
                               + field("start", "2026-01-01T00:00:00Z") + field("end", "2026-01-01T01:00:00+01:00"))
                   + "<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>abc</after></set>")
    assert parsed.with_jid == "juliet@example.com" and parsed.limit == 10 and parsed.after == "abc"
    assert parsed.start == parsed.end == 1_767_225_600_000
    assert query("<set xmlns='http://jabber.org/protocol/rsm'><before/></set>").last_page
    assert query("<set xmlns='http://jabber.org/protocol/rsm'><before>xyz</before></set>").before == "xyz"
    assert query(FORM.format(fields=field("before-id", "b1"))).before == "b1"
    assert query("<set xmlns='http://jabber.org/protocol/rsm'><max>100000</max></set>").limit == MAX_PAGE
    for bad in (FORM.format(fields=field("start", "yesterday")),
                FORM.format(fields=field("start", "2026-01-01T00:00:00")),
                FORM.format(fields=field("colour", "red")), FORM.format(fields=field("with", "@@")),
                "<set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set>",
                "<set xmlns='http://jabber.org/protocol/rsm'><after>a</after><before>b</before></set>",
                "<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>other</value></field></x>"):
        with pytest.raises(mam.QueryError):
            query(bad)


def test_results_fin_and_what_is_archived() -> None:
    item = Archived("id1", "romeo@example.com", 1_767_225_600_123,
                    "<message xmlns='jabber:client' type='chat'><body>hi</body></message>")
    result = mam.result(item, "q", Jid.parse("juliet@example.com/balcony"), Jid.parse("juliet@example.com"))
    delay = result.find("{urn:xmpp:mam:2}result/{urn:xmpp:forward:0}forwarded/{urn:xmpp:delay}delay")
    assert delay is not None and delay.get("stamp") == "2026-01-01T00:00:00.123Z"
    assert mam.fin([item], True).get("complete") == "true" and mam.fin([], False).get("complete") is None
    message = ET.fromstring("<message xmlns='jabber:client' type='chat'><body>x</body>"
                            "<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com' id='forged'/>"
                            "<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='kept'/></message>")
    assert mam.archived(message)
    mam.strip_stanza_ids(message, Jid.parse("juliet@example.com"))
    assert [c.get("id") for c in message.iter("{urn:xmpp:sid:0}stanza-id")] == ["kept"]
    for text in ("<message xmlns='jabber:client' type='headline'><body>x</body></message>",
                 "<message xmlns='jabber:client' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/>"
                 "</message>",
                 "<message xmlns='jabber:client'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>"):
        assert not mam.archived(ET.fromstring(text))


values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@given(st.lists(st.tuples(st.sampled_from(["FORM_TYPE", "with", "start", "end", "after-id", "before-id", "x"]),
                          values), max_size=6),
       st.one_of(st.none(), values), st.one_of(st.none(), values), st.one_of(st.none(), values))
def test_any_form_is_parsed_or_refused_with_a_query_error(fields: list[tuple[str, str]], maximum: str | None,
                                                          after: str | None, before: str | None) -> None:
    query_element = ET.Element("{urn:xmpp:mam:2}query")
    form = ET.SubElement(query_element, "{jabber:x:data}x")
    for name, value in fields:
        ET.SubElement(ET.SubElement(form, "{jabber:x:data}field", {"var": name}), "{jabber:x:data}value").text = value
    page = ET.SubElement(query_element, "{http://jabber.org/protocol/rsm}set")
    for name, given_value in (("max", maximum), ("after", after), ("before", before)):
        if given_value is not None:
            ET.SubElement(page, "{http://jabber.org/protocol/rsm}" + name).text = given_value
    try:
        parsed = mam.parse_query(query_element)
    except mam.QueryError:
        return
    assert 0 <= parsed.limit <= MAX_PAGE
    assert not (parsed.after and parsed.before)
