"""Accounts: creation, renaming, deletion, type, settings (explicit and effective), passwords, aliases,
prefs, rights, activity, mail rules.

A server administrator acts on every account; a domain administrator on those of its domain (creating,
renaming and deleting with CanCreateAccounts, aliases with CanCreateAliases), never on one holding
rights it lacks; an account reads its own settings, prefs, aliases, rights and activity, changes its
prefs, the settings users may set (RulesAllowed permitting the mail rules), and its password where
PWDAllowed is YES.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from polyport import log
from polyport.admin.errors import Forbidden, InUse, InvalidRequest, NotFound
from polyport.admin.rights import (
    CAN_CREATE_ACCOUNTS,
    CAN_CREATE_ALIASES,
    MASTER,
    Actor,
    Services,
    is_me,
    require_master,
    require_object,
)
from polyport.auth.login import LoginContext
from polyport.directory import Directory
from polyport.directory import settings as schema
from polyport.directory.errors import UnknownObject
from polyport.filters import autoreply

RULES = "Rules"
SIEVE = "SieveScript"


def take_password(settings: dict[str, Any]) -> str | None:
    """CommuniGate lets settings carry `Password`; it is stored as hashes, never as a setting: taken out
    of `settings` (in place) and returned."""
    for key in list(settings):
        if key.lower() == "password":
            value = settings.pop(key)
            if not isinstance(value, str):
                raise InvalidRequest("Password must be a string")
            return value
    return None


async def create_account(s: Services, actor: Actor, address: str, settings: Mapping[str, Any] | None = None,
                         password: str | None = None, *, storage: str = "MultiMailbox") -> None:
    """Create an account; `settings` may carry its `Password` (CommuniGate's way) instead of `password`."""
    await require_object(s.directory, actor, address, CAN_CREATE_ACCOUNTS)
    values = dict(settings or {})
    inline = take_password(values)
    password = inline if password is None else password
    await s.directory.create_account(address, password=password, storage=storage, settings=values)


async def rename_account(s: Services, actor: Actor, old: str, new: str) -> None:
    await require_object(s.directory, actor, old, CAN_CREATE_ACCOUNTS)
    await require_object(s.directory, actor, new, CAN_CREATE_ACCOUNTS)
    await s.directory.rename_account(old, new)


async def delete_account(s: Services, actor: Actor, address: str) -> None:
    await require_object(s.directory, actor, address, CAN_CREATE_ACCOUNTS)
    if await is_me(s.directory, actor, address):
        raise InUse("An account cannot delete itself")
    await s.directory.delete_account(address)


async def set_account_type(s: Services, actor: Actor, address: str, storage: str) -> None:
    await require_object(s.directory, actor, address, CAN_CREATE_ACCOUNTS)
    await s.directory.set_account_type(address, storage)


# -- settings --

async def account_settings(s: Services, actor: Actor, address: str) -> dict[str, Any]:
    await require_object(s.directory, actor, address, own=True)
    return await s.directory.account_settings(address)


async def effective_account_settings(s: Services, actor: Actor, address: str) -> dict[str, Any]:
    await require_object(s.directory, actor, address, own=True)
    return await s.directory.effective_account_settings(address)


async def account_setting(s: Services, actor: Actor, address: str, key: str) -> Any | None:
    """One effective setting (its name in any case), or None where there is no such setting."""
    effective = await effective_account_settings(s, actor, address)
    for name, value in effective.items():
        if name.lower() == key.lower():
            return value
    return None


async def _administers_or_is(directory: Directory, actor: Actor, address: str) -> bool:
    """True when the actor administers the account, False when it is the account itself (and may do less);
    otherwise the administrators' refusal."""
    try:
        await require_object(directory, actor, address)
    except Forbidden:
        if await is_me(directory, actor, address):
            return False
        raise
    return True


async def _may_set_rules(directory: Directory, address: str) -> None:
    if (await directory.effective_account_settings(address))["RulesAllowed"] == "None":
        raise Forbidden("This account may not set mail rules (RulesAllowed)")


async def _may_change_own_password(directory: Directory, address: str) -> None:
    settings = await directory.effective_account_settings(address)
    if not schema.is_yes(settings.get("PWDAllowed", "NO")):
        raise Forbidden("This account may not change its password (PWDAllowed)")


async def _change_settings(s: Services, actor: Actor, address: str, changes: Mapping[str, Any], *,
                           replace: bool) -> None:
    directory = s.directory
    values = dict(changes)
    password = take_password(values)
    if password is not None:
        directory.check_password(password)  # before anything is written
    if not await _administers_or_is(directory, actor, address):
        # The user on their own account: only the settings a user may set, and only merging.
        if replace:
            raise Forbidden()
        for key in values:
            spec = schema.ACCOUNT_SETTINGS.get(schema.canonical_key(schema.ACCOUNT_SETTINGS, key))
            if spec is None or not spec.user:
                raise Forbidden(f"Not enough access rights to change {key}")
            if spec.name in (RULES, SIEVE):
                await _may_set_rules(directory, address)
        if password is not None:
            await _may_change_own_password(directory, address)
    if replace:
        await directory.set_account_settings(address, values)
    elif values:
        await directory.update_account_settings(address, values)
    if password is not None:
        await directory.set_password(address, password)


async def update_account_settings(s: Services, actor: Actor, address: str, changes: Mapping[str, Any]) -> None:
    """Merge `changes` into the account's settings (a `Password` among them sets the password)."""
    await _change_settings(s, actor, address, changes, replace=False)


async def set_account_settings(s: Services, actor: Actor, address: str, values: Mapping[str, Any]) -> None:
    """Replace the account's settings (administrators only)."""
    await _change_settings(s, actor, address, values, replace=True)


# -- passwords --

async def set_account_password(s: Services, actor: Actor, address: str, password: str) -> None:
    directory = s.directory
    if not await _administers_or_is(directory, actor, address):
        await _may_change_own_password(directory, address)
    await directory.set_password(address, password)


async def verify_account_password(s: Services, actor: Actor, address: str, password: str,
                                  context: LoginContext) -> bool:
    """Whether `password` is the account's: throttled and counted like a login from `context`, so it
    cannot be used to guess."""
    await require_object(s.directory, actor, address, own=True)
    return await s.auth.verify_password(context, address, password)


async def account_plain_password(s: Services, actor: Actor, address: str) -> str:
    """CommuniGate's GETACCOUNTPLAINPASSWORD: the password of an account that keeps it recoverable
    (RecoverablePassword, sealed with the server's key), for server administrators only; each reading is
    logged (without the password). Other accounts have only hashes: NotFound."""
    require_master(actor)
    record = await s.directory.login_record(address)
    if record is None:
        raise UnknownObject(f"no account {address}", "account")
    vault = s.directory.vault
    password = vault.open(record.password_secret) if vault is not None and record.password_secret else None
    if password is None:
        raise NotFound("the account keeps only password hashes (RecoverablePassword is off, or was when the "
                       "password was set)")
    log.get().warning("admin.plain_password_read", account=record.address, by=actor.address)
    return password


# -- aliases --

async def account_aliases(s: Services, actor: Actor, address: str) -> list[str]:
    await require_object(s.directory, actor, address, own=True)
    return await s.directory.account_aliases(address)


async def set_account_aliases(s: Services, actor: Actor, address: str, aliases: Iterable[str]) -> list[str]:
    """Replace the account's aliases. An alias lives in its account's domain: `name@domain` is taken as
    `name`."""
    await require_object(s.directory, actor, address, CAN_CREATE_ALIASES)
    return await s.directory.set_account_aliases(address, [a.partition("@")[0] for a in aliases])


# -- prefs --

async def account_prefs(s: Services, actor: Actor, address: str) -> dict[str, Any]:
    await require_object(s.directory, actor, address, own=True)
    return await s.directory.account_prefs(address)


async def effective_account_prefs(s: Services, actor: Actor, address: str) -> dict[str, Any]:
    await require_object(s.directory, actor, address, own=True)
    return await s.directory.effective_account_prefs(address)


async def update_account_prefs(s: Services, actor: Actor, address: str, changes: Mapping[str, Any]) -> None:
    await require_object(s.directory, actor, address, own=True)
    await s.directory.update_account_prefs(address, changes)


async def set_account_prefs(s: Services, actor: Actor, address: str, values: Mapping[str, Any]) -> None:
    await require_object(s.directory, actor, address, own=True)
    await s.directory.set_account_prefs(address, values)


# -- rights --

async def account_rights(s: Services, actor: Actor, address: str) -> list[str]:
    await require_object(s.directory, actor, address, own=True)
    return await s.directory.account_rights(address)


async def set_account_rights(s: Services, actor: Actor, address: str, rights: Iterable[str]) -> list[str]:
    require_master(actor)
    wanted = list(rights)
    if await is_me(s.directory, actor, address) and MASTER not in {r.capitalize() for r in wanted}:
        raise InvalidRequest("A server administrator cannot take Master rights from itself")
    return await s.directory.set_account_rights(address, wanted)


# -- activity --

@dataclass(frozen=True, slots=True)
class AccountActivity:
    """When the account was made, last logged in (and from which address), last changed its password;
    None where that never happened. Times are seconds since the epoch."""

    created: int | None
    last_login: int | None
    last_address: str | None
    password_changed: int | None


async def account_activity(s: Services, actor: Actor, address: str) -> AccountActivity:
    await require_object(s.directory, actor, address, own=True)
    raw = await s.directory.account_info(address)
    return AccountActivity(raw["created"], raw["last_login"], raw["last_address"] or None, raw["password_changed"])


async def account_usage(s: Services, actor: Actor, address: str) -> tuple[int, int]:
    """The storage the account uses: (bytes, messages)."""
    await require_object(s.directory, actor, address, own=True)
    return await s.mailstore.usage((await s.directory.account(address)).id)


# -- mail rules (the account's Rules setting) --

async def account_mail_rules(s: Services, actor: Actor, address: str) -> Any:
    """The account's rules: ((priority, name, (conditions), (actions)), ...)."""
    return (await account_settings(s, actor, address)).get(RULES, [])


async def set_account_mail_rules(s: Services, actor: Actor, address: str, rules: list[Any]) -> None:
    """Replace the account's rules; its own user may set them unless its RulesAllowed is None."""
    directory = s.directory
    if not await _administers_or_is(directory, actor, address):
        await _may_set_rules(directory, address)
    await directory.update_account_settings(address, {RULES: rules})


async def set_vacation(s: Services, actor: Actor, address: str, text: str | None) -> None:
    """Set the account's vacation answer (None or empty: none), kept among its rules as `#Vacation`."""
    rules = autoreply.rules_of((await effective_account_settings(s, actor, address)).get(RULES))
    await set_account_mail_rules(s, actor, address, autoreply.with_vacation(rules, text))


async def set_forwarding(s: Services, actor: Actor, address: str, target: str | None, *,
                         keep_copy: bool = True) -> None:
    """Forward the account's mail to `target` (None or empty: not at all), keeping a copy or not; kept among
    its rules as `#Redirect`."""
    rules = autoreply.rules_of((await effective_account_settings(s, actor, address)).get(RULES))
    await set_account_mail_rules(s, actor, address, autoreply.with_forwarding(rules, target, keep_copy))
