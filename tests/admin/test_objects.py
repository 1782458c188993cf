"""Forwarders and groups: read with the Domain right, changed with CanCreateForwarders or CanCreateGroups."""

from __future__ import annotations

import pytest

from polyport import admin
from polyport.admin import Forbidden, Hidden, InvalidRequest
from polyport.directory import UnknownObject
from tests.admin.conftest import Cast, Services


async def test_forwarders(services: Services, cast: Cast) -> None:
    directory = services.directory
    keeper = await directory.create_account("keeper@tenant.test", rights=["Domain", "CanCreateForwarders"])
    forwarders = admin.Actor("keeper@tenant.test", keeper.id, frozenset(keeper.rights))
    await admin.create_forwarder(services, forwarders, "fw@tenant.test", "far@example.org")
    assert await admin.forwarder(services, cast.reader, "fw@tenant.test") == "far@example.org"
    await admin.rename_forwarder(services, forwarders, "fw@tenant.test", "fw2@tenant.test")
    for actor in (cast.boss, cast.reader, cast.user):  # boss lacks CanCreateForwarders
        with pytest.raises(Forbidden):
            await admin.create_forwarder(services, actor, "f@tenant.test", "x@example.org")
        with pytest.raises(Forbidden):
            await admin.delete_forwarder(services, actor, "fw2@tenant.test")
    with pytest.raises(Forbidden):
        await admin.forwarder(services, cast.user, "fw2@tenant.test")
    with pytest.raises(Hidden):
        await admin.create_forwarder(services, forwarders, "f@other.test", "x@example.org")
    with pytest.raises(Hidden):  # into another domain
        await admin.rename_forwarder(services, forwarders, "fw2@tenant.test", "fw2@other.test")
    await admin.delete_forwarder(services, forwarders, "fw2@tenant.test")
    with pytest.raises(UnknownObject):
        await admin.forwarder(services, cast.master, "fw2@tenant.test")


async def test_groups(services: Services, cast: Cast) -> None:
    directory = services.directory
    grouper = await directory.create_account("grouper@tenant.test", rights=["Domain", "CanCreateGroups"])
    actor = admin.Actor("grouper@tenant.test", grouper.id, frozenset(grouper.rights))
    await admin.create_group(services, actor, "team@tenant.test", {"RealName": "Team", "Members": ["user"]})
    group = await admin.group(services, cast.reader, "team@tenant.test")
    assert group.settings == {"RealName": "Team"} and group.members == ["user@tenant.test"]
    await admin.set_group(services, actor, "team@tenant.test", {"RealName": "The Team"}, ["boss", "reader"])
    group = await admin.group(services, cast.reader, "team@tenant.test")
    assert group.settings == {"RealName": "The Team"} and len(group.members) == 2
    await admin.set_group(services, actor, "team@tenant.test", {})  # replaces everything: no members left
    assert (await admin.group(services, actor, "team@tenant.test")).members == []
    with pytest.raises(InvalidRequest, match="Members"):
        await admin.create_group(services, actor, "odd@tenant.test", {"Members": [["nested"]]})
    for other in (cast.boss, cast.reader, cast.user):
        with pytest.raises(Forbidden):
            await admin.create_group(services, other, "g@tenant.test")
        with pytest.raises(Forbidden):
            await admin.delete_group(services, other, "team@tenant.test")
    with pytest.raises(Hidden):
        await admin.create_group(services, actor, "g@other.test")
    await admin.rename_group(services, actor, "team@tenant.test", "crew@tenant.test")
    await admin.delete_group(services, actor, "crew@tenant.test")
    assert await admin.list_groups(services, cast.reader, "tenant.test") == []
