"""Access rights: the server administrator does everything; a domain administrator what its rights grant,
inside its own domain; a plain account only its own password, prefs and user settings. Every refusal
is 510."""

from __future__ import annotations

import pytest

from tests.cliapi.conftest import Cli
from tests.node_thread import ThreadedNode


@pytest.fixture(scope="module")
def people(node: ThreadedNode) -> None:
    directory = node.runtime.directory
    node.call(directory.create_domain("tenant.test"))
    node.call(directory.create_domain("other.test"))
    node.call(directory.create_account("boss@tenant.test", password="boss-pw",
                                       rights=["Domain", "CanCreateAccounts", "CanModifySettings"]))
    node.call(directory.create_account("reader@tenant.test", password="reader-pw", rights=["Domain"]))
    node.call(directory.create_account("user@tenant.test", password="user-pw"))
    node.call(directory.create_account("victim@other.test", password="victim-pw"))


def login(port: int, user: str, password: str) -> Cli:
    return Cli(port).login(user, password)


def test_domain_admin_works_inside_its_domain(people: None, port: int) -> None:
    boss = login(port, "boss@tenant.test", "boss-pw")
    boss.ok("CREATEACCOUNT newbie {Password=x;}")  # a bare name is in the admin's own domain
    assert "newbie" in boss.data("LISTACCOUNTS")
    boss.ok("UPDATEACCOUNTSETTINGS newbie {RealName=\"New Bie\";}")
    boss.ok("SETACCOUNTPASSWORD newbie PASSWORD y")
    boss.fails("UPDATEDOMAINSETTINGS {MaxAccounts=unlimited;}", 510, "MaxAccounts")  # the server's limit
    boss.fails("UPDATEDOMAINSETTINGS {DomainAccessModes=default;}", 510, "DomainAccessModes")
    boss.ok("UPDATEACCOUNTDEFAULTS {MaxAccountSize=1G;}")
    assert boss.data("LISTDOMAINS") == ["tenant.test"]
    assert boss.data("GETACCOUNTDEFAULTS") == {"MaxAccountSize": "1G"}
    boss.ok("DELETEACCOUNT newbie")
    boss.close()


def test_domain_admin_is_refused_outside_its_domain_and_rights(people: None, port: int) -> None:
    boss = login(port, "boss@tenant.test", "boss-pw")
    for command in ("CREATEACCOUNT intruder@other.test", "GETACCOUNTSETTINGS victim@other.test",
                    "SETACCOUNTPASSWORD victim@other.test PASSWORD x", "LISTACCOUNTS other.test",
                    "CREATEDOMAIN new.test", "DELETEDOMAIN other.test", "SETACCOUNTRIGHTS user (Domain)",
                    "CREATEFORWARDER f TO x@y.org", "CREATEGROUP g", "GETMODULE PWD", "SETLANIPS \"10.0.0.0/8\"",
                    "UPDATESERVERACCOUNTDEFAULTS {MaxMailboxes=#1;}", "SETDOMAINSETTINGS tenant.test {}",
                    "WRITELOG 3 hi", "LISTMODULES", "ROUTE victim@other.test"):
        boss.fails(command, 510)
    boss.close()


def test_a_domain_admin_without_a_right_is_refused_that_action(people: None, port: int) -> None:
    reader = login(port, "reader@tenant.test", "reader-pw")
    assert "user" in reader.data("LISTACCOUNTS")
    assert reader.data("GETACCOUNTEFFECTIVESETTINGS user")["PWDAllowed"] == "YES"
    reader.fails("CREATEACCOUNT another", 510)
    reader.fails("UPDATEDOMAINSETTINGS {MaxAccounts=#1;}", 510)
    reader.ok("UPDATEACCOUNTSETTINGS user {ServiceClass=silver;}")  # the Domain right covers accounts
    reader.close()


def test_a_plain_account_may_only_touch_itself(people: None, port: int, node: ThreadedNode) -> None:
    node.call(node.runtime.directory.create_account("plain@tenant.test", password="user-pw",
                                                    settings={"ServiceClass": "silver"}))
    user = login(port, "plain@tenant.test", "user-pw")
    assert user.data("GETACCOUNTSETTINGS *")["ServiceClass"] == "silver"
    user.ok("UPDATEACCOUNTSETTINGS * {RealName=\"Plain User\";}")
    user.fails("UPDATEACCOUNTSETTINGS * {MaxAccountSize=unlimited;}", 510, "MaxAccountSize")
    user.fails("SETACCOUNTSETTINGS * {}", 510)
    user.ok("UPDATEACCOUNTPREFS * {Theme=dark;}")
    assert user.data("GETACCOUNTPREFS plain") == {"Theme": "dark"}
    user.ok("SETACCOUNTPASSWORD * PASSWORD user-pw2")
    user.ok("VERIFYACCOUNTPASSWORD * PASSWORD user-pw2")
    for command in ("GETACCOUNTSETTINGS boss", "SETACCOUNTPASSWORD boss PASSWORD x", "LISTACCOUNTS",
                    "CREATEACCOUNT x", "DELETEACCOUNT user", "GETDOMAINSETTINGS", "UPDATEACCOUNTPREFS boss {a=b;}",
                    "SETACCOUNTRIGHTS plain (Master)", "GETACCOUNTINFO boss", "LISTDOMAINOBJECTS tenant.test 10"):
        user.fails(command, 510)
    assert user.data("LISTDOMAINS") == ["tenant.test"]
    user.close()


def test_a_plain_account_without_pwdallowed_keeps_its_password(people: None, port: int, node: ThreadedNode) -> None:
    node.call(node.runtime.directory.create_account("fixed@tenant.test", password="fixed-pw",
                                                    settings={"PWDAllowed": "NO"}))
    user = login(port, "fixed@tenant.test", "fixed-pw")
    user.fails("SETACCOUNTPASSWORD * PASSWORD other", 510, "PWDAllowed")
    user.fails("UPDATEACCOUNTSETTINGS * {Password=other;}", 510, "PWDAllowed")
    user.close()


def test_access_modes_without_pwd_refuse_the_login(people: None, port: int, node: ThreadedNode) -> None:
    node.call(node.runtime.directory.create_account("mailonly@tenant.test", password="pw",
                                                    settings={"AccessModes": "Mail, IMAP"}))
    client = Cli(port)
    client.ask("USER mailonly@tenant.test")
    assert client.ask("PASS pw").startswith("515 ")
    client.close()


def test_a_domain_admin_cannot_take_over_a_server_administrator(people: None, port: int, node: ThreadedNode) -> None:
    directory = node.runtime.directory
    node.call(directory.create_account("root@tenant.test", password="root-pw", rights=["Master"]))
    node.call(directory.create_account("peer@tenant.test", password="peer-pw",
                                       rights=["Domain", "CanCreateAccounts", "CanCreateGroups"]))
    boss = login(port, "boss@tenant.test", "boss-pw")
    for command in ("SETACCOUNTPASSWORD root PASSWORD owned", "UPDATEACCOUNTSETTINGS root {AccessModes=None;}",
                    "DELETEACCOUNT root", "RENAMEACCOUNT root INTO toor", "SETACCOUNTALIASES root (r)",
                    "SETACCOUNTPASSWORD peer PASSWORD owned", "GETACCOUNTSETTINGS root"):
        boss.fails(command, 510, "rights")
    assert node.call(directory.verify_password("root@tenant.test", "root-pw"))
    boss.close()


def test_revoked_rights_and_removed_accounts_take_effect_in_open_sessions(
        people: None, port: int, node: ThreadedNode) -> None:
    import time

    directory = node.runtime.directory
    node.call(directory.create_account("temp@tenant.test", password="temp-pw",
                                       rights=["Domain", "CanCreateAccounts"]))
    temp = login(port, "temp@tenant.test", "temp-pw")
    temp.ok("CREATEACCOUNT made-by-temp")
    node.call(directory.set_account_rights("temp@tenant.test", []))
    time.sleep(1.1)
    temp.fails("CREATEACCOUNT made-again", 510)
    node.call(directory.delete_account("temp@tenant.test"))
    time.sleep(1.1)
    temp.fails("LISTACCOUNTS", 510, "removed")
    assert temp.file.read() == b""  # and the session is closed
    temp.close()


def test_route_does_not_cross_into_other_domains(people: None, port: int, node: ThreadedNode) -> None:
    node.call(node.runtime.directory.create_forwarder("probe@tenant.test", "victim@other.test"))
    boss = login(port, "boss@tenant.test", "boss-pw")
    boss.fails("ROUTE probe", 510, "another domain")
    boss.fails("GETDOMAINSETTINGS no-such-domain.test", 510)  # not 512: no probing which domains exist
    boss.close()


def test_an_account_cannot_delete_itself_through_an_alias(people: None, port: int, node: ThreadedNode) -> None:
    node.call(node.runtime.directory.create_alias("bossy@tenant.test", "boss@tenant.test"))
    boss = login(port, "boss@tenant.test", "boss-pw")
    boss.fails("DELETEACCOUNT bossy", 555)
    boss.close()
