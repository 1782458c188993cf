"""XMPP over WebSocket (RFC 7395): the framing translated both ways (pure), and a browser-style client on the
webmail's port (aiohttp's WebSocket client, subprotocol `xmpp`): open, SASL, a new open, bind, a message to
and from a client on 5222, close; discovery through host-meta (XEP-0156)."""

from __future__ import annotations

import asyncio
import base64
from xml.etree import ElementTree as ET

import aiohttp

from polyport.xmpp import websocket
from tests.xmpp.conftest import PASSWORD, XmppNode, bound

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


def test_the_framing_both_ways() -> None:
    header = websocket.inbound(f"<open xmlns='{FRAMING}' to='example.com' version='1.0'/>")
    assert header.startswith(b"<stream:stream xmlns='jabber:client'") and b'to="example.com"' in header
    assert websocket.inbound(f"<close xmlns='{FRAMING}'/>") == b"</stream:stream>"
    stanza = "<message xmlns='jabber:client' to='a@example.com'><body>hi</body></message>"
    assert websocket.inbound(stanza) == stanza.encode()
    out = websocket.Outbound()
    messages = out.messages(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                            b"xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s1' "
                            b"version='1.0' xml:lang='en'>")
    assert messages == [f"<open xmlns='{FRAMING}' from=\"example.com\" id=\"s1\" version=\"1.0\" xml:lang=\"en\"/>"]
    messages = out.messages(b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
                            b"<message to='a@example.com'><body>x</body></message>")
    assert messages == [
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
        "<message xmlns='jabber:client' to='a@example.com'><body>x</body></message>"]
    for message in messages:  # each one standalone XML with its namespaces
        ET.fromstring(message.replace("stream:", "s:").replace("xmlns:stream", "xmlns:s"))
    assert out.messages(b"</stream:stream>") == [f"<close xmlns='{FRAMING}'/>"]


async def test_a_browser_client_over_websocket(xmpp_node: XmppNode) -> None:
    port = next(b.port for b in xmpp_node.running.node.bound_listeners() if b.service == "webuser")
    address = await asyncio.to_thread(xmpp_node.account)
    other, other_address = await asyncio.to_thread(bound, xmpp_node, "desk")
    await asyncio.to_thread(other.send, "<presence/>")
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{port}/.well-known/host-meta.json") as response:
            links = (await response.json())["links"]
            assert links[0]["rel"] == "urn:xmpp:alt-connections:websocket"
            assert links[0]["href"].endswith("/xmpp-websocket")
        async with client.ws_connect(f"http://127.0.0.1:{port}/xmpp-websocket", protocols=("xmpp",)) as ws:
            assert ws.protocol == "xmpp"

            async def receive() -> ET.Element[str]:
                text = await asyncio.wait_for(ws.receive_str(), 10)
                return ET.fromstring(text.replace("stream:", "s:").replace("xmlns:stream", "xmlns:s"))

            await ws.send_str(f"<open xmlns='{FRAMING}' to='example.com' version='1.0'/>")
            assert (await receive()).tag == f"{{{FRAMING}}}open"
            features = await receive()
            mechanisms = [m.text for m in features.iter("{urn:ietf:params:xml:ns:xmpp-sasl}mechanism")]
            assert "PLAIN" in mechanisms  # loopback is trusted
            assert features.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None  # never over WebSocket
            token = base64.b64encode(f"\0{address}\0{PASSWORD}".encode()).decode()
            await ws.send_str(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
            assert (await receive()).tag == "{urn:ietf:params:xml:ns:xmpp-sasl}success"
            await ws.send_str(f"<open xmlns='{FRAMING}' to='example.com' version='1.0'/>")
            assert (await receive()).tag == f"{{{FRAMING}}}open"
            assert (await receive()).find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
            await ws.send_str("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:"
                              "xmpp-bind'><resource>browser</resource></bind></iq>")
            bound_reply = await receive()
            assert bound_reply.get("type") == "result" and bound_reply.tag == "{jabber:client}iq"
            await ws.send_str("<presence xmlns='jabber:client'/>")
            await ws.send_str(f"<message xmlns='jabber:client' to='{other_address}' type='chat' id='w1'>"
                              f"<body>from the browser</body></message>")
            got = await asyncio.to_thread(other.stanza)
            assert got.element.get("from") == f"{address}/browser"
            assert got.element.findtext("{jabber:client}body") == "from the browser"
            await asyncio.to_thread(other.send, f"<message to='{address}/browser' type='chat' id='w2'>"
                                                f"<body>to the browser</body></message>")
            while (answer := await receive()).get("id") != "w2":
                pass
            assert answer.findtext("{jabber:client}body") == "to the browser"
            await ws.send_str(f"<close xmlns='{FRAMING}'/>")
            while (end := await receive()).tag != f"{{{FRAMING}}}close":
                pass
            assert end.tag == f"{{{FRAMING}}}close"
    other.close()


async def test_bad_framing_and_other_sites_pages(xmpp_node: XmppNode) -> None:
    """A binary message is the stream's not-well-formed error, said before the socket closes; a page of
    another site (its Origin) gets no trusted network's privileges: plain ws:// is refused it."""
    port = next(b.port for b in xmpp_node.running.node.bound_listeners() if b.service == "webuser")
    url = f"http://127.0.0.1:{port}/xmpp-websocket"
    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(url, protocols=("xmpp",)) as ws:
            await ws.send_str(f"<open xmlns='{FRAMING}' to='example.com' version='1.0'/>")
            assert "<open" in await ws.receive_str(timeout=5)
            await ws.receive_str(timeout=5)  # the features
            await ws.send_bytes(b"\x00\x01")
            said = [await ws.receive_str(timeout=5), await ws.receive_str(timeout=5)]
            assert "not-well-formed" in said[0] and said[1] == f"<close xmlns='{FRAMING}'/>"
        async with client.ws_connect(url, protocols=("xmpp",)) as ws:  # a message over the stanza limit
            await ws.send_str(f"<open xmlns='{FRAMING}' to='example.com' version='1.0'/>")
            await ws.receive_str(timeout=5)
            await ws.receive_str(timeout=5)
            oversized = "x" * websocket.MAX_MESSAGE
            await ws.send_str(f"<message xmlns='jabber:client'><body>{oversized}</body></message>")
            closed = await ws.receive(timeout=5)
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert closed.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        async with client.ws_connect(url, protocols=("xmpp",), headers={"Origin": "https://elsewhere.example"}) as ws:
            await ws.send_str(f"<open xmlns='{FRAMING}' to='example.com' version='1.0'/>")
            said = [await ws.receive_str(timeout=5) for _ in range(3)]
            assert "<open" in said[0] and "policy-violation" in said[1] and "wss://" in said[1]
            assert said[2] == f"<close xmlns='{FRAMING}'/>"
