"""Account commands: create, rename, delete, settings (explicit and effective), passwords, aliases,
prefs, rights, information."""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

from polyport.cliapi.codes import CliError, Code, bad, not_allowed
from polyport.cliapi.commands import MASTER, Context, array, command, dictionary
from polyport.cliapi.wire import NULL, IPAddress, Parser, Value
from polyport.directory import settings as schema

CAN_CREATE_ACCOUNTS = "CanCreateAccounts"
CAN_CREATE_ALIASES = "CanCreateAliases"

# Account types of CommuniGate that Polyport stores as a multi-mailbox account.
_GRADES = {"AGRADE": "MultiMailbox", "BGRADE": "MultiMailbox", "CGRADE": "MultiMailbox",
           "SLICEDMAILBOX": "MultiMailbox"}
_TYPES = {"MULTIMAILBOX": "MultiMailbox", "TEXTMAILBOX": "TextMailbox", "MAILDIRMAILBOX": "MailDirMailbox", **_GRADES}


def _take_password(settings: dict[str, Any]) -> str | None:
    """CommuniGate lets settings carry `Password`; it is stored as hashes, never as a setting."""
    for key in list(settings):
        if key.lower() == "password":
            value = settings.pop(key)
            if not isinstance(value, str):
                raise bad("Password must be a string")
            return value
    return None


@command("CREATEACCOUNT")
async def create_account(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    storage = "MultiMailbox"
    while (word := args.maybe_keyword(*_TYPES, "PATH", "LEGACY", "EXTERNAL")) is not None:
        if word in _TYPES:
            storage = _TYPES[word]
        elif word == "PATH":
            args.string()  # storage mount points do not exist here; the store decides
    settings = dictionary(args) if args.peek() == "{" else {}
    args.end()
    await cx.require_object(address, CAN_CREATE_ACCOUNTS)
    password = _take_password(settings)
    await cx.directory.create_account(address, password=password, storage=storage, settings=settings)


@command("RENAMEACCOUNT")
async def rename_account(cx: Context, args: Parser) -> None:
    old = cx.address(args.string())
    args.keyword("INTO")
    new = cx.address(args.string())
    if args.maybe_keyword("PATH"):
        args.string()
    args.end()
    await cx.require_object(old, CAN_CREATE_ACCOUNTS)
    await cx.require_object(new, CAN_CREATE_ACCOUNTS)
    await cx.directory.rename_account(old, new)


@command("DELETEACCOUNT")
async def delete_account(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, CAN_CREATE_ACCOUNTS)
    if await cx.is_me(address):
        raise CliError(Code.ACCOUNT_IN_USE, "An account cannot delete itself")
    await cx.directory.delete_account(address)


@command("SETACCOUNTTYPE")
async def set_account_type(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    word = args.keyword(*_TYPES)
    args.end()
    await cx.require_object(address, CAN_CREATE_ACCOUNTS)
    await cx.directory.set_account_type(address, _TYPES[word])


# -- settings --

@command("GETACCOUNTSETTINGS")
async def get_account_settings(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return await cx.directory.account_settings(address)


@command("GETACCOUNTEFFECTIVESETTINGS")
async def get_account_effective_settings(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return await cx.directory.effective_account_settings(address)


@command("GETACCOUNTONESETTING")
async def get_account_one_setting(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    key = args.string()
    args.end()
    await cx.require_object(address, own=True)
    effective = await cx.directory.effective_account_settings(address)
    for name, value in effective.items():
        if name.lower() == key.lower():
            return value
    return NULL


async def _change_settings(cx: Context, args: Parser, *, replace: bool) -> None:
    address = cx.address(args.string())
    changes = dictionary(args)
    args.end()
    password = _take_password(changes)
    if password is not None:
        cx.directory.check_password(password)  # before anything is written
    admin = await _administers(cx, address)
    if not admin:
        # The user on their own account: only the settings a user may set, and only merging.
        if replace or not await cx.is_me(address):
            raise not_allowed()
        for key in changes:
            spec = schema.ACCOUNT_SETTINGS.get(schema.canonical_key(schema.ACCOUNT_SETTINGS, key))
            if spec is None or not spec.user:
                raise not_allowed(f"Not enough access rights to change {key}")
            if spec.name in ("Rules", "SieveScript"):
                allowed = (await cx.directory.effective_account_settings(address))["RulesAllowed"]
                if allowed == "None":
                    raise not_allowed("This account may not set mail rules (RulesAllowed)")
        if password is not None:
            await _check_own_password_change(cx, address)
    directory = cx.directory
    if replace:
        await directory.set_account_settings(address, changes)
    elif changes:
        await directory.update_account_settings(address, changes)
    if password is not None:
        await directory.set_password(address, password)


@command("UPDATEACCOUNTSETTINGS")
async def update_account_settings(cx: Context, args: Parser) -> None:
    await _change_settings(cx, args, replace=False)


@command("SETACCOUNTSETTINGS")
async def set_account_settings(cx: Context, args: Parser) -> None:
    await _change_settings(cx, args, replace=True)


# -- passwords --

async def _administers(cx: Context, address: str) -> bool:
    """Whether the caller administers `address` (server admin, or domain admin of its domain)."""
    try:
        await cx.require_object(address)
    except CliError:
        return False
    return True


async def _check_own_password_change(cx: Context, address: str) -> None:
    settings = await cx.directory.effective_account_settings(address)
    if not schema.is_yes(settings.get("PWDAllowed", "NO")):
        raise not_allowed("This account may not change its password (PWDAllowed)")


@command("SETACCOUNTPASSWORD")
async def set_account_password(cx: Context, args: Parser) -> None:
    """name PASSWORD new [METHOD m] [TAG t] [CHECK|NOCHECK]; older clients: name TO new."""
    address = cx.address(args.string())
    args.keyword("PASSWORD", "TO")
    password = args.string()
    while (word := args.maybe_keyword("METHOD", "TAG", "CHECK", "NOCHECK")) is not None:
        if word in ("METHOD", "TAG"):
            value = args.string()
            if word == "METHOD" and value.upper() not in ("", "DEFAULT"):
                raise bad(f"Password method {value} is not supported (only the account password)")
            if word == "TAG":
                raise bad("Application passwords (TAG) are not supported")
    args.end()
    if not await _administers(cx, address):
        if not await cx.is_me(address):
            raise not_allowed()
        await _check_own_password_change(cx, address)
    await cx.directory.set_password(address, password)


@command("VERIFYACCOUNTPASSWORD")
async def verify_account_password(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.keyword("PASSWORD")
    password = args.string()
    args.end()
    await cx.require_object(address, own=True)
    if not await cx.runtime.auth.verify_password(cx.session.login_context(), address, password):
        raise CliError(Code.WRONG_PASSWORD, "Incorrect password")


# -- aliases --

@command("GETACCOUNTALIASES")
async def get_account_aliases(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return await cx.directory.account_aliases(address)


@command("SETACCOUNTALIASES")
async def set_account_aliases(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    aliases = array(args)
    args.end()
    await cx.require_object(address, CAN_CREATE_ALIASES)
    # An alias lives in its account's domain: `name@domain` is taken as `name`.
    await cx.directory.set_account_aliases(address, [a.partition("@")[0] for a in aliases])


# -- prefs --

@command("GETACCOUNTPREFS")
async def get_account_prefs(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return await cx.directory.account_prefs(address)


@command("GETACCOUNTEFFECTIVEPREFS", "GETEFFECTIVEACCOUNTPREFS")
async def get_account_effective_prefs(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return await cx.directory.effective_account_prefs(address)


@command("UPDATEACCOUNTPREFS")
async def update_account_prefs(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    changes = dictionary(args)
    args.end()
    await cx.require_object(address, own=True)
    await cx.directory.update_account_prefs(address, changes)


@command("SETACCOUNTPREFS")
async def set_account_prefs(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args)
    args.end()
    await cx.require_object(address, own=True)
    await cx.directory.set_account_prefs(address, values)


# -- rights --

@command("GETACCOUNTRIGHTS")
async def get_account_rights(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return await cx.directory.account_rights(address)


@command("SETACCOUNTRIGHTS")
async def set_account_rights(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    rights = array(args)
    args.end()
    cx.require_master()
    if await cx.is_me(address) and MASTER not in {r.capitalize() for r in rights}:
        raise bad("A server administrator cannot take Master rights from itself")
    await cx.directory.set_account_rights(address, rights)


# -- information --

def _moment(seconds: int | None) -> Value:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC) if seconds is not None else None


def _ip(text: str | None) -> Value:
    if not text:
        return None
    try:
        return IPAddress(ipaddress.ip_address(text))
    except ValueError:
        return text


@command("GETACCOUNTINFO")
async def get_account_info(cx: Context, args: Parser) -> Value:
    """name, name Key key (one value, "" when unknown), or name (key, key...) (those known)."""
    address = cx.address(args.string())
    single: str | None = None
    wanted: list[str] | None = None
    if args.maybe_keyword("KEY"):
        single = args.string()
    elif not args.at_end():
        wanted = array(args)
    args.end()
    await cx.require_object(address, own=True)
    raw = await cx.directory.account_info(address)
    info: dict[str, Value] = {
        "Created": _moment(raw["created"]),
        "LastLogin": _moment(raw["last_login"]),
        "LastAddress": _ip(raw["last_address"]),
        "LastPWDChange": _moment(raw["password_changed"]),
    }
    known = {key: value for key, value in info.items() if value is not None}
    if single is not None:
        return next((v for k, v in known.items() if k.lower() == single.lower()), "")
    if wanted is not None:
        lowered = {w.lower() for w in wanted}
        return {k: v for k, v in known.items() if k.lower() in lowered}
    return known


# -- mail rules (stored as the account's Rules setting) --

@command("GETACCOUNTMAILRULES")
async def get_account_mail_rules(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    await cx.require_object(address, own=True)
    return (await cx.directory.account_settings(address)).get("Rules", [])


@command("SETACCOUNTMAILRULES")
async def set_account_mail_rules(cx: Context, args: Parser) -> None:
    """name (rules): replace the account's rules; the user may set their own (RulesAllowed permitting)."""
    address = cx.address(args.string())
    rules = args.value()
    args.end()
    if not isinstance(rules, list):
        raise bad("Expected an array of rules ((priority, name, (conditions), (actions)), ...)")
    if not await _administers(cx, address):
        if not await cx.is_me(address):
            raise not_allowed()
        allowed = (await cx.directory.effective_account_settings(address))["RulesAllowed"]
        if allowed == "None":
            raise not_allowed("This account may not set mail rules (RulesAllowed)")
    await cx.directory.update_account_settings(address, {"Rules": rules})
