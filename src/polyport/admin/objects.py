"""Forwarders and groups of a domain: a server administrator, or a domain administrator of their domain
with CanCreateForwarders or CanCreateGroups to change them (the Domain right alone to read them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from polyport.admin.errors import InvalidRequest
from polyport.admin.rights import CAN_CREATE_FORWARDERS, CAN_CREATE_GROUPS, Actor, Services, require_object
from polyport.directory import GroupInfo

MEMBERS = "Members"


async def create_forwarder(s: Services, actor: Actor, address: str, target: str) -> None:
    await require_object(s.directory, actor, address, CAN_CREATE_FORWARDERS)
    await s.directory.create_forwarder(address, target)


async def forwarder(s: Services, actor: Actor, address: str) -> str:
    """The address a forwarder forwards to."""
    await require_object(s.directory, actor, address)
    return await s.directory.forwarder(address)


async def delete_forwarder(s: Services, actor: Actor, address: str) -> None:
    await require_object(s.directory, actor, address, CAN_CREATE_FORWARDERS)
    await s.directory.delete_forwarder(address)


async def rename_forwarder(s: Services, actor: Actor, old: str, new: str) -> None:
    await require_object(s.directory, actor, old, CAN_CREATE_FORWARDERS)
    await require_object(s.directory, actor, new, CAN_CREATE_FORWARDERS)
    await s.directory.rename_forwarder(old, new)


# -- groups --

def split_group(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """A group dictionary: its settings, and its members (CommuniGate keeps them under Members)."""
    settings = dict(values)
    members: list[str] | None = None
    for key in list(settings):
        if key.lower() == MEMBERS.lower():
            raw = settings.pop(key)
            items = raw if isinstance(raw, list) else [raw]
            if not all(isinstance(item, str) for item in items):
                raise InvalidRequest("Members must be an array of addresses")
            members = items
    return settings, members


async def create_group(s: Services, actor: Actor, address: str, settings: Mapping[str, Any] | None = None,
                       members: Sequence[str] | None = None) -> None:
    """Create a group; its members are `members`, or `settings`'s Members (CommuniGate's dictionary)."""
    await require_object(s.directory, actor, address, CAN_CREATE_GROUPS)
    values, listed = split_group(settings or {})
    await s.directory.create_group(address, settings=values, members=members or listed or ())


async def group(s: Services, actor: Actor, address: str) -> GroupInfo:
    await require_object(s.directory, actor, address)
    return await s.directory.group(address)


async def set_group(s: Services, actor: Actor, address: str, settings: Mapping[str, Any] | None = None,
                    members: Sequence[str] | None = None) -> None:
    """Replace a group's settings and members (none given: none left)."""
    await require_object(s.directory, actor, address, CAN_CREATE_GROUPS)
    values, listed = split_group(settings or {})
    wanted = members if members is not None else listed
    await s.directory.update_group(address, settings=values, members=list(wanted or []), replace_settings=True)


async def rename_group(s: Services, actor: Actor, old: str, new: str) -> None:
    await require_object(s.directory, actor, old, CAN_CREATE_GROUPS)
    await require_object(s.directory, actor, new, CAN_CREATE_GROUPS)
    await s.directory.rename_group(old, new)


async def delete_group(s: Services, actor: Actor, address: str) -> None:
    await require_object(s.directory, actor, address, CAN_CREATE_GROUPS)
    await s.directory.delete_group(address)
