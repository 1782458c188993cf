"""Mailbox commands: LISTMAILBOXES, CREATEMAILBOX, RENAMEMAILBOX, DELETEMAILBOX, GETMAILBOXINFO,
SETMAILBOXCLASS, GETMAILBOXSUBSCRIPTION, SETMAILBOXSUBSCRIPTION. (Mailbox ACLs: mailbox_acl.py.)

Who may: the server administrator on any account, a domain administrator on the accounts of its domain
(never on one holding rights it lacks), an account on its own mailboxes; every refusal is 510. Names are
the mailstore's ("/" separates levels, INBOX in any case). `AUTH name` runs the command with that
account's mailbox rights, as CommuniGate does: the owner has every right on its own mailboxes; another
account of the owner's domain reaches them as "~owner/name" through their ACLs (mailstore/acl.py), so
LISTMAILBOXES shows it what it may see (the "l" right; an empty array where it may not read, "r"),
GETMAILBOXINFO needs "r", CREATEMAILBOX "k" on the level above, DELETEMAILBOX "x" (on every mailbox of
the subtree with MAILBOXES), RENAMEMAILBOX "x" and "k", SETMAILBOXCLASS "a"; a refusal is 510.

LISTMAILBOXES answers as CommuniGate does: a mailbox maps to its information dictionary; a folder that
only holds other mailboxes maps to an empty array, and a mailbox that also holds others to an array of
its one dictionary. The dictionary: Messages, Size (bytes), Unseen, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ,
Created, and Class and SpecialUse where set. There is no Recent: Polyport keeps no \\Recent flag
(RFC 9051 dropped it).

Not supported: mailbox aliases (GETMAILBOXALIASES, SETMAILBOXALIASES) get 500, as unknown commands.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from polyport.cliapi.codes import CliError, Code, bad
from polyport.cliapi.commands import Context, array, command
from polyport.cliapi.wire import Parser, Value
from polyport.mailstore import Mailbox, Mailstore, NoSuchMailbox
from polyport.mailstore import names as mailbox_names

# CommuniGate's classes look like IPF.Note, IPF.Appointment, IPF.Contact, IPF.Task.
CLASS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def mailbox_info(mailbox: Mailbox) -> dict[str, Value]:
    """One mailbox's information dictionary (LISTMAILBOXES, GETMAILBOXINFO)."""
    info: dict[str, Value] = {
        "Messages": mailbox.messages,
        "Size": mailbox.size,
        "Unseen": mailbox.unseen,
        "UIDNEXT": mailbox.uidnext,
        "UIDVALIDITY": mailbox.uidvalidity,
        "HIGHESTMODSEQ": mailbox.highestmodseq,
        "Created": datetime.datetime.fromtimestamp(mailbox.created, datetime.UTC),
    }
    if mailbox.mailbox_class:
        info["Class"] = mailbox.mailbox_class
    if mailbox.special_use:
        info["SpecialUse"] = mailbox.special_use
    return info


async def list_mailboxes(mailstore: Mailstore, account_id: int, pattern: str = "*") -> dict[str, Value]:
    """LISTMAILBOXES's answer for the owner: every mailbox and folder whose name matches `pattern` (IMAP's
    `*` and `%`), in name order."""
    boxes = await mailstore.mailboxes(account_id)
    by_name = {box.name: box for box in boxes}
    folders = {parent for box in boxes for parent in mailbox_names.parents(box.name)}
    matcher = mailbox_names.pattern("", pattern)
    listed: dict[str, Value] = {}
    for name in sorted(by_name.keys() | folders):
        if not matcher.fullmatch(name):
            continue
        box = by_name.get(name)
        if box is None:
            listed[name] = []
        elif name in folders:
            listed[name] = [mailbox_info(box)]
        else:
            listed[name] = mailbox_info(box)
    return listed


def check_class(value: str) -> str:
    if not CLASS_PATTERN.fullmatch(value):
        raise bad(f"{value!r} is not a mailbox class (like IPF.Note, IPF.Appointment, IPF.Contact)")
    return value


@dataclass(frozen=True, slots=True)
class Acting:
    """Whose mailboxes a command works on, and as whom."""

    owner_id: int
    account_id: int  # the owner, or the AUTH account
    prefix: str  # "" for the owner; "~owner/" for another account, which names the mailboxes so
    reaches: bool = True  # False: the AUTH account is of another domain and reaches none of them

    @property
    def as_owner(self) -> bool:
        return not self.prefix

    def name(self, mailbox: str) -> str:
        """The acting account's name for one of the owner's mailboxes. "~owner/" names are resolved in the
        acting account's own domain, so an account of another domain has no name for them at all."""
        if not self.reaches:
            raise NoSuchMailbox(f"no mailbox {mailbox} for an account of another domain")
        return self.prefix + mailbox


async def owner_and_acting(cx: Context, address: str, auth: str | None = None) -> Acting:
    """The account `address` names, once the caller is found to have rights over it, and the account the
    command acts as (AUTH); the owner's INBOX is made on first use. One helper for every mailbox command."""
    await cx.require_object(address, own=True)
    record = await cx.directory.login_record(address)
    if record is None:
        raise CliError(Code.UNKNOWN_ACCOUNT, f"Unknown account {address}")
    await cx.runtime.mailstore.ensure_defaults(record.account_id)
    if auth is None:
        return Acting(record.account_id, record.account_id, "")
    acting = await cx.directory.login_record(cx.address(auth))
    if acting is None:
        raise CliError(Code.UNKNOWN_ACCOUNT, f"Unknown account {auth}")
    if acting.account_id == record.account_id:
        return Acting(record.account_id, record.account_id, "")
    owner_name, _, owner_domain = record.address.partition("@")
    same_domain = acting.address.partition("@")[2] == owner_domain
    return Acting(record.account_id, acting.account_id, mailbox_names.foreign(owner_name, ""), same_domain)


async def _visible(mailstore: Mailstore, acting: Acting, pattern: str) -> dict[str, Value]:
    """LISTMAILBOXES for another account: the owner's mailboxes it may see, by the owner's names."""
    matcher = mailbox_names.pattern("", pattern)
    listed: dict[str, Value] = {}
    for box in await mailstore.shared(acting.account_id):
        if box.account_id != acting.owner_id or not box.name.startswith(acting.prefix):
            continue
        name = box.name[len(acting.prefix):]
        if matcher.fullmatch(name):
            listed[name] = mailbox_info(box) if "r" in box.rights else []
    return dict(sorted(listed.items()))


def _options(args: Parser, *allowed: str) -> dict[str, str]:
    """Trailing `KEYWORD value` pairs in any order (AUTH name, CLASS c)."""
    found: dict[str, str] = {}
    while (word := args.maybe_keyword(*allowed)) is not None:
        if word in found:
            raise bad(f"{word} given twice")
        found[word] = args.string()
    args.end()
    return found


@command("LISTMAILBOXES")
async def list_mailboxes_command(cx: Context, args: Parser) -> Value:
    """acct [FILTER pattern] [AUTH name]"""
    address = cx.address(args.string())
    options = _options(args, "FILTER", "AUTH")
    acting = await owner_and_acting(cx, address, options.get("AUTH"))
    pattern = options.get("FILTER", "*")
    if acting.as_owner:
        return await list_mailboxes(cx.runtime.mailstore, acting.owner_id, pattern)
    return await _visible(cx.runtime.mailstore, acting, pattern)


@command("CREATEMAILBOX")
async def create_mailbox(cx: Context, args: Parser) -> None:
    """acct MAILBOX name [AUTH name] [CLASS class]"""
    address = cx.address(args.string())
    args.keyword("MAILBOX")
    name = args.string()
    options = _options(args, "AUTH", "CLASS")
    mailbox_class = check_class(options["CLASS"]) if "CLASS" in options else None
    acting = await owner_and_acting(cx, address, options.get("AUTH"))
    await cx.runtime.mailstore.create(acting.account_id, acting.name(name), mailbox_class=mailbox_class)


@command("RENAMEMAILBOX")
async def rename_mailbox(cx: Context, args: Parser) -> None:
    """acct MAILBOX old INTO new [AUTH name]; MAILBOXES renames the mailboxes under it too."""
    address = cx.address(args.string())
    subtree = args.keyword("MAILBOX", "MAILBOXES") == "MAILBOXES"
    old = args.string()
    args.keyword("INTO")
    new = args.string()
    options = _options(args, "AUTH")
    acting = await owner_and_acting(cx, address, options.get("AUTH"))
    await cx.runtime.mailstore.rename(acting.account_id, acting.name(old), acting.name(new), subtree=subtree)


@command("DELETEMAILBOX")
async def delete_mailbox(cx: Context, args: Parser) -> None:
    """acct MAILBOX name [AUTH name]; MAILBOXES deletes the mailboxes under it too."""
    address = cx.address(args.string())
    subtree = args.keyword("MAILBOX", "MAILBOXES") == "MAILBOXES"
    name = args.string()
    options = _options(args, "AUTH")
    acting = await owner_and_acting(cx, address, options.get("AUTH"))
    mailstore = cx.runtime.mailstore
    if not subtree:
        await mailstore.delete(acting.account_id, acting.name(name))
        return
    if not acting.as_owner:  # "x" on every mailbox it would delete, checked before any goes
        canonical = mailbox_names.check(name)
        for box in await mailstore.mailboxes(acting.owner_id):
            if box.name == canonical or box.name.startswith(canonical + mailbox_names.SEPARATOR):
                await mailstore.mailbox(acting.account_id, acting.name(box.name), need="x")
    await mailstore.delete_tree(acting.owner_id, name)


@command("GETMAILBOXINFO")
async def get_mailbox_info(cx: Context, args: Parser) -> Value:
    """acct MAILBOX name [AUTH name]"""
    address = cx.address(args.string())
    args.keyword("MAILBOX")
    name = args.string()
    options = _options(args, "AUTH")
    acting = await owner_and_acting(cx, address, options.get("AUTH"))
    return mailbox_info(await cx.runtime.mailstore.mailbox(acting.account_id, acting.name(name), need="r"))


@command("SETMAILBOXCLASS")
async def set_mailbox_class(cx: Context, args: Parser) -> None:
    """acct MAILBOX name [AUTH name] CLASS class (an empty class makes it a plain mail folder again)"""
    address = cx.address(args.string())
    args.keyword("MAILBOX")
    name = args.string()
    options = _options(args, "AUTH", "CLASS")
    if "CLASS" not in options:
        raise bad("Expected CLASS and the mailbox class")
    mailbox_class = check_class(options["CLASS"]) if options["CLASS"] else None
    acting = await owner_and_acting(cx, address, options.get("AUTH"))
    await cx.runtime.mailstore.set_class(acting.account_id, acting.name(name), mailbox_class)


@command("GETMAILBOXSUBSCRIPTION")
async def get_mailbox_subscription(cx: Context, args: Parser) -> Value:
    """acct -> (name, ...): the subscribed names, which need not be existing mailboxes (RFC 3501 6.3.6)."""
    address = cx.address(args.string())
    args.end()
    acting = await owner_and_acting(cx, address)
    return await cx.runtime.mailstore.subscriptions(acting.owner_id)


@command("SETMAILBOXSUBSCRIPTION")
async def set_mailbox_subscription(cx: Context, args: Parser) -> None:
    """acct (name, ...): replaces the subscribed names."""
    address = cx.address(args.string())
    wanted = array(args)
    args.end()
    for name in wanted:
        mailbox_names.check(name)  # every name checked before anything changes
    acting = await owner_and_acting(cx, address)
    await cx.runtime.mailstore.set_subscriptions(acting.owner_id, wanted)
