#!/usr/bin/env python3
"""Directory throughput on SQLite and PostgreSQL: account creation and settings lookups per second.

For each backend: create N accounts from C concurrent tasks (without passwords: the store's cost; then a
smaller batch with passwords: argon2id's cost), then C tasks read effective settings and login records of
random accounts for D seconds. Prints operations per second and p50/p99 latency.

    .venv/bin/python bench/store.py [--accounts 2000] [--concurrency 20] [--seconds 5]
        [--pg postgresql://127.0.0.1:5432/test]   (--pg "" skips PostgreSQL)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from polyport.auth.passwords import PasswordHasher
from polyport.directory import Directory
from polyport.store import RecordStore, open_records


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


async def timed(count: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            started = time.perf_counter()
            await op(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def for_duration(seconds: float, concurrency: int,
                       op: Callable[[], Awaitable[object]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await op()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def report(backend: str, name: str, elapsed: float, latencies: list[float]) -> None:
    rate = len(latencies) / elapsed
    print(f"{backend:<10} {name:<34} {rate:9.0f}/s   p50 {statistics.median(latencies) * 1000:7.2f} ms"
          f"   p99 {percentile(latencies, 0.99) * 1000:7.2f} ms   (n={len(latencies)})")


async def run(backend: str, store: RecordStore, args: argparse.Namespace) -> None:
    hasher = PasswordHasher()
    directory = Directory(store, hasher)
    await directory.initialize("bench.test")
    await directory.update_account_defaults("bench.test", {"MaxAccountSize": "1G"})
    elapsed, lat = await timed(args.accounts, args.concurrency,
                               lambda i: directory.create_account(f"u{i:05d}@bench.test"))
    report(backend, "create account (no password)", elapsed, lat)
    count = max(20, args.accounts // 50)
    elapsed, lat = await timed(count, args.concurrency,
                               lambda i: directory.create_account(f"p{i:05d}@bench.test", password="benchpass"))
    report(backend, "create account (argon2id password)", elapsed, lat)
    names = [f"u{i:05d}@bench.test" for i in range(args.accounts)]
    elapsed, lat = await for_duration(args.seconds, args.concurrency,
                                      lambda: directory.effective_account_settings(random.choice(names)))
    report(backend, "effective account settings", elapsed, lat)
    elapsed, lat = await for_duration(args.seconds, args.concurrency,
                                      lambda: directory.login_record(random.choice(names)))
    report(backend, "login record lookup", elapsed, lat)
    elapsed, lat = await for_duration(args.seconds, args.concurrency,
                                      lambda: directory.update_account_settings(random.choice(names),
                                                                                {"RealName": "x"}))
    report(backend, "update account settings", elapsed, lat)
    hasher.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = await open_records("", Path(folder))
        try:
            await run("sqlite", store, args)
        finally:
            await store.close()
    if args.pg:
        import asyncpg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.pg)
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            store = await open_records(f"{args.pg}?search_path={schema}", Path("."), pool_size=args.concurrency)
            try:
                await run("postgresql", store, args)
            finally:
                await store.close()
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
