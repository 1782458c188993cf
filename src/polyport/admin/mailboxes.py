"""An account's mailboxes, their classes, subscriptions and access control lists, as administrators
(and the account itself) manage them.

Who may: the server administrator on any account, a domain administrator on the accounts of its domain
(never on one holding rights it lacks), an account on its own mailboxes. Names are the mailstore's ("/"
separates levels, INBOX in any case). With `auth` a function acts with that account's mailbox rights, as
CommuniGate's `AUTH name` does: the owner has every right on its own mailboxes; another account of the
owner's domain reaches them as "~owner/name" through their ACLs (mailstore/acl.py), and one of another
domain reaches none. The owner's INBOX and special-use mailboxes are made on first use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from polyport.admin.errors import InvalidRequest
from polyport.admin.rights import Actor, Services, require_object
from polyport.directory import UnknownObject
from polyport.mailstore import Mailbox, Mailstore, NoSuchMailbox, acl
from polyport.mailstore import names as mailbox_names

# CommuniGate's classes look like IPF.Note, IPF.Appointment, IPF.Contact, IPF.Task.
CLASS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_class(value: str) -> str:
    if not CLASS_PATTERN.fullmatch(value):
        raise InvalidRequest(f"{value!r} is not a mailbox class (like IPF.Note, IPF.Appointment, IPF.Contact)")
    return value


@dataclass(frozen=True, slots=True)
class Acting:
    """Whose mailboxes a function works on, and as whom."""

    owner_id: int
    account_id: int  # the owner, or the `auth` account
    prefix: str  # "" for the owner; "~owner/" for another account, which names the mailboxes so
    reaches: bool = True  # False: the `auth` account is of another domain and reaches none of them

    @property
    def as_owner(self) -> bool:
        return not self.prefix

    def name(self, mailbox: str) -> str:
        """The acting account's name for one of the owner's mailboxes. "~owner/" names are resolved in the
        acting account's own domain, so an account of another domain has no name for them at all."""
        if not self.reaches:
            raise NoSuchMailbox(f"no mailbox {mailbox} for an account of another domain")
        return self.prefix + mailbox


async def acting(s: Services, actor: Actor, owner: str, auth: str | None = None) -> Acting:
    """The account `owner` names, once the actor is found to have rights over it, and the account the
    function acts as (`auth`); the owner's INBOX is made on first use."""
    directory = s.directory
    await require_object(directory, actor, owner, own=True)
    record = await directory.login_record(owner)
    if record is None:
        raise UnknownObject(f"Unknown account {owner}", "account")
    await s.mailstore.ensure_defaults(record.account_id)
    if auth is None:
        return Acting(record.account_id, record.account_id, "")
    as_account = await directory.login_record(auth)
    if as_account is None:
        raise UnknownObject(f"Unknown account {auth}", "account")
    if as_account.account_id == record.account_id:
        return Acting(record.account_id, record.account_id, "")
    owner_name, _, owner_domain = record.address.partition("@")
    same_domain = as_account.address.partition("@")[2] == owner_domain
    return Acting(record.account_id, as_account.account_id, mailbox_names.foreign(owner_name, ""), same_domain)


@dataclass(frozen=True, slots=True)
class Listed:
    """One name of a mailbox listing: the mailbox (None for a folder that only holds others, or one the
    acting account may see but not read) and whether it holds other mailboxes."""

    name: str
    mailbox: Mailbox | None
    has_children: bool = False


async def mailbox_tree(mailstore: Mailstore, account_id: int, pattern: str = "*") -> list[Listed]:
    """The owner's view: every mailbox and folder whose name matches `pattern` (IMAP's `*` and `%`), in
    name order. No rights are checked here (the local `polyport mailbox` command uses it too)."""
    boxes = await mailstore.mailboxes(account_id)
    by_name = {box.name: box for box in boxes}
    folders = {parent for box in boxes for parent in mailbox_names.parents(box.name)}
    matcher = mailbox_names.pattern("", pattern)
    return [Listed(name, by_name.get(name), name in folders)
            for name in sorted(by_name.keys() | folders) if matcher.fullmatch(name)]


async def _visible(mailstore: Mailstore, acting: Acting, pattern: str) -> list[Listed]:
    """Another account's view: the owner's mailboxes it may see ("l"), by the owner's names; those it may
    not read ("r") without their information."""
    matcher = mailbox_names.pattern("", pattern)
    listed: dict[str, Listed] = {}
    for box in await mailstore.shared(acting.account_id):
        if box.account_id != acting.owner_id or not box.name.startswith(acting.prefix):
            continue
        name = box.name[len(acting.prefix):]
        if matcher.fullmatch(name):
            listed[name] = Listed(name, box if "r" in box.rights else None)
    return [listed[name] for name in sorted(listed)]


async def list_mailboxes(s: Services, actor: Actor, owner: str, pattern: str = "*", *,
                         auth: str | None = None) -> list[Listed]:
    who = await acting(s, actor, owner, auth)
    if who.as_owner:
        return await mailbox_tree(s.mailstore, who.owner_id, pattern)
    return await _visible(s.mailstore, who, pattern)


async def create_mailbox(s: Services, actor: Actor, owner: str, name: str, *, mailbox_class: str | None = None,
                         auth: str | None = None) -> None:
    """Create a mailbox (and the missing levels above it); as `auth`, it needs "k" on the level above."""
    if mailbox_class is not None:
        check_class(mailbox_class)
    who = await acting(s, actor, owner, auth)
    await s.mailstore.create(who.account_id, who.name(name), mailbox_class=mailbox_class)


async def rename_mailbox(s: Services, actor: Actor, owner: str, old: str, new: str, *, subtree: bool = False,
                         auth: str | None = None) -> None:
    """Rename a mailbox (with `subtree`, the mailboxes under it too); as `auth`, needs "x" and "k"."""
    who = await acting(s, actor, owner, auth)
    await s.mailstore.rename(who.account_id, who.name(old), who.name(new), subtree=subtree)


async def delete_mailbox(s: Services, actor: Actor, owner: str, name: str, *, subtree: bool = False,
                         auth: str | None = None) -> None:
    """Delete a mailbox (with `subtree`, the mailboxes under it too, all or none); as `auth`, needs "x" on
    every mailbox it deletes."""
    who = await acting(s, actor, owner, auth)
    mailstore = s.mailstore
    if not subtree:
        await mailstore.delete(who.account_id, who.name(name))
        return
    if not who.as_owner:  # "x" on every mailbox it would delete, checked before any goes
        canonical = mailbox_names.check(name)
        for box in await mailstore.mailboxes(who.owner_id):
            if box.name == canonical or box.name.startswith(canonical + mailbox_names.SEPARATOR):
                await mailstore.mailbox(who.account_id, who.name(box.name), need="x")
    await mailstore.delete_tree(who.owner_id, name)


async def mailbox(s: Services, actor: Actor, owner: str, name: str, *, auth: str | None = None) -> Mailbox:
    """One mailbox and its counts; as `auth`, needs "r"."""
    who = await acting(s, actor, owner, auth)
    return await s.mailstore.mailbox(who.account_id, who.name(name), need="r")


async def set_mailbox_class(s: Services, actor: Actor, owner: str, name: str, mailbox_class: str | None, *,
                            auth: str | None = None) -> None:
    """Set a mailbox's class (None or "": a plain mail folder again); as `auth`, needs "a"."""
    if mailbox_class:
        check_class(mailbox_class)
    who = await acting(s, actor, owner, auth)
    await s.mailstore.set_class(who.account_id, who.name(name), mailbox_class or None)


async def mailbox_subscriptions(s: Services, actor: Actor, owner: str) -> list[str]:
    """The subscribed names, which need not be existing mailboxes (RFC 3501 6.3.6)."""
    who = await acting(s, actor, owner)
    return await s.mailstore.subscriptions(who.owner_id)


async def set_mailbox_subscriptions(s: Services, actor: Actor, owner: str, names: Iterable[str]) -> list[str]:
    """Replace the subscribed names (every name checked before anything changes)."""
    wanted = list(names)
    for name in wanted:
        mailbox_names.check(name)
    who = await acting(s, actor, owner)
    return await s.mailstore.set_subscriptions(who.owner_id, wanted)


# -- access control lists --

async def mailbox_acl(s: Services, actor: Actor, owner: str, name: str, *,
                      auth: str | None = None) -> list[tuple[str, str]]:
    """A mailbox's ACL entries (identifier, rights), the owner's own rights not among them; as `auth`,
    needs "a"."""
    who = await acting(s, actor, owner, auth)
    return (await s.mailstore.acl(who.account_id, who.name(name))).entries


async def set_mailbox_acl(s: Services, actor: Actor, owner: str, name: str, entries: Mapping[str, str], *,
                          auth: str | None = None) -> None:
    """Change a mailbox's ACL: each identifier's rights string ("+..." adds, "-..." removes, anything else
    replaces; an entry left without rights goes), all or none, every entry checked before anything
    changes; as `auth`, needs "a"."""
    changes = [(identifier, *acl.split_mode(rights)) for identifier, rights in entries.items()]
    who = await acting(s, actor, owner, auth)
    await s.mailstore.change_acl(who.account_id, who.name(name), changes)


async def mailbox_rights(s: Services, actor: Actor, owner: str, name: str, auth: str) -> str:
    """What `auth` may do on one of the owner's mailboxes ("": nothing)."""
    who = await acting(s, actor, owner, auth)
    if not who.reaches:
        # Accounts of another domain reach no mailbox here; that the mailbox exists is still checked.
        await s.mailstore.mailbox(who.owner_id, name)
        return ""
    return await s.mailstore.rights(who.account_id, who.name(name))
