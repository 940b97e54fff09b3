"""What the store's state-machine tests share: an empty ledger per
hypothesis example, on SQLite (copies of one migrated template) or on
PostgreSQL (one database, its rows deleted between examples)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .ledger_databases import LedgerDatabase, PostgresRows, SqliteCopies, make_sqlite_template


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database that every example starts from as a copy."""
    return make_sqlite_template(tmp_path_factory.mktemp("template") / "pointkeeper.db")


@pytest.fixture
def ledger_database(database_url: str, template_db: Path) -> Iterator[LedgerDatabase]:
    """Each example's empty ledger, on the backend of ``database_url`` (on
    SQLite the copies of ``template_db`` stand in for the file it names)."""
    if database_url.startswith("sqlite:"):
        yield SqliteCopies(template_db)
        return
    database = PostgresRows(database_url)
    yield database
    database.shutdown()
