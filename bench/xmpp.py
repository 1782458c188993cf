#!/usr/bin/env python3
"""XMPP against Prosody, in one interleaved run, and memory per logged-in idle client.

Starts a Polyport node (bench/mailnode.py: users u0001..u2000 on bench.test, password benchpass), then:
- `msgs`: the shared bench's run_peers.sh test `xmpp` (../shared/bench/xmpp_load.py: 100 clients in 50 pairs,
  one message in flight per sender) against Prosody and Polyport in ABBA order; the table at the end has
  delivered messages/s, p99 and the ratios;
- `conns`: ../shared/bench/conn_probe.py holding K clients logged in (SASL, bound, initial presence) on a
  freshly started Prosody and on a freshly started node, server memory per connection (PSS);
- `logins`: logins per second over a fresh stream each (SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-1, with bind and
  presence), 20 at a time; then SCRAM-SHA-1 against Prosody, ABBA (the one mechanism both offer that is the
  same work on both sides: HMACs, no password hashing), server CPU per login beside each rate.
Targets (issue 16): >= 1.5x Prosody's messages/s; <= 30 KB per logged-in idle client with 10,000 held.

    .venv/bin/python bench/xmpp.py [--data DIR] [--parts msgs,conns,logins] [--reps 3] [--seconds 15]
        [-k 10000] [--workers 1] [--history-days 0] [--ours-only]
(needs `bash ../shared/bench/peers/setup.sh` once for Prosody; raises the open-file limit for the probe)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import hmac
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import mailnode

PROSODY_PIDFILE = "/run/bench/prosody/prosody.pid"
STREAM = ("<?xml version='1.0'?><stream:stream to='bench.test' version='1.0' xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams'>")
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


def messages(node: mailnode.MailNode, args: argparse.Namespace) -> None:
    if args.ours_only:
        mailnode.load("xmpp_load.py", ["--port", str(node.xmpp_port), "-c", "100", "--window", "1", "--duration",
                                       str(args.seconds), "--server-pidfile", str(node.pidfile), "--label", "ours",
                                       "--test", "xmpp"])
        return
    mailnode.run_peers(node, "xmpp", args.reps, args.seconds)


def connections(data: Path, args: argparse.Namespace) -> None:
    probe = ["--proto", "xmpp", "-k", str(args.k), "--state", "login", "--test", f"conn-xmpp-login-{args.k}"]
    if not args.ours_only:
        subprocess.call(["bash", str(mailnode.SHARED_BENCH / "peers" / "ctl.sh"), "restart", "prosody"])
        mailnode.load("conn_probe.py", [*probe, "--port", "15222", "--server-pidfile", PROSODY_PIDFILE,
                                        "--label", "prosody"])
        subprocess.call(["bash", str(mailnode.SHARED_BENCH / "peers" / "ctl.sh"), "stop", "prosody"])
    with mailnode.running(data, max_connections=args.k + 100, workers=args.workers) as node:
        mailnode.load("conn_probe.py", [*probe, "--port", str(node.xmpp_port), "--domain", mailnode.DOMAIN,
                                        "--server-pidfile", str(node.pidfile), "--label", "ours"])


async def read_until(reader: asyncio.StreamReader, marker: bytes, buffer: bytearray) -> bytes:
    while marker not in buffer:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError("the server closed the stream")
        buffer += chunk
    end = buffer.index(marker) + len(marker)
    taken = bytes(buffer[:end])
    del buffer[:end]
    return taken


def between(text: bytes, start: bytes, end: bytes) -> bytes:
    return text.split(start, 1)[1].split(end, 1)[0]


@functools.cache
def salted_password(salt: str, iterations: int, digest: str) -> bytes:
    """Kept, as clients keep it (RFC 5802 5.1): the bench measures the server's work, not PBKDF2 here."""
    return hashlib.pbkdf2_hmac(digest, mailnode.PASSWORD.encode(), base64.b64decode(salt), iterations)


async def login(port: int, user: str, mechanism: str) -> None:
    """One client's whole login: stream, SASL, restart, bind, initial presence; then it leaves."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    buffer = bytearray()
    writer.write(STREAM.encode())
    await read_until(reader, b"</stream:features>", buffer)
    if mechanism == "PLAIN":
        token = base64.b64encode(f"\0{user}\0{mailnode.PASSWORD}".encode()).decode()
        writer.write(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>".encode())
    else:  # SCRAM-SHA-256 (RFC 7677) or SCRAM-SHA-1 (RFC 5802), the client's side
        digest = "sha1" if mechanism == "SCRAM-SHA-1" else "sha256"
        nonce = secrets.token_urlsafe(18)
        first_bare = f"n={user},r={nonce}"
        token = base64.b64encode(f"n,,{first_bare}".encode()).decode()
        writer.write(f"<auth xmlns='{SASL}' mechanism='{mechanism}'>{token}</auth>".encode())
        challenge = base64.b64decode(between(await read_until(reader, b"</challenge>", buffer), b">", b"<"))
        fields = dict(item.split("=", 1) for item in challenge.decode().split(","))
        salted = salted_password(fields["s"], int(fields["i"]), digest)
        client_key = hmac.digest(salted, b"Client Key", digest)
        final_bare = f"c=biws,r={fields['r']}"
        message = f"{first_bare},{challenge.decode()},{final_bare}".encode()
        signature = hmac.digest(hashlib.new(digest, client_key).digest(), message, digest)
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
        answer = base64.b64encode(f"{final_bare},p={proof}".encode()).decode()
        writer.write(f"<response xmlns='{SASL}'>{answer}</response>".encode())
    outcome = await read_until(reader, b"success", buffer)
    if b"failure" in outcome:
        raise RuntimeError(f"{user}: authentication failed")
    await read_until(reader, b">", buffer)
    buffer.clear()
    writer.write(STREAM.encode())
    await read_until(reader, b"</stream:features>", buffer)
    writer.write(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq><presence/>")
    await read_until(reader, b"</iq>", buffer)
    writer.write(b"</stream:stream>")
    await writer.drain()
    writer.close()


async def login_rate(port: int, mechanism: str, seconds: float, concurrency: int = 20) -> tuple[float, float]:
    """Logins per second and the median login's milliseconds."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        while time.perf_counter() < deadline:
            user = f"u{next(counter) % 2000 + 1:04d}"
            started = time.perf_counter()
            await login(port, user, mechanism)
            times.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(times) / (time.perf_counter() - started), statistics.median(times) * 1000


async def warm(port: int) -> None:
    users = iter(range(1, mailnode.USERS + 1))

    async def client() -> None:
        for n in users:
            await login(port, f"u{n:04d}", "PLAIN")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(20)))
    print(f"# every user logged in once (argon2id checks) in {time.perf_counter() - started:.0f} s", flush=True)


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logins(node: mailnode.MailNode, args: argparse.Namespace) -> None:
    # Every user logs in once first: the first login of an account checks its argon2id hash (the same work
    # as any server's first), later ones use the credential cache, as a client's reconnects do.
    asyncio.run(warm(node.xmpp_port))
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"):
        rate, median = asyncio.run(login_rate(node.xmpp_port, mechanism, args.seconds))
        print(f"logins ours {mechanism}: {rate:.0f}/s, median {median:.1f} ms (20 at a time)", flush=True)
    if args.ours_only:
        return
    ctl = ["bash", str(mailnode.SHARED_BENCH / "peers" / "ctl.sh")]
    subprocess.call([*ctl, "restart", "prosody"])
    time.sleep(1)
    ours_pid = int(Path(node.pidfile).read_text().split()[0])
    prosody_pid = int(Path(PROSODY_PIDFILE).read_text().split()[0])
    results: dict[str, list[tuple[float, float, float]]] = {"prosody": [], "ours": []}
    try:
        for label in ("prosody", "ours", "ours", "prosody") * max(1, args.reps // 2):
            port, pid = (15222, prosody_pid) if label == "prosody" else (node.xmpp_port, ours_pid)
            before = cpu_seconds(pid)
            rate, median = asyncio.run(login_rate(port, "SCRAM-SHA-1", args.seconds))
            cpu_ms = (cpu_seconds(pid) - before) * 1000 / max(1.0, rate * args.seconds)
            results[label].append((rate, median, cpu_ms))
            print(f"logins {label} SCRAM-SHA-1: {rate:.0f}/s, median {median:.1f} ms, server cpu {cpu_ms:.2f} ms/login",
                  flush=True)
    finally:
        subprocess.call([*ctl, "stop", "prosody"])
    ours = statistics.median(r for r, _, _ in results["ours"])
    theirs = statistics.median(r for r, _, _ in results["prosody"])
    ours_cpu = statistics.median(c for _, _, c in results["ours"])
    theirs_cpu = statistics.median(c for _, _, c in results["prosody"])
    print(f"logins SCRAM-SHA-1 ours/prosody: {ours:.0f}/{theirs:.0f} = {ours / theirs:.2f}x, "
          f"server cpu per login {ours_cpu:.2f}/{theirs_cpu:.2f} ms = {ours_cpu / theirs_cpu:.2f}x", flush=True)


async def set_history_days(data: Path, days: str) -> None:
    """The server's default ChatHistoryDays (the archive: "0" measures without it), set on the data folder
    before the node starts."""
    from polyport.auth.passwords import PasswordHasher
    from polyport.directory import Directory
    from polyport.store import open_records

    store = await open_records("", data, pool_size=2)
    hasher = PasswordHasher()
    try:
        await Directory(store, hasher).update_server_account_defaults({"ChatHistoryDays": days})
    finally:
        hasher.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse a data folder (users are created once)")
    parser.add_argument("--parts", default="msgs,conns,logins")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("-k", type=int, default=10_000, help="connections the memory probe holds")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--history-days", default="default",
                        help="the accounts' ChatHistoryDays while measuring (0: no archive; default: 365)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.k + 1000 if hard == resource.RLIM_INFINITY else min(hard, max(soft, args.k + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    data = args.data or Path(tempfile.mkdtemp(prefix="polyport-bench-"))
    mailnode.prepare(data)
    asyncio.run(set_history_days(data, args.history_days))
    parts = args.parts.split(",")
    if "msgs" in parts or "logins" in parts:
        with mailnode.running(data, workers=args.workers) as node:
            if "logins" in parts:
                logins(node, args)
            if "msgs" in parts:
                messages(node, args)
    if "conns" in parts:
        connections(data, args)


if __name__ == "__main__":
    main()
