"""Rules and Sieve at delivery, end to end: set through the CLI/API, applied to mail arriving over SMTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cliapi.conftest import Cli
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.smtp.conftest import Client, SmtpNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("filters"), "smtp", free_port())).start()
    yield SmtpNode(running)
    running.stop()


@pytest.fixture
def cli(node: SmtpNode) -> Cli:
    port = next(b.port for b in node.running.node.bound_listeners() if b.service == "cliapi")
    return Cli(port).login()


def send(node: SmtpNode, sender: str, recipient: str, data: bytes) -> None:
    c = Client(node.port)
    c.command("EHLO x")
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{recipient}>") == 250, recipient
    assert c.code("DATA") == 354
    c.send(data + b".\r\n")
    assert c.reply()[0] == 250


def message(sender: str, to: str, subject: str = "hello") -> bytes:
    return f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@t>\r\n\r\nHi.\r\n".encode()


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_rules_store_in_a_folder(node: SmtpNode, cli: Cli) -> None:
    user = node.account()
    cli.ok(f'SETACCOUNTMAILRULES {user} ((5, "work", (("From", "is", "*@corp.test")), (("Store in", "Work"))))')
    assert cli.data(f"GETACCOUNTMAILRULES {user}") == [["5", "work", [["From", "is", "*@corp.test"]],
                                                        [["Store in", "Work"]]]]
    node.call(node.running.runtime.mailstore.ensure_defaults(
        node.call(node.running.runtime.directory.account(user)).id))
    node.call(node.running.runtime.mailstore.create(node.call(node.running.runtime.directory.account(user)).id,
                                                    "Work"))
    send(node, "boss@corp.test", user, message("boss@corp.test", user, "work"))
    send(node, "mum@home.test", user, message("mum@home.test", user, "family"))
    assert len(node.inbox(user, "Work")) == 1 and len(node.inbox(user)) == 1
    cli.fails(f'SETACCOUNTMAILRULES {user} ((5, "bad", (), (("Explode"))))', 501, "unknown action")


def test_redirect_without_copy_and_forward_with_one(node: SmtpNode, cli: Cli) -> None:
    away, deputy = node.account(), node.account()
    cli.ok(f'SETACCOUNTMAILRULES {away} ((5, "r", (), (("Redirect to", "{deputy}"))))')
    send(node, "x@outside.test", away, message("x@outside.test", away))
    assert node.inbox(away) == [] and len(node.inbox(deputy)) == 1
    keeper = node.account()
    cli.ok(f'SETACCOUNTMAILRULES {keeper} ((5, "f", (), (("Forward to", "friend@elsewhere.test"))))')
    send(node, "x@outside.test", keeper, message("x@outside.test", keeper, "fwd"))
    assert len(node.inbox(keeper)) == 1
    queued = node.call(node.running.runtime.queue.waiting())
    entry = next(e for e in queued if e["sender"] == "x@outside.test")
    stored, recipients = node.call(node.running.runtime.queue.show(str(entry["ident"])))
    assert [r["address"] for r in recipients] == ["friend@elsewhere.test"]
    assert stored.data is not None and stored.data.startswith(f"Delivered-To: {keeper}".encode())


def test_redirect_loops_end(node: SmtpNode, cli: Cli) -> None:
    a, b = node.account(), node.account()
    cli.ok(f'SETACCOUNTMAILRULES {a} ((5, "r", (), (("Redirect to", "{b}"))))')
    cli.ok(f'SETACCOUNTMAILRULES {b} ((5, "r", (), (("Redirect to", "{a}"))))')
    send(node, "x@outside.test", a, message("x@outside.test", a, "loop"))
    # a's rule sends it to b's INBOX (rules are not run again for a redirected copy): nothing circles.
    assert node.inbox(a) == [] and len(node.inbox(b)) == 1


def test_vacation_answers_once(node: SmtpNode, cli: Cli) -> None:
    user, friend = node.account(), node.account()
    cli.ok(f'SETACCOUNTMAILRULES {user} ((2, "#Vacation", (("Human Generated", "---"), '
           f'("From", "not in", "#RepliedAddresses")), (("Reply with", "Away until Monday."), '
           f'("Remember \'From\' in", "RepliedAddresses"))))')
    send(node, friend, user, message(friend, user, "one"))
    send(node, friend, user, message(friend, user, "two"))
    [answer] = wait_for(lambda: node.inbox(friend))
    assert answer.startswith(b"Return-Path: <>") and b"Auto-Submitted: auto-replied" in answer
    assert b"Subject: Auto: one" in answer and b"Away until Monday." in answer
    time.sleep(0.3)
    assert len(node.inbox(friend)) == 1  # once per sender per period
    assert len(node.inbox(user)) == 2  # and both were kept
    lister = node.account()
    send(node, lister, user, message(lister, user).replace(b"Subject:", b"List-Id: <l.example.com>\r\nSubject:"))
    time.sleep(0.3)
    assert node.inbox(lister) == []  # never an answer to a list


def test_sieve_script(node: SmtpNode, cli: Cli) -> None:
    user, sender = node.account(), node.account()
    script = ('require ["fileinto", "vacation", "reject"]; '
              'if header :contains "subject" "spam" { discard; stop; } '
              'if header :contains "subject" "nope" { reject "not wanted"; stop; } '
              'vacation :days 1 :subject "Out of office" "Back soon.";')
    cli.ok(f"UPDATEACCOUNTSETTINGS {user} {{SieveScript={_quoted(script)};}}")
    cli.fails(f"UPDATEACCOUNTSETTINGS {user} {{SieveScript=\"if foo {{ keep; }}\";}}", 501, "not Sieve")
    send(node, sender, user, message(sender, user, "spam offer"))
    send(node, sender, user, message(sender, user, "nope"))
    send(node, sender, user, message(sender, user, "hello"))
    assert [m for m in node.inbox(user) if b"spam offer" in m or b"nope" in m] == []
    replies = wait_for(lambda: len(node.inbox(sender)) >= 2 and node.inbox(sender))
    assert any(b"Action: failed" in m and b"not wanted" in m for m in replies)
    assert any(b"Subject: Out of office" in m for m in replies)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
