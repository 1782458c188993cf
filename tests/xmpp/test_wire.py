"""What the server writes: stanzas serialized without invented prefixes read back as the same elements
through the stream framer, the stream header, features, and stream and stanza errors."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.net.framing.xmlstream import STREAM_TAG, Stanza, StreamClose, StreamOpen, XmlStreamFramer
from polyport.xmpp import wire

C = "{jabber:client}"
HEADER = wire.stream_header(domain="example.com", stream_id="s1")


def read(data: bytes) -> list[object]:
    framer = XmlStreamFramer()
    framer.feed(data)
    out: list[object] = []
    while (frame := framer.next_frame()) is not None:
        out.append(frame)
    return out


def same(a: ET.Element[str], b: ET.Element[str]) -> bool:
    return (a.tag == b.tag and a.attrib == b.attrib and (a.text or "") == (b.text or "")
            and (a.tail or "") == (b.tail or "") and len(a) == len(b) and all(map(same, a, b)))


def test_a_stanza_is_written_with_default_namespaces_only() -> None:
    message = ET.Element(C + "message", {"to": "romeo@example.net", "type": "chat"})
    ET.SubElement(message, C + "body").text = "Art thou <not> Romeo & a 'Montague'?"
    ET.SubElement(message, "{urn:xmpp:receipts}request")
    written = wire.serialize(message)
    assert written == (b"<message to='romeo@example.net' type='chat'><body>Art thou &lt;not&gt; Romeo &amp; a "
                       b"'Montague'?</body><request xmlns='urn:xmpp:receipts'/></message>")
    opened, stanza = read(HEADER + written)
    assert isinstance(opened, StreamOpen) and opened.tag == STREAM_TAG
    assert isinstance(stanza, Stanza) and same(stanza.element, message)


NAMESPACES = st.sampled_from(["jabber:client", "urn:xmpp:receipts", "jabber:iq:roster", "urn:xmpp:mam:2"])
NAMES = st.sampled_from(["message", "body", "item", "query", "x", "error"])
# Text that XML 1.0 can carry: no other control characters, no surrogates, no U+FFFE/FFFF.
XML_TEXT = st.text(st.characters(codec="utf-8", blacklist_characters="\ufffe\uffff")
                   .filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20), max_size=20)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> ET.Element[str]:
    element = ET.Element("{" + draw(NAMESPACES) + "}" + draw(NAMES),
                         draw(st.dictionaries(st.sampled_from(["id", "to", "type", "node", "{urn:x:attr}mark",
                                                               "{urn:y:attr}mark"]), XML_TEXT, max_size=3)))
    element.text = draw(XML_TEXT) or None
    if depth < 3:
        for child in draw(st.lists(elements(depth + 1), max_size=3)):
            child.tail = draw(XML_TEXT) or None
            element.append(child)
    return element


@given(elements())
def test_any_element_reads_back_the_same(element: ET.Element[str]) -> None:
    element.tail = None
    frames = read(HEADER + wire.serialize(element))
    assert isinstance(frames[1], Stanza) and same(frames[1].element, element)


def test_the_header_and_features() -> None:
    starttls = ET.Element("{" + wire.TLS_NS + "}starttls")
    ET.SubElement(starttls, "{" + wire.TLS_NS + "}required")
    frames = read(HEADER + wire.features(starttls))
    opened, features = frames
    assert isinstance(opened, StreamOpen) and opened.attributes["id"] == "s1"
    assert opened.attributes["from"] == "example.com" and opened.attributes["version"] == "1.0"
    assert opened.namespaces == {"": "jabber:client", "stream": "http://etherx.jabber.org/streams"}
    assert isinstance(features, Stanza) and features.element.tag == "{http://etherx.jabber.org/streams}features"
    assert features.element[0].tag == "{urn:ietf:params:xml:ns:xmpp-tls}starttls"


def test_a_stream_error_ends_the_stream() -> None:
    frames = read(HEADER + wire.stream_error("not-well-formed", "a < b"))
    error = frames[1]
    assert isinstance(error, Stanza) and error.element.tag == "{http://etherx.jabber.org/streams}error"
    assert [child.tag for child in error.element] == ["{urn:ietf:params:xml:ns:xmpp-streams}not-well-formed",
                                                       "{urn:ietf:params:xml:ns:xmpp-streams}text"]
    assert error.element[1].text == "a < b" and isinstance(frames[2], StreamClose)
    with pytest.raises(ValueError, match="not a stream error"):
        wire.stream_error("no-such-condition")


def test_a_stanza_error_answers_the_stanza() -> None:
    iq = ET.Element(C + "iq", {"id": "q1", "type": "get", "from": "juliet@example.com/balcony",
                               "to": "example.com"})
    ET.SubElement(iq, "{urn:example:unknown}query")
    reply = wire.stanza_error(iq, "service-unavailable")
    assert reply.attrib == {"id": "q1", "to": "juliet@example.com/balcony", "from": "example.com", "type": "error"}
    written = wire.serialize(reply)
    assert written == (b"<iq id='q1' to='juliet@example.com/balcony' from='example.com' type='error'>"
                       b"<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                       b"</error></iq>")
    assert wire.stanza_error(iq, "not-acceptable", "too long").find(C + "error").get("type") == "modify"  # type: ignore[union-attr]


def test_a_serialized_stanza_parses_back_and_nothing_else_does() -> None:
    presence = ET.Element(C + "presence", {"from": "juliet@example.com/balcony"})
    ET.SubElement(presence, C + "show").text = "away"
    parsed = wire.parse_stanza(wire.serialize(presence).decode())
    assert parsed is not None and same(parsed, presence)
    assert wire.parse_stanza("<!DOCTYPE x [<!ENTITY a 'b'>]><presence>&a;</presence>") is None
    assert wire.parse_stanza("<presence>") is None
