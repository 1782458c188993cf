#!/usr/bin/env python3
"""Memory per idle IMAP connection: K connections logged in (state "login") and selected in IDLE (state
"idle"), held open, measured by ../shared/bench/conn_probe.py on the node's process. Target (issue 5):
10,000 logged-in idle connections at <= 20 KB each.

    .venv/bin/python bench/imap_conns.py [--data DIR] [-k 10000] [--states login,idle]
(raises this process's open-file limit to 20000 for the probe and the node it starts)
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse a data folder (users are created once)")
    parser.add_argument("-k", type=int, default=10_000, help="connections")
    parser.add_argument("--states", default="login,idle")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.k + 1000)) if hard != resource.RLIM_INFINITY else args.k + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    data = args.data or Path(tempfile.mkdtemp(prefix="polyport-bench-"))
    mailnode.prepare(data)
    for state in args.states.split(","):
        with mailnode.running(data, max_connections=args.k + 100) as node:
            mailnode.seed(node)  # IDLE selects INBOX; the first logins' argon2 memory is not counted
            mailnode.load("conn_probe.py", ["--proto", "imap", "--port", str(node.imap_port), "-k", str(args.k),
                                            "--state", state, "--users", "100", "--server-pid",
                                            str(node.process.pid)])


if __name__ == "__main__":
    main()
