"""The Directory service on the configured store backend (runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from polyport.bus import LocalBus, topics
from polyport.bus.events import AccountChanged
from polyport.directory import (
    AlreadyExists,
    Directory,
    DomainNotEmpty,
    InvalidName,
    InvalidSetting,
    ProtectedObject,
    UnknownDomain,
    UnknownObject,
)


async def test_initialize_creates_the_main_domain_once(directory: Directory) -> None:
    assert await directory.main_domain() == "example.com"
    assert await directory.initialize("other.org") is False
    assert await directory.domains() == ["example.com"]


async def test_domains_add_list_show_rename_remove(directory: Directory) -> None:
    info = await directory.create_domain("Shop.Example.NET", {"MaxAccounts": "5"})
    assert info.name == "shop.example.net"
    assert info.settings == {"MaxAccounts": "5"}
    assert await directory.domains() == ["example.com", "shop.example.net"]
    await directory.rename_domain("shop.example.net", "store.example.net")
    assert await directory.domains() == ["example.com", "store.example.net"]
    with pytest.raises(UnknownDomain):
        await directory.domain("shop.example.net")
    await directory.delete_domain("store.example.net")
    assert await directory.domains() == ["example.com"]


async def test_domain_names_are_unique_across_names_and_aliases(directory: Directory) -> None:
    await directory.create_domain("a.org")
    await directory.set_domain_aliases("a.org", ["a.net", "A.NET", "a.info"])
    assert (await directory.domain("a.net")).name == "a.org"
    assert (await directory.domain("a.org")).aliases == ["a.info", "a.net"]
    for taken in ("a.org", "a.net", "example.com"):
        with pytest.raises(AlreadyExists):
            await directory.create_domain(taken)
    with pytest.raises(AlreadyExists):
        await directory.set_domain_aliases("a.org", ["example.com"])
    with pytest.raises(AlreadyExists):
        await directory.rename_domain("a.org", "example.com")


async def test_renaming_the_main_domain_moves_the_main_domain(directory: Directory) -> None:
    await directory.rename_domain("example.com", "example.org")
    assert await directory.main_domain() == "example.org"


async def test_the_main_domain_cannot_be_removed(directory: Directory) -> None:
    with pytest.raises(ProtectedObject):
        await directory.delete_domain("example.com", force=True)


async def test_a_domain_with_objects_needs_force(directory: Directory) -> None:
    await directory.create_domain("full.org")
    await directory.create_account("bob@full.org", password="pw")
    await directory.set_account_aliases("bob@full.org", ["robert"])
    with pytest.raises(DomainNotEmpty, match="force"):
        await directory.delete_domain("full.org")
    await directory.delete_domain("full.org", force=True)
    with pytest.raises(UnknownDomain):
        await directory.account("bob@full.org")
    # The name is free again, with nothing left over.
    await directory.create_domain("full.org")
    assert await directory.accounts("full.org") == {}


async def test_accounts_start_from_the_template_and_inherit_defaults(directory: Directory) -> None:
    await directory.update_server_account_defaults({"MaxAccountSize": "1G", "MaxMailboxes": "100"})
    await directory.update_account_defaults("example.com", {"MaxAccountSize": "2G"})
    await directory.update_account_template("example.com", {"RealName": "New user", "PWDAllowed": "NO"})
    info = await directory.create_account("alice", password="pw", settings={"RealName": "Alice"})
    assert info.settings == {"RealName": "Alice", "PWDAllowed": "NO"}
    effective = await directory.effective_account_settings("alice@example.com")
    assert effective["MaxAccountSize"] == "2G"  # domain default over server default
    assert effective["MaxMailboxes"] == "100"  # server default
    assert effective["RealName"] == "Alice"
    assert effective["RulesAllowed"] == "Any"  # the schema's default
    # Effective settings are computed, never stored: changing a default changes them.
    await directory.update_account_defaults("example.com", {"MaxAccountSize": "default"})
    assert (await directory.effective_account_settings("alice"))["MaxAccountSize"] == "1G"
    assert await directory.account_settings("alice") == {"RealName": "Alice", "PWDAllowed": "NO"}


async def test_update_merges_and_set_replaces(directory: Directory) -> None:
    await directory.create_account("carol", password="pw", settings={"RealName": "C"})
    assert await directory.update_account_settings("carol", {"MaxWebSize": "10m"}) == {
        "RealName": "C", "MaxWebSize": "10M"}
    assert await directory.update_account_settings("carol", {"RealName": "default"}) == {"MaxWebSize": "10M"}
    assert await directory.set_account_settings("carol", {"ServiceClass": "gold"}) == {"ServiceClass": "gold"}
    with pytest.raises(InvalidSetting):
        await directory.update_account_settings("carol", {"MaxWebSize": "huge"})
    assert await directory.account_settings("carol") == {"ServiceClass": "gold"}


async def test_header_settings_with_line_ends_are_refused_on_every_path(directory: Directory) -> None:
    """Issue 12 item 6: RealName "Alice\\r\\nBcc: spy@evil.test" was stored, and the webmail's send failed."""
    await directory.create_account("frank", password="pw", settings={"RealName": "Frank"})
    evil = "Alice\r\nBcc: spy@evil.test"
    with pytest.raises(InvalidSetting, match="RealName: control characters"):
        await directory.update_account_settings("frank", {"RealName": evil})
    with pytest.raises(InvalidSetting, match="RealName"):
        await directory.set_account_settings("frank", {"RealName": evil})
    with pytest.raises(InvalidSetting, match="RealName"):
        await directory.create_account("grace", password="pw", settings={"RealName": evil})
    with pytest.raises(InvalidSetting, match="RealName"):
        await directory.update_account_defaults("example.com", {"RealName": evil})
    with pytest.raises(InvalidSetting, match="RealName"):
        await directory.update_server_account_defaults({"RealName": evil})
    with pytest.raises(InvalidSetting, match="RealName"):
        await directory.create_group("evilgroup", settings={"RealName": evil})
    with pytest.raises(InvalidSetting, match="MailRerouteAddress"):
        await directory.update_domain_settings("example.com", {"MailRerouteAddress": "a@example.com\nb"})
    assert await directory.account_settings("frank") == {"RealName": "Frank"}
    assert "RealName" not in await directory.account_defaults("example.com")


async def test_domain_settings_and_effective(directory: Directory) -> None:
    await directory.update_server_domain_defaults({"MaxAccounts": "100"})
    await directory.update_domain_settings("example.com", {"MaxGroups": "3"})
    effective = await directory.effective_domain_settings("example.com")
    assert effective["MaxAccounts"] == "100"
    assert effective["MaxGroups"] == "3"
    assert effective["DomainAccessModes"] == "All"
    assert await directory.set_domain_settings("example.com", {}) == {}


async def test_max_accounts_is_enforced(directory: Directory) -> None:
    await directory.create_domain("small.org", {"MaxAccounts": "1"})
    await directory.create_account("one@small.org")
    with pytest.raises(AlreadyExists, match="limit of 1"):
        await directory.create_account("two@small.org")


async def test_names_are_case_insensitive_and_validated(directory: Directory) -> None:
    await directory.create_account("Dave@Example.COM", password="pw")
    assert (await directory.account("DAVE")).address == "dave@example.com"
    with pytest.raises(AlreadyExists):
        await directory.create_account("dave", password="pw")
    with pytest.raises(InvalidName):
        await directory.create_account("da ve", password="pw")
    with pytest.raises(UnknownDomain):
        await directory.create_account("x@nowhere.org", password="pw")
    with pytest.raises(InvalidSetting, match="empty"):
        await directory.create_account("eve", password="")
    with pytest.raises(InvalidSetting, match="account type"):
        await directory.create_account("eve", storage="Shoebox")


async def test_one_namespace_for_accounts_aliases_forwarders_and_groups(directory: Directory) -> None:
    await directory.create_account("erin", password="pw")
    await directory.create_alias("sales", "erin")
    await directory.create_forwarder("info", "info@elsewhere.org")
    await directory.create_group("team", members=["erin"])
    for name in ("erin", "sales", "info", "team"):
        for create in (lambda n: directory.create_account(n, password="pw"),
                       lambda n: directory.create_alias(n, "erin"),
                       lambda n: directory.create_forwarder(n, "x@y.org"),
                       lambda n: directory.create_group(n)):
            with pytest.raises(AlreadyExists):
                await create(name)


async def test_account_rename_within_and_across_domains(directory: Directory) -> None:
    await directory.create_domain("b.org")
    await directory.create_account("frank", password="pw")
    await directory.set_account_aliases("frank", ["fr"])
    assert await directory.rename_account("frank", "francis") == "francis@example.com"
    assert (await directory.account("fr")).name == "francis"
    assert await directory.rename_account("francis", "francis@b.org") == "francis@b.org"
    assert await directory.aliases("b.org") == {"fr": "francis"}
    assert await directory.aliases("example.com") == {}
    assert await directory.verify_password("fr@b.org", "pw")


async def test_postmaster_is_protected(directory: Directory) -> None:
    await directory.create_account("postmaster", password="pw", rights=["Master"])
    with pytest.raises(ProtectedObject):
        await directory.delete_account("postmaster")
    with pytest.raises(ProtectedObject):
        await directory.rename_account("postmaster", "boss")


async def test_deleting_an_account_deletes_its_aliases(directory: Directory) -> None:
    await directory.create_account("gina", password="pw")
    await directory.set_account_aliases("gina", ["g", "gi"])
    await directory.delete_account("gina")
    assert await directory.aliases("example.com") == {}
    with pytest.raises(UnknownObject):
        await directory.account("g")
    await directory.create_account("g", password="pw")  # the names are free again


async def test_aliases(directory: Directory) -> None:
    await directory.create_domain("b.org")
    await directory.create_account("hal", password="pw")
    assert await directory.create_alias("h9000", "hal") == "hal@example.com"
    assert await directory.set_account_aliases("hal", ["h", "H", "hh"]) == ["h", "hh"]
    assert await directory.account_aliases("hal") == ["h", "hh"]
    with pytest.raises(UnknownObject, match="its account's domain"):
        await directory.create_alias("hal@b.org", "hal@example.com")
    with pytest.raises(UnknownObject):
        await directory.create_alias("x", "nobody")
    await directory.delete_alias("h")
    assert await directory.aliases("example.com") == {"hh": "hal"}
    with pytest.raises(UnknownObject):
        await directory.delete_alias("hal")  # an account, not an alias


async def test_forwarders(directory: Directory) -> None:
    assert await directory.create_forwarder("ivy", "Ivy.Real@Mail.Example.org") == "Ivy.Real@mail.example.org"
    assert await directory.forwarder("ivy") == "Ivy.Real@mail.example.org"
    await directory.set_forwarder("ivy", "ivy2@other.org")
    assert await directory.forwarders("example.com") == {"ivy": "ivy2@other.org"}
    assert await directory.rename_forwarder("ivy", "ivy3") == "ivy3@example.com"
    with pytest.raises(InvalidName):
        await directory.create_forwarder("bad", "not an address")
    await directory.delete_forwarder("ivy3")
    with pytest.raises(UnknownObject):
        await directory.forwarder("ivy3")


async def test_groups(directory: Directory) -> None:
    info = await directory.create_group("staff", settings={"RealName": "Staff"},
                                        members=["jo", "kim@other.org", "JO@example.com"])
    assert info.members == ["jo@example.com", "kim@other.org"]
    assert info.settings == {"RealName": "Staff"}
    info = await directory.update_group("staff", settings={"SetReplyTo": "yes"}, members=["lee"])
    assert info.members == ["lee@example.com"]
    assert info.settings == {"RealName": "Staff", "SetReplyTo": "YES"}
    info = await directory.update_group("staff", settings={}, replace_settings=True)
    assert info.settings == {} and info.members == ["lee@example.com"]
    assert await directory.groups("example.com") == ["staff"]
    await directory.delete_group("staff")
    with pytest.raises(UnknownObject):
        await directory.group("staff")


async def test_list_objects_pages_filters_and_counts(directory: Directory) -> None:
    for i in range(7):
        await directory.create_account(f"user{i}", password=None)
    await directory.create_alias("alias_a", "user1")
    await directory.create_forwarder("fwd", "x@y.org")
    page = await directory.list_objects("example.com", limit=3)
    assert [o.name for o in page.objects] == ["alias_a", "fwd", "user0"]
    assert page.total == 9
    names = [o.name for o in page.objects]
    while page.cookie:
        page = await directory.list_objects("example.com", limit=3, cookie=page.cookie)
        names += [o.name for o in page.objects]
    assert names == ["alias_a", "fwd"] + [f"user{i}" for i in range(7)]
    accounts = await directory.list_objects("example.com", kinds=["account"], filter="ER3")
    assert [(o.name, o.kind) for o in accounts.objects] == [("user3", "account")]
    aliases = await directory.list_objects("example.com", kinds=["alias"])
    assert [(o.name, o.target) for o in aliases.objects] == [("alias_a", "user1")]
    underscore = await directory.list_objects("example.com", filter="_")
    assert [o.name for o in underscore.objects] == ["alias_a"]  # '_' is literal, not a wildcard


async def test_login_records_by_name_alias_and_domain_alias(directory: Directory) -> None:
    await directory.set_domain_aliases("example.com", ["example.net"])
    await directory.create_account("kate", password="pw", settings={"AccessModes": "Mail, IMAP"})
    await directory.create_alias("kt", "kate")
    for login in ("kate", "KATE@example.com", "kt@example.net", "kate@EXAMPLE.NET"):
        record = await directory.login_record(login)
        assert record is not None and record.address == "kate@example.com", login
    record = await directory.login_record("kate")
    assert record is not None
    assert record.may_use("IMAP") and not record.may_use("POP")
    await directory.update_domain_settings("example.com", {"DomainAccessModes": "Mail"})
    record = await directory.login_record("kate")
    assert record is not None and not record.may_use("IMAP")
    for unknown in ("nobody", "kate@nowhere.org", "bad name", "", "@", "x" * 500):
        assert await directory.login_record(unknown) is None


async def test_passwords_are_hashed_with_argon2id_and_scram(directory: Directory) -> None:
    await directory.create_account("leo", password="correct horse")
    record = await directory.login_record("leo")
    assert record is not None
    assert record.password_hash.startswith("$argon2id$")
    assert record.scram_sha256.startswith("SCRAM-SHA-256$4096:")
    assert "correct horse" not in record.password_hash + record.scram_sha256
    assert await directory.verify_password("leo", "correct horse")
    assert not await directory.verify_password("leo", "wrong")
    await directory.set_password("leo", "new one")
    assert await directory.verify_password("leo", "new one")
    assert not await directory.verify_password("leo", "correct horse")


async def test_an_account_without_password_cannot_match_any(directory: Directory) -> None:
    info = await directory.create_account("mia")
    assert not info.has_password
    assert not await directory.verify_password("mia", "")
    assert not await directory.verify_password("mia", "anything")


async def test_rights_and_prefs(directory: Directory) -> None:
    await directory.create_account("ned", password="pw")
    assert await directory.set_account_rights("ned", ["canCreateAccounts", "Domain"]) == [
        "CanCreateAccounts", "Domain"]
    with pytest.raises(InvalidSetting):
        await directory.set_account_rights("ned", ["Superpowers"])
    await directory.update_account_prefs("ned", {"TimeZone": "Europe/Paris", "Frames": ["a", "b"]})
    assert await directory.update_account_prefs("ned", {"Frames": "default"}) == {"TimeZone": "Europe/Paris"}
    with pytest.raises(InvalidSetting):
        await directory.update_account_prefs("ned", {"Bad": 3})
    assert await directory.set_account_prefs("ned", {}) == {}


async def test_changes_are_published_after_commit(directory: Directory, bus: LocalBus) -> None:
    subscription = bus.subscribe(topics.DIRECTORY)
    await directory.create_account("olga", password="pw")
    await directory.update_account_settings("olga", {"RealName": "O"})
    with pytest.raises(AlreadyExists):
        await directory.create_account("olga", password="pw")
    events = [subscription.get_nowait(), subscription.get_nowait(), subscription.get_nowait()]
    assert events[0] == AccountChanged("olga@example.com", "created")
    assert events[1] == AccountChanged("olga@example.com", "settings")
    assert events[2] is None  # the refused creation published nothing


async def test_racing_creations_of_one_name_make_one_account(directory: Directory) -> None:
    results = await asyncio.gather(*(directory.create_account("race", password=None) for _ in range(10)),
                                   return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, BaseException))


async def test_concurrent_merges_lose_nothing(directory: Directory) -> None:
    """Read-modify-write of a dictionary is locked: twenty sessions merging at once keep all twenty."""
    await directory.create_account("busy", password=None)
    await asyncio.gather(*(directory.update_account_prefs("busy", {f"key{i}": str(i)}) for i in range(20)))
    assert set(await directory.account_prefs("busy")) == {f"key{i}" for i in range(20)}
    await asyncio.gather(*(directory.update_account_default_prefs("example.com", {f"d{i}": "x"}) for i in range(20)))
    assert len(await directory.account_default_prefs("example.com")) == 20
    await directory.create_group("crowd")
    await asyncio.gather(*(directory.update_group("crowd", settings={"RealName": "x"}) for _ in range(10)))
