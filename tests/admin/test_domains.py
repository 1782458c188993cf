"""Domains, their settings, aliases, account defaults, templates and default prefs, and their objects
listed: who may read and change them."""

from __future__ import annotations

import pytest

from polyport import admin
from polyport.admin import SERVER, Forbidden, Hidden
from polyport.directory import UnknownDomain
from polyport.directory.records import ACCOUNT, ALIAS, FORWARDER
from tests.admin.conftest import Cast, Services


async def test_the_domain_list(services: Services, cast: Cast) -> None:
    assert set(await admin.list_domains(services, cast.master)) == {"example.com", "tenant.test", "other.test"}
    assert set(await admin.list_domains(services, SERVER)) == {"example.com", "tenant.test", "other.test"}
    for actor in (cast.boss, cast.user):  # anyone else: its own domain
        assert await admin.list_domains(services, actor) == ["tenant.test"]
    assert await admin.main_domain(services, cast.user) == "example.com"
    assert await admin.list_admin_domains(services, cast.reader, "tenant.test") == ["tenant.test"]
    with pytest.raises(Hidden):
        await admin.list_admin_domains(services, cast.reader, "other.test")
    with pytest.raises(Forbidden):
        await admin.list_admin_domains(services, cast.user, "tenant.test")


async def test_only_server_administrators_create_rename_and_delete_domains(services: Services, cast: Cast) -> None:
    for actor in (cast.boss, cast.reader, cast.user):
        with pytest.raises(Forbidden):
            await admin.create_domain(services, actor, "new.test")
        with pytest.raises(Forbidden):
            await admin.rename_domain(services, actor, "tenant.test", "renamed.test")
        with pytest.raises(Forbidden):
            await admin.delete_domain(services, actor, "other.test", force=True)
        with pytest.raises(Forbidden):
            await admin.set_domain_aliases(services, actor, "tenant.test", ["t.test"])
        with pytest.raises(Forbidden):
            await admin.set_domain_settings(services, actor, "tenant.test", {})
    assert "new.test" not in await services.directory.domains()
    created = await admin.create_domain(services, cast.root, "new.test", {"MaxAccounts": "10"})
    assert created.name == "new.test"
    assert await admin.set_domain_aliases(services, cast.master, "new.test", ["alias-new.test"]) == ["alias-new.test"]
    assert await admin.domain_aliases(services, cast.master, "new.test") == ["alias-new.test"]
    await admin.rename_domain(services, cast.master, "new.test", "newer.test")
    await admin.set_domain_settings(services, cast.master, "newer.test", {})
    assert await admin.domain_settings(services, cast.master, "newer.test") == {}
    await admin.delete_domain(services, cast.master, "newer.test")
    with pytest.raises(UnknownDomain):
        await admin.domain_settings(services, cast.master, "newer.test")


async def test_domain_settings_read_and_changed_by_its_administrator(services: Services, cast: Cast) -> None:
    for read in (admin.domain_settings, admin.effective_domain_settings, admin.domain_aliases):
        await read(services, cast.reader, "tenant.test")
        with pytest.raises(Hidden):
            await read(services, cast.boss, "other.test")
        with pytest.raises(Forbidden):
            await read(services, cast.user, "tenant.test")
    assert "MaxAccounts" in await admin.effective_domain_settings(services, cast.boss, "tenant.test")


async def test_update_domain_settings_needs_can_modify_settings_and_not_the_servers_limits(
        services: Services, cast: Cast) -> None:
    with pytest.raises(Forbidden, match="MaxAccounts"):
        await admin.update_domain_settings(services, cast.boss, "tenant.test", {"MaxAccounts": "unlimited"})
    with pytest.raises(Forbidden):
        await admin.update_domain_settings(services, cast.reader, "tenant.test", {"RealName": "x"})
    with pytest.raises(Hidden):
        await admin.update_domain_settings(services, cast.boss, "other.test", {})
    await admin.update_domain_settings(services, cast.master, "tenant.test", {"MaxAccounts": "100"})
    assert (await admin.domain_settings(services, cast.boss, "tenant.test"))["MaxAccounts"] == "100"


@pytest.mark.parametrize("kind", ["defaults", "template", "default_prefs"])
async def test_account_defaults_templates_and_default_prefs(services: Services, cast: Cast, kind: str) -> None:
    read = getattr(admin, f"account_{kind}")
    change = getattr(admin, f"update_account_{kind}")
    values = {"Theme": "dark"} if kind == "default_prefs" else {"MaxAccountSize": "1G"}
    await change(services, cast.boss, "tenant.test", values)
    assert await read(services, cast.reader, "tenant.test") == values
    with pytest.raises(Forbidden):
        await change(services, cast.reader, "tenant.test", values)  # no CanModifySettings
    with pytest.raises(Hidden):
        await change(services, cast.boss, "other.test", values)
    with pytest.raises(Hidden):
        await read(services, cast.boss, "other.test")
    with pytest.raises(Forbidden):
        await read(services, cast.user, "tenant.test")
    await change(services, cast.master, "tenant.test", {}, replace=True)
    assert await read(services, cast.master, "tenant.test") == {}


async def test_the_objects_of_a_domain(services: Services, cast: Cast) -> None:
    directory = services.directory
    await directory.create_alias("chief@tenant.test", "boss@tenant.test")
    await directory.create_forwarder("fw@tenant.test", "far@example.org")
    await directory.create_group("team@tenant.test", members=["boss@tenant.test"])
    accounts = await admin.list_accounts(services, cast.reader, "tenant.test")
    assert set(accounts) == {"boss", "reader", "user", "fixed", "root"} and accounts["boss"] == "MultiMailbox"
    page = await admin.list_domain_objects(services, cast.reader, "tenant.test", limit=3)
    assert len(page.objects) == 3 and page.cookie
    assert page.counts[ACCOUNT] == 5 and page.counts[ALIAS] == 1 and page.counts[FORWARDER] == 1
    found = await admin.list_domain_objects(services, cast.reader, "tenant.test", filter="chi", kinds=(ALIAS,))
    assert [(e.name, e.target) for e in found.objects] == [("chief", "boss")]
    assert await admin.list_forwarders(services, cast.reader, "tenant.test") == {"fw": "far@example.org"}
    assert await admin.find_forwarders(services, cast.reader, "tenant.test", "FAR@example.org") == ["fw"]
    assert await admin.list_groups(services, cast.reader, "tenant.test") == ["team"]
    for listing in (admin.list_accounts, admin.list_forwarders, admin.list_groups):
        with pytest.raises(Hidden):
            await listing(services, cast.boss, "other.test")
        with pytest.raises(Forbidden):
            await listing(services, cast.user, "tenant.test")
    with pytest.raises(Hidden):
        await admin.list_domain_objects(services, cast.boss, "other.test")
    assert "victim" in await admin.list_accounts(services, cast.root, "other.test")


async def test_dkim_keys_of_a_domain(services: Services, cast: Cast) -> None:
    keys = await admin.dkim_keys(services, cast.reader, "tenant.test")
    assert keys and keys == await admin.dkim_keys(services, cast.boss, "tenant.test")  # made once
    with pytest.raises(Hidden):
        await admin.dkim_keys(services, cast.reader, "other.test")
    with pytest.raises(Forbidden):
        await admin.dkim_keys(services, cast.user, "tenant.test")
