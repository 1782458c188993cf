"""Statements, units of work, and the interface both record stores implement.

A *unit of work* is a plain generator: it yields statements and receives their results, and returns its
own result. It does no I/O itself, so one piece of code runs on both backends:

    def rename(old: str, new: str) -> Unit[int]:
        count = yield RENAME.run(old=old, new=new)
        return count

The SQLite store drives the whole generator on its writer (or a reader) thread: one await per unit,
however many statements. The PostgreSQL store drives it on the event loop, one await per statement,
inside one transaction. If a statement fails (a duplicate key, say), the error is thrown into the
generator; it may catch it, but it must not run another statement afterwards (PostgreSQL aborts the
transaction), and both stores enforce that so code that works on one works on the other. A unit that
catches such an error and returns has its result delivered and its writes discarded, on both.

SQL is written by hand, portable between SQLite 3.35+ and PostgreSQL (`ON CONFLICT`, `RETURNING`), with
`:name` parameters compiled per dialect once, when the module defining the statement is imported.
Measured reason for not generating it with SQLAlchemy at run time: importing SQLAlchemy costs 0.27 s and
37 MB, a third of the node's start-up and memory budgets; it is used for the schema and migrations only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# A row is an sqlite3.Row or an asyncpg.Record: both index by column name and by position.
Row = Any


class StoreError(Exception):
    """The record store failed; the message says why."""


class Conflict(StoreError):
    """A uniqueness or foreign-key constraint refused the statement."""


class Unavailable(StoreError):
    """The store cannot be reached or opened; the message names the cause and the fix."""


class SchemaMismatch(StoreError):
    """The store's schema was written by another (newer) version of Polyport."""


class Mode(enum.Enum):
    ALL = "all"  # list of rows
    ONE = "one"  # first row or None
    VALUE = "value"  # first column of the first row, or None
    RUN = "run"  # number of rows changed


_ROW_LOCK = re.compile(r" FOR UPDATE( OF \w+)?( SKIP LOCKED)?$")
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


class Statement:
    """One SQL statement with `:name` parameters, compiled for SQLite and for PostgreSQL."""

    __slots__ = ("names", "pg_sql", "sql")

    def __init__(self, sql: str) -> None:
        text = " ".join(sql.split())
        # Row locks for read-modify-write: PostgreSQL needs them (READ COMMITTED would lose one of two
        # concurrent updates); SQLite's single writer already serializes, and has no such clause.
        lock = _ROW_LOCK.search(text)
        self.sql = text[:lock.start()] if lock else text
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.pg_sql = _PARAM.sub(number, text)
        self.names = tuple(names)

    def pg_args(self, params: Mapping[str, Any]) -> list[Any]:
        try:
            return [params[name] for name in self.names]
        except KeyError as missing:
            raise StoreError(f"statement needs parameter {missing}: {self.sql}") from None

    def all(self, **params: Any) -> Op:
        return Op(self, params, Mode.ALL)

    def one(self, **params: Any) -> Op:
        return Op(self, params, Mode.ONE)

    def value(self, **params: Any) -> Op:
        return Op(self, params, Mode.VALUE)

    def run(self, **params: Any) -> Op:
        return Op(self, params, Mode.RUN)

    def __repr__(self) -> str:
        return f"Statement({self.sql!r})"


@dataclass(frozen=True, slots=True)
class Op:
    statement: Statement
    params: Mapping[str, Any]
    mode: Mode


# The generator type of a unit of work returning T.
Unit = Generator[Op, Any, T]


class UnitContinuedAfterError(StoreError):
    pass


class UnitRun:
    """Steps one unit of work: hands out its statements, feeds back results or errors, and enforces
    the no-statement-after-a-failure rule. The backends only execute what it hands out:

        run = UnitRun(unit)
        while (op := run.next()) is not None:
            try:
                run.result_of(execute(op))
            except DriverError as err:
                run.error_of(StoreError(...))
        return run.result
    """

    __slots__ = ("_error", "_failed", "_unit", "_value", "result")

    def __init__(self, unit: Unit[Any]) -> None:
        self._unit = unit
        self._value: Any = None
        self._error: StoreError | None = None
        self._failed = False
        self.result: Any = None

    def next(self) -> Op | None:
        """The next statement to run, or None when the unit has returned (its value is `result`)."""
        try:
            op = self._unit.throw(self._error) if self._error is not None else self._unit.send(self._value)
        except StopIteration as stop:
            self.result = stop.value
            return None
        if self._failed:
            self._unit.close()
            raise UnitContinuedAfterError("a unit of work ran a statement after one had failed")
        self._error = None
        return op

    def result_of(self, value: Any) -> None:
        self._value = value

    def error_of(self, error: StoreError) -> None:
        self._error = error
        self._failed = True

    @property
    def failed(self) -> bool:
        """A statement failed (and the unit caught it): its writes must be discarded."""
        return self._failed


class RecordStore(Protocol):
    """What services see of the record store: run units of work."""

    dialect: str  # "sqlite" or "postgresql"

    async def write(self, unit: Unit[T], *, durable: bool = True) -> T:
        """Run `unit` in a read-write transaction; returns once it is committed. `durable` (messages, the
        queue, accounts): on disk before it returns, whatever happens next, a power cut included. Not
        `durable` (flag changes, expunges, as Dovecot treats them): it survives the node's crash (kill -9)
        at once, and a power cut once the next durable commit or a checkpoint has written it."""
        ...

    async def read(self, unit: Unit[T]) -> T:
        """Run `unit` on a consistent snapshot; it must not change anything."""
        ...

    async def fetch(self, op: Op) -> Any:
        """Run one reading statement on its own (no transaction around it): the fast path for lookups
        that need a single statement."""
        ...

    async def close(self) -> None: ...


def unit_of(op: Op) -> Unit[Any]:
    """A unit of work of one statement."""
    result = yield op
    return result
