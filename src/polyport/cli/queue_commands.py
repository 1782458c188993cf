"""`polyport queue ...`: the outbound queue, on a data folder or on a running node (--server)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import click

from polyport.cli.common import fail, local_or_remote, remote_call, with_directory
from polyport.config import Config

if TYPE_CHECKING:
    from polyport.runtime import Runtime


async def _local(config: Config, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """`work(call)` where call(verb, *args) runs one of the CLI/API's queue commands on the data folder."""
    from polyport.admin import SERVER
    from polyport.cliapi.codes import from_error
    from polyport.cliapi.commands import COMMANDS, Context
    from polyport.cliapi.wire import Parser, serialize
    from polyport.delivery import Delivery
    from polyport.directory import Directory
    from polyport.mailstore import Mailstore
    from polyport.node import blob_path
    from polyport.queue import Queue
    from polyport.store import LocalBlobStore

    async def run(directory: Directory) -> Any:
        blobs = LocalBlobStore(blob_path(config))
        hostname = config.mail.hostname or "localhost"
        queue = Queue(directory.store, blobs, None, hostname,
                      notices_to_unverified=config.queue.notices_to_unverified)
        mailstore = Mailstore(directory.store, blobs, directory, max_message_size=config.mail.max_message_size)
        delivery = Delivery(directory, mailstore, hostname, queue)
        queue.notify = delivery.notice
        # The queue commands use the runtime's queue only; root on the data folder acts as the server.
        runtime = cast(Runtime, type("QueueRuntime", (), {"queue": queue})())
        context = Context(runtime, None, acting=SERVER)

        async def call(verb: str, *args: Any) -> Any:
            line = " ".join(serialize(a) for a in args)
            try:
                return await COMMANDS[verb].handler(context, Parser(line))
            except Exception as err:
                refusal = from_error(err)
                if refusal is None:
                    raise
                fail(refusal.text)

        return await work(call)

    return await with_directory(config, run)


# A queue command: `func(call, ...)`, call(verb, *args) running the CLI/API's queue commands on the data
# folder, or on a running node with --server.
queue_admin = local_or_remote(_local, remote_call)


def _when(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "-")


@click.group()
def queue() -> None:
    """The outbound queue: mail waiting to be sent to other domains."""


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message.")
@click.option("--limit", default=1000, show_default=True)
@queue_admin
async def list_command(call: Any, as_json: bool, limit: int) -> None:
    """Messages waiting, oldest first."""
    entries = await call("LISTQUEUEMESSAGES", str(limit))
    if as_json:
        for entry in entries:
            click.echo(json.dumps({k: _when(v) if isinstance(v, datetime.datetime) else v for k, v in entry.items()}))
        return
    if not entries:
        click.echo("the queue is empty")
        return
    click.echo(f"{'ID':<13} {'next attempt':<19} {'tries':>5} {'size':>8}  from -> recipients / last error")
    for e in entries:
        click.echo(f"{e['ID']:<13} {_when(e['NextAttempt']):<19} {e['Attempts']:>5} {e['Size']:>8}  "
                   f"<{e['From']}> -> {e['Recipients']} recipient(s)")
        if e["LastError"]:
            click.echo(f"{'':<13} {e['LastError'][:200]}")


@queue.command("show")
@click.argument("ident")
@queue_admin
async def show_command(call: Any, ident: str) -> None:
    """One message and each recipient's state."""
    m = await call("GETQUEUEMESSAGE", ident)
    click.echo(f"ID: {m['ID']}\nFrom: <{m['From']}>\nSize: {m['Size']}\nCreated: {_when(m['Created'])}\n"
               f"Origin: {m['Origin']}")
    for r in m["Recipients"]:
        click.echo(f"  {r['Address']}: {r['Status']}, {r['Attempts']} attempt(s), next {_when(r['NextAttempt'])}"
                   + (f"\n    {r['LastError']}" if r["LastError"] else ""))


@queue.command("retry")
@click.argument("ident", required=False)
@click.option("--domain", help="Every message waiting for this domain.")
@queue_admin
async def retry_command(call: Any, ident: str | None, domain: str | None) -> None:
    """Try a message (or a domain's, or with neither every message) now."""
    if ident and domain:
        fail("give a message id or --domain, not both")
    if ident:
        m = await call("GETQUEUEMESSAGE", ident)
        for r in {r["Address"].rpartition("@")[2] for r in m["Recipients"]}:
            await call("RELEASESMTPQUEUE", r)
    else:
        await call("RELEASESMTPQUEUE", domain or "*")
    click.echo("done: the node tries them now (at most a minute later when it was not told through --server)")


@queue.command("delete")
@click.argument("ident")
@click.option("--bounce", is_flag=True, help="Tell the sender (a failure notice), instead of deleting quietly.")
@click.option("--reason", default="deleted from the queue by the administrator", show_default=True)
@queue_admin
async def delete_command(call: Any, ident: str, bounce: bool, reason: str) -> None:
    """Take a message out of the queue."""
    if bounce:
        await call("REJECTQUEUEMESSAGE", ident, "REPORT", reason)
    else:
        await call("REJECTQUEUEMESSAGE", ident, "NONDN")
    click.echo(f"deleted {ident}" + (" and told its sender" if bounce else ""))


def register(cli: click.Group) -> None:
    cli.add_command(queue)
