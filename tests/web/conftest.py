"""A node with every web service, shared by a test module. Loopback is a trusted network here (plain-HTTP
logins allowed, /metrics served); tests of the untrusted side change `runtime.trusted` for a moment."""

from __future__ import annotations

import re
import ssl
import urllib.parse
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode, node_config

PASSWORD = "web-pass-1"


class WebNode:
    def __init__(self, running: ThreadedNode) -> None:
        self.running = running
        self.ports = {b.service: b.port for b in running.node.bound_listeners()}
        self.base = f"http://127.0.0.1:{self.ports['webuser']}"
        self.tls_base = f"https://127.0.0.1:{self.ports['webusers']}"
        self.admin = f"http://127.0.0.1:{self.ports['webadmin']}"
        self.counter = 0

    def call(self, coro: Any) -> Any:
        return self.running.call(coro)

    @property
    def runtime(self) -> Any:
        return self.running.runtime

    def account(self, name: str = "user", password: str = PASSWORD, domain: str = "example.com",
                **settings: Any) -> str:
        self.counter += 1
        address = f"{name}{self.counter}@{domain}"
        self.call(self.runtime.directory.create_account(address, password=password, settings=settings or None))
        return address

    def append(self, address: str, data: bytes, mailbox: str = "INBOX", flags: tuple[str, ...] = ()) -> int:
        async def run() -> int:
            account = await self.runtime.directory.account(address)
            await self.runtime.mailstore.ensure_defaults(account.id)
            appended = await self.runtime.mailstore.append(account.id, mailbox, data, list(flags))
            return int(appended.uid)

        return int(self.call(run()))

    def messages(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        async def run() -> list[bytes]:
            account = await self.runtime.directory.account(address)
            boxes = {m.name: m for m in await self.runtime.mailstore.mailboxes(account.id)}
            if mailbox not in boxes:
                return []
            blobs = await self.runtime.mailstore.blob_ids(boxes[mailbox].id, 1, 2**32 - 1)
            return [await self.runtime.mailstore.read(blobs[uid]) for uid in sorted(blobs)]

        return list(self.call(run()))

    async def login(self, address: str, password: str = PASSWORD, *, base: str | None = None) -> aiohttp.ClientSession:
        """A browser-like client (cookies kept) logged in to the webmail, or WebAdmin with base=node.admin."""
        client = browser(base or self.base)
        async with client.post("/login", data={"name": address, "password": password},
                               allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        return client


def browser(base: str) -> aiohttp.ClientSession:
    """aiohttp's client with a cookie jar that accepts cookies from IP addresses, and no TLS checks."""
    return aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 connector=aiohttp.TCPConnector(ssl=False))


def message(subject: str = "Hello", body: str = "Hi there", sender: str = "Bob <bob@example.org>",
            to: str = "someone@example.com", html: str | None = None, date: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash((subject, body)))}@example.org>"
    if date:
        msg["Date"] = date
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return bytes(msg).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def query(**values: Any) -> str:
    return urllib.parse.urlencode(values)


@pytest.fixture(scope="module")
def web_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebNode]:
    # Every port any free one (0), found in bound_listeners: parallel nodes never race for one.
    extra = ('[network]\ntrusted = ["127.0.0.0/8"]\n[web]\nhostname = "mail.example.com"\n')
    config = node_config(tmp_path_factory.mktemp("web-node"), "webuser", 0, extra)
    running = ThreadedNode(config).start()
    yield WebNode(running)
    running.stop()


__all__ = ["PASSWORD", "POSTMASTER_PASSWORD", "WebNode", "browser", "csrf_of", "message", "query", "ssl"]
