"""A mail node for the third-party mail clients (mbsync, neomutt, fetchmail): IMAP and POP3 on free loopback
ports, with and without implicit TLS, accounts made on its loop, and helpers to build test messages and to
look at an account through imaplib (the server's state, as any IMAP client sees it)."""

from __future__ import annotations

import imaplib
import re
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyport.mailstore import Mailstore
from tests.node_thread import ThreadedNode, node_config

PASSWORD = "interop-pass-1"


def need_binary(name: str) -> str:
    """The client's path, or skip: CI installs every client (.ci/run), a developer machine may not."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package: "
                    f"{ {'mbsync': 'isync'}.get(name, name) }); CI installs it")
    return path


class MailNode:
    def __init__(self, running: ThreadedNode, data: Path) -> None:
        self.running = running
        self.cert = data / "tls" / "cert.pem"
        self.counter = 0

    def port(self, service: str) -> int:
        """The bound port of a service (imap, imaps, pop3, pop3s); KeyError when that service is not built."""
        for bound in self.running.node.bound_listeners():
            if bound.service == service and bound.transport == "tcp":
                return bound.port
        raise KeyError(service)

    def account(self, name: str | None = None, password: str = PASSWORD, **settings: str) -> str:
        """A new account on example.com (with these account settings); returns its address."""
        if name is None:
            self.counter += 1
            name = f"interop{self.counter}"
        address = f"{name}@example.com"
        self.running.call(self.running.runtime.directory.create_account(address, password=password,
                                                                         settings=settings))
        return address

    @property
    def mailstore(self) -> Mailstore:
        return self.running.runtime.mailstore

    def seed(self, address: str, mailbox: str, messages: list[bytes], flags: tuple[str, ...] = ()) -> None:
        """Store messages server-side in one transaction (as delivery would), creating the mailbox if needed:
        faster than imaplib's APPENDs, one round trip each (they took 50 ms each until the server acknowledged
        a literal at once: test_imaplib.py's test_append_is_not_held_by_nagle_and_delayed_acks)."""

        async def store() -> None:
            account_id = (await self.running.runtime.directory.account(address)).id
            await self.mailstore.ensure_defaults(account_id)
            if mailbox not in {m.name for m in await self.mailstore.mailboxes(account_id)}:
                await self.mailstore.create(account_id, mailbox)
            await self.mailstore.append_many(account_id, mailbox, [(data, flags, None) for data in messages])

        self.running.call(store())

    def imap(self, address: str, password: str = PASSWORD) -> imaplib.IMAP4_SSL:
        """An imaplib connection over implicit TLS, logged in: the server's state as any IMAP client sees it."""
        # Trust the node's certificate. imaplib checks it against the host it connects to (127.0.0.1) and
        # the certificate names example.com: check the chain here, and leave names to the clients under test.
        context = ssl.create_default_context(cafile=str(self.cert))
        context.check_hostname = False
        client = imaplib.IMAP4_SSL("127.0.0.1", self.port("imaps"), ssl_context=context, timeout=30)
        client.login(address, password)
        return client


@pytest.fixture(scope="module")
def mail_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailNode]:
    data = tmp_path_factory.mktemp("mail-node")
    running = ThreadedNode(node_config(data, "imap", 0)).start()
    yield MailNode(running, data)
    running.stop()


def message(number: int, subject: str | None = None, *, sender: str = "alice@example.org",
            to: str = "bob@example.com", tag: str = "seed", lines: int = 3) -> bytes:
    """A small RFC 5322 message whose Message-ID is <tag-number@interop.test>."""
    subject = subject or f"{tag} message {number}"
    body = "".join(f"Line {i} of {tag} message {number}, with some text to fill it.\r\n" for i in range(lines))
    return (f"From: Alice <{sender}>\r\n"
            f"To: {to}\r\n"
            f"Subject: {subject}\r\n"
            f"Date: Mon, 3 Mar 2025 10:{number % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{tag}-{number}@interop.test>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n"
            f"\r\n{body}").encode()


MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def message_id(data: bytes) -> str:
    """The Message-ID of a message or its header, whether its lines end in CRLF (IMAP) or LF (Maildir)."""
    found = MESSAGE_ID.search(data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0])
    assert found, f"no Message-ID in {data[:200]!r}"
    return found.group(1).decode()


FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


def server_state(client: imaplib.IMAP4, mailbox: str) -> dict[str, set[str]]:
    """Message-ID -> flags of every message in a mailbox (without \\Recent), read through IMAP."""
    typ, detail = client.select(_quote(mailbox), readonly=True)
    assert typ == "OK", detail
    typ, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK", data
    state: dict[str, set[str]] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, header = item
        found = FETCH_FLAGS.search(meta)
        assert found, meta
        flags = {f for f in found.group(1).decode().split() if f != "\\Recent"}
        ident = message_id(header)
        assert ident not in state, f"{ident} twice in {mailbox}"
        state[ident] = flags
    client.close()
    return state


def uids(client: imaplib.IMAP4, mailbox: str) -> dict[str, str]:
    """Message-ID -> UID of every message in a mailbox; selects it (read-write)."""
    typ, detail = client.select(_quote(mailbox))
    assert typ == "OK", detail
    typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK", data
    found = {}
    for item in data:
        if isinstance(item, tuple):
            uid = re.search(rb"UID (\d+)", item[0])
            assert uid, item[0]
            found[message_id(item[1])] = uid.group(1).decode()
    return found


def server_mailboxes(client: imaplib.IMAP4, command: str = "LIST") -> set[str]:
    """The names of the account's mailboxes (LIST; or LSUB: the subscribed ones), but for \\Noselect names."""
    typ, data = client.lsub() if command == "LSUB" else client.list()
    assert typ == "OK", data
    names = set()
    for line in data:
        assert isinstance(line, bytes)
        found = re.match(rb'\(([^)]*)\) (?:"."|NIL) (.*)$', line)
        assert found, line
        if b"\\noselect" in found.group(1).lower():
            continue
        name = found.group(2)
        names.add(name[1:-1].decode() if name.startswith(b'"') else name.decode())
    return names


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
