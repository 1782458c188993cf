"""Dialback's keys and elements without I/O (XEP-0220, XEP-0185): keys bound to both domains and the stream,
what a server writes read back as the same request, and any element giving a request or DialbackError."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.net.framing.xmlstream import Stanza, XmlStreamFramer
from polyport.xmpp import dialback, wire

HEADER = wire.stream_header(domain="one.test", stream_id="s1", content_ns=wire.SERVER_NS)
domains = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){1,3}\Z")


def read(data: bytes) -> ET.Element[str]:
    framer = XmlStreamFramer()
    framer.feed(HEADER + data)
    framer.next_frame()
    frame = framer.next_frame()
    assert isinstance(frame, Stanza)
    return frame.element


def test_a_key_is_bound_to_the_domains_and_the_stream() -> None:
    key = dialback.key(b"secret", "two.test", "one.test", "abc")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == dialback.key(b"secret", "two.test", "one.test", "abc")
    others = {dialback.key(b"secret", "one.test", "two.test", "abc"), dialback.key(b"secret", "two.test", "one.test",
                                                                                  "abd"),
              dialback.key(b"other", "two.test", "one.test", "abc")}
    assert key not in others and len(others) == 3
    assert dialback.valid(b"secret", "two.test", "one.test", "abc", key)
    altered = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert not dialback.valid(b"secret", "two.test", "one.test", "abc", altered)
    assert not dialback.valid(b"secret", "two.test", "one.test", "abc", "é")


@given(domains, domains, st.text(alphabet="0123456789abcdef", min_size=1, max_size=64),
       st.text(alphabet="abcdef0123456789-", min_size=1, max_size=30))
def test_what_a_server_writes_reads_back(sender: str, to: str, key: str, stream_id: str) -> None:
    result = dialback.parse(read(dialback.element("result", sender, to, key=key)))
    assert result == dialback.Request("result", sender, to, "", key, None)
    verify = dialback.parse(read(dialback.element("verify", sender, to, key=key, stream_id=stream_id)))
    assert verify == dialback.Request("verify", sender, to, stream_id, key, None)
    answer = dialback.parse(read(dialback.element("verify", to, sender, stream_id=stream_id, answer="valid")))
    assert answer == dialback.Request("verify", to, sender, stream_id, "", "valid")


@pytest.mark.parametrize(("xml", "condition"), [
    ("<db:result to='one.test'>k</db:result>", "improper-addressing"),
    ("<db:result from='a@two.test' to='one.test'>k</db:result>", "improper-addressing"),
    ("<db:result from='two.test' to='one.test'/>", "bad-format"),
    ("<db:result from='two.test' to='one.test'>" + "k" * 300 + "</db:result>", "bad-format"),
    ("<db:result from='two.test' to='one.test' type='maybe'/>", "bad-format"),
    ("<db:verify from='two.test' to='one.test'>k</db:verify>", "bad-format"),
    ("<db:other from='two.test' to='one.test'>k</db:other>", "unsupported-stanza-type"),
])
def test_unusable_elements_are_refused_with_a_stream_condition(xml: str, condition: str) -> None:
    with pytest.raises(dialback.DialbackError) as caught:
        dialback.parse(read(xml.encode()))
    assert caught.value.condition == condition
    assert condition in wire.STREAM_ERRORS


@given(st.sampled_from(["result", "verify", "other"]),
       st.dictionaries(st.sampled_from(["from", "to", "id", "type"]), st.text(max_size=40)), st.text(max_size=300))
def test_any_element_gives_a_request_or_dialback_error(kind: str, attributes: dict[str, str], text: str) -> None:
    element = ET.Element(dialback.DB + kind, attributes)
    element.text = text
    try:
        request = dialback.parse(element)
    except dialback.DialbackError as err:
        assert err.condition in wire.STREAM_ERRORS
        return
    assert request.kind == kind and request.type in (None, "valid", "invalid", "error")
    assert (request.key != "") == (request.type is None)


def test_server_stanzas_read_as_client_ones() -> None:
    element = read(b"<message from='a@two.test' to='b@one.test'><body>hi</body>"
                   b"<x xmlns='urn:example'><y/></x></message>")
    wire.as_client(element)
    assert [e.tag for e in element.iter()] == ["{jabber:client}message", "{jabber:client}body", "{urn:example}x",
                                               "{urn:example}y"]
