"""POP3's costliest commands with hostile arguments on one connection; NOOP on another must stay quick."""

from __future__ import annotations

import pytest

from tests.stall.conftest import MAX_SIZE, PASSWORD, StallNode, big_message
from tests.stall.harness import LineClient, check, measure


class Pop3(LineClient):
    def __init__(self, node: StallNode, address: str) -> None:
        super().__init__(node.ports["pop3"])
        assert self.line().startswith(b"+OK")
        assert self.ask(f"USER {address}".encode()).startswith(b"+OK")
        reply = self.ask(f"PASS {PASSWORD}".encode())
        assert reply.startswith(b"+OK"), reply

    def noop(self) -> None:
        assert self.ask(b"NOOP").startswith(b"+OK")

    def multiline(self, command: bytes) -> bytes:
        """A command answered in lines ending with ".": the whole answer."""
        first = self.ask(command)
        assert first.startswith(b"+OK"), first
        return self.until(b"\r\n.\r\n")


@pytest.fixture
def probe(node: StallNode) -> Pop3:
    return Pop3(node, node.account("prober"))


def test_retr_of_a_message_at_the_size_limit(node: StallNode, probe: Pop3) -> None:
    """RETR of a message as large as the server accepts, with lines starting with "." to stuff."""
    address = node.account()
    node.deliver(address, big_message(MAX_SIZE - 4096, line=b".lorem ipsum dolor sit amet " * 2))
    client = Pop3(node, address)
    stall = measure(probe.noop, lambda: client.multiline(b"RETR 1"))
    assert len(stall.value) > MAX_SIZE - 8192
    check(stall)


def test_retr_of_a_plain_message_at_the_size_limit(node: StallNode, probe: Pop3) -> None:
    """RETR of a message as large as the server accepts, with nothing to stuff: the fast path."""
    address = node.account()
    node.deliver(address, big_message(MAX_SIZE - 4096))
    client = Pop3(node, address)
    stall = measure(probe.noop, lambda: client.multiline(b"RETR 1"))
    assert len(stall.value) > MAX_SIZE - 8192
    check(stall)


def test_top_of_a_message_at_the_size_limit(node: StallNode, probe: Pop3) -> None:
    """TOP with a huge line count: the whole message again, through TOP's own path."""
    address = node.account()
    node.deliver(address, big_message(MAX_SIZE - 4096))
    client = Pop3(node, address)
    stall = measure(probe.noop, lambda: client.multiline(b"TOP 1 100000000"))
    assert len(stall.value) > MAX_SIZE - 8192
    check(stall)
