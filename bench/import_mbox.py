#!/usr/bin/env python3
"""Importing a large mbox: messages per second at the start and at the end, and memory.

Writes an mbox of N generated messages (realistic mail: a few KB of text, some HTML alternatives, some
attachments of tens of KB, threads by In-Reply-To/References, body lines starting with "From "), imports
it with `polyport import`'s code into a new account of a fresh data folder (SQLite and a local blob store,
as a node's default), and prints: messages/s over the first and the last 10% of the messages (a flat
per-message cost means the two are close), overall messages/s, and the process's resident memory before
the import, at its peak, and after the first and the last 10% (bounded memory means they do not grow with
the file).

    .venv/bin/python bench/import_mbox.py [--messages 100000] [--seed 1] [--keep DIR]
        [--store postgresql://127.0.0.1:5432/test]   (records in PostgreSQL instead of SQLite)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from polyport.auth.passwords import Argon2Params, PasswordHasher
from polyport.directory import Directory
from polyport.mailstore import Appended, Mailstore, transfer
from polyport.store import LocalBlobStore, open_records

_WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by "
          "word but not what all were we when your can said there use an each which she do how their if will up "
          "other about out many then them these so some her would make like him into time has look two more write "
          "go see number no way could people my than first water been call who oil its now find long down day did "
          "get come made may part meeting budget release server mailbox quarter invoice schedule draft review "
          "deadline customer project report update question answer")
WORDS = _WORDS.split()
_NAMES = ("alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent "
          "victor walter")
NAMES = _NAMES.split()
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example", "lists.example.org")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choices(WORDS, k=words)).capitalize() + "."
    lines, line = [], ""
    for word in text.split(" "):
        if len(line) + len(word) + 1 > 72:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


def message(rng: random.Random, index: int, when: float) -> bytes:
    sender = f"{rng.choice(NAMES)}@{rng.choice(DOMAINS)}"
    to = f"{rng.choice(NAMES)}@{rng.choice(DOMAINS)}"
    subject = " ".join(rng.choices(WORDS, k=rng.randint(3, 9))).capitalize()
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    headers = [
        f"Return-Path: <{sender}>",
        f"Received: from mx{rng.randint(1, 9)}.{rng.choice(DOMAINS)} (mx.{rng.choice(DOMAINS)} "
        f"[192.0.2.{rng.randint(1, 254)}])\n\tby mail.example.com with ESMTPS id {rng.getrandbits(48):x}\n\t"
        f"for <{to}>; {date}",
        f"From: {sender.split('@')[0].capitalize()} <{sender}>",
        f"To: {to}",
        f"Subject: {'Re: ' if index % 3 else ''}{subject}",
        f"Date: {date}",
        f"Message-ID: <{index}.{rng.getrandbits(32):x}@{sender.split('@')[1]}>",
    ]
    if index % 3 and index > 10:
        parent = f"<{index - rng.randint(1, 10)}.0@example.com>"
        headers += [f"In-Reply-To: {parent}", f"References: {parent}"]
    if rng.random() < 0.3:
        headers.append(f"Cc: {rng.choice(NAMES)}@{rng.choice(DOMAINS)}")
    text = "\n\n".join(paragraph(rng, rng.randint(20, 120)) for _ in range(rng.randint(2, 8)))
    if rng.random() < 0.05:
        text += "\n\nFrom the archive: a line an mbox writer must quote.\n"
    kind = rng.random()
    headers.append("MIME-Version: 1.0")
    if kind < 0.6:
        headers.append("Content-Type: text/plain; charset=utf-8")
        body = text + "\n"
    elif kind < 0.9:
        boundary = f"b{rng.getrandbits(40):x}"
        html = "<html><body><p>" + text.replace("\n\n", "</p>\n<p>") + "</p></body></html>"
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n--{boundary}\n"
                f"Content-Type: text/html; charset=utf-8\n\n{html}\n--{boundary}--\n")
    else:
        boundary = f"m{rng.getrandbits(40):x}"
        blob = rng.randbytes(rng.randint(8_000, 60_000))
        encoded = base64.encodebytes(blob).decode()
        headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        body = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n--{boundary}\n"
                f"Content-Type: application/pdf; name=\"report-{index}.pdf\"\nContent-Transfer-Encoding: base64\n"
                f"Content-Disposition: attachment; filename=\"report-{index}.pdf\"\n\n{encoded}--{boundary}--\n")
    return ("\n".join(headers) + "\n\n" + body).encode()


def write_mbox(path: Path, count: int, seed: int) -> tuple[int, int]:
    """(bytes written, largest message) of an mbox of `count` generated messages, written as a stream."""
    rng = random.Random(seed)
    when = 1_735_689_600.0  # 2025-01-01
    largest = 0
    with open(path, "wb", buffering=1 << 20) as out:
        for index in range(count):
            when += rng.uniform(10, 600)
            data = message(rng, index, when)
            largest = max(largest, len(data))
            quoted = b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ") else line
                                for line in data.split(b"\n"))
            stamp = time.asctime(time.gmtime(when)).encode()
            out.write(b"From " + NAMES[index % len(NAMES)].encode() + b"@example.com " + stamp + b"\n" + quoted
                      + b"\n")
    return path.stat().st_size, largest


class TimedMailstore(Mailstore):
    """Notes when each batch was stored, and the process's memory then."""

    marks: list[tuple[float, int, float]]

    async def append_many(self, account_id: int, name: str,
                          messages: Sequence[tuple[bytes, Iterable[str], int | None]]) -> list[Appended]:
        done = await super().append_many(account_id, name, messages)
        previous = self.marks[-1][1] if self.marks else 0
        self.marks.append((time.perf_counter(), previous + len(done), rss_mb()))
        return done


def rate(marks: list[tuple[float, int, float]], start: float, first: int, last: int) -> float:
    """Messages per second between the marks where the count passed `first` and `last`."""
    t0 = start if first == 0 else next(t for t, n, _ in marks if n >= first)
    n0 = 0 if first == 0 else next(n for t, n, _ in marks if n >= first)
    t1, n1 = next((t, n) for t, n, _ in marks if n >= last)
    return (n1 - n0) / (t1 - t0)


async def run(folder: Path, mbox: Path, count: int, store_url: str) -> None:
    records = await open_records(store_url, folder)
    hasher = PasswordHasher(Argon2Params(memory_kib=64, time_cost=1, parallelism=1), threads=1)
    try:
        directory = Directory(records, hasher)
        await directory.initialize("bench.test")
        account = (await directory.create_account("importer@bench.test", password="pw")).id
        mailstore = TimedMailstore(records, LocalBlobStore(folder / "blobs"), directory)
        mailstore.marks = []
        before = rss_mb()
        started = time.perf_counter()
        report = await transfer.import_mbox(mailstore, account, mbox)
        elapsed = time.perf_counter() - started
        marks = mailstore.marks
        tenth = count // 10
        print(f"imported {report.messages} messages in {elapsed:.1f} s: {report.messages / elapsed:.0f} messages/s "
              f"overall (skipped {len(report.skipped)})")
        print(f"first 10%: {rate(marks, started, 0, tenth):.0f} messages/s   "
              f"last 10%: {rate(marks, started, count - tenth, count):.0f} messages/s")
        done = report.messages  # skipped messages leave no mark
        at = {p: next(r for _, n, r in marks if n >= done * p // 100) for p in (10, 25, 50, 75, 100)}
        print("RSS: " + ", ".join([f"{before:.0f} MB before"] + [f"{r:.0f} MB at {p}%" for p, r in at.items()])
              + f"; peak {peak_rss_mb():.0f} MB")
    finally:
        await records.close()
        hasher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temporary one).")
    parser.add_argument("--store", default="", help="Record store URL (default: SQLite in the data folder).")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="pp-import-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        mbox = work / "big.mbox"
        started = time.perf_counter()
        size, largest = write_mbox(mbox, args.messages, args.seed)
        print(f"wrote {args.messages} messages, {size / 1e6:.0f} MB (average {size / args.messages / 1024:.1f} KB, "
              f"largest {largest / 1024:.0f} KB) in {time.perf_counter() - started:.0f} s")
        data = work / "data"
        data.mkdir(exist_ok=True)
        asyncio.run(run(data, mbox, args.messages, args.store))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
