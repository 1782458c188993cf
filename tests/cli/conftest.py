from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from polyport.cli.main import cli

# Cheap password hashing, and no listener but the CLI/API's (tests run side by side; the CLI/API's port is
# chosen free, with --port-offset, and the others would land on whatever the offset gives them).
TEST_SETTINGS = "[auth]\nargon2_memory_kib = 8192\nargon2_time_cost = 1\n" + "".join(
    f"[services.{name}]\nenabled = false\n" for name in (
        "cliapi-tls", "imap", "imaps", "pop3", "pop3s", "smtp", "submission", "smtps"))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder whose config makes password hashing cheap."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "polyport.toml").write_text(f'[node]\ndata = "{folder}"\nmain_domain = "example.com"\n{TEST_SETTINGS}')
    return folder


Run = Callable[..., Result]


@pytest.fixture
def run(data: Path) -> Run:
    """Run `polyport ARGS --data <data>` in this process; returns click's Result."""

    def invoke(*args: str, input: str | None = None, data_flag: bool = True) -> Result:
        argv = [*args, "--data", str(data)] if data_flag else list(args)
        return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)

    return invoke


def polyport(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process."""
    return subprocess.run([sys.executable, "-m", "polyport", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)
