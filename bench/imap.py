#!/usr/bin/env python3
"""IMAP throughput against Dovecot, in one interleaved run (../shared/bench/run_peers.sh).

Starts a Polyport node (bench/mailnode.py: users u0001..u2000, password benchpass), seeds 100 mailboxes
with 100 messages each through APPEND, then runs the shared imap_load.py against Dovecot and Polyport in
ABBA order: imap-session (a login per iteration) and imap-ops (one login, then SELECT, FETCH flags and
sizes, FETCH bodies, STORE, IDLE). The table at the end has commands/s, p99 and the ratios.
Targets (issue 5): >= 1.0x Dovecot's commands/s with p99 <= 2x Dovecot's.

    .venv/bin/python bench/imap.py [--data DIR] [--reps 3] [--seconds 15] [--ours-only]
(needs `bash ../shared/bench/peers/setup.sh` once for Dovecot; --ours-only runs without it)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse a data folder (users are created once)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--ours-only", action="store_true")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="polyport-bench-"))
    mailnode.prepare(data)
    with mailnode.running(data) as node:
        if args.ours_only:
            mailnode.load("imap_load.py", ["--port", str(node.imap_port), "--seed", "100", "-c", "100"])
            for test, per_login in (("imap-session", "1"), ("imap-ops", "0")):
                mailnode.load("imap_load.py", [
                    "--port", str(node.imap_port), "-c", "20", "--idle-ms", "0", "--iters-per-login", per_login,
                    "--duration", str(args.seconds), "--server-pidfile", str(node.pidfile), "--label", "ours",
                    "--test", test])
            return
        raise SystemExit(mailnode.run_peers(node, "imap-session,imap-ops", args.reps, args.seconds))


if __name__ == "__main__":
    main()
