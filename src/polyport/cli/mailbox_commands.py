"""`polyport mailbox ...` (an account's mailboxes, on a data folder or a running node with --server) and
`polyport export` / `polyport import` (a whole account's mail as mbox or Maildir++, on a data folder).

The mailbox commands answer the same either way: on a data folder they call the mailstore directly, with
--server they send the CLI/API's mailbox commands (LISTMAILBOXES, CREATEMAILBOX...). Import and export
open the data folder's store like the other admin commands; beside a running node on SQLite that is safe
(WAL, busy timeout), and sessions open on the node see imported mail when they next open the mailbox.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, Protocol

import click

from polyport.cli.common import (
    config_options,
    guarded,
    load_config,
    local_or_remote,
    run_async,
    with_directory,
)
from polyport.config import Config
from polyport.directory import Directory
from polyport.mailstore import Mailstore, MailstoreError

Info = dict[str, Any]


class Mailboxes(Protocol):
    """An account's mailboxes, answered in the CLI/API's shapes (see cliapi/commands/mailboxes.py)."""

    async def listing(self, account: str, pattern: str) -> dict[str, Any]: ...

    async def create(self, account: str, name: str, mailbox_class: str | None) -> None: ...

    async def rename(self, account: str, old: str, new: str, subtree: bool) -> None: ...

    async def delete(self, account: str, name: str, subtree: bool) -> None: ...

    async def info(self, account: str, name: str) -> Info: ...

    async def subscriptions(self, account: str) -> list[str]: ...

    async def set_subscriptions(self, account: str, names: list[str]) -> None: ...


class LocalMailboxes:
    """The mailboxes of a data folder's accounts, through the mailstore."""

    def __init__(self, directory: Directory, mailstore: Mailstore) -> None:
        self.directory = directory
        self.mailstore = mailstore

    async def _account(self, address: str) -> int:
        account_id = (await self.directory.account(address)).id
        await self.mailstore.ensure_defaults(account_id)  # an account's mailboxes exist from first use
        return account_id

    async def listing(self, account: str, pattern: str) -> dict[str, Any]:
        from polyport.cliapi.commands.mailboxes import list_mailboxes

        return await list_mailboxes(self.mailstore, await self._account(account), pattern)

    async def create(self, account: str, name: str, mailbox_class: str | None) -> None:
        from polyport.cliapi.commands.mailboxes import CLASS_PATTERN

        if mailbox_class is not None and not CLASS_PATTERN.fullmatch(mailbox_class):
            raise MailstoreError(f"{mailbox_class!r} is not a mailbox class (like IPF.Note, IPF.Appointment)")
        await self.mailstore.create(await self._account(account), name, mailbox_class=mailbox_class)

    async def rename(self, account: str, old: str, new: str, subtree: bool) -> None:
        await self.mailstore.rename(await self._account(account), old, new, subtree=subtree)

    async def delete(self, account: str, name: str, subtree: bool) -> None:
        account_id = await self._account(account)
        if subtree:
            await self.mailstore.delete_tree(account_id, name)
        else:
            await self.mailstore.delete(account_id, name)

    async def info(self, account: str, name: str) -> Info:
        from polyport.cliapi.commands.mailboxes import mailbox_info

        return mailbox_info(await self.mailstore.mailbox(await self._account(account), name))

    async def subscriptions(self, account: str) -> list[str]:
        return await self.mailstore.subscriptions(await self._account(account))

    async def set_subscriptions(self, account: str, names: list[str]) -> None:
        await self.mailstore.set_subscriptions(await self._account(account), names)


class RemoteMailboxes:
    """The mailboxes of a running node's accounts, through its CLI/API."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def _command(self, line: str) -> Any:
        from polyport.cliapi.client import CliReplyError

        try:
            return await self.client.command(line)
        except CliReplyError as err:
            raise MailstoreError(f"{err.text} (CLI/API {err.code})") from None

    async def listing(self, account: str, pattern: str) -> dict[str, Any]:
        return dict(await self._command(f"LISTMAILBOXES {_q(account)} FILTER {_q(pattern)}"))

    async def create(self, account: str, name: str, mailbox_class: str | None) -> None:
        extra = f" CLASS {_q(mailbox_class)}" if mailbox_class is not None else ""
        await self._command(f"CREATEMAILBOX {_q(account)} MAILBOX {_q(name)}{extra}")

    async def rename(self, account: str, old: str, new: str, subtree: bool) -> None:
        keyword = "MAILBOXES" if subtree else "MAILBOX"
        await self._command(f"RENAMEMAILBOX {_q(account)} {keyword} {_q(old)} INTO {_q(new)}")

    async def delete(self, account: str, name: str, subtree: bool) -> None:
        keyword = "MAILBOXES" if subtree else "MAILBOX"
        await self._command(f"DELETEMAILBOX {_q(account)} {keyword} {_q(name)}")

    async def info(self, account: str, name: str) -> Info:
        return dict(await self._command(f"GETMAILBOXINFO {_q(account)} MAILBOX {_q(name)}"))

    async def subscriptions(self, account: str) -> list[str]:
        return list(await self._command(f"GETMAILBOXSUBSCRIPTION {_q(account)}"))

    async def set_subscriptions(self, account: str, names: list[str]) -> None:
        from polyport.cliapi import wire

        await self._command(f"SETMAILBOXSUBSCRIPTION {_q(account)} {wire.serialize(names)}")


def _q(text: str) -> str:
    from polyport.cliapi import wire

    return wire.quote(text)


async def with_mailstore(config: Config, work: Callable[[Directory, Mailstore], Awaitable[Any]]) -> Any:
    """Run `work` on the data folder's directory and mailstore."""
    from polyport.node import blob_path
    from polyport.store import LocalBlobStore

    async def run(directory: Directory) -> Any:
        mailstore = Mailstore(directory.store, LocalBlobStore(blob_path(config)), directory,
                              max_message_size=config.mail.max_message_size)
        return await work(directory, mailstore)

    return await with_directory(config, run)


# A mailbox command: `func(mailboxes, ...)` on a data folder, or on a running node with --server.
mailbox_admin = local_or_remote(
    lambda config, run: with_mailstore(config, lambda directory, mailstore: run(LocalMailboxes(directory,
                                                                                                mailstore))),
    lambda remote: RemoteMailboxes(remote.client))


def _plain(value: Any) -> Any:
    """A CLI/API value as JSON can hold it (times as ISO 8601)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _size(octets: int) -> str:
    if octets < 1024:
        return f"{octets}B"
    value = float(octets)
    for unit in ("K", "M", "G"):
        value /= 1024
        if value < 1024 or unit == "G":
            break
    return f"{value:.1f}{unit}"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def mailbox() -> None:
    """An account's mailboxes: list, create, rename, delete, info, subscribe, unsubscribe."""


@mailbox.command("list")
@click.argument("account")
@click.option("--filter", "pattern", default="*", show_default=True, help="IMAP wildcards: * anything, % one level.")
@click.option("--subscribed", is_flag=True, help="List the subscribed names instead.")
@json_option
@mailbox_admin
async def mailbox_list(mailboxes: Mailboxes, account: str, pattern: str, subscribed: bool, as_json: bool) -> None:
    """List ACCOUNT's mailboxes with their messages, size and unseen messages."""
    if subscribed:
        names = await mailboxes.subscriptions(account)
        click.echo(json.dumps(names, indent=2) if as_json else "\n".join(names))
        return
    listed = await mailboxes.listing(account, pattern)
    if as_json:
        click.echo(json.dumps(_plain(listed), indent=2))
        return
    rows = [("MAILBOX", "MESSAGES", "SIZE", "UNSEEN", "CLASS")]
    for name, value in listed.items():
        info = value[0] if isinstance(value, list) and value else value
        if not info:
            rows.append((name, "-", "-", "-", "(folder)"))
            continue
        rows.append((name, str(info["Messages"]), _size(int(info["Size"])), str(info["Unseen"]),
                     str(info.get("Class", ""))))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) if i in (0, 4) else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip())


@mailbox.command("create")
@click.argument("account")
@click.argument("name")
@click.option("--class", "mailbox_class", help="CommuniGate's mailbox class (IPF.Appointment, IPF.Contact...).")
@mailbox_admin
async def mailbox_create(mailboxes: Mailboxes, account: str, name: str, mailbox_class: str | None) -> None:
    """Create mailbox NAME ("/" separates levels; missing levels above are made too)."""
    await mailboxes.create(account, name, mailbox_class)
    click.echo(f"created mailbox {name} of {account}")


@mailbox.command("rename")
@click.argument("account")
@click.argument("old")
@click.argument("new")
@click.option("--only", is_flag=True, help="Rename this mailbox alone, leaving the mailboxes under it.")
@mailbox_admin
async def mailbox_rename(mailboxes: Mailboxes, account: str, old: str, new: str, only: bool) -> None:
    """Rename mailbox OLD (and the mailboxes under it) to NEW."""
    await mailboxes.rename(account, old, new, not only)
    click.echo(f"renamed {old} to {new}")


@mailbox.command("delete")
@click.argument("account")
@click.argument("name")
@click.option("--recursive", "-r", is_flag=True, help="Delete the mailboxes under it too.")
@mailbox_admin
async def mailbox_delete(mailboxes: Mailboxes, account: str, name: str, recursive: bool) -> None:
    """Delete mailbox NAME and the messages in it (INBOX cannot be deleted)."""
    await mailboxes.delete(account, name, recursive)
    click.echo(f"deleted mailbox {name}{' and the mailboxes under it' if recursive else ''}")


@mailbox.command("info")
@click.argument("account")
@click.argument("name")
@json_option
@mailbox_admin
async def mailbox_info_command(mailboxes: Mailboxes, account: str, name: str, as_json: bool) -> None:
    """Show a mailbox's counters: messages, size, unseen, UIDNEXT, UIDVALIDITY..."""
    info = _plain(await mailboxes.info(account, name))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    width = max(len(key) for key in info)
    for key, value in info.items():
        click.echo(f"{key:<{width}}  {value}")


@mailbox.command("subscribe")
@click.argument("account")
@click.argument("names", nargs=-1, required=True)
@mailbox_admin
async def mailbox_subscribe(mailboxes: Mailboxes, account: str, names: tuple[str, ...]) -> None:
    """Subscribe ACCOUNT to mailbox NAMES (they need not exist yet)."""
    current = await mailboxes.subscriptions(account)
    await mailboxes.set_subscriptions(account, [*current, *names])
    click.echo(f"subscribed to {', '.join(names)}")


@mailbox.command("unsubscribe")
@click.argument("account")
@click.argument("names", nargs=-1, required=True)
@mailbox_admin
async def mailbox_unsubscribe(mailboxes: Mailboxes, account: str, names: tuple[str, ...]) -> None:
    """Unsubscribe ACCOUNT from mailbox NAMES."""
    from polyport.mailstore import names as mailbox_names

    dropped = {mailbox_names.check(n) for n in names}
    current = await mailboxes.subscriptions(account)
    await mailboxes.set_subscriptions(account, [n for n in current if n not in dropped])
    click.echo(f"unsubscribed from {', '.join(names)}")


# -- import, export ---------------------------------------------------------------------------------------

FORMATS = click.Choice(["mbox", "maildir"])


@contextlib.contextmanager
def progress_bar(length: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """click's progress bar on a terminal (on standard error); nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=False, show_percent=True,
                           show_eta=True, width=30) as bar:
        yield bar.update


def _data_folder_only(func: Callable[..., Awaitable[Any]]) -> Callable[..., None]:
    @config_options
    @wraps(func)
    @guarded
    def command(config_file: Path | None, data_dir: Path | None, **kwargs: Any) -> None:
        config = load_config(config_file, data_dir)
        run_async(with_mailstore(config, lambda directory, mailstore: func(directory, mailstore, **kwargs)))

    return command


def _summary(verb: str, report: Any, account: str) -> None:
    click.echo(f"{verb} {report.messages} messages, {len(report.mailboxes)} mailboxes, {account}")
    for reason in report.skipped:
        click.echo(f"skipped: {reason}", err=True)


@click.command("export")
@click.argument("account")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=FORMATS, required=True,
              help="mbox: a <mailbox>.mbox file per mailbox in a folder tree; maildir: a Maildir++ tree.")
@_data_folder_only
async def export_command(directory: Directory, mailstore: Mailstore, account: str, dest: Path, fmt: str) -> None:
    """Write every mailbox of ACCOUNT into the new folder DEST."""
    from polyport.mailstore import transfer

    account_id = (await directory.account(account)).id
    total = await transfer.message_count(mailstore, account_id)
    export = transfer.export_mbox if fmt == "mbox" else transfer.export_maildir
    with progress_bar(total, f"exporting {account}") as progress:
        report = await export(mailstore, account_id, dest, progress=progress)
    _summary("exported", report, account)


@click.command("import")
@click.argument("account")
@click.argument("src", type=click.Path(path_type=Path, exists=True))
@click.option("--format", "fmt", type=FORMATS, required=True,
              help="mbox: one file, or a folder tree of them; maildir: a Maildir++ tree.")
@click.option("--mailbox", "into", help="Put it all here: INBOX becomes this mailbox, the others go under it.")
@_data_folder_only
async def import_command(directory: Directory, mailstore: Mailstore, account: str, src: Path, fmt: str,
                         into: str | None) -> None:
    """Add the mail of SRC to ACCOUNT (mailboxes are created as needed; existing ones get the messages
    added)."""
    import asyncio

    from polyport.mailstore import transfer

    account_id = (await directory.account(account)).id
    if fmt == "mbox":
        total = await asyncio.to_thread(transfer.mbox_units, src)
        load = transfer.import_mbox
    else:
        total = await asyncio.to_thread(transfer.maildir_units, src)
        load = transfer.import_maildir
    with progress_bar(total, f"importing into {account}") as progress:
        report = await load(mailstore, account_id, src, into=into, progress=progress)
    _summary("imported", report, account)


def register(cli: click.Group) -> None:
    for command in (mailbox, export_command, import_command):
        cli.add_command(command)
