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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode


def ours_only(node: mailnode.MailNode, seconds: int) -> None:
    for test, per_login in (("imap-session", "1"), ("imap-ops", "0")):
        mailnode.load("imap_load.py", [
            "--port", str(node.imap_port), "-c", "20", "--idle-ms", "0", "--iters-per-login", per_login,
            "--duration", str(seconds), "--server-pidfile", str(node.pidfile), "--label", "ours", "--test", test])


if __name__ == "__main__":
    mailnode.peer_bench(__doc__, "imap-session,imap-ops", ours_only)
