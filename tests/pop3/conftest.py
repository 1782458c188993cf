"""A node serving POP3 (and IMAP, to watch the same INBOX), shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from polyport.mailstore import Mailstore
from tests.node_thread import ThreadedNode, node_config

PASSWORD = "pop-pass-1"


class Pop3Node:
    def __init__(self, running: ThreadedNode) -> None:
        self.running = running
        ports = {b.service: b.port for b in running.node.bound_listeners()}
        self.port, self.tls_port, self.imap_port = ports["pop3"], ports["pop3s"], ports["imap"]
        self.counter = 0

    def account(self, password: str = PASSWORD, **settings: str) -> str:
        self.counter += 1
        address = f"popper{self.counter}@example.com"
        self.running.call(self.running.runtime.directory.create_account(address, password=password,
                                                                        settings=settings or None))
        return address

    def deliver(self, address: str, *messages: bytes, flags: tuple[str, ...] = ()) -> None:
        async def put() -> None:
            account = await self.running.runtime.directory.account(address)
            await self.mailstore.ensure_defaults(account.id)
            for message in messages:
                await self.mailstore.append(account.id, "INBOX", message, flags)

        self.running.call(put())

    @property
    def mailstore(self) -> Mailstore:
        return self.running.runtime.mailstore

    @property
    def cert(self) -> str:
        return str(Path(self.running.config.node.data) / "tls" / "cert.pem")


@pytest.fixture(scope="module")
def pop3_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pop3Node]:
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("pop3-node"), "pop3", 0)).start()
    yield Pop3Node(running)
    running.stop()
