"""`polyport domain|account|alias|forwarder|group ... --server HOST:PORT`: the admin commands against a
running node, through its CLI/API."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from polyport.cli.main import cli
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode, free_port


@pytest.fixture(scope="module")
def running(cli_node: ThreadedNode) -> ThreadedNode:
    return cli_node


def remote(node: ThreadedNode, *args: str, password: str = POSTMASTER_PASSWORD, extra: tuple[str, ...] = ()) -> Result:
    server = f"127.0.0.1:{node.config.service('cliapi').ports[0]}"
    return CliRunner().invoke(cli, [*args, "--server", server, *extra], env={"POLYPORT_PASSWORD": password},
                              catch_exceptions=False)


def test_the_admin_commands_work_through_the_cli_api(running: ThreadedNode) -> None:
    assert remote(running, "domain", "add", "remote.test", "--alias", "remote.example").exit_code == 0
    assert "remote.test" in remote(running, "domain", "list").output.split()
    shown = json.loads(remote(running, "domain", "show", "remote.test", "--json").output)
    assert shown["aliases"] == ["remote.example"]
    result = remote(running, "account", "add", "rita@remote.test", "--password", "rita-pw", "--real-name", "Rita")
    assert result.exit_code == 0, result.output
    assert remote(running, "account", "list", "remote.test").output.split() == ["rita"]
    account = json.loads(remote(running, "account", "show", "rita@remote.test", "--json").output)
    assert account["settings"] == {"RealName": "Rita"} and account["password"] is True
    assert remote(running, "account", "set", "rita@remote.test", "MaxAccountSize=1G").exit_code == 0
    effective = json.loads(remote(running, "account", "show", "rita@remote.test", "--effective", "--json").output)
    assert effective["settings"]["MaxAccountSize"] == "1G"
    assert remote(running, "account", "passwd", "rita@remote.test", "--password", "new-pw").exit_code == 0
    assert running.call(running.runtime.directory.verify_password("rita@remote.test", "new-pw"))
    assert remote(running, "alias", "add", "rr@remote.test", "rita@remote.test").exit_code == 0
    assert json.loads(remote(running, "alias", "list", "remote.test", "--json").output) == {"rr": "rita"}
    assert remote(running, "alias", "remove", "rr@remote.test").exit_code == 0
    assert remote(running, "forwarder", "add", "fw@remote.test", "out@else.org").exit_code == 0
    assert remote(running, "forwarder", "set", "fw@remote.test", "out2@else.org").exit_code == 0
    assert remote(running, "forwarder", "show", "fw@remote.test").output.strip() == "out2@else.org"
    assert json.loads(remote(running, "forwarder", "list", "remote.test", "--json").output) == {
        "fw": "out2@else.org"}
    assert remote(running, "group", "add", "g@remote.test", "--member", "rita").exit_code == 0
    assert remote(running, "group", "set", "g@remote.test", "--add", "x@y.org").exit_code == 0
    assert json.loads(remote(running, "group", "show", "g@remote.test", "--json").output)["members"] == [
        "rita@remote.test", "x@y.org"]
    assert remote(running, "account", "rename", "rita@remote.test", "rita2@remote.test").exit_code == 0
    assert remote(running, "account", "remove", "rita2@remote.test").exit_code == 0
    assert remote(running, "domain", "remove", "remote.test", "--force").exit_code == 0


def test_remote_errors_are_one_line(running: ThreadedNode) -> None:
    result = remote(running, "account", "show", "nobody@example.com")
    assert result.exit_code == 1 and result.output.startswith("error: ") and "(CLI/API 513)" in result.output
    result = remote(running, "account", "list", password="wrong")
    assert result.exit_code == 1 and "refused the login" in result.output
    result = CliRunner().invoke(cli, ["account", "list", "--server", f"127.0.0.1:{free_port()}"],
                                env={"POLYPORT_PASSWORD": "x"})
    assert result.exit_code == 1 and "cannot reach the CLI/API" in result.output
    result = CliRunner().invoke(cli, ["account", "list", "--server", "nonsense"], env={"POLYPORT_PASSWORD": "x"})
    assert result.exit_code == 1 and "host:port" in result.output


def test_remote_with_starttls(running: ThreadedNode) -> None:
    result = remote(running, "domain", "list", extra=("--starttls", "--no-verify"))
    assert result.exit_code == 0, result.output
    assert "example.com" in result.output.split()
    result = remote(running, "domain", "list", extra=("--starttls",))  # the self-signed one is not trusted
    assert result.exit_code == 1 and "TLS" in result.output


def test_a_recoverable_password_lets_the_vendor_librarys_apop_login_work(running: ThreadedNode) -> None:
    """CommuniGate's Perl library logs in with APOP by default: `account passwd --recoverable` keeps that
    administrator's password sealed so it works, while other accounts keep only their hashes."""
    import hashlib
    import re
    import socket

    assert remote(running, "account", "add", "apadmin", "--password", "first").exit_code == 0
    port = running.config.service("cliapi").ports[0]

    def apop(password: str) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            reader = sock.makefile("rb")
            found = re.search(rb"<[^<>]+>", reader.readline())
            assert found is not None
            digest = hashlib.md5(found.group() + password.encode()).hexdigest()
            sock.sendall(f"APOP apadmin {digest}\r\n".encode())
            return reader.readline().decode().strip()

    assert apop("first").startswith("515 ")  # hashes only: APOP cannot be checked
    result = remote(running, "account", "passwd", "apadmin", "--password", "second", "--recoverable")
    assert result.exit_code == 0 and "recoverable" in result.output, result.output
    assert apop("second") == "200 login OK, proceed"
    assert remote(running, "account", "remove", "apadmin").exit_code == 0
