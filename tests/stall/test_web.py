"""The webmail's costliest pages on a large mailbox in one browser session; a cheap page fetched by
another connection must stay quick."""

from __future__ import annotations

import asyncio
import http.client
import urllib.parse

import pytest

from polyport.directory.errors import UnknownDomain
from tests.node_thread import POSTMASTER_PASSWORD
from tests.stall.conftest import PASSWORD, StallNode, fill
from tests.stall.harness import check, measure

MESSAGES = 50_000  # 50 distinct messages, copied
ACCOUNTS = 5000


class Browser:
    """A keep-alive HTTP/1.1 connection to the webmail, with the session's cookie once logged in."""

    def __init__(self, node: StallNode, address: str | None = None, *, service: str = "webuser",
                 password: str = PASSWORD) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", node.ports[service], timeout=60)
        self.cookie = ""
        if address is not None:
            body = urllib.parse.urlencode({"name": address, "password": password})
            status, _ = self.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
            assert status == 303, status

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.http.request(method, path, body, {**(headers or {}), **({"Cookie": self.cookie} if self.cookie else {})})
        response = self.http.getresponse()
        data = response.read()
        cookies = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or ()]
        if cookies:
            self.cookie = "; ".join(cookies)
        return response.status, data

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def noop(self) -> None:
        """The probe: a cheap page (the login form)."""
        assert self.get("/login")[0] == 200


def message(n: int) -> bytes:
    return (f"From: Sender {n} <s{n}@example.org>\r\nTo: reader@example.com\r\nSubject: Report number {n}\r\n"
            f"Date: Mon, 7 Feb 1994 21:{n % 60:02d}:25 -0800\r\nMessage-ID: <r{n}@example.org>\r\n\r\n"
            + f"Body of report {n}, with some words to look for.\r\n" * 40).encode()


@pytest.fixture(scope="module")
def reader(node: StallNode) -> str:
    address = node.account("reader")
    fill(node, address, [message(n) for n in range(50)], MESSAGES // 50 - 1)
    owner = node.account_id(address)

    async def load_index() -> None:  # its first load is not what these tests measure
        await node.mailstore.index((await node.mailstore.mailbox(owner, "INBOX")).id)

    node.call(load_index())
    return address


@pytest.fixture
def probe(node: StallNode) -> Browser:
    return Browser(node)


@pytest.mark.parametrize("query", [
    {},
    {"sort": "subject", "order": "asc"},
    {"threads": "1"},
    {"q": "report number 49"},
    {"from": "nobody", "subject": "nothing"},
    {"body": "absent words"},
], ids=["list", "sorted-by-subject", "threads", "search", "search-fields", "body-search"])
def test_message_list_of_a_large_mailbox(node: StallNode, reader: str, probe: Browser, query: dict[str, str]) -> None:
    """The message list (its order is computed once per query and cached: each case asks a new one)."""
    browser = Browser(node, reader)
    path = "/mail/list?" + urllib.parse.urlencode({"box": "INBOX", **query})
    stall = measure(probe.noop, lambda: browser.get(path))
    assert stall.value[0] == 200, stall.value
    check(stall)


@pytest.mark.parametrize(("query", "found"), [({}, True), ({"q": "99"}, True), ({"q": "u" * 100}, False)],
                         ids=["first-page", "filter", "filter-matching-nothing"])
def test_webadmin_accounts_of_a_domain_with_many_accounts(node: StallNode, query: dict[str, str],
                                                          found: bool) -> None:
    """WebAdmin's accounts page of a 5,000-account domain: a page at a time through the admin API, the
    filter (a part of the name, as the CLI/API's) looked up by the store; the probe is WebAdmin's own
    login form."""

    async def create() -> None:
        directory = node.runtime.directory
        try:
            await directory.domain("many.example")
        except UnknownDomain:
            await directory.create_domain("many.example")
            for start in range(0, ACCOUNTS, 500):  # side by side: the writer commits them in groups
                await asyncio.gather(*(directory.create_account(f"user{n:05d}@many.example")
                                       for n in range(start, start + 500)))

    node.call(create(), timeout=300)
    admin = Browser(node, "postmaster", service="webadmin", password=POSTMASTER_PASSWORD)
    probe = Browser(node, service="webadmin")
    path = "/accounts?" + urllib.parse.urlencode({"d": "many.example", **query})
    stall = measure(probe.noop, lambda: admin.get(path))
    assert stall.value[0] == 200 and (b"user0" in stall.value[1]) == found, stall.value[0]
    check(stall)
