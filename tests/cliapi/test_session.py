"""The CLI/API session: greeting, logins, INLINE, STARTTLS, and bad input that never ends the session."""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import time

import pytest

from polyport import __version__
from tests.cliapi.conftest import Cli
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode


def test_greeting_carries_version_and_apop_challenge(cli: Cli) -> None:
    assert re.fullmatch(rf"200 example\.com Polyport PWD server {re.escape(__version__)} ready <[^<>]+@[^<>]+>",
                        cli.greeting)


def test_user_pass_then_inline_data(cli: Cli) -> None:
    assert cli.ask("USER postmaster") == "300 please send the PASS"
    assert cli.ask(f"PASS {POSTMASTER_PASSWORD}") == "200 login OK, proceed"
    # Before INLINE, data comes on the line after "200 data follow".
    assert cli.ask("LISTDOMAINS") == "200 data follow"
    assert cli.line() == "(example.com)"
    assert cli.ask("INLINE") == "200 OK"
    assert cli.ask("ListDomains") == "201 (example.com)"  # names are case-insensitive
    assert cli.ask("NOOP") == "200 OK"
    assert cli.ask("QUIT") == "200 Polyport PWD connection closed"
    assert cli.file.read() == b""


def test_wrong_password_is_515_and_the_session_goes_on(cli: Cli) -> None:
    cli.ask("USER postmaster")
    assert cli.ask("PASS wrong").startswith("515 ")
    assert cli.ask("PASS again").startswith("501 Send USER first")
    cli.ask("USER nobody@example.com")
    assert cli.ask("PASS whatever").startswith("515 ")
    cli.login()
    assert cli.ask("MAINDOMAINNAME") == "201 example.com"


def test_commands_need_a_login(cli: Cli) -> None:
    assert cli.ask("LISTDOMAINS") == "510 Please log in first"
    assert cli.ask("INLINE") == "510 Please log in first"
    assert cli.ask("NOOP") == "200 OK"


def test_apop_with_the_greetings_challenge(node: ThreadedNode, cli: Cli) -> None:
    directory = node.runtime.directory
    node.call(directory.create_account("apopper", settings={"RecoverablePassword": "YES"}, password="apop-pass"))
    node.call(directory.create_account("hashonly", password="hash-pass"))
    found = re.search(r"<[^<>]+>", cli.greeting)
    assert found is not None
    challenge = found.group()

    def digest(password: str) -> str:
        return hashlib.md5((challenge + password).encode()).hexdigest()

    assert cli.ask(f"APOP hashonly {digest('hash-pass')}").startswith("515 ")  # no recoverable password
    assert cli.ask(f"APOP apopper {digest('wrong')}").startswith("515 ")
    assert cli.ask(f"APOP apopper {digest('apop-pass')}") == "200 login OK, proceed"
    assert cli.ask("APOP apopper x").startswith("501 Already logged in")


def test_plain_password_of_a_recoverable_account(node: ThreadedNode, cli: Cli, port: int) -> None:
    """GETACCOUNTPLAINPASSWORD: a recoverable account's password for a server administrator; an account
    with hashes alone has none to give; nobody else may ask."""
    directory = node.runtime.directory
    node.call(directory.create_account("plainer", settings={"RecoverablePassword": "YES"}, password="sealed-pw"))
    node.call(directory.create_account("hashed", password="hashed-pw"))
    cli.login()
    assert cli.data("GETACCOUNTPLAINPASSWORD plainer") == "sealed-pw"
    assert cli.ask("GETACCOUNTPLAINPASSWORD hashed").startswith("5")
    assert "hashes" in cli.ask("GETACCOUNTPLAINPASSWORD hashed")
    cli.fails("GETACCOUNTPLAINPASSWORD nobody", 513)
    user = Cli(port).login("plainer@example.com", "sealed-pw")
    try:
        user.fails("GETACCOUNTPLAINPASSWORD plainer", 510)
    finally:
        user.close()


def test_auth_webuser_and_newpass(node: ThreadedNode, port: int) -> None:
    node.call(node.runtime.directory.create_account("walter", password="old-pass"))
    client = Cli(port)
    assert client.ask("AUTH WEBUSER walter old-pass") == "200 login OK, proceed"
    assert client.ask("NEWPASS new pass with spaces") == "200 password changed"
    client.close()
    client = Cli(port)
    assert client.ask('AUTH WEBUSER walter "new pass with spaces"') == "200 login OK, proceed"
    client.close()
    node.call(node.runtime.directory.update_account_settings("walter", {"PWDAllowed": "NO"}))
    client = Cli(port)
    client.ask('AUTH WEBUSER walter "new pass with spaces"')
    assert client.ask("NEWPASS another").startswith("510 ")
    client.close()


def test_failed_logins_are_throttled(node: ThreadedNode, port: int) -> None:
    node.call(node.runtime.directory.create_account("target", password="right"))
    client = Cli(port)
    replies = []
    for _ in range(12):
        client.ask("USER target")
        replies.append(client.ask("PASS wrong"))
    client.ask("USER target")
    final = client.ask("PASS right")
    client.close()
    assert all(r.startswith("515 ") for r in replies)
    assert "try again in" in final  # locked out: not even the right password is checked
    node.call(node.runtime.auth.throttle.clear())


def test_bad_input_gets_an_error_and_the_session_goes_on(admin: Cli) -> None:
    cases = [
        (b"FROBNICATE\n", "500 Unknown command FROBNICATE"),
        (b"\xff\xfe\x00garbage\n", "501 The command line is not UTF-8 text"),
        (b"ECHO (a, b\n", "501 Bad data: expected ',' or ')' in an array"),
        (b"ECHO {a=b}\n", "501 Bad data: expected ';'"),
        (b'ECHO "unterminated\n', "501 Bad data: unterminated quoted string"),
        (b'ECHO "bad \\q escape"\n', "501 Bad data: unknown escape"),
        (b"ECHO " + b"(" * 10_000 + b"\n", "501 Bad data: data nested deeper than 64 levels"),
        (b"ECHO " + b"{a=" * 10_000 + b"\n", "501 Bad data: data nested deeper than 64 levels"),
        (b"ECHO a b\n", "501 Bad data: unexpected text after the command"),
        (b"RENAMEACCOUNT a ONTO b\n", "501 Bad data: expected INTO"),
        (b"(((\n", "500 Expected a command name"),
        (b"GETACCOUNTINFO\n", "501 Bad data: expected a name or a quoted string"),
        (b"ECHO a\x00b\n", "501 The command line holds a NUL byte"),
    ]
    for line, expected in cases:
        admin.send(line)
        reply = admin.line()
        assert reply.startswith(expected), (line[:40], reply)
    assert admin.ask("MAINDOMAINNAME") == "201 example.com"


def test_a_huge_line_is_refused_without_buffering_it(admin: Cli) -> None:
    admin.sock.sendall(b"ECHO " + b"x" * (10 * 1024 * 1024) + b"\n")
    assert admin.line() == "501 Command line longer than 65536 bytes; nothing was done"
    assert admin.ask("MAINDOMAINNAME") == "201 example.com"


def test_a_malformed_command_changes_nothing(admin: Cli) -> None:
    # The settings are read (and fail) before the account would be created.
    assert admin.ask("CREATEACCOUNT halfway {RealName=\"x\";").startswith("501 Bad data")
    assert admin.fails("GETACCOUNTSETTINGS halfway", 513)


def test_starttls_drops_injected_commands(admin: Cli, cli: Cli, port: int) -> None:
    client = Cli(port)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client.send("STARTTLS\nUSER injected")
    assert client.line() == "200 start TLS negotiations"
    client.file.close()
    client.sock = context.wrap_socket(client.sock, server_hostname="example.com")
    client.file = client.sock.makefile("rb")
    # Had "USER injected" survived, PASS would now be accepted for it.
    assert client.ask("PASS x") == "501 Send USER first"
    client.login()
    assert client.ask("STARTTLS") == "501 TLS is already on"
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    client.close()


def test_untrusted_addresses_are_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.node_thread import free_port, node_config

    config = node_config(tmp_path_factory.mktemp("untrusted"), "cliapi", free_port(),
                         '[network]\ntrusted = ["10.0.0.0/8"]\n')
    running = ThreadedNode(config).start()
    try:
        with socket.create_connection(("127.0.0.1", config.service("cliapi").ports[0]), timeout=5) as conn:
            reply = conn.makefile("rb").readline()
        assert reply.startswith(b"510 ") and b"trusted networks only" in reply
    finally:
        running.stop()


def test_plaintext_passwords_need_tls_where_the_network_is_not_trusted(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.node_thread import free_port, node_config

    config = node_config(tmp_path_factory.mktemp("open"), "cliapi", free_port(),
                         'trusted_only = false\n[network]\ntrusted = ["10.0.0.0/8"]\n')
    running = ThreadedNode(config).start()
    try:
        client = Cli(config.service("cliapi").ports[0])
        client.ask("USER postmaster")
        assert "TLS" in client.ask("PASS whatever")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context)
        client.ask("USER postmaster")
        assert client.ask(f"PASS {POSTMASTER_PASSWORD}") == "200 login OK, proceed"
        client.close()
    finally:
        running.stop()


def test_idle_sessions_are_closed(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.node_thread import free_port, node_config

    config = node_config(tmp_path_factory.mktemp("idle"), "cliapi", free_port(), "idle_timeout = 0.3\n")
    running = ThreadedNode(config).start()
    try:
        client = Cli(config.service("cliapi").ports[0])
        started = time.monotonic()
        assert client.line().startswith("501 Idle for too long")
        assert time.monotonic() - started < 3
        client.close()
    finally:
        running.stop()


@pytest.mark.one_process
def test_an_unexpected_failure_is_599_and_the_session_goes_on(admin: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from polyport.cliapi.commands import COMMANDS, Command

    async def broken(cx: object, args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(COMMANDS, "GETVERSION", Command("GETVERSION", broken, True))
    assert admin.ask("GETVERSION") == "599 Internal error; the server log has the details"
    assert admin.ask("MAINDOMAINNAME") == "201 example.com"


def test_input_that_once_gave_internal_errors(cli: Cli, port: int) -> None:
    cli.ask("USER postmaster")
    assert cli.ask('PASS "\\\u00b2\u00b2\u00b2"').startswith("515 ")  # a non-ASCII digit after "\"
    assert cli.ask("APOP postmaster \u00e9").startswith("515 ")
    cli.login()
    assert cli.ask("ECHO #" + "9" * 400 + ".0").startswith("501 Bad data: number too large")
    assert cli.ask("ECHO #I[fe80::1%a\rb]").startswith("501 ")
    assert cli.ask('LISTDOMAINOBJECTS example.com #1e999').startswith("501 ")


def test_a_refused_settings_update_changes_nothing(admin: Cli) -> None:
    admin.ok('CREATEACCOUNT atomic {RealName="Before";}')
    admin.fails('UPDATEACCOUNTSETTINGS atomic {RealName="Changed";Password="";}', 501, "empty")
    assert admin.data("GETACCOUNTSETTINGS atomic") == {"RealName": "Before"}


def test_a_failed_starttls_handshake_just_ends_the_session(admin: Cli, node: ThreadedNode, port: int) -> None:
    client = Cli(port)
    client.ask("STARTTLS")
    client.sock.sendall(b"not a client hello\r\n" * 10)
    assert client.file.read() == b""
    client.close()
    assert admin.ask("NOOP") == "200 OK"


def test_implicit_tls_port(node: ThreadedNode) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = next(b.port for b in node.node.bound_listeners() if b.service == "cliapi-tls")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="example.com") as tls:
        reader = tls.makefile("rb")
        assert reader.readline().startswith(b"200 ")
        tls.sendall(f"USER postmaster\nPASS {POSTMASTER_PASSWORD}\nINLINE\nLISTDOMAINS\n".encode())
        replies = [reader.readline() for _ in range(4)]
        assert replies[1] == b"200 login OK, proceed\r\n" and replies[3] == b"201 (example.com)\r\n"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
