"""Python's imaplib against Polyport: every extension the server offers, through imaplib's own commands where
it has them (login, starttls, authenticate, enable, namespace, select, fetch, store, uid, sort, thread,
getquotaroot, unselect...) and through its generic command path (`_simple_command`, `xatom`) where it has
none (ESEARCH, SEARCHRES, LIST-EXTENDED, CREATE-SPECIAL-USE, COMPRESS, IDLE on Python 3.11)."""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
import scramp

from tests.imap.support import Deflated, message
from tests.interop.conftest import PASSWORD, MailNode
from tests.node_thread import ThreadedNode, free_port, node_config

pytestmark = pytest.mark.interop


def ok(result: tuple[str, Any]) -> list[Any]:
    typ, data = result
    assert typ == "OK", data
    return list(data)


def untagged(client: imaplib.IMAP4, name: str, *, keep: bool = False) -> list[Any]:
    """The untagged responses (or response codes) of a kind that imaplib collected."""
    found = client.untagged_responses.get(name, []) if keep else client.untagged_responses.pop(name, [])
    return list(found)


def plain_client(mail_node: MailNode) -> imaplib.IMAP4:
    return imaplib.IMAP4("127.0.0.1", mail_node.port("imap"), timeout=30)


def tls_context(mail_node: MailNode) -> ssl.SSLContext:
    """Trusts the node's certificate; imaplib connects to 127.0.0.1, the certificate names example.com."""
    context = ssl.create_default_context(cafile=str(mail_node.cert))
    context.check_hostname = False
    return context


def tls_client(mail_node: MailNode) -> imaplib.IMAP4_SSL:
    return imaplib.IMAP4_SSL("127.0.0.1", mail_node.port("imaps"), ssl_context=tls_context(mail_node), timeout=30)


def capabilities(client: imaplib.IMAP4) -> set[str]:
    """What the server offers now (imaplib keeps the list it read before login)."""
    line = ok(client.capability())[-1]  # also holds the code of the login's OK, when there was one
    assert isinstance(line, bytes)
    return set(line.decode().upper().split())


def logged_in(mail_node: MailNode) -> tuple[imaplib.IMAP4, str]:
    address = mail_node.account()
    client = plain_client(mail_node)
    ok(client.login(address, PASSWORD))
    return client, address


def deliver(mail_node: MailNode, address: str, data: bytes, mailbox: str = "INBOX",
            flags: tuple[str, ...] = ()) -> None:
    mail_node.seed(address, mailbox, [data], flags)


# -- connecting and logging in -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailNode]:
    data = tmp_path_factory.mktemp("imaplib-untrusted")
    running = ThreadedNode(node_config(data, "imap", free_port(), '[network]\ntrusted = ["10.0.0.0/8"]\n')).start()
    yield MailNode(running, data)
    running.stop()


def test_starttls_after_logindisabled(untrusted: MailNode) -> None:
    address = untrusted.account()
    client = plain_client(untrusted)
    assert "LOGINDISABLED" in client.capabilities and "STARTTLS" in client.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        client.login(address, PASSWORD)
    ok(client.starttls(ssl_context=tls_context(untrusted)))
    assert "LOGINDISABLED" not in client.capabilities and "AUTH=PLAIN" in client.capabilities
    ok(client.login(address, PASSWORD))
    assert "MOVE" in capabilities(client)
    ok(client.select("INBOX"))
    client.logout()


def test_implicit_tls_and_authenticate_plain(mail_node: MailNode) -> None:
    address = mail_node.account()
    client = tls_client(mail_node)
    ok(client.authenticate("PLAIN", lambda _: f"\0{address}\0{PASSWORD}".encode()))
    assert client.state == "AUTH"
    ok(client.select("INBOX"))
    client.logout()


def test_authenticate_scram_sha_256(mail_node: MailNode) -> None:
    address = mail_node.account()
    client = plain_client(mail_node)
    scram = scramp.ScramClient(["SCRAM-SHA-256"], address, PASSWORD)
    steps = iter([
        lambda _: scram.get_client_first().encode(),
        lambda challenge: (scram.set_server_first(challenge.decode()), scram.get_client_final().encode())[1],
        lambda challenge: (scram.set_server_final(challenge.decode()), b"")[1],  # checks the server's proof
    ])
    ok(client.authenticate("SCRAM-SHA-256", lambda challenge: next(steps)(challenge)))
    ok(client.select("INBOX"))
    client.logout()


def test_sasl_ir(mail_node: MailNode) -> None:
    """RFC 4959: the initial response on the command line, no round trip."""
    address = mail_node.account()
    client = plain_client(mail_node)
    initial = base64.b64encode(f"\0{address}\0{PASSWORD}".encode()).decode()
    ok(client._simple_command("AUTHENTICATE", "PLAIN", initial))
    client.state = "AUTH"
    ok(client.select("INBOX"))
    client.logout()


def test_wrong_password(mail_node: MailNode) -> None:
    address = mail_node.account()
    client = plain_client(mail_node)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(address, "wrong")
    client.logout()


def test_id_enable_namespace(mail_node: MailNode) -> None:
    client, _ = logged_in(mail_node)
    typ, data = client.xatom("ID", '("name" "imaplib")')
    assert typ == "OK"
    assert untagged(client, "ID", keep=True)[0].startswith(b'("name" "Polyport"')
    ok(client.enable("CONDSTORE"))
    assert untagged(client, "ENABLED") == [b"CONDSTORE"]
    data = ok(client.namespace())
    assert data[0].startswith(b'(("" "/"))')
    client.logout()


# -- mailboxes ------------------------------------------------------------------------------------------------

def test_mailboxes_list_extended_status_special_use(mail_node: MailNode) -> None:
    client, address = logged_in(mail_node)
    deliver(mail_node, address, message("one"))
    ok(client.create("Projects/2024"))
    ok(client._simple_command("CREATE", "Spam", "(USE (\\Junk))"))  # CREATE-SPECIAL-USE
    names = set(ok(client.list()))
    assert b'(\\HasChildren) "/" Projects' in names and b'(\\HasNoChildren \\Junk) "/" Spam' in names
    # LIST-EXTENDED with LIST-STATUS and STATUS=SIZE.
    typ, data = client._simple_command("LIST", "(SPECIAL-USE)", '""', "*", "RETURN", "(STATUS (MESSAGES SIZE))")
    assert typ == "OK"
    special = client._untagged_response(typ, data, "LIST")[1]
    assert b'(\\HasNoChildren \\Sent) "/" Sent' in special and all(b"INBOX" not in s for s in special)
    status = untagged(client, "STATUS")
    assert b"Sent (MESSAGES 0 SIZE 0)" in status
    typ, data = client._simple_command("LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES SIZE))")
    client._untagged_response(typ, data, "LIST")
    assert untagged(client, "STATUS") == [b"INBOX (MESSAGES 1 SIZE %d)" % len(message("one"))]
    (line,) = ok(client.status("INBOX", "(MESSAGES UNSEEN SIZE HIGHESTMODSEQ MAILBOXID APPENDLIMIT)"))
    assert re.fullmatch(rb"INBOX \(MESSAGES 1 UNSEEN 1 SIZE \d+ HIGHESTMODSEQ \d+ MAILBOXID \(M\d+\) "
                        rb"APPENDLIMIT \d+\)", line)
    ok(client.rename("Projects", "Work"))
    ok(client.subscribe("Work"))
    assert b'() "/" Work' in ok(client.lsub('""', "Work"))
    ok(client.delete("Work/2024"))
    ok(client.unsubscribe("Work"))
    client.logout()


def test_quota(mail_node: MailNode) -> None:
    client, address = logged_in(mail_node)
    mail_node.running.call(mail_node.running.runtime.directory.update_account_settings(
        address, {"MaxAccountSize": "1M"}))
    typ, data = client.getquotaroot("INBOX")
    assert typ == "OK"
    assert data == [[b'INBOX ""'], [b'"" (STORAGE 0 1024)']]
    client.logout()


# -- messages -------------------------------------------------------------------------------------------------

MULTIPART = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: parts\r\n"
    b"Message-ID: <parts@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Caf=C3=A9\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAEC\r\n--b--\r\n")


def test_append_fetch_store_copy_move_expunge(mail_node: MailNode) -> None:
    client, _ = logged_in(mail_node)
    assert any(c.startswith("APPENDLIMIT=") for c in capabilities(client))
    appended = ok(client.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), MULTIPART))
    assert appended[0].startswith(b"[APPENDUID ")
    ok(client.append("INBOX", None, None, message("second")))
    assert ok(client.select("INBOX")) == [b"2"]  # the first SELECT since the APPENDs: both are \Recent to it
    data = ok(client.fetch("1", "(FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)"))
    assert b"FLAGS (\\Flagged \\Recent)" in data[0]
    assert b'"parts" (("Alice" NIL "alice" "example.org"))' in data[0]
    data = ok(client.fetch("1", "(BODY.PEEK[1] BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2])"))
    literals = [item[1] for item in data if isinstance(item, tuple)]
    assert literals == [b"Caf=C3=A9", "Café".encode(), b"\x00\x01\x02"]
    data = ok(client.fetch("2", "(BODY[TEXT])"))
    assert data[0][1] == b"Hi there.\r\n"
    assert b"\\Seen" in ok(client.fetch("2", "(FLAGS)"))[0]
    data = ok(client.store("1:2", "+FLAGS", "(\\Answered)"))
    assert len(data) == 2
    ok(client.uid("COPY", "1", "Archive"))
    (copyuid,) = untagged(client, "COPYUID")
    assert re.fullmatch(rb"\d+ 1 1", copyuid)  # UIDVALIDITY, source UIDs, target UIDs
    typ, data = client.uid("MOVE", "2", "Trash")
    assert typ == "OK"
    assert untagged(client, "EXPUNGE") == [b"2"]
    ok(client.store("1", "+FLAGS", "(\\Deleted)"))
    ok(client.uid("EXPUNGE", "1"))  # UIDPLUS
    assert untagged(client, "EXPUNGE") == [b"1"]
    ok(client.unselect())
    assert ok(client.status("Trash", "(MESSAGES)")) == [b"Trash (MESSAGES 1)"]
    client.logout()


def test_append_is_not_held_by_nagle_and_delayed_acks(mail_node: MailNode) -> None:
    """imaplib writes a literal and the line end after it in two writes: Nagle holds the line end until the
    literal is acknowledged, and Linux delays that ACK by 40 ms where nothing of the server's carries it.
    The server acknowledges at once when it waits for the rest of a command (TCP_QUICKACK), as Dovecot
    does: each APPEND took 44 ms before, 1 ms after."""
    client, _ = logged_in(mail_node)
    body = message("nagle") + b"a line of text in the body of the message\r\n" * 90
    took = []
    for _ in range(15):
        started = time.perf_counter()
        ok(client.append("INBOX", None, None, body))
        took.append(time.perf_counter() - started)
    client.logout()
    assert sorted(took)[len(took) // 2] < 0.030, took


def test_search_sort_thread(mail_node: MailNode) -> None:
    client, address = logged_in(mail_node)
    deliver(mail_node, address, message("Plans", message_id="<a@x>", date="Mon, 7 Feb 1994 10:00:00 +0000"))
    deliver(mail_node, address, message("Re: Plans", message_id="<b@x>", date="Tue, 8 Feb 1994 10:00:00 +0000",
                                        headers=["In-Reply-To: <a@x>"]), flags=("\\Seen",))
    deliver(mail_node, address, message("Café", date="Wed, 9 Feb 1994 10:00:00 +0000", body="Grüße\r\n"))
    ok(client.select("INBOX"))
    assert ok(client.search(None, "UNSEEN")) == [b"1 3"]
    client.literal = "grüße".encode()  # type: ignore[assignment]  # imaplib sends its literal last
    assert ok(client.search("UTF-8", "BODY")) == [b"3"]
    assert ok(client.uid("SEARCH", "SENTBEFORE 9-Feb-1994")) == [b"1 2"]
    # ESEARCH and SEARCHRES.
    ok(client._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT SAVE)", "ALL"))
    assert untagged(client, "ESEARCH")[0].endswith(b"MIN 1 MAX 3 COUNT 3")
    assert [item for item in ok(client.fetch("$", "(UID)"))] == [b"1 (UID 1)", b"2 (UID 2)", b"3 (UID 3)"]
    assert ok(client.sort("(REVERSE DATE)", "UTF-8", "ALL")) == [b"3 2 1"]
    assert ok(client.thread("REFERENCES", "UTF-8", "ALL")) == [b"(1 2)(3)"]
    assert ok(client.thread("ORDEREDSUBJECT", "UTF-8", "ALL")) == [b"(1 2)(3)"]
    client.logout()


def test_condstore_and_qresync(mail_node: MailNode) -> None:
    client, address = logged_in(mail_node)
    for number in range(3):
        deliver(mail_node, address, message(f"m{number}"))
    ok(client.enable("QRESYNC"))
    ok(client.select("INBOX"))
    validity = int(untagged(client, "UIDVALIDITY", keep=True)[0])
    modseq = int(untagged(client, "HIGHESTMODSEQ", keep=True)[0])
    ok(client.store("2", "+FLAGS", "(\\Seen)"))
    typ, data = client._simple_command("STORE", "1", "(UNCHANGEDSINCE 1)", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and data == [b"[MODIFIED 1] STORE completed; some messages changed meanwhile"]
    ok(client.store("3", "+FLAGS", "(\\Deleted)"))
    ok(client.expunge())
    assert untagged(client, "VANISHED") == [b"3"]
    ok(client.close())
    typ, data = client.select(f"INBOX (QRESYNC ({validity} {modseq}))")
    assert typ == "OK"
    assert untagged(client, "VANISHED") == [b"(EARLIER) 3"]
    assert [line for line in untagged(client, "FETCH") if b"MODSEQ" in line] == [
        b"2 (UID 2 FLAGS (\\Seen) MODSEQ (%d))" % (modseq + 1)]
    data = ok(client.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {modseq} VANISHED)"))
    assert data == [b"2 (UID 2 FLAGS (\\Seen) MODSEQ (%d))" % (modseq + 1)]
    client.logout()


def test_objectid(mail_node: MailNode) -> None:
    client, address = logged_in(mail_node)
    deliver(mail_node, address, message("first", message_id="<o1@x>"))
    ok(client.select("INBOX"))
    (item,) = ok(client.fetch("1", "(EMAILID THREADID)"))
    assert re.fullmatch(rb"1 \(EMAILID \(E\d+\) THREADID \(T\d+\)\)", item)
    (line,) = ok(client.status("INBOX", "(MAILBOXID)"))
    assert re.fullmatch(rb"INBOX \(MAILBOXID \(M\d+\)\)", line)
    client.logout()


def test_utf8_accept(mail_node: MailNode) -> None:
    client, _ = logged_in(mail_node)
    ok(client.create("Entw&APw-rfe"))  # modified UTF-7 before ENABLE
    ok(client.enable("UTF8=ACCEPT"))
    assert client.utf8_enabled
    names = ok(client.list('""', '"Entw*"'))
    assert names == ['(\\HasNoChildren) "/" "Entwürfe"'.encode()]
    ok(client.select('"Entwürfe"'))
    client.logout()


def test_idle(mail_node: MailNode) -> None:
    """IDLE through imaplib's connection (Python 3.11's imaplib has no idle())."""
    client, address = logged_in(mail_node)
    ok(client.select("INBOX"))
    client.send(b"i1 IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"
    started = time.monotonic()
    deliver(mail_node, address, message())
    assert client.readline() == b"* 1 EXISTS\r\n"
    assert time.monotonic() - started < 1.0
    assert client.readline() == b"* 1 RECENT\r\n"  # IMAP4rev1: RECENT follows EXISTS
    client.send(b"DONE\r\n")
    assert client.readline() == b"i1 OK IDLE terminated\r\n"
    ok(client.noop())
    client.logout()


def test_compress_deflate(mail_node: MailNode) -> None:
    """RFC 4978 under imaplib: after the OK, its reads and writes go through zlib (raw DEFLATE)."""
    client, address = logged_in(mail_node)
    big = message("big", body="Compressible line of text.\r\n" * 2000)
    deliver(mail_node, address, big)
    assert "COMPRESS=DEFLATE" in capabilities(client)
    ok(client.xatom("COMPRESS", "DEFLATE"))
    stream = Deflated(client.sock, owns_socket=False)
    client.file.close()
    client.file = stream  # type: ignore[assignment]
    client.send = stream.sendall  # type: ignore[method-assign,assignment]
    ok(client.select("INBOX"))
    data = ok(client.fetch("1", "(BODY.PEEK[])"))
    assert data[0][1] == big
    assert stream.received_raw < len(big) // 10
    ok(client.append("INBOX", None, None, big))
    ok(client.noop())
    assert untagged(client, "EXISTS")[-1] == b"2"
    client.logout()
