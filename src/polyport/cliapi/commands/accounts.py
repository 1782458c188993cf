"""Account commands: create, rename, delete, settings (explicit and effective), passwords, aliases,
prefs, rights, information, mail rules."""

from __future__ import annotations

import datetime
import ipaddress

from polyport import admin
from polyport.cliapi.codes import CliError, Code, bad
from polyport.cliapi.commands import Context, array, command, dictionary
from polyport.cliapi.wire import NULL, IPAddress, Parser, Value

# Account types of CommuniGate that Polyport stores as a multi-mailbox account.
_GRADES = {"AGRADE": "MultiMailbox", "BGRADE": "MultiMailbox", "CGRADE": "MultiMailbox",
           "SLICEDMAILBOX": "MultiMailbox"}
_TYPES = {"MULTIMAILBOX": "MultiMailbox", "TEXTMAILBOX": "TextMailbox", "MAILDIRMAILBOX": "MailDirMailbox", **_GRADES}


@command("CREATEACCOUNT")
async def create_account(cx: Context, args: Parser) -> None:
    """name [type] [PATH p] [LEGACY] [{settings}]; the settings may carry the Password."""
    address = cx.address(args.string())
    storage = "MultiMailbox"
    while (word := args.maybe_keyword(*_TYPES, "PATH", "LEGACY", "EXTERNAL")) is not None:
        if word in _TYPES:
            storage = _TYPES[word]
        elif word == "PATH":
            args.string()  # storage mount points do not exist here; the store decides
    settings = dictionary(args) if args.peek() == "{" else {}
    args.end()
    await admin.create_account(cx.runtime, cx.actor, address, settings, storage=storage)


@command("RENAMEACCOUNT")
async def rename_account(cx: Context, args: Parser) -> None:
    old = cx.address(args.string())
    args.keyword("INTO")
    new = cx.address(args.string())
    if args.maybe_keyword("PATH"):
        args.string()
    args.end()
    await admin.rename_account(cx.runtime, cx.actor, old, new)


@command("DELETEACCOUNT")
async def delete_account(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.end()
    await admin.delete_account(cx.runtime, cx.actor, address)


@command("SETACCOUNTTYPE")
async def set_account_type(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    word = args.keyword(*_TYPES)
    args.end()
    await admin.set_account_type(cx.runtime, cx.actor, address, _TYPES[word])


# -- settings --

@command("GETACCOUNTSETTINGS")
async def get_account_settings(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.account_settings(cx.runtime, cx.actor, address)


@command("GETACCOUNTEFFECTIVESETTINGS")
async def get_account_effective_settings(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.effective_account_settings(cx.runtime, cx.actor, address)


@command("GETACCOUNTONESETTING")
async def get_account_one_setting(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    key = args.string()
    args.end()
    value = await admin.account_setting(cx.runtime, cx.actor, address, key)
    return NULL if value is None else value


@command("UPDATEACCOUNTSETTINGS")
async def update_account_settings(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    changes = dictionary(args)
    args.end()
    await admin.update_account_settings(cx.runtime, cx.actor, address, changes)


@command("SETACCOUNTSETTINGS")
async def set_account_settings(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args)
    args.end()
    await admin.set_account_settings(cx.runtime, cx.actor, address, values)


# -- passwords --

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
    await admin.set_account_password(cx.runtime, cx.actor, address, password)


@command("VERIFYACCOUNTPASSWORD")
async def verify_account_password(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    args.keyword("PASSWORD")
    password = args.string()
    args.end()
    if not await admin.verify_account_password(cx.runtime, cx.actor, address, password,
                                               cx.login_context()):
        raise CliError(Code.WRONG_PASSWORD, "Incorrect password")


@command("GETACCOUNTPLAINPASSWORD")
async def get_account_plain_password(cx: Context, args: Parser) -> Value:
    """name: the password of an account that keeps it recoverable (server administrators; logged)."""
    address = cx.address(args.string())
    args.end()
    return await admin.account_plain_password(cx.runtime, cx.actor, address)


# -- aliases --

@command("GETACCOUNTALIASES")
async def get_account_aliases(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.account_aliases(cx.runtime, cx.actor, address)


@command("SETACCOUNTALIASES")
async def set_account_aliases(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    aliases = array(args)
    args.end()
    await admin.set_account_aliases(cx.runtime, cx.actor, address, aliases)


# -- prefs --

@command("GETACCOUNTPREFS")
async def get_account_prefs(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.account_prefs(cx.runtime, cx.actor, address)


@command("GETACCOUNTEFFECTIVEPREFS", "GETEFFECTIVEACCOUNTPREFS")
async def get_account_effective_prefs(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.effective_account_prefs(cx.runtime, cx.actor, address)


@command("UPDATEACCOUNTPREFS")
async def update_account_prefs(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    changes = dictionary(args)
    args.end()
    await admin.update_account_prefs(cx.runtime, cx.actor, address, changes)


@command("SETACCOUNTPREFS")
async def set_account_prefs(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    values = dictionary(args)
    args.end()
    await admin.set_account_prefs(cx.runtime, cx.actor, address, values)


# -- rights --

@command("GETACCOUNTRIGHTS")
async def get_account_rights(cx: Context, args: Parser) -> Value:
    address = cx.address(args.string())
    args.end()
    return await admin.account_rights(cx.runtime, cx.actor, address)


@command("SETACCOUNTRIGHTS")
async def set_account_rights(cx: Context, args: Parser) -> None:
    address = cx.address(args.string())
    rights = array(args)
    args.end()
    await admin.set_account_rights(cx.runtime, cx.actor, address, rights)


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
    activity = await admin.account_activity(cx.runtime, cx.actor, address)
    info: dict[str, Value] = {
        "Created": _moment(activity.created),
        "LastLogin": _moment(activity.last_login),
        "LastAddress": _ip(activity.last_address),
        "LastPWDChange": _moment(activity.password_changed),
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
    return await admin.account_mail_rules(cx.runtime, cx.actor, address)


@command("SETACCOUNTMAILRULES")
async def set_account_mail_rules(cx: Context, args: Parser) -> None:
    """name (rules): replace the account's rules; the user may set their own (RulesAllowed permitting)."""
    address = cx.address(args.string())
    rules = args.value()
    args.end()
    if not isinstance(rules, list):
        raise bad("Expected an array of rules ((priority, name, (conditions), (actions)), ...)")
    await admin.set_account_mail_rules(cx.runtime, cx.actor, address, rules)
