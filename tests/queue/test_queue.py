"""The outbound queue between two real nodes: A (example.com) sends through its queue to B (remote.test),
whose MX a local DNS fixture names; B is a Polyport node too, so what arrives is read from its mailstore.
Bounces and delay notices come back to the sender's INBOX on A."""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.dnsfixture import DnsFixture
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.smtp.conftest import PASSWORD, SmtpNode, client_tls

pytestmark = pytest.mark.timeout(120)


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Pair:
    def __init__(self, sender: SmtpNode, receiver: SmtpNode, dns: DnsFixture) -> None:
        self.a, self.b, self.dns = sender, receiver, dns

    def submit(self, user: str, recipients: list[str], data: bytes, **options: list[str]) -> dict[str, Any]:
        with smtplib.SMTP_SSL("127.0.0.1", self.a.smtps, context=client_tls()) as s:
            s.login(user, PASSWORD)
            return s.sendmail(user, recipients, data, **options)

    def queue(self) -> list[dict[str, object]]:
        return list(self.a.call(self.a.running.runtime.queue.waiting()))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    dns = DnsFixture()
    receiver = ThreadedNode(node_config(tmp_path_factory.mktemp("receiver"), "smtp", free_port(), dns=dns.server))
    receiver.start()
    b = SmtpNode(receiver)
    receiver.call(receiver.runtime.directory.create_domain("remote.test"))
    dns.add("remote.test", "MX", "10 mx.remote.test.")
    dns.add("mx.remote.test", "A", "127.0.0.1")
    dns.add("nomx.test", "A", "127.0.0.1")  # no MX: its own address takes mail
    dns.add("nullmx.test", "MX", "0 .")
    dns.add("down.test", "MX", "10 mx.down.test.")
    dns.add("mx.down.test", "A", "127.0.0.2")  # nothing listens there
    receiver.call(receiver.runtime.directory.create_domain("nomx.test"))
    extra = (f"[queue]\nremote_port = {b.port}\nmin_backoff = 0.3\nmax_backoff = 0.6\nlifetime = 4.0\n"
             f"delay_warning = 1.0\nconnect_timeout = 2.0\n")
    sender = ThreadedNode(node_config(tmp_path_factory.mktemp("sender"), "smtp", free_port(), extra,
                                      dns=dns.server)).start()
    yield Pair(SmtpNode(sender), b, dns)
    sender.stop()
    receiver.stop()
    dns.close()


def remote_account(pair: Pair, name: str, domain: str = "remote.test") -> str:
    address = f"{name}@{domain}"
    pair.b.call(pair.b.running.runtime.directory.create_account(address, password=PASSWORD))
    return address


def test_mail_for_another_domain_goes_through_the_queue(pair: Pair) -> None:
    alice = pair.a.account("alice")
    bob = remote_account(pair, "bob")
    assert pair.submit(alice, [bob, alice], b"Subject: over there\r\n\r\nHello Bob.\r\n") == {}
    [arrived] = wait_for(lambda: pair.b.inbox(bob), what="the message at B")
    unfolded = arrived.replace(b"\r\n\t", b" ")
    assert arrived.startswith(f"Return-Path: <{alice}>".encode())
    assert b"with ESMTPSA" in unfolded  # A's own Received, then B's
    assert unfolded.count(b"Received:") == 2 and arrived.endswith(b"Hello Bob.\r\n")
    assert len(pair.a.inbox(alice)) == 1  # the local copy, stored in the same commit
    wait_for(lambda: not pair.queue(), what="the queue to empty")


def test_no_mx_means_the_domains_own_address(pair: Pair) -> None:
    alice = pair.a.account("alice")
    carol = remote_account(pair, "carol", "nomx.test")
    assert pair.submit(alice, [carol], b"Subject: A record\r\n\r\nx\r\n") == {}
    wait_for(lambda: pair.b.inbox(carol), what="the message at nomx.test")


def bounces(pair: Pair, user: str) -> list[bytes]:
    return [m for m in pair.a.inbox(user) if b"report-type=delivery-status" in m]


def test_a_refused_recipient_bounces_with_a_dsn(pair: Pair) -> None:
    alice = pair.a.account("alice")
    original = b"Subject: to nobody\r\nMessage-ID: <lost@example.com>\r\n\r\nWhere did it go?\r\n"
    assert pair.submit(alice, ["nobody@remote.test"], original, rcpt_options=["NOTIFY=FAILURE"],
                       mail_options=["ENVID=env+2D1", "RET=FULL"]) == {}
    [bounce] = wait_for(lambda: bounces(pair, alice), what="the bounce")
    assert bounce.startswith(b"Return-Path: <>")
    assert b"Subject: Undelivered Mail Returned to Sender" in bounce
    assert b"Final-Recipient: rfc822; nobody@remote.test" in bounce
    assert b"Action: failed" in bounce and b"Status: 5.1.1" in bounce
    assert b"Original-Envelope-Id: env-1" in bounce
    assert re.search(rb"Diagnostic-Code: smtp; .*550 5\.1\.1", bounce)
    assert b"Content-Type: message/rfc822" in bounce and b"Where did it go?" in bounce
    wait_for(lambda: not pair.queue(), what="the queue to empty")


def test_notify_never_and_hdrs(pair: Pair) -> None:
    alice = pair.a.account("alice")
    assert pair.submit(alice, ["nobody1@remote.test"], b"Subject: quiet\r\n\r\nx\r\n",
                       rcpt_options=["NOTIFY=NEVER"]) == {}
    assert pair.submit(alice, ["nobody2@remote.test"], b"Subject: headers only\r\n\r\nsecret body\r\n",
                       mail_options=["RET=HDRS"]) == {}
    [bounce] = wait_for(lambda: bounces(pair, alice), what="the bounce")
    assert b"nobody2@remote.test" in bounce and b"nobody1" not in bounce
    assert b"text/rfc822-headers" in bounce and b"secret body" not in bounce
    time.sleep(0.5)
    assert len(bounces(pair, alice)) == 1


def test_null_mx_bounces_at_once(pair: Pair) -> None:
    alice = pair.a.account("alice")
    assert pair.submit(alice, ["someone@nullmx.test"], b"Subject: null\r\n\r\nx\r\n") == {}
    [bounce] = wait_for(lambda: bounces(pair, alice), what="the bounce")
    assert b"Status: 5.1.10" in bounce


def test_an_unreachable_host_is_retried_then_delayed_then_bounced(pair: Pair) -> None:
    alice = pair.a.account("alice")
    assert pair.submit(alice, ["someone@down.test"], b"Subject: patience\r\n\r\nx\r\n") == {}
    waiting = wait_for(lambda: [m for m in pair.queue() if int(str(m["attempts"])) >= 2], what="a retry")
    assert "127.0.0.2" in str(waiting[0]["last_error"])
    delayed = wait_for(lambda: [m for m in pair.a.inbox(alice) if b"Action: delayed" in m], what="the delay notice")
    assert b"Will-Retry-Until:" in delayed[0] and b"Subject: Delayed Mail" in delayed[0]
    failed = wait_for(lambda: [m for m in pair.a.inbox(alice) if b"Action: failed" in m], timeout=40,
                      what="the bounce after the lifetime")
    assert b"Status: 4.4.7" in failed[0] or b"Status: 4.4.1" in failed[0]
    assert len([m for m in pair.a.inbox(alice) if b"Action: delayed" in m]) == 1  # once only
    wait_for(lambda: not pair.queue(), what="the queue to empty")


def test_forwarding_to_another_domain(pair: Pair) -> None:
    dave = remote_account(pair, "dave")
    directory = pair.a.running.runtime.directory
    pair.a.call(directory.create_forwarder("fwd@example.com", dave))
    with smtplib.SMTP("127.0.0.1", pair.a.port) as s:
        assert s.sendmail("someone@elsewhere.test", ["fwd@example.com"], b"Subject: forwarded\r\n\r\nx\r\n") == {}
    [arrived] = wait_for(lambda: pair.b.inbox(dave), what="the forwarded message")
    assert b"Subject: forwarded" in arrived


def test_queue_administration(pair: Pair) -> None:
    alice = pair.a.account("alice")
    assert pair.submit(alice, ["x@down.test", "y@down.test"], b"Subject: stuck\r\n\r\nx\r\n") == {}
    [entry] = wait_for(lambda: [m for m in pair.queue() if m["sender"] == alice], what="the queued message")
    queue = pair.a.running.runtime.queue
    message, recipients = pair.a.call(queue.show(str(entry["ident"])))
    assert message.sender == alice and sorted(r["address"] for r in recipients) == ["x@down.test", "y@down.test"]
    assert pair.a.call(queue.retry(domain="down.test")) >= 2
    totals = pair.a.call(queue.totals("down.test"))
    assert int(str(totals["recipients"])) >= 2
    pair.a.call(queue.reject(str(entry["ident"]), "removed by the test"))
    [bounce] = wait_for(lambda: bounces(pair, alice), what="the rejection notice")
    assert b"removed by the test" in bounce and b"x@down.test" in bounce and b"y@down.test" in bounce
    assert not [m for m in pair.queue() if m["ident"] == entry["ident"]]


def test_queue_through_the_cli_api_and_the_command(pair: Pair) -> None:
    import dataclasses

    queue = pair.a.running.runtime.queue
    saved = queue.limits
    queue.limits = dataclasses.replace(saved, lifetime=3600.0, delay_warning=3600.0)  # no bounce meanwhile
    try:
        _admin_steps(pair)
    finally:
        queue.limits = saved


def _admin_steps(pair: Pair) -> None:
    import os
    import subprocess
    import sys

    from tests.cliapi.conftest import Cli
    from tests.node_thread import POSTMASTER_PASSWORD

    alice = pair.a.account("alice")
    assert pair.submit(alice, ["z@down.test"], b"Subject: admin\r\n\r\nx\r\n") == {}
    port = next(b.port for b in pair.a.running.node.bound_listeners() if b.service == "cliapi")
    cli = Cli(port).login()
    [entry] = wait_for(lambda: [e for e in cli.data("LISTQUEUEMESSAGES") if e["From"] == alice],
                       what="the message in LISTQUEUEMESSAGES")
    ident = entry["ID"]
    info = wait_for(lambda: (lambda i: i if "127.0.0.2" in i["lastError"] else None)(  # after the first attempt
        cli.data("GETMESSAGEQUEUEINFO SMTP QUEUE down.test")), what="the first attempt's error")
    assert isinstance(info, dict) and int(info["nTotal"]) >= 1
    shown = cli.data(f"GETQUEUEMESSAGE {ident}")
    assert isinstance(shown, dict) and shown["Recipients"][0]["Address"] == "z@down.test"
    cli.ok("RELEASESMTPQUEUE down.test")
    cli.fails("REJECTQUEUEMESSAGE NOSUCH", 501, "no message")
    # The admin command, through the node's CLI/API.
    env = {**os.environ, "POLYPORT_PASSWORD": POSTMASTER_PASSWORD}
    listed = subprocess.run([sys.executable, "-m", "polyport", "queue", "list", "--server", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert listed.returncode == 0 and ident in listed.stdout, listed.stdout + listed.stderr
    deleted = subprocess.run([sys.executable, "-m", "polyport", "queue", "delete", ident, "--server",
                              f"127.0.0.1:{port}"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert deleted.returncode == 0, deleted.stderr
    assert not [e for e in cli.data("LISTQUEUEMESSAGES") if e["ID"] == ident]
    time.sleep(0.3)
    assert not [m for m in bounces(pair, alice) if b"z@down.test" in m]  # deleted quietly
