"""Sending a draft without uploading it again (RFC 4467 URLAUTH, RFC 4468 BURL), with Python's own clients:
imaplib APPENDs a draft and GENURLAUTHs a submit+user URL to it, smtplib hands that URL to submission with
BURL ... LAST, and the recipient finds the message in INBOX through imaplib. Then what must not work: a URL
after RESETKEY, an expired one, and another user's."""

from __future__ import annotations

import imaplib
import re
import smtplib
import ssl
from collections.abc import Iterator

import pytest

from tests.interop.conftest import PASSWORD, MailNode
from tests.node_thread import ThreadedNode, node_config

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

# imaplib sends only the commands it knows the states of; RFC 4467's are for the authenticated states.
URLAUTH_COMMANDS = {name: ("AUTH", "SELECTED") for name in ("GENURLAUTH", "RESETKEY", "URLFETCH")}


class Node(MailNode):
    """The interop MailNode, with submission over STARTTLS (the node trusts no loopback address here)."""

    def tls(self) -> ssl.SSLContext:
        """Trust the node's self-signed certificate (it names example.com, not 127.0.0.1)."""
        context = ssl.create_default_context(cafile=str(self.cert))
        context.check_hostname = False
        return context

    def submission(self, address: str) -> smtplib.SMTP:
        s = smtplib.SMTP("127.0.0.1", self.port("submission"), local_hostname="client.test", timeout=30)
        s.starttls(context=self.tls())
        s.ehlo()
        assert s.has_extn("burl") and s.esmtp_features["burl"] == ""  # its URL schemes only once authenticated
        s.login(address, PASSWORD)
        s.ehlo()
        assert s.esmtp_features["burl"] == "imap"
        return s


@pytest.fixture(autouse=True)
def urlauth_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, states in URLAUTH_COMMANDS.items():
        monkeypatch.setitem(imaplib.Commands, name, states)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data = tmp_path_factory.mktemp("burl-interop")
    running = ThreadedNode(node_config(data, "smtp", 0, '[network]\ntrusted = ["10.0.0.0/8"]\n')).start()
    yield Node(running, data)
    running.stop()


def draft(sender: str, to: str, subject: str) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nWritten once, sent from the draft.\r\n").encode()


def append_draft(client: imaplib.IMAP4, data: bytes) -> int:
    typ, detail = client.append("Drafts", "(\\Draft)", None, data)
    assert typ == "OK", detail
    found = re.search(rb"APPENDUID \d+ (\d+)", detail[0])
    assert found is not None, detail
    return int(found.group(1))


def genurlauth(client: imaplib.IMAP4, rump: str) -> str:
    typ, detail = client._simple_command("GENURLAUTH", f'"{rump}"', "INTERNAL")
    assert typ == "OK", detail
    typ, data = client._untagged_response(typ, detail, "GENURLAUTH")
    found = re.fullmatch(rb'"([^"]+)"', data[-1])
    assert found is not None, data
    return found.group(1).decode()


def rump_for(address: str, uid: int, tail: str = "") -> str:
    user = address.replace("@", "%40")
    return f"imap://{user}@example.com/Drafts/;UID={uid}{tail};URLAUTH=submit+{user}"


def burl(s: smtplib.SMTP, sender: str, to: str, url: str) -> tuple[int, bytes]:
    assert s.mail(sender)[0] == 250
    assert s.rcpt(to)[0] == 250
    reply = s.docmd("BURL", url + " LAST")
    if reply[0] != 250:
        assert s.rset()[0] == 250
    return reply


def inbox_subjects(node: Node, address: str) -> list[bytes]:
    client = node.imap(address)
    typ, exists = client.select("INBOX", readonly=True)
    assert typ == "OK"
    if exists == [b"0"]:
        client.logout()
        return []
    typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    client.logout()
    return [item[1].strip() for item in data if isinstance(item, tuple)]


def test_a_draft_is_sent_by_reference(node: Node) -> None:
    sender, to = node.account(), node.account()
    imap = node.imap(sender)
    typ, caps = imap.capability()
    assert typ == "OK" and b"URLAUTH" in caps[0].split()
    data = draft(sender, to, "by-reference")
    uid = append_draft(imap, data)
    url = genurlauth(imap, rump_for(sender, uid))
    imap.logout()
    with node.submission(sender) as s:
        code, text = burl(s, sender, to, url)
        assert code == 250, text
    recipient = node.imap(to)
    typ, _ = recipient.select("INBOX", readonly=True)
    assert typ == "OK"
    typ, fetched = recipient.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    item = fetched[0]
    assert isinstance(item, tuple)
    assert item[1].endswith(data)  # the draft as stored, after the Received field submission adds
    recipient.logout()


def test_what_does_not_send(node: Node) -> None:
    sender, to, other = node.account(), node.account(), node.account()
    imap = node.imap(sender)
    uid = append_draft(imap, draft(sender, to, "refused"))
    reset = genurlauth(imap, rump_for(sender, uid))
    typ, detail = imap._simple_command("RESETKEY", "Drafts")
    assert typ == "OK", detail
    expired = genurlauth(imap, rump_for(sender, uid).replace(";URLAUTH=", ";EXPIRE=2001-01-01T00:00:00Z;URLAUTH="))
    for_other = genurlauth(imap, rump_for(sender, uid).replace("submit+" + sender.replace("@", "%40"),
                                                               "submit+" + other.replace("@", "%40")))
    fresh = genurlauth(imap, rump_for(sender, uid))
    imap.logout()
    with node.submission(sender) as s:
        for url, why in [(reset, b"does not verify"), (expired, b"has expired"), (for_other, b"not for this user")]:
            code, text = burl(s, sender, to, url)
            assert (code, text.split(b" ", 1)[0]) == (554, b"5.6.6"), (url, text)
            assert why in text
    # The other user may not send it either, though it names them as submitter and sender alike.
    with node.submission(other) as s:
        code, text = burl(s, other, to, fresh)
        assert code == 554 and b"not for this user" in text
    assert inbox_subjects(node, to) == []
    with node.submission(sender) as s:
        assert burl(s, sender, to, fresh)[0] == 250
    assert inbox_subjects(node, to) == [b"Subject: refused"]
