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


@pytest.mark.parametrize("dots", [False, True], ids=["plain", "dot-stuffed"])
def test_data_at_the_size_limit_to_many_recipients(node: StallNode, probe: Smtp, recipients: list[str],
                                                   dots: bool) -> None:
    """A message as large as SIZE allows, to 200 local accounts: the envelope pipelined, then DATA; with
    `dots` a line in a hundred starts with "." (the limit counts the message, not the stuffing dots: RFC 1870).
    The end of DATA joined the message and delivery copied it again with its trace fields, back to back
    (95-227 ms); a turn of the loop between the two copies leaves one at a time (30-70 ms)."""
    client = Smtp(node)
    data = big_message(MAX_SIZE - 64 * 1024)
    if dots:
        data = data.replace(LINE * 100, LINE * 99 + b"." + LINE[:-3] + b"\r\n")

    # Made before the measure: a copy of 50 MB in the client's thread holds the GIL the node's thread needs.
    stuffed = data.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n"

    def transaction() -> bytes:
        client.send(b"MAIL FROM:<sender@example.org> SIZE=%d\r\n" % len(data)
                    + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients) + b"DATA\r\n")
        for _ in range(1 + len(recipients)):
            assert client.reply().startswith(b"250")
        assert client.reply().startswith(b"354")
        client.send(stuffed)
        return client.reply()

    stall = measure(probe.noop, transaction)
    assert stall.value.startswith(b"250"), stall.value
    check(stall)


@pytest.mark.parametrize("chunks", [1, 7], ids=["one-chunk", "seven-chunks"])
def test_bdat_at_the_size_limit(node: StallNode, probe: Smtp, recipients: list[str], chunks: int) -> None:
    """The same message in BDAT chunks (RFC 3030): each chunk is normalised as it arrives (Normaliser), so the
    last leaves only its own lines to do; normalising 50 MB at the end held the loop 150-217 ms."""
    client = Smtp(node)
    data = big_message(MAX_SIZE - 64 * 1024)
    step = -(-len(data) // chunks)
    pieces = [memoryview(data)[i:i + step] for i in range(0, len(data), step)]  # no copies in the client

    def transaction() -> bytes:
        client.send(b"MAIL FROM:<sender@example.org> SIZE=%d\r\n" % len(data)
                    + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients[:20]))
        for _ in range(21):
            assert client.reply().startswith(b"250")
        for n, piece in enumerate(pieces):
            last = b" LAST" if n == len(pieces) - 1 else b""
            client.send(b"BDAT %d%s\r\n" % (len(piece), last))
            client.send(piece)
            if not last:
                assert client.reply().startswith(b"250")
        return client.reply()

    stall = measure(probe.noop, transaction)
    assert stall.value.startswith(b"250"), stall.value
    check(stall)
