"""The CLI/API's heaviest listings with hostile arguments on one connection; NOOP on another must stay
quick."""

from __future__ import annotations

import asyncio

import pytest

from tests.node_thread import POSTMASTER_PASSWORD
from tests.stall.conftest import StallNode
from tests.stall.harness import LineClient, check, measure

ACCOUNTS = 5000
MAILBOXES = 1000


class Cli(LineClient):
    def __init__(self, node: StallNode) -> None:
        super().__init__(node.ports["cliapi"])
        assert self.line().startswith(b"200")
        assert self.ask(b"USER postmaster").startswith(b"300")
        assert self.ask(f"PASS {POSTMASTER_PASSWORD}".encode()).startswith(b"200")
        assert self.ask(b"INLINE").startswith(b"200")

    def ask(self, line: bytes) -> bytes:
        self.send(line + b"\n")
        return self.line()

    def noop(self) -> None:
        assert self.ask(b"NOOP").startswith(b"200")


@pytest.fixture
def probe(node: StallNode) -> Cli:
    return Cli(node)


def test_listaccounts_of_a_domain_with_many_accounts(node: StallNode, probe: Cli) -> None:
    async def create() -> None:
        directory = node.runtime.directory
        await directory.create_domain("many.example")
        for start in range(0, ACCOUNTS, 500):  # written side by side: the writer commits them in groups
            await asyncio.gather(*(directory.create_account(f"user{n:05d}@many.example")
                                   for n in range(start, start + 500)))

    node.call(create(), timeout=300)
    client = Cli(node)
    stall = measure(probe.noop, lambda: client.ask(b"LISTACCOUNTS many.example"))
    assert stall.value.startswith(b"201 "), stall.value[:100]
    assert stall.value.count(b"=") >= ACCOUNTS
    check(stall)


@pytest.mark.parametrize("pattern", ["*a" * 12 + "*b", "%a" * 10 + "*b", "*"], ids=["stars", "percents", "all"])
def test_listmailboxes_with_a_filter(node: StallNode, probe: Cli, pattern: str) -> None:
    """An account with a thousand mailboxes with long names, listed through patterns that a regular
    expression would try in every combination."""
    address = node.account()

    async def create() -> None:
        owner = (await node.runtime.directory.account(address)).id
        for start in range(0, MAILBOXES, 100):
            await asyncio.gather(*(node.mailstore.create(owner, f"{'a' * 200}/{'a' * 150}{n:04d}")
                                   for n in range(start, start + 100)))

    node.call(create(), timeout=300)
    client = Cli(node)
    stall = measure(probe.noop, lambda: client.ask(f'LISTMAILBOXES {address} FILTER "{pattern}"'.encode()))
    assert stall.value.startswith(b"201 "), stall.value[:100]
    check(stall)
