"""Where the ledger state machine keeps its store: an empty ledger for each
hypothesis example, cheaply.

On SQLite each example gets a copy of one migrated template file (on tmpfs
where there is one). On PostgreSQL a database per example would cost a
CREATE DATABASE and a DROP (together over a second here, against about 2 ms
for the reset below), so one database serves the whole test: each example
starts by deleting every row but the reference data, on a store that stays
open, so that its connection and its prepared statements are reused too.
DELETE, not TRUNCATE: on tables this small TRUNCATE costs some thirty times
more (it gives every table new files).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Protocol

import asyncpg

from pointkeeper.store import Store
from pointkeeper.store.migrate import migrate
from pointkeeper.store.postgres import PostgresStore
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.sqlite import SqliteStore
from pointkeeper.store.tx import Tx

__all__ = ["LedgerDatabase", "PostgresRows", "SqliteCopies", "make_sqlite_template"]

# Kept between examples: written again by every example's start-up, and
# only ever upserted, so what one example leaves is what the next writes.
_reference_tables = frozenset({"alembic_version", "programs", "action_templates"})


class LedgerDatabase(Protocol):
    def open(self) -> Store:
        """A store on a database with an empty ledger."""

    def close(self, store: Store) -> None:
        """The end of one example."""


def _scratch() -> str | None:
    # On tmpfs the store's synchronous=FULL commits cost no disk flush.
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def make_sqlite_template(path: Path) -> Path:
    """A migrated SQLite database for examples to copy."""
    migrate(f"sqlite:///{path}")
    # Switched to WAL here, once: the store's threads each switch a fresh
    # database to WAL as they connect, and now and then one of them loses
    # that race with "database is locked" (reported; not this test's subject).
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


class SqliteCopies:
    """A fresh copy of the template per example, removed at its end."""

    def __init__(self, template: Path) -> None:
        self._template = template
        self._directories: dict[int, str] = {}

    def open(self) -> Store:
        directory = tempfile.mkdtemp(prefix="pointkeeper-", dir=_scratch())
        path = f"{directory}/pointkeeper.db"
        shutil.copyfile(self._template, path)
        store = SqliteStore(path)
        self._directories[id(store)] = directory
        return store

    def close(self, store: Store) -> None:
        store.close()
        shutil.rmtree(self._directories.pop(id(store)), ignore_errors=True)


async def _deletion_order(url: str) -> list[str]:
    """The tables to empty, each after every table that refers to it."""
    connection = await asyncpg.connect(url)
    try:
        tables = {
            row[0]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        references = await connection.fetch(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
    finally:
        await connection.close()
    referrers: dict[str, set[str]] = {table: set() for table in tables}
    for referrer, referred in references:
        if referrer != referred:
            referrers[referred].add(referrer)
    order: list[str] = []
    while referrers:
        free = sorted(t for t, others in referrers.items() if not others - set(order))
        assert free, f"foreign keys in a cycle: {referrers}"
        order += free
        for table in free:
            del referrers[table]
    return [t for t in order if t not in _reference_tables]


def _delete_rows(tx: Tx, tables: list[str]) -> None:
    for table in tables:
        sql_connection(tx).execute(f"DELETE FROM {table}")


class PostgresRows:
    """One database and one store for every example; each example starts
    with the ledger's rows deleted."""

    def __init__(self, url: str) -> None:
        self._tables = asyncio.run(_deletion_order(url))
        self._store = PostgresStore(url)

    def open(self) -> Store:
        self._store.write_sync(_delete_rows, self._tables)
        return self._store

    def close(self, store: Store) -> None:
        assert store is self._store

    def shutdown(self) -> None:
        self._store.close()
