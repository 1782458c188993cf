#!/usr/bin/env python3
"""IMAP's write path under concurrency against Dovecot: 20 clients, a random mix of commands.

Each client logs in as its own user (u0001..u0020, seeded with 100 messages) and then draws commands at
random: LIST, STATUS, SELECT, FETCH of flags, FETCH of a body, STORE, APPEND, EXPUNGE (of one message it
marked \\Deleted, so the mailbox stays near its seeded size) and, now and then, LOGOUT and a new LOGIN.
The draws come from a seed per client, so both servers get the same sequence. Runs alternate
Dovecot, ours, ours, Dovecot (ABBA) on the same seeded mailboxes; the table gives, per command, the
mean and p99 latency of each server and ours/Dovecot, then the total commands/s and server CPU per
command (issue 13's target: every command within 1.0x Dovecot's mean latency, total >= 1.0x).

    .venv/bin/python bench/imap_mix.py [--reps 2] [--seconds 15] [--clients 20] [--rate R] [--ours-only]
        [--workers N]

Without --rate each client sends its next command as soon as the last is answered (a closed loop: the
total rate is each server's capacity for this mix, and its latencies are those of a saturated server, or of
clients waiting in slow logins). With --rate R the clients offer R commands/s together, the same to both
servers: below both capacities, the latencies compare command by command.

A fresh data folder each run (a folder another benchmark used holds other mailboxes: its figures would
mean nothing). Needs `bash ../shared/bench/peers/setup.sh` once for Dovecot (port 1143).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode

sys.path.insert(0, str(mailnode.SHARED_BENCH))
import benchlib as bl  # the shared bench's helpers: recorder, server CPU by pid, workers
import imap_load  # its minimal IMAP client

DOVECOT_PORT = 1143
DOVECOT_PIDFILE = "/run/dovecot-bench/master.pid"
SEEDED = 100
EXPUNGED = re.compile(rb"^\* \d+ EXPUNGE", re.I)
# The mix: (command, weight). Reads dominate as with real clients; every write kind is well represented.
MIX = [("list", 1), ("status", 2), ("select", 2), ("fetch_flags", 3), ("fetch_body", 4), ("store", 3),
       ("append", 2), ("expunge", 2), ("relogin", 1)]
MESSAGE = (b"From: mix@bench.test\r\nTo: u@bench.test\r\nSubject: mixed load\r\n"
           b"Message-ID: <%d.%d@bench.test>\r\n\r\n" + b"a line of text in the body of the message\r\n" * 100)


async def one_client(args: argparse.Namespace, k: int, rec: bl.Recorder, deadline: float) -> None:
    user = f"u{k + 1:04d}"
    draw = random.Random(1000 + k)
    commands, weights = zip(*MIX, strict=True)
    client: Any = None
    serial = 0
    # With --rate, each client sends at a fixed pace (an open load): both servers get the same offered
    # load, so their latencies compare; without it, each client sends its next command at once.
    interval = args.clients / args.rate if args.rate else 0.0
    next_at = time.time() + draw.random() * interval
    while time.time() < deadline:
        if interval:
            await asyncio.sleep(max(0.0, next_at - time.time()))
            next_at = max(next_at + interval, time.time() - interval)  # a late client does not burst
        try:
            if client is None:
                started = time.time()
                client = await imap_load.login(args, user)
                rec.add("login", started, time.time())
                await client.cmd("SELECT INBOX")
            command = draw.choices(commands, weights)[0]
            count = max(client.exists, 1)
            started = time.time()
            if command == "list":
                await client.cmd('LIST "" "*"')
            elif command == "status":
                await client.cmd("STATUS INBOX (MESSAGES UNSEEN UIDNEXT)")
            elif command == "select":
                await client.cmd("SELECT INBOX")
            elif command == "fetch_flags":
                low = draw.randint(1, count)
                await client.cmd(f"FETCH {low}:{min(count, low + 20)} (UID FLAGS RFC822.SIZE)")
            elif command == "fetch_body":
                await client.cmd(f"FETCH {draw.randint(1, count)} BODY.PEEK[]")
            elif command == "store":
                sign = draw.choice("+-")
                await client.cmd(f"STORE {draw.randint(1, count)} {sign}FLAGS (\\Flagged)")
            elif command == "append":
                serial += 1
                await client.append("INBOX", MESSAGE % (k, serial))
            elif command == "expunge":
                # Only while above the seeded size, so the mailbox neither empties nor grows without end.
                if client.exists > SEEDED:
                    await client.cmd(f"STORE {draw.randint(1, client.exists)} +FLAGS.SILENT (\\Deleted)")
                    _, untagged = await client.cmd("EXPUNGE")
                    client.exists -= sum(1 for line in untagged if EXPUNGED.match(line))
                else:
                    await client.cmd("NOOP")
                    command = "noop"
            elif command == "relogin":
                await client.cmd("LOGOUT", ok=False)
                await client.close()
                client = None
                command = "logout"
            ended = time.time()
            rec.add(command, started, ended)
            rec.add("cmds", started, ended)
        except Exception as error:  # counted, and a new connection
            rec.error(f"{type(error).__name__}: {str(error)[:80]}")
            if client is not None:
                await client.close()
            client = None
            await asyncio.sleep(0.05)
    if client is not None:
        await client.close()


async def worker(args: argparse.Namespace, idx: int, nprocs: int, barrier: Any) -> bl.Recorder:
    rec = bl.Recorder()
    low, high = bl.share_range(args.clients, idx, nprocs)
    await barrier.wait()
    deadline = time.time() + args.duration
    await asyncio.gather(*(one_client(args, k, rec, deadline) for k in range(low, high)))
    return rec


def measure(port: int, pid: int, clients: int, seconds: float, rate: float) -> dict[str, Any]:
    args = argparse.Namespace(host="127.0.0.1", port=port, password="benchpass", clients=clients,
                              duration=seconds, procs=1, rate=rate)
    watch = bl.ProcWatch([pid])
    rec, elapsed = bl.run_workers(worker, args, on_start=watch.start)
    server = watch.stop()
    ops = {name: sorted(samples) for name, samples in rec.lat.items()}
    total = len(ops.get("cmds", []))
    return {"ops": ops, "rate": total / elapsed, "cpu_per_cmd_ms": 1000 * server["cpu_s"] / max(total, 1),
            "errors": dict(rec.err), "connected": clients}


def seed(port: int, clients: int) -> None:
    # imap_load's seeding tops each mailbox up to SEEDED messages and logs every user in once.
    subprocess.check_call([sys.executable, str(mailnode.SHARED_BENCH / "imap_load.py"), "--port", str(port),
                           "--seed", str(SEEDED), "-c", str(clients)], cwd=mailnode.SHARED_BENCH)


def dovecot_pid() -> int:
    """Dovecot started on empty mail stores (what an earlier run appended would skew its figures)."""
    control = ["bash", str(mailnode.SHARED_BENCH / "peers/ctl.sh")]
    subprocess.check_call([*control, "stop", "dovecot"], stdout=subprocess.DEVNULL)
    subprocess.check_call([*control, "reset-mail"], stdout=subprocess.DEVNULL)
    subprocess.check_call([*control, "start", "dovecot"], stdout=subprocess.DEVNULL)
    return int("".join(ch for ch in Path(DOVECOT_PIDFILE).read_text() if ch.isdigit()))


def table(results: dict[str, list[dict[str, Any]]]) -> None:
    names = sorted({n for runs in results.values() for r in runs for n in r["ops"] if n != "cmds"})
    servers = list(results)

    def mean_ms(server: str, name: str) -> float | None:
        means = [statistics.fmean(r["ops"][name]) * 1000 for r in results[server] if r["ops"].get(name)]
        return statistics.median(means) if means else None

    def pct_ms(server: str, name: str, pct: float) -> float | None:
        values = [bl.pct(r["ops"][name], pct) * 1000 for r in results[server] if r["ops"].get(name)]
        return statistics.median(values) if values else None

    head = " | ".join(f"{s} mean ms | {s} p50 ms | {s} p99 ms" for s in servers)
    print(f"\n| command | {head} | ours/dovecot mean |")
    print("|---" * (2 + 3 * len(servers)) + "|")
    for name in [*names, "cmds"]:
        cells = []
        for server in servers:
            mean, p50, p99 = mean_ms(server, name), pct_ms(server, name, 50), pct_ms(server, name, 99)
            cells.append(f"{mean:.2f} | {p50:.2f} | {p99:.1f}" if mean is not None and p50 is not None
                          and p99 is not None else "- | - | -")
        ratio = ""
        if "ours" in results and "dovecot" in results:
            ours, peer = mean_ms("ours", name), mean_ms("dovecot", name)
            ratio = f"{ours / peer:.2f}x" if ours and peer else "-"
        print(f"| {name} | {' | '.join(cells)} | {ratio} |")
    print()
    for server in servers:
        rates = [r["rate"] for r in results[server]]
        cpu = [r["cpu_per_cmd_ms"] for r in results[server]]
        errors: dict[str, int] = {}
        for r in results[server]:
            for what, n in r["errors"].items():
                errors[what] = errors.get(what, 0) + n
        print(f"{server}: {statistics.median(rates):.0f} commands/s (runs {', '.join(f'{x:.0f}' for x in rates)}), "
              f"server CPU {statistics.median(cpu):.2f} ms per command, errors {errors or 'none'}")
    if "ours" in results and "dovecot" in results:
        ours = statistics.median(r["rate"] for r in results["ours"])
        peer = statistics.median(r["rate"] for r in results["dovecot"])
        print(f"total commands/s ours/dovecot: {ours / peer:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2, help="ABBA rounds (each: Dovecot, ours, ours, Dovecot)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="commands/s offered by all clients together (default: as fast as each is answered)")
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="the node's worker processes ([node] workers)")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="polyport-bench-mix-"))
    mailnode.prepare(data, users=args.clients)
    results: dict[str, list[dict[str, Any]]] = {"ours": []} if args.ours_only else {"dovecot": [], "ours": []}
    with mailnode.running(data, workers=args.workers) as node:
        ours_pid = node.process.pid
        seed(node.imap_port, args.clients)
        peer_pid = 0
        if not args.ours_only:
            peer_pid = dovecot_pid()
            seed(DOVECOT_PORT, args.clients)
        for _ in range(args.reps):
            order = ["ours"] if args.ours_only else ["dovecot", "ours", "ours", "dovecot"]
            for server in order:
                port, pid = (node.imap_port, ours_pid) if server == "ours" else (DOVECOT_PORT, peer_pid)
                result = measure(port, pid, args.clients, args.seconds, args.rate)
                results[server].append(result)
                print(f"{server}: {result['rate']:.0f} commands/s, {result['cpu_per_cmd_ms']:.2f} ms CPU per command",
                      flush=True)
    table(results)


if __name__ == "__main__":
    main()
