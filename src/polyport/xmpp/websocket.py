"""XMPP over WebSocket (RFC 7395) on the webmail's web ports, for browser clients (Converse.js, Movim...):
`/xmpp-websocket`, subprotocol `xmpp`, and its discovery (XEP-0156: `/.well-known/host-meta` and
`host-meta.json`).

The stream is the same client session as on 5222 (xmpp/session.py, on the kernel's loop): the WebSocket is
made a transport under a `Connection`, and the framing translated both ways. In: `<open/>` becomes the
stream header the session reads, `<close/>` its end, and each other message is passed on as it came (a
stanza declares its own namespace). Out: what the session writes is read back by the stream framer, each
top-level element sent as one message, standalone (RFC 7395 3.3.3: its namespace declared), the header as
`<open/>` and the end as `<close/>`. TLS is the web listener's: STARTTLS is never offered (the connection
counts as TLS where the page was served over HTTPS); plaintext SASL follows the usual rule.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import quoteattr

from aiohttp import WSMsgType, web

from polyport import log
from polyport.net.connection import Connection, ConnectionOwner
from polyport.net.framing import FrameError, FrameTooLarge
from polyport.net.framing.xmlstream import STREAMS_NS, Stanza, StreamClose, StreamOpen, XmlStreamFramer
from polyport.xmpp import wire

FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
PATH = "/xmpp-websocket"
SUBPROTOCOL = "xmpp"
MAX_MESSAGE = 256 * 1024  # the stream's stanza limit, and the WebSocket's message limit
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class FramingError(ValueError):
    """A message that is not an element RFC 7395 allows here."""


def inbound(text: str) -> bytes:
    """A client's message as the stream framer reads it: the stream's header for `<open/>`, its end for
    `<close/>`, anything else as it is."""
    head = text.lstrip()[:200]
    if head.startswith("<open") or head.startswith("<close"):
        element = wire.parse_stanza(text, FRAMING_NS)
        if element is None:
            raise FramingError("not one XML element")
        if element.tag == "{" + FRAMING_NS + "}open":
            attributes = "".join(f" {name}={quoteattr(element.get(key, ''))}"
                                 for name, key in (("to", "to"), ("version", "version"), ("xml:lang", XML_LANG))
                                 if element.get(key) is not None)
            return (f"<stream:stream xmlns='{wire.CLIENT_NS}' xmlns:stream='{STREAMS_NS}'"
                    f"{attributes}>").encode()
        if element.tag == "{" + FRAMING_NS + "}close":
            return b"</stream:stream>"
    return text.encode()


class Outbound:
    """What the session writes, as RFC 7395's messages."""

    def __init__(self) -> None:
        self.framer = XmlStreamFramer(max_size=MAX_MESSAGE * 4)

    def messages(self, data: bytes) -> list[str]:
        if data.startswith(b"<?xml") or data.startswith(b"<stream:stream"):
            self.framer = XmlStreamFramer(max_size=MAX_MESSAGE * 4)  # a new stream (after SASL): a new header
        self.framer.feed(data)
        found: list[str] = []
        while (frame := self.framer.next_frame()) is not None:
            if isinstance(frame, StreamOpen):
                names = {"from": "from", "id": "id", "version": "version", XML_LANG: "xml:lang", "xml:lang": "xml:lang"}
                attributes = "".join(f" {names[name]}={quoteattr(value)}" for name, value in frame.attributes.items()
                                     if name in names)
                found.append(f"<open xmlns='{FRAMING_NS}'{attributes}/>")
            elif isinstance(frame, StreamClose):
                found.append(f"<close xmlns='{FRAMING_NS}'/>")
            elif isinstance(frame, Stanza):
                found.append(standalone(frame.element))
        return found


def standalone(element: ET.Element[str]) -> str:
    """An element as a message of its own: its namespace declared; the streams namespace's (features,
    errors) with the `stream:` prefix clients look for."""
    if element.tag.startswith("{" + STREAMS_NS + "}"):
        name = element.tag.rpartition("}")[2]
        inner = "".join(wire.serialize(child, "").decode() for child in element)
        return f"<stream:{name} xmlns:stream='{STREAMS_NS}'>{inner}</stream:{name}>"
    return wire.serialize(element, "").decode()


class WebSocketTransport(asyncio.Transport):
    """A Connection's transport over a WebSocket: what the session writes goes out as RFC 7395 messages,
    in order, through one writer task; past the high-water mark the Connection is told to pause writing (a
    client that does not read is treated as on TCP: its session stops taking stanzas)."""

    def __init__(self, socket: web.WebSocketResponse, request: web.Request) -> None:
        super().__init__()
        self.socket = socket
        self.request = request
        self.outbound = Outbound()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.queued = 0
        self.high, self.low = 256 * 1024, 64 * 1024
        self.writing_paused = False
        self.closing = False
        self.reading = asyncio.Event()
        self.reading.set()
        self.protocol: Connection | None = None
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            peer = self.request.transport.get_extra_info("peername") if self.request.transport else None
            return peer or (self.request.remote or "", 0)
        if name == "ssl_object":
            return self.request.transport.get_extra_info("ssl_object") if self.request.transport else None
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is not None:
            self.high = high
            self.low = low if low is not None else high // 4

    def new_stream(self) -> None:
        """The session restarts its stream (after SASL): the next header is read as a new stream's."""
        self.outbound = Outbound()

    def get_write_buffer_size(self) -> int:
        return self.queued

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing:
            return
        try:
            messages = self.outbound.messages(bytes(data))
        except (FrameError, FrameTooLarge):
            log.get(service="xmpp").exception("xmpp.websocket_unframeable")
            self.close()
            return
        for message in messages:
            self.queued += len(message)
            self.queue.put_nowait(message)
        if self.queued > self.high and not self.writing_paused and self.protocol is not None:
            self.writing_paused = True
            self.protocol.pause_writing()

    async def _write(self) -> None:
        while (message := await self.queue.get()) is not None:
            self.queued -= len(message)
            try:
                await self.socket.send_str(message)
            except (ConnectionError, RuntimeError):
                break
            if self.writing_paused and self.queued <= self.low and self.protocol is not None:
                self.writing_paused = False
                self.protocol.resume_writing()
        self.closing = True
        self.reading.set()
        with contextlib.suppress(Exception):
            await self.socket.close()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.reading.set()  # the reader stops waiting for room: nothing more is read
            self.queue.put_nowait(None)  # after what is queued

    def abort(self) -> None:
        self.closing = True
        self.reading.set()
        self.writer.cancel()
        asyncio.get_running_loop().create_task(self.socket.close())

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    def is_reading(self) -> bool:
        return self.reading.is_set()


async def serve(request: web.Request) -> web.StreamResponse:
    """One client's stream over a WebSocket (RFC 7395), as a session of the XMPP service on implicit TLS."""
    from polyport.web.app import STOPPING, client_ip, runtime_of
    from polyport.xmpp import XmppHandler

    runtime = runtime_of(request)
    service = runtime.config.service("xmpps")
    if not (service.enabled or runtime.config.service("xmpp").enabled):
        raise web.HTTPNotFound(text="XMPP is not served here.")
    cross_site = _cross_site(request)
    if service.trusted_only and (cross_site or client_ip(request) not in runtime.trusted):
        raise web.HTTPForbidden(text="XMPP is served to the trusted networks only.")
    # No per-message compression: attacker-chosen stanzas compressed with secret ones over TLS leak them
    # (why XEP-0138's stream compression was deprecated).
    socket = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=MAX_MESSAGE, heartbeat=60.0,
                                   compress=False)
    if not socket.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="This is XMPP over WebSocket (RFC 7395): connect with the xmpp subprotocol.")
    await socket.prepare(request)
    handler = XmppHandler(runtime, service)
    conn = Connection(_Owner(runtime, cross_site), idle_timeout=service.idle_timeout)
    transport = WebSocketTransport(socket, request)
    transport.protocol = conn
    conn.connection_made(transport)
    session = handler.session(conn)
    session.ext.over_websocket = True
    session.ext.on_restart = transport.new_stream
    loop = asyncio.get_running_loop()
    task = loop.create_task(session.run())
    task.add_done_callback(lambda _: conn.close())  # the session ended its stream: the socket closes
    stopping = request.app[STOPPING]
    stopper = loop.create_task(_shut_down_at(stopping, conn))  # type: ignore[arg-type]
    client_gone = True
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:  # RFC 7395 3.2: text only
                conn.data_received(b"<>")  # the stream's own not-well-formed error, then its end
                client_gone = False
                break
            if not transport.reading.is_set():  # the Connection's buffer is full: wait for room, or the end
                waiter = loop.create_task(transport.reading.wait())
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
            if task.done() or transport.closing:
                client_gone = False
                break
            try:
                conn.data_received(inbound(message.data))
            except FramingError:
                conn.data_received(b"<>")
                client_gone = False
                break
    finally:
        stopper.cancel()
        if not client_gone:  # the session says its last words (a stream error) before the socket goes
            await asyncio.wait({task}, timeout=5.0)
        conn.connection_lost(None)
        await asyncio.wait({task}, timeout=5.0)
        transport.close()
        await asyncio.wait({transport.writer}, timeout=5.0)
    return socket


async def _shut_down_at(stopping: asyncio.Event, conn: Connection) -> None:
    """The node stops: the session ends as on a TCP listener (its stream error, system-shutdown)."""
    await stopping.wait()
    conn.shut_down()


def _cross_site(request: web.Request) -> bool:
    """Whether a browser opened the socket from another site's page (its Origin names another host): such a
    page gets no trusted network's privileges (plaintext logins), whatever the address it comes from."""
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc.lower() != request.host.lower()


class _Owner(ConnectionOwner):
    def __init__(self, runtime: Any, cross_site: bool) -> None:
        self.runtime = runtime
        self.cross_site = cross_site

    def accepted(self, conn: Connection) -> None:
        conn.trusted = conn.remote_ip in self.runtime.trusted and not self.cross_site

    def released(self, conn: Connection) -> None:
        pass


async def host_meta(request: web.Request) -> web.StreamResponse:
    """XEP-0156: where the WebSocket endpoint is, for clients that start from a domain."""
    url = f"{'wss' if request.secure else 'ws'}://{request.host}{PATH}"
    if request.path.endswith(".json"):
        return web.json_response({"links": [{"rel": "urn:xmpp:alt-connections:websocket", "href": url}]},
                                 headers={"Access-Control-Allow-Origin": "*"})
    body = ("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
            f"  <Link rel='urn:xmpp:alt-connections:websocket' href={quoteattr(url)}/>\n</XRD>\n")
    return web.Response(text=body, content_type="application/xrd+xml", headers={"Access-Control-Allow-Origin": "*"})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, serve)
    app.router.add_get("/.well-known/host-meta", host_meta)
    app.router.add_get("/.well-known/host-meta.json", host_meta)
