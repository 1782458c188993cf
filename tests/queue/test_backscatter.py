"""Backscatter, end to end through SMTP (issue 12): a message from outside whose MAIL FROM nothing vouches
for, to a local forwarder whose target cannot take mail, bounces with the header only, so the forger's
content is never mailed to the address it wrote; a sender whose SPF passes gets its message back whole.
Loopback is not trusted here, so the tests' connections are mail from outside."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.dnsfixture import DnsFixture
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.smtp.conftest import Client, SmtpNode

pytestmark = pytest.mark.timeout(120)

BODY = b"Cheap watches at http://forger.example/ - mailed to strangers by other people's servers."


@pytest.fixture(scope="module")
def mx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    dns = DnsFixture()
    dns.add("nullmx.test", "MX", "0 .")  # takes no mail: whatever is sent there bounces at once
    dns.add("sender.test", "TXT", '"v=spf1 ip4:127.0.0.1 -all"')  # example.com publishes no SPF
    extra = '[network]\ntrusted = ["10.0.0.0/8"]\n[mail]\nhostname = "mx.example.com"\n'
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("backscatter"), "smtp", free_port(), extra,
                                       dns=dns.server)).start()
    node = SmtpNode(running)
    directory = running.runtime.directory
    node.call(directory.create_domain("sender.test"))
    node.call(directory.create_forwarder("fwd@example.com", "gone@nullmx.test"))
    yield node
    running.stop()
    dns.close()


def send(node: SmtpNode, sender: str, recipient: str, data: bytes) -> None:
    c = Client(node.port)
    c.command("EHLO client.test")
    assert c.code(f"MAIL FROM:<{sender}> RET=FULL") == 250
    assert c.code(f"RCPT TO:<{recipient}> NOTIFY=FAILURE") == 250
    assert c.code("DATA") == 354
    c.send(data + b".\r\n")
    assert c.reply()[0] == 250


def bounce_for(node: SmtpNode, address: str) -> bytes:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        notices = [m for m in node.inbox(address) if b"report-type=delivery-status" in m]
        if notices:
            [notice] = notices
            return notice
        time.sleep(0.05)
    raise AssertionError(f"no bounce for {address}")


def test_a_forged_sender_gets_the_header_only(mx: SmtpNode) -> None:
    victim = mx.account("victim")  # someone the forger wants to mail, here so we can read what came
    data = f"From: <{victim}>\r\nTo: <fwd@example.com>\r\nSubject: see this\r\n\r\n".encode() + BODY + b"\r\n"
    send(mx, victim, "fwd@example.com", data)
    notice = bounce_for(mx, victim)
    assert b"Final-Recipient: rfc822; gone@nullmx.test" in notice and b"Action: failed" in notice
    assert b"Content-Type: text/rfc822-headers" in notice and b"Subject: see this" in notice
    assert BODY not in notice and b"message/rfc822" not in notice


def test_a_verified_sender_gets_its_message_back(mx: SmtpNode) -> None:
    alice = f"alice{time.monotonic_ns()}@sender.test"
    mx.call(mx.running.runtime.directory.create_account(alice))
    data = f"From: <{alice}>\r\nTo: <fwd@example.com>\r\nSubject: see this\r\n\r\n".encode() + BODY + b"\r\n"
    send(mx, alice, "fwd@example.com", data)  # SPF passes for sender.test from 127.0.0.1
    notice = bounce_for(mx, alice)
    assert b"Content-Type: message/rfc822" in notice and BODY in notice
