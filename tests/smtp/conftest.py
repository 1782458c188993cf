"""A node serving SMTP, submission, SMTPS and LMTP, shared by a test module; loopback is not trusted
here (trusted networks are 10.0.0.0/8), so the relay and TLS rules apply to the tests' connections."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from polyport.mailstore import Mailstore
from tests.node_thread import ThreadedNode, node_config

PASSWORD = "smtp-pass-1"
MAX_SIZE = 200_000


class SmtpNode:
    def __init__(self, running: ThreadedNode) -> None:
        self.running = running
        ports = {b.service: b.port for b in running.node.bound_listeners()}
        self.port = ports["smtp"]
        self.submission, self.smtps, self.lmtp, self.imap = (
            ports["submission"], ports["smtps"], ports["lmtp"], ports["imap"])
        self.counter = 0

    def call(self, coro: Any) -> Any:
        return self.running.call(coro)

    def account(self, name: str | None = None, password: str = PASSWORD, **settings: str) -> str:
        self.counter += 1
        address = f"{name or 'user'}{self.counter}@example.com"
        self.call(self.running.runtime.directory.create_account(address, password=password,
                                                                settings=settings or None))
        return address

    @property
    def mailstore(self) -> Mailstore:
        return self.running.runtime.mailstore

    def inbox(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        """The messages in a mailbox of `address`, oldest first ([] when it has none yet)."""

        async def read() -> list[bytes]:
            account = await self.running.runtime.directory.account(address)
            boxes = {m.name: m for m in await self.mailstore.mailboxes(account.id)}
            if mailbox not in boxes:
                return []
            box = boxes[mailbox]
            blobs = await self.mailstore.blob_ids(box.id, 1, 2**32 - 1)
            return [await self.mailstore.read(blobs[uid]) for uid in sorted(blobs)]

        return list(self.call(read()))


@pytest.fixture(scope="module")
def smtp_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    extra = f'[network]\ntrusted = ["10.0.0.0/8"]\n[mail]\nmax_message_size = {MAX_SIZE}\nmax_recipients = 100\n'
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("smtp-node"), "smtp", 0, extra)).start()
    yield SmtpNode(running)
    running.stop()


def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Client:
    """A raw SMTP connection: write bytes, read whole (multi-line) replies."""

    def __init__(self, port: int, *, implicit_tls: bool = False) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock: socket.socket = client_tls().wrap_socket(sock) if implicit_tls else sock
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self) -> tuple[int, list[str]]:
        """One reply: its code and its lines' texts."""
        lines: list[str] = []
        while True:
            raw = self.file.readline()
            assert raw.endswith(b"\r\n"), f"reply line without CRLF: {raw!r}"
            text = raw[:-2].decode()
            lines.append(text[4:])
            if text[3:4] != "-":
                return int(text[:3]), lines

    def command(self, line: str | bytes) -> tuple[int, list[str]]:
        self.send((line if isinstance(line, bytes) else line.encode()) + b"\r\n")
        return self.reply()

    def code(self, line: str | bytes) -> int:
        return self.command(line)[0]

    def starttls(self) -> None:
        assert self.code("STARTTLS") == 220
        self.sock = client_tls().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()
