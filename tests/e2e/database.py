"""A test's database read directly, on SQLite and PostgreSQL alike: through
the store the servers use, with plain SQL in the dialect both share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pointkeeper.config import DatabaseConfig
from pointkeeper.store import Store, open_store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

__all__ = ["opened_store", "select"]


@contextmanager
def opened_store(database_url: str) -> Iterator[Store]:
    """The store of ``database_url`` (migrated, as a server opens it), closed
    on the way out. It may be open while servers write the same database."""
    store = open_store(DatabaseConfig(url=database_url), programs=())
    try:
        yield store
    finally:
        store.close()


def _rows(tx: Tx, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sql_connection(tx).execute(sql, parameters).fetchall()]


def select(store: Store, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of one read-only statement, ``?`` for each parameter, read in
    a snapshot of their own."""
    assert sql.lstrip().upper().startswith("SELECT")
    rows: list[tuple[Any, ...]] = store.read_sync(_rows, sql, tuple(parameters))
    return rows
