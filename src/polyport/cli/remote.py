"""The directory of a running node, reached through its CLI/API: what `polyport ... --server` uses.

`RemoteDirectory` offers the part of `Directory`'s interface the admin commands use, each method a CLI
command or two, and turns the node's refusals back into the directory's typed errors so the command
prints them as it would locally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from polyport.cliapi import wire
from polyport.cliapi.client import CliClient, CliReplyError, command_line
from polyport.cliapi.codes import Code
from polyport.directory import AccountInfo, DirectoryError, DomainInfo, GroupInfo
from polyport.directory.errors import AlreadyExists, UnknownDomain, UnknownObject
from polyport.directory.names import domain_name

STORAGE_BY_EXTENSION = {"macnt": "MultiMailbox", "mbox": "TextMailbox", "mdir": "MailDirMailbox"}
BIG_PAGE = 1_000_000


def _error(err: CliReplyError) -> DirectoryError:
    code, text = err.code, f"{err.text} (CLI/API {err.code})"
    if code == Code.UNKNOWN_DOMAIN:
        return UnknownDomain(text)
    if code in (Code.UNKNOWN_ACCOUNT, Code.UNKNOWN_FORWARDER):
        return UnknownObject(text, "object")
    if code in (Code.ACCOUNT_EXISTS, Code.GROUP_EXISTS, Code.FORWARDER_EXISTS):
        return AlreadyExists(text, "object")
    return DirectoryError(text)


class RemoteDirectory:
    def __init__(self, client: CliClient) -> None:
        self.client = client

    async def _call(self, verb: str, *args: wire.Value) -> Any:
        return await self._command(command_line(verb, *args))

    async def _command(self, line: str) -> Any:
        try:
            return await self.client.command(line)
        except CliReplyError as err:
            raise _error(err) from None

    # -- names --

    async def main_domain(self) -> str:
        return str(await self._call("MAINDOMAINNAME"))

    async def _full(self, address: str) -> str:
        return address if "@" in address else f"{address}@{await self.main_domain()}"

    # -- domains --

    async def create_domain(self, name: str, settings: Mapping[str, Any] | None = None) -> DomainInfo:
        await self._call("CREATEDOMAIN", name, dict(settings or {}))
        return await self.domain(name)

    async def domains(self) -> list[str]:
        return list(await self._call("LISTDOMAINS"))

    async def domain(self, name: str) -> DomainInfo:
        settings = await self._call("GETDOMAINSETTINGS", name)
        aliases = await self._call("GETDOMAINALIASES", name)
        return DomainInfo(0, domain_name(name), list(aliases), dict(settings), 0)

    async def set_domain_aliases(self, name: str, aliases: Iterable[str]) -> list[str]:
        await self._call("SETDOMAINALIASES", name, list(aliases))
        return list(await self._call("GETDOMAINALIASES", name))

    async def effective_domain_settings(self, name: str) -> dict[str, Any]:
        return dict(await self._call("GETDOMAINEFFECTIVESETTINGS", name))

    async def update_domain_settings(self, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        await self._call("UPDATEDOMAINSETTINGS", name, dict(changes))
        return dict(await self._call("GETDOMAINSETTINGS", name))

    async def account_defaults(self, domain: str) -> dict[str, Any]:
        return dict(await self._call("GETACCOUNTDEFAULTS", domain))

    async def update_account_defaults(self, domain: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        await self._call("UPDATEACCOUNTDEFAULTS", domain, dict(changes))
        return await self.account_defaults(domain)

    async def account_template(self, domain: str) -> dict[str, Any]:
        return dict(await self._call("GETACCOUNTTEMPLATE", domain))

    async def update_account_template(self, domain: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        await self._call("UPDATEACCOUNTTEMPLATE", domain, dict(changes))
        return await self.account_template(domain)

    async def rename_domain(self, old: str, new: str) -> None:
        await self._command(f"RENAMEDOMAIN {wire.serialize(old)} INTO {wire.serialize(new)}")

    async def delete_domain(self, name: str, *, force: bool = False) -> None:
        await self._command(f"DELETEDOMAIN {wire.serialize(name)}" + (" FORCE" if force else ""))

    # -- accounts --

    async def accounts(self, domain: str) -> dict[str, str]:
        listed = await self._call("LISTACCOUNTS", domain)
        return {name: STORAGE_BY_EXTENSION.get(str(ext), "MultiMailbox") for name, ext in listed.items()}

    async def create_account(self, address: str, *, password: str | None = None, storage: str = "MultiMailbox",
                             settings: Mapping[str, Any] | None = None, rights: Iterable[str] = ()) -> AccountInfo:
        values = dict(settings or {})
        if password is not None:
            values["Password"] = password
        await self._command(f"CREATEACCOUNT {wire.serialize(address)} {storage} {wire.serialize(values)}")
        return await self.account(address)

    async def account(self, address: str) -> AccountInfo:
        full = await self._full(address)
        settings = dict(await self._call("GETACCOUNTSETTINGS", full))
        aliases = list(await self._call("GETACCOUNTALIASES", full))
        rights = list(await self._call("GETACCOUNTRIGHTS", full))
        info = await self._call("GETACCOUNTINFO", full)
        name, _, domain = full.partition("@")
        storage = (await self.accounts(domain)).get(name.lower(), "MultiMailbox")
        return AccountInfo(0, name.lower(), domain_name(domain), storage, settings, rights, aliases,
                           "LastPWDChange" in info)

    async def effective_account_settings(self, address: str) -> dict[str, Any]:
        return dict(await self._call("GETACCOUNTEFFECTIVESETTINGS", await self._full(address)))

    async def update_account_settings(self, address: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        full = await self._full(address)
        await self._call("UPDATEACCOUNTSETTINGS", full, dict(changes))
        return dict(await self._call("GETACCOUNTSETTINGS", full))

    async def set_password(self, address: str, password: str) -> None:
        full = await self._full(address)
        await self._command(f"SETACCOUNTPASSWORD {wire.serialize(full)} PASSWORD {wire.quote(password)}")

    async def rename_account(self, old: str, new: str) -> str:
        old_full, new_full = await self._full(old), await self._full(new)
        await self._command(f"RENAMEACCOUNT {wire.serialize(old_full)} INTO {wire.serialize(new_full)}")
        return new_full.lower()

    async def delete_account(self, address: str) -> None:
        await self._call("DELETEACCOUNT", await self._full(address))

    # -- aliases --

    async def aliases(self, domain: str) -> dict[str, str]:
        listed = await self._command(f"LISTDOMAINOBJECTS {wire.serialize(domain)} {BIG_PAGE} ALIASES")
        return {name: owner[0] for name, owner in listed[1].items()}

    async def create_alias(self, alias: str, account: str) -> str:
        full = await self._full(account)
        current = list(await self._call("GETACCOUNTALIASES", full))
        await self._call("SETACCOUNTALIASES", full, [*current, alias.partition("@")[0]])
        return full.lower()

    async def delete_alias(self, alias: str) -> None:
        full = await self._full(alias)
        name, _, domain = full.partition("@")
        owner = (await self.aliases(domain)).get(name.lower())
        if owner is None:
            raise UnknownObject(f"unknown alias {full}", "alias")
        owner_address = f"{owner}@{domain}"
        current = list(await self._call("GETACCOUNTALIASES", owner_address))
        await self._call("SETACCOUNTALIASES", owner_address, [a for a in current if a != name.lower()])

    # -- forwarders --

    async def create_forwarder(self, address: str, target: str) -> str:
        full = await self._full(address)
        await self._command(f"CREATEFORWARDER {wire.serialize(full)} TO {wire.serialize(target)}")
        return str(await self._call("GETFORWARDER", full))

    async def forwarders(self, domain: str) -> dict[str, str]:
        listed = await self._command(f"LISTDOMAINOBJECTS {wire.serialize(domain)} {BIG_PAGE} FORWARDERS")
        return {name: target[0][0] for name, target in listed[1].items()}

    async def forwarder(self, address: str) -> str:
        return str(await self._call("GETFORWARDER", await self._full(address)))

    async def set_forwarder(self, address: str, target: str) -> str:
        # The CLI has no command to change a forwarder's target: replace it.
        full = await self._full(address)
        await self.forwarder(full)
        await self._call("DELETEFORWARDER", full)
        return await self.create_forwarder(full, target)

    async def delete_forwarder(self, address: str) -> None:
        await self._call("DELETEFORWARDER", await self._full(address))

    # -- groups --

    async def create_group(self, address: str, *, settings: Mapping[str, Any] | None = None,
                           members: Iterable[str] = ()) -> GroupInfo:
        full = await self._full(address)
        await self._call("CREATEGROUP", full, {**dict(settings or {}), "Members": list(members)})
        return await self.group(full)

    async def groups(self, domain: str) -> list[str]:
        return list(await self._call("LISTGROUPS", domain))

    async def group(self, address: str) -> GroupInfo:
        full = await self._full(address)
        values = dict(await self._call("GETGROUP", full))
        members = list(values.pop("Members", []))
        name, _, domain = full.partition("@")
        return GroupInfo(name.lower(), domain_name(domain), values, members)

    async def update_group(self, address: str, *, settings: Mapping[str, Any] | None = None,
                           members: Iterable[str] | None = None, replace_settings: bool = False) -> GroupInfo:
        current = await self.group(address)
        merged = dict(settings or {}) if replace_settings else {**current.settings, **dict(settings or {})}
        merged = {k: v for k, v in merged.items() if not (isinstance(v, str) and v.lower() == "default")}
        new_members = list(members) if members is not None else current.members
        await self._call("SETGROUP", current.address, {**merged, "Members": new_members})
        return await self.group(current.address)

    async def delete_group(self, address: str) -> None:
        await self._call("DELETEGROUP", await self._full(address))
