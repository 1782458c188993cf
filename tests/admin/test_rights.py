"""Who may act: the checks every administration function makes first (admin/rights.py)."""

from __future__ import annotations

import pytest

from polyport.admin import SERVER, Actor, Forbidden, Hidden
from polyport.admin.rights import is_me, require_domain, require_master, require_object
from polyport.auth.login import Identity
from polyport.directory import UnknownDomain
from tests.admin.conftest import Cast, Services


def test_an_actor_is_an_identity_or_the_server_itself() -> None:
    actor = Actor.of(Identity(7, "boss@tenant.test", "boss", ["Domain"]))
    assert actor == Actor("boss@tenant.test", 7, frozenset({"Domain"}))
    assert actor.domain == "tenant.test" and not actor.is_master
    assert SERVER.is_master and SERVER.account_id is None and SERVER.domain == ""
    require_master(SERVER)
    with pytest.raises(Forbidden):
        require_master(actor)


async def test_the_server_administrator_administers_every_domain(services: Services, cast: Cast) -> None:
    directory = services.directory
    for actor in (cast.master, cast.root, SERVER):
        assert await require_domain(directory, actor, "other.test") == "other.test"
    with pytest.raises(UnknownDomain):  # a server administrator may know which domains exist
        await require_domain(directory, cast.master, "nowhere.test")


async def test_a_domain_administrator_sees_only_its_domain(services: Services, cast: Cast) -> None:
    directory = services.directory
    assert await require_domain(directory, cast.reader, "tenant.test") == "tenant.test"
    for domain in ("other.test", "example.com", "nowhere.test", "not a domain"):
        with pytest.raises(Hidden):  # someone else's and one that does not exist look the same
            await require_domain(directory, cast.reader, domain)


async def test_a_missing_right_or_none_at_all_is_a_plain_refusal(services: Services, cast: Cast) -> None:
    directory = services.directory
    assert await require_domain(directory, cast.boss, "tenant.test", "CanModifySettings") == "tenant.test"
    for actor, right in ((cast.reader, "CanModifySettings"), (cast.user, None), (cast.victim, None)):
        with pytest.raises(Forbidden) as refused:
            await require_domain(directory, actor, "tenant.test", right)
        assert not isinstance(refused.value, Hidden)


async def test_objects_the_actor_itself_and_accounts_holding_more_rights(services: Services, cast: Cast) -> None:
    directory = services.directory
    await directory.create_alias("bossy@tenant.test", "boss@tenant.test")
    assert await is_me(directory, cast.boss, "bossy@tenant.test")
    assert await is_me(directory, cast.boss, "BOSS@tenant.test")
    assert not await is_me(directory, cast.boss, "user@tenant.test")
    assert not await is_me(directory, SERVER, "postmaster@example.com")
    assert await require_object(directory, cast.user, "user@tenant.test", own=True)
    with pytest.raises(Forbidden):
        await require_object(directory, cast.user, "user@tenant.test")  # not without own=True
    assert await require_object(directory, cast.boss, "user@tenant.test", "CanCreateAccounts")
    assert await require_object(directory, cast.boss, "new@tenant.test", "CanCreateAccounts")
    with pytest.raises(Hidden, match="holds rights you do not"):
        await require_object(directory, cast.boss, "root@tenant.test")
    with pytest.raises(Hidden):
        await require_object(directory, cast.boss, "victim@other.test")
    with pytest.raises(Forbidden):
        await require_object(directory, cast.reader, "user@tenant.test", "CanCreateAccounts")
