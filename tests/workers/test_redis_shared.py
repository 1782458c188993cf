"""A node of two workers with `[cluster] bus = "redis"`: the bus and the key-value store are the Redis
server's, not the supervisor's; a delivery in one worker wakes IDLE in the other, and failed logins
count across the workers in Redis, under the configured prefix."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyport.node import POSTMASTER_PASSWORD_ENV
from polyport.store.rediskv import connect
from polyport.workers.supervisor import Supervisor
from tests.conftest import REDIS_URL
from tests.node_thread import POSTMASTER_PASSWORD, node_config
from tests.workers.test_supervisor import ACCOUNT, Imap, _send, connections_by_worker, port_of

pytestmark = [pytest.mark.slow, pytest.mark.processes]


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_prefix: str) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    config = node_config(tmp_path / "data", "imap", 0)
    config.cluster.bus, config.cluster.redis_url, config.cluster.redis_prefix = "redis", REDIS_URL, redis_prefix
    config.auth.max_failures_per_account = 3
    sup = Supervisor(config, 2)
    await sup.start()
    try:
        yield sup
    finally:
        await sup.stop(grace=1.0)


async def _spread_clients(sup: Supervisor, count: int) -> list[Imap]:
    port = port_of(sup, "imap")
    clients = [await Imap.connect(port) for _ in range(count)]  # all on one worker: a chance of 2 in 2**count
    spread = await connections_by_worker(sup, "imap")
    assert sorted(spread) == [0, 1] and all(n > 0 for n in spread.values()), spread
    return clients


async def test_a_delivery_in_one_worker_wakes_idle_in_the_other(supervisor: Supervisor) -> None:
    clients = await _spread_clients(supervisor, 16)
    for client in clients:
        assert (await client.command(f"a LOGIN {ACCOUNT} {POSTMASTER_PASSWORD}"))[-1].startswith(b"a OK")
        await client.command("b SELECT INBOX")
        client.writer.write(b"c IDLE\r\n")
        assert (await client.reader.readline()).startswith(b"+")
    await asyncio.to_thread(_send, port_of(supervisor, "smtp"))
    sent = time.monotonic()
    for client in clients:
        assert await asyncio.wait_for(client.reader.readline(), 5) == b"* 1 EXISTS\r\n"
    assert time.monotonic() - sent < 1.0  # the issue asks for 100 ms; a loaded test machine gets slack
    for client in clients:
        await client.close()


async def test_failed_logins_count_across_workers_in_redis(supervisor: Supervisor, redis_prefix: str) -> None:
    clients = await _spread_clients(supervisor, 12)
    for client in clients[:4]:  # one over the limit, whichever workers they reached
        await client.command(f"a LOGIN {ACCOUNT} wrong-password")
    for client in clients[4:]:  # locked out in both workers, even with the right password
        reply = await client.command(f"a LOGIN {ACCOUNT} {POSTMASTER_PASSWORD}")
        assert reply[-1].startswith(b"a NO"), reply
    for client in clients:
        await client.close()
    redis = connect(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=redis_prefix + "throttle:*")]
        assert keys, "the failures are counted in Redis"
    finally:
        await redis.aclose()
    assert len(supervisor.hub.kv) == 0  # not in the supervisor's store
