"""fetchmail over POP3, STLS on the plain port and implicit TLS (995), checking the node's certificate,
delivering each message to an MDA that writes it to a file; and over IMAP, which fetchmail also speaks.

Leaving mail on the server (`keep`, `uidl` with an id file): every message arrives intact, a second run
fetches nothing, a third (after some were expunged through IMAP) fetches only what came since, and IMAP
still sees the rest, unread (fetchmail reads kept messages with TOP, which leaves them so).
Without `keep`: every message arrives and the INBOX is empty afterwards, as IMAP sees it (POP3 removes at
QUIT)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import PASSWORD, MailNode, message, message_id, need_binary, server_state, uids

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

SERVICES = ["pop3", "pop3s"]  # STLS on the plain port, and implicit TLS


def odd_messages(tag: str) -> list[bytes]:
    """Messages that test the transfer: lines that POP3 dot-stuffs, 8-bit UTF-8 text, a 300 kB one, and plain ones."""
    eight_bit = (f"From: J\u00fcrgen <jurgen@example.org>\r\nTo: bob@example.com\r\n"
                 f"Subject: Gr\u00fc\u00dfe aus K\u00f6ln\r\nMessage-ID: <{tag}-1@interop.test>\r\n"
                 f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 f"Content-Transfer-Encoding: 8bit\r\n\r\n"
                 f"Stra\u00dfe, \u00e9t\u00e9, \u65e5\u672c\u8a9e\r\n").encode()
    big_body = b"".join(b"%06d " % n + b"x" * 90 + b"\r\n" for n in range(3000))
    return [
        message(0, tag=tag) + b".\r\n..two dots\r\n.\r\n.. \r\nFrom the start of a line\r\n",
        eight_bit,
        message(2, "A long one", tag=tag) + big_body,
        *(message(n, tag=tag) for n in range(3, 12)),
    ]


class Fetchmail:
    def __init__(self, node: MailNode, home: Path, address: str, service: str, keep: bool,
                 login: str = "protocol pop3 uidl auth password") -> None:
        """`service`: pop3 or imap (STLS/STARTTLS, required), pop3s or imaps (implicit TLS)."""
        self.binary = need_binary("fetchmail")
        self.home = home
        self.delivered = home / "delivered"
        self.delivered.mkdir(parents=True)
        tls = ("ssl" if service.endswith("s") else "") + " sslproto 'TLS1.2+'"
        port = node.port(service)
        self.rc = home / "fetchmailrc"
        # The node's certificate names example.com and fetchmail connects to 127.0.0.1: name the expected host
        # (fetchmail then checks both the chain, against the node's certificate, and that name).
        self.rc.write_text(f"""\
set no syslog
set invisible
set idfile "{home}/fetchids"
poll 127.0.0.1 with service {port} {login}
    user "{address}" there with password "{PASSWORD}"
    {"keep" if keep else "no keep"}
    {tls} sslcertck sslcertfile "{node.cert}" sslcommonname "example.com"
    mda "cat > $(mktemp {self.delivered}/msg.XXXXXX)"
""")
        self.rc.chmod(0o600)  # fetchmail refuses a readable file that holds a password

    def run(self) -> tuple[int, str]:
        # No USER or LOGNAME: fetchmail run as root would look that user up to run the MDA as.
        env = {"HOME": str(self.home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        done = subprocess.run([self.binary, "-v", "-f", str(self.rc), "--pidfile", str(self.home / "pid")],
                              capture_output=True, text=True, timeout=60, env=env, check=False)
        return done.returncode, done.stdout + done.stderr

    def fetched(self) -> dict[str, bytes]:
        """Message-ID -> bytes of every delivered message; each file is then removed."""
        found = {}
        for path in sorted(self.delivered.iterdir()):
            data = path.read_bytes()
            found[message_id(data)] = data
            path.unlink()
        return found


def as_delivered(data: bytes) -> bytes:
    """A message as fetchmail hands it to an MDA: LF line ends."""
    return data.replace(b"\r\n", b"\n")


def assert_transport(output: str, service: str) -> None:
    """fetchmail -v logs each command: STLS (STARTTLS) on the plain port, none on the TLS one; UIDL on POP3."""
    if service.startswith("pop3"):
        assert ("POP3> STLS" in output) == (service == "pop3"), output
        assert "POP3> UIDL" in output, output
    else:
        assert (re.search(r"IMAP> A\d+ STARTTLS", output) is not None) == (service == "imap"), output


@pytest.mark.parametrize("service", SERVICES)
def test_keep_fetches_each_message_once(mail_node: MailNode, tmp_path: Path, service: str) -> None:
    address = mail_node.account()
    first = odd_messages("kept")
    mail_node.seed(address, "INBOX", first)
    fetchmail = Fetchmail(mail_node, tmp_path, address, service, keep=True)

    code, output = fetchmail.run()
    assert code == 0, output
    assert_transport(output, service)
    assert fetchmail.fetched() == {message_id(m): as_delivered(m) for m in first}, output

    code, output = fetchmail.run()
    assert code == 1, output  # 1: no mail to fetch
    assert fetchmail.fetched() == {}

    # Two messages go through IMAP and three arrive: message numbers shift, UIDL ids do not, so only the three
    # new ones are fetched.
    client = mail_node.imap(address)
    try:
        inbox = uids(client, "INBOX")
        gone = [message_id(first[0]), message_id(first[5])]
        typ, data = client.uid("STORE", ",".join(inbox[i] for i in gone), "+FLAGS.SILENT", "(\\Deleted)")
        assert typ == "OK", data
        typ, data = client.expunge()
        assert typ == "OK", data
        client.close()
        later = [message(n, tag="kept-later") for n in range(3)]
        mail_node.seed(address, "INBOX", later)
        code, output = fetchmail.run()
        assert code == 0, output
        assert fetchmail.fetched() == {message_id(m): as_delivered(m) for m in later}, output

        # With `keep` fetchmail reads with TOP n 99999999, not RETR, so as to leave the messages unread.
        assert server_state(client, "INBOX") == {message_id(m): set() for m in first + later
                                                 if message_id(m) not in gone}
    finally:
        client.logout()


@pytest.mark.parametrize("service", SERVICES)
def test_without_keep_the_inbox_is_emptied(mail_node: MailNode, tmp_path: Path, service: str) -> None:
    address = mail_node.account()
    messages = odd_messages("taken")
    mail_node.seed(address, "INBOX", messages)
    fetchmail = Fetchmail(mail_node, tmp_path, address, service, keep=False)
    client = mail_node.imap(address)
    try:
        # An IMAP session watching the INBOX meanwhile learns of POP3's removals.
        typ, data = client.select("INBOX")
        assert typ == "OK" and data == [str(len(messages)).encode()], data

        code, output = fetchmail.run()
        assert code == 0, output
        assert_transport(output, service)
        assert fetchmail.fetched() == {message_id(m): as_delivered(m) for m in messages}, output

        typ, done = client.noop()
        assert typ == "OK", done
        typ, expunged = client.response("EXPUNGE")
        assert len(expunged) == len(messages), expunged
        client.close()
        assert server_state(client, "INBOX") == {}
    finally:
        client.logout()

    code, output = fetchmail.run()
    assert code == 1, output
    assert fetchmail.fetched() == {}


def test_apop_login(mail_node: MailNode, tmp_path: Path) -> None:
    """APOP (RFC 1939 section 7), for an account whose password the server can recover."""
    address = mail_node.account(RecoverablePassword="YES")
    messages = [message(n, tag="apop") for n in range(3)]
    mail_node.seed(address, "INBOX", messages)
    fetchmail = Fetchmail(mail_node, tmp_path, address, "pop3", keep=False, login="protocol apop")
    code, output = fetchmail.run()
    assert code == 0, output
    assert "POP3> APOP " in output and "POP3> PASS" not in output, output
    assert fetchmail.fetched() == {message_id(m): as_delivered(m) for m in messages}, output


@pytest.mark.parametrize(("service", "keep"), [("imaps", False), ("imap", True)])
def test_over_imap(mail_node: MailNode, tmp_path: Path, service: str, keep: bool) -> None:
    """fetchmail speaks IMAP too: SEARCH UNSEEN, FETCH RFC822.HEADER and BODY.PEEK[TEXT] by message number, then
    STORE \\Seen (kept) or \\Seen \\Deleted and EXPUNGE after each message."""
    address = mail_node.account()
    messages = odd_messages("imap")
    mail_node.seed(address, "INBOX", messages)
    fetchmail = Fetchmail(mail_node, tmp_path, address, service, keep=keep, login="protocol imap auth password")

    code, output = fetchmail.run()
    assert code == 0, output
    assert_transport(output, service)
    assert fetchmail.fetched() == {message_id(m): as_delivered(m) for m in messages}, output
    code, output = fetchmail.run()
    assert code == 1, output
    assert fetchmail.fetched() == {}

    client = mail_node.imap(address)
    try:
        expected = {message_id(m): {"\\Seen"} for m in messages} if keep else {}
        assert server_state(client, "INBOX") == expected
    finally:
        client.logout()


def test_fetchmail_refuses_an_untrusted_certificate(mail_node: MailNode, tmp_path: Path) -> None:
    """Without the node's certificate as a trust anchor fetchmail must stop: the runs above really checked it."""
    address = mail_node.account()
    mail_node.seed(address, "INBOX", [message(0, tag="untrusted")])
    fetchmail = Fetchmail(mail_node, tmp_path, address, "pop3s", keep=True)
    fetchmail.rc.write_text(fetchmail.rc.read_text().replace(f'sslcertfile "{mail_node.cert}"', ""))
    code, output = fetchmail.run()
    assert code not in (0, 1), output
    assert "certificate verify failed" in output, output
    assert fetchmail.fetched() == {}
