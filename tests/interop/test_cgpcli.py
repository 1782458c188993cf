"""The CLI/API driven by PyPI's `cgpcli`, a third-party Python client of CommuniGate's CLI."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from CGPCLI import Server
from CGPCLI.Errors import CommandFailedError, FailedLogin

from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode

pytestmark = pytest.mark.interop


@pytest.fixture
def server(cli_node: ThreadedNode) -> Iterator[Server]:
    client = Server("127.0.0.1", cli_node.config.service("cliapi").ports[0])
    client.connect()
    client.login("postmaster", POSTMASTER_PASSWORD)
    yield client
    client.disconnect()


def body(result: dict[str, object]) -> object:
    assert result["header"] in ("200", "201"), result
    return result.get("body")


def test_login_failure_is_reported(cli_node: ThreadedNode) -> None:
    client = Server("127.0.0.1", cli_node.config.service("cliapi").ports[0])
    client.connect()
    with pytest.raises(FailedLogin):
        client.login("postmaster", "not-the-password")


def test_domains_and_accounts(server: Server) -> None:
    body(server.create_domain("cgpcli.test", settings={"MaxAccounts": "20"}))
    assert "cgpcli.test" in body(server.list_domains())  # type: ignore[operator]
    assert body(server.main_domain_name()) == "example.com"
    assert body(server.get_domain_settings("cgpcli.test")) == {"MaxAccounts": "20"}
    body(server.update_domain_settings({"MaxGroups": "2"}, "cgpcli.test"))
    body(server.create_account("ann@cgpcli.test", settings={"Password": "ann-pw", "RealName": "Ann O'Neil"}))
    assert body(server.list_accounts("cgpcli.test")) == {"ann": "macnt"}
    assert body(server.get_account_settings("ann@cgpcli.test")) == {"RealName": "Ann O'Neil"}
    body(server.update_account_settings("ann@cgpcli.test", {"MaxAccountSize": "50M"}))
    effective = body(server.get_account_effective_settings("ann@cgpcli.test"))
    assert isinstance(effective, dict) and effective["MaxAccountSize"] == "50M"
    body(server.set_account_password("ann@cgpcli.test", "ann-new"))
    body(server.verify_account_password("ann@cgpcli.test", "ann-new"))
    with pytest.raises(CommandFailedError, match="515"):
        server.verify_account_password("ann@cgpcli.test", "wrong")
    body(server.set_account_aliases("ann@cgpcli.test", ["annie"]))
    assert body(server.get_account_aliases("ann@cgpcli.test")) == ["annie"]
    body(server.update_account_prefs("ann@cgpcli.test", {"Language": "French"}))
    assert body(server.get_account_prefs("ann@cgpcli.test")) == {"Language": "French"}
    info = body(server.get_account_info("ann@cgpcli.test"))
    assert isinstance(info, dict) and isinstance(info["Created"], datetime.datetime)
    body(server.rename_account("ann@cgpcli.test", "anne@cgpcli.test"))
    objects = body(server.list_domain_objects("cgpcli.test", 10, accounts=True, aliases=True, cookie='""'))
    assert isinstance(objects, list) and objects[1] == {"anne": "macnt", "annie": ["anne"]}
    body(server.delete_account("anne@cgpcli.test"))
    with pytest.raises(CommandFailedError, match="513"):
        server.get_account_settings("anne@cgpcli.test")
    body(server.delete_domain("cgpcli.test"))


def test_forwarders_and_groups(server: Server) -> None:
    body(server.create_forwarder("cg-fwd", "desk@elsewhere.org"))
    assert "cg-fwd" in body(server.list_forwarders())  # type: ignore[operator]
    # cgpcli's get_forwarder omits the space after the verb; its raw command path works.
    assert body(server.execute_command("GETFORWARDER cg-fwd")) == "desk@elsewhere.org"
    body(server.delete_forwarder("cg-fwd"))
    body(server.create_group("cg-team", settings={"RealName": "Team", "Members": ["ann", "bob@x.org"]}))
    group = body(server.get_group("cg-team"))
    assert group == {"RealName": "Team", "Members": ["ann@example.com", "bob@x.org"]}
    body(server.set_group("cg-team", {"Members": ["carl"]}))
    assert body(server.get_group("cg-team")) == {"Members": ["carl@example.com"]}
    body(server.delete_group("cg-team"))


def test_server_commands(server: Server) -> None:
    version = str(body(server.get_version()))
    assert version.split(".")[0] == "6" and "Polyport" in version  # CommuniGate's number first
    assert isinstance(body(server.get_current_time(None)), datetime.datetime)
    assert body(server.echo({"a": ["b", 3]})) == {"a": ["b", 3]}
    assert body(server.noop()) == "OK"
    assert "PWD" in body(server.list_modules())  # type: ignore[operator]
    assert "cliapi" in body(server.get_module("PWD"))  # type: ignore[operator]
    assert body(server.route("postmaster")) == ["LOCAL", "postmaster@example.com", "postmaster"]
    assert body(server.get_server_account_defaults()) == {}
