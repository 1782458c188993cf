"""Every CLI/API command family, as transcripts against a running node (logged in as postmaster)."""

from __future__ import annotations

import datetime
import re
import time

from polyport.cliapi.wire import IPAddress
from tests.cliapi.conftest import Cli
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode, eventually


def test_domains(admin: Cli) -> None:
    admin.ok('CreateDomain "d1.test" {MaxAccounts=#50;}')
    admin.fails("CREATEDOMAIN d1.test", 501, "already exists")
    admin.fails("CREATEDOMAIN bad..name", 501, "domain name")
    assert "d1.test" in admin.data("LISTDOMAINS")
    assert admin.data("GETDOMAINSETTINGS d1.test") == {"MaxAccounts": "50"}
    assert admin.data("GETDOMAINEFFECTIVESETTINGS d1.test")["DomainAccessModes"] == "All"
    admin.ok("UPDATEDOMAINSETTINGS d1.test {MaxGroups=#3;MaxAccounts=default;}")
    assert admin.data("GETDOMAINSETTINGS d1.test") == {"MaxGroups": "3"}
    admin.ok("SETDOMAINSETTINGS d1.test {MaxForwarders=unlimited;}")
    assert admin.data("GETDOMAINSETTINGS d1.test") == {"MaxForwarders": "unlimited"}
    # A setting Polyport does not use is kept (CommuniGate integrations send many), a malformed name is not.
    admin.ok("UPDATEDOMAINSETTINGS d1.test {MailToAllAction=Reject;}")
    assert admin.data("GETDOMAINSETTINGS d1.test")["MailToAllAction"] == "Reject"
    assert admin.data("GETDOMAINEFFECTIVESETTINGS d1.test")["MailToAllAction"] == "Reject"
    admin.ok("UPDATEDOMAINSETTINGS d1.test {MailToAllAction=default;}")
    assert "MailToAllAction" not in admin.data("GETDOMAINSETTINGS d1.test")
    admin.fails('UPDATEDOMAINSETTINGS d1.test {"no such"=blue;}', 501, "not a setting name")
    admin.ok("SETDOMAINALIASES d1.test (d1.example, d1.other)")
    assert admin.data("GETDOMAINALIASES d1.test") == ["d1.example", "d1.other"]
    admin.ok("RENAMEDOMAIN d1.test into d2.test")
    admin.fails("GETDOMAINSETTINGS d1.test", 512, "unknown domain")
    assert admin.data("GETDOMAINALIASES d1.example") == ["d1.example", "d1.other"]
    admin.ok("CREATEACCOUNT someone@d2.test")
    admin.fails("DELETEDOMAIN d2.test", 501, "force")
    admin.ok("DELETEDOMAIN d2.test FORCE")
    admin.fails("DELETEDOMAIN example.com FORCE", 501, "main domain")
    admin.fails("DELETEDOMAIN nowhere.test", 512)
    assert admin.data("MAINDOMAINNAME") == "example.com"
    assert admin.data("LISTADMINDOMAINS") == ["example.com"]


def test_server_and_domain_defaults(admin: Cli) -> None:
    admin.ok("CREATEDOMAIN defaults.test")
    admin.ok("UPDATESERVERACCOUNTDEFAULTS {MaxMailboxes=#200;}")
    admin.ok("UPDATEACCOUNTDEFAULTS defaults.test {MaxAccountSize=5G;}")
    admin.ok("UPDATEACCOUNTTEMPLATE defaults.test {RealName=\"New hire\";}")
    assert admin.data("GETACCOUNTDEFAULTS defaults.test") == {"MaxAccountSize": "5G"}
    assert admin.data("GETACCOUNTTEMPLATE defaults.test") == {"RealName": "New hire"}
    admin.ok("CREATEACCOUNT nh@defaults.test")
    assert admin.data("GETACCOUNTSETTINGS nh@defaults.test") == {"RealName": "New hire"}
    effective = admin.data("GETACCOUNTEFFECTIVESETTINGS nh@defaults.test")
    assert effective["MaxAccountSize"] == "5G" and effective["MaxMailboxes"] == "200"
    admin.ok("SETACCOUNTDEFAULTS defaults.test {}")
    admin.ok("SETACCOUNTTEMPLATE defaults.test {}")
    assert admin.data("GETACCOUNTDEFAULTS defaults.test") == {}
    assert admin.data("GETSERVERACCOUNTDEFAULTS")["MaxMailboxes"] == "200"
    admin.ok("SETSERVERACCOUNTDEFAULTS {}")
    admin.ok("UPDATEDOMAINDEFAULTS {MaxAccounts=#1000;}")
    assert admin.data("GETDOMAINDEFAULTS") == {"MaxAccounts": "1000"}
    admin.ok("SETDOMAINDEFAULTS {}")
    admin.ok("UPDATESERVERACCOUNTPREFS {Language=English;}")
    admin.ok("UPDATEACCOUNTDEFAULTPREFS defaults.test {TimeZone=\"Europe/Paris\";}")
    admin.ok("UPDATEACCOUNTPREFS nh@defaults.test {Frames=YES;}")
    assert admin.data("GETACCOUNTPREFS nh@defaults.test") == {"Frames": "YES"}
    assert admin.data("GETACCOUNTEFFECTIVEPREFS nh@defaults.test") == {
        "Language": "English", "TimeZone": "Europe/Paris", "Frames": "YES"}
    assert admin.data("GetEffectiveAccountPrefs nh@defaults.test") == admin.data(  # the older name, CGP::CLI's
        "GETACCOUNTEFFECTIVEPREFS nh@defaults.test")
    admin.ok("SETACCOUNTPREFS nh@defaults.test {}")
    admin.ok("SETSERVERACCOUNTPREFS {}")
    assert admin.data("GETSERVERACCOUNTPREFS") == {}
    assert admin.data("GETACCOUNTDEFAULTPREFS defaults.test") == {"TimeZone": "Europe/Paris"}
    admin.ok("SETACCOUNTDEFAULTPREFS defaults.test {Language=German;}")
    assert admin.data("GETACCOUNTDEFAULTPREFS defaults.test") == {"Language": "German"}


def test_accounts(admin: Cli, node: ThreadedNode) -> None:
    admin.ok('CREATEACCOUNT acc1 MultiMailbox {Password="pw one";RealName="Acc One";MaxAccountSize=10M;}')
    admin.ok("CreateAccount acc2@example.com TextMailbox")
    admin.fails("CREATEACCOUNT acc1", 520, "already exists")
    admin.fails("CREATEACCOUNT \"bad name\"", 501, "may use only")
    admin.fails("CREATEACCOUNT x@unknown.test", 512)
    admin.fails('CREATEACCOUNT acc3 {"bad key"=red;}', 501, "not a setting name")
    accounts = admin.data("LISTACCOUNTS")
    assert accounts["acc1"] == "macnt" and accounts["acc2"] == "mbox"
    assert admin.data("GETACCOUNTSETTINGS acc1") == {"RealName": "Acc One", "MaxAccountSize": "10M"}
    admin.ok("UPDATEACCOUNTSETTINGS acc1 {MaxAccountSize=default;ServiceClass=gold;}")
    assert admin.data("GETACCOUNTSETTINGS acc1") == {"RealName": "Acc One", "ServiceClass": "gold"}
    admin.ok("SETACCOUNTSETTINGS acc1 {RealName=\"Only\";}")
    assert admin.data("GETACCOUNTSETTINGS acc1") == {"RealName": "Only"}
    assert admin.data("GETACCOUNTONESETTING acc1 realname") == "Only"
    assert admin.ask("GETACCOUNTONESETTING acc1 NoSuchKey") == "201 #NULL#"
    admin.ok("VERIFYACCOUNTPASSWORD acc1 PASSWORD \"pw one\"")
    admin.fails("VERIFYACCOUNTPASSWORD acc1 PASSWORD wrong", 515)
    admin.ok("SETACCOUNTPASSWORD acc1 PASSWORD newpw")
    admin.ok("SETACCOUNTPASSWORD acc1 TO \"older form\"")
    admin.ok("VERIFYACCOUNTPASSWORD acc1 PASSWORD \"older form\"")
    admin.ok("UPDATEACCOUNTSETTINGS acc1 {Password=viasettings;}")
    admin.ok("VERIFYACCOUNTPASSWORD acc1 PASSWORD viasettings")
    admin.fails("SETACCOUNTPASSWORD acc1 PASSWORD x TAG app", 501, "not supported")
    admin.ok("SETACCOUNTALIASES acc1 (a1, a1b@example.com)")
    assert admin.data("GETACCOUNTALIASES acc1") == ["a1", "a1b"]
    admin.ok("SETACCOUNTTYPE acc2 MultiMailbox")
    assert admin.data("LISTACCOUNTS")["acc2"] == "macnt"
    admin.ok("RENAMEACCOUNT acc2 into acc2renamed")
    admin.fails("GETACCOUNTSETTINGS acc2", 513)
    admin.ok("DELETEACCOUNT acc2renamed")
    admin.fails("DELETEACCOUNT acc2renamed", 513)
    admin.fails("DELETEACCOUNT postmaster", 555)
    admin.ok("SETACCOUNTRIGHTS acc1 (Domain, CanCreateAccounts)")
    assert admin.data("GETACCOUNTRIGHTS acc1") == ["Domain", "CanCreateAccounts"]
    admin.fails("SETACCOUNTRIGHTS acc1 (Wizardry)", 501, "not an access right")
    admin.fails("SETACCOUNTRIGHTS postmaster ()", 501, "cannot take Master")


def test_account_info(admin: Cli, port: int, node: ThreadedNode) -> None:
    admin.ok("CREATEACCOUNT infoacct {Password=secret;}")
    user = Cli(port)
    user.login("infoacct", "secret")
    user.close()
    deadline = time.monotonic() + 5
    while "LastLogin" not in (info := admin.data("GETACCOUNTINFO infoacct")):  # noted after the reply
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    assert isinstance(info, dict)
    assert isinstance(info["Created"], datetime.datetime)
    assert isinstance(info["LastLogin"], datetime.datetime)
    assert info["LastAddress"] == IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))
    assert admin.data("GETACCOUNTINFO infoacct Key LastAddress") == info["LastAddress"]
    assert admin.ask("GETACCOUNTINFO infoacct Key NoSuchInfo") == '201 ""'
    assert set(admin.data("GETACCOUNTINFO infoacct (Created, Nothing)")) == {"Created"}


def test_forwarders(admin: Cli) -> None:
    admin.ok('CREATEFORWARDER fwd1 TO "someone@elsewhere.org"')
    admin.fails("CREATEFORWARDER fwd1 TO x@y.org", 524, "already exists")
    admin.fails("CREATEFORWARDER fwd2 TO \"not an address\"", 501)
    assert admin.data("GETFORWARDER fwd1") == "someone@elsewhere.org"
    assert "fwd1" in admin.data("LISTFORWARDERS")
    assert admin.data("FINDFORWARDERS example.com TO someone@elsewhere.org") == ["fwd1"]
    admin.ok("RENAMEFORWARDER fwd1 INTO fwd9")
    admin.fails("GETFORWARDER fwd1", 553)
    admin.ok("DELETEFORWARDER fwd9")
    admin.fails("DELETEFORWARDER fwd9", 553)


def test_groups(admin: Cli) -> None:
    admin.ok('CREATEGROUP grp1 {RealName="Group One";Members=(alice, "bob@other.org");}')
    admin.fails("CREATEGROUP grp1", 523, "already exists")
    assert admin.data("GETGROUP grp1") == {"RealName": "Group One",
                                           "Members": ["alice@example.com", "bob@other.org"]}
    admin.ok("SETGROUP grp1 {Members=(carol);}")
    assert admin.data("GETGROUP grp1") == {"Members": ["carol@example.com"]}
    assert "grp1" in admin.data("LISTGROUPS")
    admin.ok("RENAMEGROUP grp1 INTO grp2")
    admin.ok("DELETEGROUP grp2")
    admin.fails("GETGROUP grp2", 513)


def test_list_domain_objects_pages_with_a_cookie(admin: Cli) -> None:
    admin.ok("CREATEDOMAIN objects.test")
    for i in range(5):
        admin.ok(f"CREATEACCOUNT u{i}@objects.test")
    admin.ok("SETACCOUNTALIASES u0@objects.test (zalias)")
    admin.ok("CREATEFORWARDER fw@objects.test TO x@y.org")
    first = admin.data('LISTDOMAINOBJECTS objects.test 3 COOKIE ""')
    assert first == ["5", {"fw": [["x@y.org"]], "u0": "macnt", "u1": "macnt"}, "1", "1", "u1"]
    second = admin.data("LISTDOMAINOBJECTS objects.test 3 COOKIE u1")
    assert second[1] == {"u2": "macnt", "u3": "macnt", "u4": "macnt"} and second[4] == "u4"
    third = admin.data("LISTDOMAINOBJECTS objects.test 3 COOKIE u4")
    assert third[1] == {"zalias": ["u0"]} and third[4] == ""
    only_accounts = admin.data("LISTDOMAINOBJECTS objects.test FILTER u 100 ACCOUNTS")
    assert list(only_accounts[1]) == ["u0", "u1", "u2", "u3", "u4"] and len(only_accounts) == 4
    admin.fails("LISTDOMAINOBJECTS objects.test many", 501, "needs a number")


def test_server_commands(admin: Cli, node: ThreadedNode) -> None:
    version = admin.data("GETVERSION")
    assert re.match(r"6\.3\.\d+ Polyport ", version), version  # CommuniGate's shape first, our name after
    assert admin.data("ECHO #NULL#") is None  # echoed as data (#NULL#), not "200 OK" without any
    now = admin.data("GETCURRENTTIME")
    assert isinstance(now, datetime.datetime)
    assert abs((now - datetime.datetime.now(datetime.UTC)).total_seconds()) < 5
    assert admin.data("ECHO {a=(b,#3,#NULL#);c=[AAE=];}") == {"a": ["b", 3, None], "c": b"\x00\x01"}
    commands = admin.data("LISTCLICOMMANDS")
    assert "CREATEACCOUNT" in commands and "LISTDOMAINOBJECTS" in commands
    admin.ok('WRITELOG 3 "a note from the admin"')
    assert "PWD" in admin.data("LISTMODULES")
    module = admin.data("GETMODULE PWD")
    assert module["cliapi"]["Available"] == "YES" and module["cliapi"]["TrustedOnly"] == "YES"
    admin.ok("UPDATEMODULE PWD {cliapi={MaxConnections=#500;IdleTimeout=600;};}")
    cliapi = admin.data("GETMODULE cliapi")["cliapi"]
    assert cliapi["MaxConnections"] == "500" and cliapi["IdleTimeout"] == "600"
    admin.fails("UPDATEMODULE cliapi {MaxLine=#10;}", 501, "max_line")
    admin.fails("UPDATEMODULE SMTP {MaxConnections=#5;}", 501, "several listeners")
    admin.ok("UPDATEMODULE SMTP {smtps={MaxPerAddress=#7;};}")
    assert admin.data("GETMODULE SMTP")["smtps"]["Available"] == "YES"
    assert admin.data("GETMODULE XMPP")["xmpp"]["Available"] == "YES"
    assert admin.data("GETMODULE LDAP")["ldap"]["Available"] == "NO"
    admin.fails("GETMODULE NOSUCH", 501, "unknown module")
    admin.ok("SETMODULE cliapi {}")


def test_lan_ips_are_the_trusted_networks(admin: Cli, node: ThreadedNode) -> None:
    before = admin.data("GETLANIPS")
    admin.ok('SETLANIPS "127.0.0.0/8\\e10.1.0.0-10.1.255.255\\e::1"')
    assert admin.data("GETLANIPS") == "127.0.0.0/8\r\n10.1.0.0/16\r\n::1/128"
    # On the wire as CommuniGate writes it: integrations split the list on \e.
    assert admin.ask("GETLANIPS") == '201 "127.0.0.0/8\\e10.1.0.0/16\\e::1/128"'
    eventually(lambda: "10.1.2.3" in node.runtime.trusted)  # the worker of this process: at once, or by the bus
    admin.fails('SETLANIPS "10.0.0.0/8\\enonsense"', 501, "nonsense")
    admin.ok(f"SETLANIPS {admin_quote(str(before))}")


def admin_quote(text: str) -> str:
    from polyport.cliapi.wire import quote

    return quote(text)


def test_route(admin: Cli) -> None:
    admin.ok("CREATEACCOUNT rt {Password=x;}")
    admin.ok("SETACCOUNTALIASES rt (rtalias)")
    admin.ok("CREATEFORWARDER rtfwd TO rt@example.com")
    admin.ok("CREATEFORWARDER rtout TO someone@remote.example")
    admin.ok("CREATEGROUP rtgroup")
    assert admin.data("ROUTE rt") == ["LOCAL", "rt@example.com", "rt"]
    assert admin.data("ROUTE rtalias@example.com mail") == ["LOCAL", "rt@example.com", "rtalias"]
    assert admin.data("ROUTE rtfwd") == ["LOCAL", "rt@example.com", "rt"]
    assert admin.data("ROUTE rtout") == ["SMTP", "remote.example", "someone@remote.example"]
    assert admin.data("ROUTE rtgroup") == ["GROUP", "rtgroup@example.com", "rtgroup"]
    admin.fails("ROUTE nobody", 513)


def test_password_is_never_echoed_or_stored_as_a_setting(admin: Cli, node: ThreadedNode) -> None:
    admin.ok("CREATEACCOUNT quiet {Password=\"s3cr3t-value\";}")
    assert "s3cr3t" not in admin.ask("GETACCOUNTSETTINGS quiet")
    assert "s3cr3t" not in admin.ask("GETACCOUNTEFFECTIVESETTINGS quiet")
    assert POSTMASTER_PASSWORD not in admin.ask("GETACCOUNTSETTINGS postmaster")


def test_settings_put_in_header_fields_refuse_line_ends(admin: Cli, port: int) -> None:
    """Issue 12 item 6: UPDATEACCOUNTSETTINGS * {RealName="Alice\\r\\nBcc: spy@evil.test";} was stored (and the
    webmail's send then failed); refused with 501, on every command that sets such a value."""
    admin.ok('CREATEACCOUNT crlf {Password="crlf-pw-1";RealName="Alice";}')
    user = Cli(port).login("crlf@example.com", "crlf-pw-1", inline=True)
    try:
        user.fails(r'UPDATEACCOUNTSETTINGS * {RealName="Alice\r\nBcc: spy@evil.test";}', 501,
                   "RealName: control characters")
        user.fails(r'UPDATEACCOUNTSETTINGS * {RealName="Alice\nBcc: spy@evil.test";}', 501, "control characters")
        assert admin.data("GETACCOUNTSETTINGS crlf") == {"RealName": "Alice"}
    finally:
        user.close()
    admin.fails(r'SETACCOUNTSETTINGS crlf {RealName="A\rB";}', 501, "control characters")
    admin.fails(r'CREATEACCOUNT crlf2 {RealName="A\nB";}', 501, "control characters")
    admin.fails(r'UPDATEACCOUNTDEFAULTS example.com {RealName="A\nB";}', 501, "control characters")
    admin.fails(r'CREATEGROUP crlfgroup {RealName="A\r\nB";}', 501, "control characters")
    admin.fails(r'UPDATEDOMAINSETTINGS example.com {MailRerouteAddress="a@example.com\nb";}', 501,
                "control characters")
    admin.fails(r'SETACCOUNTMAILRULES crlf ((5, "mark", (), (("Mark", "Seen\r\nX"))))', 501, "control characters")
    admin.ok(r'SETACCOUNTMAILRULES crlf ((5, "away", (), (("Reply with", "Away.\r\nBack on Monday."))))')
    assert admin.data("GETACCOUNTSETTINGS crlf") == {"RealName": "Alice", "Rules": [
        ["5", "away", [], [["Reply with", "Away.\r\nBack on Monday."]]]]}
