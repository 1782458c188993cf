"""A node serving IMAP, shared by a test module, with accounts made on its loop; and a raw client for
transcripts (imaplib hides too much of the wire for some tests)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from polyport.mailstore import Mailstore
from tests.node_thread import ThreadedNode, node_config

PASSWORD = "imap-pass-1"


class ImapNode:
    def __init__(self, running: ThreadedNode) -> None:
        self.running = running
        self.port = next(b.port for b in running.node.bound_listeners() if b.service == "imap")
        self.tls_port = next(b.port for b in running.node.bound_listeners() if b.service == "imaps")
        self.counter = 0

    def account(self, name: str | None = None, password: str = PASSWORD) -> str:
        """A new account on example.com; returns its address."""
        if name is None:
            self.counter += 1
            name = f"user{self.counter}"
        address = f"{name}@example.com"
        self.running.call(self.running.runtime.directory.create_account(address, password=password))
        return address

    @property
    def mailstore(self) -> Mailstore:
        return self.running.runtime.mailstore


@pytest.fixture(scope="module")
def imap_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapNode]:
    # Loopback is trusted by default, so LOGIN works without TLS here (as it does for a trusted network).
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("imap-node"), "imap", 0)).start()
    yield ImapNode(running)
    running.stop()


# The message size limit of `small_node`: a node whose refusals over the limit are cheap to provoke.
SMALL_LIMIT = 100_000


@pytest.fixture(scope="module")
def small_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapNode]:
    """A node taking messages up to SMALL_LIMIT bytes (APPENDLIMIT), so TOOBIG needs no 50 MB literal."""
    config = node_config(tmp_path_factory.mktemp("imap-small"), "imap", 0,
                         f"[mail]\nmax_message_size = {SMALL_LIMIT}\n")
    running = ThreadedNode(config).start()
    yield ImapNode(running)
    running.stop()


class Wire:
    """A raw IMAP connection: send lines, read responses up to the tagged one, literals included."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = tls.wrap_socket(sock, server_hostname="example.com") if tls else sock
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()
        self.counter = 0

    def line(self) -> bytes:
        raw = self.file.readline()
        assert raw.endswith(b"\r\n"), f"line without CRLF: {raw!r}"
        return raw[:-2]

    def response(self) -> bytes:
        """One response line with its literals inlined."""
        line = self.line()
        out = [line]
        while line.endswith(b"}") and b"{" in line:
            size = int(line[line.rindex(b"{") + 1:-1].rstrip(b"+"))
            out.append(b"\r\n" + self.file.read(size))
            line = self.line()
            out.append(line)
        return b"".join(out)

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def command(self, text: str | bytes) -> tuple[list[bytes], bytes]:
        """Send `tag text`; returns the untagged responses and the tagged line."""
        self.counter += 1
        tag = b"t%d" % self.counter
        body = text if isinstance(text, bytes) else text.encode()
        self.send(tag + b" " + body + b"\r\n")
        return self.until(tag)

    def until(self, tag: bytes) -> tuple[list[bytes], bytes]:
        untagged: list[bytes] = []
        while True:
            line = self.response()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1:]
            untagged.append(line)

    def ok(self, text: str | bytes) -> list[bytes]:
        untagged, tagged = self.command(text)
        assert tagged.startswith(b"OK"), f"{text!r} -> {tagged!r} after {untagged!r}"
        return untagged

    def login(self, address: str, password: str = PASSWORD) -> Wire:
        self.ok(f'LOGIN "{address}" "{password}"')
        return self

    def close(self) -> None:
        self.sock.close()
