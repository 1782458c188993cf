"""The Directory service: domains, accounts, aliases, forwarders, groups, and their settings.

Every admin front end (the `polyport` command, the CLI/API, WebAdmin) and every protocol that needs to
know who exists goes through this class. It validates names and settings, runs one unit of work per
operation (records.py), and publishes an event on the bus's `directory` topic after each committed change
(bus.events: AccountChanged, DomainChanged, ServerChanged, ...).
Addresses without a domain are in the main domain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from polyport.auth.passwords import PasswordHasher, PasswordVault, StoredPassword
from polyport.bus import Bus
from polyport.bus.events import (
    AccountChanged,
    AliasChanged,
    DirectoryEvent,
    DomainChanged,
    ForwarderChanged,
    GroupChanged,
    ServerChanged,
)
from polyport.directory import records as rec
from polyport.directory import settings as schema
from polyport.directory.errors import InvalidName, InvalidSetting, UnknownDomain, UnknownObject
from polyport.directory.names import domain_name, mail_address, object_name
from polyport.dkim import keys as dkim_keys
from polyport.dkim.keys import DkimKey
from polyport.store import RecordStore, Unit, unit_of

STORAGE_TYPES = ("MultiMailbox", "TextMailbox", "MailDirMailbox")
DEFAULT_STORAGE = "MultiMailbox"

# Access rights (CommuniGate's names). Master: everything on the server. The others: the account may
# administer its own domain as they say.
SERVER_RIGHTS = ("Master",)
DOMAIN_RIGHTS = ("Domain", "CanCreateAccounts", "CanCreateAliases", "CanCreateForwarders",
                 "CanCreateGroups", "CanCreateLists", "CanModifySettings")
ALL_RIGHTS = SERVER_RIGHTS + DOMAIN_RIGHTS


@dataclass(frozen=True, slots=True)
class DomainInfo:
    id: int
    name: str
    aliases: list[str]
    settings: dict[str, Any]
    created: int


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    name: str
    domain: str
    storage: str
    settings: dict[str, Any]  # explicit settings only
    rights: list[str]
    aliases: list[str]
    has_password: bool

    @property
    def address(self) -> str:
        return f"{self.name}@{self.domain}"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    domain: str
    settings: dict[str, Any]
    members: list[str]

    @property
    def address(self) -> str:
        return f"{self.name}@{self.domain}"


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """What a login check needs of an account, found by its name or an alias."""

    account_id: int
    address: str
    password_hash: str
    scram_sha256: str
    access_modes: schema.Value  # effective: the account's AccessModes
    domain_access_modes: schema.Value
    rights: list[str] = field(default_factory=list)
    password_secret: str = ""  # sealed password (RecoverablePassword accounts), for APOP
    chat_history_days: int = 365  # ChatHistoryDays: how long its chat messages are archived (0: not at all)
    scram_sha1: str = ""  # SCRAM-SHA-1's keys, once made (passwords.py)

    def may_use(self, mode: str) -> bool:
        return schema.access_allowed(self.access_modes, mode) and schema.access_allowed(
            self.domain_access_modes, mode)


def _now() -> int:
    return int(time.time())


def _check_storage(storage: str) -> str:
    for known in STORAGE_TYPES:
        if storage.lower() == known.lower():
            return known
    raise InvalidSetting(f"account type {storage!r} is not one of {', '.join(STORAGE_TYPES)}")


def _check_rights(rights: Iterable[str]) -> list[str]:
    result: list[str] = []
    for right in rights:
        canonical = next((r for r in ALL_RIGHTS if r.lower() == right.lower()), None)
        if canonical is None:
            raise InvalidSetting(f"{right!r} is not an access right (known: {', '.join(ALL_RIGHTS)})")
        if canonical not in result:
            result.append(canonical)
    return result


def _check_prefs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Preferences are the user's own (webmail, clients); any key, with string/array/dict values."""

    def ok(value: Any, depth: int = 0) -> bool:
        if depth > 16:
            return False
        if isinstance(value, str):
            return True
        if isinstance(value, list):
            return all(ok(v, depth + 1) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and ok(v, depth + 1) for k, v in value.items())
        return False

    for key, value in values.items():
        if not key or not ok(value):
            raise InvalidSetting(f"preference {key!r}: values are strings, arrays or dictionaries")
    return dict(values)


def _changer(schema_map: Mapping[str, schema.Spec], changes: Mapping[str, Any],
             replace: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A change to a settings dictionary: replace it (SET...) or merge into it (UPDATE...). Values are
    checked here, before any transaction, so a bad one is reported without touching the store."""
    if replace:
        values = schema.validate(schema_map, changes)
        return lambda _current: values
    schema.merge(schema_map, {}, changes)
    return lambda current: schema.merge(schema_map, current, changes)


def _prefs_changer(changes: Mapping[str, Any], replace: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Like _changer, for preferences (free keys; `default` removes one)."""
    checked = _check_prefs(changes)

    def change(current: dict[str, Any]) -> dict[str, Any]:
        result = {} if replace else dict(current)
        for key, value in checked.items():
            if isinstance(value, str) and value.lower() == schema.DEFAULT:
                result.pop(key, None)
            else:
                result[key] = value
        return result

    return change


def _limit(schema_map: Mapping[str, schema.Spec], key: str) -> Callable[[list[dict[str, Any]]], int | None]:
    def limit(layers: list[dict[str, Any]]) -> int | None:
        return schema.count_limit(schema.layered(schema_map, layers)[key])
    return limit


class Directory:
    def __init__(self, store: RecordStore, passwords: PasswordHasher, bus: Bus | None = None,
                 clock: Callable[[], int] = _now, vault: PasswordVault | None = None) -> None:
        self.store = store
        self.passwords = passwords
        self.bus = bus
        self.vault = vault
        self._clock = clock

    async def _event(self, event: DirectoryEvent) -> None:
        if self.bus is not None:
            await self.bus.publish(event)

    # -- names --

    async def main_domain(self) -> str:
        stored = await self.store.fetch(rec.GET_DICT.value(name=rec.MAIN_DOMAIN))
        if not stored:
            raise UnknownDomain("the store has no main domain yet (start the node once to create it)")
        return str(rec.loads(stored))

    async def split(self, address: str, what: str = "name") -> tuple[str, str]:
        """Canonical (name, domain) of `name@domain`, or of a bare `name` in the main domain."""
        local, at, domain = address.strip().rpartition("@")
        if not at:
            local, domain = domain, await self.main_domain()
        return object_name(local, what), domain_name(domain)

    # -- the server --

    async def initialize(self, main_domain: str) -> bool:
        """Create the main domain of an empty store; False if the store has one already."""
        name = domain_name(main_domain)

        def unit() -> Unit[bool]:
            existing = yield rec.GET_DICT.value(name=rec.MAIN_DOMAIN)
            if existing:
                return False
            yield from rec.create_domain(name, {}, self._clock())
            yield from rec.put_server_dict(rec.MAIN_DOMAIN, name)
            return True

        created = await self.store.write(unit())
        if created:
            await self.ensure_dkim_keys(name)
            await self._event(DomainChanged(name, "created"))
        return created

    async def server_account_defaults(self) -> dict[str, Any]:
        return await self.store.read(rec.server_dict(rec.SERVER_ACCOUNT_DEFAULTS))

    async def update_server_account_defaults(self, changes: Mapping[str, Any], *,
                                             replace: bool = False) -> dict[str, Any]:
        new = await self.store.write(rec.update_server_dict(
            rec.SERVER_ACCOUNT_DEFAULTS, _changer(schema.ACCOUNT_SETTINGS, changes, replace)))
        await self._event(ServerChanged(rec.SERVER_ACCOUNT_DEFAULTS))
        return new

    async def server_domain_defaults(self) -> dict[str, Any]:
        return await self.store.read(rec.server_dict(rec.SERVER_DOMAIN_DEFAULTS))

    async def update_server_domain_defaults(self, changes: Mapping[str, Any], *,
                                            replace: bool = False) -> dict[str, Any]:
        new = await self.store.write(rec.update_server_dict(
            rec.SERVER_DOMAIN_DEFAULTS, _changer(schema.DOMAIN_SETTINGS, changes, replace)))
        await self._event(ServerChanged(rec.SERVER_DOMAIN_DEFAULTS))
        return new

    # -- domains --

    async def create_domain(self, name: str, settings: Mapping[str, Any] | None = None) -> DomainInfo:
        canonical = domain_name(name)
        values = schema.validate(schema.DOMAIN_SETTINGS, settings or {})
        await self.store.write(rec.create_domain(canonical, values, self._clock()))
        await self.ensure_dkim_keys(canonical)
        await self._event(DomainChanged(canonical, "created"))
        return await self.domain(canonical)

    async def dkim_keys(self, name: str) -> list[DkimKey]:
        """The domain's DKIM keys (by its name or an alias's), oldest first; [] for a domain not hosted."""
        rows = await self.store.fetch(rec.DOMAIN_KEYS.all(name=name.lower()))
        return [DkimKey(str(r["selector"]), str(r["algorithm"]), str(r["private_key"])) for r in rows]

    async def ensure_dkim_keys(self, name: str) -> list[DkimKey]:
        """The domain's keys, made now if it has none (domains made before DKIM signing existed)."""
        keys = await self.dkim_keys(name)
        if keys:
            return keys
        made = await asyncio.to_thread(dkim_keys.generate, self._clock())
        await self.store.write(rec.add_domain_keys(domain_name(name), [(k.selector, k.algorithm, k.private_pem)
                                                                       for k in made], self._clock()))
        return await self.dkim_keys(name)

    async def domains(self) -> list[str]:
        rows = await self.store.read(unit_of(rec.LIST_DOMAINS.all()))
        return [str(r["name"]) for r in rows]

    async def domain(self, name: str) -> DomainInfo:
        canonical = domain_name(name)

        def unit() -> Unit[DomainInfo]:
            domain_id, primary = yield from rec.find_domain(canonical)
            row = yield from rec.domain_row(domain_id)
            aliases = yield from rec.domain_aliases(domain_id)
            return DomainInfo(domain_id, primary, aliases, rec.loads(row["settings"]), int(row["created"]))

        return await self.store.read(unit())

    async def rename_domain(self, old: str, new: str) -> None:
        new_name = domain_name(new)
        previous = await self.store.write(rec.rename_domain(domain_name(old), new_name))
        await self._event(DomainChanged(previous, "renamed", to=new_name))

    async def delete_domain(self, name: str, *, force: bool = False) -> None:
        primary = await self.store.write(rec.delete_domain(domain_name(name), force))
        await self._event(DomainChanged(primary, "deleted"))

    async def set_domain_aliases(self, name: str, aliases: Iterable[str]) -> list[str]:
        canonical = list(dict.fromkeys(domain_name(a) for a in aliases))
        primary = await self.store.write(rec.set_domain_aliases(domain_name(name), canonical))
        await self._event(DomainChanged(primary, "aliases"))
        return canonical

    async def domain_settings(self, name: str) -> dict[str, Any]:
        return await self.store.read(rec.domain_dict(domain_name(name), "settings"))

    async def effective_domain_settings(self, name: str) -> dict[str, Any]:
        canonical = domain_name(name)

        def unit() -> Unit[dict[str, Any]]:
            own = yield from rec.domain_dict(canonical, "settings")
            server = yield from rec.server_dict(rec.SERVER_DOMAIN_DEFAULTS)
            return schema.layered(schema.DOMAIN_SETTINGS, [server, own])

        return await self.store.read(unit())

    async def update_domain_settings(self, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return await self._update_domain_dict(name, "settings", schema.DOMAIN_SETTINGS, changes, False)

    async def set_domain_settings(self, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return await self._update_domain_dict(name, "settings", schema.DOMAIN_SETTINGS, values, True)

    async def account_defaults(self, domain: str) -> dict[str, Any]:
        return await self.store.read(rec.domain_dict(domain_name(domain), "account_defaults"))

    async def update_account_defaults(self, domain: str, changes: Mapping[str, Any], *,
                                      replace: bool = False) -> dict[str, Any]:
        return await self._update_domain_dict(domain, "account_defaults", schema.ACCOUNT_SETTINGS,
                                              changes, replace)

    async def account_template(self, domain: str) -> dict[str, Any]:
        return await self.store.read(rec.domain_dict(domain_name(domain), "account_template"))

    async def update_account_template(self, domain: str, changes: Mapping[str, Any], *,
                                      replace: bool = False) -> dict[str, Any]:
        return await self._update_domain_dict(domain, "account_template", schema.ACCOUNT_SETTINGS,
                                              changes, replace)

    async def _update_domain_dict(self, name: str,
                                  column: Literal["settings", "account_defaults", "account_template"],
                                  schema_map: Mapping[str, schema.Spec], changes: Mapping[str, Any],
                                  replace: bool) -> dict[str, Any]:
        canonical = domain_name(name)
        change = _changer(schema_map, changes, replace)
        new = await self.store.write(rec.update_domain_dict(canonical, column, change))
        await self._event(DomainChanged(canonical, column))
        return new

    # -- accounts --

    async def create_account(self, address: str, *, password: str | None = None,
                             storage: str = DEFAULT_STORAGE, settings: Mapping[str, Any] | None = None,
                             rights: Iterable[str] = ()) -> AccountInfo:
        name, domain = await self.split(address, "account name")
        values = schema.validate(schema.ACCOUNT_SETTINGS, settings or {})
        stored = None
        if password is not None:
            *general, template = await self.store.read(rec.new_account_layers(domain))
            stored = await self._stored(password, [*general, {**template, **values}])
        new = rec.NewAccount(name, domain, _check_storage(storage), values, _check_rights(rights), stored)
        _, primary = await self.store.write(rec.create_account(
            new, self._clock(), _limit(schema.DOMAIN_SETTINGS, "MaxAccounts")))
        await self._event(AccountChanged(f"{name}@{primary}", "created"))
        return await self.account(f"{name}@{primary}")

    @staticmethod
    def check_password(password: str) -> None:
        """InvalidSetting if `password` cannot be an account's password."""
        if not password:
            raise InvalidSetting("the password is empty")
        if len(password) > 1024:
            raise InvalidSetting("the password is longer than 1024 characters")
        if any(ch in password for ch in "\r\n\0"):
            raise InvalidSetting("the password holds a line break or a NUL")

    async def _stored(self, password: str, layers: list[dict[str, Any]]) -> StoredPassword:
        """The hashes of a new password, and its sealed copy if the account keeps it recoverable."""
        self.check_password(password)
        stored = await self.passwords.make(password)
        recoverable = schema.is_yes(schema.layered(schema.ACCOUNT_SETTINGS, layers)["RecoverablePassword"])
        if recoverable and self.vault is not None:
            stored = StoredPassword(stored.password_hash, stored.scram_sha256, self.vault.seal(password),
                                    scram_sha1=stored.scram_sha1)
        return stored

    async def accounts(self, domain: str) -> dict[str, str]:
        """Account names of a domain, each with its storage type."""
        return await self.store.read(rec.list_accounts(domain_name(domain)))

    async def account(self, address: str) -> AccountInfo:
        name, domain = await self.split(address, "account name")
        record = await self.store.read(rec.account_record(name, domain))
        return AccountInfo(record.found.id, record.found.name, record.found.domain, record.storage,
                           record.settings, record.rights, record.aliases, bool(record.password_hash))

    async def rename_account(self, old: str, new: str) -> str:
        name, domain = await self.split(old, "account name")
        new_name, new_domain = await self.split(new, "account name")
        protected = await self._postmaster()
        before, after = await self.store.write(rec.rename_object(
            name, domain, rec.ACCOUNT, new_name, new_domain, protected))
        await self._event(AccountChanged(before, "renamed", to=after))
        return after

    async def delete_account(self, address: str) -> None:
        name, domain = await self.split(address, "account name")
        protected = await self._postmaster()
        deleted = await self.store.write(rec.delete_object(name, domain, rec.ACCOUNT, protected))
        await self._event(AccountChanged(deleted, "deleted"))

    async def _postmaster(self) -> tuple[str, str]:
        return "postmaster", await self.main_domain()

    async def account_settings(self, address: str) -> dict[str, Any]:
        return (await self.account(address)).settings

    async def effective_account_settings(self, address: str) -> dict[str, Any]:
        name, domain = await self.split(address, "account name")
        view = rec.to_account_view(await self.store.fetch(rec.ACCOUNT_VIEW.one(name=name, domain=domain)))
        if view is None:  # the slow path, for the precise error
            view = await self.store.read(rec.account_layers(name, domain))
        return schema.layered(schema.ACCOUNT_SETTINGS, view.account_layers)

    async def effective_account_settings_by_id(self, account_id: int) -> dict[str, Any]:
        """An account's effective settings, found by its id (the services that hold ids: the mailstore)."""
        view = rec.to_account_view(await self.store.fetch(rec.ACCOUNT_VIEW_BY_ID.one(id=account_id)))
        if view is None:
            raise UnknownObject(f"no account with id {account_id}", "account")
        return schema.layered(schema.ACCOUNT_SETTINGS, view.account_layers)

    async def update_account_settings(self, address: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._update_account(
            address, "settings", _changer(schema.ACCOUNT_SETTINGS, changes, False))
        return result

    async def set_account_settings(self, address: str, values: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._update_account(
            address, "settings", _changer(schema.ACCOUNT_SETTINGS, values, True))
        return result

    async def account_prefs(self, address: str) -> dict[str, Any]:
        name, domain = await self.split(address, "account name")
        return (await self.store.read(rec.account_record(name, domain))).prefs

    async def update_account_prefs(self, address: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._update_account(address, "prefs", _prefs_changer(changes, False))
        return result

    async def set_account_prefs(self, address: str, values: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._update_account(address, "prefs", _prefs_changer(values, True))
        return result

    async def effective_account_prefs(self, address: str) -> dict[str, Any]:
        """The account's prefs over its domain's default prefs over the server's."""
        name, domain = await self.split(address, "account name")

        def unit() -> Unit[dict[str, Any]]:
            record = yield from rec.account_record(name, domain)
            row = yield from rec.domain_row(record.found.domain_id)
            server = yield from rec.server_dict(rec.SERVER_ACCOUNT_PREFS)
            return {**server, **rec.loads(row["account_prefs"]), **record.prefs}

        return await self.store.read(unit())

    async def server_account_prefs(self) -> dict[str, Any]:
        return await self.store.read(rec.server_dict(rec.SERVER_ACCOUNT_PREFS))

    async def update_server_account_prefs(self, changes: Mapping[str, Any], *,
                                          replace: bool = False) -> dict[str, Any]:
        change = _prefs_changer(changes, replace)
        new = await self.store.write(rec.update_server_dict(rec.SERVER_ACCOUNT_PREFS, change))
        await self._event(ServerChanged(rec.SERVER_ACCOUNT_PREFS))
        return new

    async def account_default_prefs(self, domain: str) -> dict[str, Any]:
        return await self.store.read(rec.domain_dict(domain_name(domain), "account_prefs"))

    async def update_account_default_prefs(self, domain: str, changes: Mapping[str, Any], *,
                                           replace: bool = False) -> dict[str, Any]:
        canonical = domain_name(domain)
        new = await self.store.write(rec.update_domain_dict(canonical, "account_prefs",
                                                            _prefs_changer(changes, replace)))
        await self._event(DomainChanged(canonical, "account_prefs"))
        return new

    async def server_dict(self, name: str) -> dict[str, Any]:
        """A server-wide dictionary kept in the store (LAN addresses, module settings...)."""
        return await self.store.read(rec.server_dict(name))

    async def put_server_dict(self, name: str, value: dict[str, Any]) -> None:
        await self.store.write(rec.put_server_dict(name, value))
        await self._event(ServerChanged(name))

    async def account_rights(self, address: str) -> list[str]:
        return (await self.account(address)).rights

    async def set_account_rights(self, address: str, rights: Iterable[str]) -> list[str]:
        checked = _check_rights(rights)
        result: list[str] = await self._update_account(address, "rights", lambda _cur: checked)
        return result

    async def _update_account(self, address: str, column: Literal["settings", "prefs", "rights"],
                              change: Callable[[Any], Any]) -> Any:
        name, domain = await self.split(address, "account name")
        new = await self.store.write(rec.update_account_column(name, domain, column, change))
        await self._event(AccountChanged(f"{name}@{domain}", column))
        return new

    async def set_password(self, address: str, password: str) -> None:
        name, domain = await self.split(address, "account name")
        view = await self.store.read(rec.account_layers(name, domain))
        stored = await self._stored(password, view.account_layers)
        await self.store.write(rec.set_password(view.id, stored, self._clock()))
        await self._event(AccountChanged(view.address, "password"))

    async def add_scram_sha1(self, account_id: int, password_hash: str, password: str) -> None:
        """SCRAM-SHA-1's keys for an account made before they were kept, from its password as a login just
        showed it (nothing changes if the password changed meanwhile)."""
        keys = await self.passwords.scram_sha1(password)
        await self.store.write(unit_of(rec.SET_SCRAM_SHA1.run(scram_sha1=keys, id=account_id,
                                                             password_hash=password_hash)))

    async def set_account_type(self, address: str, storage: str) -> None:
        name, domain = await self.split(address, "account name")
        canonical = _check_storage(storage)
        view = await self.store.read(rec.account_layers(name, domain))
        await self.store.write(unit_of(rec.SET_STORAGE.run(storage=canonical, id=view.id)))
        await self._event(AccountChanged(view.address, "type"))

    async def account_info(self, address: str) -> dict[str, Any]:
        """When the account was created, last logged in (and from where), last changed its password."""
        name, domain = await self.split(address, "account name")

        def unit() -> Unit[Any]:
            found = yield from rec.find_account(name, domain)
            row = yield rec.ACCOUNT_INFO.one(id=found.id)
            return row

        row = await self.store.read(unit())
        return {key: row[key] for key in ("created", "password_changed", "last_login", "last_address")}

    async def record_login(self, account_id: int, remote: str) -> None:
        await self.store.write(unit_of(rec.RECORD_LOGIN.run(at=self._clock(), address=remote, id=account_id)))

    async def verify_password(self, address: str, password: str) -> bool:
        """Check a password the slow, sure way (argon2), for admin tools; logins use auth.Authenticator."""
        name, domain = await self.split(address, "account name")
        record = await self.store.read(rec.account_record(name, domain))
        return await self.passwords.verify(record.password_hash, password)

    async def account_aliases(self, address: str) -> list[str]:
        return (await self.account(address)).aliases

    async def set_account_aliases(self, address: str, aliases: Iterable[str]) -> list[str]:
        name, domain = await self.split(address, "account name")
        canonical = list(dict.fromkeys(object_name(a, "alias") for a in aliases))
        result = await self.store.write(rec.set_account_aliases(name, domain, canonical, self._clock()))
        await self._event(AccountChanged(f"{name}@{domain}", "aliases"))
        return result

    async def login_record(self, login: str) -> LoginRecord | None:
        """The account a login name (`name`, `name@domain`, an alias, a domain alias) refers to, or None
        when there is none (unknown names and malformed names alike)."""
        local, at, domain_text = login.strip().rpartition("@")
        if not at:
            local, domain_text = domain_text, ""
        try:
            name = object_name(local)
            domain = domain_name(domain_text) if domain_text else ""
        except InvalidName:
            return None

        if not domain:
            try:
                domain = await self.main_domain()
            except UnknownDomain:  # no main domain yet
                return None
        view = rec.to_account_view(await self.store.fetch(rec.ACCOUNT_VIEW.one(name=name, domain=domain)))
        return self._login_record(view)

    async def login_record_by_id(self, account_id: int) -> LoginRecord | None:
        """The account's login record as it is now (a session re-checks who it is), or None if gone."""
        row = await self.store.fetch(rec.ACCOUNT_VIEW_BY_ID.one(id=account_id))
        return self._login_record(rec.to_account_view(row))

    @staticmethod
    def _login_record(view: rec.AccountView | None) -> LoginRecord | None:
        if view is None:
            return None
        account = schema.layered(schema.ACCOUNT_SETTINGS, view.account_layers)
        domain_settings = schema.layered(schema.DOMAIN_SETTINGS, view.domain_layers)
        days = account["ChatHistoryDays"]
        return LoginRecord(view.id, view.address, view.password_hash, view.scram_sha256,
                           account["AccessModes"], domain_settings["DomainAccessModes"], view.rights,
                           view.password_secret, 36_500 if days == schema.UNLIMITED else int(days), view.scram_sha1)

    # -- aliases --

    async def create_alias(self, alias: str, account: str) -> str:
        name, domain = await self.split(alias, "alias")
        account_name, account_domain = await self.split(account, "account name")
        target = await self.store.write(rec.create_alias(name, domain, account_name, account_domain,
                                                         self._clock()))
        await self._event(AliasChanged(f"{name}@{domain}", "created", account=target))
        return target

    async def delete_alias(self, alias: str) -> None:
        name, domain = await self.split(alias, "alias")
        deleted = await self.store.write(rec.delete_object(name, domain, rec.ALIAS, None))
        await self._event(AliasChanged(deleted, "deleted"))

    async def aliases(self, domain: str) -> dict[str, str]:
        """Alias name -> account name, for one domain."""
        rows = await self.store.read(rec.list_kind(domain_name(domain), rec.ALIAS))
        return {str(r["name"]): str(r["target_name"]) for r in rows}

    # -- forwarders --

    async def create_forwarder(self, address: str, target: str) -> str:
        name, domain = await self.split(address, "forwarder name")
        destination = mail_address(target, domain)
        created = await self.store.write(rec.create_forwarder(
            name, domain, destination, self._clock(), _limit(schema.DOMAIN_SETTINGS, "MaxForwarders")))
        await self._event(ForwarderChanged(created, "created"))
        return destination

    async def forwarder(self, address: str) -> str:
        name, domain = await self.split(address, "forwarder name")
        found = await self.store.read(rec.find_object(name, domain, rec.FORWARDER))
        return found.target or ""

    async def set_forwarder(self, address: str, target: str) -> str:
        name, domain = await self.split(address, "forwarder name")
        destination = mail_address(target, domain)
        changed = await self.store.write(rec.set_forwarder(name, domain, destination))
        await self._event(ForwarderChanged(changed, "changed"))
        return destination

    async def delete_forwarder(self, address: str) -> None:
        name, domain = await self.split(address, "forwarder name")
        deleted = await self.store.write(rec.delete_object(name, domain, rec.FORWARDER, None))
        await self._event(ForwarderChanged(deleted, "deleted"))

    async def rename_forwarder(self, old: str, new: str) -> str:
        return await self._rename(old, new, rec.FORWARDER)

    async def forwarders(self, domain: str) -> dict[str, str]:
        """Forwarder name -> target address, for one domain."""
        rows = await self.store.read(rec.list_kind(domain_name(domain), rec.FORWARDER))
        return {str(r["name"]): str(r["target"]) for r in rows}

    # -- groups --

    async def create_group(self, address: str, *, settings: Mapping[str, Any] | None = None,
                           members: Iterable[str] = ()) -> GroupInfo:
        name, domain = await self.split(address, "group name")
        values = schema.validate(schema.GROUP_SETTINGS, settings or {})
        member_list = [mail_address(m, domain) for m in members]
        created = await self.store.write(rec.create_group(
            name, domain, values, member_list, self._clock(), _limit(schema.DOMAIN_SETTINGS, "MaxGroups")))
        await self._event(GroupChanged(created, "created"))
        return await self.group(created)

    async def group(self, address: str) -> GroupInfo:
        name, domain = await self.split(address, "group name")
        record = await self.store.read(rec.group_record(name, domain))
        return GroupInfo(record.found.name, record.found.domain, record.settings, record.members)

    async def update_group(self, address: str, *, settings: Mapping[str, Any] | None = None,
                           members: Iterable[str] | None = None, replace_settings: bool = False) -> GroupInfo:
        name, domain = await self.split(address, "group name")
        change = _changer(schema.GROUP_SETTINGS, settings or {}, replace_settings)
        member_list = None if members is None else [mail_address(m, domain) for m in members]
        changed = await self.store.write(rec.update_group(name, domain, change, member_list))
        await self._event(GroupChanged(changed, "changed"))
        return await self.group(changed)

    async def delete_group(self, address: str) -> None:
        name, domain = await self.split(address, "group name")
        deleted = await self.store.write(rec.delete_object(name, domain, rec.GROUP, None))
        await self._event(GroupChanged(deleted, "deleted"))

    async def rename_group(self, old: str, new: str) -> str:
        return await self._rename(old, new, rec.GROUP)

    async def groups(self, domain: str) -> list[str]:
        rows = await self.store.read(rec.list_kind(domain_name(domain), rec.GROUP))
        return [str(r["name"]) for r in rows]

    async def _rename(self, old: str, new: str, kind: str) -> str:
        name, domain = await self.split(old, f"{kind} name")
        new_name, new_domain = await self.split(new, f"{kind} name")
        before, after = await self.store.write(rec.rename_object(name, domain, kind, new_name, new_domain,
                                                                 None))
        await self._event(ForwarderChanged(before, "renamed", to=after) if kind == rec.FORWARDER
                          else GroupChanged(before, "renamed", to=after))
        return after

    # -- mail routing --

    async def route(self, address: str) -> rec.Route | None:
        """What `address` is here, for delivery: an account (also through an alias or a domain alias), a
        forwarder, a group, or an unknown name of a hosted domain (with the domain's settings for its
        MailToUnknown); None when its domain is not hosted. "name+detail" is "name" when there is no
        object named "name+detail" (subaddressing)."""
        local, at, domain_text = address.rpartition("@")
        if not at or not local:
            return None
        try:
            domain = domain_name(domain_text)
        except InvalidName:
            return None
        candidates: list[str] = []
        for name in (local, local.partition("+")[0]):
            try:
                candidates.append(object_name(name))
            except InvalidName:
                continue
        if not candidates:
            # Not a name anything here could have; the domain's MailToUnknown still decides.
            found = await self.store.read(rec.route((), domain))
            return None if found is None else replace(found, name=local.lower())
        return await self.store.read(rec.route(tuple(dict.fromkeys(candidates)), domain))

    # -- all objects --

    async def count_objects(self, domain: str) -> dict[str, int]:
        """The number of accounts, aliases, forwarders and groups of a domain, by kind."""
        return await self.store.read(rec.count_objects(domain_name(domain)))

    async def list_objects(self, domain: str, *, filter: str = "", limit: int = 100,
                           kinds: Iterable[str] = rec.OBJECT_KINDS, cookie: str = "",
                           count: bool = True) -> rec.ObjectPage:
        """One page of a domain's objects in name order; pass the returned cookie for the next page.
        `total` counts every match (-1 when `count` is false: a scan saved)."""
        wanted = tuple(k for k in rec.OBJECT_KINDS if k in set(kinds))
        if not wanted:
            raise InvalidSetting(f"no object kinds asked for (known: {', '.join(rec.OBJECT_KINDS)})")
        if limit < 1:
            raise InvalidSetting("the page limit must be at least 1")
        return await self.store.read(rec.list_objects(
            domain_name(domain), rec.like_pattern(filter.lower()), wanted, min(limit, 100_000), cookie, count))
