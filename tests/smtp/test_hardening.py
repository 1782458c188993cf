"""What a hostile or careless client cannot make the server do: sign others' mail with our keys, read
message content as commands, mail strangers through rules, or pass a look-alike sender."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.node_thread import ThreadedNode, free_port, node_config
from tests.smtp.conftest import PASSWORD, Client, SmtpNode

MESSAGE = b"From: <ceo@example.com>\r\nSubject: hello\r\n\r\nHi.\r\n"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    extra = '[network]\ntrusted = ["10.0.0.0/8"]\n[mail]\nmax_message_size = 100000\n'
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("hardening"), "smtp", free_port(), extra)).start()
    yield SmtpNode(running)
    running.stop()


def queued(node: SmtpNode, sender: str) -> list[bytes]:
    queue = node.running.runtime.queue
    out = []
    for entry in node.call(queue.waiting()):
        if entry["sender"] == sender:
            message, _ = node.call(queue.show(str(entry["ident"])))
            out.append(message.data or b"")
    return out


def mx_send(node: SmtpNode, sender: str, recipient: str, data: bytes, rcpt_params: str = "") -> int:
    c = Client(node.port)
    c.command("EHLO x")
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{recipient}>{rcpt_params}") == 250
    assert c.code("DATA") == 354
    c.send(data + b".\r\n")
    return c.reply()[0]


def test_redirected_mail_is_never_signed_with_our_keys(node: SmtpNode) -> None:
    user = node.account()
    node.call(node.running.runtime.directory.update_account_settings(
        user, {"Rules": [["5", "out", [], [["Redirect to", "me@elsewhere.test"]]]]}))
    assert mx_send(node, "forger@bad.test", user, MESSAGE) == 250
    [copy] = queued(node, "forger@bad.test")
    assert b"DKIM-Signature" not in copy and b"From: <ceo@example.com>" in copy


def test_an_account_signs_only_for_its_own_domain(node: SmtpNode) -> None:
    node.call(node.running.runtime.directory.create_domain("other.test"))
    user = node.account()
    c = Client(node.submission)
    c.starttls()
    c.command("EHLO x")
    assert c.code("AUTH PLAIN " + base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()) == 235
    for author, subject in ((user, "own"), ("boss@other.test", "foreign")):
        assert c.code(f"MAIL FROM:<{user}>") == 250
        assert c.code("RCPT TO:<friend@elsewhere.test>") == 250
        assert c.code("DATA") == 354
        c.send(f"From: <{author}>\r\nSubject: {subject}\r\n\r\nx\r\n.\r\n".encode())
        assert c.reply()[0] == 250
    copies = {b"own" if b"Subject: own" in m else b"foreign": m for m in queued(node, user)}
    assert b"DKIM-Signature" in copies[b"own"] and b"DKIM-Signature" not in copies[b"foreign"]


def test_a_malformed_bdat_closes_the_connection(node: SmtpNode) -> None:
    user = node.account()
    c = Client(node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    c.send(b"BDAT 12345678901234567890 LAST\r\nRCPT TO:<victim@elsewhere.test>\r\n")
    assert c.reply()[0] == 501 and c.reply()[0] == 421
    assert c.closed()


def test_filter_only_stops_sieve_from_sending(node: SmtpNode) -> None:
    user = node.account(RulesAllowed="Filter Only")
    node.call(node.running.runtime.directory.update_account_settings(
        user, {"SieveScript": 'redirect "out@elsewhere.test";'}))
    assert mx_send(node, "x@remote.test", user, b"Subject: sieve\r\n\r\nx\r\n") == 250
    assert len(node.inbox(user)) == 1 and queued(node, "x@remote.test") == []


def test_a_redirect_that_cannot_be_made_keeps_the_message(node: SmtpNode) -> None:
    user = node.account()
    node.call(node.running.runtime.directory.update_account_settings(
        user, {"Rules": [["5", "typo", [], [["Redirect to", "nobody-here@example.com"]]]]}))
    assert mx_send(node, "x@remote.test", user, b"Subject: typo\r\n\r\nx\r\n") == 250
    assert len(node.inbox(user)) == 1


def test_success_reports_go_only_to_verified_senders(node: SmtpNode) -> None:
    victim, user = node.account(), node.account()
    # Loopback is not trusted here and nothing vouches for the sender: no report to the named victim.
    assert mx_send(node, victim, user, b"Subject: x\r\n\r\nx\r\n", " NOTIFY=SUCCESS") == 250
    assert len(node.inbox(user)) == 1 and node.inbox(victim) == []


def test_look_alike_sender_domains_are_not_the_owners(node: SmtpNode) -> None:
    user = node.account()
    c = Client(node.submission)
    c.starttls()
    c.command("EHLO x")
    assert c.code("AUTH PLAIN " + base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()) == 235
    local = user.partition("@")[0]
    assert c.command(f"MAIL FROM:<{local}@\uff45xample.com> SMTPUTF8")[0] == 553  # a fullwidth e
    assert c.code(f"MAIL FROM:<{user}>") == 250


def test_lmtp_answers_each_recipient_even_when_refusing_the_message(tmp_path_factory: pytest.TempPathFactory
                                                                     ) -> None:
    config = node_config(tmp_path_factory.mktemp("lmtp-refuse"), "lmtp", free_port(),
                         "enabled = true\n[mail]\nmax_message_size = 2000\n")
    running = ThreadedNode(config).start()
    try:
        lmtp = SmtpNode(running)
        one, two = lmtp.account(), lmtp.account()
        c = Client(lmtp.lmtp)
        c.command("LHLO x")
        assert c.code("MAIL FROM:<a@remote.test>") == 250
        assert c.code(f"RCPT TO:<{one}>") == 250 and c.code(f"RCPT TO:<{two}>") == 250
        assert c.code("DATA") == 354
        c.send(b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\nNOOP\r\n")
        assert [c.reply()[0] for _ in range(3)] == [552, 552, 250]
    finally:
        running.stop()


def test_a_redirect_to_a_full_account_keeps_the_message_with_the_redirecting_one_only(node: SmtpNode) -> None:
    full = node.account(MaxAccountSize="1K")
    redirecting, other = node.account(), node.account()
    directory = node.running.runtime.directory
    node.call(directory.update_account_settings(redirecting, {"Rules": [["5", "r", [], [["Redirect to", full]]]]}))
    node.call(directory.update_account_settings(other, {"Rules": [["5", "w", [], [["Store in", "Archive"]]]]}))
    c = Client(node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{redirecting}>") == 250 and c.code(f"RCPT TO:<{other}>") == 250
    assert c.code("DATA") == 354
    c.send(b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n.\r\n")
    assert c.reply()[0] == 250
    assert node.inbox(full) == [] and len(node.inbox(redirecting)) == 1
    assert node.inbox(other) == [] and len(node.inbox(other, "Archive")) == 1  # its own rule, untouched
