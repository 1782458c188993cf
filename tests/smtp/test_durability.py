"""What the MX acknowledged survives `kill -9` at once, stored exactly once (a real `polyport serve`)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.node_thread import ThreadedNode, free_port, node_config

pytestmark = pytest.mark.slow


def serve(data: Path, config: Path) -> subprocess.Popen[bytes]:
    # The log to a file: a pipe nobody reads fills up and stops the node at its next line.
    with (data.parent / "node.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "polyport", "serve", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=log,
                                env={**os.environ, "POLYPORT_POSTMASTER_PASSWORD": "pm-secret-1"})


def wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the node did not start")


def sender(port: int, acked: list[int], stop: threading.Event, offset: int) -> None:
    """Messages one after another, pipelined; each number is recorded once its 250 has arrived."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        file = sock.makefile("rb")

        def reply() -> int:
            while True:
                line = file.readline()
                if not line:
                    raise ConnectionError
                if line[3:4] != b"-":
                    return int(line[:3])

        reply()
        sock.sendall(b"EHLO killer.test\r\n")
        reply()
        n = offset
        while not stop.is_set():
            n += 1
            sock.sendall(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n")
            assert [reply(), reply(), reply()] == [250, 250, 354]
            sock.sendall(b"Subject: msg-%d\r\n\r\n" % n + b"body line\r\n" * 50 + b".\r\n")
            if reply() == 250:
                acked.append(n)
    except (ConnectionError, OSError):
        pass  # the node was killed under us


def started(tmp_path: Path, workers: int = 1) -> tuple[Path, int, subprocess.Popen[bytes]]:
    """`polyport serve` on a new data folder with the account victim@example.com: (data, SMTP port, process)."""
    data = tmp_path / "data"
    port = free_port()
    config = tmp_path / "node.toml"
    config.write_text(_config_text(data, port, workers))
    proc = serve(data, config)
    wait_for(port, proc, tmp_path / "node.log")
    subprocess.run([sys.executable, "-m", "polyport", "account", "add", "victim@example.com", "--data", str(data),
                    "--config", str(config), "--password", "victim-pass-1"], check=True, capture_output=True)
    return data, port, proc


def test_acknowledged_mail_survives_sigkill(tmp_path: Path) -> None:
    data, port, proc = started(tmp_path)
    acked: list[int] = []
    stop = threading.Event()
    threads = [threading.Thread(target=sender, args=(port, acked, stop, i * 1_000_000)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)  # in the middle of the traffic
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) > 20, "too few messages acknowledged before the kill to mean anything"

    check_stored(data, acked)


@pytest.mark.processes
def test_acknowledged_mail_survives_killing_a_worker_then_the_whole_node(tmp_path: Path) -> None:
    """[node] workers = 2: one worker killed with -9 under load (the other goes on, the supervisor starts
    another), more load, then the supervisor and every worker at once."""
    data, port, proc = started(tmp_path, workers=2)
    acked: list[int] = []
    stop = threading.Event()
    threads = [threading.Thread(target=sender, args=(port, acked, stop, i * 1_000_000)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        workers = _children(proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)  # one worker, in the middle of its traffic
        deadline = time.monotonic() + 15
        while len(set(_children(proc.pid)) - {workers[0]}) < 2:  # the supervisor starts another
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        time.sleep(0.5)
        before = len(acked)
        more = [threading.Thread(target=sender, args=(port, acked, stop, (10 + i) * 1_000_000)) for i in range(4)]
        threads += more
        for t in more:
            t.start()
        time.sleep(1.5)
        assert len(acked) > before + 20, f"the node stopped taking mail when one worker died ({before} -> {len(acked)})"
    finally:
        everything = [proc.pid, *_children(proc.pid)] if proc.poll() is None else []
        for pid in everything:  # the whole node at once (and never left running by a failed assertion)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            if t.ident is not None:  # started
                t.join(10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in everything[1:]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    check_stored(data, acked)


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def check_stored(data: Path, acked: list[int]) -> None:
    """Open the data folder again: every acknowledged message is there, none twice."""
    running = ThreadedNode(node_config(data, "smtp", free_port())).start()
    try:
        async def subjects() -> list[int]:
            runtime = running.runtime
            account = await runtime.directory.account("victim@example.com")
            box = await runtime.mailstore.mailbox(account.id, "INBOX")
            blobs = await runtime.mailstore.blob_ids(box.id, 1, 2**32 - 1)
            found = []
            for uid in sorted(blobs):
                text = await runtime.mailstore.read(blobs[uid])
                match = re.search(rb"Subject: msg-(\d+)", text)
                assert match is not None
                found.append(int(match.group(1)))
            return found

        stored = running.call(subjects())
    finally:
        running.stop()
    assert len(stored) == len(set(stored)), "a message was stored twice"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged messages were lost"
    print(f"acknowledged {len(acked)}, stored {len(stored)}")


def _config_text(data: Path, port: int, workers: int = 1) -> str:
    from polyport.service_table import SERVICES

    others = "".join(f"[services.{s.name}]\nenabled = false\n" for s in SERVICES if s.built and s.name != "smtp")
    return (f'[node]\ndata = "{data}"\nmain_domain = "example.com"\nbind = "127.0.0.1"\nworkers = {workers}\n'
            f"[auth]\nargon2_memory_kib = 8192\nargon2_time_cost = 1\n[dns]\nservers = [\"127.0.0.1:9\"]\n"
            f"[services.smtp]\nports = [{port}]\n{others}")
