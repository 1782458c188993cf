#!/usr/bin/env python3
"""Start-up time and idle memory of `polyport serve` on SQLite.

Prints, over several runs (median, min, max): seconds from exec until the node logs `node.ready` (every
listener bound), for a first start on a new data folder (schema, main domain, postmaster, self-signed
certificate) and for a restart; then the node's resident memory once idle. Targets (issue 2): < 1 s and
< 80 MB.

    .venv/bin/python bench/startup.py [--runs 5] [--services cliapi,...]
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


def start(data: Path, offset: int) -> tuple[float, float]:
    """(seconds until ready, idle RSS in MB) of one start."""
    env = {**os.environ, "POLYPORT_POSTMASTER_PASSWORD": "bench-password"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "polyport", "serve", "--data", str(data), "--domain",
                             "bench.test", "--bind", "127.0.0.1", "--port-offset", str(offset)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    ready = None
    for line in proc.stderr:
        if "node.ready" in line:
            ready = time.perf_counter() - started
            break
    if ready is None:
        proc.wait()
        raise SystemExit(f"the node did not start (exit {proc.returncode})")
    time.sleep(1.0)
    memory = rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise SystemExit(f"the node exited with {proc.returncode} on SIGTERM")
    return ready, memory


def summary(name: str, values: list[float], unit: str) -> str:
    return (f"{name:<24} median {statistics.median(values):7.3f} {unit}   "
            f"min {min(values):7.3f}   max {max(values):7.3f}   (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    first, again, memory = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "data"
            offset = random.randrange(20000, 40000, 100)
            seconds, rss = start(data, offset)
            first.append(seconds)
            seconds, rss = start(data, offset)
            again.append(seconds)
            memory.append(rss)
    print(summary("first start (s)", first, "s"))
    print(summary("restart (s)", again, "s"))
    print(summary("idle RSS (MB)", memory, "MB"))


if __name__ == "__main__":
    main()
