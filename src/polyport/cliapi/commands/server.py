"""Server commands: version and time, modules (the service table's listeners), LAN addresses (trusted
networks), routing, the log, the command list, and the server-wide defaults."""

from __future__ import annotations

import datetime

from polyport import __version__, admin
from polyport.cliapi.codes import bad
from polyport.cliapi.commands import COMMANDS, Context, command, dictionary, is_set
from polyport.cliapi.wire import NULL, Parser, Value

# The CommuniGate release whose CLI/API Polyport answers as (GETVERSION's first word): scripts compare it
# before using a command.
CGP_VERSION = "6.3.0"
# WRITELOG levels (CommuniGate: 1 failures ... 5 everything).
_LOG_LEVELS = {0: "error", 1: "error", 2: "warning", 3: "info", 4: "info", 5: "debug"}


@command("GETVERSION")
async def get_version(cx: Context, args: Parser) -> Value:
    args.end()
    # CommuniGate's shape first: clients read a version number (major.minor.patch) at the start.
    return f"{CGP_VERSION} Polyport {__version__}"


@command("GETCURRENTTIME")
async def get_current_time(cx: Context, args: Parser) -> Value:
    args.end()
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@command("ECHO")
async def echo(cx: Context, args: Parser) -> Value:
    value = args.value()
    args.end()
    return NULL if value is None else value  # #NULL# is data to echo, not "no data"


@command("LISTCLICOMMANDS")
async def list_cli_commands(cx: Context, args: Parser) -> Value:
    args.end()
    return sorted([*COMMANDS, "INLINE", "NEWPASS", "NOOP", "QUIT", "STARTTLS", "USER", "PASS", "APOP", "AUTH"])


@command("WRITELOG")
async def write_log(cx: Context, args: Parser) -> Value | None:
    level = args.value()
    text = args.string()
    args.end()
    try:
        number = int(level)
    except (TypeError, ValueError):
        raise bad("WRITELOG needs a level number (1 failures ... 5 all) and a text") from None
    await admin.write_log(cx.runtime, cx.actor, _LOG_LEVELS.get(number, "info"), text)
    return None


# -- modules: the listeners of the service table --

@command("LISTMODULES")
async def list_modules(cx: Context, args: Parser) -> Value:
    args.end()
    return await admin.list_modules(cx.runtime, cx.actor)


@command("GETMODULE")
async def get_module(cx: Context, args: Parser) -> Value:
    name = args.string()
    args.end()
    return await admin.module(cx.runtime, cx.actor, name)


@command("UPDATEMODULE", "SETMODULE")
async def update_module(cx: Context, args: Parser) -> None:
    name = args.string()
    changes = dictionary(args)
    args.end()
    await admin.update_module(cx.runtime, cx.actor, name, changes, replace=is_set(args))


# -- LAN addresses: the trusted networks --

@command("GETLANIPS")
async def get_lan_ips(cx: Context, args: Parser) -> Value:
    args.end()
    return "\r\n".join(str(n) for n in await admin.trusted_networks(cx.runtime, cx.actor))


@command("SETLANIPS")
async def set_lan_ips(cx: Context, args: Parser) -> None:
    value = args.value()
    args.end()
    lines = value if isinstance(value, list) else str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    await admin.set_trusted_networks(cx.runtime, cx.actor, [str(line) for line in lines])


# -- routing --

@command("ROUTE")
async def route(cx: Context, args: Parser) -> Value:
    address = args.string()
    args.maybe_keyword("MAIL", "ACCESS", "SIGNAL")
    args.end()
    return list(await admin.route(cx.runtime, cx.actor, cx.address(address)))


# -- server-wide defaults --

@command("GETSERVERACCOUNTDEFAULTS")
async def get_server_account_defaults(cx: Context, args: Parser) -> Value:
    args.end()
    return await admin.server_account_defaults(cx.runtime, cx.actor)


@command("UPDATESERVERACCOUNTDEFAULTS", "SETSERVERACCOUNTDEFAULTS")
async def update_server_account_defaults(cx: Context, args: Parser) -> None:
    changes = dictionary(args)
    args.end()
    await admin.update_server_account_defaults(cx.runtime, cx.actor, changes, replace=is_set(args))


@command("GETDOMAINDEFAULTS")
async def get_domain_defaults(cx: Context, args: Parser) -> Value:
    args.end()
    return await admin.server_domain_defaults(cx.runtime, cx.actor)


@command("UPDATEDOMAINDEFAULTS", "SETDOMAINDEFAULTS")
async def update_domain_defaults(cx: Context, args: Parser) -> None:
    changes = dictionary(args)
    args.end()
    await admin.update_server_domain_defaults(cx.runtime, cx.actor, changes, replace=is_set(args))


@command("GETSERVERACCOUNTPREFS")
async def get_server_account_prefs(cx: Context, args: Parser) -> Value:
    args.end()
    return await admin.server_account_prefs(cx.runtime, cx.actor)


@command("UPDATESERVERACCOUNTPREFS", "SETSERVERACCOUNTPREFS")
async def update_server_account_prefs(cx: Context, args: Parser) -> None:
    changes = dictionary(args)
    args.end()
    await admin.update_server_account_prefs(cx.runtime, cx.actor, changes, replace=is_set(args))
