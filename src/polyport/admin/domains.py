"""Domains: the list, creation, renaming, deletion, aliases and settings; a domain's account defaults,
template and default prefs; the objects of a domain (accounts, forwarders, groups listed)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from polyport.admin.errors import Forbidden
from polyport.admin.rights import CAN_MODIFY_SETTINGS, Actor, Services, require_domain, require_master
from polyport.directory import DomainInfo
from polyport.directory import settings as schema
from polyport.directory.records import ACCOUNT, ALIAS, FORWARDER, ObjectEntry
from polyport.dkim.keys import DkimKey

OBJECT_KINDS = (ACCOUNT, ALIAS, FORWARDER)


async def list_domains(s: Services, actor: Actor) -> list[str]:
    """Every domain for a server administrator; the actor's own domain for anyone else."""
    if actor.is_master:
        return await s.directory.domains()
    return [actor.domain]


async def list_admin_domains(s: Services, actor: Actor, domain: str) -> list[str]:
    """The domains the actor administers, of those `domain` names (CommuniGate's LISTADMINDOMAINS)."""
    return [await require_domain(s.directory, actor, domain)]


async def main_domain(s: Services, actor: Actor) -> str:
    return await s.directory.main_domain()


async def create_domain(s: Services, actor: Actor, name: str,
                        settings: Mapping[str, Any] | None = None) -> DomainInfo:
    require_master(actor)
    return await s.directory.create_domain(name, settings or {})


async def rename_domain(s: Services, actor: Actor, old: str, new: str) -> None:
    require_master(actor)
    await s.directory.rename_domain(old, new)


async def delete_domain(s: Services, actor: Actor, name: str, *, force: bool = False) -> None:
    require_master(actor)
    await s.directory.delete_domain(name, force=force)


async def domain_settings(s: Services, actor: Actor, domain: str) -> dict[str, Any]:
    await require_domain(s.directory, actor, domain)
    return await s.directory.domain_settings(domain)


async def effective_domain_settings(s: Services, actor: Actor, domain: str) -> dict[str, Any]:
    await require_domain(s.directory, actor, domain)
    return await s.directory.effective_domain_settings(domain)


async def update_domain_settings(s: Services, actor: Actor, domain: str, changes: Mapping[str, Any]) -> None:
    """Merge `changes`; a domain administrator needs CanModifySettings and may not change the settings
    only server administrators set (the server's limits)."""
    await require_domain(s.directory, actor, domain, CAN_MODIFY_SETTINGS)
    if not actor.is_master and (limits := schema.server_only(schema.DOMAIN_SETTINGS, changes)):
        raise Forbidden(f"Only server administrators may change {', '.join(limits)}")
    await s.directory.update_domain_settings(domain, changes)


async def set_domain_settings(s: Services, actor: Actor, domain: str, values: Mapping[str, Any]) -> None:
    require_master(actor)
    await s.directory.set_domain_settings(domain, values)


async def domain_aliases(s: Services, actor: Actor, domain: str) -> list[str]:
    await require_domain(s.directory, actor, domain)
    return (await s.directory.domain(domain)).aliases


async def set_domain_aliases(s: Services, actor: Actor, domain: str, aliases: Iterable[str]) -> list[str]:
    require_master(actor)
    return await s.directory.set_domain_aliases(domain, aliases)


async def dkim_keys(s: Services, actor: Actor, domain: str) -> list[DkimKey]:
    """The domain's DKIM keys (to publish their DNS records), made now if it has none."""
    await require_domain(s.directory, actor, domain)
    return await s.directory.ensure_dkim_keys(domain)


# -- a domain's account defaults, template and default prefs --

async def account_defaults(s: Services, actor: Actor, domain: str) -> dict[str, Any]:
    await require_domain(s.directory, actor, domain)
    return await s.directory.account_defaults(domain)


async def update_account_defaults(s: Services, actor: Actor, domain: str, changes: Mapping[str, Any], *,
                                  replace: bool = False) -> None:
    await require_domain(s.directory, actor, domain, CAN_MODIFY_SETTINGS)
    await s.directory.update_account_defaults(domain, changes, replace=replace)


async def account_template(s: Services, actor: Actor, domain: str) -> dict[str, Any]:
    await require_domain(s.directory, actor, domain)
    return await s.directory.account_template(domain)


async def update_account_template(s: Services, actor: Actor, domain: str, changes: Mapping[str, Any], *,
                                  replace: bool = False) -> None:
    await require_domain(s.directory, actor, domain, CAN_MODIFY_SETTINGS)
    await s.directory.update_account_template(domain, changes, replace=replace)


async def account_default_prefs(s: Services, actor: Actor, domain: str) -> dict[str, Any]:
    await require_domain(s.directory, actor, domain)
    return await s.directory.account_default_prefs(domain)


async def update_account_default_prefs(s: Services, actor: Actor, domain: str, changes: Mapping[str, Any], *,
                                       replace: bool = False) -> None:
    await require_domain(s.directory, actor, domain, CAN_MODIFY_SETTINGS)
    await s.directory.update_account_default_prefs(domain, changes, replace=replace)


# -- the objects of a domain --

async def list_accounts(s: Services, actor: Actor, domain: str) -> dict[str, str]:
    """The domain's accounts: name -> storage type (MultiMailbox, TextMailbox, MailDirMailbox)."""
    await require_domain(s.directory, actor, domain)
    return await s.directory.accounts(domain)


@dataclass(frozen=True, slots=True)
class DomainObjects:
    """One page of a domain's objects, the cookie for the next page ("" after the last), and the domain's
    totals by kind (account, alias, forwarder, group)."""

    objects: list[ObjectEntry]
    cookie: str
    counts: dict[str, int]


async def list_domain_objects(s: Services, actor: Actor, domain: str, *, filter: str = "", limit: int = 100,
                              kinds: Iterable[str] = OBJECT_KINDS, cookie: str = "") -> DomainObjects:
    await require_domain(s.directory, actor, domain)
    directory = s.directory
    page = await directory.list_objects(domain, filter=filter, limit=limit, kinds=kinds, cookie=cookie,
                                        count=False)
    # Totals by counting index ranges, not by loading every account: 100,000 accounts list fast.
    return DomainObjects(page.objects, page.cookie, await directory.count_objects(domain))


async def list_forwarders(s: Services, actor: Actor, domain: str) -> dict[str, str]:
    """The domain's forwarders: name -> the address each forwards to."""
    await require_domain(s.directory, actor, domain)
    return await s.directory.forwarders(domain)


async def find_forwarders(s: Services, actor: Actor, domain: str, target: str) -> list[str]:
    """The names of the domain's forwarders to `target`."""
    wanted = target.lower()
    return [name for name, address in (await list_forwarders(s, actor, domain)).items() if address.lower() == wanted]


async def list_groups(s: Services, actor: Actor, domain: str) -> list[str]:
    await require_domain(s.directory, actor, domain)
    return await s.directory.groups(domain)

