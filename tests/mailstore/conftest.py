"""The mailstore over the test store (SQLite or PostgreSQL, tests/conftest.py) and a first account."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyport.bus import LocalBus
from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.store import RecordStore
from polyport.store.blobs import LocalBlobStore


@pytest.fixture
async def mailstore(records: RecordStore, directory: Directory, bus: LocalBus, tmp_path: Path) -> Mailstore:
    return Mailstore(records, LocalBlobStore(tmp_path / "blobs"), directory, bus)


@pytest.fixture
async def account(directory: Directory, mailstore: Mailstore) -> int:
    """bob, with his default mailboxes."""
    info = await directory.create_account("bob", password="pw")
    await mailstore.ensure_defaults(info.id)
    return info.id
