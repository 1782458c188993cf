"""Accounts: who may create, rename, delete, read and change them; what an account may do to itself."""

from __future__ import annotations

import pytest

from polyport import admin
from polyport.admin import Forbidden, Hidden, InUse, InvalidRequest
from polyport.auth.login import LoginContext
from polyport.directory import InvalidSetting, UnknownObject
from polyport.filters import autoreply
from tests.admin.conftest import PASSWORD, Cast, Services

CONTEXT = LoginContext("test", "127.0.0.1", True, True)


async def test_creating_renaming_and_deleting_needs_can_create_accounts(services: Services, cast: Cast) -> None:
    await admin.create_account(services, cast.boss, "new@tenant.test", {"Password": "secret-1", "RealName": "N"})
    assert await services.directory.verify_password("new@tenant.test", "secret-1")
    assert (await admin.account_settings(services, cast.boss, "new@tenant.test")) == {"RealName": "N"}
    await admin.rename_account(services, cast.boss, "new@tenant.test", "newer@tenant.test")
    await admin.set_account_type(services, cast.boss, "newer@tenant.test", "TextMailbox")
    await admin.delete_account(services, cast.boss, "newer@tenant.test")
    with pytest.raises(UnknownObject):
        await admin.account_settings(services, cast.boss, "newer@tenant.test")
    for actor in (cast.reader, cast.user):
        with pytest.raises(Forbidden):
            await admin.create_account(services, actor, "x@tenant.test")
        with pytest.raises(Forbidden):
            await admin.delete_account(services, actor, "user@tenant.test")
    with pytest.raises(Hidden):
        await admin.create_account(services, cast.boss, "intruder@other.test")
    with pytest.raises(Hidden):
        await admin.rename_account(services, cast.boss, "user@tenant.test", "user@other.test")
    await admin.create_account(services, cast.master, "made@other.test", password="secret-2")
    assert await services.directory.verify_password("made@other.test", "secret-2")
    with pytest.raises(InvalidRequest, match="Password must be a string"):
        await admin.create_account(services, cast.master, "odd@tenant.test", {"Password": ["x"]})


async def test_a_domain_administrator_cannot_take_over_a_server_administrator(services: Services, cast: Cast) -> None:
    for change in (admin.delete_account(services, cast.boss, "root@tenant.test"),
                   admin.rename_account(services, cast.boss, "root@tenant.test", "toor@tenant.test"),
                   admin.set_account_password(services, cast.boss, "root@tenant.test", "owned"),
                   admin.update_account_settings(services, cast.boss, "root@tenant.test", {"AccessModes": "None"}),
                   admin.account_settings(services, cast.boss, "root@tenant.test")):
        with pytest.raises(Hidden, match="holds rights you do not"):  # as if it were not there
            await change
    with pytest.raises(Forbidden):  # no CanCreateAliases: refused before the account is looked at
        await admin.set_account_aliases(services, cast.boss, "root@tenant.test", ["r"])
    assert await services.directory.verify_password("root@tenant.test", PASSWORD)


async def test_an_account_cannot_delete_itself(services: Services, cast: Cast) -> None:
    await services.directory.create_alias("bossy@tenant.test", "boss@tenant.test")
    with pytest.raises(InUse):
        await admin.delete_account(services, cast.boss, "bossy@tenant.test")


async def test_reading_settings_prefs_aliases_rights_and_activity(services: Services, cast: Cast) -> None:
    reads = (admin.account_settings, admin.effective_account_settings, admin.account_prefs,
             admin.effective_account_prefs, admin.account_aliases, admin.account_rights, admin.account_activity,
             admin.account_usage, admin.account_mail_rules)
    for read in reads:
        for actor in (cast.user, cast.reader, cast.master):  # itself, its domain's administrator, the server's
            await read(services, actor, "user@tenant.test")
        with pytest.raises(Forbidden):
            await read(services, cast.user, "boss@tenant.test")
        with pytest.raises(Hidden):
            await read(services, cast.boss, "victim@other.test")
    assert await admin.account_setting(services, cast.user, "user@tenant.test", "pwdallowed") == "YES"
    assert await admin.account_setting(services, cast.user, "user@tenant.test", "NoSuchThing") is None
    activity = await admin.account_activity(services, cast.user, "user@tenant.test")
    assert activity.created and activity.last_login is None and activity.last_address is None
    assert await admin.account_usage(services, cast.user, "user@tenant.test") == (0, 0)


async def test_an_account_changes_only_what_users_may(services: Services, cast: Cast) -> None:
    await admin.update_account_settings(services, cast.user, "user@tenant.test", {"RealName": "Plain User"})
    assert (await admin.account_settings(services, cast.user, "user@tenant.test"))["RealName"] == "Plain User"
    with pytest.raises(Forbidden, match="MaxAccountSize"):
        await admin.update_account_settings(services, cast.user, "user@tenant.test", {"MaxAccountSize": "1G"})
    with pytest.raises(Forbidden):
        await admin.set_account_settings(services, cast.user, "user@tenant.test", {})
    with pytest.raises(Forbidden):
        await admin.update_account_settings(services, cast.user, "boss@tenant.test", {"RealName": "x"})
    with pytest.raises(InvalidSetting):  # an empty password: refused before anything is looked at
        await admin.update_account_settings(services, cast.victim, "user@tenant.test", {"Password": ""})
    await admin.update_account_settings(services, cast.reader, "user@tenant.test", {"ServiceClass": "silver"})
    await admin.set_account_settings(services, cast.boss, "user@tenant.test", {"RealName": "Reset"})
    assert await admin.account_settings(services, cast.master, "user@tenant.test") == {"RealName": "Reset"}


async def test_passwords(services: Services, cast: Cast) -> None:
    await admin.set_account_password(services, cast.user, "user@tenant.test", "own-new-1")
    assert await admin.verify_account_password(services, cast.user, "user@tenant.test", "own-new-1", CONTEXT)
    assert not await admin.verify_account_password(services, cast.user, "user@tenant.test", "wrong", CONTEXT)
    await admin.update_account_settings(services, cast.user, "user@tenant.test", {"Password": "own-new-2"})
    assert await services.directory.verify_password("user@tenant.test", "own-new-2")
    with pytest.raises(Forbidden, match="PWDAllowed"):
        await admin.set_account_password(services, cast.fixed, "fixed@tenant.test", "other")
    with pytest.raises(Forbidden, match="PWDAllowed"):
        await admin.update_account_settings(services, cast.fixed, "fixed@tenant.test", {"Password": "other"})
    await admin.set_account_password(services, cast.reader, "fixed@tenant.test", "set-by-admin")  # the Domain right
    with pytest.raises(Forbidden):
        await admin.set_account_password(services, cast.user, "boss@tenant.test", "x")
    with pytest.raises(Forbidden):
        await admin.verify_account_password(services, cast.user, "boss@tenant.test", PASSWORD, CONTEXT)


async def test_aliases_need_can_create_aliases(services: Services, cast: Cast) -> None:
    with pytest.raises(Forbidden):
        await admin.set_account_aliases(services, cast.boss, "user@tenant.test", ["u"])
    with pytest.raises(Forbidden):
        await admin.set_account_aliases(services, cast.user, "user@tenant.test", ["u"])
    assert await admin.set_account_aliases(services, cast.master, "user@tenant.test", ["u@tenant.test", "us"]) \
        == ["u", "us"]
    assert await admin.account_aliases(services, cast.user, "user@tenant.test") == ["u", "us"]


async def test_prefs_are_the_accounts_own(services: Services, cast: Cast) -> None:
    await admin.update_account_prefs(services, cast.user, "user@tenant.test", {"Theme": "dark"})
    assert await admin.account_prefs(services, cast.reader, "user@tenant.test") == {"Theme": "dark"}
    await admin.set_account_prefs(services, cast.boss, "user@tenant.test", {"Theme": "light"})
    assert (await admin.effective_account_prefs(services, cast.user, "user@tenant.test"))["Theme"] == "light"
    with pytest.raises(Forbidden):
        await admin.update_account_prefs(services, cast.user, "boss@tenant.test", {"a": "b"})


async def test_rights_are_the_server_administrators(services: Services, cast: Cast) -> None:
    for actor in (cast.boss, cast.user):
        with pytest.raises(Forbidden):
            await admin.set_account_rights(services, actor, "user@tenant.test", ["Domain"])
    assert await admin.set_account_rights(services, cast.master, "user@tenant.test", ["Domain"]) == ["Domain"]
    assert await admin.account_rights(services, cast.user, "user@tenant.test") == ["Domain"]
    with pytest.raises(InvalidRequest, match="Master"):
        await admin.set_account_rights(services, cast.root, "root@tenant.test", [])
    await admin.set_account_rights(services, cast.master, "root@tenant.test", [])


async def test_mail_rules_vacation_and_forwarding(services: Services, cast: Cast) -> None:
    await admin.set_vacation(services, cast.user, "user@tenant.test", "Away")
    await admin.set_forwarding(services, cast.user, "user@tenant.test", "far@example.org", keep_copy=False)
    rules = await admin.account_mail_rules(services, cast.reader, "user@tenant.test")
    assert autoreply.vacation_of(rules) == "Away"
    assert autoreply.forwarding_of(rules) == ("far@example.org", False)
    await admin.set_vacation(services, cast.user, "user@tenant.test", None)
    assert [r[1] for r in await admin.account_mail_rules(services, cast.user, "user@tenant.test")] == ["#Redirect"]
    await admin.set_account_mail_rules(services, cast.boss, "user@tenant.test", [])
    assert await admin.account_mail_rules(services, cast.user, "user@tenant.test") == []
    for change in (admin.set_vacation(services, cast.fixed, "fixed@tenant.test", "away"),
                   admin.set_account_mail_rules(services, cast.fixed, "fixed@tenant.test", []),
                   admin.update_account_settings(services, cast.fixed, "fixed@tenant.test", {"SieveScript": "keep;"})):
        with pytest.raises(Forbidden, match="RulesAllowed"):
            await change
    with pytest.raises(Forbidden):
        await admin.set_account_mail_rules(services, cast.user, "boss@tenant.test", [])
    await admin.set_account_mail_rules(services, cast.reader, "fixed@tenant.test", [])  # administrators may
