from __future__ import annotations

from collections.abc import Iterator

import pytest

from polyport.node import POSTMASTER_PASSWORD_ENV
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode, free_port, node_config


@pytest.fixture(scope="module")
def cli_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("interop"), "cliapi", free_port())).start()
    yield running
    running.stop()
    monkeypatch.undo()
