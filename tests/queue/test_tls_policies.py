"""MTA-STS and DANE on the way out: node A sends to node B (which presents a certificate from a test CA)
as the destination's policy demands, or keeps the message queued when it cannot."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from polyport.queue import NewRecipient
from tests.dnsfixture import DnsFixture
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.queue.test_queue import wait_for
from tests.smtp.conftest import SmtpNode

POLICIES = {
    "mta-sts.secure.test": "version: STSv1\nmode: enforce\nmx: mx.secure.test\nmax_age: 3600\n",
    "mta-sts.wrongmx.test": "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 3600\n",
    "mta-sts.badcert.test": "version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 3600\n",
}


class PolicyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        policy = POLICIES.get(self.headers.get("Host", "").split(":")[0])
        if policy is None or self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        body = policy.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Setup:
    def __init__(self, a: SmtpNode, b: SmtpNode, dns: DnsFixture) -> None:
        self.a, self.b, self.dns = a, b, dns

    def send(self, to: str) -> None:
        queue = self.a.running.runtime.queue
        self.a.call(queue.enqueue("sender@example.com", b"Subject: tls\r\n\r\nsecret\r\n", [NewRecipient(to)]))

    def queue_error(self, to: str) -> str:
        for entry in self.a.call(self.a.running.runtime.queue.waiting()):
            _, recipients = self.a.call(self.a.running.runtime.queue.show(str(entry["ident"])))
            for r in recipients:
                if r["address"] == to and r["last_error"]:
                    return str(r["last_error"])
        return ""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("tls-policies")
    ca = trustme.CA()
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    mx_cert = ca.issue_cert("mx.secure.test")
    mx_cert.cert_chain_pems[0].write_to_path(str(folder / "mx.pem"))
    mx_cert.private_key_pem.write_to_path(str(folder / "mx.key"))
    https_cert = ca.issue_cert(*POLICIES)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    https_cert.configure_cert(context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PolicyHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    dns = DnsFixture()
    dns.secure = True
    tls = f'[tls]\ncert_file = "{folder / "mx.pem"}"\nkey_file = "{folder / "mx.key"}"\n'
    b_running = ThreadedNode(node_config(folder / "b", "smtp", free_port(), tls, dns=dns.server)).start()
    b = SmtpNode(b_running)
    spki = x509.load_pem_x509_certificate(mx_cert.cert_chain_pems[0].bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    good = digest.finalize().hex()
    for domain in ("secure.test", "wrongmx.test", "badcert.test", "dane.test", "badtlsa.test"):
        b_running.call(b_running.runtime.directory.create_domain(domain))
        dns.add(domain, "MX", f"10 mx.{domain}.")
        dns.add(f"mx.{domain}", "A", "127.0.0.1")
    for domain in ("secure.test", "wrongmx.test", "badcert.test"):
        dns.add(f"_mta-sts.{domain}", "TXT", '"v=STSv1; id=20261128"')
        dns.add(f"mta-sts.{domain}", "A", "127.0.0.1")
    dns.add("_25._tcp.mx.dane.test", "TLSA", f"3 1 1 {good}")
    dns.add("_25._tcp.mx.badtlsa.test", "TLSA", f"3 1 1 {'00' * 32}")
    extra = (f'[queue]\nremote_port = {b.port}\nca_file = "{ca_file}"\nmta_sts_port = {server.server_address[1]}\n'
             f"min_backoff = 0.3\nmax_backoff = 0.6\n")
    a_running = ThreadedNode(node_config(folder / "a", "smtp", free_port(), extra, dns=dns.server)).start()
    yield Setup(SmtpNode(a_running), b, dns)
    a_running.stop()
    b_running.stop()
    server.shutdown()
    dns.close()


def test_mta_sts_enforce_delivers_over_checked_tls(setup: Setup) -> None:
    user = "alice@secure.test"
    setup.b.call(setup.b.running.runtime.directory.create_account(user))
    setup.send(user)
    [arrived] = wait_for(lambda: setup.b.inbox(user), what="delivery under MTA-STS")
    assert b"with ESMTPS (using TLSv1.3" in arrived.replace(b"\r\n\t", b" ")
    sender = setup.a.running.runtime.queue.sender
    assert sender is not None and sender.mta_sts is not None
    policy = setup.a.call(sender.mta_sts.policy("secure.test"))
    assert policy is not None and policy.mode == "enforce" and policy.mx == ("mx.secure.test",)


def test_mta_sts_refuses_an_mx_the_policy_does_not_list(setup: Setup) -> None:
    setup.send("bob@wrongmx.test")
    error = wait_for(lambda: setup.queue_error("bob@wrongmx.test"), what="the deferral")
    assert "4.7.5" in error and "MTA-STS" in error


def test_mta_sts_refuses_a_certificate_for_another_name(setup: Setup) -> None:
    setup.send("carol@badcert.test")
    error = wait_for(lambda: setup.queue_error("carol@badcert.test"), what="the deferral")
    assert "certificate" in error.lower() or "ssl" in error.lower()


def test_dane_ee_match_delivers(setup: Setup) -> None:
    user = "dave@dane.test"
    setup.b.call(setup.b.running.runtime.directory.create_account(user))
    setup.send(user)
    wait_for(lambda: setup.b.inbox(user), what="delivery under DANE")


def test_dane_mismatch_keeps_it_queued(setup: Setup) -> None:
    setup.send("erin@badtlsa.test")
    error = wait_for(lambda: setup.queue_error("erin@badtlsa.test"), what="the deferral")
    assert "TLSA" in error


def test_policy_parsing() -> None:
    from polyport.queue.tlspolicy import dane_matches, parse_policy

    policy = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: *.example.net\r\nmx: mail.example.com\r\n"
                          "max_age: 999999999\r\n", "1", 0)
    assert policy.allows("mx1.example.net") and policy.allows("mail.example.com")
    assert not policy.allows("a.b.example.net") and not policy.allows("example.net")
    assert policy.expires == 31_557_600
    for bad in ("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1", "version: STSv1\nmode: x\nmx: a\nmax_age: 1",
                "version: STSv1\nmode: enforce\nmax_age: 1"):
        with pytest.raises(ValueError):
            parse_policy(bad, "1", 0)
    assert dane_matches([], b"") is None


def test_relay_host_with_auth_and_checked_tls(tmp_path_factory: pytest.TempPathFactory) -> None:
    """[queue] relay_host: everything goes through one smarthost, over STARTTLS with its certificate
    checked, logged in with AUTH. The smarthost here is node B's submission port."""
    folder = tmp_path_factory.mktemp("relay")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(folder / "b.pem"))
    cert.private_key_pem.write_to_path(str(folder / "b.key"))
    tls = f'[tls]\ncert_file = "{folder / "b.pem"}"\nkey_file = "{folder / "b.key"}"\n'
    b_running = ThreadedNode(node_config(folder / "b", "smtp", free_port(), tls)).start()
    b = SmtpNode(b_running)
    try:
        b_running.call(b_running.runtime.directory.create_account("relay@example.com", password="relay-pass-1"))
        extra = (f'[queue]\nrelay_host = "localhost:{b.submission}"\nrelay_user = "relay@example.com"\n'
                 f'relay_password = "relay-pass-1"\nca_file = "{folder / "ca.pem"}"\nmin_backoff = 0.3\n')
        a_running = ThreadedNode(node_config(folder / "a", "smtp", free_port(), extra)).start()
        try:
            a = SmtpNode(a_running)
            a.call(a_running.runtime.queue.enqueue("relay@example.com", b"Subject: via the smarthost\r\n\r\nx\r\n",
                                                   [NewRecipient("friend@far.test")]))
            arrived = wait_for(lambda: [m for m in b.call(b_running.runtime.queue.waiting())
                                        if m["origin"] == "relay@example.com"], what="the message at the smarthost")
            assert arrived[0]["sender"] == "relay@example.com"
            wait_for(lambda: not a.call(a_running.runtime.queue.waiting()), what="A's queue to empty")
        finally:
            a_running.stop()
    finally:
        b_running.stop()


def test_opportunistic_tls_that_fails_falls_back_to_plaintext(tmp_path_factory: pytest.TempPathFactory) -> None:
    """RFC 7435: a server that offers STARTTLS and then cannot do it still gets the mail, in plaintext."""
    received: list[bytes] = []
    server = fake_mta([b"STARTTLS"], received)
    dns = DnsFixture()
    dns.add("broken.test", "MX", "10 mx.broken.test.")
    dns.add("mx.broken.test", "A", "127.0.0.1")
    extra = f"[queue]\nremote_port = {server.server_address[1]}\n"
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("plain"), "smtp", free_port(), extra,
                                       dns=dns.server)).start()
    try:
        node = SmtpNode(running)
        node.call(running.runtime.queue.enqueue("a@example.com", b"Subject: plain\r\n\r\nx\r\n",
                                                [NewRecipient("b@broken.test")]))
        wait_for(lambda: received, what="the message at the server without working TLS")
        assert b"Subject: plain" in received[0]
    finally:
        running.stop()
        server.shutdown()
        dns.close()


def test_requiretls_bounces_and_needless_smtputf8_is_dropped(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A server without STARTTLS or SMTPUTF8: a REQUIRETLS message bounces (5.7.10) after every MX said
    no; a message sent with SMTPUTF8 whose addresses and header are ASCII is delivered without it."""
    received: list[bytes] = []
    server = fake_mta([b"8BITMIME"], received)
    dns = DnsFixture()
    dns.add("plain.test", "MX", "10 mx1.plain.test.", "20 mx2.plain.test.")
    dns.add("mx1.plain.test", "A", "127.0.0.1")
    dns.add("mx2.plain.test", "A", "127.0.0.1")
    extra = f"[queue]\nremote_port = {server.server_address[1]}\n"
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("plain2"), "smtp", free_port(), extra,
                                       dns=dns.server)).start()
    try:
        node = SmtpNode(running)
        sender = node.account()
        queue = running.runtime.queue
        node.call(queue.enqueue(sender, b"Subject: ascii\r\n\r\nx\r\n", [NewRecipient("b@plain.test")],
                                smtputf8=True))
        wait_for(lambda: received, what="the ASCII message without SMTPUTF8")
        node.call(queue.enqueue(sender, b"Subject: secret\r\n\r\nx\r\n", [NewRecipient("c@plain.test")],
                                requiretls=True))
        [bounce] = wait_for(lambda: [m for m in node.inbox(sender) if b"Action: failed" in m],
                            what="the REQUIRETLS bounce")
        assert b"Status: 5.7.10" in bounce and len(received) == 1
    finally:
        running.stop()
        server.shutdown()
        dns.close()


def fake_mta(extensions: list[bytes], received: list[bytes]) -> Any:
    """A minimal SMTP server on loopback offering `extensions`: STARTTLS is refused with 454 (a server
    whose TLS is broken), a SMTPUTF8 parameter with 555; each message's body goes into `received`."""
    import socketserver

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 fake.test ESMTP\r\n")
            while line := self.rfile.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    lines = [b"fake.test", *extensions]
                    self.wfile.write(b"".join(b"250%s%s\r\n" % (b" " if i == len(lines) - 1 else b"-", x)
                                              for i, x in enumerate(lines)))
                elif verb == b"STAR":
                    self.wfile.write(b"454 4.7.0 TLS not available due to temporary reason\r\n")
                elif verb == b"DATA":
                    self.wfile.write(b"354 go\r\n")
                    body = b""
                    while (chunk := self.rfile.readline()) != b".\r\n":
                        body += chunk
                    received.append(body)
                    self.wfile.write(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                elif b"SMTPUTF8" in line.upper():
                    self.wfile.write(b"555 5.5.4 unknown parameter\r\n")
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
