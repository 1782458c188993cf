"""SPF, DKIM and DMARC on the MX, end to end: mail from outside gets Authentication-Results, DMARC's
policy is applied (reject: 550; quarantine: the recipient's Junk), and forged results are removed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from polyport.dkim.keys import generate
from polyport.dkim.sign import sign
from polyport.mailauth import Verdict, aligned, strip_forged
from tests.dnsfixture import DnsFixture
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.smtp.conftest import Client, SmtpNode

KEYS = generate()


@pytest.fixture(scope="module")
def mx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    dns = DnsFixture()
    dns.add("sender.test", "TXT", '"v=spf1 ip4:127.0.0.1 -all"')
    dns.add("_dmarc.sender.test", "TXT", '"v=DMARC1; p=reject"')
    for key in KEYS:
        text = key.txt_record()
        dns.add(f"{key.selector}._domainkey.sender.test", "TXT",
                " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255)))
    dns.add("strict.test", "TXT", '"v=spf1 -all"')
    dns.add("_dmarc.strict.test", "TXT", '"v=DMARC1; p=reject"')
    dns.add("careful.test", "TXT", '"v=spf1 -all"')
    dns.add("_dmarc.careful.test", "TXT", '"v=DMARC1; p=quarantine"')
    extra = '[network]\ntrusted = ["10.0.0.0/8"]\n[mail]\nhostname = "mx.example.com"\n'
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("mx"), "smtp", free_port(), extra,
                                       dns=dns.server)).start()
    yield SmtpNode(running)
    running.stop()
    dns.close()


def send(node: SmtpNode, sender: str, recipient: str, data: bytes) -> tuple[int, list[str]]:
    c = Client(node.port)
    c.command("EHLO client.sender.test")
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{recipient}>") == 250
    assert c.code("DATA") == 354
    c.send(data + b".\r\n")
    return c.reply()


def message(author: str, subject: str = "hello") -> bytes:
    return (f"From: <{author}>\r\nTo: <someone@example.com>\r\nSubject: {subject}\r\n"
            f"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nHi.\r\n").encode()


def test_signed_and_permitted_mail_passes_everything(mx: SmtpNode) -> None:
    user = mx.account()
    data = message("alice@sender.test", "signed")
    assert send(mx, "alice@sender.test", user, sign(data, "sender.test", KEYS) + data)[0] == 250
    [stored] = mx.inbox(user)
    results = stored.replace(b"\r\n\t", b" ")
    assert b"Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=alice@sender.test;" in results
    assert results.count(b"dkim=pass header.d=sender.test") == 2  # Ed25519 and RSA
    assert b"dmarc=pass (p=reject) header.from=sender.test" in results


def test_dmarc_reject_is_refused(mx: SmtpNode) -> None:
    user = mx.account()
    code, lines = send(mx, "bounce@elsewhere.test", user, message("ceo@strict.test", "forged"))
    assert (code, lines[0][:5]) == (550, "5.7.1") and "strict.test" in lines[0]
    assert mx.inbox(user) == []


def test_dmarc_quarantine_goes_to_junk(mx: SmtpNode) -> None:
    user = mx.account()
    assert send(mx, "bounce@elsewhere.test", user, message("news@careful.test", "suspect"))[0] == 250
    assert mx.inbox(user) == []
    [junk] = mx.inbox(user, "Junk")
    assert b"dmarc=fail (p=quarantine) header.from=careful.test" in junk.replace(b"\r\n\t", b" ")


def test_spf_alone_does_not_reject_and_forged_results_go(mx: SmtpNode) -> None:
    user = mx.account()
    forged = (b"Authentication-Results: mx.example.com; dkim=pass header.d=bank.test\r\n"
              b"Authentication-Results: other.example; spf=pass\r\n") + message("x@nowhere.test", "plain")
    assert send(mx, "x@nowhere.test", user, forged)[0] == 250
    [stored] = mx.inbox(user)
    assert b"header.d=bank.test" not in stored  # only we write results naming us
    assert b"Authentication-Results: other.example; spf=pass" in stored
    assert b"spf=none" in stored and b"dmarc=none" in stored


def test_verdict_actions_and_alignment() -> None:
    assert Verdict("fail", "a.test", (), "fail", "a.test", "reject").action == "reject"
    assert Verdict("fail", "a.test", (), "fail", "a.test", "none").action == "accept"
    assert Verdict("pass", "a.test", (), "pass", "a.test", "reject").action == "accept"
    assert aligned("mail.example.co.uk", "example.co.uk", "r") and not aligned("mail.example.co.uk",
                                                                               "example.co.uk", "s")
    assert not aligned("example.com", "example.net", "r")
    assert strip_forged(b"Authentication-Results: MX.example.com;\r\n\tspf=pass\r\nX: y\r\n\r\nbody",
                        "mx.example.com") == b"X: y\r\n\r\nbody"


def test_a_second_from_field_cannot_hide_the_strict_author(mx: SmtpNode) -> None:
    user = mx.account()
    data = (b"From: <x@nowhere.test>\r\nFrom: <ceo@strict.test>\r\nSubject: two authors\r\n\r\nHi.\r\n")
    code, lines = send(mx, "x@nowhere.test", user, data)
    assert (code, lines[0][:5]) == (550, "5.7.1") and "strict.test" in lines[0]


def test_broken_dkim_signatures_are_results_not_errors(mx: SmtpNode) -> None:
    user = mx.account()
    data = (b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.test; s=x; h=from; bh=AB=C; b=AAAA\r\n"
            b"Subject : obsolete syntax\r\nFrom: <a@sender.test>\r\n\r\nHi.\r\n")
    assert send(mx, "a@sender.test", user, data)[0] == 250
    [stored] = mx.inbox(user)
    assert b"dkim=permerror" in stored or b"dkim=fail" in stored


def test_folded_and_commented_forged_results_go() -> None:
    forged = (b"Authentication-Results:\r\n mx.example.com; dmarc=pass\r\n"
              b"Authentication-Results: (c) mx.example.com; spf=pass\r\nX: y\r\n\r\nbody")
    assert strip_forged(forged, "mx.example.com") == b"X: y\r\n\r\nbody"


def test_a_message_without_results_fields_is_not_copied() -> None:
    """Every message passes through strip_forged: one without Authentication-Results fields comes back as
    it is (a 50 MB body was sliced off and copied for nothing, 25-35 ms of the loop); a header without a
    body too."""
    message = b"Subject: big\r\n\r\n" + b"x" * 100_000
    assert strip_forged(message, "mx.example.com") is message
    assert strip_forged(b"Authentication-Results: mx.example.com; spf=pass\r\nX: y\r\n",
                        "mx.example.com") == b"X: y\r\n"


def test_the_public_suffixes_are_the_librarys_with_a_labels() -> None:
    from publicsuffixlist import PublicSuffixList

    from polyport.mailauth import _PSL, organizational

    library = PublicSuffixList()  # what our quicker build stands in for
    assert _PSL._publicsuffix == library._publicsuffix and _PSL._maxlabel == library._maxlabel
    assert organizational("mail.example.co.uk") == "example.co.uk"
    assert organizational("a.b.xn--p1ai") == "b.xn--p1ai"  # .рф, as mail writes it
    assert organizational("www.city.kawasaki.jp") == "city.kawasaki.jp"  # an exception rule (!)
