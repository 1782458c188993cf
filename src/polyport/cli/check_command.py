"""`polyport check [--repair]`: the store's messages against the blob store, on a data folder
(mailstore/check.py does the checking; this module runs it and words the findings).

The node's lock decides what may happen. With the node stopped, the command takes the lock for the
whole check (a node started meanwhile refuses to start, naming this process), and --repair may move
files. With the node running, the check runs beside it read-only, says so first, and does not judge
files younger than a quarter of an hour (deliveries in progress); --repair is refused. The lock covers
one data folder: nodes of a cluster sharing a store and a blob folder must all be stopped before --repair.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from polyport.cli.common import config_options, fail, guarded, load_config, run_async, with_directory
from polyport.config import Config

if TYPE_CHECKING:
    from polyport.mailstore.check import Report
    from polyport.store import RecordStore

QUARANTINE_DIR = "quarantine"  # in the data folder: <data>/quarantine/<UTC time>/{damaged,orphans,tmp}/
LISTED = 10  # messages shown for one body (a mail to many shares one); --json lists them all

LABELS = {"missing": "MISSING", "damaged": "DAMAGED", "size-mismatch": "SIZE", "orphan": "ORPHAN",
          "temporary": "TEMP", "stray": "STRAY"}


@click.command("check")
@config_options
@click.option("--repair", is_flag=True,
              help="Move damaged blob files, orphans and leftover temporary files to <data>/quarantine/ "
                   "(never deletes). Needs the node stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@guarded
def check_command(config_file: Path | None, data_dir: Path | None, repair: bool, as_json: bool) -> None:
    """Check the store's messages against the blob store, and back.

    Every message's body must be there (in the record store, or a blob file), of the size its record gives,
    and hash to its id; every blob file must be referred to. Prints each problem (MISSING, DAMAGED, SIZE: a
    message's recorded size disagrees with its body, ORPHAN: a blob file nothing refers to, TEMP: a write a
    crash left, STRAY: not a blob) with the account, mailbox and UID of each message concerned, a summary,
    and what to do. A progress bar shows on a terminal.

    Run it with the node stopped: it holds the node's lock meanwhile. Beside a running node it only reads.
    --repair moves damaged blob files, orphans and leftovers to <data>/quarantine/<time>/, never deleting:
    those messages then read as missing (refused alone) until a good copy is put back. Nodes of a cluster
    sharing the store must all be stopped before --repair.

    Exit status: 0 when everything is in order, 1 when it found problems (also after --repair: run it
    again to see what is left), or when it could not check (then it prints one `error:` line).
    """
    from polyport import datadir

    config = load_config(config_file, data_dir)
    folder = config.data_dir
    if not folder.is_dir():
        fail(f"{folder} does not exist: give the data folder with --data (or --config)")
    lock = datadir.NodeLock(folder)
    try:
        lock.acquire()
        live = False
    except OSError as err:
        fail(f"cannot open {lock.path}: {err.strerror}; run `polyport check` as the node's user")
    except datadir.DataDirError:
        live = True
        status = datadir.read_status(folder)
        node = f"a node is running on {folder}" + (f" (pid {status.pid})" if status is not None else "")
        if repair:
            fail(f"{node}: stop it before --repair, which moves files the node reads and writes "
                 f"(without --repair, `polyport check` runs beside it, read-only)")
        click.echo(f"note: {node}; checking beside it, read-only. Mail delivered, expunged or sent during "
                   f"the check may show up as a problem: one a second run reports again is real.", err=True)
    quarantine = folder / QUARANTINE_DIR / time.strftime("%Y%m%d-%H%M%S", time.gmtime()) if repair else None
    try:
        report = run_async(with_directory(config, lambda directory: _run(config, directory.store, quarantine,
                                                                         live)))
    finally:
        lock.release()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _show(report, config)
    if not report.clean:
        raise SystemExit(1)


async def _run(config: Config, records: RecordStore, quarantine: Path | None, live: bool) -> Report:
    from polyport.cli.mailbox_commands import progress_bar
    from polyport.mailstore import check
    from polyport.node import blob_path
    from polyport.store import LocalBlobStore

    blobs = LocalBlobStore(blob_path(config))
    _, size = await check.totals(records)
    with progress_bar(size, "checking") as progress:
        return await check.check(records, blobs, quarantine=quarantine, live=live, progress=progress)


def _show(report: Report, config: Config) -> None:
    from polyport.node import blob_path

    aside = _quarantined(config.data_dir / QUARANTINE_DIR) if report.counts().get("missing") else {}
    for problem in report.problems:
        what = f"blob {problem.blob}" if problem.blob is not None else str(problem.path)
        where = " (record store)" if problem.kind == "damaged" and problem.path is None else ""
        click.echo(f"{LABELS[problem.kind]:<8} {what}{where}: {problem.detail}")
        for place in problem.messages[:LISTED]:
            click.echo(f"{'':<8} {place.account} {place.mailbox} UID {place.uid}")
        if len(problem.messages) > LISTED:
            click.echo(f"{'':<8} and {len(problem.messages) - LISTED} more messages (--json lists them all)")
        for ident in problem.queued:
            click.echo(f"{'':<8} queued message {ident}")
        if problem.moved_to is not None:
            click.echo(f"{'':<8} moved to {problem.moved_to}")
        elif problem.kind == "missing" and problem.blob in aside:
            click.echo(f"{'':<8} (moved aside by an earlier repair: {aside[problem.blob]})")
    if report.problems:
        click.echo()
    click.echo(f"checked {_count(report.bodies, 'message body', 'message bodies')} ({_size(report.size)}), "
               f"{_count(report.queued, 'queued message')}, {_count(report.files, 'blob file')} in "
               f"{report.seconds:.1f} s")
    counts = report.counts()
    if not counts:
        click.echo("no problems found")
        return
    click.echo("found: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    if report.quarantine is not None:
        click.echo(f"moved aside to {report.quarantine} (nothing was deleted)")
    click.echo()
    for line in _advice(report, blob_path(config)):
        click.echo(line)


def _advice(report: Report, blobs: Path) -> list[str]:
    """What the admin can do next, for each kind found."""
    counts = report.counts()
    moved = {p.kind for p in report.problems if p.moved_to is not None}
    left = {p.kind for p in report.problems if p.moved_to is None}
    advice = ["What to do:"]
    if "damaged" in left and any(p.path is not None for p in report.problems if p.kind == "damaged"):
        advice.append("- Damaged blob files: stop the node and run `polyport check --repair`: it moves them to "
                      "<data>/quarantine/, and their messages then fail as missing (each refused alone: "
                      "POP3 -ERR, IMAP NO) instead of as damaged.")
    if "damaged" in moved or "missing" in counts:
        which = "Messages whose damaged file was moved aside" if "missing" not in counts else (
            "Missing messages (and those whose damaged file was moved aside)" if "damaged" in moved
            else "Missing messages")
        advice.append(f"- {which}: put a good copy of each blob back from a backup, as {blobs}/ab/cd/<id> "
                      f"(ab and cd: the id's first four characters; `sha256sum FILE` must print the id), then "
                      f"run `polyport check` again. With no good copy, delete those messages (from a mail "
                      f"client: mark them deleted, expunge).")
    if any(p.kind == "damaged" and p.path is None for p in report.problems):
        advice.append("- Damaged bodies in the record store (messages up to 64 KiB) cannot be moved aside: "
                      "restore the record store from a backup, or delete those messages.")
    if "size-mismatch" in counts:
        advice.append("- Messages whose recorded size disagrees with their body: clients are told the wrong "
                      "size; copy each to another mailbox (a mail client) and delete the original.")
    if "orphan" in left or "temporary" in left:
        advice.append("- Orphans and leftover temporary files only take space: `polyport check --repair` "
                      "(node stopped) moves them to <data>/quarantine/.")
    if "orphan" in moved or "temporary" in moved:
        advice.append("- Orphans are whole messages nothing refers to; look at a few, then delete the "
                      "quarantine folder when you no longer want them.")
    if "stray" in counts:
        advice.append(f"- Stray files are not Polyport's: move them out of {blobs} (nothing changes them).")
    return advice


def _quarantined(folder: Path) -> dict[str, Path]:
    """The blob files earlier repairs moved aside, by blob id (the latest of each)."""
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*/damaged/*")):
            found[path.name.partition(".")[0]] = path
    return found


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _size(octets: int) -> str:
    value, unit = float(octets), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{octets} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def register(cli: click.Group) -> None:
    cli.add_command(check_command)
