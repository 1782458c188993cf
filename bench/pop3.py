#!/usr/bin/env python3
"""POP3 sessions per second against Dovecot's POP3, in one interleaved run (../shared/bench/run_peers.sh).

Each session: connect, USER/PASS, STAT, LIST, UIDL, RETR x3, QUIT, on mailboxes seeded with 100
messages (bench/mailnode.py starts the node). Target (issue 5): >= 1.0x Dovecot's sessions/s.

    .venv/bin/python bench/pop3.py [--data DIR] [--reps 3] [--seconds 15] [--ours-only]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode


def ours_only(node: mailnode.MailNode, seconds: int) -> None:
    mailnode.load("pop3_load.py", ["--port", str(node.pop3_port), "-c", "20", "--duration", str(seconds),
                                   "--server-pidfile", str(node.pidfile), "--label", "ours", "--test", "pop3"])


if __name__ == "__main__":
    mailnode.peer_bench(__doc__, "pop3", ours_only)
