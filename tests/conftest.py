"""Shared fixtures. The store backend comes from POLYPORT_TEST_STORE (sqlite, the default, or postgresql
with POLYPORT_TEST_PG_URL); every test using the `records` fixture is marked `store` and runs on both
in `make test`. Each xdist worker migrates one template store once; each test gets a fresh copy (SQLite)
or emptied tables (PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from polyport.auth.passwords import Argon2Params, PasswordHasher
from polyport.bus import LocalBus
from polyport.directory import Directory
from polyport.store import SQLITE_FILE, RecordStore, open_records
from polyport.store.migrate import HEAD

STORE_KIND = os.environ.get("POLYPORT_TEST_STORE", "sqlite")
PG_URL = os.environ.get("POLYPORT_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("POLYPORT_REQUIRE_PG", "0") == "1"
REDIS_URL = os.environ.get("POLYPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("POLYPORT_REQUIRE_REDIS", "0") == "1"

# Tables in an order that TRUNCATE ... CASCADE accepts.
TABLES = ("xmpp_push", "xmpp_uploads", "xmpp_pep_items", "xmpp_pep_nodes", "xmpp_room_archive", "xmpp_rooms",
          "xmpp_private", "xmpp_archive", "xmpp_vcards", "xmpp_blocks", "xmpp_offline", "xmpp_roster",
          "xmpp_roster_versions",
          "mailbox_access_keys", "mailbox_metadata", "web_sessions", "queue_recipients", "queue_messages",
          "domain_keys", "vacation_replies", "mailbox_acl", "subscriptions", "expunged", "messages", "bodies",
          "mailboxes", "group_members", "groups", "accounts", "objects", "domain_names", "domains", "server_dicts")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    several_workers = int(os.environ.get("POLYPORT_TEST_WORKERS", "1")) > 1
    for item in items:
        if {"records", "store_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.store)
        if several_workers and item.get_closest_marker("one_process") is not None:
            item.add_marker(pytest.mark.skip(
                reason="patches or reads this process's module state through its node, whose other workers "
                       "are processes of their own (it runs in the suite's pass of one process)"))


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """POLYPORT_TEST_LOOP=uvloop runs the async tests on uvloop, as nodes run by default."""
    if os.environ.get("POLYPORT_TEST_LOOP", "asyncio") == "uvloop":
        import uvloop

        return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


def fast_hasher() -> PasswordHasher:
    """argon2id at its minimum cost: the tests check behaviour, not hashing strength."""
    return PasswordHasher(Argon2Params(memory_kib=64, time_cost=1, parallelism=1), threads=2,
                          scram_iterations=4096)


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite: a folder holding a migrated store. PostgreSQL: the URL of a migrated private schema."""
    if STORE_KIND == "sqlite":
        folder = tmp_path_factory.mktemp("template")

        async def make() -> None:
            store = await open_records("", folder)
            await store.close()

        asyncio.run(make())
        yield str(folder)
        return
    if STORE_KIND != "postgresql":
        raise pytest.UsageError(f"POLYPORT_TEST_STORE={STORE_KIND!r}: use sqlite or postgresql")
    schema = f"pp_test_{uuid.uuid4().hex[:12]}"
    try:
        _pg_admin(f"CREATE SCHEMA {schema}")
    except (OSError, Exception) as err:  # asyncpg raises several kinds
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable ({err}); set POLYPORT_REQUIRE_PG=1 to fail")
    url = f"{PG_URL}?search_path={schema}"

    async def migrate() -> None:
        store = await open_records(url, Path("."))
        await store.close()

    try:
        asyncio.run(migrate())
        yield url
    finally:
        _pg_admin(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the Redis server at POLYPORT_TEST_REDIS_URL, its keys removed after;
    the test is skipped if no server answers (failed with POLYPORT_REQUIRE_REDIS=1)."""
    from redis.exceptions import RedisError

    from polyport.store.rediskv import connect

    client = connect(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as err:
        await client.aclose()
        if REQUIRE_REDIS:
            raise
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({err}); set POLYPORT_REQUIRE_REDIS=1 to fail")
    prefix = f"pp-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def store_url(store_template: str, tmp_path: Path) -> tuple[str, Path]:
    """(url, data folder) of a fresh, migrated, empty store."""
    if STORE_KIND == "sqlite":
        shutil.copy(Path(store_template) / SQLITE_FILE, tmp_path / SQLITE_FILE)
        return "", tmp_path
    _pg_admin(f"SET search_path = {store_template.split('search_path=')[1]}; "
              f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE; "
              f"UPDATE alembic_version SET version_num = '{HEAD}'")
    return store_template, tmp_path


@pytest.fixture
async def records(store_url: tuple[str, Path]) -> AsyncIterator[RecordStore]:
    url, folder = store_url
    store = await open_records(url, folder)
    yield store
    await store.close()


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    passwords = fast_hasher()
    yield passwords
    passwords.close()


@pytest.fixture
def bus() -> LocalBus:
    return LocalBus()


@pytest.fixture
async def directory(records: RecordStore, hasher: PasswordHasher, bus: LocalBus) -> Directory:
    d = Directory(records, hasher, bus)
    await d.initialize("example.com")
    return d


def pytest_configure(config: pytest.Config) -> None:
    from polyport import log

    log.setup("warning")  # tests that look at log lines set up their own stream


@pytest.fixture(scope="module")
def cli_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A node with the CLI/API on a free port, shared by a test module; postmaster's password is
    tests.node_thread.POSTMASTER_PASSWORD."""
    from tests.node_thread import ThreadedNode, free_port, node_config

    running = ThreadedNode(node_config(tmp_path_factory.mktemp("cli-node"), "cliapi", free_port())).start()
    yield running
    running.stop()
