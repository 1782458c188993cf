"""Acknowledged means durable: a unit whose write returned, and a blob whose id was returned, survive
a kill -9 of the process the next instant."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polyport.store import RecordStore, Statement, Unit, open_records
from polyport.store.blobs import LocalBlobStore

WRITER = r"""
import asyncio, sys
from pathlib import Path
from polyport.store import Statement, open_records
from polyport.store.blobs import LocalBlobStore

INSERT = Statement("INSERT INTO server_dicts (name, data) VALUES (:name, :data)")

async def main(url, folder, durable):
    store = await open_records(url, Path(folder))
    blobs = LocalBlobStore(Path(folder) / "blobs")
    print("ready", flush=True)
    async def one(i):
        def unit():
            yield INSERT.run(name=f"k{i}", data=str(i))
        await store.write(unit(), durable=durable)
        blob_id = await blobs.put(f"blob {i}".encode() * 50)
        print(f"ack {i} {blob_id}", flush=True)
    i = 0
    while True:
        await asyncio.gather(*(one(i + j) for j in range(8)))
        i += 8

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "durable"))
"""

COUNT = Statement("SELECT name, data FROM server_dicts WHERE name LIKE 'k%'")


def _rows() -> Unit[dict[str, str]]:
    rows = yield COUNT.all()
    return {r["name"]: r["data"] for r in rows}


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["durable", "not-durable"])
async def test_acknowledged_writes_survive_kill_9(store_url: tuple[str, Path], records: RecordStore,
                                                  durability: str) -> None:
    """Durable or not (RecordStore.write): what was acknowledged survives the process's death."""
    url, folder = store_url
    await records.close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(folder), durability], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.7)
    os.kill(proc.pid, signal.SIGKILL)
    acked = [line.split() for line in proc.stdout.read().splitlines() if line.startswith("ack")]
    proc.wait()
    assert len(acked) > 20, "the writer acknowledged too little to prove anything"

    store = await open_records(url, folder)
    try:
        rows = await store.read(_rows())
    finally:
        await store.close()
    blobs = LocalBlobStore(folder / "blobs")
    for _, index, blob_id in acked:
        assert rows.get(f"k{index}") == index
        assert await blobs.get(blob_id) == f"blob {index}".encode() * 50
