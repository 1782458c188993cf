"""A node of two worker processes under a supervisor, over real sockets: the kernel spreads connections
over both workers; a delivery in one wakes IDLE in the other; failed logins count across workers; a
worker killed with -9 is replaced on the same sockets; a worker whose supervisor is killed stops; a port
another program holds fails the start with the port named."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from polyport import datadir
from polyport.node import POSTMASTER_PASSWORD_ENV, StartupError
from polyport.workers.supervisor import Supervisor
from tests.node_thread import POSTMASTER_PASSWORD, free_port, node_config

pytestmark = [pytest.mark.slow, pytest.mark.processes]

ACCOUNT = "postmaster@example.com"


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    sup = Supervisor(node_config(tmp_path / "data", "imap", 0), 2)
    await sup.start()
    try:
        yield sup
    finally:
        await sup.stop(grace=1.0)


def port_of(sup: Supervisor, service: str) -> int:
    return next(b.port for b in sup.bound if b.service == service)


class Imap:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Imap:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        return cls(reader, writer)

    async def command(self, line: str) -> list[bytes]:
        tag = line.split()[0].encode()
        self.writer.write(line.encode() + b"\r\n")
        lines = []
        while True:
            got = await asyncio.wait_for(self.reader.readline(), 10)
            assert got, "the server closed the connection"
            lines.append(got)
            if got.startswith(tag + b" "):
                return lines

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def connections_by_worker(sup: Supervisor, service: str) -> dict[int, int]:
    answers = await sup.ask("stats")
    return {index: (answer or {}).get("connections", {}).get(service, 0) for index, answer in answers.items()}


async def test_a_delivery_in_one_worker_wakes_idle_in_the_other(supervisor: Supervisor) -> None:
    port = port_of(supervisor, "imap")
    clients = []
    for _ in range(16):  # both workers get some: all on one has a chance of 2 in 65,536
        client = await Imap.connect(port)
        assert (await client.command(f"a LOGIN {ACCOUNT} {POSTMASTER_PASSWORD}"))[-1].startswith(b"a OK")
        await client.command("b SELECT INBOX")
        client.writer.write(b"c IDLE\r\n")
        assert (await client.reader.readline()).startswith(b"+")
        clients.append(client)
    spread = await connections_by_worker(supervisor, "imap")
    assert sorted(spread) == [0, 1] and all(n > 0 for n in spread.values()), spread
    # /metrics, whichever worker answers, counts the node's connections: every worker's summed.
    for _ in range(4):
        text = await asyncio.to_thread(_get, port_of(supervisor, "webadmin"), "/metrics")
        assert 'polyport_connections_total{service="imap"} 16.0' in text
        assert 'polyport_connections_open{service="imap"} 16.0' in text

    smtp_port = port_of(supervisor, "smtp")
    await asyncio.to_thread(_send, smtp_port)
    sent = time.monotonic()
    for client in clients:
        line = await asyncio.wait_for(client.reader.readline(), 5)
        assert line == b"* 1 EXISTS\r\n"
    assert time.monotonic() - sent < 1.0  # the issue asks for 100 ms; a loaded test machine gets slack
    for client in clients:
        await client.close()


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return str(response.read().decode())


def _send(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("someone@example.org", [ACCOUNT], b"Subject: hello\r\n\r\nbody\r\n")


async def test_uids_stay_unique_and_ascending_under_appends_from_both_workers(supervisor: Supervisor) -> None:
    port = port_of(supervisor, "imap")
    clients = [await Imap.connect(port) for _ in range(8)]
    for client in clients:
        await client.command(f"a LOGIN {ACCOUNT} {POSTMASTER_PASSWORD}")

    async def append(client: Imap, n: int) -> list[int]:
        uids = []
        for i in range(n):
            message = f"Subject: {i}\r\n\r\nbody\r\n".encode()
            client.writer.write(b"t APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n")
            reply = await asyncio.wait_for(client.reader.readline(), 10)
            assert reply.startswith(b"t OK [APPENDUID "), reply
            uids.append(int(reply.split()[4].rstrip(b"]")))
        return uids

    results = await asyncio.gather(*(append(client, 10) for client in clients))
    every = [uid for uids in results for uid in uids]
    assert len(set(every)) == 80
    for uids in results:
        assert uids == sorted(uids)  # each client's appends in order
    status = await clients[0].command("s STATUS INBOX (MESSAGES UIDNEXT)")
    assert b"MESSAGES 80" in status[0] and b"UIDNEXT %d" % (max(every) + 1) in status[0]
    for client in clients:
        await client.close()


def _counted(text: str, sample: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample))


async def test_a_killed_worker_is_replaced_on_the_same_sockets(supervisor: Supervisor) -> None:
    port = port_of(supervisor, "imap")
    for _ in range(8):
        client = await Imap.connect(port)
        await client.close()
    await supervisor.hub.remember_metrics()  # as every status refresh does
    webadmin = port_of(supervisor, "webadmin")
    counted = _counted(await asyncio.to_thread(_get, webadmin, "/metrics"), "polyport_connections_total{")
    before = await supervisor.ask("stats")
    victim = before[1]["pid"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        answers = await supervisor.ask("stats")
        pids = {index: (answer or {}).get("pid") for index, answer in answers.items()}
        if pids.get(1) not in (None, victim):
            break
        assert time.monotonic() < deadline, "worker 1 was not restarted"
        await asyncio.sleep(0.2)
    assert pids[0] == before[0]["pid"]
    assert supervisor.workers[1].restarts == 1
    # The status file (`polyport services`) names the new process and the restart.
    deadline = time.monotonic() + 10
    while True:
        status = datadir.read_status(supervisor.config.data_dir)
        assert status is not None
        if [(w.index, w.pid, w.restarts) for w in status.workers] == [(0, pids[0], 0), (1, pids[1], 1)]:
            break
        assert time.monotonic() < deadline, status.workers
        await asyncio.sleep(0.2)
    # What the killed worker counted is still in the node's counters (no false reset for Prometheus).
    assert _counted(await asyncio.to_thread(_get, webadmin, "/metrics"), "polyport_connections_total{") >= counted
    # Every connection is served: none is left on a socket nobody accepts on.
    for _ in range(12):
        client = await Imap.connect(port)
        assert (await client.command("a NOOP"))[-1].startswith(b"a OK")
        await client.close()


async def test_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        sup = Supervisor(node_config(tmp_path / "data", "imap", port), 2)
        with pytest.raises(StartupError, match=f"port {port}/tcp \\(imap\\).*already in use"):
            await sup.start()
    assert datadir.read_status(tmp_path / "data") is None


async def test_failed_logins_count_across_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    config = node_config(tmp_path / "data", "imap", 0)
    config.auth.max_failures_per_account = 3
    sup = Supervisor(config, 2)
    await sup.start()
    try:
        port = port_of(sup, "imap")
        clients = [await Imap.connect(port) for _ in range(12)]
        spread = await connections_by_worker(sup, "imap")
        assert all(n > 0 for n in spread.values()), spread
        for client in clients[:4]:  # one over the limit, whichever workers they reached
            await client.command(f"a LOGIN {ACCOUNT} wrong-password")
        # Now the account is locked out in both workers, even with the right password.
        for client in clients[4:]:
            reply = await client.command(f"a LOGIN {ACCOUNT} {POSTMASTER_PASSWORD}")
            assert reply[-1].startswith(b"a NO"), reply
        for client in clients:
            await client.close()
    finally:
        await sup.stop(grace=1.0)


def serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """`polyport serve` with two workers; its process, data folder and log file, once it is ready."""
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\ndata = "{data}"\nmain_domain = "example.com"\nbind = "127.0.0.1"\nworkers = 2\n'
                      f"shutdown_grace = 2.0\n[auth]\nargon2_memory_kib = 8192\nargon2_time_cost = 1\n"
                      f"[services.imap]\nports = [{port}]\n"
                      + "".join(f"[services.{name}]\nports = [0]\n" for name in
                                ("smtp", "submission", "smtps", "lmtp", "pop3", "pop3s", "imaps", "http", "https",
                                 "webuser", "webusers", "webadmin", "webadmins", "cliapi", "cliapi-tls")))
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "polyport", "serve", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=out)
    deadline = time.monotonic() + 30
    while datadir.read_status(data) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()  # its workers follow (their channel closes)
            raise AssertionError(log.read_text())
        time.sleep(0.1)
    return process, data, log


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sighup_reaches_every_worker_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    process, data, log = serve(tmp_path)
    try:
        children = _children(process.pid)
        assert len(children) == 2
        # Forked by the supervisor once it had imported the modules (workers/worker.py's fork_workers), not
        # started as programs of their own: the same command line as it.
        assert {_cmdline(pid) for pid in children} == {_cmdline(process.pid)}
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: {f"worker={i}" for i in (0, 1)} <= {
            part for line in log.read_text().splitlines() if "tls.reloaded" in line for part in line.split()},
            "a worker did not re-read its certificate")
        status = datadir.read_status(data)
        assert status is not None
        imap = next(b.port for b in status.listeners if b.service == "imap")
        # A client in the middle of a session when the node is told to stop: it is told so, and the node ends.
        with socket.create_connection(("127.0.0.1", imap)) as client:
            assert client.recv(200).startswith(b"* OK")
            process.send_signal(signal.SIGTERM)
            client.settimeout(10)
            assert client.recv(200).startswith(b"* BYE")
            assert process.wait(15) == 0
        assert not any(_alive(pid) for pid in children)
        assert datadir.read_status(data) is None
        stopped = [line for line in log.read_text().splitlines() if "node.stopped" in line]
        assert any("role=supervisor" in line for line in stopped) and len(stopped) == 3
    finally:
        if process.poll() is None:
            process.kill()


def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    process, _, _ = serve(tmp_path)
    try:
        children = _children(process.pid)
        assert len(children) == 2
        process.kill()
        process.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


class SmtpSink:
    """A remote mail host that takes every message (no TLS, no checks) and keeps what arrived."""

    def __init__(self, pause: float = 0.0) -> None:
        self.messages: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.pause = pause  # before answering DATA: connections overlap if several senders are at work
        self.open = self.most_open = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self._converse(reader, writer)
        finally:
            self.open -= 1

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go on\r\n")
                body = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    body += chunk
                await asyncio.sleep(self.pause)
                self.messages.append(body)
                writer.write(b"250 2.0.0 taken\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
        writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_one_worker_sends_the_queue_and_the_others_wake_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.dnsfixture import DnsFixture

    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    sink = SmtpSink(pause=0.05)
    sink_port = await sink.start()
    dns = DnsFixture()
    dns.add("remote.test", "MX", "10 mx.remote.test.")
    dns.add("mx.remote.test", "A", "127.0.0.1")
    config = node_config(tmp_path / "data", "smtp", 0, f"[queue]\nremote_port = {sink_port}\nper_destination = 1\n",
                         dns=dns.server)
    sup = Supervisor(config, 2)
    await sup.start()
    try:
        port = port_of(sup, "smtp")
        for i in range(12):  # over both workers (loopback is trusted: it may relay)
            await asyncio.to_thread(_relay, port, i)
        deadline = time.monotonic() + 10
        while len(sink.messages) < 12:
            assert time.monotonic() < deadline, f"{len(sink.messages)} of 12 sent"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing sent twice
        subjects = sorted(int(m.split(b"Subject: n")[1].split(b"\r\n")[0]) for m in sink.messages)
        assert subjects == list(range(12))
        assert sink.most_open == 1  # one sender, within its limit of one connection to the destination
    finally:
        await sup.stop(grace=1.0)
        sink.close()
        dns.close()


def _relay(port: int, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("someone@example.com", ["far@remote.test"], f"Subject: n{n}\r\n\r\nbody\r\n".encode())


async def test_trusted_networks_changed_in_one_worker_apply_in_all(supervisor: Supervisor) -> None:
    from polyport.cliapi.client import CliClient

    port = port_of(supervisor, "cliapi")
    admin = await CliClient.connect("127.0.0.1", port)
    await admin.login(ACCOUNT, POSTMASTER_PASSWORD)
    await admin.command('SETLANIPS "10.9.0.0/16"')  # loopback is no longer trusted
    await admin.close()
    await asyncio.sleep(0.3)  # the event reaches the other worker
    refused = 0
    for _ in range(12):  # over both workers: the CLI/API answers trusted networks only
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = await asyncio.wait_for(reader.read(200), 5)
        refused += not greeting.startswith(b"200")
        writer.close()
    assert refused == 12


async def test_connections_per_address_count_across_workers(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    # Loopback untrusted, three connections an address: whichever workers they reach.
    config = node_config(tmp_path / "data", "imap", 0, "max_per_address = 3\n[network]\ntrusted = [\"10.9.0.0/16\"]\n")
    config.services["webuser"].max_per_address = 3
    sup = Supervisor(config, 2)
    await sup.start()
    try:
        port = port_of(sup, "imap")
        greetings = []
        for _ in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            greetings.append((await asyncio.wait_for(reader.readline(), 5), writer))
        admitted = [writer for greeting, writer in greetings if greeting.startswith(b"* OK")]
        assert len(admitted) == 3, [g for g, _ in greetings]
        assert all(b"Too many connections" in g or g.startswith(b"* BYE") for g, _ in greetings
                   if not g.startswith(b"* OK"))
        admitted[0].close()  # one leaves: one more may come
        await asyncio.sleep(0.3)
        for _ in range(4):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if (await asyncio.wait_for(reader.readline(), 5)).startswith(b"* OK"):
                break
            writer.close()
        else:
            raise AssertionError("no connection admitted after one closed")
        # The web's ports too: an HTTP 503 past the third.
        web = port_of(sup, "webuser")
        answers = []
        for _ in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", web)
            writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append((await asyncio.wait_for(reader.readline(), 5), writer))
        assert sum(status.startswith(b"HTTP/1.1 200") for status, _ in answers) == 3, [s for s, _ in answers]
        assert all(status.startswith(b"HTTP/1.1 503") for status, _ in answers if b" 200" not in status)
        for _, writer in answers:
            writer.close()
    finally:
        await sup.stop(grace=1.0)


async def _logins(port: int, account: str, password: str, count: int = 12) -> list[bool]:
    results = []
    for _ in range(count):
        client = await Imap.connect(port)
        reply = await client.command(f"a LOGIN {account} {password}")
        results.append(reply[-1].startswith(b"a OK"))
        await client.close()
    return results


async def test_a_password_change_and_a_quota_hold_in_every_worker(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    config = node_config(tmp_path / "data", "imap", 0)
    config.auth.max_failures_per_address = 100  # the old password is tried 12 times on purpose
    supervisor = Supervisor(config, 2)
    await supervisor.start()
    try:
        await _password_and_quota(supervisor)
    finally:
        await supervisor.stop(grace=1.0)


async def _password_and_quota(supervisor: Supervisor) -> None:
    from polyport.cliapi.client import CliClient

    admin = await CliClient.connect("127.0.0.1", port_of(supervisor, "cliapi"))
    await admin.login(ACCOUNT, POSTMASTER_PASSWORD)
    await admin.command('CREATEACCOUNT "walter@example.com" {Password="old-pass-1"; MaxAccountSize=8K;}')
    imap = port_of(supervisor, "imap")
    assert await _logins(imap, "walter@example.com", "old-pass-1") == [True] * 12  # both workers cache it
    await admin.command('SETACCOUNTPASSWORD "walter@example.com" PASSWORD "new-pass-2"')
    await admin.close()
    assert await _logins(imap, "walter@example.com", "old-pass-1") == [False] * 12
    assert await _logins(imap, "walter@example.com", "new-pass-2") == [True] * 12

    # 8 clients over both workers append 1 KB messages together: the account's 8 KB hold.
    clients = [await Imap.connect(imap) for _ in range(8)]
    for client in clients:
        await client.command("a LOGIN walter@example.com new-pass-2")

    async def fill(client: Imap) -> int:
        taken = 0
        for _ in range(4):
            message = b"Subject: filler\r\n\r\n" + b"x" * 1000 + b"\r\n"
            client.writer.write(b"t APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n")
            reply = await asyncio.wait_for(client.reader.readline(), 10)
            taken += reply.startswith(b"t OK")
        return taken

    taken = sum(await asyncio.gather(*(fill(client) for client in clients)))
    status = await clients[0].command("s STATUS INBOX (MESSAGES SIZE)")
    size = int(status[0].split(b"SIZE ")[1].split(b")")[0])
    assert 0 < taken < 32 and size <= 8 * 1024, (taken, size)
    for client in clients:
        await client.close()


async def test_a_replacement_that_fails_to_start_is_tried_again(supervisor: Supervisor) -> None:
    working = supervisor.worker_command
    supervisor.worker_command = [sys.executable, "-c", "import sys; sys.exit(3)"]  # dies before it is ready
    victim = (await supervisor.ask("stats"))[1]["pid"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while supervisor.workers[1].restarts < 2:  # tried, died young, tried again after a longer pause
        assert time.monotonic() < deadline, supervisor.workers[1].restarts
        await asyncio.sleep(0.1)
    supervisor.worker_command = working
    deadline = time.monotonic() + 30
    while (await supervisor.ask("stats")).get(1) is None:
        assert time.monotonic() < deadline, "worker 1 never came back"
        await asyncio.sleep(0.2)
    port = port_of(supervisor, "imap")
    for _ in range(12):  # nothing left on a socket nobody accepts on
        client = await Imap.connect(port)
        assert (await client.command("a NOOP"))[-1].startswith(b"a OK")
        await client.close()
