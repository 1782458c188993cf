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

from polyport.cliapi.codes import CliError, Code, bad
from polyport.cliapi.commands import Context, command, dictionary
from polyport.cliapi.wire import Parser, Value
from polyport.mailstore import acl
from polyport.mailstore import names as mailbox_names


async def _account(cx: Context, name: str) -> tuple[int, str, str]:
    """(id, name, domain) of the account `name` (an alias names its account)."""
    address = cx.address(name)
    record = await cx.directory.login_record(address)
    if record is None:
        raise CliError(Code.UNKNOWN_ACCOUNT, f"Unknown account {address}")
    account_name, _, domain = record.address.partition("@")
    return record.account_id, account_name, domain


async def _acting(cx: Context, owner: str, mailbox: str, auth: str | None) -> tuple[int, str, bool]:
    """(the account acting, its name for the mailbox, whether it is of the owner's domain), once the caller
    may act on the owner's account: the owner itself without AUTH, else the AUTH account, reaching the
    mailbox as "~owner/name" (only accounts of the owner's domain reach it at all)."""
    await cx.require_object(cx.address(owner), own=True)
    owner_id, owner_name, owner_domain = await _account(cx, owner)
    if auth is None:
        return owner_id, mailbox, True
    auth_id, _, auth_domain = await _account(cx, auth)
    if auth_id == owner_id:
        return owner_id, mailbox, True
    return auth_id, mailbox_names.foreign(owner_name, mailbox), auth_domain == owner_domain


def _target(args: Parser) -> tuple[str, str, str | None]:
    """acct MAILBOX name [AUTH authAcct]"""
    owner = args.string()
    args.keyword("MAILBOX")
    mailbox = args.string()
    auth = args.string() if args.maybe_keyword("AUTH") else None
    return owner, mailbox, auth


@command("GETMAILBOXACL")
async def get_mailbox_acl(cx: Context, args: Parser) -> Value:
    owner, mailbox, auth = _target(args)
    args.end()
    account_id, name, _ = await _acting(cx, owner, mailbox, auth)
    found = await cx.runtime.mailstore.acl(account_id, name)
    return {identifier: acl.shown(rights) for identifier, rights in found.entries}


@command("SETMAILBOXACL")
async def set_mailbox_acl(cx: Context, args: Parser) -> None:
    owner, mailbox, auth = _target(args)
    entries = dictionary(args)
    args.end()
    changes = []
    for identifier, rights in entries.items():
        if not isinstance(rights, str):
            raise bad(f"The rights of {identifier} must be a string of rights letters")
        changes.append((identifier, *acl.split_mode(rights)))  # every entry checked before anything changes
    account_id, name, _ = await _acting(cx, owner, mailbox, auth)
    await cx.runtime.mailstore.change_acl(account_id, name, changes)


@command("GETMAILBOXRIGHTS")
async def get_mailbox_rights(cx: Context, args: Parser) -> Value:
    owner, mailbox, auth = _target(args)
    args.end()
    if auth is None:
        raise bad("Expected AUTH and the account whose rights are asked for")
    account_id, name, same_domain = await _acting(cx, owner, mailbox, auth)
    if not same_domain:
        # Accounts of another domain reach no mailbox here; that the mailbox exists is still checked.
        owner_id, _, _ = await _account(cx, owner)
        await cx.runtime.mailstore.mailbox(owner_id, mailbox)
        return ""
    return acl.shown(await cx.runtime.mailstore.rights(account_id, name))
