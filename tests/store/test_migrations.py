"""The schema: migrations produce what schema.py says, the revision list matches, newer stores are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyport.store import SQLITE_FILE, RecordStore, SchemaMismatch, Statement, Unit, open_records
from polyport.store import migrate as migrations

SET_VERSION = Statement("UPDATE alembic_version SET version_num = :v")


def test_the_revision_list_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations.MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    in_order = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert tuple(in_order) == migrations.REVISIONS
    assert script.get_current_head() == migrations.HEAD


async def test_a_new_store_is_at_the_head_revision(records: RecordStore) -> None:
    assert await records.read(migrations.current_revision(records.dialect)) == migrations.HEAD


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from polyport.store.schema import metadata

    migrations.upgrade(str(tmp_path / "s.db"))
    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


async def test_a_store_written_by_a_newer_polyport_is_refused(store_url: tuple[str, Path]) -> None:
    url, folder = store_url
    store = await open_records(url, folder)

    def bump() -> Unit[None]:
        yield SET_VERSION.run(v="9999")

    await store.write(bump())
    await store.close()
    with pytest.raises(SchemaMismatch, match=r"newer Polyport.*9999"):
        await open_records(url, folder)


async def test_opening_twice_does_not_migrate_again(store_url: tuple[str, Path]) -> None:
    url, folder = store_url
    for _ in range(2):
        store = await open_records(url, folder)
        assert await store.read(migrations.current_revision(store.dialect)) == migrations.HEAD
        await store.close()


def test_postgresql_urls_become_sqlalchemy_urls_with_server_settings() -> None:
    url, args = migrations.sqlalchemy_target("postgresql://u:p@h:5433/db?search_path=s1")
    assert url == "postgresql+asyncpg://u:p@h:5433/db"
    assert args == {"server_settings": {"search_path": "s1"}}
    assert migrations.sqlalchemy_target("/x/y.db") == ("sqlite:////x/y.db", {})


def _alembic_to(url: str, revision: str) -> None:
    """Downgrade the store at `url` (a SQLite path or a PostgreSQL URL) to `revision`."""
    from alembic import command
    from alembic.config import Config

    sa_url, connect_args = migrations.sqlalchemy_target(url)
    config = Config()
    config.set_main_option("script_location", str(migrations.MIGRATIONS_DIR))
    config.attributes["sa_url"] = sa_url
    config.attributes["connect_args"] = connect_args
    command.downgrade(config, revision)


def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    """Run one statement with the raw driver, outside the store (which would migrate first)."""
    if not url.startswith("postgresql"):
        import sqlite3

        with sqlite3.connect(url) as connection:
            return [tuple(row) for row in connection.execute(statement).fetchall()]
    import asyncio

    import asyncpg

    async def run() -> list[tuple[object, ...]]:
        connection = await asyncpg.connect(url)  # its search_path parameter becomes a server setting
        try:
            return [tuple(row) for row in await connection.fetch(statement)]
        finally:
            await connection.close()

    return asyncio.run(run())


def test_0010_marks_mail_queued_by_accounts_as_from_verified_senders(store_url: tuple[str, Path]) -> None:
    url, folder = store_url
    target = url or str(folder / SQLITE_FILE)
    _alembic_to(target, "0009")
    _sql(target, """
        INSERT INTO queue_messages (ident, sender, size, blob, envid, ret, flags, origin, created, data) VALUES
            ('A1', 'ann@example.com', 1, NULL, NULL, NULL, 1, 'ann@example.com', 0, NULL),
            ('A2', 'x@forger.test', 1, NULL, NULL, NULL, 2, '[192.0.2.66]', 0, NULL),
            ('A3', '', 1, NULL, NULL, NULL, 0, '', 0, NULL)""")
    migrations.upgrade(target)
    rows = _sql(target, "SELECT ident, flags FROM queue_messages ORDER BY ident")
    assert rows == [("A1", 1 | 8), ("A2", 2), ("A3", 0)]  # 8: queue.records.VERIFIED
