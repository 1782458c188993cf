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

from polyport import admin
from polyport.admin.mailboxes import CLASS_PATTERN, Listed, mailbox_tree
from polyport.cliapi.codes import bad
from polyport.cliapi.commands import Context, array, command
from polyport.cliapi.wire import Parser, Value
from polyport.mailstore import Mailbox, Mailstore

__all__ = ["CLASS_PATTERN", "list_mailboxes", "mailbox_info"]


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


def listing(listed: list[Listed]) -> dict[str, Value]:
    """LISTMAILBOXES's answer: a mailbox maps to its dictionary; a folder that only holds others (or a
    mailbox the acting account may not read) to (); a mailbox that also holds others to ({...})."""
    answer: dict[str, Value] = {}
    for entry in listed:
        if entry.mailbox is None:
            answer[entry.name] = []
        elif entry.has_children:
            answer[entry.name] = [mailbox_info(entry.mailbox)]
        else:
            answer[entry.name] = mailbox_info(entry.mailbox)
    return answer


async def list_mailboxes(mailstore: Mailstore, account_id: int, pattern: str = "*") -> dict[str, Value]:
    """LISTMAILBOXES's answer for the owner (no rights checked: the local `polyport mailbox` uses it)."""
    return listing(await mailbox_tree(mailstore, account_id, pattern))


def _options(args: Parser, *allowed: str) -> dict[str, str]:
    """Trailing `KEYWORD value` pairs in any order (AUTH name, CLASS c)."""
    found: dict[str, str] = {}
    while (word := args.maybe_keyword(*allowed)) is not None:
        if word in found:
            raise bad(f"{word} given twice")
        found[word] = args.string()
    args.end()
    return found


def _auth(cx: Context, options: dict[str, str]) -> str | None:
    """AUTH's account, its name read as any other (a bare name is in the caller's domain)."""
    return cx.address(options["AUTH"]) if "AUTH" in options else None


@command("LISTMAILBOXES")
async def list_mailboxes_command(cx: Context, args: Parser) -> Value:
    """acct [FILTER pattern] [AUTH name]"""
    address = cx.address(args.string())
    options = _options(args, "FILTER", "AUTH")
    return listing(await admin.list_mailboxes(cx.runtime, cx.actor, address, options.get("FILTER", "*"),
                                              auth=_auth(cx, options)))


@command("CREATEMAILBOX")
async def create_mailbox(cx: Context, args: Parser) -> None:
    """acct MAILBOX name [AUTH name] [CLASS class]"""
    address = cx.address(args.string())
    args.keyword("MAILBOX")
    name = args.string()
    options = _options(args, "AUTH", "CLASS")
    await admin.create_mailbox(cx.runtime, cx.actor, address, name, mailbox_class=options.get("CLASS"),
                               auth=_auth(cx, options))


@command("RENAMEMAILBOX")
async def rename_mailbox(cx: Context, args: Parser) -> None:
    """acct MAILBOX old INTO new [AUTH name]; MAILBOXES renames the mailboxes under it too."""
    address = cx.address(args.string())
    subtree = args.keyword("MAILBOX", "MAILBOXES") == "MAILBOXES"
    old = args.string()
    args.keyword("INTO")
    new = args.string()
    options = _options(args, "AUTH")
    await admin.rename_mailbox(cx.runtime, cx.actor, address, old, new, subtree=subtree, auth=_auth(cx, options))


@command("DELETEMAILBOX")
async def delete_mailbox(cx: Context, args: Parser) -> None:
    """acct MAILBOX name [AUTH name]; MAILBOXES deletes the mailboxes under it too."""
    address = cx.address(args.string())
    subtree = args.keyword("MAILBOX", "MAILBOXES") == "MAILBOXES"
    name = args.string()
    options = _options(args, "AUTH")
    await admin.delete_mailbox(cx.runtime, cx.actor, address, name, subtree=subtree, auth=_auth(cx, options))


@command("GETMAILBOXINFO")
async def get_mailbox_info(cx: Context, args: Parser) -> Value:
    """acct MAILBOX name [AUTH name]"""
    address = cx.address(args.string())
    args.keyword("MAILBOX")
    name = args.string()
    options = _options(args, "AUTH")
    return mailbox_info(await admin.mailbox(cx.runtime, cx.actor, address, name, auth=_auth(cx, options)))


@command("SETMAILBOXCLASS")
async def set_mailbox_class(cx: Context, args: Parser) -> None:
    """acct MAILBOX name [AUTH name] CLASS class (an empty class makes it a plain mail folder again)"""
    address = cx.address(args.string())
    args.keyword("MAILBOX")
    name = args.string()
    options = _options(args, "AUTH", "CLASS")
    if "CLASS" not in options:
        raise bad("Expected CLASS and the mailbox class")
    await admin.set_mailbox_class(cx.runtime, cx.actor, address, name, options["CLASS"] or None,
                                  auth=_auth(cx, options))


@command("GETMAILBOXSUBSCRIPTION")
async def get_mailbox_subscription(cx: Context, args: Parser) -> Value:
    """acct -> (name, ...): the subscribed names, which need not be existing mailboxes (RFC 3501 6.3.6)."""
    address = cx.address(args.string())
    args.end()
    return await admin.mailbox_subscriptions(cx.runtime, cx.actor, address)


@command("SETMAILBOXSUBSCRIPTION")
async def set_mailbox_subscription(cx: Context, args: Parser) -> None:
    """acct (name, ...): replaces the subscribed names."""
    address = cx.address(args.string())
    wanted = array(args)
    args.end()
    await admin.set_mailbox_subscriptions(cx.runtime, cx.actor, address, wanted)
