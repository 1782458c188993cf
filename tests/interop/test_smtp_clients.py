"""Python's smtplib and Debian's swaks against the MX (25), submission (587) and SMTPS (465).

The node's loopback is untrusted here (trusted networks: 10.0.0.0/8), as a client on the Internet is:
plaintext AUTH only after STARTTLS, no relaying without AUTH. What the clients send is read back through
the mailstore. (swaks 20201014, Debian 12's, has no BDAT; smtplib neither: CHUNKING is covered by the
raw-protocol tests in tests/smtp.)
"""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.interop.conftest import need_binary
from tests.node_thread import ThreadedNode, free_port, node_config

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PASSWORD = "smtp-interop-1"


class SmtpNode:
    def __init__(self, running: ThreadedNode, data: Path) -> None:
        self.running = running
        self.cert = data / "tls" / "cert.pem"
        self.ports = {b.service: b.port for b in running.node.bound_listeners() if b.transport == "tcp"}
        self.counter = 0

    def account(self) -> str:
        self.counter += 1
        address = f"client{self.counter}@example.com"
        self.running.call(self.running.runtime.directory.create_account(address, password=PASSWORD))
        return address

    def inbox(self, address: str) -> list[bytes]:
        async def read() -> list[bytes]:
            runtime = self.running.runtime
            account = await runtime.directory.account(address)
            boxes = {m.name: m for m in await runtime.mailstore.mailboxes(account.id)}
            if "INBOX" not in boxes:
                return []
            blobs = await runtime.mailstore.blob_ids(boxes["INBOX"].id, 1, 2**32 - 1)
            return [await runtime.mailstore.read(blobs[uid]) for uid in sorted(blobs)]

        return list(self.running.call(read()))

    def tls(self) -> ssl.SSLContext:
        """Trust the node's self-signed certificate (it names example.com, not 127.0.0.1)."""
        context = ssl.create_default_context(cafile=str(self.cert))
        context.check_hostname = False
        return context


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpNode]:
    data = tmp_path_factory.mktemp("smtp-interop")
    running = ThreadedNode(node_config(data, "smtp", free_port(), '[network]\ntrusted = ["10.0.0.0/8"]\n')).start()
    yield SmtpNode(running, data)
    running.stop()


# -- smtplib --


def test_smtplib_sees_every_extension(node: SmtpNode) -> None:
    with smtplib.SMTP("127.0.0.1", node.ports["smtp"], local_hostname="client.test") as s:
        s.ehlo()
        for extension in ("pipelining", "size", "8bitmime", "smtputf8", "chunking", "enhancedstatuscodes", "dsn",
                          "starttls"):
            assert s.has_extn(extension), extension
        assert int(s.esmtp_features["size"]) > 0
        s.starttls(context=node.tls())
        s.ehlo()
        assert s.has_extn("requiretls") and "PLAIN" in s.esmtp_features["auth"]
        assert s.noop()[0] == 250
        assert s.verify("anyone@example.com")[0] == 252
        assert s.help().startswith(b"2.0.0")
        assert s.rset()[0] == 250


def test_smtplib_delivers_over_the_mx_with_dsn_and_utf8(node: SmtpNode) -> None:
    user = node.account()
    message = EmailMessage()
    message["From"] = "Jürgen <jürgen@remote.test>"
    message["To"] = user
    message["Subject"] = "Grüße"
    message.set_content("Straße, été, 日本語\n", cte="8bit")
    with smtplib.SMTP("127.0.0.1", node.ports["smtp"]) as s:
        # send_message sees the non-ASCII sender and uses SMTPUTF8 and BODY=8BITMIME.
        assert s.send_message(message, mail_options=["RET=HDRS", "ENVID=test+2B1"],
                              rcpt_options=["NOTIFY=FAILURE,DELAY", f"ORCPT=rfc822;{user}"]) == {}
        refused = pytest.raises(smtplib.SMTPRecipientsRefused)
        with refused as err:
            s.sendmail("a@remote.test", ["nobody@example.com"], b"Subject: x\r\n\r\nx\r\n")
        assert err.value.recipients["nobody@example.com"][0] == 550
        with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
            s.sendmail("a@remote.test", ["someone@elsewhere.test"], b"Subject: x\r\n\r\nx\r\n")
        assert err.value.recipients["someone@elsewhere.test"][0] == 554  # not an open relay
    [stored] = node.inbox(user)
    assert "Return-Path: <jürgen@remote.test>".encode() in stored
    assert "Straße, été, 日本語".encode() in stored


def test_smtplib_submission_starttls_auth(node: SmtpNode) -> None:
    user, other = node.account(), node.account()
    with smtplib.SMTP("127.0.0.1", node.ports["submission"]) as s:
        with pytest.raises(smtplib.SMTPException, match="No suitable authentication method"):
            s.login(user, PASSWORD)  # before TLS only SCRAM-SHA-256 is offered, which smtplib lacks
        s.starttls(context=node.tls())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(user, "wrong")
        s.login(user, PASSWORD)
        assert s.sendmail(user, [other, user], b"Subject: to both\r\n\r\nhello\r\n") == {}
        with pytest.raises(smtplib.SMTPSenderRefused):
            s.sendmail(other, [user], b"Subject: forged\r\n\r\nx\r\n")
    assert len(node.inbox(other)) == 1 and len(node.inbox(user)) == 1


def test_smtplib_implicit_tls(node: SmtpNode) -> None:
    user = node.account()
    with smtplib.SMTP_SSL("127.0.0.1", node.ports["smtps"], context=node.tls()) as s:
        s.login(user, PASSWORD)
        assert s.sendmail(user, [user], b"Subject: over 465\r\n\r\nhello\r\n") == {}
    assert b"with ESMTPSA (using TLSv1.3" in node.inbox(user)[0].replace(b"\r\n\t", b" ")


# -- swaks --


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need_binary("swaks"), "--server", "127.0.0.1", "--timeout", "20", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_swaks_mx_plain_and_pipelined(node: SmtpNode) -> None:
    user = node.account()
    plain = swaks("--port", str(node.ports["smtp"]), "--from", "a@remote.test", "--to", user,
                  "--header", "Subject: from swaks")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    piped = swaks("--port", str(node.ports["smtp"]), "--from", "a@remote.test", "--to", f"{user},nobody@example.com",
                  "--pipeline", "--header", "Subject: pipelined")
    # One recipient refused: swaks says so (exit 0 only if all were taken), and the other got the mail.
    assert "<** 550 5.1.1" in piped.stdout and "PIPELINING" in piped.stdout
    stored = node.inbox(user)
    assert len(stored) == 2 and b"Subject: pipelined" in stored[1]


def test_swaks_starttls_and_auth(node: SmtpNode) -> None:
    user = node.account()
    result = swaks("--port", str(node.ports["submission"]), "--tls", "--auth", "PLAIN", "--auth-user", user,
                   "--auth-password", PASSWORD, "--from", user, "--to", user, "--header", "Subject: tls+auth")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0" in result.stdout
    login = swaks("--port", str(node.ports["submission"]), "--tls", "--auth", "LOGIN", "--auth-user", user,
                  "--auth-password", PASSWORD, "--from", user, "--to", user, "--pipeline")
    assert login.returncode == 0, login.stdout + login.stderr
    refused = swaks("--port", str(node.ports["submission"]), "--auth", "PLAIN", "--auth-user", user,
                    "--auth-password", PASSWORD, "--from", user, "--to", user)
    assert refused.returncode != 0  # PLAIN without TLS from an untrusted address
    assert len(node.inbox(user)) == 2


def test_swaks_implicit_tls(node: SmtpNode) -> None:
    user = node.account()
    result = swaks("--port", str(node.ports["smtps"]), "--tls-on-connect", "--auth", "PLAIN", "--auth-user", user,
                   "--auth-password", PASSWORD, "--from", user, "--to", user)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(node.inbox(user)) == 1
