"""The fuzzer itself, one test per target, for `pytest -m fuzz` (deselected otherwise, see conftest.py;
test.sh runs `python -m tests.fuzz.run` in its own step instead, for the table it prints)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fuzz.run import DEFAULT_SECONDS, GRACE, HERE
from tests.fuzz.targets import TARGETS

SECONDS = int(os.environ.get("POLYPORT_FUZZ_SECONDS", DEFAULT_SECONDS))


@pytest.mark.fuzz
@pytest.mark.timeout(SECONDS + 2 * GRACE)
@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz(name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.fuzz.run", "--seconds", str(SECONDS), "--jobs", "1", name],
                          capture_output=True, text=True, cwd=HERE.parent.parent, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
