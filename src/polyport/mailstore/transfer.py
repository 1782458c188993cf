"""Moving a whole account's mail in and out: mbox and Maildir++.

**mbox** (one file per mailbox, `<name>.mbox`, in a folder tree: `Archive/2026.mbox` is "Archive/2026").
Written as mboxrd: a `From ` line (the sender, and the internal date in asctime form, UTC), the message
with LF line ends and every line matching `>*From ` quoted with one more `>`, then an empty line. Read
tolerantly: mboxrd and mboxo alike (one `>` taken off `>+From ` lines, which is what both mean by it),
LF or CRLF files, and a `From ` line starts a message only at the top of the file or after an empty line,
and only if it carries a date, so a body line "From here on..." never splits a message. The From line's
date becomes the internal date (read as UTC; without one, the Date header; without that, now). Flags go
in the `Status:` (R: \\Seen) and `X-Status:` (A: \\Answered, F: \\Flagged, T: \\Draft, D: \\Deleted)
headers, keywords in `X-Keywords:`, as mutt and Dovecot write them; reading also understands
Thunderbird's `X-Mozilla-Status`. These bookkeeping headers (and Dovecot's `X-UID`, `X-IMAP`,
`X-IMAPbase`) are taken out of the message on import, as mail servers reading mbox do, and written at the
end of the header on export: a message keeps its bytes through a round trip, except that mbox cannot
represent a message whose last line has no line end (it gets one).

**Maildir++** (the root is INBOX, `.Archive.2026/` is "Archive/2026", names in IMAP's modified UTF-7
with a "." inside a name written `&AC4-`): one file per message, flags in the `:2,` suffix (D \\Draft,
F \\Flagged, P $Forwarded, R \\Answered, S \\Seen, T \\Deleted, a-z the keywords of the folder's
`dovecot-keywords`), the internal date as the file's modification time. Export also writes
`dovecot-uidlist`, which keeps the order and lets Dovecot take the folder over with the same UIDs;
import follows it when present, else the files' names (delivery time first).

**Line ends.** The mailstore keeps a message as given, and IMAP wants CRLF: import turns bare LF into
CRLF, export turns CRLF back into LF (the line end both formats use on Unix).

**Cost.** Import streams: it reads one message at a time and stores them in batches of a few hundred per
transaction (`Mailstore.append_many`), reading the next batch while one is stored; memory stays bounded
by the batch, whatever the file's size. Export reads a page of messages at a time. Neither fsyncs what it
writes outside the store: an export is a copy, made again if the machine crashed meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import contextlib
import email.utils
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from polyport.mailstore import flags as fl
from polyport.mailstore import names
from polyport.mailstore.errors import MailboxExists, MailstoreError
from polyport.mailstore.service import Mailstore, MessageFull

# Messages per transaction. Throughput was about the same from 50 to 1,000 (bench/import_mbox.py: the
# import is CPU-bound, about 1 ms a message); bigger batches only hold more memory.
BATCH_MESSAGES = 300
BATCH_BYTES = 32 * 1024 * 1024
EXPORT_PAGE = 500  # UIDs read per query on export
MBOX_SUFFIX = ".mbox"

Progress = Callable[[int], None]


class TransferError(MailstoreError):
    """The source cannot be read as the format says, or the import had to stop; says why."""


# -- line ends, headers --------------------------------------------------------------------------------------

def to_crlf(data: bytes) -> bytes:
    """Bare LF to CRLF; CRLF stays; a lone CR is left alone."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


# Headers that are the mailbox file's bookkeeping rather than the message's.
_BOOKKEEPING = (b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase", b"x-mozilla-status",
                b"x-mozilla-status2")
_HEADER_NAME = re.compile(rb"([!-9;-~]+)[ \t]*:")
_X_MOZILLA = {0x0001: "\\Seen", 0x0002: "\\Answered", 0x0004: "\\Flagged", 0x0008: "\\Deleted",
              0x1000: "$Forwarded"}
_STATUS = {ord("R"): "\\Seen"}
_X_STATUS = {ord("A"): "\\Answered", ord("F"): "\\Flagged", ord("T"): "\\Draft", ord("D"): "\\Deleted"}


def _is_blank(line: bytes) -> bool:
    return line in (b"\n", b"\r\n")


def take_bookkeeping(header: list[bytes]) -> tuple[list[bytes], list[str]]:
    """A header's lines without the bookkeeping fields, and the flags those fields held."""
    kept: list[bytes] = []
    flag_names: list[str] = []
    dropping = False
    for line in header:
        if line[:1] in (b" ", b"\t"):  # a continuation belongs to the field above
            if dropping:
                flag_names.extend(_keywords(line))
            else:
                kept.append(line)
            continue
        match = _HEADER_NAME.match(line)
        name = match.group(1).lower() if match else b""
        dropping = name in _BOOKKEEPING
        if not dropping:
            kept.append(line)
            continue
        value = line[match.end():].strip() if match else b""
        if name == b"status":
            flag_names.extend(_STATUS[c] for c in value if c in _STATUS)
        elif name == b"x-status":
            flag_names.extend(_X_STATUS[c] for c in value if c in _X_STATUS)
        elif name == b"x-keywords":
            flag_names.extend(_keywords(value))
        elif name == b"x-mozilla-status":
            try:
                bits = int(value, 16)
            except ValueError:
                bits = 0
            flag_names.extend(n for bit, n in _X_MOZILLA.items() if bits & bit)
    return kept, flag_names


def _keywords(value: bytes) -> list[str]:
    return [w for w in value.decode("utf-8", "replace").replace(",", " ").split() if w]


def clean_flags(flag_names: Iterable[str]) -> list[str]:
    """The flags the mailstore accepts, each once: a foreign file's odd keyword is dropped, not fatal."""
    kept: list[str] = []
    seen: set[str] = set()
    for name in flag_names:
        if name.lower() in seen:
            continue
        try:
            fl.split([name])
        except fl.FlagError:
            continue
        seen.add(name.lower())
        kept.append(name)
    return kept[:fl.MAX_KEYWORDS]


def bookkeeping_header(flag_names: Iterable[str]) -> bytes:
    """Status, X-Status and X-Keywords for a message's flags (LF line ends)."""
    flags = set(flag_names)
    status = "RO" if "\\Seen" in flags else "O"
    x_status = "".join(letter for letter, name in (("A", "\\Answered"), ("F", "\\Flagged"), ("T", "\\Draft"),
                                                   ("D", "\\Deleted")) if name in flags)
    keywords = [name for name in flag_names if not name.startswith("\\")]
    out = f"Status: {status}\n"
    if x_status:
        out += f"X-Status: {x_status}\n"
    if keywords:
        out += f"X-Keywords: {' '.join(keywords)}\n"
    return out.encode()


def _lines(data: bytes) -> list[bytes]:
    """Lines split at LF only, each keeping its line end (a lone CR stays inside its line)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _split_header(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(header lines, the rest from the empty line on)."""
    for index, line in enumerate(lines):
        if _is_blank(line):
            return lines[:index], lines[index:]
    return lines, []


# -- reading mbox ---------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), 1)}
_FROM_DATE = re.compile(
    rb"(?:mon|tue|wed|thu|fri|sat|sun),? +(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) +(\d{1,2}) +"
    rb"(\d{1,2}):(\d\d)(?::(\d\d))?(?: +([a-z]{1,5}|[+-]\d{4}))? +(\d{4})(?: +([+-]\d{4}))?", re.IGNORECASE)
_QUOTED_FROM = re.compile(rb">+From ")
_DATE_HEADER = re.compile(rb"date[ \t]*:(.*)", re.IGNORECASE | re.DOTALL)


def from_line_date(line: bytes) -> int | None:
    """The Unix time of a From_ line's asctime date (`From a@b Thu Jan  1 00:00:00 2026`), or None."""
    match = _FROM_DATE.search(line, 5)
    if match is None:
        return None
    month, day, hour, minute, second, zone, year, zone_after = match.groups()
    try:
        moment = calendar.timegm((int(year), _MONTHS[month.lower().decode()], int(day), int(hour), int(minute),
                                  int(second or 0), 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    offset = zone_after or (zone if zone and zone[:1] in b"+-" else None)
    if offset:
        sign = -1 if offset[:1] == b"-" else 1
        moment -= sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    return moment


def _header_date(header: list[bytes]) -> int | None:
    for index, line in enumerate(header):
        match = _DATE_HEADER.match(line)
        if match:
            value = match.group(1)
            for more in header[index + 1:]:
                if more[:1] not in (b" ", b"\t"):
                    break
                value += more
            try:
                parsed = email.utils.parsedate_to_datetime(value.decode("ascii", "replace").strip())
            except (TypeError, ValueError, IndexError):
                return None
            return int(parsed.timestamp()) if parsed.tzinfo else calendar.timegm(parsed.timetuple())
    return None


@dataclass(slots=True)
class Incoming:
    """One message read from a file, ready for the mailstore."""

    mailbox: str  # relative to where the import goes ("INBOX" is the import's own mailbox)
    data: bytes  # CRLF
    flags: list[str]
    internal_date: int | None
    units: int  # progress units (bytes of an mbox, 1 a Maildir file) this message accounts for


@dataclass(slots=True)
class Skipped:
    mailbox: str
    reason: str
    units: int


def _finish(mailbox: str, lines: list[bytes], from_date: int | None, units: int,
            max_size: int) -> Incoming | Skipped:
    header, rest = _split_header(lines)
    header, flag_names = take_bookkeeping(header)
    data = to_crlf(b"".join(header) + b"".join(rest))
    if len(data) > max_size:
        return Skipped(mailbox, f"a message of {len(data)} bytes is over the {max_size}-byte limit", units)
    date = from_date if from_date is not None else _header_date(header)
    return Incoming(mailbox, data, clean_flags(flag_names), date, units)


def read_mbox(source: BinaryIO, mailbox: str, max_size: int) -> Iterator[Incoming | Skipped]:
    """The messages of one mbox file, one at a time (memory: one message, up to `max_size`)."""
    cap = max_size + 2  # a file without line ends is read in pieces of this size, never whole
    first = source.readline(cap)
    if not first:
        return
    if not first.startswith(b"From "):
        raise TransferError(f"{getattr(source, 'name', 'the file')} is not an mbox file: it does not start "
                            f"with a 'From ' line")
    lines: list[bytes] = []
    size = 0
    oversize = False
    units = len(first)
    date = from_line_date(first)
    previous_blank = False
    for line in iter(lambda: source.readline(cap), b""):
        if previous_blank and line.startswith(b"From ") and _FROM_DATE.search(line, 5):
            if lines:
                lines.pop()  # the empty line before a From line separates; it is not the message's
            yield (Skipped(mailbox, f"a message over the {max_size}-byte limit", units) if oversize
                   else _finish(mailbox, lines, date, units, max_size))
            lines, size, oversize, units, date = [], 0, False, len(line), from_line_date(line)
            previous_blank = False
            continue
        units += len(line)
        previous_blank = _is_blank(line)
        if oversize:
            continue
        if line[:1] == b">" and _QUOTED_FROM.match(line):
            line = line[1:]
        size += len(line) + 1
        if size > max_size:
            oversize, lines = True, []
            continue
        lines.append(line)
    if lines and _is_blank(lines[-1]):
        lines.pop()
    yield (Skipped(mailbox, f"a message over the {max_size}-byte limit", units) if oversize
           else _finish(mailbox, lines, date, units, max_size))


def _safe_level(level: str) -> str:
    """A mailbox name's level as a file name: "." ".." and hidden names get their leading dot escaped
    ("%" cannot be in a mailbox name, so "%2E" reads back unambiguously)."""
    return "%2E" + level[1:] if level.startswith(".") else level


def _level_from_file(part: str) -> str:
    return "." + part[3:] if part.startswith("%2E") else part


def mbox_files(root: Path) -> list[tuple[str, Path]]:
    """(mailbox name, file) for every mbox under `root`, or `root` itself as INBOX when it is a file:
    files named *.mbox, and other files that start with a From line; hidden files are skipped."""
    if root.is_file():
        return [(names.INBOX, root)]
    if not root.is_dir():
        raise TransferError(f"{root} is neither an mbox file nor a folder of them")
    found: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.name.endswith(MBOX_SUFFIX):
            relative = relative.with_name(path.name[:-len(MBOX_SUFFIX)])
        else:
            with open(path, "rb") as probe:
                if probe.read(5) != b"From ":
                    continue
        name = "/".join(_level_from_file(part) for part in relative.parts)
        if name:
            found.append((_checked(name, path), path))
    return found


def _checked(name: str, path: Path) -> str:
    try:
        return names.check(name)
    except MailstoreError as err:
        raise TransferError(f"{path} cannot become a mailbox: {err}") from None


def read_mbox_tree(files: list[tuple[str, Path]], max_size: int) -> Iterator[Incoming | Skipped]:
    for mailbox, path in files:
        with open(path, "rb") as source:
            yield from read_mbox(source, mailbox, max_size)


# -- reading Maildir ----------------------------------------------------------------------------------------

_MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded", "R": "\\Answered", "S": "\\Seen",
                  "T": "\\Deleted"}
_MAILDIR_LETTERS = {name.lower(): letter for letter, name in _MAILDIR_FLAGS.items()}
_INFO = re.compile(r"[:!;]2,([A-Za-z]*)$")
_LEADING_NUMBER = re.compile(r"\d+")


def utf7_encode(level: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501 5.1.3), as Maildir++ folder names use, with "." also encoded (it
    separates levels there)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            out.append("&" + raw.decode("ascii") + "-")
            pending.clear()

    for ch in level:
        if "\x20" <= ch <= "\x7e" and ch != ".":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def utf7_decode(text: str) -> str:
    """Modified UTF-7, read leniently (other tools' spellings are accepted); undecodable runs stay as
    they are."""
    def decode(match: re.Match[str]) -> str:
        run = match.group(1)
        if not run:
            return "&"
        try:
            raw = base64.b64decode(run.replace(",", "/") + "=" * (-len(run) % 4))
            return raw.decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, text)


def maildir_folder_name(mailbox: str) -> str:
    """The Maildir++ folder of a mailbox, relative to the root ("" for INBOX)."""
    if mailbox == names.INBOX:
        return ""
    return "." + ".".join(utf7_encode(level) for level in mailbox.split(names.SEPARATOR))


def maildir_folders(root: Path) -> list[tuple[str, Path]]:
    """(mailbox name, folder) of a Maildir++ tree: the root (INBOX) and its `.Sub.Folder` folders."""
    if not root.is_dir():
        raise TransferError(f"{root} is not a Maildir folder")
    found: list[tuple[str, Path]] = []
    if (root / "cur").is_dir() or (root / "new").is_dir():
        found.append((names.INBOX, root))
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") and ((path / "cur").is_dir() or (path / "new").is_dir()):
            levels = [utf7_decode(level) for level in path.name[1:].split(".")]
            found.append((_checked(names.SEPARATOR.join(levels), path), path))
    if not found:
        raise TransferError(f"{root} holds no Maildir (no cur/ or new/ folder, no .Folder/ with one)")
    return found


def _uid_order(folder: Path) -> dict[str, int]:
    """The UIDs of dovecot-uidlist by file base name (the name before its ":2," info)."""
    order: dict[str, int] = {}
    try:
        with open(folder / "dovecot-uidlist", encoding="utf-8", errors="replace") as listing:
            next(listing, None)  # the header: version, UIDVALIDITY, next UID
            for line in listing:
                head, sep, base = line.rstrip("\n").partition(":")
                uid = head.split(" ", 1)[0]
                if sep and uid.isdigit():
                    order[base] = int(uid)
    except OSError:
        pass
    return order


def _folder_keywords(folder: Path) -> dict[int, str]:
    keywords: dict[int, str] = {}
    try:
        with open(folder / "dovecot-keywords", encoding="utf-8", errors="replace") as listing:
            for line in listing:
                index, _, name = line.strip().partition(" ")
                if index.isdigit() and name:
                    keywords[int(index)] = name
    except OSError:
        pass
    return keywords


def maildir_messages(folder: Path) -> list[Path]:
    """A folder's message files in order: dovecot-uidlist's where present, then by delivery time and name."""
    files = [p for sub in ("cur", "new") if (folder / sub).is_dir()
             for p in (folder / sub).iterdir() if not p.name.startswith(".") and p.is_file()]
    order = _uid_order(folder)

    def key(path: Path) -> tuple[int, int, str]:
        base = _INFO.sub("", path.name)
        uid = order.get(base)
        if uid is not None:
            return (0, uid, "")
        number = _LEADING_NUMBER.match(path.name)
        return (1, int(number.group()) if number else 0, path.name)

    return sorted(files, key=key)


def read_maildir(folders: list[tuple[str, Path]], max_size: int) -> Iterator[Incoming | Skipped]:
    for mailbox, folder in folders:
        keywords = _folder_keywords(folder)
        for path in maildir_messages(folder):
            stat = path.stat()
            if stat.st_size > max_size:
                yield Skipped(mailbox, f"{path.name}: over the {max_size}-byte limit", 1)
                continue
            data = to_crlf(path.read_bytes())
            if len(data) > max_size:
                yield Skipped(mailbox, f"{path.name}: over the {max_size}-byte limit", 1)
                continue
            flag_names: list[str] = []
            info = _INFO.search(path.name)
            for letter in info.group(1) if info else "":
                if letter in _MAILDIR_FLAGS:
                    flag_names.append(_MAILDIR_FLAGS[letter])
                elif letter.islower() and (ord(letter) - ord("a")) in keywords:
                    flag_names.append(keywords[ord(letter) - ord("a")])
            yield Incoming(mailbox, data, clean_flags(flag_names), int(stat.st_mtime), 1)


# -- importing --------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Report:
    messages: int = 0
    mailboxes: dict[str, int] = field(default_factory=dict)  # messages per mailbox, in the order met
    skipped: list[str] = field(default_factory=list)


def target_name(relative: str, into: str | None) -> str:
    """Where a mailbox read from a file goes: with `into`, INBOX becomes `into` and the others go under it."""
    if into is None:
        return relative
    into = names.check(into)
    return into if relative == names.INBOX else f"{into}{names.SEPARATOR}{relative}"


def _take(source: Iterator[Incoming | Skipped], report: Report, into: str | None,
          held: list[Incoming | Skipped]) -> tuple[str | None, list[Incoming], int]:
    """The next batch for one mailbox: up to BATCH_MESSAGES (or BATCH_BYTES) messages; skipped ones are
    noted. `held` carries a message of the next mailbox over to the next call."""
    batch: list[Incoming] = []
    mailbox: str | None = None
    size = units = 0
    while len(batch) < BATCH_MESSAGES and size < BATCH_BYTES:
        item = held.pop() if held else next(source, None)
        if item is None:
            break
        name = target_name(item.mailbox, into)
        if isinstance(item, Skipped):
            report.skipped.append(f"{name}: {item.reason}")
            units += item.units
            continue
        if mailbox is not None and name != mailbox:
            held.append(item)
            break
        mailbox = name
        batch.append(item)
        size += len(item.data)
        units += item.units
    return mailbox, batch, units


async def _make(mailstore: Mailstore, account_id: int, name: str) -> None:
    with contextlib.suppress(MailboxExists):
        await mailstore.create(account_id, name)


async def import_messages(mailstore: Mailstore, account_id: int, source: Iterator[Incoming | Skipped], *,
                          into: str | None = None, progress: Progress | None = None,
                          mailboxes: Iterable[str] = ()) -> Report:
    """Store what `source` yields, mailbox by mailbox, creating mailboxes as they are met (and those of
    `mailboxes`, relative names, even when empty). The reading (blocking file I/O) runs in a worker thread
    while the previous batch is being stored."""
    report = Report()
    await mailstore.ensure_defaults(account_id)
    existing = {box.name for box in await mailstore.mailboxes(account_id)}
    held: list[Incoming | Skipped] = []
    storing: asyncio.Task[None] | None = None

    async def store(mailbox: str, batch: list[Incoming], units: int) -> None:
        if mailbox not in existing:
            await _make(mailstore, account_id, mailbox)
            existing.add(mailbox)
        try:
            await mailstore.append_many(account_id, mailbox, [(m.data, m.flags, m.internal_date) for m in batch])
        except MailstoreError as err:
            raise TransferError(f"stopped after {report.messages} messages, at {mailbox}: {err}") from None
        report.messages += len(batch)
        report.mailboxes[mailbox] = report.mailboxes.get(mailbox, 0) + len(batch)
        if progress is not None:
            progress(units)

    try:
        while True:
            mailbox, batch, units = await asyncio.to_thread(_take, source, report, into, held)
            if storing is not None:
                task, storing = storing, None
                await task
            if mailbox is None:
                if units and progress is not None:
                    progress(units)
                break
            storing = asyncio.ensure_future(store(mailbox, batch, units))
    finally:
        if storing is not None:  # reading failed while a batch was being stored: let it finish
            with contextlib.suppress(Exception):
                await storing
    for relative in mailboxes:  # an empty mbox file or Maildir folder is an empty mailbox
        name = target_name(relative, into)
        if name not in existing:
            await _make(mailstore, account_id, name)
            existing.add(name)
        report.mailboxes.setdefault(name, 0)
    return report


async def import_mbox(mailstore: Mailstore, account_id: int, path: Path, *, into: str | None = None,
                      progress: Progress | None = None) -> Report:
    """An mbox file (into INBOX, or `into`) or a folder tree of them (see the module's notes)."""
    files = await asyncio.to_thread(mbox_files, path)
    return await import_messages(mailstore, account_id, read_mbox_tree(files, mailstore.max_message_size),
                                 into=into, progress=progress, mailboxes=[name for name, _ in files])


async def import_maildir(mailstore: Mailstore, account_id: int, path: Path, *, into: str | None = None,
                         progress: Progress | None = None) -> Report:
    """A Maildir++ tree: the root into INBOX (or `into`), its folders as mailboxes (under `into`)."""
    folders = await asyncio.to_thread(maildir_folders, path)
    return await import_messages(mailstore, account_id, read_maildir(folders, mailstore.max_message_size),
                                 into=into, progress=progress, mailboxes=[name for name, _ in folders])


def mbox_units(path: Path) -> int:
    """How many progress units an mbox import of `path` counts: its bytes."""
    return sum(p.stat().st_size for _, p in mbox_files(path))


def maildir_units(path: Path) -> int:
    """How many progress units a Maildir import of `path` counts: its message files."""
    return sum(len(maildir_messages(folder)) for _, folder in maildir_folders(path))


# -- exporting ------------------------------------------------------------------------------------------------

_ANGLE_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


def envelope_sender(message: MessageFull) -> str:
    """Who a From line names: the From header's address (the envelope sender is not kept)."""
    for line in message.addresses.split("\n"):
        if line.startswith("from:"):
            match = _ANGLE_ADDRESS.search(line)
            if match:
                return match.group(1)
    return "MAILER-DAEMON"


def mbox_entry(message: MessageFull, data: bytes) -> bytes:
    """One message as mboxrd: From line, header with the flags' headers, quoted body, empty line."""
    lines = _lines(to_lf(data))
    header, rest = _split_header(lines)
    header, _ = take_bookkeeping(header)
    if header and not header[-1].endswith(b"\n"):
        header[-1] += b"\n"
    text = b"".join(header) + bookkeeping_header(message.flag_names) + b"".join(rest)
    if not text.endswith(b"\n"):
        text += b"\n"
    text = re.sub(rb"(?m)^(>*From )", rb">\1", text)
    stamp = time.asctime(time.gmtime(message.internal_date))
    return f"From {envelope_sender(message)} {stamp}\n".encode() + text + b"\n"


Page = list[tuple[MessageFull, bytes]]


async def _each_page(mailstore: Mailstore, mailbox_id: int, uidnext: int, work: Callable[[Page], None],
                     progress: Progress | None) -> int:
    """Run `work` (in a worker thread) on each page of a mailbox's messages with their bytes."""
    done = 0
    first = 1
    while first < uidnext:
        last = first + EXPORT_PAGE - 1
        page = await mailstore.full(mailbox_id, first, last)
        if page:
            datas = await asyncio.gather(*(mailstore.read(m.blob) for m in page))
            await asyncio.to_thread(work, list(zip(page, datas, strict=True)))
            done += len(page)
            if progress is not None:
                progress(len(page))
        first = last + 1
    return done


def _empty_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise TransferError(f"{dest} exists and is not an empty folder; export into a new one")
    dest.mkdir(parents=True, exist_ok=True)


class _MboxFile:
    """One mailbox's mbox file, written page by page from a worker thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(path, "wb")  # noqa: SIM115  (closed by close())

    def write(self, page: Page) -> None:
        self.out.write(b"".join(mbox_entry(message, data) for message, data in page))

    def close(self) -> None:
        self.out.close()


async def export_mbox(mailstore: Mailstore, account_id: int, dest: Path, *,
                      progress: Progress | None = None) -> Report:
    """Every mailbox of the account as `dest/<name>.mbox` (folders for the levels above)."""
    report = Report()
    await asyncio.to_thread(_empty_destination, dest)
    for mailbox in await mailstore.mailboxes(account_id):
        levels = [_safe_level(level) for level in mailbox.name.split(names.SEPARATOR)]
        target = await asyncio.to_thread(_MboxFile, dest.joinpath(*levels[:-1], levels[-1] + MBOX_SUFFIX))
        try:
            count = await _each_page(mailstore, mailbox.id, mailbox.uidnext, target.write, progress)
        finally:
            await asyncio.to_thread(target.close)
        report.messages += count
        report.mailboxes[mailbox.name] = count
    return report


def maildir_info(flag_names: Iterable[str], keyword_index: dict[str, int]) -> str:
    letters = {_MAILDIR_LETTERS[n.lower()] for n in flag_names if n.lower() in _MAILDIR_LETTERS}
    for name in flag_names:
        index = keyword_index.get(name)
        if index is not None and name.lower() not in _MAILDIR_LETTERS:
            letters.add(chr(ord("a") + index))
    return ":2," + "".join(sorted(letters, key=lambda c: (c.islower(), c)))


class _MaildirFolder:
    """One mailbox's Maildir++ folder, written page by page from a worker thread: each message to tmp/,
    then renamed into cur/ with its flags; dovecot-uidlist and dovecot-keywords at the end. At most 26
    keywords a folder (a-z); further ones are not written."""

    def __init__(self, folder: Path, is_root: bool) -> None:
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        if not is_root:
            (folder / "maildirfolder").touch()
        self.folder = folder
        self.keywords: dict[str, int] = {}
        self.uidlist: list[str] = []
        self.host = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"

    def write(self, page: Page) -> None:
        for message, data in page:
            flag_names = message.flag_names
            for name in flag_names:
                if (not name.startswith("\\") and name.lower() not in _MAILDIR_LETTERS and name not in self.keywords
                        and len(self.keywords) < 26):
                    self.keywords[name] = len(self.keywords)
            body = to_lf(data)
            base = (f"{message.internal_date}.M{message.uid:010d}P{os.getpid()}.{self.host},S={len(body)},"
                    f"W={len(to_crlf(body))}")
            temp = self.folder / "tmp" / base
            with open(temp, "wb") as out:
                out.write(body)
            os.utime(temp, (message.internal_date, message.internal_date))
            temp.replace(self.folder / "cur" / (base + maildir_info(flag_names, self.keywords)))
            self.uidlist.append(f"{message.uid} :{base}\n")

    def close(self, uidvalidity: int, uidnext: int) -> None:
        header = f"3 V{uidvalidity} N{uidnext} G{uuid.uuid4().hex}\n"
        (self.folder / "dovecot-uidlist").write_text(header + "".join(self.uidlist), encoding="utf-8")
        if self.keywords:
            (self.folder / "dovecot-keywords").write_text(
                "".join(f"{index} {name}\n" for name, index in self.keywords.items()), encoding="utf-8")


async def export_maildir(mailstore: Mailstore, account_id: int, dest: Path, *,
                         progress: Progress | None = None) -> Report:
    """Every mailbox of the account as a Maildir++ tree rooted at `dest` (INBOX is the root)."""
    report = Report()
    await asyncio.to_thread(_empty_destination, dest)
    for mailbox in await mailstore.mailboxes(account_id):
        relative = maildir_folder_name(mailbox.name)
        target = await asyncio.to_thread(_MaildirFolder, dest / relative if relative else dest, not relative)
        count = await _each_page(mailstore, mailbox.id, mailbox.uidnext, target.write, progress)
        await asyncio.to_thread(target.close, mailbox.uidvalidity, mailbox.uidnext)
        report.messages += count
        report.mailboxes[mailbox.name] = count
    return report


async def message_count(mailstore: Mailstore, account_id: int) -> int:
    """How many progress units an export counts: the account's messages."""
    _, messages = await mailstore.usage(account_id)
    return messages
