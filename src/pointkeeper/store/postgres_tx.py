"""PostgreSQL's side of the port: the asyncpg connection behind the
``Connection`` protocol, and the write transaction with the row locks that
several writing processes need.

A service's plain calls reach asyncpg, which answers only to ``await``,
through a greenlet: the service runs in a ``Bridge`` (``store.postgres``
starts it), and each statement switches back to the event loop's task,
which awaits the driver and switches the rows in.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import re
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import greenlet
from asyncpg.pool import PoolConnectionProxy

from .reference_data import CurrentReferenceData
from .sql import SqlTx
from .tx import DuplicateKey, LockBusy

if TYPE_CHECKING:
    from .tx import Tx

__all__ = [
    "Bridge",
    "PgConnection",
    "PostgresReadTx",
    "PostgresTx",
    "await_in_bridge",
    "postgres_placeholders",
]

# A connection of its own (the store's private one) or one lent by the pool.
_Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

_rows_per_fetch = 2_000
_returns_rows = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)


class Bridge(greenlet.greenlet):  # type: ignore[misc]
    """The greenlet a service runs in; its parent is the event loop's task."""


def await_in_bridge(awaitable: Awaitable[Any]) -> Any:
    """Awaits from a service's plain code, in the task that runs the service."""
    current = greenlet.getcurrent()
    assert isinstance(current, Bridge), "PostgreSQL queries run inside a store call"
    return current.parent.switch(awaitable)


# -- the DB-API surface the queries use ------------------------------------


# What may hold a "?" that is no placeholder: a string literal, a quoted
# name, a comment. Matched first, they are passed over whole.
_placeholder_or_quoted = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.DOTALL
)


def postgres_placeholders(sql: str) -> str:
    """The statement with PostgreSQL's ``$1, $2, ...`` for SQLite's ``?``
    placeholders, leaving a ``?`` inside a literal, a quoted name or a
    comment as it is."""
    numbers = itertools.count(1)

    def number(match: re.Match[str]) -> str:
        return f"${next(numbers)}" if match[0] == "?" else match[0]

    return _placeholder_or_quoted.sub(number, sql)


@functools.lru_cache(maxsize=1024)
def _translate(sql: str) -> tuple[str, bool]:
    """(the statement for asyncpg, whether it returns rows)."""
    return postgres_placeholders(sql), _returns_rows.search(sql) is not None


def _status_count(status: str) -> int:
    # "UPDATE 3", "DELETE 0", "INSERT 0 1": the last word counts the rows.
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class _Rows:
    """Rows fetched at once."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = collections.deque(rows)
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def fetchmany(self, size: int = 1, /) -> list[Any]:
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class _ServerRows:
    """Rows of a server-side cursor, fetched as they are wanted: an export
    of millions of rows never holds more than a fetch's worth."""

    __slots__ = ("_cursor",)
    rowcount = -1

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def fetchmany(self, size: int = 1, /) -> list[Any]:
        rows: list[Any] = await_in_bridge(self._cursor.fetch(size))
        return rows

    def fetchone(self) -> Any:
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def fetchall(self) -> list[Any]:
        return list(self)

    def __iter__(self) -> Iterator[Any]:
        while rows := self.fetchmany(_rows_per_fetch):
            yield from rows


class PgConnection:
    """An asyncpg connection behind the ``Connection`` protocol."""

    __slots__ = ("_connection", "_server_side")

    def __init__(self, connection: _Connection, *, server_side: bool = False) -> None:
        self._connection = connection
        self._server_side = server_side

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Rows | _ServerRows:
        try:
            return self._execute(sql, parameters)
        except asyncpg.exceptions.LockNotAvailableError:
            raise LockBusy(sql) from None

    def _execute(self, sql: str, parameters: Sequence[Any]) -> _Rows | _ServerRows:
        query, returns_rows = _translate(sql)
        if not returns_rows:
            status = await_in_bridge(self._connection.execute(query, *parameters))
            return _Rows([], _status_count(status))
        if self._server_side:
            return _ServerRows(await_in_bridge(self._connection.cursor(query, *parameters)))
        rows = await_in_bridge(self._connection.fetch(query, *parameters))
        return _Rows(rows, len(rows))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> _Rows:
        query, _ = _translate(sql)
        rows = list(parameters)
        if rows:
            await_in_bridge(self._connection.executemany(query, rows))
        return _Rows([], -1)


def _unique_column(error: asyncpg.UniqueViolationError) -> str:
    # Constraints are named <table>_<column>_key by PostgreSQL.
    name: str = error.constraint_name or ""
    table: str = error.table_name or ""
    return name.removeprefix(f"{table}_").removesuffix("_key")


class PostgresTx(SqlTx):
    """A write transaction: the shared queries, with the locks several
    writing processes need. (Reads run on a ``PostgresReadTx``.)

    Only a transaction that holds no row lock yet waits for one; any later
    lock is taken NOWAIT, and when another writer holds it the request fails
    with ``LockNotAvailableError``, which the store retries in a later batch
    (where it may come first). A transaction that waits thus holds nothing
    another could be waiting for: writers never deadlock over customers, and
    no batch stalls for PostgreSQL's deadlock timeout.
    """

    __slots__ = ("locking",)
    _skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, connection: PgConnection, references: CurrentReferenceData) -> None:
        super().__init__(connection, references)
        self.locking = False

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        # Rolling back to a savepoint gives up the locks taken since.
        locking = self.locking
        try:
            with super().savepoint():
                yield
        except BaseException:
            self.locking = locking
            raise

    def _row_lock(self) -> str:
        if self.locking:
            return " FOR UPDATE NOWAIT"
        self.locking = True
        return " FOR UPDATE"

    def lock_customer(self, customer_id: int) -> None:
        self.connection.execute(
            f"SELECT 1 FROM customers WHERE id = ?{self._row_lock()}", (customer_id,)
        )

    def lock_free_customers(self, customer_ids: Iterable[int]) -> list[int]:
        rows = self.connection.execute(
            "SELECT id FROM customers WHERE id = ANY(?::bigint[]) ORDER BY id"
            " FOR UPDATE SKIP LOCKED",
            (list(customer_ids),),
        ).fetchall()
        self.locking = self.locking or bool(rows)
        return [int(row[0]) for row in rows]

    def try_job_lock(self, job: str) -> bool:
        row = self.connection.execute(
            "SELECT pg_try_advisory_xact_lock(hashtext(?))", (f"pointkeeper.{job}",)
        ).fetchone()
        return bool(row[0])

    @contextlib.contextmanager
    def unique_values(self) -> Iterator[None]:
        # A failed statement spoils a PostgreSQL transaction: the savepoint
        # keeps the rest of it.
        try:
            with self.savepoint():
                yield
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateKey(_unique_column(exc)) from None

    def insert_codes(self, pool_id: int, rows: Sequence[tuple[str, int | None, int | None]]) -> int:
        # One statement for the whole chunk, which also counts what it added.
        values, starts, ends = zip(*rows, strict=True) if rows else ((), (), ())
        cursor = self.connection.execute(
            "INSERT INTO promo_codes (value, pool_id, available_from, available_till)"
            " SELECT value, ?, available_from, available_till"
            " FROM unnest(?::text[], ?::bigint[], ?::bigint[])"
            " AS fresh (value, available_from, available_till)"
            " ON CONFLICT (value) DO NOTHING",
            (pool_id, list(values), list(starts), list(ends)),
        )
        return cursor.rowcount

    def add_segment_members(self, segment_id: int, customer_ids: Iterable[int]) -> int:
        cursor = self.connection.execute(
            "INSERT INTO segment_members (segment_id, customer_id)"
            " SELECT ?, unnest(?::bigint[]) ON CONFLICT (segment_id, customer_id) DO NOTHING",
            (segment_id, list(customer_ids)),
        )
        return cursor.rowcount


class PostgresReadTx(PostgresTx):
    """A READ ONLY snapshot, where PostgreSQL takes no row lock: the queries
    run without one, as on SQLite."""

    __slots__ = ()
    _skip_locked = ""

    def _row_lock(self) -> str:
        return ""


if TYPE_CHECKING:
    # mypy holds the classes to the port.
    _port: type[Tx] = PostgresTx
    _read_port: type[Tx] = PostgresReadTx
