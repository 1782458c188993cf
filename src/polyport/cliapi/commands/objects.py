"""Forwarders and groups."""

from __future__ import annotations

from typing import Any

from polyport.cliapi.codes import bad
from polyport.cliapi.commands import Context, command, dictionary
from polyport.cliapi.wire import Parser, Value

CAN_CREATE_FORWARDERS = "CanCreateForwarders"
CAN_CREATE_GROUPS = "CanCreateGroups"
MEMBERS = "Members"


@command("LISTFORWARDERS")
async def list_forwarders(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return list(await cx.directory.forwarders(domain))


@command("CREATEFORWARDER")
async def create_forwarder(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.keyword("TO")
    target = args.string()
    args.end()
    await cx.require_object(address, CAN_CREATE_FORWARDERS)
    await cx.directory.create_forwarder(address, target)


@command("GETFORWARDER")
async def get_forwarder(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address)
    return await cx.directory.forwarder(address)


@command("DELETEFORWARDER")
async def delete_forwarder(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, CAN_CREATE_FORWARDERS)
    await cx.directory.delete_forwarder(address)


@command("RENAMEFORWARDER")
async def rename_forwarder(cx: Context, args: Parser) -> None:
    old = cx.address(args.string())
    args.keyword("INTO")
    new = cx.address(args.string())
    args.end()
    await cx.require_object(old, CAN_CREATE_FORWARDERS)
    await cx.require_object(new, CAN_CREATE_FORWARDERS)
    await cx.directory.rename_forwarder(old, new)


@command("FINDFORWARDERS")
async def find_forwarders(cx: Context, args: Parser) -> Value:
    domain = args.string()
    args.keyword("TO")
    target = args.string()
    args.end()
    await cx.require_domain(domain)
    wanted = target.lower()
    return [name for name, address in (await cx.directory.forwarders(domain)).items() if address.lower() == wanted]


# -- groups --

def _split_group(values: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """A group dictionary: its settings, and its members (CommuniGate keeps them under Members)."""
    settings = dict(values)
    members: list[str] | None = None
    for key in list(settings):
        if key.lower() == MEMBERS.lower():
            raw = settings.pop(key)
            items = raw if isinstance(raw, list) else [raw]
            if not all(isinstance(item, str) for item in items):
                raise bad("Members must be an array of addresses")
            members = items
    return settings, members


@command("LISTGROUPS")
async def list_groups(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return await cx.directory.groups(domain)


@command("CREATEGROUP")
async def create_group(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args) if args.peek() == "{" else {}
    args.end()
    await cx.require_object(address, CAN_CREATE_GROUPS)
    settings, members = _split_group(values)
    await cx.directory.create_group(address, settings=settings, members=members or ())


@command("GETGROUP")
async def get_group(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address)
    group = await cx.directory.group(address)
    return {**group.settings, MEMBERS: group.members}


@command("SETGROUP")
async def set_group(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args)
    args.end()
    await cx.require_object(address, CAN_CREATE_GROUPS)
    settings, members = _split_group(values)
    await cx.directory.update_group(address, settings=settings, members=members or [], replace_settings=True)


@command("RENAMEGROUP")
async def rename_group(cx: Context, args: Parser) -> None:
    old = cx.address(args.string())
    args.keyword("INTO")
    new = cx.address(args.string())
    args.end()
    await cx.require_object(old, CAN_CREATE_GROUPS)
    await cx.require_object(new, CAN_CREATE_GROUPS)
    await cx.directory.rename_group(old, new)


@command("DELETEGROUP")
async def delete_group(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, CAN_CREATE_GROUPS)
    await cx.directory.delete_group(address)
