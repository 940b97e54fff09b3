"""The store: the only package with SQL in it."""

from __future__ import annotations

from .migrate import migrate
from .sqlite import SqliteStore

__all__ = ["open_store"]


def open_store(database_url: str) -> SqliteStore:
    """Migrates the database to the newest schema and opens it."""
    if not database_url.startswith("sqlite:///"):
        raise NotImplementedError("Only SQLite is supported so far; PostgreSQL comes next")
    migrate(database_url)
    return SqliteStore(database_url.removeprefix("sqlite:///"))
