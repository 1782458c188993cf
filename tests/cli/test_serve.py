"""`polyport serve` as a real process: start, listen, report, reload, stop on signals."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.cli.conftest import TEST_SETTINGS, polyport

ECHO = [sys.executable, "-m", "tests.echo_service", "cliapi"]


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 10) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the node exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


def offset() -> int:
    """A port offset that puts the CLI/API port (106) on a port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1]) - 106


class Node:
    def __init__(self, data: Path, *args: str, env: dict[str, str] | None = None) -> None:
        # The offset frees the CLI/API's port only: another service's port may be taken meanwhile by a
        # parallel test's connection (the node says so and exits), so a few offsets are tried. What a
        # failed try printed (the first start's postmaster password) is kept.
        self.earlier_out = ""
        for attempt in range(3):
            self.offset = offset()
            self.port = 106 + self.offset
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                [*ECHO, "serve", "--data", str(data), "--bind", "127.0.0.1", "--port-offset", str(self.offset),
                 *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
                env={**os.environ, **(env or {})})
            try:
                self.ready_after = wait_for_port(self.port, self.proc)
                return
            except AssertionError as err:
                if "already in use" not in str(err) or attempt == 2:
                    raise
                self.earlier_out += self.proc.communicate(timeout=20)[0]

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, self.earlier_out + out, err


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "polyport.toml").write_text(
        f'[node]\nmain_domain = "example.com"\nshutdown_grace = 2.0\n{TEST_SETTINGS}')
    return folder


@pytest.fixture
def node(data: Path) -> Iterator[Node]:
    running = Node(data)
    yield running
    if running.proc.poll() is None:
        running.stop()


def test_serve_starts_listens_reports_and_stops_on_sigterm(data: Path, node: Node) -> None:
    assert node.ready_after < 5  # the 1 s target is measured by bench/startup, not asserted here
    with socket.create_connection(("127.0.0.1", node.port)) as conn:
        assert conn.recv(100) == b"HELLO\r\n"
    services = json.loads(polyport("services", "--json", "--data", str(data)).stdout)
    assert services["node_pid"] == node.proc.pid
    row = next(s for s in services["services"] if s["service"] == "cliapi")
    assert row["listening"] == [f"127.0.0.1:{node.port}/tcp"]
    code, out, err = node.stop()
    assert code == 0, err
    assert "Created postmaster@example.com with password:" in out
    assert "node.ready" in err and "node.stopped" in err
    assert not (data / "node.json").exists()
    assert "no node running" in polyport("services", "--data", str(data)).stdout


def test_sigint_stops_too_and_open_sessions_hear_goodbye(node: Node) -> None:
    with socket.create_connection(("127.0.0.1", node.port)) as conn:
        assert conn.recv(100) == b"HELLO\r\n"
        node.proc.send_signal(signal.SIGINT)
        assert conn.recv(100) == b"BYE shutdown\r\n"
    _, err = node.proc.communicate(timeout=20)
    assert node.proc.returncode == 0, err


def test_a_second_node_on_the_data_folder_says_so(data: Path, node: Node) -> None:
    second = subprocess.run([*ECHO, "serve", "--data", str(data), "--port-offset", str(offset())],
                            capture_output=True, text=True, timeout=30, cwd=Path(__file__).parents[2], check=False)
    assert second.returncode == 1
    assert second.stderr.strip().startswith("error: the data folder") and "in use by another node" in second.stderr
    assert "Traceback" not in second.stderr


def test_sighup_reloads_the_certificate(tmp_path: Path) -> None:
    first_ca, second_ca = trustme.CA(), trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"

    def install(ca: trustme.CA) -> None:
        issued = ca.issue_cert("localhost")
        issued.private_key_pem.write_to_path(str(key))
        issued.cert_chain_pems[0].write_to_path(str(cert))

    install(first_ca)
    data = tmp_path / "data"
    data.mkdir()
    (data / "polyport.toml").write_text(
        f'[node]\nmain_domain = "example.com"\n[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n{TEST_SETTINGS}')
    running = Node(data)

    def issuer_trusted(ca: trustme.CA) -> bool:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        with socket.create_connection(("127.0.0.1", running.port)) as raw:
            raw.recv(100)
            raw.sendall(b"STARTTLS\r\n")
            raw.recv(100)
            try:
                with context.wrap_socket(raw, server_hostname="localhost"):
                    return True
            except ssl.SSLCertVerificationError:
                return False

    try:
        assert issuer_trusted(first_ca)
        install(second_ca)
        running.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not issuer_trusted(second_ca):
            assert time.monotonic() < deadline, "the new certificate was not loaded"
            time.sleep(0.05)
    finally:
        code, _, err = running.stop()
    assert code == 0 and "tls.reloaded" in err


def test_admin_commands_beside_a_running_node_do_not_corrupt_it(data: Path, node: Node) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "polyport", "account", "add", f"user{i}@example.com",
                               "--password", "pw", "--data", str(data)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(12)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    listed = polyport("account", "list", "--data", str(data)).stdout.split()
    assert listed == sorted([f"user{i}" for i in range(12)] + ["postmaster"])
    code, _, err = node.stop()
    assert code == 0, err
    with sqlite3.connect(data / "polyport.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def without_bind_rights() -> list[str]:
    """A command prefix that runs without the right to bind ports below 1024."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing to drop CAP_NET_BIND_SERVICE")
    return [setpriv, "--bounding-set", "-net_bind_service"]


def test_a_privileged_port_without_rights_names_the_fix(tmp_path: Path) -> None:
    if int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 106:
        pytest.skip("this kernel lets anyone bind low ports (ip_unprivileged_port_start)")
    data = tmp_path / "data"
    data.mkdir()
    (data / "polyport.toml").write_text(f'[node]\nmain_domain = "example.com"\n{TEST_SETTINGS}')
    result = subprocess.run([*without_bind_rights(), *ECHO, "serve", "--data", str(data), "--bind", "127.0.0.1"],
                            capture_output=True, text=True, timeout=30, cwd=Path(__file__).parents[2], check=False)
    assert result.returncode == 1, result.stderr
    assert re.search(r"port \d+/tcp \([a-z0-9-]+\)", result.stderr) and "--port-offset 10000" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flags_and_config_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[node]\nport_offset = 'ten'\n")
    result = polyport("serve", "--config", str(bad), "--data", str(tmp_path / "d"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {bad}: key node.port_offset: Expected `int`, got `str`"
    result = polyport("serve", "--bind", "not-an-ip", "--data", str(tmp_path / "d"))
    assert result.returncode == 1 and "not an IP address" in result.stderr and "Traceback" not in result.stderr


def test_firewall_output_passes_nft_check(tmp_path: Path) -> None:
    result = polyport("firewall", "--data", str(tmp_path))
    assert result.returncode == 0, result.stderr
    nft = shutil.which("nft") or "/usr/sbin/nft"
    if not Path(nft).exists():
        pytest.skip("nft is not installed")
    rules = tmp_path / "rules.nft"
    rules.write_text(result.stdout)
    check = subprocess.run([nft, "-c", "-f", str(rules)], capture_output=True, text=True, check=False)
    if "Operation not permitted" in check.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert check.returncode == 0, check.stderr


def test_config_example_is_a_valid_config(tmp_path: Path) -> None:
    example = polyport("config", "example").stdout
    path = tmp_path / "example.toml"
    path.write_text(example)
    assert polyport("config", "check", str(path)).stdout.strip() == f"{path}: OK"
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line and "(unset)" not in line else line
        for line in example.splitlines())
    path.write_text(uncommented)
    result = polyport("config", "check", str(path))
    assert result.returncode == 0, result.stderr
