#!/usr/bin/env python3
"""POP3 sessions per second against Dovecot's POP3, in one interleaved run (../shared/bench/run_peers.sh).

Each session: connect, USER/PASS, STAT, LIST, UIDL, RETR x3, QUIT, on mailboxes seeded with 100
messages (bench/mailnode.py starts the node). Target (issue 5): >= 1.0x Dovecot's sessions/s.

    .venv/bin/python bench/pop3.py [--data DIR] [--reps 3] [--seconds 15] [--ours-only]
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
            mailnode.load("pop3_load.py", ["--port", str(node.pop3_port), "-c", "20", "--duration",
                                           str(args.seconds), "--server-pidfile", str(node.pidfile),
                                           "--label", "ours", "--test", "pop3"])
            return
        raise SystemExit(mailnode.run_peers(node, "pop3", args.reps, args.seconds))


if __name__ == "__main__":
    main()
