"""Forwarders and groups."""

from __future__ import annotations

from polyport import admin
from polyport.admin.objects import MEMBERS
from polyport.cliapi.commands import Context, command, dictionary
from polyport.cliapi.wire import Parser, Value


@command("LISTFORWARDERS")
async def list_forwarders(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return list(await admin.list_forwarders(cx.runtime, cx.actor, domain))


@command("CREATEFORWARDER")
async def create_forwarder(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.keyword("TO")
    target = args.string()
    args.end()
    await admin.create_forwarder(cx.runtime, cx.actor, address, target)


@command("GETFORWARDER")
async def get_forwarder(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.forwarder(cx.runtime, cx.actor, address)


@command("DELETEFORWARDER")
async def delete_forwarder(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.end()
    await admin.delete_forwarder(cx.runtime, cx.actor, address)


@command("RENAMEFORWARDER")
async def rename_forwarder(cx: Context, args: Parser) -> None:
    old = cx.address(args.string())
    args.keyword("INTO")
    new = cx.address(args.string())
    args.end()
    await admin.rename_forwarder(cx.runtime, cx.actor, old, new)


@command("FINDFORWARDERS")
async def find_forwarders(cx: Context, args: Parser) -> Value:
    domain = args.string()
    args.keyword("TO")
    target = args.string()
    args.end()
    return await admin.find_forwarders(cx.runtime, cx.actor, domain, target)


# -- groups: CommuniGate keeps the members in the group's dictionary, under Members --

@command("LISTGROUPS")
async def list_groups(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.list_groups(cx.runtime, cx.actor, domain)


@command("CREATEGROUP")
async def create_group(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args) if args.peek() == "{" else {}
    args.end()
    await admin.create_group(cx.runtime, cx.actor, address, values)


@command("GETGROUP")
async def get_group(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    group = await admin.group(cx.runtime, cx.actor, address)
    return {**group.settings, MEMBERS: group.members}


@command("SETGROUP")
async def set_group(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args)
    args.end()
    await admin.set_group(cx.runtime, cx.actor, address, values)


@command("RENAMEGROUP")
async def rename_group(cx: Context, args: Parser) -> None:
    old = cx.address(args.string())
    args.keyword("INTO")
    new = cx.address(args.string())
    args.end()
    await admin.rename_group(cx.runtime, cx.actor, old, new)


@command("DELETEGROUP")
async def delete_group(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.end()
    await admin.delete_group(cx.runtime, cx.actor, address)
