"""POP3 sessions against a real node: transcripts over a raw socket, and Python's poplib."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import poplib
import socket
import ssl
import time

import pytest
import scramp

from tests.imap.conftest import Wire
from tests.node_thread import ThreadedNode, free_port, node_config
from tests.pop3.conftest import PASSWORD, Pop3Node


def message(number: int, body: bytes = b"") -> bytes:
    return (b"From: sender@example.org\r\nTo: you@example.com\r\nSubject: message %d\r\n"
            b"Message-ID: <%d@example.org>\r\n\r\n" % (number, number)) + (body or b"body %d\r\n" % number)


class Raw:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self) -> bytes:
        raw = self.file.readline()
        assert raw.endswith(b"\r\n"), raw
        return raw[:-2]

    def ask(self, text: str | bytes) -> bytes:
        self.sock.sendall((text if isinstance(text, bytes) else text.encode()) + b"\r\n")
        return self.line()

    def lines(self) -> list[bytes]:
        out = []
        while (line := self.line()) != b".":
            out.append(line)
        return out

    def login(self, address: str, password: str = PASSWORD) -> bytes:
        assert self.ask(f"USER {address}").startswith(b"+OK")
        reply = self.ask(f"PASS {password}")
        assert reply.startswith(b"+OK"), reply
        return reply

    def close(self) -> None:
        self.sock.close()


def test_a_whole_session_with_poplib(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1), message(2, b".leading dot\r\n..two dots\r\nend\r\n"), message(3))
    client = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    assert client.getwelcome().startswith(b"+OK Polyport POP3")
    client.user(address)
    assert client.pass_(PASSWORD).startswith(b"+OK " + address.encode() + b" has 3 messages")
    sizes = [len(message(1)), len(message(2, b".leading dot\r\n..two dots\r\nend\r\n")), len(message(3))]
    assert client.stat() == (3, sum(sizes))
    _, listing, _ = client.list()
    assert listing == [b"%d %d" % (n, size) for n, size in enumerate(sizes, 1)]
    assert client.list(2).split()[1:] == [b"2", b"%d" % sizes[1]]  # type: ignore[attr-defined]
    _, ids, _ = client.uidl()
    assert [line.split()[0] for line in ids] == [b"1", b"2", b"3"]
    _, lines, _ = client.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == message(2, b".leading dot\r\n..two dots\r\nend\r\n")
    _, top, _ = client.top(1, 0)
    assert top[-1] == b"" and top[2] == b"Subject: message 1"
    assert client.dele(3).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(3)
    with pytest.raises(poplib.error_proto, match="no message 9"):
        client.retr(9)
    assert client.stat() == (2, sizes[0] + sizes[1])
    assert b"1 deleted" in client.quit()

    imap = imaplib.IMAP4("127.0.0.1", pop3_node.imap_port)
    imap.login(address, PASSWORD)
    imap.select("INBOX")
    _, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    fetched = [item for item in data if isinstance(item, tuple)]
    assert len(fetched) == 2
    assert b"\\Seen" not in fetched[0][0] and b"\\Seen" in fetched[1][0]  # RETR marks read at QUIT
    imap.logout()


def test_capabilities_before_and_after_login(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    client = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    before = client.capa()
    for name in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "SASL"):
        assert name in before, name
    assert "SCRAM-SHA-256" in before["SASL"] and "PLAIN" in before["SASL"]
    client.user(address)
    client.pass_(PASSWORD)
    after = client.capa()
    assert "USER" not in after and "SASL" not in after and "STLS" not in after and "UIDL" in after
    client.quit()


def test_wrong_password_says_auth_and_the_session_goes_on(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    raw = Raw(pop3_node.port)
    assert raw.ask(f"USER {address}").startswith(b"+OK")
    assert raw.ask("PASS wrong").startswith(b"-ERR [AUTH] ")
    assert raw.ask("PASS again") == b"-ERR USER comes first"
    assert raw.ask("STAT") == b"-ERR STAT is not allowed in the AUTHORIZATION state"
    raw.login(address)
    assert raw.ask("STAT") == b"+OK 0 0"
    assert raw.ask("USER x") == b"-ERR USER is not allowed in the TRANSACTION state"
    assert raw.ask("QUIT").startswith(b"+OK")
    raw.close()


def test_apop_uses_the_greetings_challenge(pop3_node: Pop3Node) -> None:
    recoverable = pop3_node.account(RecoverablePassword="YES")
    plain = pop3_node.account()
    raw = Raw(pop3_node.port)
    challenge = raw.greeting[raw.greeting.index(b"<"):].decode()

    def digest(password: str) -> str:
        return hashlib.md5((challenge + password).encode(), usedforsecurity=False).hexdigest()

    assert raw.ask(f"APOP {plain} {digest(PASSWORD)}").startswith(b"-ERR [AUTH]")
    assert raw.ask(f"APOP {recoverable} {digest('wrong')}").startswith(b"-ERR [AUTH]")
    assert raw.ask(f"APOP {recoverable} {digest(PASSWORD)}").startswith(b"+OK")
    raw.close()
    client = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    assert client.apop(recoverable, PASSWORD).startswith(b"+OK")
    client.quit()


def test_sasl_plain_with_and_without_initial_response(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    token = base64.b64encode(f"\0{address}\0{PASSWORD}".encode()).decode()
    raw = Raw(pop3_node.port)
    assert raw.ask("AUTH") == b"+OK mechanisms follow"
    assert set(raw.lines()) >= {b"PLAIN", b"SCRAM-SHA-256"}
    assert raw.ask("AUTH PLAIN") == b"+ "
    assert raw.ask("*") == b"-ERR authentication cancelled"
    assert raw.ask("AUTH PLAIN") == b"+ "
    assert raw.ask("not base64!") == b"-ERR the response is not base64"
    assert raw.ask("AUTH KERBEROS_V9").startswith(b"-ERR")
    assert raw.ask(f"AUTH PLAIN {token}").startswith(b"+OK")
    raw.close()
    raw = Raw(pop3_node.port)
    assert raw.ask("AUTH PLAIN") == b"+ "
    assert raw.ask(token).startswith(b"+OK")
    raw.close()


def test_sasl_scram_sha_256(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    client = scramp.ScramClient(["SCRAM-SHA-256"], address, PASSWORD)
    raw = Raw(pop3_node.port)
    first = base64.b64encode(client.get_client_first().encode()).decode()
    challenge = raw.ask(f"AUTH SCRAM-SHA-256 {first}")
    assert challenge.startswith(b"+ ")
    client.set_server_first(base64.b64decode(challenge[2:]).decode())
    final = raw.ask(base64.b64encode(client.get_client_final().encode()).decode())
    assert final.startswith(b"+ ")
    client.set_server_final(base64.b64decode(final[2:]).decode())  # raises if the server's proof is wrong
    assert raw.ask("").startswith(b"+OK")
    assert raw.ask("STAT") == b"+OK 0 0"
    raw.close()


def test_deletions_wait_for_quit_and_imap_sees_them_then(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1), message(2), message(3))
    imap = Wire(pop3_node.imap_port).login(address, PASSWORD)
    imap.ok("SELECT INBOX")

    dropped = Raw(pop3_node.port)
    dropped.login(address)
    assert dropped.ask("DELE 1") == b"+OK message 1 deleted"
    dropped.close()  # no QUIT: nothing changes
    time.sleep(0.2)
    assert imap.ok("NOOP") == []

    raw = Raw(pop3_node.port)
    raw.login(address)
    assert raw.ask("DELE 1").startswith(b"+OK") and raw.ask("DELE 3").startswith(b"+OK")
    assert raw.ask("RSET") == b"+OK maildrop has 3 messages"
    assert raw.ask("DELE 2").startswith(b"+OK")
    assert raw.ask("STAT") == b"+OK 2 %d" % (len(message(1)) + len(message(3)))
    assert imap.ok("NOOP") == []  # not yet
    assert raw.ask("QUIT") == b"+OK Polyport POP3 signing off (1 deleted, 2 left)"
    raw.close()
    assert imap.ok("NOOP") == [b"* 2 EXPUNGE"]
    assert imap.ok("SEARCH ALL") == [b"* SEARCH 1 2"]
    imap.close()


def test_uidl_ids_are_stable_across_sessions(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1), message(2), message(3))
    first = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    first.user(address)
    first.pass_(PASSWORD)
    ids = dict(line.split() for line in first.uidl()[1])
    first.dele(1)
    first.quit()
    pop3_node.deliver(address, message(4))
    second = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    second.user(address)
    second.pass_(PASSWORD)
    later = [line.split()[1] for line in second.uidl()[1]]
    assert later[:2] == [ids[b"2"], ids[b"3"]] and len(set(later)) == 3
    assert all(0x21 <= b <= 0x7E for uid in later for b in uid)
    second.quit()


def test_pipelined_commands_are_answered_in_order(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1), message(2))
    raw = Raw(pop3_node.port)
    raw.sock.sendall(f"USER {address}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 2\r\nNOOP\r\nQUIT\r\n".encode())
    assert raw.line().startswith(b"+OK")
    assert raw.line().startswith(b"+OK")
    assert raw.line() == b"+OK 2 %d" % (len(message(1)) + len(message(2)))
    assert raw.line() == b"+OK"
    assert len(raw.lines()) == 2
    assert raw.line().startswith(b"+OK")
    assert b"Subject: message 2" in raw.lines()
    assert raw.line() == b"+OK"
    assert raw.line().startswith(b"+OK")
    raw.close()


def test_bad_input_gets_an_error_and_the_session_goes_on(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    raw = Raw(pop3_node.port)
    for line, answer in [
        (b"FROB", b"-ERR unknown command"),
        (b"\x00\xff\xfe garbage", b"-ERR unknown command"),
        (b"USER a\x00b", b"-ERR the user name holds control characters"),
        (b"RETR 1", b"-ERR RETR is not allowed in the AUTHORIZATION state"),
        (b"NOOP " + b"x" * 20000, b"-ERR command line longer than 8192 octets"),
    ]:
        assert raw.ask(line) == answer, line
    raw.login(address)
    for line, answer in [
        (b"RETR 0", b"-ERR the message number starts at 1"),
        (b"RETR 1", b"-ERR no message 1 (the maildrop has 0)"),
        (b"TOP 1 x", b"-ERR the line count must be a number"),
        (b"LIST 4294967296", b"-ERR the message number is out of range"),
        (b"STLS", b"-ERR STLS is not allowed in the TRANSACTION state"),
    ]:
        assert raw.ask(line) == answer, line
    assert raw.ask("NOOP") == b"+OK"
    raw.close()


def test_failed_logins_are_throttled(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    raw = Raw(pop3_node.port)
    replies = []
    for _ in range(12):
        raw.ask(f"USER {address}")
        replies.append(raw.ask("PASS wrong"))
    raw.ask(f"USER {address}")
    final = raw.ask(f"PASS {PASSWORD}")
    raw.close()
    pop3_node.running.call(pop3_node.running.runtime.auth.throttle.clear())
    assert replies[0].startswith(b"-ERR [AUTH]")
    assert final.startswith(b"-ERR [SYS/TEMP]") and b"try again in" in final


def _context(pop3_node: Pop3Node) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pop3_node.cert)
    context.check_hostname = False  # the self-signed certificate names example.com, we dial 127.0.0.1
    return context


def test_stls_and_implicit_tls(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1))
    client = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    client.stls(_context(pop3_node))
    assert "STLS" not in client.capa()
    client.user(address)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 1
    client.quit()
    secure = poplib.POP3_SSL("127.0.0.1", pop3_node.tls_port, context=_context(pop3_node), timeout=10)
    assert "STLS" not in secure.capa()
    secure.user(address)
    secure.pass_(PASSWORD)
    assert secure.retr(1)[1][2] == b"Subject: message 1"
    secure.quit()


def test_plaintext_passwords_need_tls_from_untrusted_networks(tmp_path_factory: pytest.TempPathFactory) -> None:
    config = node_config(tmp_path_factory.mktemp("pop3-open"), "pop3", free_port(),
                         '[network]\ntrusted = ["10.0.0.0/8"]\n')
    running = ThreadedNode(config).start()
    try:
        node = Pop3Node(running)
        address = node.account()
        raw = Raw(node.port)
        raw.sock.sendall(b"CAPA\r\n")
        assert raw.line().startswith(b"+OK")
        capabilities = raw.lines()
        assert b"USER" not in capabilities and b"STLS" in capabilities
        assert all(b"PLAIN" not in c for c in capabilities if c.startswith(b"SASL"))
        assert raw.ask(f"USER {address}") == b"-ERR [AUTH] plaintext passwords need TLS first (STLS)"
        assert raw.ask("AUTH PLAIN =").startswith(b"-ERR [AUTH]")
        raw.close()
        client = poplib.POP3("127.0.0.1", node.port, timeout=10)
        client.stls(_context(node))
        client.user(address)
        assert client.pass_(PASSWORD).startswith(b"+OK")
        client.quit()
    finally:
        running.stop()


def test_a_message_expunged_elsewhere_during_the_session_says_so(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1), message(2))
    raw = Raw(pop3_node.port)
    raw.login(address)
    imap = Wire(pop3_node.imap_port).login(address, PASSWORD)
    imap.ok("SELECT INBOX")
    imap.ok("STORE 1 +FLAGS (\\Deleted)")
    imap.ok("EXPUNGE")
    imap.close()
    assert raw.ask("RETR 1") == b"-ERR [SYS/TEMP] message 1 is no longer there"
    assert raw.ask("RETR 2").startswith(b"+OK")
    assert b"Subject: message 2" in raw.lines()
    assert raw.ask("DELE 1").startswith(b"+OK") and raw.ask("QUIT").startswith(b"+OK")
    raw.close()


def test_bad_sasl_answers_get_an_error_and_the_session_goes_on(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    raw = Raw(pop3_node.port)
    assert raw.ask("AUTH PLAIN") == b"+ "
    assert raw.ask(b"A" * 40_000) == b"-ERR the response is too long"
    # SCRAM's last challenge (the server's signature) must be answered by an empty line.
    client = scramp.ScramClient(["SCRAM-SHA-256"], address, PASSWORD)
    first = base64.b64encode(client.get_client_first().encode()).decode()
    challenge = raw.ask(f"AUTH SCRAM-SHA-256 {first}")
    client.set_server_first(base64.b64decode(challenge[2:]).decode())
    assert raw.ask(base64.b64encode(client.get_client_final().encode()).decode()).startswith(b"+ ")
    assert raw.ask("Zm9v") == b"-ERR the answer to the last challenge must be empty"
    assert raw.ask("STAT") == b"-ERR STAT is not allowed in the AUTHORIZATION state"
    raw.login(address)
    assert raw.ask("STAT") == b"+OK 0 0"
    raw.close()


def test_a_client_vanishing_mid_auth_and_mid_retr_changes_nothing(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, message(1, b"x" * 3_000_000 + b"\r\n"))
    raw = Raw(pop3_node.port)
    assert raw.ask("AUTH PLAIN") == b"+ "
    raw.close()  # gone mid-exchange
    raw = Raw(pop3_node.port)
    raw.login(address)
    assert raw.ask("DELE 1").startswith(b"+OK")
    raw.sock.sendall(b"RETR 1\r\n")  # deleted: refused
    assert raw.line() == b"-ERR message 1 is deleted"
    assert raw.ask("RSET").startswith(b"+OK")
    raw.sock.sendall(b"RETR 1\r\n")
    assert raw.line().startswith(b"+OK")
    raw.close()  # gone mid-transfer, without QUIT
    time.sleep(0.2)
    client = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    client.user(address)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 1  # nothing was deleted, and the server still serves
    client.quit()
