"""A node in this process: first start, listeners, the data-folder lock, and start-up failures that name
their cause."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyport import datadir
from polyport.config import Config, ServiceSettings
from polyport.node import POSTMASTER_PASSWORD_ENV, Node, StartupError
from polyport.store import Statement, Unit, open_records
from tests.echo_service import as_built
from tests.net.echo_protocol import Client
from tests.node_thread import free_port, node_config


def make_config(data: Path, extra: str = "", port: int | None = None) -> Config:
    return node_config(data, "cliapi", port or free_port(), extra)


@pytest.fixture
def echo_built() -> Iterator[None]:
    with as_built("cliapi"):
        yield


async def test_first_start_initializes_the_data_folder(tmp_path: Path, echo_built: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POSTMASTER_PASSWORD_ENV, raising=False)
    out = io.StringIO()
    node = Node(make_config(tmp_path / "data"), out=out)
    await node.start()
    try:
        assert "Created postmaster@example.com with password: " in out.getvalue()
        password = out.getvalue().split("password: ")[1].split()[0]
        assert node.runtime is not None
        directory = node.runtime.directory
        assert await directory.main_domain() == "example.com"
        postmaster = await directory.account("postmaster@example.com")
        assert postmaster.rights == ["Master"]
        assert await directory.verify_password("postmaster", password)
        assert (tmp_path / "data" / "tls" / "cert.pem").is_file()
        status = datadir.read_status(tmp_path / "data")
        assert status is not None
        assert [b.service for b in status.listeners] == ["smtp", "submission", "smtps", "lmtp", "pop3", "pop3s",
                                                         "imap", "imaps", "http", "https", "webuser", "webusers",
                                                         "webadmin", "webadmins", "cliapi", "cliapi-tls", "xmpp",
                                                         "xmpps"]
        client = await Client.connect(next(b.port for b in status.listeners if b.service == "cliapi"))
        assert await client.line() == b"HELLO\r\n"
        await client.close()
    finally:
        await node.stop()
    assert datadir.read_status(tmp_path / "data") is None

    # The second start finds everything in place and prints nothing.
    out = io.StringIO()
    node = Node(make_config(tmp_path / "data"), out=out)
    await node.start()
    await node.stop()
    assert out.getvalue() == ""


async def test_postmaster_password_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, "from-env-123")
    out = io.StringIO()
    node = Node(make_config(tmp_path), out=out)
    await node.start()
    try:
        assert out.getvalue() == ""
        assert node.runtime is not None
        assert await node.runtime.directory.verify_password("postmaster", "from-env-123")
    finally:
        await node.stop()


async def test_a_second_node_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    first = Node(make_config(tmp_path))
    await first.start()
    try:
        with pytest.raises(StartupError, match=r"in use by another node \(pid \d+\).*--data"):
            await Node(make_config(tmp_path)).start()
    finally:
        await first.stop()
    second = Node(make_config(tmp_path))  # free again
    await second.start()
    await second.stop()


async def test_a_port_in_use_stops_the_start_and_releases_everything(tmp_path: Path, echo_built: None) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        node = Node(make_config(tmp_path, port=holder.getsockname()[1]))
        with pytest.raises(StartupError, match="already in use"):
            await node.start()
    finally:
        holder.close()
    retry = Node(make_config(tmp_path))
    await retry.start()  # lock released, store closed
    await retry.stop()


async def test_a_store_from_a_newer_polyport_is_refused(tmp_path: Path) -> None:
    store = await open_records("", tmp_path)

    def bump() -> Unit[None]:
        yield Statement("UPDATE alembic_version SET version_num = 'ffff'").run()

    await store.write(bump())
    await store.close()
    with pytest.raises(StartupError, match="newer Polyport"):
        await Node(make_config(tmp_path)).start()


async def test_unreachable_postgresql_is_named(tmp_path: Path) -> None:
    config = make_config(tmp_path, '[store]\nurl = "postgresql://nobody@127.0.0.1:1/db"')
    with pytest.raises(StartupError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:1/db.*\[store\] url"):
        await Node(config).start()


async def test_unreachable_redis_is_named_without_the_url(tmp_path: Path) -> None:
    config = make_config(tmp_path, '[cluster]\nbus = "redis"\nredis_url = "redis://ann:s3cret@127.0.0.1:1/0"')
    with pytest.raises(StartupError, match=r"cannot reach the Redis server of \[cluster\] redis_url") as caught:
        await Node(config).start()
    assert "s3cret" not in str(caught.value)
    retry = Node(make_config(tmp_path))
    await retry.start()  # lock released
    await retry.stop()


async def test_on_the_redis_bus_the_nodes_changes_reach_other_processes(tmp_path: Path, redis_prefix: str) -> None:
    from polyport.bus import topics
    from polyport.bus.events import AccountChanged
    from polyport.bus.redisbus import RedisBus
    from polyport.store.rediskv import RedisKeyValueStore, connect
    from tests.conftest import REDIS_URL

    elsewhere = RedisBus(connect(REDIS_URL), prefix=redis_prefix)  # another node's, in effect
    await elsewhere.start()
    directory = elsewhere.subscribe(topics.DIRECTORY)
    node = Node(make_config(tmp_path, f'[cluster]\nbus = "redis"\nredis_url = "{REDIS_URL}"\n'
                                      f'redis_prefix = "{redis_prefix}"'))
    await node.start()
    try:
        runtime = node.runtime
        assert runtime is not None and isinstance(runtime.kv, RedisKeyValueStore)
        await runtime.directory.create_account("ann@example.com", password="pw-for-ann")
        heard = []  # the first start's events too (the main domain, postmaster)
        while AccountChanged("ann@example.com", "created") not in heard:
            heard.append(await asyncio.wait_for(directory.get(), 5))
    finally:
        await node.stop()
        await elsewhere.close()
        await elsewhere.client.aclose()


async def test_a_failed_start_leaves_no_redis_subscription(tmp_path: Path, redis_prefix: str) -> None:
    from polyport.store.rediskv import connect
    from tests.conftest import REDIS_URL

    config = make_config(tmp_path, f'[cluster]\nbus = "redis"\nredis_url = "{REDIS_URL}"\n'
                                   f'redis_prefix = "{redis_prefix}"\n'
                                   f'[tls]\ncert_file = "{tmp_path}/c.pem"\nkey_file = "{tmp_path}/k.pem"')
    with pytest.raises(StartupError, match=r"c\.pem does not exist"):
        await Node(config).start()
    redis = connect(REDIS_URL)
    try:
        assert await redis.pubsub_numsub(redis_prefix + "bus") == [(redis_prefix + "bus", 0)]
    finally:
        await redis.aclose()


async def test_a_missing_certificate_is_named(tmp_path: Path) -> None:
    config = make_config(tmp_path, f'[tls]\ncert_file = "{tmp_path}/c.pem"\nkey_file = "{tmp_path}/k.pem"')
    with pytest.raises(StartupError, match=r"c\.pem does not exist"):
        await Node(config).start()


async def test_an_unwritable_data_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StartupError, match="cannot create the data folder"):
        await Node(make_config(blocker / "data")).start()


async def test_disabled_services_do_not_listen(tmp_path: Path, echo_built: None) -> None:
    config = make_config(tmp_path, "enabled = false")
    for name in ("cliapi-tls", "imap", "imaps", "pop3", "pop3s", "smtp", "submission", "smtps", "lmtp", "http", "https",
                 "webuser", "webusers", "webadmin", "webadmins", "xmpp", "xmpps"):
        config.services[name] = ServiceSettings(enabled=False)
    node = Node(config)
    await node.start()
    try:
        assert node.listeners == []
    finally:
        await node.stop()
