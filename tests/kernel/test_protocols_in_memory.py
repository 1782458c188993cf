"""The four command protocols on the kernel, driven in memory (no socket): transcripts of a client's
lines in and the server's lines out, against the services of a real node."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyport import cliapi, imap, pop3, smtp
from polyport.net.listener import StreamHandler
from polyport.net.memory import MemoryClient
from polyport.node import POSTMASTER_PASSWORD_ENV, Node
from tests.node_thread import POSTMASTER_PASSWORD, node_config

PASSWORD = "memory-pass-1"


class InProcess:
    def __init__(self, node: Node) -> None:
        self.node = node
        assert node.runtime is not None
        self.runtime = node.runtime

    def handler(self, module: object, service: str) -> StreamHandler:
        make = module.make_handler  # type: ignore[attr-defined]
        handler: StreamHandler = make(self.runtime, self.node.config.service(service))
        return handler

    async def account(self, name: str) -> str:
        address = f"{name}@example.com"
        await self.runtime.directory.create_account(address, password=PASSWORD)
        return address


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[InProcess]:
    os.environ[POSTMASTER_PASSWORD_ENV] = POSTMASTER_PASSWORD
    try:
        running = Node(node_config(tmp_path, "pop3", 0))
        await running.start()
    finally:
        del os.environ[POSTMASTER_PASSWORD_ENV]
    yield InProcess(running)
    await running.stop(grace=0.5)


async def test_pop3(node: InProcess) -> None:
    address = await node.account("popper")
    client = MemoryClient(node.handler(pop3, "pop3"), trusted=True)
    assert (await client.line()).startswith(b"+OK Polyport POP3")
    assert await client.ask(b"STAT") == b"-ERR STAT is not allowed in the AUTHORIZATION state"
    assert await client.ask(f"USER {address}".encode()) == b"+OK send the password"
    assert (await client.ask(f"PASS {PASSWORD}".encode())).startswith(b"+OK popper@example.com has 0 messages")
    assert await client.ask(b"STAT") == b"+OK 0 0"
    assert await client.ask(b"RETR 1") == b"-ERR no message 1 (the maildrop has 0)"
    assert await client.ask(b"QUIT") == b"+OK Polyport POP3 signing off (0 deleted, 0 left)"
    await client.close()


async def test_pop3_sasl_plain_and_its_framing_errors(node: InProcess) -> None:
    address = await node.account("saslpop")
    client = MemoryClient(node.handler(pop3, "pop3"), trusted=True)
    await client.line()
    assert await client.ask(b"AUTH PLAIN") == b"+ "
    assert await client.ask(b"*") == b"-ERR authentication cancelled"
    assert await client.ask(b"AUTH PLAIN") == b"+ "
    assert await client.ask(b"not base64!") == b"-ERR the response is not base64"
    token = base64.b64encode(f"\0{address}\0{PASSWORD}".encode())
    assert (await client.ask(b"AUTH PLAIN " + token)).startswith(b"+OK saslpop@example.com has 0")
    await client.close()


async def test_smtp_delivers_and_counts_refusals(node: InProcess) -> None:
    address = await node.account("smtper")
    client = MemoryClient(node.handler(smtp, "smtp"))
    assert (await client.line()).startswith(b"220 ")
    assert await client.ask(b"MAIL FROM:<a@example.org>") == b"503 5.5.1 say EHLO (or HELO) first"
    client.send(b"EHLO client.example.org\r\n")
    assert (await client.until(b"250 "))[-1].startswith(b"250 ")
    assert await client.ask(b"MAIL FROM:<a@example.org>") == b"250 2.1.0 sender ok"
    assert await client.ask(f"RCPT TO:<{address}>".encode()) == b"250 2.1.5 recipient ok"
    assert await client.ask(b"RCPT TO:<someone@elsewhere.example>") == (
        b"554 5.7.1 <someone@elsewhere.example>: relay access denied")
    assert (await client.ask(b"DATA")).startswith(b"354 ")
    reply = await client.ask(b"Subject: hi\r\n\r\nHello.\r\n.")
    assert reply.startswith(b"250 2.0.0 ok: queued as"), reply
    assert await client.ask(b"QUIT") == b"221 2.0.0 " + node.runtime.delivery.hostname.encode() + (
        b" closing the connection")
    await client.close()
    account = await node.runtime.directory.account(address)
    inbox = await node.runtime.mailstore.mailbox(account.id, "INBOX")
    assert len((await node.runtime.mailstore.index(inbox.id)).metas) == 1


async def test_imap(node: InProcess) -> None:
    address = await node.account("imapper")
    client = MemoryClient(node.handler(imap, "imap"), trusted=True)
    assert (await client.line()).startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert await client.ask(b"a1 SELECT INBOX") == b"a1 BAD SELECT is not allowed in the not authenticated state"
    client.send(f"a2 LOGIN {address} {PASSWORD}\r\n".encode())
    assert (await client.until(b"a2 "))[-1].startswith(b"a2 OK [CAPABILITY")
    client.send(b"a3 SELECT INBOX\r\n")
    assert (await client.until(b"a3 "))[-1].startswith(b"a3 OK [READ-WRITE]")
    assert await client.ask(b"a4 FETCH 1 FLAGS") == (
        b"a4 BAD message number 1 is beyond the 0 messages of the mailbox")
    client.send(b"a5 LOGOUT\r\n")
    assert await client.until(b"a5 ") == [b"* BYE Polyport IMAP logging out", b"a5 OK LOGOUT completed"]
    await client.close()


async def test_cliapi(node: InProcess) -> None:
    client = MemoryClient(node.handler(cliapi, "cliapi"), trusted=True)
    assert (await client.line()).startswith(b"200 example.com Polyport PWD server")
    assert await client.ask(b"LISTDOMAINS") == b"510 Please log in first"
    assert await client.ask(b"FROBNICATE") == b"500 Unknown command FROBNICATE"
    assert await client.ask(b"USER postmaster@example.com") == b"300 please send the PASS"
    assert await client.ask(f"PASS {POSTMASTER_PASSWORD}".encode()) == b"200 login OK, proceed"
    assert await client.ask(b"LISTDOMAINS") == b"200 data follow"
    assert await client.line() == b"(example.com)"
    assert await client.ask(b"QUIT") == b"200 Polyport PWD connection closed"
    await client.close()
