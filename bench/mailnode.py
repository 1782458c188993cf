"""A Polyport node for the mail benchmarks: a data folder with the shared bench's users (u0001..u2000 on
bench.test, password benchpass, production argon2id settings), IMAP, POP3, SMTP and XMPP on free loopback ports, run
as its own process (`polyport serve`, uvloop) with a pid file for the load generators' CPU and memory
figures. Used by bench/imap.py, bench/pop3.py, bench/smtp.py, bench/imap_conns.py and bench/xmpp.py.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USERS = 2000
PASSWORD = "benchpass"
DOMAIN = "bench.test"
SHARED_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def populate(data: Path, users: int) -> None:
    from polyport.auth.passwords import PasswordHasher
    from polyport.directory import Directory
    from polyport.node import POSTMASTER_PASSWORD_ENV, initialize
    from polyport.store import open_records

    store = await open_records("", data, pool_size=8)
    hasher = PasswordHasher()
    try:
        directory = Directory(store, hasher)
        os.environ.setdefault(POSTMASTER_PASSWORD_ENV, "bench-postmaster")
        await initialize(directory, DOMAIN)
        names = iter(range(1, users + 1))

        async def worker() -> None:
            for i in names:
                await directory.create_account(f"u{i:04d}@{DOMAIN}", password=PASSWORD)

        await asyncio.gather(*(worker() for _ in range(8)))
    finally:
        hasher.close()
        await store.close()


@dataclass
class MailNode:
    data: Path
    imap_port: int
    pop3_port: int
    smtp_port: int
    xmpp_port: int
    pidfile: Path
    process: subprocess.Popen[bytes]


def prepare(data: Path, users: int = USERS) -> None:
    """Create the data folder and its users once (argon2id hashing takes a while)."""
    marker = data / ".bench-users"
    if marker.exists() and int(marker.read_text()) >= users:
        return
    data.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    asyncio.run(populate(data, users))
    marker.write_text(str(users))
    print(f"# created {users} users in {time.perf_counter() - started:.0f} s", flush=True)


@contextmanager
def running(data: Path, *, max_connections: int = 20_000, workers: int = 1) -> Iterator[MailNode]:
    imap_port, pop3_port, smtp_port, xmpp_port = free_port(), free_port(), free_port(), free_port()
    from polyport.service_table import SERVICES

    # Every other built service on any free port (0): none may land on a privileged or busy one.
    others = "".join(f"[services.{s.name}]\nports = [0]\n" for s in SERVICES
                     if s.built and s.name not in ("imap", "pop3", "smtp", "xmpp"))
    config = data / "bench.toml"
    config.write_text(
        f'[node]\ndata = "{data}"\nmain_domain = "{DOMAIN}"\nworkers = {workers}\n[log]\nlevel = "warning"\n'
        f"[services.imap]\nports = [{imap_port}]\nmax_connections = {max_connections}\n"
        f"max_per_address = {max_connections}\n"
        f"[services.pop3]\nports = [{pop3_port}]\nmax_connections = {max_connections}\n"
        f"max_per_address = {max_connections}\n"
        f"[services.smtp]\nports = [{smtp_port}]\nmax_connections = {max_connections}\n"
        f"max_per_address = {max_connections}\n"
        f"[services.xmpp]\nports = [{xmpp_port}]\nmax_connections = {max_connections}\n"
        f"max_per_address = {max_connections}\n"
        f"{others}")
    process = subprocess.Popen([sys.executable, "-m", "polyport", "serve", "--config", str(config), "--bind",
                                "127.0.0.1"], stdout=subprocess.DEVNULL)
    pidfile = data / "bench.pid"
    pidfile.write_text(str(process.pid))
    try:
        deadline = time.monotonic() + 30
        waiting = [imap_port, pop3_port, smtp_port, xmpp_port]
        while waiting:
            try:
                socket.create_connection(("127.0.0.1", waiting[0]), timeout=1).close()
                waiting.pop(0)
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the node did not start") from None
                time.sleep(0.05)
        yield MailNode(data, imap_port, pop3_port, smtp_port, xmpp_port, pidfile, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def run_peers(node: MailNode, tests: str, reps: int, seconds: int) -> int:
    """The shared bench's interleaved peer-vs-ours run; prints its table."""
    env = {**os.environ, "OURS_PIDFILE": str(node.pidfile), "OURS_IMAP_PORT": str(node.imap_port),
           "OURS_POP3_PORT": str(node.pop3_port), "OURS_SMTP_PORT": str(node.smtp_port),
           "OURS_XMPP_PORT": str(node.xmpp_port)}
    return subprocess.call(["bash", str(SHARED_BENCH / "run_peers.sh"), "--ours", "-t", tests, "-r", str(reps),
                            "-d", str(seconds)], cwd=SHARED_BENCH, env=env)


def load(script: str, args: list[str]) -> int:
    """One of the shared load generators against ours only (no peers installed, or a quick look)."""
    return subprocess.call([sys.executable, str(SHARED_BENCH / script), *args], cwd=SHARED_BENCH)


def seed(node: MailNode) -> None:
    """The load tests' mailboxes (u0001..u0100 with 100 messages each, through APPEND; a no-op once done).
    It also logs each user in once, so the first logins' argon2 work is not measured."""
    load("imap_load.py", ["--port", str(node.imap_port), "--seed", "100", "-c", "100"])


def check_seeded(node: MailNode, users: int = 100, messages: int = 100) -> None:
    """Refuse to measure mailboxes that are not the seeded ones: a data folder that bench/smtp.py used
    holds tens of thousands of messages in u0001's INBOX, and a figure measured on it means nothing."""
    for k in range(1, users + 1):
        with imaplib.IMAP4("127.0.0.1", node.imap_port) as client:
            client.login(f"u{k:04d}", PASSWORD)
            _, [answer] = client.status("INBOX", "(MESSAGES)")
            held = int(answer.split(b"MESSAGES ")[1].rstrip(b")"))
            if held != messages:
                raise SystemExit(f"u{k:04d}'s INBOX holds {held} messages, not the {messages} seeded: "
                                 "measure on a fresh data folder (leave out --data)")


def peer_bench(doc: str | None, tests: str, ours_only: Callable[[MailNode, int], None]) -> None:
    """The command line of bench/imap.py and bench/pop3.py: a node, then the shared bench's interleaved run
    of `tests` against the peer, or with --ours-only `ours_only(node, seconds)` alone."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse a data folder (users are created once)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--ours-only", action="store_true")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="polyport-bench-"))
    prepare(data)
    with running(data) as node:
        seed(node)
        check_seeded(node)
        if args.ours_only:
            ours_only(node, args.seconds)
            return
        raise SystemExit(run_peers(node, tests, args.reps, args.seconds))
