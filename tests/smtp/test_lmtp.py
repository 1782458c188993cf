"""LMTP (RFC 2033) and the MX from a trusted network: per-recipient answers, quotas at RCPT and after
the data, relaying rules for trusted clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.node_thread import ThreadedNode, free_port, node_config
from tests.smtp.conftest import Client, SmtpNode

MESSAGE = b"From: a@remote.test\r\nSubject: hello\r\n\r\nHi.\r\n"


@pytest.fixture(scope="module")
def trusted_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    """Loopback is trusted here (the default), as an MTA beside the node would be."""
    config = node_config(tmp_path_factory.mktemp("lmtp-node"), "lmtp", free_port(), "enabled = true\n")
    running = ThreadedNode(config).start()
    yield SmtpNode(running)
    running.stop()


def test_lmtp_answers_each_recipient_after_the_data(trusted_node: SmtpNode) -> None:
    ok = trusted_node.account()
    tiny = trusted_node.account(MaxAccountSize="300")
    c = Client(trusted_node.lmtp)
    assert "LMTP Polyport" in c.greeting[1][0]
    assert c.command("EHLO x")[0] == 500  # LMTP says LHLO
    code, lines = c.command("LHLO mta.test")
    assert code == 250 and "PIPELINING" in lines and "AUTH" not in " ".join(lines)
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{ok}>") == 250
    assert c.code(f"RCPT TO:<{tiny}>") == 250  # empty yet: room at RCPT time
    assert c.command("RCPT TO:<nobody@example.com>")[0] == 550
    assert c.code("DATA") == 354
    c.send(b"Subject: big\r\n\r\n" + b"x" * 400 + b"\r\n.\r\n")
    first, second = c.reply(), c.reply()
    assert first[0] == 250 and ok in first[1][0]
    assert (second[0], second[1][0][:5]) == (452, "4.2.2")
    assert len(trusted_node.inbox(ok)) == 1 and trusted_node.inbox(tiny) == []
    stored = trusted_node.inbox(ok)[0]
    assert b"with LMTP " in stored and f"for <{ok}>".encode() in stored


def test_quota_is_checked_at_rcpt(trusted_node: SmtpNode) -> None:
    tiny = trusted_node.account(MaxAccountSize="300")
    c = Client(trusted_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test> SIZE=1000") == 250
    code, lines = c.command(f"RCPT TO:<{tiny}>")
    assert (code, lines[0][:5]) == (452, "4.2.2")


def test_trusted_clients_may_relay(trusted_node: SmtpNode) -> None:
    c = Client(trusted_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@example.com>") == 250
    assert c.code("RCPT TO:<friend@elsewhere.test>") == 250
    assert c.code("DATA") == 354
    c.send(MESSAGE + b".\r\n")
    assert c.reply()[0] == 250


def test_catch_all_and_discard_through_smtp(trusted_node: SmtpNode) -> None:
    catcher = trusted_node.account("catcher")
    directory = trusted_node.running.runtime.directory
    trusted_node.call(directory.create_domain("catch.test", {"MailToUnknown": "Rerouted",
                                                             "MailRerouteAddress": catcher}))
    trusted_node.call(directory.create_domain("void.test", {"MailToUnknown": "Discarded"}))
    c = Client(trusted_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code("RCPT TO:<anyone@catch.test>") == 250
    assert c.code("RCPT TO:<anyone@void.test>") == 250
    assert c.code("DATA") == 354
    c.send(MESSAGE + b".\r\n")
    assert c.reply()[0] == 250
    assert len(trusted_node.inbox(catcher)) == 1
    # Only discarded recipients: accepted, stored nowhere.
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code("RCPT TO:<someone@void.test>") == 250
    assert c.code("DATA") == 354
    c.send(MESSAGE + b".\r\n")
    assert c.reply()[0] == 250
    assert len(trusted_node.inbox(catcher)) == 1


def test_hop_count_stops_loops(trusted_node: SmtpNode) -> None:
    user = trusted_node.account()
    c = Client(trusted_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    assert c.code("DATA") == 354
    c.send(b"Received: from a by b; Sat, 28 Nov 2026 10:00:00 +0000\r\n" * 51 + MESSAGE + b".\r\n")
    code, lines = c.reply()
    assert (code, lines[0][:5]) == (554, "5.4.6")
    assert trusted_node.inbox(user) == []


def test_notify_success_reports_delivery(trusted_node: SmtpNode) -> None:
    sender, recipient = trusted_node.account(), trusted_node.account()
    c = Client(trusted_node.port)
    c.command("EHLO x")
    assert c.code(f"MAIL FROM:<{sender}> ENVID=track+2D7") == 250
    assert c.code(f"RCPT TO:<{recipient}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{recipient}") == 250
    assert c.code("DATA") == 354
    c.send(MESSAGE + b".\r\n")
    assert c.reply()[0] == 250
    [report] = trusted_node.inbox(sender)
    assert b"Subject: Successful Mail Delivery Report" in report and b"Action: delivered" in report
    assert b"Status: 2.0.0" in report and b"Original-Envelope-Id: track-7" in report
    assert f"Original-Recipient: rfc822;{recipient}".encode() in report


def test_lmtp_on_a_unix_socket(tmp_path_factory: pytest.TempPathFactory) -> None:
    import socket as sockets

    from polyport.config import ServiceSettings

    folder = tmp_path_factory.mktemp("lmtp-unix")
    path = folder / "lmtp.sock"
    config = node_config(folder / "data", "smtp", free_port())
    config.services["lmtp"] = ServiceSettings(ports=[0], enabled=True, socket=str(path))
    running = ThreadedNode(config).start()
    try:
        node = SmtpNode(running)
        user = node.account()
        assert oct(path.stat().st_mode & 0o777) == "0o660"
        assert ("lmtp", "unix", str(path), 0) in [(b.service, b.transport, b.host, b.port)
                                                  for b in running.node.bound_listeners()]
        with sockets.socket(sockets.AF_UNIX) as sock:
            sock.connect(str(path))
            f = sock.makefile("rb")
            assert f.readline().startswith(b"220 ")
            sock.sendall(f"LHLO mta\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<{user}>\r\nDATA\r\n".encode())
            replies: list[int] = []
            while len(replies) < 4:
                line = f.readline()
                if line[3:4] != b"-":
                    replies.append(int(line[:3]))
            assert replies == [250, 250, 250, 354]
            sock.sendall(MESSAGE + b".\r\n")
            assert f.readline().startswith(b"250 ")
        assert len(node.inbox(user)) == 1
    finally:
        running.stop()
    assert not path.exists()  # the node removes its socket when it stops
