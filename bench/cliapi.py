#!/usr/bin/env python3
"""CLI/API throughput: concurrent sessions reading and updating account settings, on SQLite and PostgreSQL.

For each backend: a data folder with N accounts, a node started as its own process (`polyport serve`,
uvloop), then S client sessions (in separate processes, so the client does not share the node's CPU
core) that log in as postmaster, switch to INLINE, and for D seconds send
  - GETACCOUNTEFFECTIVESETTINGS of random accounts (the read phase), then
  - UPDATEACCOUNTSETTINGS of random accounts (the write phase).
Prints commands per second and p50/p99 latency per phase. Target (issue 3): >= 5,000 reads/s.

    .venv/bin/python bench/cliapi.py [--accounts 10000] [--sessions 20] [--seconds 10] [--clients 2]
        [--pg postgresql://127.0.0.1:5432/test]   (--pg "" skips PostgreSQL)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

POSTMASTER_PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def populate(url: str, data: Path, accounts: int) -> None:
    from polyport.auth.passwords import PasswordHasher
    from polyport.directory import Directory
    from polyport.node import initialize
    from polyport.store import open_records

    store = await open_records(url, data, pool_size=20)
    hasher = PasswordHasher()
    try:
        directory = Directory(store, hasher)
        os.environ["POLYPORT_POSTMASTER_PASSWORD"] = POSTMASTER_PASSWORD
        await initialize(directory, "bench.test")
        await directory.update_account_defaults("bench.test", {"MaxAccountSize": "1G"})
        names = iter(range(accounts))

        async def worker() -> None:
            for i in names:
                await directory.create_account(f"u{i:05d}@bench.test", settings={"RealName": f"User {i}"})

        await asyncio.gather(*(worker() for _ in range(32)))
    finally:
        hasher.close()
        await store.close()


async def session_load(port: int, verb: str, accounts: int, deadline: float, sessions: int) -> list[float]:
    latencies: list[float] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(f"USER postmaster\nPASS {POSTMASTER_PASSWORD}\nINLINE\n".encode())
        for _ in range(3):
            await reader.readline()
        while time.perf_counter() < deadline:
            name = f"u{random.randrange(accounts):05d}@bench.test"
            line = (f"GETACCOUNTEFFECTIVESETTINGS {name}\n" if verb == "read"
                    else f'UPDATEACCOUNTSETTINGS {name} {{RealName="R{random.randrange(10**6)}";}}\n')
            started = time.perf_counter()
            writer.write(line.encode())
            reply = await reader.readline()
            latencies.append(time.perf_counter() - started)
            if not reply.startswith((b"200", b"201")):
                raise SystemExit(f"unexpected reply: {reply[:100]!r}")
        writer.write(b"QUIT\n")
        await reader.readline()
        writer.close()

    await asyncio.gather(*(one() for _ in range(sessions)))
    return latencies


def client_process(port: int, verb: str, accounts: int, deadline: float, sessions: int,
                   out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        out.put(uvloop.run(session_load(port, verb, accounts, deadline, sessions)))
    except ImportError:
        out.put(asyncio.run(session_load(port, verb, accounts, deadline, sessions)))


def run_phase(port: int, verb: str, args: argparse.Namespace) -> tuple[float, list[float]]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    start = time.perf_counter() + 1.0  # sessions log in first
    deadline = start + args.seconds
    per_client = [args.sessions // args.clients + (1 if i < args.sessions % args.clients else 0)
                  for i in range(args.clients)]
    procs = [multiprocessing.Process(target=client_process, args=(port, verb, args.accounts, deadline, n, queue))
             for n in per_client if n]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    for _ in procs:
        latencies += queue.get()
    for proc in procs:
        proc.join()
    return args.seconds, latencies


def report(backend: str, phase: str, elapsed: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{backend:<10} {phase:<28} {len(latencies) / elapsed:9.0f} commands/s   "
          f"p50 {statistics.median(ordered) * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms   (n={len(latencies)})",
          flush=True)


def bench(backend: str, url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        started = time.perf_counter()
        asyncio.run(populate(url, data, args.accounts))
        print(f"{backend:<10} created {args.accounts} accounts in {time.perf_counter() - started:.1f} s", flush=True)
        port = free_port()
        config = data / "polyport.toml"
        store_line = f'[store]\nurl = "{url}"\npool_size = 20\n' if url else ""
        config.write_text(f'[node]\ndata = "{data}"\nmain_domain = "bench.test"\n[log]\nlevel = "warning"\n'
                          f"{store_line}[services.cliapi]\nports = [{port}]\nmax_per_address = 1000\n"
                          f"[services.cliapi-tls]\nports = [{free_port()}]\n")
        node = subprocess.Popen([sys.executable, "-m", "polyport", "serve", "--config", str(config), "--bind",
                                 "127.0.0.1"], stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or node.poll() is not None:
                        raise SystemExit("the node did not start") from None
                    time.sleep(0.05)
            for phase, verb in (("GETACCOUNTEFFECTIVESETTINGS", "read"), ("UPDATEACCOUNTSETTINGS", "write")):
                elapsed, latencies = run_phase(port, verb, args)
                report(backend, phase, elapsed, latencies)
        finally:
            node.send_signal(signal.SIGTERM)
            node.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes sharing the sessions")
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()
    bench("sqlite", "", args)
    if args.pg:
        import asyncpg

        schema = f"bench_{uuid.uuid4().hex[:8]}"

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(args.pg)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f"CREATE SCHEMA {schema}"))
        try:
            bench("postgresql", f"{args.pg}?search_path={schema}", args)
        finally:
            asyncio.run(admin(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
