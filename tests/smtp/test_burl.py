"""BURL (RFC 4468) on submission: advertised once authenticated, the data of a URLAUTH URL appended as a
BDAT chunk is (mixing with BDAT), BURL LAST delivering; its refusals (554 5.6.6, 5.7.0, 5.7.14, 503, 552)."""

from __future__ import annotations

import socket
import time

import pytest

from polyport.mailstore.imapurl import BadUrl
from tests.smtp.conftest import MAX_SIZE, Client, SmtpNode
from tests.smtp.test_session import plain

DRAFT = b"From: {sender}\r\nTo: {to}\r\nSubject: from a draft\r\n\r\nThe draft's text.\r\n"


def _draft(node: SmtpNode, address: str, data: bytes, access: str | None = None) -> str:
    """A message stored in the account's Drafts and a URL to it signed for `access` (submit+address)."""

    async def make() -> str:
        account = (await node.running.runtime.directory.account(address)).id
        await node.mailstore.ensure_defaults(account)
        uid = (await node.mailstore.append(account, "Drafts", data)).uid
        rump = (f"imap://{address.replace('@', '%40')}@example.com/Drafts/;UID={uid}"
                f";URLAUTH={access or 'submit+' + address.replace('@', '%40')}")
        return str(await node.mailstore.generate_url(account, rump))

    return str(node.call(make()))


def _submission(node: SmtpNode, address: str) -> Client:
    c = Client(node.submission)
    assert c.code("EHLO client.example") == 250
    c.starttls()
    code, lines = c.command("EHLO client.example")
    # RFC 4468 3: BURL alone before AUTH (it is there), its URL schemes once authenticated
    assert code == 250 and "BURL" in lines and "BURL imap" not in lines
    assert c.code(f"AUTH PLAIN {plain(address)}") == 235
    code, lines = c.command("EHLO client.example")
    assert "BURL imap" in lines
    return c


def test_burl_sends_a_draft(smtp_node: SmtpNode) -> None:
    sender, to = smtp_node.account(), smtp_node.account()
    data = DRAFT.replace(b"{sender}", sender.encode()).replace(b"{to}", to.encode())
    url = _draft(smtp_node, sender, data)
    c = _submission(smtp_node, sender)
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{to}>") == 250
    code, lines = c.command(f"BURL {url} LAST")
    assert code == 250, lines
    delivered = smtp_node.inbox(to)
    assert len(delivered) == 1 and delivered[0].endswith(data)
    c.close()


def test_burl_mixes_with_bdat(smtp_node: SmtpNode) -> None:
    sender, to = smtp_node.account(), smtp_node.account()
    body = b"Attached as it was in the draft.\r\n"
    url = _draft(smtp_node, sender, b"Subject: x\r\n\r\n" + body)
    text_url = url.replace(";URLAUTH=", "/;SECTION=TEXT;URLAUTH=").rsplit(":", 2)[0]
    text_url = str(smtp_node.call(_sign(smtp_node, sender, text_url)))
    head = f"From: {sender}\r\nTo: {to}\r\nSubject: mixed\r\n\r\n".encode()
    c = _submission(smtp_node, sender)
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{to}>") == 250
    c.send(b"BDAT %d\r\n" % len(head) + head)
    assert c.reply()[0] == 250
    assert c.command(f"BURL {text_url}") == (250, [f"2.5.0 {len(body)} octets appended"])
    c.send(b"BDAT 6 LAST\r\nBye.\r\n")
    assert c.reply()[0] == 250
    assert smtp_node.inbox(to)[-1].endswith(head + body + b"Bye.\r\n")
    c.close()


async def _sign(node: SmtpNode, address: str, rump: str) -> str:
    account = (await node.running.runtime.directory.account(address)).id
    return await node.mailstore.generate_url(account, rump)


def test_burl_refusals(smtp_node: SmtpNode) -> None:
    sender, to, other = smtp_node.account(), smtp_node.account(), smtp_node.account()
    url = _draft(smtp_node, sender, b"Subject: x\r\n\r\nx\r\n")
    theirs = _draft(smtp_node, other, b"Subject: y\r\n\r\ny\r\n")  # submit+other: not for sender
    c = _submission(smtp_node, sender)
    # Outside a transaction, and before a recipient.
    assert c.command(f"BURL {url} LAST")[0] == 503
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.command(f"BURL {url} LAST") == (554, ["5.5.1 no valid recipients"])
    assert c.code(f"RCPT TO:<{to}>") == 250
    assert c.command(f"BURL {theirs} LAST") == (
        554, ["5.6.6 IMAP URL resolution failed: the URL is not for this user"])
    # A failed BURL leaves the message without a piece: the transaction is refused until RSET.
    assert c.command(f"BURL {url} LAST")[0] == 503
    assert c.code("RSET") == 250
    for bad, reply in [
        (url[:-4] + "0000", (554, ["5.6.6 IMAP URL resolution failed: the URL's authorization does not verify"])),
        (url.rsplit(":", 2)[0].split(";URLAUTH=")[0],
         (554, ["5.7.0 the URL carries no URLAUTH authorization (GENURLAUTH it first)"])),
        ("https://example.com/draft", (554, ["5.7.14 URL resolution requires trust relationship: only this server's "
                                             "imap:// URLs"])),
    ]:
        assert c.code(f"MAIL FROM:<{sender}>") == 250
        assert c.code(f"RCPT TO:<{to}>") == 250
        assert c.command(f"BURL {bad} LAST") == reply, bad
        assert c.code("RSET") == 250
    assert c.command("BURL not-a-url") == (501, ["5.5.4 BURL <absolute URL> [LAST] expected"])
    assert smtp_node.inbox(to) == []
    c.close()


def test_burl_size_limit(smtp_node: SmtpNode) -> None:
    sender, to = smtp_node.account(), smtp_node.account()
    url = _draft(smtp_node, sender, b"Subject: big\r\n\r\n" + b"x" * (MAX_SIZE // 2) + b"\r\n")
    c = _submission(smtp_node, sender)
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{to}>") == 250
    assert c.code(f"BURL {url}") == 250
    assert c.command(f"BURL {url} LAST")[0] == 552
    c.close()


def test_burl_is_for_authenticated_submission(smtp_node: SmtpNode) -> None:
    sender = smtp_node.account()
    url = _draft(smtp_node, sender, b"Subject: x\r\n\r\nx\r\n")
    mx = Client(smtp_node.port)
    assert not any(line.startswith("BURL") for line in mx.command("EHLO client.example")[1])
    assert mx.command(f"BURL {url} LAST") == (502, ["5.5.1 BURL is available on the submission ports"])
    mx.close()
    anonymous = Client(smtp_node.submission)
    assert anonymous.code("EHLO client.example") == 250
    assert anonymous.command(f"BURL {url} LAST")[0] == 530
    anonymous.close()


def test_a_submit_url_is_for_the_submission_server_only(smtp_node: SmtpNode) -> None:
    from polyport.mailstore.urlauth import Requester

    sender = smtp_node.account()
    url = _draft(smtp_node, sender, b"Subject: x\r\n\r\nx\r\n")
    account = smtp_node.call(smtp_node.running.runtime.directory.account(sender)).id
    with pytest.raises(BadUrl):
        smtp_node.call(smtp_node.mailstore.fetch_url(url, Requester(account)))


def test_a_client_vanishing_after_a_burl_chunk_leaves_nothing(smtp_node: SmtpNode) -> None:
    sender, to = smtp_node.account(), smtp_node.account()
    url = _draft(smtp_node, sender, b"Subject: x\r\n\r\nx\r\n")
    c = _submission(smtp_node, sender)
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{to}>") == 250
    assert c.code(f"BURL {url}") == 250
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    # ... and after a BURL chunk, a BDAT LAST cut short.
    c = _submission(smtp_node, sender)
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    assert c.code(f"RCPT TO:<{to}>") == 250
    assert c.code(f"BURL {url}") == 250
    c.send(b"BDAT 1000 LAST\r\nonly part of")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.3)
    assert smtp_node.inbox(to) == []
