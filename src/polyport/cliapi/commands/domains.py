"""Domain commands: domains, their aliases and settings, account defaults, templates and default prefs,
and the paged list of a domain's objects."""

from __future__ import annotations

from polyport.cliapi.codes import bad, not_allowed
from polyport.cliapi.commands import Context, array, command, dictionary, is_set
from polyport.cliapi.wire import Parser, Value
from polyport.directory import settings as schema
from polyport.directory.records import ACCOUNT, ALIAS, FORWARDER

CAN_MODIFY_SETTINGS = "CanModifySettings"

# LISTACCOUNTS shows each account's type as CommuniGate's file extension.
STORAGE_EXTENSIONS = {"MultiMailbox": "macnt", "TextMailbox": "mbox", "MailDirMailbox": "mdir"}


@command("LISTDOMAINS")
async def list_domains(cx: Context, args: Parser) -> Value:
    args.end()
    if cx.is_master:
        return await cx.directory.domains()
    return [cx.my_domain]


@command("LISTADMINDOMAINS")
async def list_admin_domains(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return [(await cx.directory.domain(domain)).name]


@command("MAINDOMAINNAME")
async def main_domain_name(cx: Context, args: Parser) -> Value:
    args.end()
    return await cx.directory.main_domain()


@command("CREATEDOMAIN")
async def create_domain(cx: Context, args: Parser) -> None:
    cx.require_master()
    name = args.string()
    # SHARED (cluster-wide) and PATH (a storage mount point) have no meaning here; accepted and ignored.
    while (word := args.maybe_keyword("SHARED", "PATH")) is not None:
        if word == "PATH":
            args.string()
    settings = dictionary(args) if args.peek() == "{" else {}
    args.end()
    await cx.directory.create_domain(name, settings)


@command("RENAMEDOMAIN")
async def rename_domain(cx: Context, args: Parser) -> None:
    cx.require_master()
    old = args.string()
    args.keyword("INTO")
    new = args.string()
    if args.maybe_keyword("PATH"):
        args.string()
    args.end()
    await cx.directory.rename_domain(old, new)


@command("DELETEDOMAIN")
async def delete_domain(cx: Context, args: Parser) -> None:
    cx.require_master()
    name = args.string()
    force = args.maybe_keyword("FORCE") is not None
    args.end()
    await cx.directory.delete_domain(name, force=force)


@command("GETDOMAINSETTINGS")
async def get_domain_settings(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return await cx.directory.domain_settings(domain)


@command("GETDOMAINEFFECTIVESETTINGS")
async def get_domain_effective_settings(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return await cx.directory.effective_domain_settings(domain)


@command("UPDATEDOMAINSETTINGS")
async def update_domain_settings(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await cx.require_domain(domain, CAN_MODIFY_SETTINGS)
    if not cx.is_master and (limits := schema.server_only(schema.DOMAIN_SETTINGS, changes)):
        raise not_allowed(f"Only server administrators may change {', '.join(limits)}")
    await cx.directory.update_domain_settings(domain, changes)


@command("SETDOMAINSETTINGS")
async def set_domain_settings(cx: Context, args: Parser) -> None:
    cx.require_master()
    domain = args.string()
    values = dictionary(args)
    args.end()
    await cx.directory.set_domain_settings(domain, values)


@command("GETDOMAINALIASES")
async def get_domain_aliases(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return (await cx.directory.domain(domain)).aliases


@command("SETDOMAINALIASES")
async def set_domain_aliases(cx: Context, args: Parser) -> None:
    cx.require_master()
    domain = args.string()
    aliases = array(args)
    args.end()
    await cx.directory.set_domain_aliases(domain, aliases)


# -- account defaults, templates, default prefs of a domain --

@command("GETACCOUNTDEFAULTS")
async def get_account_defaults(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return await cx.directory.account_defaults(domain)


@command("UPDATEACCOUNTDEFAULTS", "SETACCOUNTDEFAULTS")
async def update_account_defaults(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await cx.require_domain(domain, CAN_MODIFY_SETTINGS)
    await cx.directory.update_account_defaults(domain, changes, replace=is_set(args))


@command("GETACCOUNTTEMPLATE")
async def get_account_template(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return await cx.directory.account_template(domain)


@command("UPDATEACCOUNTTEMPLATE", "SETACCOUNTTEMPLATE")
async def update_account_template(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await cx.require_domain(domain, CAN_MODIFY_SETTINGS)
    await cx.directory.update_account_template(domain, changes, replace=is_set(args))


@command("GETACCOUNTDEFAULTPREFS")
async def get_account_default_prefs(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    return await cx.directory.account_default_prefs(domain)


@command("UPDATEACCOUNTDEFAULTPREFS", "SETACCOUNTDEFAULTPREFS")
async def update_account_default_prefs(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await cx.require_domain(domain, CAN_MODIFY_SETTINGS)
    await cx.directory.update_account_default_prefs(domain, changes, replace=is_set(args))


# -- the objects of a domain --

@command("LISTACCOUNTS")
async def list_accounts(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    await cx.require_domain(domain)
    accounts = await cx.directory.accounts(domain)
    return {name: STORAGE_EXTENSIONS.get(storage, "macnt") for name, storage in accounts.items()}


@command("LISTDOMAINOBJECTS")
async def list_domain_objects(cx: Context, args: Parser) -> Value:
    """domain [FILTER f] limit [ACCOUNTS] [ALIASES] [FORWARDERS] [COOKIE c] ->
    (accounts, {name=macnt | (owner) | ((address));}, aliases, forwarders[, cookie])"""
    domain = args.string()
    pattern = args.string() if args.maybe_keyword("FILTER") else ""
    limit_value = args.value()
    try:
        limit = int(limit_value)
    except (TypeError, ValueError, OverflowError):
        raise bad("LISTDOMAINOBJECTS needs a number: the most objects to list") from None
    if limit < 1:
        raise bad("the limit must be at least 1")
    kinds: list[str] = []
    cookie: str | None = None
    while (word := args.maybe_keyword("ACCOUNTS", "ALIASES", "FORWARDERS", "COOKIE")) is not None:
        if word == "COOKIE":
            cookie = args.string()
        else:
            kinds.append({"ACCOUNTS": ACCOUNT, "ALIASES": ALIAS, "FORWARDERS": FORWARDER}[word])
    args.end()
    await cx.require_domain(domain)
    directory = cx.directory
    page = await directory.list_objects(domain, filter=pattern, limit=limit,
                                        kinds=kinds or (ACCOUNT, ALIAS, FORWARDER), cookie=cookie or "",
                                        count=False)
    objects: dict[str, Value] = {}
    for entry in page.objects:
        if entry.kind == ACCOUNT:
            objects[entry.name] = STORAGE_EXTENSIONS.get(entry.storage or "", "macnt")
        elif entry.kind == ALIAS:
            objects[entry.name] = [entry.target or ""]
        elif entry.kind == FORWARDER:
            objects[entry.name] = [[entry.target or ""]]
    # Totals by counting index ranges, not by loading every account: 100,000 accounts list fast.
    counts = await directory.count_objects(domain)
    result: list[Value] = [str(counts[ACCOUNT]), objects, str(counts[ALIAS]), str(counts[FORWARDER])]
    if cookie is not None:
        result.append(page.cookie)
    return result
