"""Connection, TLS and authentication: the greeting, CAPABILITY in each state, STARTTLS and LOGINDISABLED
(RFC 3501 6.2.1, RFC 9051 6.2.1), implicit TLS (RFC 8314), LOGIN, AUTHENTICATE PLAIN and SCRAM-SHA-256 with
SASL-IR (RFC 4959), ID (RFC 2971), ENABLE (RFC 5161), NAMESPACE (RFC 2342), COMPRESS=DEFLATE (RFC 4978)."""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import Iterator

import pytest
import scramp

from tests.imap.conftest import PASSWORD, ImapNode, Wire
from tests.imap.support import client_context, compress, logged_in, message, starttls
from tests.node_thread import ThreadedNode, free_port, node_config


def capabilities(line: bytes) -> set[str]:
    """The capability names in a `* CAPABILITY ...` line or an `OK [CAPABILITY ...]` code."""
    text = line.decode()
    if "[CAPABILITY " in text:
        text = text.split("[CAPABILITY ", 1)[1].split("]", 1)[0]
    else:
        text = text.split("CAPABILITY ", 1)[1]
    return set(text.split())


EXTENSIONS = {
    "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "CREATE-SPECIAL-USE",
    "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "ESEARCH", "SEARCHRES", "SORT", "THREAD=REFERENCES",
    "THREAD=ORDEREDSUBJECT", "QUOTA", "BINARY", "MULTIAPPEND", "UTF8=ACCEPT", "OBJECTID", "CHILDREN",
    "COMPRESS=DEFLATE",
}


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapNode]:
    """A node for which loopback is not a trusted network: plaintext logins need TLS."""
    config = node_config(tmp_path_factory.mktemp("imap-untrusted"), "imap", free_port(),
                         '[network]\ntrusted = ["10.0.0.0/8"]\n')
    running = ThreadedNode(config).start()
    yield ImapNode(running)
    running.stop()


# -- greeting and CAPABILITY --------------------------------------------------------------------------------

def test_greeting_and_capabilities_before_login(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    assert w.greeting.startswith(b"* OK [CAPABILITY ")
    greeted = capabilities(w.greeting)
    untagged, tagged = w.command("CAPABILITY")
    assert tagged == b"OK CAPABILITY completed"
    assert len(untagged) == 1 and untagged[0].startswith(b"* CAPABILITY ")
    caps = capabilities(untagged[0])
    assert caps == greeted
    assert {"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "STARTTLS",
            "AUTH=PLAIN", "AUTH=SCRAM-SHA-256"} <= caps
    # A trusted network may log in in the clear; the extensions of the authenticated state come later.
    assert "LOGINDISABLED" not in caps
    assert not caps & {"MOVE", "CONDSTORE", "COMPRESS=DEFLATE"}
    w.close()


def test_capabilities_after_login(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    _untagged, tagged = w.command(f'LOGIN "{address}" "{PASSWORD}"')
    assert tagged.startswith(b"OK [CAPABILITY ") and tagged.endswith(b"] Logged in")
    caps = capabilities(tagged)
    assert caps >= EXTENSIONS
    assert "STARTTLS" not in caps and not any(c.startswith("AUTH=") for c in caps)
    assert any(c.startswith("APPENDLIMIT=") for c in caps)
    (line,), _ = w.command("CAPABILITY")
    assert capabilities(line) == caps
    w.close()


def test_logout(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    untagged, tagged = w.command("LOGOUT")
    assert untagged == [b"* BYE Polyport IMAP logging out"]
    assert tagged == b"OK LOGOUT completed"
    assert w.file.read() == b""  # the server closes the connection
    w.close()


def test_noop_in_every_state(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    assert w.command("NOOP") == ([], b"OK NOOP completed")
    w.login(imap_node.account())
    assert w.command("NOOP") == ([], b"OK NOOP completed")
    w.ok("SELECT INBOX")
    assert w.command("NOOP") == ([], b"OK NOOP completed")
    w.close()


def test_commands_in_the_wrong_state_are_bad(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    assert w.command("SELECT INBOX")[1] == b"BAD SELECT is not allowed in the not authenticated state"
    assert w.command("FETCH 1 FLAGS")[1] == b"BAD FETCH is not allowed in the not authenticated state"
    w.login(imap_node.account())
    assert w.command("FETCH 1 FLAGS")[1] == b"BAD FETCH is not allowed in the authenticated state"
    assert w.command('LOGIN "x" "y"')[1] == b"BAD LOGIN is not allowed in the authenticated state"
    assert w.command("STARTTLS")[1] == b"BAD STARTTLS is not allowed in the authenticated state"
    w.close()


# -- LOGIN ------------------------------------------------------------------------------------------------

def test_login_with_literals_and_a_wrong_password(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    _, tagged = w.command(f'LOGIN "{address}" "wrong"')
    assert tagged.startswith(b"NO [AUTHENTICATIONFAILED] ")
    # Synchronizing literals: the server asks for each with "+".
    w.send(b"a1 LOGIN {%d}\r\n" % len(address))
    assert w.line().startswith(b"+ ")
    w.send(address.encode() + b" {%d}\r\n" % len(PASSWORD))
    assert w.line().startswith(b"+ ")
    w.send(PASSWORD.encode() + b"\r\n")
    _untagged, tagged = w.until(b"a1")
    assert tagged.startswith(b"OK [CAPABILITY ")
    w.close()


def test_login_with_non_synchronizing_literals(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    w.send(b"a1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(address), address.encode(), len(PASSWORD),
                                                     PASSWORD.encode()))
    _, tagged = w.until(b"a1")
    assert tagged.startswith(b"OK ")
    w.close()


def test_unknown_user_fails_like_a_wrong_password(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    assert w.command('LOGIN "nobody@example.com" "x"')[1].startswith(b"NO [AUTHENTICATIONFAILED] ")
    w.close()


# -- AUTHENTICATE ---------------------------------------------------------------------------------------------

def plain(address: str, password: str = PASSWORD) -> str:
    return base64.b64encode(f"\0{address}\0{password}".encode()).decode()


def test_authenticate_plain_with_initial_response(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    untagged, tagged = w.command(f"AUTHENTICATE PLAIN {plain(address)}")
    assert untagged == [] and tagged.startswith(b"OK [CAPABILITY ")
    w.ok("SELECT INBOX")
    w.close()


def test_authenticate_plain_with_a_challenge(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    w.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert w.line() == b"+ "  # an empty challenge (RFC 4616)
    w.send(plain(address).encode() + b"\r\n")
    _, tagged = w.until(b"a1")
    assert tagged.startswith(b"OK ")
    w.close()


def test_authenticate_empty_initial_response(imap_node: ImapNode) -> None:
    """RFC 4959: "=" is an empty initial response; PLAIN finds it malformed."""
    w = Wire(imap_node.port)
    assert w.command("AUTHENTICATE PLAIN =")[1].startswith(b"NO [AUTHENTICATIONFAILED] ")
    w.close()


def test_authenticate_cancelled_and_bad_base64(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    w.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert w.line() == b"+ "
    w.send(b"*\r\n")
    assert w.until(b"a1")[1] == b"BAD authentication cancelled"
    w.send(b"a2 AUTHENTICATE PLAIN\r\n")
    assert w.line() == b"+ "
    w.send(b"not base64!\r\n")
    assert w.until(b"a2")[1] == b"BAD the response is not base64"
    assert w.command("AUTHENTICATE PLAIN %%%")[1].startswith(b"BAD ")
    assert w.command("AUTHENTICATE X-UNKNOWN")[1].startswith(b"NO ")
    assert w.command("NOOP")[1] == b"OK NOOP completed"  # still there, still not logged in
    assert w.command("SELECT INBOX")[1].startswith(b"BAD ")
    w.close()


def scram_login(w: Wire, address: str, password: str = PASSWORD, *, initial: bool) -> bytes:
    client = scramp.ScramClient(["SCRAM-SHA-256"], address, password)
    first = base64.b64encode(client.get_client_first().encode()).decode()
    if initial:
        w.send(f"a1 AUTHENTICATE SCRAM-SHA-256 {first}\r\n".encode())
    else:
        w.send(b"a1 AUTHENTICATE SCRAM-SHA-256\r\n")
        assert w.line() == b"+ "
        w.send(first.encode() + b"\r\n")
    challenge = w.line()
    assert challenge.startswith(b"+ ")
    client.set_server_first(base64.b64decode(challenge[2:]).decode())
    w.send(base64.b64encode(client.get_client_final().encode()) + b"\r\n")
    final = w.line()
    if not final.startswith(b"+ "):
        return final
    client.set_server_final(base64.b64decode(final[2:]).decode())  # checks the server's signature
    w.send(b"\r\n")
    return w.until(b"a1")[1]


@pytest.mark.parametrize("initial", [True, False])
def test_authenticate_scram_sha_256(imap_node: ImapNode, initial: bool) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    assert scram_login(w, address, initial=initial).startswith(b"OK [CAPABILITY ")
    w.ok("SELECT INBOX")
    w.close()


def test_authenticate_scram_wrong_password(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.port)
    assert scram_login(w, address, "not the password", initial=True).startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    w.close()


def test_authenticate_scram_final_response_must_be_empty(imap_node: ImapNode) -> None:
    """After the server's last SCRAM data the client answers with an empty line; "*" cancels."""
    address = imap_node.account()
    w = Wire(imap_node.port)
    client = scramp.ScramClient(["SCRAM-SHA-256"], address, PASSWORD)
    w.send(f"a1 AUTHENTICATE SCRAM-SHA-256 {base64.b64encode(client.get_client_first().encode()).decode()}\r\n"
           .encode())
    client.set_server_first(base64.b64decode(w.line()[2:]).decode())
    w.send(base64.b64encode(client.get_client_final().encode()) + b"\r\n")
    assert w.line().startswith(b"+ ")
    w.send(b"*\r\n")
    assert w.until(b"a1")[1] == b"BAD authentication cancelled"
    assert w.command("SELECT INBOX")[1].startswith(b"BAD ")  # not logged in
    w.close()


# -- TLS ---------------------------------------------------------------------------------------------------

def test_implicit_tls(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.tls_port, tls=client_context())
    assert w.greeting.startswith(b"* OK [CAPABILITY ")
    caps = capabilities(w.greeting)
    assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps
    assert w.command("STARTTLS")[1] == b"BAD TLS is already on"
    w.login(address)
    w.ok("SELECT INBOX")
    w.close()


def test_untrusted_network_must_start_tls_before_plaintext_logins(untrusted: ImapNode) -> None:
    address = untrusted.account()
    w = Wire(untrusted.port)
    caps = capabilities(w.greeting)
    assert {"LOGINDISABLED", "STARTTLS", "AUTH=SCRAM-SHA-256"} <= caps
    assert "AUTH=PLAIN" not in caps
    assert w.command(f'LOGIN "{address}" "{PASSWORD}"')[1].startswith(b"NO [PRIVACYREQUIRED] ")
    assert w.command(f"AUTHENTICATE PLAIN {plain(address)}")[1].startswith(b"NO [PRIVACYREQUIRED] ")
    starttls(w)
    (line,), _ = w.command("CAPABILITY")
    caps = capabilities(line)
    assert "LOGINDISABLED" not in caps and "STARTTLS" not in caps and "AUTH=PLAIN" in caps
    w.login(address)
    w.ok("SELECT INBOX")
    w.close()


def test_scram_works_without_tls_on_an_untrusted_network(untrusted: ImapNode) -> None:
    address = untrusted.account()
    w = Wire(untrusted.port)
    assert scram_login(w, address, initial=True).startswith(b"OK ")
    w.close()


def test_starttls_drops_commands_sent_before_the_handshake(untrusted: ImapNode) -> None:
    """CVE-2011-0411: a command pipelined after STARTTLS must not run inside the TLS session."""
    address = untrusted.account()
    w = Wire(untrusted.port)
    w.send(b"a1 STARTTLS\r\na2 CAPABILITY\r\n")
    assert w.until(b"a1")[1] == b"OK Begin TLS negotiation now"
    w.file.close()
    w.sock = client_context().wrap_socket(w.sock, server_hostname="example.com")
    w.file = w.sock.makefile("rb")
    # Had "a2 CAPABILITY" survived, its answer would come before this one.
    untagged, tagged = w.command("NOOP")
    assert (untagged, tagged) == ([], b"OK NOOP completed")
    w.login(address)
    w.close()


# -- ID, ENABLE, NAMESPACE ------------------------------------------------------------------------------------

def test_id(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    untagged, tagged = w.command('ID ("name" "test-client" "version" "1.0")')
    assert tagged == b"OK ID completed"
    assert len(untagged) == 1 and untagged[0].startswith(b'* ID ("name" "Polyport" "version" "')
    assert w.command("ID NIL")[1] == b"OK ID completed"
    assert w.command("ID (")[1].startswith(b"BAD ")
    w.close()


def test_enable(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    untagged, tagged = w.command("ENABLE CONDSTORE X-UNKNOWN")
    assert (untagged, tagged) == ([b"* ENABLED CONDSTORE"], b"OK ENABLE completed")
    # Enabling again says nothing (RFC 5161 3.1: only what this command newly enabled).
    assert w.command("ENABLE CONDSTORE") == ([], b"OK ENABLE completed")
    assert w.command("ENABLE QRESYNC UTF8=ACCEPT IMAP4rev2") == (
        [b"* ENABLED QRESYNC UTF8=ACCEPT IMAP4rev2"], b"OK ENABLE completed")
    w.close()


def test_enable_before_login_is_bad(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    assert w.command("ENABLE CONDSTORE")[1] == b"BAD ENABLE is not allowed in the not authenticated state"
    w.close()


def test_imap4rev2_select_has_no_recent(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    rev1 = w.ok("EXAMINE INBOX")
    assert b"* 0 RECENT" in rev1
    w.ok("ENABLE IMAP4rev2")
    rev2 = w.ok("EXAMINE INBOX")
    assert not any(b"RECENT" in line for line in rev2)
    w.close()


def test_namespace(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    assert w.command("NAMESPACE") == ([b'* NAMESPACE (("" "/")) (("~" "/")) NIL'], b"OK NAMESPACE completed")
    w.close()


# -- COMPRESS=DEFLATE (RFC 4978) --------------------------------------------------------------------------------

def test_compress_deflate(imap_node: ImapNode) -> None:
    w, _address = logged_in(imap_node)
    body = "All work and no play makes Jack a dull boy.\r\n" * 400
    data = message("Compressible", body=body)
    w.ok(f"APPEND INBOX {{{len(data)}+}}\r\n".encode() + data)
    deflated = compress(w)
    untagged = w.ok("SELECT INBOX")
    assert b"* 1 EXISTS" in untagged
    before = deflated.received_raw
    untagged = w.ok("FETCH 1 BODY.PEEK[]")
    assert untagged == [b"* 1 FETCH (BODY[] {%d}\r\n" % len(data) + data + b")"]
    assert deflated.received_raw - before < len(data) // 10  # it really is compressed
    # Literals from the client go through the compressed stream too.
    w.ok(f"APPEND INBOX {{{len(data)}+}}\r\n".encode() + data)
    assert w.command("COMPRESS DEFLATE")[1].startswith(b"NO [COMPRESSIONACTIVE] ")
    assert w.command("LOGOUT")[1] == b"OK LOGOUT completed"
    w.close()


def test_compress_carries_a_literal_larger_than_the_read_buffer(imap_node: ImapNode) -> None:
    """Compressed input is inflated only into free buffer room: a 2.5 MB APPEND must still flow in."""
    w, _ = logged_in(imap_node)
    data = message("Large", body="".join(f"line {i:07d} of a long message body\r\n" for i in range(70_000)))
    assert len(data) > 2_000_000
    compress(w)
    assert w.ok(f"APPEND INBOX {{{len(data)}+}}\r\n".encode() + data) == []
    w.ok("SELECT INBOX")
    assert w.ok("FETCH 1 RFC822.SIZE") == [b"* 1 FETCH (RFC822.SIZE %d)" % len(data)]
    w.close()


def test_compress_over_tls(imap_node: ImapNode) -> None:
    address = imap_node.account()
    w = Wire(imap_node.tls_port, tls=client_context())
    w.login(address)
    compress(w)
    assert w.command("NOOP") == ([], b"OK NOOP completed")
    w.ok("SELECT INBOX")
    w.close()


def test_compress_needs_login_and_deflate(imap_node: ImapNode) -> None:
    w = Wire(imap_node.port)
    assert w.command("COMPRESS DEFLATE")[1] == b"BAD COMPRESS is not allowed in the not authenticated state"
    w.login(imap_node.account())
    assert w.command("COMPRESS GZIP")[1].startswith(b"BAD unknown compression algorithm")
    w.close()


def test_compress_garbage_closes_the_connection(imap_node: ImapNode) -> None:
    """Bytes that are not a DEFLATE stream end the connection; the server goes on serving others."""
    w, _ = logged_in(imap_node)
    compress(w)
    w.sock.sock.sendall(b"\xff" * 64)  # type: ignore[attr-defined]
    w.sock.settimeout(5)
    with contextlib.suppress(ConnectionResetError):
        assert w.sock.sock.recv(100) == b""  # type: ignore[attr-defined]
    other, _ = logged_in(imap_node)
    assert other.command("NOOP")[1] == b"OK NOOP completed"
    other.close()
    w.close()


def test_connection_reset_mid_command_leaves_the_server_serving(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.send(b"a1 SELECT {100}\r\n")
    assert w.line().startswith(b"+ ")
    w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    w.close()
    other, _ = logged_in(imap_node)
    assert other.command("NOOP")[1] == b"OK NOOP completed"
    other.close()


def test_sessions_in_idle_hear_bye_when_the_node_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("imap-stop"), "imap", free_port())).start()
    node = ImapNode(running)
    try:
        w = Wire(node.port).login(node.account())
        w.ok("SELECT INBOX")
        w.send(b"i1 IDLE\r\n")
        assert w.line() == b"+ idling"
    finally:
        running.stop()
    assert w.line() == b"* BYE the server is shutting down"
    w.close()
