from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from polyport.cliapi import wire
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode


class Cli:
    """A plain client of the CLI/API over a socket, reading reply lines as they come."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self) -> str:
        raw = self.file.readline()
        assert raw.endswith(b"\r\n"), f"reply line without CRLF: {raw!r}"
        return raw[:-2].decode()

    def send(self, text: str | bytes) -> None:
        self.sock.sendall(text if isinstance(text, bytes) else text.encode() + b"\n")

    def ask(self, text: str | bytes) -> str:
        self.send(text)
        return self.line()

    def login(self, user: str = "postmaster", password: str = POSTMASTER_PASSWORD, inline: bool = True) -> Cli:
        assert self.ask(f"USER {user}") == "300 please send the PASS"
        reply = self.ask(f"PASS {password}")
        assert reply.startswith("200 "), reply
        if inline:
            assert self.ask("INLINE") == "200 OK"
        return self

    def data(self, text: str) -> wire.Value:
        """Send a command expecting inline data; returns the parsed value."""
        reply = self.ask(text)
        assert reply.startswith("201 "), reply
        return wire.parse(reply[4:])

    def ok(self, text: str) -> None:
        reply = self.ask(text)
        assert reply == "200 OK", f"{text!r} -> {reply!r}"

    def fails(self, text: str, code: int, contains: str = "") -> str:
        reply = self.ask(text)
        assert reply.startswith(f"{code} "), f"{text!r} -> {reply!r}"
        assert contains.lower() in reply.lower(), f"{text!r} -> {reply!r}"
        return reply

    def starttls(self, context: ssl.SSLContext) -> None:
        assert self.ask("STARTTLS").startswith("200 ")
        self.file.close()
        self.sock = context.wrap_socket(self.sock, server_hostname="example.com")
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


@pytest.fixture(scope="module")
def node(cli_node: ThreadedNode) -> ThreadedNode:
    return cli_node


@pytest.fixture
def port(node: ThreadedNode) -> int:
    return node.config.service("cliapi").ports[0]


@pytest.fixture
def cli(port: int) -> Iterator[Cli]:
    client = Cli(port)
    yield client
    client.close()


@pytest.fixture
def admin(cli: Cli) -> Cli:
    return cli.login()
