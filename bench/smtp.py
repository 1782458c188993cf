#!/usr/bin/env python3
"""SMTP delivery rate against Postfix delivering to Maildir, in one interleaved (ABBA) run.

Both take 4 KB messages from ../shared/bench/smtp_load.py over 50 concurrent connections (pipelined
MAIL/RCPT/DATA) for u0001@bench.test. Postfix (port 2525 of ../shared/bench/peers) is measured end to end:
until its Maildir holds every accepted message. Polyport stores before it answers 250, so what it
accepted is on disk. The table at the end has messages/s, p99 and the ratios; target (issue 4): >= 1.5x
Postfix's messages/s. Then RSS of the node with 1,000 idle SMTP connections (conn_probe.py).

    .venv/bin/python bench/smtp.py [--data DIR] [--reps 3] [--seconds 15] [--ours-only] [--workers N]
(needs `bash ../shared/bench/peers/setup.sh` once for Postfix; --ours-only runs without it)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode

PEERS = mailnode.SHARED_BENCH / "peers" / "ctl.sh"
POSTFIX_PORT = 2525
POSTFIX_PIDFILE = "/var/spool/postfix/pid/master.pid"
POSTFIX_MAILDIR = Path("/var/lib/bench/vmail/bench/Maildir")
LOAD = ["-c", "50", "-m", "1000000", "-s", "4096", "--test", "smtp-maildir"]


def postfix_idle() -> None:
    """Wait for Postfix's queue to empty, then clear its Maildir, so each run starts alike."""
    for _ in range(120):
        out = subprocess.run(["postqueue", "-p"], capture_output=True, text=True).stdout
        if "Mail queue is empty" in out:
            break
        time.sleep(0.5)
    for sub in ("new", "cur"):
        for path in (POSTFIX_MAILDIR / sub).glob("*"):
            path.unlink(missing_ok=True)


def run_postfix(seconds: int, results: Path) -> None:
    postfix_idle()
    mailnode.load("smtp_load.py", ["--port", str(POSTFIX_PORT), *LOAD, "--duration", str(seconds),
                                   "--server-pidfile", POSTFIX_PIDFILE, "--count-dir", str(POSTFIX_MAILDIR / "new"),
                                   "--label", "postfix", "--json", str(results)])


def run_ours(node: mailnode.MailNode, seconds: int, results: Path | None) -> None:
    mailnode.load("smtp_load.py", ["--port", str(node.smtp_port), *LOAD, "--duration", str(seconds),
                                   "--server-pidfile", str(node.pidfile), "--label", "ours",
                                   *(["--json", str(results)] if results else [])])


def idle_connections(node: mailnode.MailNode, results: Path | None) -> None:
    mailnode.load("conn_probe.py", ["--proto", "smtp", "--port", str(node.smtp_port), "-k", "1000", "--state",
                                    "greet", "--server-pidfile", str(node.pidfile), "--label", "ours",
                                    *(["--json", str(results)] if results else [])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse a data folder (users are created once)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="the node's worker processes ([node] workers)")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="polyport-bench-"))
    mailnode.prepare(data)
    results = None if args.ours_only else data / f"smtp-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    with mailnode.running(data, workers=args.workers) as node:
        if args.ours_only:
            run_ours(node, args.seconds, None)
            idle_connections(node, None)
            return
        assert results is not None
        subprocess.run(["bash", str(PEERS), "restart", "postfix"], check=True, capture_output=True)
        try:
            for rep in range(args.reps):  # ABBA: who runs second alternates
                if rep % 2:
                    run_ours(node, args.seconds, results)
                    run_postfix(args.seconds, results)
                else:
                    run_postfix(args.seconds, results)
                    run_ours(node, args.seconds, results)
            idle_connections(node, results)
        finally:
            subprocess.run(["bash", str(PEERS), "stop", "postfix"], capture_output=True)
    subprocess.call([sys.executable, str(mailnode.SHARED_BENCH / "summarize.py"), str(results)],
                    cwd=mailnode.SHARED_BENCH)


if __name__ == "__main__":
    main()
