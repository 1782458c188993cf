"""The server: its modules (the service table's listeners, under CommuniGate's module names), the LAN
addresses (trusted networks), routing of an address, the log, and the server-wide defaults.

Settings changed here (UPDATEMODULE, SETLANIPS) are kept as server dictionaries in the store and win over
the config file, as CommuniGate's admins expect of settings changed at run time; connection limits and
the trusted networks apply at once on this node, ports, bind addresses and Enabled at the next start.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from polyport import log
from polyport.admin.errors import Hidden, InvalidRequest
from polyport.admin.rights import Actor, Services, require_domain, require_master
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

# Forwarders followed at most this many times by `route`.
MAX_HOPS = 10

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- modules: the listeners of the service table --

def module_services(name: str) -> tuple[str, ...]:
    """The service table's rows a module name (or a service's own name) covers."""
    if name.upper() in MODULES:
        return MODULES[name.upper()]
    if name.lower() in SERVICES_BY_NAME:
        return (name.lower(),)
    raise InvalidRequest(f"Unknown module {name} (known: {', '.join(MODULES)}, or a service name)")


async def list_modules(s: Services, actor: Actor) -> list[str]:
    require_master(actor)
    return list(MODULES)


def _listener(s: Services, service_name: str) -> dict[str, Any]:
    service = s.config.service(service_name)
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


async def module(s: Services, actor: Actor, name: str) -> dict[str, dict[str, Any]]:
    """Each listener of the module: its settings in effect (Enabled, Ports, MaxConnections...)."""
    require_master(actor)
    return {service: _listener(s, service) for service in module_services(name)}


async def update_module(s: Services, actor: Actor, name: str, changes: Mapping[str, Any], *,
                        replace: bool = False) -> None:
    """Change the settings of a module's listeners: `{listener={...};}`, or for a one-listener module the
    settings themselves; merged into what was stored (or, with `replace`, instead of it)."""
    require_master(actor)
    services = module_services(name)
    if all(isinstance(v, dict) for v in changes.values()) and changes:
        per_service = {key.lower(): value for key, value in changes.items()}
    elif len(services) == 1:
        per_service = {services[0]: dict(changes)}
    else:
        raise InvalidRequest(f"{name} has several listeners ({', '.join(services)}): give {{listener={{...}};}}")
    directory = s.directory
    config = s.config
    stored: dict[str, Any] = await directory.server_dict(SERVER_SERVICES)
    for service_name, values in per_service.items():
        if service_name not in services:
            raise InvalidRequest(f"{service_name} is not a listener of {name} ({', '.join(services)})")
        try:
            overrides = module_changes(values)
        except ValueError as err:
            raise InvalidRequest(str(err)) from None
        current = {} if replace else dict(stored.get(service_name, {}))
        current.update(overrides)
        current = {k: v for k, v in current.items() if v is not None}
        try:  # checked against the file's settings, as the node will apply it
            with_module_changes(config.services.get(service_name) or ServiceSettings(), current)
        except ValueError as err:
            raise InvalidRequest(f"{service_name}: {err}") from None
        stored[service_name] = current
        if RESTART_KEYS & overrides.keys():
            log.get().info("cli.module_restart_needed", service=service_name,
                           settings=sorted(RESTART_KEYS & overrides.keys()))
    await directory.put_server_dict(SERVER_SERVICES, stored)
    # This node's view at once (module() reads it); the node applies the limits to its listeners.
    apply_store_overrides(config, {service: stored[service] for service in per_service}, None)


# -- LAN addresses: the trusted networks --

async def trusted_networks(s: Services, actor: Actor) -> list[Network]:
    require_master(actor)
    return list(s.trusted.networks)


async def set_trusted_networks(s: Services, actor: Actor, lines: Iterable[str]) -> list[Network]:
    """Replace the trusted networks (addresses, CIDR networks or ranges a-b, one a line); kept in the
    store and applied at once."""
    require_master(actor)
    try:
        networks = parse_networks(str(line) for line in lines)
    except ValueError as err:
        raise InvalidRequest(f"trusted networks: {err}") from None
    stored: dict[str, Any] = await s.directory.server_dict(SERVER_NETWORK)
    stored["trusted"] = [str(n) for n in networks]
    await s.directory.put_server_dict(SERVER_NETWORK, stored)
    s.trusted.replace(networks)
    return list(networks)


# -- routing --

class Route(NamedTuple):
    """Where mail to an address goes: LOCAL (an account, its address, the name asked), GROUP (the group,
    the name asked) or SMTP (another domain, the address)."""

    module: str
    host: str
    address: str


async def route(s: Services, actor: Actor, address: str) -> Route:
    """Forwarders are followed (at most MAX_HOPS); a domain administrator may not follow the route out of
    its domain."""
    if not actor.is_master:
        await require_domain(s.directory, actor, address.rpartition("@")[2])
    return await _route(s, actor, address, 0)


async def _route(s: Services, actor: Actor, address: str, hops: int) -> Route:
    local, _, domain_text = address.rpartition("@")
    try:
        domain = domain_name(domain_text)
    except ValueError:
        raise InvalidRequest(f"{address!r} is not an address") from None
    directory = s.directory
    try:
        primary = (await directory.domain(domain)).name
    except UnknownDomain:
        return Route("SMTP", domain, address)
    if not actor.is_master and primary != actor.domain:
        raise Hidden("The route leads into another domain")
    record = await directory.login_record(f"{local}@{primary}")
    if record is not None:
        return Route("LOCAL", record.address, local.lower())
    try:
        target = await directory.forwarder(f"{local}@{primary}")
    except (UnknownObject, ValueError):
        target = None
    if target is not None:
        if hops >= MAX_HOPS:
            raise InvalidRequest(f"forwarders loop at {address}")
        return await _route(s, actor, target, hops + 1)
    try:
        group = await directory.group(f"{local}@{primary}")
    except (UnknownObject, ValueError):
        raise UnknownObject(f"unknown account {local}@{primary}", "account") from None
    return Route("GROUP", group.address, local.lower())


# -- the log --

async def write_log(s: Services, actor: Actor, level: str, text: str) -> None:
    """A line in the server's log, at `level` (error, warning, info, debug), in the actor's name."""
    require_master(actor)
    method = getattr(log.get(), level if level in ("error", "warning", "info", "debug") else "info")
    method("cli.writelog", account=actor.address, text=text[:4000])


# -- server-wide defaults --

async def server_account_defaults(s: Services, actor: Actor) -> dict[str, Any]:
    """Readable by any logged-in account (as on CommuniGate: what a domain's settings inherit); only
    the server's administrators change them."""
    return await s.directory.server_account_defaults()


async def update_server_account_defaults(s: Services, actor: Actor, changes: Mapping[str, Any], *,
                                         replace: bool = False) -> None:
    require_master(actor)
    await s.directory.update_server_account_defaults(changes, replace=replace)


async def server_domain_defaults(s: Services, actor: Actor) -> dict[str, Any]:
    """Readable by any logged-in account (as on CommuniGate: what a domain's settings inherit); only
    the server's administrators change them."""
    return await s.directory.server_domain_defaults()


async def update_server_domain_defaults(s: Services, actor: Actor, changes: Mapping[str, Any], *,
                                        replace: bool = False) -> None:
    require_master(actor)
    await s.directory.update_server_domain_defaults(changes, replace=replace)


async def server_account_prefs(s: Services, actor: Actor) -> dict[str, Any]:
    """Readable by any logged-in account (as on CommuniGate: what a domain's settings inherit); only
    the server's administrators change them."""
    return await s.directory.server_account_prefs()


async def update_server_account_prefs(s: Services, actor: Actor, changes: Mapping[str, Any], *,
                                      replace: bool = False) -> None:
    require_master(actor)
    await s.directory.update_server_account_prefs(changes, replace=replace)
