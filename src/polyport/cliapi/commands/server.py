"""Server commands: version and time, modules (the service table's listeners), LAN addresses (trusted
networks), routing, the log, the command list, and the server-wide defaults."""

from __future__ import annotations

import datetime
from typing import Any

from polyport import __version__, log
from polyport.cliapi.codes import bad, not_allowed
from polyport.cliapi.commands import COMMANDS, Context, command, dictionary, is_set
from polyport.cliapi.wire import Parser, Value
from polyport.config import (
    RESTART_KEYS,
    ServiceSettings,
    apply_store_overrides,
    module_changes,
    with_module_changes,
)
from polyport.directory.errors import UnknownDomain, UnknownObject
from polyport.directory.names import domain_name
from polyport.directory.records import SERVER_NETWORK, SERVER_SERVICES
from polyport.net.trusted import parse_networks
from polyport.service_table import SERVICES, SERVICES_BY_NAME

SERVICES_DICT = SERVER_SERVICES
NETWORK_DICT = SERVER_NETWORK

# CommuniGate's module names, and the rows of our service table each one covers.
MODULES: dict[str, tuple[str, ...]] = {
    "SMTP": ("smtp", "submission", "smtps"),
    "LMTP": ("lmtp",),
    "POP": ("pop3", "pop3s"),
    "IMAP": ("imap", "imaps"),
    "HTTPU": ("http", "https", "webuser", "webusers"),
    "HTTPA": ("webadmin", "webadmins"),
    "PWD": ("cliapi", "cliapi-tls"),
    "LDAP": ("ldap", "ldaps"),
    "ACAP": ("acap",),
    "XMPP": ("xmpp", "xmpps", "xmpp-s2s"),
    "SIP": ("sip", "sips"),
    "MEDIA": ("rtp",),
    "XIMSS": ("ximss", "ximss-tls"),
    "FTP": ("ftp",),
    "TFTP": ("tftp",),
    "DNS": ("dns",),
}
assert sorted(n for names in MODULES.values() for n in names) == sorted(s.name for s in SERVICES)

# WRITELOG levels (CommuniGate: 1 failures ... 5 everything).
_LOG_LEVELS = {0: "error", 1: "error", 2: "warning", 3: "info", 4: "info", 5: "debug"}


@command("GETVERSION")
async def get_version(cx: Context, args: Parser) -> Value:
    args.end()
    return f"Polyport {__version__}"


@command("GETCURRENTTIME")
async def get_current_time(cx: Context, args: Parser) -> Value:
    args.end()
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@command("ECHO")
async def echo(cx: Context, args: Parser) -> Value:
    value = args.value()
    args.end()
    return value


@command("LISTCLICOMMANDS")
async def list_cli_commands(cx: Context, args: Parser) -> Value:
    args.end()
    return sorted([*COMMANDS, "INLINE", "NEWPASS", "NOOP", "QUIT", "STARTTLS", "USER", "PASS", "APOP", "AUTH"])


@command("WRITELOG")
async def write_log(cx: Context, args: Parser) -> Value | None:
    cx.require_master()
    level = args.value()
    text = args.string()
    args.end()
    try:
        number = int(level)
    except (TypeError, ValueError):
        raise bad("WRITELOG needs a level number (1 failures ... 5 all) and a text") from None
    method = getattr(log.get(), _LOG_LEVELS.get(number, "info"))
    method("cli.writelog", account=cx.me.address, text=text[:4000])
    return None


# -- modules: the listeners of the service table --

def _module_services(name: str) -> tuple[str, ...]:
    if name.upper() in MODULES:
        return MODULES[name.upper()]
    if name.lower() in SERVICES_BY_NAME:
        return (name.lower(),)
    raise bad(f"Unknown module {name} (known: {', '.join(MODULES)}, or a service name)")


def _listener_dict(cx: Context, service_name: str) -> dict[str, Value]:
    service = cx.runtime.config.service(service_name)
    settings = service.settings
    return {
        "Available": "YES" if service.spec.built else "NO",
        "Enabled": "YES" if service.enabled else "NO",
        "Ports": [str(p) for p in service.ports],
        "Transport": "+".join(t.value.upper() for t in service.spec.transports),
        "TLS": service.spec.tls.value,
        "Bind": service.bind or "",
        "TrustedOnly": "YES" if service.trusted_only else "NO",
        "MaxConnections": str(settings.max_connections),
        "MaxPerAddress": str(settings.max_per_address),
        "IdleTimeout": str(int(service.idle_timeout)) if service.idle_timeout.is_integer()
        else str(service.idle_timeout),
        "MaxLine": str(settings.max_line),
    }


@command("LISTMODULES")
async def list_modules(cx: Context, args: Parser) -> Value:
    cx.require_master()
    args.end()
    return list(MODULES)


@command("GETMODULE")
async def get_module(cx: Context, args: Parser) -> Value:
    cx.require_master()
    name = args.string()
    args.end()
    return {service: _listener_dict(cx, service) for service in _module_services(name)}


async def _change_module(cx: Context, args: Parser, *, replace: bool) -> None:
    cx.require_master()
    name = args.string()
    changes = dictionary(args)
    args.end()
    services = _module_services(name)
    # {smtp={MaxConnections=100;};} or, for a one-listener module, the settings themselves.
    if all(isinstance(v, dict) for v in changes.values()) and changes:
        per_service = {key.lower(): value for key, value in changes.items()}
    elif len(services) == 1:
        per_service = {services[0]: changes}
    else:
        raise bad(f"{name} has several listeners ({', '.join(services)}): give {{listener={{...}};}}")
    stored: dict[str, Any] = await cx.directory.server_dict(SERVICES_DICT)
    for service_name, values in per_service.items():
        if service_name not in services:
            raise bad(f"{service_name} is not a listener of {name} ({', '.join(services)})")
        try:
            overrides = module_changes(values)
        except ValueError as err:
            raise bad(str(err)) from None
        current = {} if replace else dict(stored.get(service_name, {}))
        current.update(overrides)
        current = {k: v for k, v in current.items() if v is not None}
        config = cx.runtime.config
        try:  # checked against the file's settings, as the node will apply it
            with_module_changes(config.services.get(service_name) or ServiceSettings(), current)
        except ValueError as err:
            raise bad(f"{service_name}: {err}") from None
        stored[service_name] = current
        if RESTART_KEYS & overrides.keys():
            log.get().info("cli.module_restart_needed", service=service_name,
                           settings=sorted(RESTART_KEYS & overrides.keys()))
    await cx.directory.put_server_dict(SERVICES_DICT, stored)
    # This node's view at once (GETMODULE reads it); the node applies the limits to its listeners.
    apply_store_overrides(cx.runtime.config, {name: stored[name] for name in per_service}, None)


@command("UPDATEMODULE")
async def update_module(cx: Context, args: Parser) -> None:
    await _change_module(cx, args, replace=False)


@command("SETMODULE")
async def set_module(cx: Context, args: Parser) -> None:
    await _change_module(cx, args, replace=True)


# -- LAN addresses: the trusted networks --

@command("GETLANIPS")
async def get_lan_ips(cx: Context, args: Parser) -> Value:
    cx.require_master()
    args.end()
    return "\r\n".join(str(n) for n in cx.runtime.trusted.networks)


@command("SETLANIPS")
async def set_lan_ips(cx: Context, args: Parser) -> None:
    cx.require_master()
    value = args.value()
    args.end()
    lines = value if isinstance(value, list) else str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    try:
        networks = parse_networks(str(line) for line in lines)
    except ValueError as err:
        raise bad(f"SETLANIPS: {err}") from None
    stored: dict[str, Any] = await cx.directory.server_dict(NETWORK_DICT)
    stored["trusted"] = [str(n) for n in networks]
    await cx.directory.put_server_dict(NETWORK_DICT, stored)
    cx.runtime.trusted.replace(networks)


# -- routing --

@command("ROUTE")
async def route(cx: Context, args: Parser) -> Value:
    address = args.string()
    args.maybe_keyword("MAIL", "ACCESS", "SIGNAL")
    args.end()
    if not cx.is_master:
        await cx.require_domain(cx.address(address).rpartition("@")[2])
    return await resolve_route(cx, cx.address(address), hops=0)


async def resolve_route(cx: Context, address: str, hops: int) -> Value:
    """(module, host, address): LOCAL for accounts (and their aliases), GROUP for groups, SMTP for other
    domains; forwarders are followed (at most 10 hops)."""
    local, _, domain_text = address.rpartition("@")
    try:
        domain = domain_name(domain_text)
    except ValueError:
        raise bad(f"{address!r} is not an address") from None
    try:
        primary = (await cx.directory.domain(domain)).name
    except UnknownDomain:
        return ["SMTP", domain, address]
    if not cx.is_master and primary != cx.my_domain:
        raise not_allowed("The route leads into another domain")
    directory = cx.directory
    record = await directory.login_record(f"{local}@{primary}")
    if record is not None:
        return ["LOCAL", record.address, local.lower()]
    try:
        target = await directory.forwarder(f"{local}@{primary}")
    except (UnknownObject, ValueError):
        target = None
    if target is not None:
        if hops >= 10:
            raise bad(f"forwarders loop at {address}")
        return await resolve_route(cx, target, hops + 1)
    try:
        group = await directory.group(f"{local}@{primary}")
    except (UnknownObject, ValueError):
        raise UnknownObject(f"unknown account {local}@{primary}", "account") from None
    return ["GROUP", group.address, local.lower()]


# -- server-wide defaults --

@command("GETSERVERACCOUNTDEFAULTS")
async def get_server_account_defaults(cx: Context, args: Parser) -> Value:
    args.end()
    return await cx.directory.server_account_defaults()


@command("UPDATESERVERACCOUNTDEFAULTS", "SETSERVERACCOUNTDEFAULTS")
async def update_server_account_defaults(cx: Context, args: Parser) -> None:
    cx.require_master()
    changes = dictionary(args)
    args.end()
    await cx.directory.update_server_account_defaults(changes, replace=is_set(args))


@command("GETDOMAINDEFAULTS")
async def get_domain_defaults(cx: Context, args: Parser) -> Value:
    args.end()
    return await cx.directory.server_domain_defaults()


@command("UPDATEDOMAINDEFAULTS", "SETDOMAINDEFAULTS")
async def update_domain_defaults(cx: Context, args: Parser) -> None:
    cx.require_master()
    changes = dictionary(args)
    args.end()
    await cx.directory.update_server_domain_defaults(changes, replace=is_set(args))


@command("GETSERVERACCOUNTPREFS")
async def get_server_account_prefs(cx: Context, args: Parser) -> Value:
    args.end()
    return await cx.directory.server_account_prefs()


@command("UPDATESERVERACCOUNTPREFS", "SETSERVERACCOUNTPREFS")
async def update_server_account_prefs(cx: Context, args: Parser) -> None:
    cx.require_master()
    changes = dictionary(args)
    args.end()
    await cx.directory.update_server_account_prefs(changes, replace=is_set(args))



