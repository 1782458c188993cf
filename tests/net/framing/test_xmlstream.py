"""XML streams (XMPP): the header, stanzas as bytes and elements, the close, restarts and refusals."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.net.framing import FrameError, FrameTooLarge, frames
from polyport.net.framing.xmlstream import (
    MAX_TOKEN,
    STREAM_CLOSE,
    STREAM_TAG,
    RestrictedXml,
    Stanza,
    StreamClose,
    StreamOpen,
    TooDeep,
    XmlStreamFramer,
)
from tests.net.framing.support import cut_points, drive, pieces, single_bytes

CLIENT = "{jabber:client}"
HEADER = (b"<?xml version='1.0'?><stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' "
          b"xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
MESSAGE = (b"<message from='juliet@im.example.com/balcony' id='ktx72v49' to='romeo@example.net' type='chat' "
           b"xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>")
LIMIT = 300


def stanzas(framer: XmlStreamFramer) -> list[Any]:
    return list(frames(framer))


def test_header_stanzas_and_close() -> None:
    framer = XmlStreamFramer()
    framer.feed(HEADER + b"\n  " + MESSAGE + b"<presence/>" + b"</stream:stream>")
    opened, message, presence, closed = stanzas(framer)
    assert opened == StreamOpen(STREAM_TAG, {"from": "juliet@im.example.com", "to": "im.example.com",
                                             "version": "1.0", "{http://www.w3.org/XML/1998/namespace}lang": "en"},
                                {"": "jabber:client", "stream": "http://etherx.jabber.org/streams"})
    assert isinstance(message, Stanza) and message.raw == MESSAGE
    assert message.element.tag == CLIENT + "message"
    assert message.element.get("type") == "chat"
    assert message.element.findtext(CLIENT + "body") == "Art thou not Romeo, and a Montague?"
    assert isinstance(presence, Stanza) and presence.raw == b"<presence/>"
    assert presence.element.tag == CLIENT + "presence"
    assert closed is STREAM_CLOSE
    assert framer.buffered == 0


def test_a_stanza_comes_out_when_its_last_byte_arrives() -> None:
    framer = XmlStreamFramer()
    framer.feed(HEADER)
    assert isinstance(framer.next_frame(), StreamOpen)
    for byte in single_bytes(MESSAGE[:-1]):
        framer.feed(byte)
        assert framer.next_frame() is None
    assert framer.buffered == len(MESSAGE) - 1
    framer.feed(MESSAGE[-1:])
    frame = framer.next_frame()
    assert isinstance(frame, Stanza) and frame.raw == MESSAGE
    assert framer.buffered == 0


def test_raw_bytes_are_exact_and_the_element_is_parsed() -> None:
    iq = (b"<iq type='set' id='a&amp;b' note='x > y'><query xmlns='jabber:iq:roster'>"
          b"<item jid='nurse@example.com'><group><![CDATA[<friends>]]> &#233;&lt;</group></item>tail"
          b"</query></iq >")
    framer = XmlStreamFramer()
    framer.feed(HEADER + iq + b"<a\n x='/>'\n/>")
    _, stanza, empty = stanzas(framer)
    assert stanza.raw == iq
    query = stanza.element.find("{jabber:iq:roster}query")
    assert stanza.element.get("id") == "a&b" and stanza.element.get("note") == "x > y"
    assert query is not None and query.findtext("{jabber:iq:roster}item/{jabber:iq:roster}group") == "<friends> é<"
    assert query[0].tail == "tail"
    assert empty.raw == b"<a\n x='/>'\n/>" and empty.element.get("x") == "/>"


def test_whitespace_keepalives_give_nothing_and_are_not_kept() -> None:
    framer = XmlStreamFramer()
    framer.feed(HEADER)
    framer.next_frame()
    for _ in range(2000):  # RFC 6120 4.6, 11.7
        framer.feed(b" ")
        assert framer.next_frame() is None
    assert framer.buffered == 0
    framer.feed(b"\n" + MESSAGE)
    assert isinstance(framer.next_frame(), Stanza)


@pytest.mark.parametrize("xml", [
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]><lolz>&lol2;</lolz>",
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message><!-- hi --></message>",
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><?php echo 1 ?>",
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message>&unknown;</message>",
])
def test_restricted_xml_is_refused(xml: bytes) -> None:
    """RFC 6120 11.1: no DTD, entities, comments or processing instructions (billion laughs included)."""
    framer = XmlStreamFramer()
    framer.feed(xml)
    with pytest.raises(RestrictedXml):
        stanzas(framer)
    assert framer.buffered == 0


@pytest.mark.parametrize("xml", [
    b"<message><body>unclosed</message>",
    b"<message type='a' type='b'/>",
    b"<message><x:y/></message>",  # an undeclared prefix
    b"</stream:stream> <more/>",  # after the close, nothing but white space
    b"<?xml version='1.0'?><message/>",  # an XML declaration inside the stream
])
def test_xml_that_is_not_well_formed_is_fatal(xml: bytes) -> None:
    framer = XmlStreamFramer()
    framer.feed(HEADER + MESSAGE + xml + MESSAGE)
    assert isinstance(framer.next_frame(), StreamOpen)
    assert isinstance(framer.next_frame(), Stanza)
    rest = []
    with pytest.raises(FrameError):
        while True:
            rest.append(framer.next_frame())
    assert all(frame is STREAM_CLOSE for frame in rest)
    assert framer.buffered == 0
    framer.feed(MESSAGE)
    with pytest.raises(FrameError):
        framer.next_frame()


def test_an_oversized_stanza_is_refused_as_it_arrives() -> None:
    framer = XmlStreamFramer(max_size=LIMIT)
    framer.feed(HEADER + MESSAGE + b"<message><body>")
    assert len(stanzas(framer)) == 2
    for _ in range(LIMIT):
        framer.feed(b"x")
        if framer.buffered > LIMIT - 10:
            break
    framer.feed(b"x" * 20)
    with pytest.raises(FrameTooLarge) as err:
        framer.next_frame()
    assert not err.value.resumable and err.value.limit == LIMIT
    assert framer.buffered == 0


def test_an_oversized_stanza_that_arrived_whole_is_refused_after_those_before_it() -> None:
    big = b"<message><body>" + b"x" * LIMIT + b"</body></message>"
    framer = XmlStreamFramer(max_size=LIMIT)
    framer.feed(HEADER + MESSAGE + big + MESSAGE)
    assert isinstance(framer.next_frame(), StreamOpen)
    assert isinstance(framer.next_frame(), Stanza)
    with pytest.raises(FrameTooLarge):
        framer.next_frame()


def test_a_long_start_tag_is_refused_even_under_the_stanza_limit() -> None:
    """Expat rereads an incomplete token on every feed: a tag trickled in stays short or is refused."""
    framer = XmlStreamFramer(max_size=10 * MAX_TOKEN)
    framer.feed(HEADER + b"<message to='")
    stanzas(framer)
    with pytest.raises(FrameTooLarge) as err:
        for _ in range(MAX_TOKEN // 100 + 2):
            framer.feed(b"a" * 100)
            framer.next_frame()
    assert err.value.limit == MAX_TOKEN


def test_long_text_is_fine() -> None:
    body = b"y" * (3 * MAX_TOKEN)
    framer = XmlStreamFramer()
    framer.feed(HEADER + b"<message><body>")
    for at in range(0, len(body), 100):
        framer.feed(body[at:at + 100])
    framer.feed(b"</body></message>")
    _, stanza = stanzas(framer)
    assert stanza.element.findtext(CLIENT + "body") == body.decode()


def test_nesting_is_limited() -> None:
    framer = XmlStreamFramer(max_depth=5)
    framer.feed(HEADER + b"<a><b><c><d></d></c></b></a>")  # depth 5 with the root
    assert len(stanzas(framer)) == 2
    framer.feed(b"<a><b><c><d><e>")
    with pytest.raises(TooDeep) as err:
        framer.next_frame()
    assert err.value.limit == 5


def test_reset_starts_a_new_stream() -> None:
    """After SASL success (RFC 6120 6.4.6) the client sends a new header, XML declaration and all."""
    framer = XmlStreamFramer()
    framer.feed(HEADER + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                + b"AGp1bGlldAByMG0zMA==</auth>")
    _, auth = stanzas(framer)
    assert auth.element.tag == "{urn:ietf:params:xml:ns:xmpp-sasl}auth"
    assert framer.reset() == 0
    framer.feed(HEADER + MESSAGE)
    opened, message = stanzas(framer)
    assert isinstance(opened, StreamOpen) and message.raw == MESSAGE


def test_reset_drops_what_was_not_returned() -> None:
    framer = XmlStreamFramer()
    framer.feed(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert len(stanzas(framer)) == 2
    framer.feed(MESSAGE + b"<mess")  # sent before the handshake: must not count after it
    assert framer.reset() == len(MESSAGE) + 5
    framer.feed(HEADER)
    assert isinstance(framer.next_frame(), StreamOpen)
    assert framer.next_frame() is None


def test_a_new_header_without_a_reset_is_fatal() -> None:
    framer = XmlStreamFramer()
    framer.feed(HEADER + HEADER[21:])
    assert isinstance(framer.next_frame(), StreamOpen)
    with pytest.raises(FrameError, match="reset"):
        framer.next_frame()


def test_other_roots_are_reported_for_the_session_to_refuse() -> None:
    framer = XmlStreamFramer()
    framer.feed(b"<html><body/></html>")
    opened, body, closed = stanzas(framer)
    assert opened == StreamOpen("html", {}, {}) and body.raw == b"<body/>" and closed is STREAM_CLOSE
    framer = XmlStreamFramer()
    framer.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'/>")
    opened, closed = stanzas(framer)
    assert opened.tag == STREAM_TAG and closed is STREAM_CLOSE


def test_the_end_of_the_input() -> None:
    for tail, fails in ((b"", False), (b"  ", False), (b"<mess", True), (b"<message><body>", True),
                        (b"</stream:stream>\n", False)):
        framer = XmlStreamFramer()
        framer.feed(HEADER + MESSAGE + tail)
        framer.eof()
        taken = [framer.next_frame(), framer.next_frame()]
        assert all(taken)
        if fails:
            with pytest.raises(FrameError):
                framer.next_frame()
        else:
            assert framer.next_frame() in (None, STREAM_CLOSE)
            assert framer.next_frame() is None


# -- properties --

text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from("\n\t"), max_size=12)
attribute_value = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=10)
names = st.sampled_from(["body", "x", "query", "item", "thread", "b"])
Shape = tuple[str, tuple[tuple[str, str], ...], str, str, tuple[Any, ...]]


def escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(value: str, quote: str) -> str:
    # ">" stays as it is: it may, in attribute values, and the framer must not take it for a tag's end.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(quote, "&quot;" if quote == '"' else "&apos;")


@st.composite
def elements(draw: st.DrawFn, depth: int = 0, namespace: str = "jabber:client") -> tuple[str, Shape]:
    """The test's writer: an element as XML, and the shape the parsed element must have."""
    name = draw(names) if depth else draw(st.sampled_from(["message", "presence", "iq"]))
    declared = draw(st.sampled_from([None, None, "urn:example:x"]))
    namespace = declared or namespace
    attributes = draw(st.dictionaries(st.sampled_from(["id", "to", "type", "from"]), attribute_value, max_size=3))
    quote = draw(st.sampled_from(["'", '"']))
    start = "<" + name + (f" xmlns='{declared}'" if declared else "") + "".join(
        f" {key}={quote}{escape_attribute(value, quote)}{quote}" for key, value in attributes.items())
    children = draw(st.lists(elements(depth + 1, namespace), max_size=0 if depth >= 3 else 3))
    inner = draw(text)
    tails = [draw(text) for _ in children]
    body = escape_text(inner) + "".join(xml + escape_text(tail) for (xml, _), tail in zip(children, tails, strict=True))
    empty = not body and draw(st.booleans())
    xml = start + "/>" if empty else start + ">" + body + f"</{name}>"
    child_shapes = tuple((*shape[:3], tail, shape[4]) for (_, shape), tail in zip(children, tails, strict=True))
    shape: Shape = (f"{{{namespace}}}{name}", tuple(sorted(attributes.items())), inner, "", child_shapes)
    return xml, shape


def shape_of(element: ET.Element[str]) -> Shape:
    return (element.tag, tuple(sorted(element.attrib.items())), element.text or "", element.tail or "",
            tuple(shape_of(child) for child in element))


def normalise(frame: Any) -> Any:
    if isinstance(frame, Stanza):
        return frame.raw, shape_of(frame.element)
    if isinstance(frame, StreamOpen):
        return "open", frame.tag, frame.attributes, frame.namespaces
    assert isinstance(frame, StreamClose)
    return "close"


@given(st.lists(st.tuples(elements(), st.sampled_from(["", "", " ", "\n", "\r\n  \t"])), max_size=6),
       st.booleans(), st.booleans(), cut_points)
@settings(max_examples=75, deadline=None)
def test_any_split_gives_the_same_frames(stream: list[tuple[tuple[str, Shape], str]], declaration: bool,
                                         closed: bool, cuts: list[int]) -> None:
    data = (HEADER if declaration else HEADER[21:]) + "".join(
        space + xml for (xml, _), space in stream).encode() + (b"</stream:stream>" if closed else b"")
    expected: list[Any] = [normalise(StreamOpen(STREAM_TAG, {
        "from": "juliet@im.example.com", "to": "im.example.com", "version": "1.0",
        "{http://www.w3.org/XML/1998/namespace}lang": "en"},
        {"": "jabber:client", "stream": "http://etherx.jabber.org/streams"}))]
    for (xml, shape), _ in stream:
        raw = xml.encode()
        if len(raw) > LIMIT:
            expected.append(("error", "FrameTooLarge", False))
            break
        expected.append((raw, shape))
    else:
        if closed:
            expected.append("close")

    def run(chunks: list[bytes]) -> list[Any]:
        return drive(XmlStreamFramer(max_size=LIMIT), chunks, eof=False, normalise=normalise)

    whole = run([data])
    assert whole == expected  # the round trip through the test's writer
    assert run(pieces(data, cuts)) == whole
    assert run(single_bytes(data)) == whole


xmlish = st.lists(st.sampled_from([*"<>/='\"&;#x!-?[]abc :\n", "é", "<a>", "</a>", "<![CDATA[", "]]>", "&amp;",
                                    "xmlns:p='u'", "<p:a/>"]), max_size=30).map(lambda parts: "".join(parts).encode())


@given(st.lists(st.one_of(xmlish, st.binary(max_size=20)), max_size=20), st.booleans())
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_framed_safely(chunks: list[bytes], with_header: bool) -> None:
    framer = XmlStreamFramer(max_size=LIMIT, max_depth=8)

    def bounded() -> None:
        assert framer.buffered <= LIMIT

    drive(framer, ([HEADER] if with_header else []) + chunks, after_feed=bounded)
