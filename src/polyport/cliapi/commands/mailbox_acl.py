"""Mailbox access control lists: GETMAILBOXACL, SETMAILBOXACL, GETMAILBOXRIGHTS (CommuniGate's CLI).

    GETMAILBOXACL acct MAILBOX name [AUTH authAcct]            -> {identifier = rights; ...}
    SETMAILBOXACL acct MAILBOX name [AUTH authAcct] {identifier = rights; ...}
    GETMAILBOXRIGHTS acct MAILBOX name AUTH authAcct            -> "rights"

Who may: the server administrator on any account, a domain administrator on the accounts of its domain
(never on one holding rights it lacks), an account on its own; every refusal is 510. Without AUTH the
command acts as the mailbox's owner, who has every right. With AUTH it acts as that account, through the
ACL: it needs the "a" right to read or change the ACL (else 510), and sees no mailbox it holds no right
on. GETMAILBOXRIGHTS tells an administrator what an account may do there (empty: nothing).

In SETMAILBOXACL a rights string starting with "+" adds to the entry, "-" removes from it, anything else
replaces it; an entry left without rights is removed; all the changes are made, or none. Identifiers and
rights are the mailstore's (mailstore/acl.py): `anyone`, account names of the owner's domain, either
with "-" in front for negative rights; RFC 4314's letters lrswipkxtea, with CommuniGate's older "c" (kx)
and "d" (te). Answers list the ACL's entries only (not the owner), rights with "c" and "d" included.
"""

from __future__ import annotations

from polyport import admin
from polyport.cliapi.codes import bad
from polyport.cliapi.commands import Context, command, dictionary
from polyport.cliapi.wire import Parser, Value
from polyport.mailstore import acl


def _target(cx: Context, args: Parser) -> tuple[str, str, str | None]:
    """acct MAILBOX name [AUTH authAcct]"""
    owner = cx.address(args.string())
    args.keyword("MAILBOX")
    mailbox = args.string()
    auth = cx.address(args.string()) if args.maybe_keyword("AUTH") else None
    return owner, mailbox, auth


@command("GETMAILBOXACL")
async def get_mailbox_acl(cx: Context, args: Parser) -> Value:
    owner, mailbox, auth = _target(cx, args)
    args.end()
    entries = await admin.mailbox_acl(cx.runtime, cx.actor, owner, mailbox, auth=auth)
    return {identifier: acl.shown(rights) for identifier, rights in entries}


@command("SETMAILBOXACL")
async def set_mailbox_acl(cx: Context, args: Parser) -> None:
    owner, mailbox, auth = _target(cx, args)
    entries = dictionary(args)
    args.end()
    changes: dict[str, str] = {}
    for identifier, rights in entries.items():
        if not isinstance(rights, str):
            raise bad(f"The rights of {identifier} must be a string of rights letters")
        changes[identifier] = rights
    await admin.set_mailbox_acl(cx.runtime, cx.actor, owner, mailbox, changes, auth=auth)


@command("GETMAILBOXRIGHTS")
async def get_mailbox_rights(cx: Context, args: Parser) -> Value:
    owner, mailbox, auth = _target(cx, args)
    args.end()
    if auth is None:
        raise bad("Expected AUTH and the account whose rights are asked for")
    return acl.shown(await admin.mailbox_rights(cx.runtime, cx.actor, owner, mailbox, auth))
