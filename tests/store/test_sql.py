"""Statements compile once per dialect; units of work run the same on both stores."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.store import Conflict, RecordStore, Statement, StoreError, Unit
from polyport.store.sql import UnitContinuedAfterError

INSERT = Statement("INSERT INTO server_dicts (name, data) VALUES (:name, :data)")
GET = Statement("SELECT data FROM server_dicts WHERE name = :name")
ALL = Statement("SELECT name, data FROM server_dicts ORDER BY name")
UPDATE = Statement("UPDATE server_dicts SET data = :data WHERE name = :name")


def test_parameters_compile_to_numbered_placeholders() -> None:
    statement = Statement("SELECT * FROM t WHERE a = :a AND b = :b OR c = :a")
    assert statement.pg_sql == "SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $1"
    assert statement.names == ("a", "b")
    assert statement.pg_args({"b": 2, "a": 1}) == [1, 2]


def test_casts_and_strings_are_not_parameters() -> None:
    statement = Statement("SELECT x::text, 'a:b' FROM t WHERE y = :y")
    assert statement.names == ("y",)


def test_a_missing_parameter_is_named() -> None:
    with pytest.raises(StoreError, match="'a'"):
        Statement("SELECT :a").pg_args({})


@given(st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), min_size=1, max_size=6))
def test_every_parameter_gets_one_number(names: list[str]) -> None:
    sql = "SELECT " + ", ".join(f":{n}" for n in names)
    statement = Statement(sql)
    assert list(statement.names) == list(dict.fromkeys(names))
    for index, name in enumerate(statement.names, start=1):
        assert f"${index}" in statement.pg_sql
        assert f":{name}" not in statement.pg_sql.split("$")[0] or index > 1


async def test_a_unit_sees_its_own_writes_and_returns_a_value(records: RecordStore) -> None:
    def unit() -> Unit[tuple[int, str]]:
        changed = yield INSERT.run(name="a", data="1")
        value = yield GET.value(name="a")
        return changed, value

    assert await records.write(unit()) == (1, "1")
    assert await records.read(_value("a")) == "1"


def _value(name: str) -> Unit[str | None]:
    value = yield GET.value(name=name)
    return value  # type: ignore[no-any-return]


async def test_a_failing_unit_leaves_nothing_behind(records: RecordStore) -> None:
    def unit() -> Unit[None]:
        yield INSERT.run(name="x", data="1")
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        await records.write(unit())
    assert await records.read(_value("x")) is None


async def test_a_duplicate_is_a_conflict_the_unit_can_catch(records: RecordStore) -> None:
    await records.write(_insert("k", "1"))

    def unit() -> Unit[str]:
        try:
            yield INSERT.run(name="k", data="2")
        except Conflict:
            return "taken"
        return "inserted"

    assert await records.write(unit()) == "taken"
    with pytest.raises(Conflict):
        await records.write(_insert("k", "3"))
    assert await records.read(_value("k")) == "1"


def _insert(name: str, data: str) -> Unit[None]:
    yield INSERT.run(name=name, data=data)


async def test_no_statement_may_follow_a_failed_one(records: RecordStore) -> None:
    """PostgreSQL aborts the transaction after an error; SQLite is held to the same rule."""
    await records.write(_insert("k", "1"))

    def unit() -> Unit[None]:
        try:
            yield INSERT.run(name="k", data="2")
        except Conflict:
            yield INSERT.run(name="other", data="3")

    with pytest.raises(UnitContinuedAfterError):
        await records.write(unit())
    assert await records.read(_value("other")) is None


async def test_concurrent_writers_each_get_their_own_result(records: RecordStore) -> None:
    """Many units at once (committed in groups on SQLite): each caller hears of its own outcome."""

    def unit(i: int) -> Unit[int]:
        if i % 7 == 3:
            raise KeyError(i)
        yield INSERT.run(name=f"n{i}", data=str(i))
        return i

    results = await asyncio.gather(*(records.write(unit(i)) for i in range(300)), return_exceptions=True)
    for i, result in enumerate(results):
        if i % 7 == 3:
            assert isinstance(result, KeyError)
        else:
            assert result == i
    rows = await records.read(_all())
    assert len(rows) == len([i for i in range(300) if i % 7 != 3])


def _all() -> Unit[list[tuple[str, str]]]:
    rows = yield ALL.all()
    return [(r["name"], r["data"]) for r in rows]


async def test_run_counts_changed_rows(records: RecordStore) -> None:
    await records.write(_insert("a", "1"))

    def unit() -> Unit[tuple[int, int]]:
        hit = yield UPDATE.run(name="a", data="2")
        miss = yield UPDATE.run(name="zz", data="2")
        return hit, miss

    assert await records.write(unit()) == (1, 0)


async def test_one_returns_a_row_or_none(records: RecordStore) -> None:
    await records.write(_insert("a", "1"))

    def unit() -> Unit[tuple[object, object]]:
        row = yield ALL.one()
        none = yield GET.one(name="missing")
        return (row["name"], row["data"]), none

    assert await records.read(unit()) == (("a", "1"), None)


async def test_a_closed_store_refuses_work(records: RecordStore) -> None:
    await records.close()
    with pytest.raises(StoreError, match="closed"):
        await records.read(_value("a"))


async def test_a_unit_that_catches_a_failure_has_its_writes_discarded(records: RecordStore) -> None:
    """Both stores alike: the result comes back, the writes before the failure do not stay."""
    await records.write(_insert("k", "1"))

    def unit() -> Unit[str]:
        yield INSERT.run(name="before", data="x")
        try:
            yield INSERT.run(name="k", data="2")
        except Conflict:
            return "caught"
        return "not caught"

    assert await records.write(unit()) == "caught"
    assert await records.read(_value("before")) is None


async def test_the_sqlite_writer_survives_a_full_disk(records: RecordStore) -> None:
    if records.dialect != "sqlite":
        pytest.skip("SQLite's writer thread only")
    pages = await records.read(_value_of(Statement("PRAGMA page_count")))

    def limit(count: int) -> Unit[None]:
        yield Statement(f"PRAGMA max_page_count = {count}").all()

    await records.write(limit(pages + 1))

    def big() -> Unit[None]:
        for i in range(50):
            yield INSERT.run(name=f"big{i}", data="x" * 100_000)

    with pytest.raises(StoreError, match=r"full|rolled back"):
        await asyncio.wait_for(records.write(big()), 10)
    await records.write(limit(1_000_000))
    await asyncio.wait_for(records.write(_insert("after", "ok")), 10)  # the writer is still there
    assert await records.read(_value("after")) == "ok"
    assert await records.read(_value("big0")) is None


def _value_of(statement: Statement) -> Unit[int]:
    value = yield statement.value()
    return int(value)
