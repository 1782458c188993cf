"""Domain commands: domains, their aliases and settings, account defaults, templates and default prefs,
and the paged list of a domain's objects."""

from __future__ import annotations

from polyport import admin
from polyport.cliapi.codes import bad
from polyport.cliapi.commands import Context, array, command, dictionary, is_set
from polyport.cliapi.wire import Parser, Value
from polyport.directory.records import ACCOUNT, ALIAS, FORWARDER

# LISTACCOUNTS shows each account's type as CommuniGate's file extension.
STORAGE_EXTENSIONS = {"MultiMailbox": "macnt", "TextMailbox": "mbox", "MailDirMailbox": "mdir"}


@command("LISTDOMAINS")
async def list_domains(cx: Context, args: Parser) -> Value:
    args.end()
    return await admin.list_domains(cx.runtime, cx.actor)


@command("LISTADMINDOMAINS")
async def list_admin_domains(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.list_admin_domains(cx.runtime, cx.actor, domain)


@command("MAINDOMAINNAME")
async def main_domain_name(cx: Context, args: Parser) -> Value:
    args.end()
    return await admin.main_domain(cx.runtime, cx.actor)


@command("CREATEDOMAIN")
async def create_domain(cx: Context, args: Parser) -> None:
    name = args.string()
    # SHARED (cluster-wide) and PATH (a storage mount point) have no meaning here; accepted and ignored.
    while (word := args.maybe_keyword("SHARED", "PATH")) is not None:
        if word == "PATH":
            args.string()
    settings = dictionary(args) if args.peek() == "{" else {}
    args.end()
    await admin.create_domain(cx.runtime, cx.actor, name, settings)


@command("RENAMEDOMAIN")
async def rename_domain(cx: Context, args: Parser) -> None:
    old = args.string()
    args.keyword("INTO")
    new = args.string()
    if args.maybe_keyword("PATH"):
        args.string()
    args.end()
    await admin.rename_domain(cx.runtime, cx.actor, old, new)


@command("DELETEDOMAIN")
async def delete_domain(cx: Context, args: Parser) -> None:
    name = args.string()
    force = args.maybe_keyword("FORCE") is not None
    args.end()
    await admin.delete_domain(cx.runtime, cx.actor, name, force=force)


@command("GETDOMAINSETTINGS")
async def get_domain_settings(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.domain_settings(cx.runtime, cx.actor, domain)


@command("GETDOMAINEFFECTIVESETTINGS")
async def get_domain_effective_settings(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.effective_domain_settings(cx.runtime, cx.actor, domain)


@command("UPDATEDOMAINSETTINGS")
async def update_domain_settings(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await admin.update_domain_settings(cx.runtime, cx.actor, domain, changes)


@command("SETDOMAINSETTINGS")
async def set_domain_settings(cx: Context, args: Parser) -> None:
    domain = args.string()
    values = dictionary(args)
    args.end()
    await admin.set_domain_settings(cx.runtime, cx.actor, domain, values)


@command("GETDOMAINALIASES")
async def get_domain_aliases(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.domain_aliases(cx.runtime, cx.actor, domain)


@command("SETDOMAINALIASES")
async def set_domain_aliases(cx: Context, args: Parser) -> None:
    domain = args.string()
    aliases = array(args)
    args.end()
    await admin.set_domain_aliases(cx.runtime, cx.actor, domain, aliases)


# -- account defaults, templates, default prefs of a domain --

@command("GETACCOUNTDEFAULTS")
async def get_account_defaults(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.account_defaults(cx.runtime, cx.actor, domain)


@command("UPDATEACCOUNTDEFAULTS", "SETACCOUNTDEFAULTS")
async def update_account_defaults(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await admin.update_account_defaults(cx.runtime, cx.actor, domain, changes, replace=is_set(args))


@command("GETACCOUNTTEMPLATE")
async def get_account_template(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.account_template(cx.runtime, cx.actor, domain)


@command("UPDATEACCOUNTTEMPLATE", "SETACCOUNTTEMPLATE")
async def update_account_template(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await admin.update_account_template(cx.runtime, cx.actor, domain, changes, replace=is_set(args))


@command("GETACCOUNTDEFAULTPREFS")
async def get_account_default_prefs(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    return await admin.account_default_prefs(cx.runtime, cx.actor, domain)


@command("UPDATEACCOUNTDEFAULTPREFS", "SETACCOUNTDEFAULTPREFS")
async def update_account_default_prefs(cx: Context, args: Parser) -> None:
    domain = cx.domain_or_mine(args)
    changes = dictionary(args)
    args.end()
    await admin.update_account_default_prefs(cx.runtime, cx.actor, domain, changes, replace=is_set(args))


# -- the objects of a domain --

@command("LISTACCOUNTS")
async def list_accounts(cx: Context, args: Parser) -> Value:
    domain = cx.domain_or_mine(args)
    args.end()
    accounts = await admin.list_accounts(cx.runtime, cx.actor, domain)
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
    listed = await admin.list_domain_objects(cx.runtime, cx.actor, domain, filter=pattern, limit=limit,
                                             kinds=kinds or (ACCOUNT, ALIAS, FORWARDER), cookie=cookie or "")
    objects: dict[str, Value] = {}
    for entry in listed.objects:
        if entry.kind == ACCOUNT:
            objects[entry.name] = STORAGE_EXTENSIONS.get(entry.storage or "", "macnt")
        elif entry.kind == ALIAS:
            objects[entry.name] = [entry.target or ""]
        elif entry.kind == FORWARDER:
            objects[entry.name] = [[entry.target or ""]]
    counts = listed.counts
    result: list[Value] = [str(counts[ACCOUNT]), objects, str(counts[ALIAS]), str(counts[FORWARDER])]
    if cookie is not None:
        result.append(listed.cookie)
    return result
