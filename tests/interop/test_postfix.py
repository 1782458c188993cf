"""A real Postfix on loopback as the remote MTA, both ways: Polyport's queue delivers to it (it stores
into a Maildir), and it relays mail for a Polyport domain into Polyport. The Postfix instance is private
to the test (its own config, queue and port, `postfix -c`); CI installs Debian's postfix (.ci/run)."""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyport.config import ServiceSettings
from tests.dnsfixture import DnsFixture
from tests.interop.conftest import need_binary
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.queue.test_queue import wait_for
from tests.smtp.conftest import PASSWORD, SmtpNode, client_tls

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


class PrivatePostfix:
    def __init__(self, folder: Path, port: int, relay_domain: str, relay_port: int, local_domain: str,
                 lmtp_domain: str, lmtp_socket: Path) -> None:
        self.folder, self.port = folder, port
        self.conf = folder / "etc"
        self.mail = folder / "mail"
        for sub in (self.conf, self.mail, folder / "spool", folder / "data"):
            sub.mkdir(parents=True, exist_ok=True)
        owner = pwd.getpwnam("postfix")
        for sub in (self.mail, folder / "data"):
            os.chown(sub, owner.pw_uid, owner.pw_gid)
        # The package's own master.cf template (Debian ships it whatever the debconf answers were).
        master = [line for line in Path("/usr/share/postfix/master.cf.dist").read_text().splitlines()
                  if not line.startswith("smtp      inet")]
        # No chroot: the private instance has no copy of /etc and libraries in its spool.
        master = [" ".join(p if i != 4 or p != "y" else "n" for i, p in enumerate(line.split()))
                  if line and not line.startswith((" ", "#", "\t")) else line for line in master]
        master.append(f"127.0.0.1:{port} inet n - n - - smtpd")
        (self.conf / "master.cf").write_text("\n".join(master) + "\n")
        (self.conf / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {folder / "spool"}
data_directory = {folder / "data"}
meta_directory = /etc/postfix
mail_owner = postfix
myhostname = postfix.test
mydomain = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relay_domains = {relay_domain}, {lmtp_domain}
transport_maps = inline:{{ {relay_domain}=smtp:[127.0.0.1]:{relay_port}, {lmtp_domain}=lmtp:unix:{lmtp_socket} }}
virtual_mailbox_domains = {local_domain}
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
alias_maps =
alias_database =
smtp_dns_support_level = disabled
smtp_tls_security_level = may
smtp_tls_loglevel = 1
maillog_file = {folder / "maillog"}
maillog_file_prefixes = {folder}
config_directory = {self.conf}
""")
        self._postfix("set-permissions", "create-missing")
        self._postfix("start")

    def _postfix(self, *args: str) -> None:
        result = subprocess.run(["postfix", "-c", str(self.conf), *args], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    def maildir(self) -> list[bytes]:
        new = self.mail / "box" / "new"
        return [p.read_bytes() for p in sorted(new.glob("*"))] if new.exists() else []

    def log(self) -> str:
        path = self.folder / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.conf), "abort"], capture_output=True, timeout=30, check=False)


class Setup:
    def __init__(self, node: SmtpNode, postfix: PrivatePostfix) -> None:
        self.node, self.postfix = node, postfix


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    need_binary("postfix")
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance needs root (CI runs as root)")
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        pytest.skip("no postfix user: Debian's postfix package is not installed")
    # Postfix's daemons run as the postfix user and must reach their folders: not under pytest's
    # root-only temporary folder.
    folder = Path(tempfile.mkdtemp(prefix="polyport-postfix-"))
    folder.chmod(0o755)
    dns = DnsFixture()
    dns.add("pf.test", "MX", "10 mx.pf.test.")
    dns.add("mx.pf.test", "A", "127.0.0.1")
    postfix_port, polyport_port = free_port(), free_port()
    config = node_config(folder / "polyport", "smtp", polyport_port, f"[queue]\nremote_port = {postfix_port}\n",
                         dns=dns.server)
    lmtp_socket = folder / "lmtp.sock"
    config.services["lmtp"] = ServiceSettings(ports=[0], enabled=True, socket=str(lmtp_socket))
    running = ThreadedNode(config).start()
    lmtp_socket.chmod(0o666)  # the postfix user connects (an admin would give it the socket's group)
    node = SmtpNode(running)
    running.call(running.runtime.directory.create_domain("pp.test"))
    running.call(running.runtime.directory.create_domain("lmtp.test"))
    postfix = PrivatePostfix(folder / "pf", postfix_port, "pp.test", polyport_port, "pf.test", "lmtp.test",
                             lmtp_socket)
    yield Setup(node, postfix)
    postfix.stop()
    running.stop()
    dns.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_polyport_delivers_to_postfix(setup: Setup) -> None:
    user = setup.node.account("alice")
    with smtplib.SMTP_SSL("127.0.0.1", setup.node.smtps, context=client_tls()) as s:
        s.login(user, PASSWORD)
        assert s.sendmail(user, ["bob@pf.test"], f"From: <{user}>\r\nTo: <bob@pf.test>\r\nSubject: to postfix\r\n"
                          f"Message-ID: <pf1@example.com>\r\n\r\nHello Postfix.\r\n".encode()) == {}
    [stored] = wait_for(lambda: setup.postfix.maildir(), timeout=30, what=f"Postfix's Maildir\n{setup.postfix.log()}")
    assert b"Subject: to postfix" in stored and b"Hello Postfix." in stored
    assert b"DKIM-Signature: v=1; a=ed25519-sha256;" in stored  # signed on the way out
    assert b"by postfix.test (Postfix)" in stored and b"(Polyport)" in stored


def test_postfix_relays_into_polyport(setup: Setup) -> None:
    carol = "carol@pp.test"
    setup.node.call(setup.node.running.runtime.directory.create_account(carol, password=PASSWORD))
    with smtplib.SMTP("127.0.0.1", setup.postfix.port) as s:
        assert s.sendmail("someone@pf.test", [carol], b"From: <someone@pf.test>\r\nSubject: via postfix\r\n\r\n"
                          b"Relayed.\r\n.leading dot\r\n") == {}
    [stored] = wait_for(lambda: setup.node.inbox(carol), timeout=30, what=f"Polyport's INBOX\n{setup.postfix.log()}")
    assert b"Subject: via postfix" in stored and stored.endswith(b"Relayed.\r\n.leading dot\r\n")
    assert b"by postfix.test (Postfix)" in stored.replace(b"\r\n\t", b" ")
    # Postfix used STARTTLS with us (its smtp_tls_security_level is "may").
    assert "TLS connection established to 127.0.0.1" in setup.postfix.log() or b"ESMTPS" in stored


def test_postfix_hands_mail_over_lmtp_on_a_unix_socket(setup: Setup) -> None:
    dora = "dora@lmtp.test"
    setup.node.call(setup.node.running.runtime.directory.create_account(dora, password=PASSWORD))
    with smtplib.SMTP("127.0.0.1", setup.postfix.port) as s:
        assert s.sendmail("someone@pf.test", [dora], b"From: <someone@pf.test>\r\nSubject: over lmtp\r\n\r\n"
                          b"Local hand-over.\r\n") == {}
    [stored] = wait_for(lambda: setup.node.inbox(dora), timeout=30, what=f"Polyport's INBOX\n{setup.postfix.log()}")
    assert b"Subject: over lmtp" in stored and b"with LMTP" in stored.replace(b"\r\n\t", b" ")
