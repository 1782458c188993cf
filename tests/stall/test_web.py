"""The webmail's costliest pages on a large mailbox in one browser session; a cheap page fetched by
another connection must stay quick."""

from __future__ import annotations

import http.client
import urllib.parse

import pytest

from tests.stall.conftest import PASSWORD, StallNode, fill
from tests.stall.harness import check, measure

MESSAGES = 50_000  # 50 distinct messages, copied


class Browser:
    """A keep-alive HTTP/1.1 connection to the webmail, with the session's cookie once logged in."""

    def __init__(self, node: StallNode, address: str | None = None) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", node.ports["webuser"], timeout=60)
        self.cookie = ""
        if address is not None:
            body = urllib.parse.urlencode({"name": address, "password": PASSWORD})
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
