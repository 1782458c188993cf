#!/usr/bin/env python3
"""Webmail under load: the message list and message view of a 10,000-message INBOX, 50 sessions at once.

Prepares a data folder in /tmp (bench/mailnode.py's u0001@bench.test, password benchpass) whose INBOX gets
N generated messages of 2-4 KB (varied From, Subject and Date; a third multipart/alternative with HTML),
stored in-process through Mailstore.append_many before the node starts (timed and printed apart). Then
starts the node (`polyport serve`, uvloop) with only the webuser service, on a free loopback port (loopback
is trusted, so plain-HTTP login works), logs in S sessions of that account (S cookies) and, from client
processes of their own (RawHttp: one keep-alive HTTP/1.1 connection per session), loops for D seconds in every
session: GET /mail/list?box=INBOX&page=P&sort=date&order=desc (P random among the first 20 pages), then
GET /mail/read of a random message of that page, and its /mail/body frame when the message is HTML (as a
browser would). Prints per kind requests/s and p50/p90/p99/max latency, errors, the node's CPU per request
(from /proc/<pid>/stat) and the client's CPU; with --reps the medians too, and the list's p99 against the
target (issue: p99 under 100 ms for the message list of a 10,000-message INBOX on one node).

Every message is \\Seen unless --unread says otherwise; reading an unread message stores \\Seen, which
changes the mailbox's modification sequence, so the next list sorts the mailbox again. Sessions click back
to back (a saturation test: latency is then mostly queueing behind the other sessions' requests) unless
--think gives them a pause before each page. --event-loop asyncio runs the node on asyncio's own loop
(POLYPORT_EVENT_LOOP=asyncio) instead of uvloop.

    .venv/bin/python bench/web.py [--data DIR] [--reps 3] [--seconds 15] [--messages 10000] [--sessions 50]
        [--pages 20] [--think 0] [--clients 1] [--unread 0.0] [--event-loop uvloop|asyncio] [--profile FILE.prof]
(--profile runs the node under cProfile and prints where its time went)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode

ACCOUNT = f"u0001@{mailnode.DOMAIN}"
KINDS = ("list", "read", "body")
TARGET_P99_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROW_UID = re.compile(rb'data-uid="(\d+)"')
BODY_FRAME = re.compile(rb'<iframe class="body" src="([^"]+)"')

_WORDS = ("the of and to in is you that it was for on are as with they at be this have from or one had by word but "
          "not what all were we when your can said there use each which do how their if will up other about out "
          "many then them these so some would make like into time has look two more write see number no way could "
          "people than first been call who now find long down day did get come made may part meeting budget "
          "release server mailbox quarter invoice schedule draft review deadline customer project report update "
          "question answer")
WORDS = _WORDS.split()
NAMES = ("Alice Martin", "Bob Chen", "Carol Diaz", "Dave Okafor", "Erin Walsh", "Frank Novak", "Grace Kim",
         "Heidi Larsen", "Ivan Petrov", "Judy Moreau", "Niaj Singh", "Olivia Rossi", "Peggy Brown",
         "Rupert Hale", "Sybil Costa", "Trent Ito", "Victor Lind", "Walter Ngata")
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example", "lists.example.org")


# -- the INBOX -----------------------------------------------------------------------------------------

def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choices(WORDS, k=words)).capitalize() + "."
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + len(word) + 1 > 72:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


def message(rng: random.Random, index: int, when: int) -> bytes:
    """A message of 2-4 KB: headers as real mail has them, plain text or text + HTML."""
    name = rng.choice(NAMES)
    sender = f"{name.split()[0].lower()}@{rng.choice(DOMAINS)}"
    subject = " ".join(rng.choices(WORDS, k=rng.randint(3, 9))).capitalize()
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    headers = [
        f"Return-Path: <{sender}>",
        f"Received: from mx{rng.randint(1, 9)}.{rng.choice(DOMAINS)} ([192.0.2.{rng.randint(1, 254)}])\n\t"
        f"by mail.{mailnode.DOMAIN} with ESMTPS id {rng.getrandbits(48):x}\n\tfor <{ACCOUNT}>; {date}",
        f"From: {name} <{sender}>",
        f"To: User One <{ACCOUNT}>",
        f"Subject: {'Re: ' if index % 4 == 1 else ''}{subject}",
        f"Date: {date}",
        f"Message-ID: <{index}.{rng.getrandbits(32):x}@{sender.split('@')[1]}>",
        "MIME-Version: 1.0",
    ]
    target = rng.randint(2048, 4096)
    paragraphs: list[str] = []
    html = rng.random() < 1 / 3
    size = len("\n".join(headers)) + (500 if html else 60)
    while size < target:
        paragraphs.append(paragraph(rng, rng.randint(15, 50)))
        size += len(paragraphs[-1]) * (2 if html else 1) + 2
    text = "\n\n".join(paragraphs)
    if html:
        boundary = f"b{rng.getrandbits(40):x}"
        markup = "<html><body><p>" + text.replace("\n\n", "</p>\n<p>") + "</p></body></html>"
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n--{boundary}\n"
                f"Content-Type: text/html; charset=utf-8\n\n{markup}\n--{boundary}--\n")
    else:
        headers.append("Content-Type: text/plain; charset=utf-8")
        body = text + "\n"
    return ("\n".join(headers) + "\n\n" + body).replace("\n", "\r\n").encode()


async def fill_inbox(data: Path, count: int, unread: float, seed: int) -> tuple[int, float]:
    """Append `count` messages to the account's INBOX; (bytes stored, seconds)."""
    from polyport.auth.passwords import PasswordHasher
    from polyport.datadir import BLOBS_DIR
    from polyport.directory import Directory
    from polyport.mailstore import Mailstore
    from polyport.store import LocalBlobStore, open_records

    records = await open_records("", data, pool_size=8)
    hasher = PasswordHasher()
    try:
        directory = Directory(records, hasher)
        mailstore = Mailstore(records, LocalBlobStore(data / BLOBS_DIR), directory)
        account = (await directory.account(ACCOUNT)).id
        await mailstore.ensure_defaults(account)
        rng = random.Random(seed)
        when = int(time.time()) - 2 * 365 * 86400  # two years of mail, oldest first, newest today
        step = 2 * 365 * 86400 // max(1, count)
        total = 0
        started = time.perf_counter()
        for start in range(0, count, 500):
            batch = []
            for index in range(start, min(count, start + 500)):
                when += rng.randint(step // 2, step * 3 // 2)
                data_ = message(rng, index, when)
                total += len(data_)
                batch.append((data_, () if rng.random() < unread else ("\\Seen",), when))
            await mailstore.append_many(account, "INBOX", batch)
        return total, time.perf_counter() - started
    finally:
        hasher.close()
        await records.close()


def prepare(data: Path, messages: int, unread: float) -> None:
    """The account (bench/mailnode.py's users, the first one only) and its INBOX, once per data folder."""
    mailnode.prepare(data, users=1)
    marker = data / ".bench-web"
    wanted = f"{messages} {unread}"
    if marker.exists():
        if marker.read_text() != wanted:
            raise SystemExit(f"{data} holds an INBOX of {marker.read_text()} (messages, unread); "
                             f"use another --data for {wanted}")
        print(f"# INBOX of {messages} messages already in {data}", flush=True)
        return
    size, seconds = asyncio.run(fill_inbox(data, messages, unread, seed=1))
    marker.write_text(wanted)
    print(f"# prepared INBOX: {messages} messages, {size / 1e6:.1f} MB (average {size / messages / 1024:.1f} KB) "
          f"in {seconds:.1f} s ({messages / seconds:.0f} messages/s; not measured below)", flush=True)


# -- the node ------------------------------------------------------------------------------------------

@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        """The node's process and its workers' (a node of several: [node] workers)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [pid, *(int(child) for child in children)]

    def cpu_seconds(self) -> float:
        """utime + stime (+ reaped children) of the node and its workers, from /proc/<pid>/stat."""
        total = 0
        for pid in self.pids():
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            fields = stat[stat.rindex(b")") + 2:].split()
            total += sum(int(x) for x in fields[11:15])
        return total / CLK_TCK

    def rss_mb(self) -> float:
        page = os.sysconf("SC_PAGE_SIZE")
        return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) for pid in self.pids()) * page / 2**20


@contextmanager
def running(data: Path, profile: Path | None, event_loop: str, workers: int = 1) -> Iterator[Node]:
    """The node with the webuser service alone, on a free loopback port, on uvloop (as `polyport serve` runs
    by default) or asyncio's own loop."""
    from polyport.service_table import SERVICES

    port = mailnode.free_port()
    others = "".join(f"[services.{s.name}]\nenabled = false\n" for s in SERVICES if s.built and s.name != "webuser")
    config = data / "bench-web.toml"
    config.write_text(
        f'[node]\ndata = "{data}"\nmain_domain = "{mailnode.DOMAIN}"\nworkers = {workers}\n[log]\nlevel = "warning"\n'
        f"[services.webuser]\nports = [{port}]\nmax_per_address = 10000\n{others}")
    command = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []), "-m", "polyport",
               "serve", "--config", str(config), "--bind", "127.0.0.1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               env={**os.environ, "POLYPORT_EVENT_LOOP": event_loop})
    (data / "bench-web.pid").write_text(str(process.pid))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the node did not start") from None
                time.sleep(0.05)
        yield Node(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


# -- the client ----------------------------------------------------------------------------------------

class LoginFailed(Exception):
    pass


async def login(port: int, sessions: int) -> list[str]:
    """`sessions` logins of the account: their session cookies."""
    import aiohttp

    async def one() -> str:
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client, client.post(
                    f"http://127.0.0.1:{port}/login", allow_redirects=False,
                    data={"name": ACCOUNT, "password": mailnode.PASSWORD, "next": "/mail/"}) as response:
                token = response.cookies.get("pp_session")
                if response.status != 303 or token is None:
                    raise LoginFailed(f"HTTP {response.status}: {(await response.text())[:300]}")
                return token.value
        except aiohttp.ClientError as error:
            raise LoginFailed(f"{type(error).__name__}: {error} (the node's errors, if any, are above; "
                              f"--event-loop asyncio runs it on asyncio's own loop)") from None

    gate = asyncio.Semaphore(10)

    async def gated() -> str:
        async with gate:
            return await one()

    tokens = await asyncio.gather(*(gated() for _ in range(sessions)), return_exceptions=True)
    for token in tokens:
        if isinstance(token, BaseException):
            raise token
    return [str(token) for token in tokens]


async def first_list(port: int, token: str) -> tuple[float, float]:
    """The first list after start (the mailbox's index read and sorted), then the same page again (ms)."""
    import aiohttp

    timings = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                     headers={"Cookie": f"pp_session={token}"}) as client:
        for _ in range(2):
            started = time.perf_counter()
            async with client.get(f"http://127.0.0.1:{port}/mail/list?box=INBOX&page=1") as response:
                page = await response.read()
                if response.status != 200 or not ROW_UID.search(page):
                    raise SystemExit(f"the list failed: HTTP {response.status}: {page[:300]!r}")
            timings.append((time.perf_counter() - started) * 1000)
    return timings[0], timings[1]


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: Counter[str] = field(default_factory=Counter)
    last: float = 0.0  # time.monotonic() at the end of the last request
    cpu: float = 0.0  # the client processes' CPU seconds in the measured phase

    def merge(self, other: Samples) -> None:
        for kind in KINDS:
            self.latencies[kind] += other.latencies[kind]
        self.errors.update(other.errors)
        self.last = max(self.last, other.last)
        self.cpu += other.cpu


class RawHttp:
    """One keep-alive HTTP/1.1 connection that sends GETs with the session's cookie: a load generator as lean
    as it can be in Python (the client shares this machine's two cores with the node; aiohttp's client
    cost 0.2 ms of CPU per request, a third of the node's, which capped what two workers could show)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: pp_session={token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.reader, self.writer
        writer.write(b"GET " + path.encode() + b" " + self.head)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            fields = head.lower()
            length = re.search(rb"\r\ncontent-length: *(\d+)", fields)
            if length is not None:
                body = await reader.readexactly(int(length.group(1)))
            elif b"\r\ntransfer-encoding: chunked" in fields:
                chunks = []
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    chunks.append(await reader.readexactly(size))
                    await reader.readexactly(2)
                await reader.readuntil(b"\r\n")
                body = b"".join(chunks)
            else:
                body = b""
            if b"\r\nconnection: close" in fields:
                self.close()
        except BaseException:
            self.close()
            raise
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def user(port: int, token: str, pages: int, think: float, deadline: float, rng: random.Random,
               out: Samples) -> None:
    client = RawHttp(port, token)

    async def get(kind: str, path: str) -> bytes | None:
        started = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(client.get(path), 60)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError) as error:
            out.errors[f"{kind}: {type(error).__name__}"] += 1
            return None
        out.latencies[kind].append(time.perf_counter() - started)
        out.last = max(out.last, time.monotonic())
        if status != 200:
            out.errors[f"{kind}: HTTP {status}"] += 1
            return None
        return body

    try:
        while time.monotonic() < deadline:
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
                if time.monotonic() >= deadline:
                    break
            listed = await get("list", f"/mail/list?box=INBOX&page={rng.randint(1, pages)}&sort=date&order=desc")
            if listed is None:
                continue
            uids = ROW_UID.findall(listed)
            if not uids:
                out.errors["list: no rows"] += 1
                continue
            shown = await get("read", f"/mail/read?box=INBOX&uid={int(rng.choice(uids))}")
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
            frame = BODY_FRAME.search(shown) if shown else None
            if frame:
                await get("body", frame.group(1).decode().replace("&amp;", "&"))
    finally:
        client.close()


def client_process(port: int, tokens: list[str], pages: int, think: float, seconds: float, seed: int,
                   ready: multiprocessing.Queue, go: multiprocessing.Queue,  # type: ignore[type-arg]
                   results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> Samples:
        out = Samples()
        ready.put(True)
        loop = asyncio.get_running_loop()
        start: float = await loop.run_in_executor(None, go.get)
        cpu = time.process_time()
        rng = random.Random(seed)
        await asyncio.gather(*(user(port, token, pages, think, start + seconds, random.Random(rng.random()), out)
                               for token in tokens))
        out.cpu = time.process_time() - cpu
        return out

    try:
        try:
            import uvloop
        except ImportError:
            out = asyncio.run(main())
        else:
            out = uvloop.run(main())
    except Exception as error:  # reported, so the parent does not wait for ever
        out = Samples()
        out.errors[f"client process failed: {type(error).__name__}: {error}"] += 1
    results.put(out)


# -- one run and the figures ---------------------------------------------------------------------------

@dataclass
class Figures:
    rate: dict[str, float]
    p50: dict[str, float]
    p90: dict[str, float]
    p99: dict[str, float]
    worst: dict[str, float]
    count: dict[str, int]
    errors: Counter[str]
    server_cpu: float  # share of one core
    cpu_ms: float  # node CPU per request, all kinds
    client_cpu: float


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank, as ../shared/bench/benchlib.py's pct()."""
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def measure(node: Node, tokens: list[str], args: argparse.Namespace, rep: int) -> Figures:
    ctx = multiprocessing.get_context("fork")
    ready: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    go: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    results: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    shares = [tokens[i::args.clients] for i in range(args.clients)]
    procs = [ctx.Process(target=client_process, args=(node.port, share, args.pages, args.think / 1000, args.seconds,
                                                      rep * 1000 + i, ready, go, results))
             for i, share in enumerate(shares) if share]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    cpu = node.cpu_seconds()
    start = time.monotonic()
    for _ in procs:
        go.put(start)
    merged = Samples()
    for _ in procs:
        merged.merge(results.get(timeout=args.seconds + 120))
    for proc in procs:
        proc.join()
    elapsed = merged.last - start if merged.last > start else args.seconds
    cpu = node.cpu_seconds() - cpu
    ordered = {k: sorted(v) for k, v in merged.latencies.items()}
    requests = sum(len(v) for v in ordered.values())
    return Figures(
        rate={k: len(v) / elapsed for k, v in ordered.items()},
        p50={k: percentile(v, 0.50) * 1000 for k, v in ordered.items()},
        p90={k: percentile(v, 0.90) * 1000 for k, v in ordered.items()},
        p99={k: percentile(v, 0.99) * 1000 for k, v in ordered.items()},
        worst={k: (v[-1] * 1000 if v else float("nan")) for k, v in ordered.items()},
        count={k: len(v) for k, v in ordered.items()},
        errors=merged.errors, server_cpu=cpu / elapsed, cpu_ms=cpu * 1000 / max(1, requests),
        client_cpu=merged.cpu / elapsed)


def show(label: str, figures: Figures) -> None:
    for kind in KINDS:
        if not figures.count[kind]:
            continue
        print(f"{label:<8} {kind:<5} {figures.rate[kind]:8.1f} requests/s   p50 {figures.p50[kind]:7.1f} ms   "
              f"p90 {figures.p90[kind]:7.1f} ms   p99 {figures.p99[kind]:7.1f} ms   max {figures.worst[kind]:7.1f} ms"
              f"   (n={figures.count[kind]})")
    errors = sum(figures.errors.values())
    print(f"{label:<8} all   {sum(figures.rate.values()):8.1f} requests/s   errors {errors}"
          f"{' ' + str(dict(figures.errors)) if errors else ''}   node CPU {figures.server_cpu * 100:.0f}% of a core, "
          f"{figures.cpu_ms:.2f} ms/request   client CPU {figures.client_cpu * 100:.0f}%", flush=True)


def median(runs: list[Figures]) -> Figures:
    def each(attr: str) -> dict[str, float]:
        return {k: statistics.median(getattr(r, attr)[k] for r in runs) for k in KINDS}

    errors: Counter[str] = Counter()
    for run in runs:
        errors.update(run.errors)
    return Figures(rate=each("rate"), p50=each("p50"), p90=each("p90"), p99=each("p99"), worst=each("worst"),
                   count={k: sum(r.count[k] for r in runs) for k in KINDS}, errors=errors,
                   server_cpu=statistics.median(r.server_cpu for r in runs),
                   cpu_ms=statistics.median(r.cpu_ms for r in runs),
                   client_cpu=statistics.median(r.client_cpu for r in runs))


def show_profile(profile: Path) -> None:
    import pstats

    for order in ("tottime", "cumulative"):
        print(f"\n# node profile ({profile}), top 30 by {order}:")
        pstats.Stats(str(profile)).strip_dirs().sort_stats(order).print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse a data folder (the INBOX is stored once)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--messages", type=int, default=10_000, help="messages in the INBOX")
    parser.add_argument("--sessions", type=int, default=50, help="logged-in sessions, each looping list + read")
    parser.add_argument("--pages", type=int, default=20, help="the list pages picked from (the newest first)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="ms a session pauses before each page (0.5-1.5x this); 0: back to back, saturating")
    parser.add_argument("--clients", type=int, default=1, help="client processes sharing the sessions")
    parser.add_argument("--unread", type=float, default=0.0, help="share of the messages stored without \\Seen")
    parser.add_argument("--event-loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the node's event loop (POLYPORT_EVENT_LOOP)")
    parser.add_argument("--profile", type=Path, help="run the node under cProfile, writing this file")
    parser.add_argument("--workers", type=int, default=1, help="the node's worker processes ([node] workers)")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="polyport-bench-web-"))
    print("# load average before: {:.2f} {:.2f} {:.2f} (2 cores shared by the node and the client)".format(
        *os.getloadavg()), flush=True)
    prepare(data, args.messages, args.unread)
    with running(data, args.profile, args.event_loop, args.workers) as node:
        started = time.perf_counter()
        try:
            tokens = asyncio.run(login(node.port, args.sessions))
        except LoginFailed as failure:
            raise SystemExit(f"login failed: {failure}") from None
        print(f"# {args.sessions} sessions logged in, in {time.perf_counter() - started:.1f} s (not measured)")
        cold, warm = asyncio.run(first_list(node.port, tokens[0]))
        print(f"# first list page after start: {cold:.0f} ms (index read, sorted); again: {warm:.1f} ms")
        print(f"# {args.sessions} sessions, {args.clients} client process(es), node on {args.event_loop}, "
              f"{args.seconds:g} s per rep, think {args.think:g} ms, "
              f"pages 1-{args.pages} of a {args.messages}-message INBOX (sorted by date, newest first)", flush=True)
        runs = []
        for rep in range(args.reps):
            runs.append(measure(node, tokens, args, rep))
            show(f"rep {rep + 1}", runs[-1])
        print(f"# node RSS after the runs: {node.rss_mb():.0f} MB")
    result = median(runs) if len(runs) > 1 else runs[0]
    if len(runs) > 1:
        print(f"\nmedian of {len(runs)} reps:")
        show("median", result)
    p99 = result.p99["list"]
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(f"\ntarget (issue): message list p99 < {TARGET_P99_MS:.0f} ms on a 10,000-message INBOX: "
          f"p99 {p99:.1f} ms with {args.messages} messages and {args.sessions} sessions -> {verdict}")
    if args.profile:
        show_profile(args.profile)


if __name__ == "__main__":
    main()
