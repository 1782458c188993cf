"""SMTP's costliest commands with hostile arguments on one connection; NOOP on another must stay quick."""

from __future__ import annotations

import pytest

from tests.stall.conftest import MAX_SIZE, StallNode, big_message
from tests.stall.harness import LineClient, check, measure

RECIPIENTS = 200
LINE = b"lorem ipsum dolor sit amet lorem ipsum dolor sit amet \r\n"  # big_message's line


class Smtp(LineClient):
    def __init__(self, node: StallNode) -> None:
        super().__init__(node.ports["smtp"])
        assert self.reply().startswith(b"220")
        self.send(b"EHLO client.example.org\r\n")
        assert self.reply().startswith(b"250")

    def reply(self) -> bytes:
        """One whole reply (its lines), the last line returned."""
        while (line := self.line())[3:4] == b"-":
            pass
        return line

    def noop(self) -> None:
        self.send(b"NOOP\r\n")
        assert self.reply().startswith(b"250")


@pytest.fixture
def probe(node: StallNode) -> Smtp:
    return Smtp(node)


@pytest.fixture(scope="module")
def recipients(node: StallNode) -> list[str]:
    return [node.account("rcpt") for _ in range(RECIPIENTS)]


@pytest.mark.parametrize("dots", [
    pytest.param(False, marks=pytest.mark.xfail(strict=False, reason=(
        "the end of DATA works on the whole 50 MB message at once on the loop (smtp/wire.py DotReader.message "
        "joins it, normalize counts it, delivery/service.py deliver stores it): 0.4 s (issue 12 stall "
        "harness)"))),
    pytest.param(True, marks=pytest.mark.xfail(strict=False, reason=(
        "smtp/wire.py normalize(unstuff=True) removes the stuffed dots line by line in Python once any "
        "line starts with '.': 0.7-1.1 s on the loop for 20 MB, more for 50 MB (issue 12 stall harness)"))),
], ids=["plain", "dot-stuffed"])
def test_data_at_the_size_limit_to_many_recipients(node: StallNode, probe: Smtp, recipients: list[str],
                                                   dots: bool) -> None:
    """A message as large as SIZE allows, to 200 local accounts: the envelope pipelined, then DATA; with
    `dots` a line in a hundred starts with "." (the limit counts the octets sent, stuffing included)."""
    client = Smtp(node)
    data = big_message(MAX_SIZE - 64 * 1024)
    if dots:
        data = data.replace(LINE * 100, LINE * 99 + b"." + LINE[:-3] + b"\r\n")

    def transaction() -> bytes:
        client.send(b"MAIL FROM:<sender@example.org> SIZE=%d\r\n" % len(data)
                    + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients) + b"DATA\r\n")
        for _ in range(1 + len(recipients)):
            assert client.reply().startswith(b"250")
        assert client.reply().startswith(b"354")
        client.send(data.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        return client.reply()

    stall = measure(probe.noop, transaction)
    assert stall.value.startswith(b"250"), stall.value
    check(stall)
