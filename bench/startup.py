#!/usr/bin/env python3
"""Start-up time and idle memory of `polyport serve` on SQLite.

Prints, over several runs (median, min, max): seconds from exec until the node logs `node.ready` (every
listener bound), for a first start on a new data folder (schema, main domain, postmaster, self-signed
certificate) and for a restart; then the node's resident memory once idle. Targets (issue 2): < 1 s and
< 80 MB. With --workers N (issue 25): also the time until the first worker listens, and the memory of each
process (the supervisor and every worker). PSS counts each shared page once among its sharers (RSS counts
it in each): forked workers share the supervisor's modules.

    .venv/bin/python bench/startup.py [--runs 5] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages (a forked worker's modules, say) split among their sharers."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree(pid: int) -> list[int]:
    return [pid, *(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def start(data: Path, offset: int, workers: int = 1) -> tuple[float, float, float, list[float], float]:
    """(seconds until the first worker is ready, until the node is, idle RSS of the whole node in MB, and of
    each process, PSS of the whole node) of one start."""
    env = {**os.environ, "POLYPORT_POSTMASTER_PASSWORD": "bench-password"}
    data.mkdir(parents=True, exist_ok=True)
    (data / "polyport.toml").write_text(f"[node]\nworkers = {workers}\n")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "polyport", "serve", "--data", str(data), "--domain",
                             "bench.test", "--bind", "127.0.0.1", "--port-offset", str(offset)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    ready = first = None
    for line in proc.stderr:
        if "node.ready" in line:
            first = first or time.perf_counter() - started
            if workers == 1 or "role=supervisor" in line:  # a node of several: every worker is ready
                ready = time.perf_counter() - started
                break
    if ready is None or first is None:
        proc.wait()
        raise SystemExit(f"the node did not start (exit {proc.returncode})")
    time.sleep(1.0)
    pids = tree(proc.pid)
    each = [rss_mb(pid) for pid in pids]
    pss = sum(pss_mb(pid) for pid in pids)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise SystemExit(f"the node exited with {proc.returncode} on SIGTERM")
    return first, ready, sum(each), each, pss


def summary(name: str, values: list[float], unit: str) -> str:
    return (f"{name:<24} median {statistics.median(values):7.3f} {unit}   "
            f"min {min(values):7.3f}   max {max(values):7.3f}   (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="[node] workers")
    args = parser.parse_args()
    first, again, listening, memory, per_process, proportional = [], [], [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "data"
            offset = random.randrange(20000, 40000, 100)
            _, seconds, _, _, _ = start(data, offset, args.workers)
            first.append(seconds)
            one, seconds, rss, each, pss = start(data, offset, args.workers)
            again.append(seconds)
            listening.append(one)
            memory.append(rss)
            per_process.append(each)
            proportional.append(pss)
    print(summary("first start (s)", first, "s"))
    print(summary("restart (s)", again, "s"))
    if args.workers > 1:
        print(summary("restart, 1st worker (s)", listening, "s"))
        for index in range(len(per_process[0])):
            name = "supervisor" if index == 0 else f"worker {index - 1}"
            print(summary(f"idle RSS {name} (MB)", [each[index] for each in per_process], "MB"))
    print(summary("idle RSS (MB)", memory, "MB"))
    print(summary("idle PSS (MB)", proportional, "MB"))

if __name__ == "__main__":
    main()
