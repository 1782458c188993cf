"""`polyport domain|account|alias|forwarder|group ...`: directory administration on a data folder."""

from __future__ import annotations

import sys
from typing import Any

import click

from polyport.cli.common import admin, fail, parse_assignments, show
from polyport.directory import Directory
from polyport.directory import settings as schema


def setting_lines(specs: dict[str, schema.Spec], settings: dict[str, Any]) -> dict[str, Any]:
    """A show's setting lines; one Polyport does not use (kept for CommuniGate's integrations) says so."""
    unused = set(schema.unused(specs, settings))
    return {f"setting {k}" + (" (not used by Polyport)" if k in unused else ""): v for k, v in settings.items()}


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def read_password(given: str | None, from_stdin: bool, prompt: str = "Password") -> str:
    if given is not None:
        return given
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("give the password with --password, or --password-stdin to read it from standard input")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


password_options = [
    click.option("--password", help="The password (visible in the process list; prefer a prompt or "
                                    "--password-stdin)."),
    click.option("--password-stdin", is_flag=True, help="Read the password from standard input."),
]


def with_password_options(func: Any) -> Any:
    for option in reversed(password_options):
        func = option(func)
    return func


# -- domains ------------------------------------------------------------------------------------------------

@click.group()
def domain() -> None:
    """Domains: add, list, show, set, rename, remove, aliases."""


@domain.command("add")
@click.argument("name")
@click.option("--alias", "aliases", multiple=True, help="A domain alias (repeatable).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="A domain setting.")
@admin
async def domain_add(directory: Directory, name: str, aliases: tuple[str, ...],
                     assignments: tuple[str, ...]) -> None:
    """Add a domain."""
    info = await directory.create_domain(name, parse_assignments(assignments))
    if aliases:
        await directory.set_domain_aliases(info.name, aliases)
    click.echo(f"added domain {info.name}")


@domain.command("list")
@json_option
@admin
async def domain_list(directory: Directory, as_json: bool) -> None:
    """List the domains."""
    show(await directory.domains(), as_json)


@domain.command("show")
@click.argument("name")
@click.option("--effective", is_flag=True, help="Include inherited settings.")
@json_option
@admin
async def domain_show(directory: Directory, name: str, effective: bool, as_json: bool) -> None:
    """Show a domain, its aliases and settings."""
    info = await directory.domain(name)
    settings = await directory.effective_domain_settings(name) if effective else info.settings
    accounts = await directory.accounts(name)
    main = await directory.main_domain()
    data: dict[str, Any] = {
        "name": info.name, "main": "yes" if info.name == main else "no", "aliases": info.aliases,
        "accounts": str(len(accounts)),
        **setting_lines(schema.DOMAIN_SETTINGS, settings),
    }
    if as_json:
        data = {"name": info.name, "main": info.name == main, "aliases": info.aliases,
                "accounts": len(accounts), "settings": settings}
    show(data, as_json)


@domain.command("set")
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@admin
async def domain_set(directory: Directory, name: str, assignments: tuple[str, ...]) -> None:
    """Change domain settings (VALUE `default` removes a setting)."""
    show(await directory.update_domain_settings(name, parse_assignments(assignments)), False)


@domain.command("defaults")
@click.argument("name")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE...]")
@click.option("--template", is_flag=True, help="The template new accounts start from, not the defaults.")
@admin
async def domain_defaults(directory: Directory, name: str, assignments: tuple[str, ...],
                          template: bool) -> None:
    """Show or change the domain's account defaults (inherited) or account template (copied)."""
    changes = parse_assignments(assignments)
    if template:
        result = (await directory.update_account_template(name, changes) if changes
                  else await directory.account_template(name))
    else:
        result = (await directory.update_account_defaults(name, changes) if changes
                  else await directory.account_defaults(name))
    show(result, False)


@domain.command("rename")
@click.argument("old")
@click.argument("new")
@admin
async def domain_rename(directory: Directory, old: str, new: str) -> None:
    """Rename a domain."""
    await directory.rename_domain(old, new)
    click.echo(f"renamed {old} to {new}")


@domain.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Remove it with everything it holds.")
@admin
async def domain_remove(directory: Directory, name: str, force: bool) -> None:
    """Remove a domain (empty, unless --force)."""
    await directory.delete_domain(name, force=force)
    click.echo(f"removed domain {name}")


@domain.group("alias")
def domain_alias() -> None:
    """Domain aliases: other names of a domain."""


@domain_alias.command("add")
@click.argument("name")
@click.argument("alias")
@admin
async def domain_alias_add(directory: Directory, name: str, alias: str) -> None:
    """Add an alias to a domain."""
    info = await directory.domain(name)
    await directory.set_domain_aliases(info.name, [*info.aliases, alias])
    click.echo(f"{alias} is now an alias of {info.name}")


@domain_alias.command("remove")
@click.argument("name")
@click.argument("alias")
@admin
async def domain_alias_remove(directory: Directory, name: str, alias: str) -> None:
    """Remove an alias from a domain."""
    info = await directory.domain(name)
    remaining = [a for a in info.aliases if a != alias.lower().rstrip(".")]
    if len(remaining) == len(info.aliases):
        fail(f"{alias} is not an alias of {info.name}")
    await directory.set_domain_aliases(info.name, remaining)
    click.echo(f"removed alias {alias} of {info.name}")


# -- accounts ----------------------------------------------------------------------------------------------

@click.group()
def account() -> None:
    """Accounts: add, list, show, set, passwd, rename, remove."""


@account.command("add")
@click.argument("address")
@with_password_options
@click.option("--type", "storage", default="MultiMailbox", show_default=True,
              help="Account type: MultiMailbox, TextMailbox or MailDirMailbox.")
@click.option("--real-name", help="The person's name.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="An account setting.")
@click.option("--no-password", is_flag=True, help="Create it without a password (it cannot log in).")
@admin
async def account_add(directory: Directory, address: str, password: str | None, password_stdin: bool,
                      storage: str, real_name: str | None, assignments: tuple[str, ...],
                      no_password: bool) -> None:
    """Add an account (name@domain; a bare name is in the main domain)."""
    settings: dict[str, Any] = parse_assignments(assignments)
    if real_name is not None:
        settings["RealName"] = real_name
    secret = None if no_password else read_password(password, password_stdin)
    info = await directory.create_account(address, password=secret, storage=storage, settings=settings)
    click.echo(f"added account {info.address}")


@account.command("list")
@click.argument("domain_name", required=False, metavar="[DOMAIN]")
@json_option
@admin
async def account_list(directory: Directory, domain_name: str | None, as_json: bool) -> None:
    """List a domain's accounts (default: the main domain)."""
    accounts = await directory.accounts(domain_name or await directory.main_domain())
    show(accounts if as_json else list(accounts), as_json)


@account.command("show")
@click.argument("address")
@click.option("--effective", is_flag=True, help="Include inherited settings.")
@json_option
@admin
async def account_show(directory: Directory, address: str, effective: bool, as_json: bool) -> None:
    """Show an account and its settings."""
    info = await directory.account(address)
    settings = await directory.effective_account_settings(address) if effective else info.settings
    if as_json:
        show({"address": info.address, "type": info.storage, "aliases": info.aliases,
              "rights": info.rights, "password": info.has_password, "settings": settings}, True)
        return
    show({"address": info.address, "type": info.storage, "aliases": info.aliases,
          "rights": info.rights, "password": "set" if info.has_password else "none",
          **setting_lines(schema.ACCOUNT_SETTINGS, settings)}, False)


@account.command("set")
@click.argument("address")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@admin
async def account_set(directory: Directory, address: str, assignments: tuple[str, ...]) -> None:
    """Change account settings (VALUE `default` removes a setting, so the inherited one applies)."""
    show(await directory.update_account_settings(address, parse_assignments(assignments)), False)


@account.command("passwd")
@click.argument("address")
@with_password_options
@click.option("--recoverable", is_flag=True,
              help="Also keep the password sealed with the server's key (RecoverablePassword), so challenge-"
                   "response logins work: APOP in POP3 and on the CLI/API, which CommuniGate's Perl library "
                   "uses by default. Other accounts keep only their argon2id hashes.")
@admin
async def account_passwd(directory: Directory, address: str, password: str | None,
                         password_stdin: bool, recoverable: bool) -> None:
    """Set an account's password."""
    new = read_password(password, password_stdin, "New password")
    if recoverable:  # before the password: the setting decides whether the new one is sealed
        await directory.update_account_settings(address, {"RecoverablePassword": "YES"})
    await directory.set_password(address, new)
    click.echo(f"password of {address} changed" + (" (recoverable: APOP works)" if recoverable else ""))


@account.command("rename")
@click.argument("old")
@click.argument("new")
@admin
async def account_rename(directory: Directory, old: str, new: str) -> None:
    """Rename an account (into another domain too: new@otherdomain)."""
    click.echo(f"renamed to {await directory.rename_account(old, new)}")


@account.command("remove")
@click.argument("address")
@admin
async def account_remove(directory: Directory, address: str) -> None:
    """Remove an account and its aliases."""
    await directory.delete_account(address)
    click.echo(f"removed account {address}")


# -- aliases, forwarders, groups -------------------------------------------------------------------------

@click.group()
def alias() -> None:
    """Account aliases: other names of an account, in its domain."""


@alias.command("add")
@click.argument("alias_address", metavar="ALIAS")
@click.argument("account_address", metavar="ACCOUNT")
@admin
async def alias_add(directory: Directory, alias_address: str, account_address: str) -> None:
    """Add ALIAS (name@domain) for ACCOUNT."""
    target = await directory.create_alias(alias_address, account_address)
    click.echo(f"added alias {alias_address} of {target}")


@alias.command("list")
@click.argument("domain_name", required=False, metavar="[DOMAIN]")
@json_option
@admin
async def alias_list(directory: Directory, domain_name: str | None, as_json: bool) -> None:
    """List a domain's aliases and their accounts."""
    show(await directory.aliases(domain_name or await directory.main_domain()), as_json)


@alias.command("remove")
@click.argument("alias_address", metavar="ALIAS")
@admin
async def alias_remove(directory: Directory, alias_address: str) -> None:
    """Remove an alias."""
    await directory.delete_alias(alias_address)
    click.echo(f"removed alias {alias_address}")


@click.group()
def forwarder() -> None:
    """Forwarders: names whose mail goes to another address."""


@forwarder.command("add")
@click.argument("address")
@click.argument("target")
@admin
async def forwarder_add(directory: Directory, address: str, target: str) -> None:
    """Add forwarder ADDRESS sending to TARGET."""
    destination = await directory.create_forwarder(address, target)
    click.echo(f"added forwarder {address} -> {destination}")


@forwarder.command("list")
@click.argument("domain_name", required=False, metavar="[DOMAIN]")
@json_option
@admin
async def forwarder_list(directory: Directory, domain_name: str | None, as_json: bool) -> None:
    """List a domain's forwarders and their targets."""
    show(await directory.forwarders(domain_name or await directory.main_domain()), as_json)


@forwarder.command("show")
@click.argument("address")
@admin
async def forwarder_show(directory: Directory, address: str) -> None:
    """Print a forwarder's target."""
    click.echo(await directory.forwarder(address))


@forwarder.command("set")
@click.argument("address")
@click.argument("target")
@admin
async def forwarder_set(directory: Directory, address: str, target: str) -> None:
    """Change a forwarder's target."""
    click.echo(f"{address} -> {await directory.set_forwarder(address, target)}")


@forwarder.command("remove")
@click.argument("address")
@admin
async def forwarder_remove(directory: Directory, address: str) -> None:
    """Remove a forwarder."""
    await directory.delete_forwarder(address)
    click.echo(f"removed forwarder {address}")


@click.group()
def group() -> None:
    """Groups: names whose mail goes to every member."""


@group.command("add")
@click.argument("address")
@click.option("--member", "members", multiple=True, help="A member's address (repeatable).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="A group setting.")
@admin
async def group_add(directory: Directory, address: str, members: tuple[str, ...],
                    assignments: tuple[str, ...]) -> None:
    """Add a group."""
    info = await directory.create_group(address, settings=parse_assignments(assignments), members=members)
    click.echo(f"added group {info.address} with {len(info.members)} members")


@group.command("list")
@click.argument("domain_name", required=False, metavar="[DOMAIN]")
@json_option
@admin
async def group_list(directory: Directory, domain_name: str | None, as_json: bool) -> None:
    """List a domain's groups."""
    show(await directory.groups(domain_name or await directory.main_domain()), as_json)


@group.command("show")
@click.argument("address")
@json_option
@admin
async def group_show(directory: Directory, address: str, as_json: bool) -> None:
    """Show a group's members and settings."""
    info = await directory.group(address)
    if as_json:
        show({"address": info.address, "members": info.members, "settings": info.settings}, True)
        return
    show({"address": info.address, "members": info.members,
          **setting_lines(schema.GROUP_SETTINGS, info.settings)}, False)


@group.command("set")
@click.argument("address")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE...]")
@click.option("--member", "members", multiple=True, help="Replace the members with these (repeatable).")
@click.option("--add", "added", multiple=True, help="Add a member (repeatable).")
@click.option("--remove", "removed", multiple=True, help="Remove a member (repeatable).")
@admin
async def group_set(directory: Directory, address: str, assignments: tuple[str, ...],
                    members: tuple[str, ...], added: tuple[str, ...], removed: tuple[str, ...]) -> None:
    """Change a group's settings or members."""
    current = await directory.group(address)
    new_members: list[str] | None = None
    if members or added or removed:
        base = list(members) if members else list(current.members)
        drop = {r.lower() if "@" in r else f"{r}@{current.domain}".lower() for r in removed}
        new_members = [m for m in [*base, *added] if m.lower() not in drop]
    info = await directory.update_group(address, settings=parse_assignments(assignments),
                                        members=new_members)
    click.echo(f"group {info.address}: {len(info.members)} members")


@group.command("remove")
@click.argument("address")
@admin
async def group_remove(directory: Directory, address: str) -> None:
    """Remove a group."""
    await directory.delete_group(address)
    click.echo(f"removed group {address}")


# -- DKIM --

@click.group()
def dkim() -> None:
    """DKIM keys of the domains (RSA-2048 and Ed25519, made with each domain)."""


@dkim.command("show")
@click.argument("name")
@json_option
@admin
async def dkim_show(directory: Directory, name: str, as_json: bool) -> None:
    """The DNS TXT records that publish a domain's DKIM keys (and a start for SPF and DMARC)."""
    from polyport.dkim.keys import zone_lines

    primary = (await directory.domain(name)).name
    keys = await directory.ensure_dkim_keys(primary)
    if as_json:
        show([{"name": f"{k.selector}._domainkey.{primary}", "type": "TXT", "value": k.txt_record(),
               "algorithm": k.algorithm} for k in keys], True)
        return
    click.echo(f"; DKIM keys of {primary}: publish both (receivers that know Ed25519 check it, others RSA)")
    for line in zone_lines(primary, keys):
        click.echo(line)
    click.echo(f"; and, if not there yet:\n{primary}. IN TXT \"v=spf1 mx -all\"\n"
               f"_dmarc.{primary}. IN TXT \"v=DMARC1; p=quarantine; adkim=s; aspf=s\"")


def register(cli: click.Group) -> None:
    for command in (domain, account, alias, forwarder, group, dkim):
        cli.add_command(command)
