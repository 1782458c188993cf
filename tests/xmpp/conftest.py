"""Nodes serving XMPP for a test module: one where loopback is trusted (the default) and one where it is
not."""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyport.net.framing.xmlstream import Stanza, StreamOpen, XmlFrame, XmlStreamFramer
from tests.node_thread import ThreadedNode, node_config

PASSWORD = "xmpp-pass-1"
OPEN = ("<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")


class XmppNode:
    def __init__(self, running: ThreadedNode) -> None:
        self.running = running
        ports = {b.service: b.port for b in running.node.bound_listeners()}
        self.port, self.tls_port = ports["xmpp"], ports["xmpps"]
        self.counter = 0

    def account(self, password: str = PASSWORD) -> str:
        self.counter += 1
        address = f"talker{self.counter}@example.com"
        self.running.call(self.running.runtime.directory.create_account(address, password=password))
        return address

    @property
    def cert(self) -> str:
        return str(Path(self.running.config.node.data) / "tls" / "cert.pem")


def start_node(tmp_path_factory: pytest.TempPathFactory, extra: str = "") -> XmppNode:
    """A node serving XMPP on both client ports, its other services too."""
    config = node_config(tmp_path_factory.mktemp("xmpp-node"), "xmpp", 0, extra)
    return XmppNode(ThreadedNode(config).start())


@pytest.fixture(scope="module")
def xmpp_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppNode]:
    node = start_node(tmp_path_factory)
    yield node
    node.running.stop()


@pytest.fixture(scope="module")
def untrusted_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppNode]:
    node = start_node(tmp_path_factory, '[network]\ntrusted = ["10.9.9.0/24"]\n')
    yield node
    node.running.stop()


class Stream:
    """A raw client stream: what it sends is written as given, what comes back is read as frames."""

    def __init__(self, port: int) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.framer = XmlStreamFramer()

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def frame(self) -> XmlFrame:
        while (frame := self.framer.next_frame()) is None:
            data = self.sock.recv(65536)
            if not data:
                self.framer.eof()
                continue
            self.framer.feed(data)
        return frame

    def open(self, domain: str = "example.com") -> tuple[StreamOpen, Stanza]:
        self.send(OPEN.format(domain=domain))
        header, features = self.frame(), self.frame()
        assert isinstance(header, StreamOpen) and isinstance(features, Stanza), (header, features)
        return header, features

    def stanza(self) -> Stanza:
        frame = self.frame()
        assert isinstance(frame, Stanza), frame
        return frame

    def restart(self) -> None:
        self.framer.reset()

    def starttls(self, cafile: str) -> None:
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert self.stanza().element.tag == "{urn:ietf:params:xml:ns:xmpp-tls}proceed"
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False
        self.sock = context.wrap_socket(self.sock)
        self.restart()

    def close(self) -> None:
        self.sock.close()


SASL = "{urn:ietf:params:xml:ns:xmpp-sasl}"


def plain_login(stream: Stream, address: str, password: str = PASSWORD) -> None:
    token = base64.b64encode(f"\0{address}\0{password}".encode()).decode()
    stream.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")


def bound(node: XmppNode, resource: str = "desk", address: str | None = None) -> tuple[Stream, str]:
    """A stream logged in (PLAIN) and bound to `resource`, of a new account unless `address` names one."""
    address = address or node.account()
    stream = Stream(node.port)
    stream.open()
    plain_login(stream, address)
    assert stream.stanza().element.tag == SASL + "success"
    stream.restart()
    _, features = stream.open()
    assert [child.tag for child in features.element] == ["{urn:ietf:params:xml:ns:xmpp-bind}bind",
                                                         "{urn:ietf:params:xml:ns:xmpp-session}session",
                                                         "{urn:xmpp:features:rosterver}ver",
                                                         "{urn:xmpp:csi:0}csi", "{urn:xmpp:sm:3}sm",
                                                         "{http://jabber.org/protocol/caps}c"]
    stream.send(f"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}"
                f"</resource></bind></iq>")
    reply = stream.stanza().element
    assert reply.get("type") == "result" and reply.get("id") == "b1"
    assert reply.findtext("{urn:ietf:params:xml:ns:xmpp-bind}bind/{urn:ietf:params:xml:ns:xmpp-bind}jid") == \
        f"{address}/{resource}"
    return stream, address
