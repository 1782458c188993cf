"""The `imapclient` package against Polyport: every extension the server offers, through imapclient's own
methods where it has them (starttls, login, plain_login, sasl_login, id_, enable, namespace, list_folders,
find_special_folder, folder_status, select_folder, append, multiappend, fetch with modifiers, search with
UTF-8, sort, thread, add_flags, copy, move, uid_expunge, unselect_folder, idle, get_quota_root) and through
its generic command path (`_raw_command_untagged`) for ESEARCH, SEARCHRES, LIST-EXTENDED and QRESYNC."""

from __future__ import annotations

import datetime
import ssl
import time
from collections.abc import Iterator
from typing import Any

import imapclient
import pytest
import scramp
from imapclient.imapclient import JUNK, SENT
from imapclient.response_types import Envelope

from tests.imap.support import Deflated, message
from tests.interop.conftest import PASSWORD, MailNode
from tests.node_thread import ThreadedNode, free_port, node_config

pytestmark = pytest.mark.interop


def tls_context(node: MailNode) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(node.cert))
    context.check_hostname = False  # the certificate names example.com; the client connects to 127.0.0.1
    return context


def client(node: MailNode, *, tls: bool = False) -> Any:
    if tls:
        return imapclient.IMAPClient("127.0.0.1", node.port("imaps"), ssl=True, ssl_context=tls_context(node),
                                     timeout=30)
    return imapclient.IMAPClient("127.0.0.1", node.port("imap"), ssl=False, timeout=30)


def logged_in(node: MailNode) -> tuple[Any, str]:
    address = node.account()
    c = client(node)
    c.login(address, PASSWORD)
    return c, address


def deliver(node: MailNode, address: str, data: bytes, mailbox: str = "INBOX", flags: tuple[str, ...] = ()) -> None:
    node.seed(address, mailbox, [data], flags)


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailNode]:
    data = tmp_path_factory.mktemp("imapclient-untrusted")
    running = ThreadedNode(node_config(data, "imap", free_port(), '[network]\ntrusted = ["10.0.0.0/8"]\n')).start()
    yield MailNode(running, data)
    running.stop()


# -- connecting ------------------------------------------------------------------------------------------------

def test_starttls_then_login(untrusted: MailNode) -> None:
    address = untrusted.account()
    c = client(untrusted)
    assert c.has_capability("LOGINDISABLED")
    with pytest.raises(imapclient.exceptions.LoginError, match="PRIVACYREQUIRED"):
        c.login(address, PASSWORD)
    c.starttls(tls_context(untrusted))
    c.login(address, PASSWORD)
    assert c.has_capability("CONDSTORE") and c.has_capability("COMPRESS=DEFLATE")
    assert c.select_folder("INBOX")[b"EXISTS"] == 0
    c.logout()


def test_implicit_tls_plain_login_and_scram(mail_node: MailNode) -> None:
    address = mail_node.account()
    c = client(mail_node, tls=True)
    c.plain_login(address, PASSWORD)
    c.logout()

    scram = scramp.ScramClient(["SCRAM-SHA-256"], address, PASSWORD)
    replies = iter([
        lambda _: scram.get_client_first(),
        lambda challenge: (scram.set_server_first(challenge.decode()), scram.get_client_final())[1],
        lambda challenge: (scram.set_server_final(challenge.decode()), "")[1],
    ])
    c = client(mail_node)
    c.sasl_login("SCRAM-SHA-256", lambda challenge: next(replies)(challenge))
    assert c.select_folder("INBOX")[b"READ-WRITE"]
    c.logout()


def test_id_enable_namespace_capabilities(mail_node: MailNode) -> None:
    c, _ = logged_in(mail_node)
    assert c.id_({"name": "imapclient"})[0][:2] == (b"name", b"Polyport")
    assert c.enable("CONDSTORE", "X-NOTHING") == [b"CONDSTORE"]
    namespace = c.namespace()
    assert namespace.personal == (("", "/"),)
    for name in ("IMAP4REV2", "UIDPLUS", "MOVE", "QRESYNC", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED",
                 "LIST-STATUS", "STATUS=SIZE", "ESEARCH", "SEARCHRES", "SORT", "THREAD=REFERENCES",
                 "THREAD=ORDEREDSUBJECT", "QUOTA", "BINARY", "MULTIAPPEND", "UTF8=ACCEPT", "OBJECTID", "CHILDREN",
                 "UNSELECT", "IDLE", "LITERAL+", "SASL-IR"):
        assert c.has_capability(name), name
    c.logout()


# -- folders -----------------------------------------------------------------------------------------------------

def test_folders(mail_node: MailNode) -> None:
    c, address = logged_in(mail_node)
    c.create_folder("Projects/2024")
    c._command_and_check("create", "Spam (USE (\\Junk))")  # CREATE-SPECIAL-USE
    folders = {name: flags for flags, _, name in c.list_folders()}
    assert folders["Projects"] == (b"\\HasChildren",)
    assert folders["Projects/2024"] == (b"\\HasNoChildren",)
    assert folders["Spam"] == (b"\\HasNoChildren", b"\\Junk")
    assert c.find_special_folder(SENT) == "Sent"
    assert c.find_special_folder(JUNK) in ("Junk", "Spam")
    c.create_folder("Entwürfe")  # imapclient encodes modified UTF-7
    assert "Entwürfe" in {name for _, _, name in c.list_folders()}
    assert c.folder_exists("Entwürfe")
    deliver(mail_node, address, message("one"))
    status = c.folder_status("INBOX", ["MESSAGES", "UNSEEN", "SIZE", "HIGHESTMODSEQ", "APPENDLIMIT"])
    assert status[b"MESSAGES"] == 1 and status[b"SIZE"] == len(message("one"))
    assert status[b"APPENDLIMIT"] == mail_node.mailstore.max_message_size
    # LIST-EXTENDED with RETURN (STATUS ...) through imapclient's command path.
    c._raw_command_untagged(b"LIST", [b'""', b'"INBOX"', b"RETURN", b"(STATUS (MESSAGES SIZE) CHILDREN)"],
                            uid=False)
    assert c._imap.untagged_responses.pop("STATUS") == [b"INBOX (MESSAGES 1 SIZE %d)" % len(message("one"))]
    c.rename_folder("Projects", "Work")
    c.subscribe_folder("Work")
    assert "Work" in {name for _, _, name in c.list_sub_folders()}
    c.unsubscribe_folder("Work")
    c.delete_folder("Work/2024")
    c.logout()


def test_quota(mail_node: MailNode) -> None:
    address = mail_node.account(MaxAccountSize="10M", MaxMessages="100")
    c = client(mail_node)
    c.login(address, PASSWORD)
    roots, quotas = c.get_quota_root("INBOX")
    assert roots.quota_roots == [""]
    assert {(q.resource, q.usage, q.limit) for q in quotas} == {("STORAGE", 0, 10240), ("MESSAGE", 0, 100)}
    c.logout()


# -- messages ----------------------------------------------------------------------------------------------------

MULTIPART = (
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: parts\r\n"
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <parts@example.org>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Caf=C3=A9\r\n--b\r\nContent-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n")


def test_append_multiappend_fetch(mail_node: MailNode) -> None:
    c, _ = logged_in(mail_node)
    when = datetime.datetime(2021, 7, 14, 9, 30, tzinfo=datetime.UTC)
    response = c.append("INBOX", MULTIPART, flags=[b"\\Flagged"], msg_time=when)
    assert response.startswith(b"[APPENDUID ")
    typ, (response,) = c.multiappend("INBOX", [message("two"), {"msg": message("three"), "flags": [b"\\Seen"]}])
    assert typ == "OK" and response.startswith(b"[APPENDUID ") and b" 2:3]" in response
    typ, (response,) = c.multiappend("INBOX", [message("four"), message("five")])  # two literals in a row
    assert typ == "OK" and b" 4:5]" in response
    c.select_folder("INBOX")  # the first SELECT since the APPENDs: all five are \Recent to this session
    c.normalise_times = False  # keep INTERNALDATE's zone
    data = c.fetch([1], ["FLAGS", "INTERNALDATE", "ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "MODSEQ",
                         "EMAILID", "THREADID"])[1]
    assert data[b"FLAGS"] == (b"\\Flagged", b"\\Recent")
    assert data[b"INTERNALDATE"] == when
    envelope: Envelope = data[b"ENVELOPE"]
    assert envelope.subject == b"parts" and envelope.from_[0].mailbox == b"alice"
    assert envelope.to[0].name == b"Bob" and envelope.message_id == b"<parts@example.org>"
    body = data[b"BODYSTRUCTURE"]
    assert body.is_multipart
    parts, subtype = body[0], body[1]
    assert subtype == b"MIXED"
    assert parts[0][:3] == (b"TEXT", b"PLAIN", (b"charset", b"utf-8"))
    assert parts[1][2] == (b"name*", b"utf-8''r%C3%A9sum%C3%A9.pdf")  # RFC 2231 again for this client
    assert data[b"RFC822.SIZE"] == len(MULTIPART)
    assert isinstance(data[b"MODSEQ"][0], int)
    assert data[b"EMAILID"][0].startswith(b"E") and data[b"THREADID"][0].startswith(b"T")
    parts_data = c.fetch([1], ["BODY.PEEK[1]", "BINARY.PEEK[1]", "BINARY.SIZE[2]"])[1]
    assert parts_data[b"BODY[1]"] == b"Caf=C3=A9"
    assert parts_data[b"BINARY[1]"] == "Café".encode()
    assert parts_data[b"BINARY.SIZE[2]"] == 3
    assert c.get_flags([1])[1] == (b"\\Flagged", b"\\Recent")  # .PEEK left \Seen alone
    c.logout()


def test_flags_copy_move_expunge(mail_node: MailNode) -> None:
    c, address = logged_in(mail_node)
    for number in range(4):
        deliver(mail_node, address, message(f"m{number}"))
    c.select_folder("INBOX")
    # The first session to select the mailbox has the messages as \\Recent (RFC 3501 2.3.2).
    assert c.add_flags([1, 2], [b"\\Seen", b"$Work"]) == {1: (b"\\Seen", b"\\Recent", b"$Work"),
                                                          2: (b"\\Seen", b"\\Recent", b"$Work")}
    assert c.remove_flags([2], [b"$Work"]) == {2: (b"\\Seen", b"\\Recent")}
    assert c.set_flags([3], [b"\\Answered"]) == {3: (b"\\Answered", b"\\Recent")}
    c.copy([1], "Archive")
    c.move([2], "Trash")
    assert c.search() == [1, 3, 4]
    c.delete_messages([3, 4])
    c.uid_expunge([3])  # UIDPLUS: only UID 3 goes
    assert c.search() == [1, 4]
    assert c.search("DELETED") == [4]
    c.expunge()
    assert c.search() == [1]
    c.unselect_folder()
    assert c.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 1
    assert c.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 1
    c.logout()


def test_search_sort_thread(mail_node: MailNode) -> None:
    c, address = logged_in(mail_node)
    deliver(mail_node, address, message("Plans", sender="Zed <zed@example.org>", message_id="<a@x>",
                                        date="Mon, 7 Feb 1994 10:00:00 +0000"))
    deliver(mail_node, address, message("Re: Plans", sender="Amy <amy@example.org>", message_id="<b@x>",
                                        date="Tue, 8 Feb 1994 10:00:00 +0000", headers=["In-Reply-To: <a@x>"]),
            flags=("\\Seen",))
    deliver(mail_node, address, message("=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus K=?utf-8?q?=C3=B6?=ln",
                                        date="Wed, 9 Feb 1994 10:00:00 +0000", body="Schöne Grüße\r\n",
                                        headers=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]))
    c.select_folder("INBOX")
    assert c.search(["UNSEEN"]) == [1, 3]
    assert c.search(["SUBJECT", "grüße"], charset="UTF-8") == [3]  # imapclient sends it as a literal
    assert c.search(["BODY", "schöne"], charset="UTF-8") == [3]
    assert c.search(["OR", "FROM", "amy", "FROM", "zed"]) == [1, 2]
    assert c.search(["SENTSINCE", datetime.date(1994, 2, 8)]) == [2, 3]
    assert c.sort(["FROM"]) == [3, 2, 1]  # alice, amy, zed
    assert c.sort(["REVERSE", "DATE"]) == [3, 2, 1]
    assert c.thread("REFERENCES") == ((1, 2), (3,))
    assert c.thread("ORDEREDSUBJECT") == ((1, 2), (3,))
    # ESEARCH and SEARCHRES through the generic command path.
    (esearch,) = c._raw_command_untagged(b"SEARCH", [b"RETURN", b"(MIN MAX COUNT SAVE)", b"ALL"],
                                         response_name="ESEARCH")
    assert esearch.endswith(b"UID MIN 1 MAX 3 COUNT 3")
    fetched = c._raw_command_untagged(b"FETCH", [b"$", b"(FLAGS)"], response_name="FETCH")
    assert len(fetched) == 3
    c.logout()


def test_condstore_and_qresync(mail_node: MailNode) -> None:
    c, address = logged_in(mail_node)
    for number in range(3):
        deliver(mail_node, address, message(f"m{number}"))
    assert c.enable("QRESYNC") == [b"QRESYNC"]
    selected = c.select_folder("INBOX")
    validity, modseq = selected[b"UIDVALIDITY"], selected[b"HIGHESTMODSEQ"]
    c.add_flags([2], [b"\\Seen"])
    changed = c.fetch([1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq}"])
    assert list(changed) == [2] and changed[2][b"MODSEQ"] == (modseq + 1,)
    c.delete_messages([3])
    c.expunge()
    assert c._imap.untagged_responses.pop("VANISHED") == [b"3"]
    c.unselect_folder()
    c._command_and_check("select", f"INBOX (QRESYNC ({validity} {modseq}))")
    assert c._imap.untagged_responses.pop("VANISHED") == [b"(EARLIER) 3"]
    c.logout()


def test_utf8_accept(mail_node: MailNode) -> None:
    c, _ = logged_in(mail_node)
    c.create_folder("Réunions")
    assert c.enable("UTF8=ACCEPT") == [b"UTF8=ACCEPT"]
    c.folder_encode = False  # names go as UTF-8 now (RFC 6855)
    c._imap._mode_utf8()  # what imaplib's own enable() does; imapclient's leaves imaplib in ASCII
    assert "Réunions" in {name.decode() if isinstance(name, bytes) else name for _, _, name in c.list_folders()}
    assert c.select_folder("Réunions")[b"EXISTS"] == 0
    c.logout()


def test_idle(mail_node: MailNode) -> None:
    c, address = logged_in(mail_node)
    c.select_folder("INBOX")
    c.idle()
    started = time.monotonic()
    deliver(mail_node, address, message("while idle"))
    responses = c.idle_check(timeout=1.0)
    assert (1, b"EXISTS") in responses
    assert time.monotonic() - started < 1.0
    text, _ = c.idle_done()
    assert text == b"IDLE terminated"
    c.logout()


def test_compress_deflate(mail_node: MailNode) -> None:
    """imapclient has no COMPRESS method; its imaplib connection is wrapped in raw DEFLATE after the OK."""
    c, address = logged_in(mail_node)
    big = message("big", body="Compressible line of text.\r\n" * 2000)
    deliver(mail_node, address, big)
    c._imap.xatom("COMPRESS", "DEFLATE")
    stream = Deflated(c._imap.sock, owns_socket=False)
    c._imap.file.close()
    c._imap.file = stream
    c._imap.send = stream.sendall
    c.select_folder("INBOX")
    assert c.fetch([1], ["BODY.PEEK[]"])[1][b"BODY[]"] == big
    assert stream.received_raw < len(big) // 10
    assert c.multiappend("INBOX", [big, big])[0] == "OK"
    assert c.search() == [1, 2, 3]
    c.logout()
