"""An online copy of a SQLite database (``pointkeeper backup``).

SQLite's backup API copies the pages in one step, inside one read
transaction: in WAL mode that is a consistent snapshot of the database at
one commit, while the server goes on writing beside it (its checkpoints
wait for the copy to end, so the WAL grows meanwhile). The copy is written
beside the target and renamed over it once it is whole and checked, so a
half-written file never carries the target's name. PostgreSQL is backed up
with its own tools (``docs/deployment.md``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from pointkeeper.config import is_postgres
from pointkeeper.errors import StoreError, StoreUnavailable

__all__ = ["backup_sqlite"]


def backup_sqlite(database_url: str, target: Path) -> int:
    """Copies the database of ``database_url`` to ``target`` (which must not
    exist); answers the pages copied."""
    if is_postgres(database_url):
        raise StoreError(
            "backup copies a SQLite database; back up PostgreSQL with pg_dump or"
            " pg_basebackup (docs/deployment.md)"
        )
    source_path = Path(database_url.removeprefix("sqlite:///"))
    if not source_path.is_file():
        raise StoreUnavailable(f"{source_path}: no such database")
    if target.exists():
        raise StoreError(f"{target} exists already; back up to a new file")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path)
    try:
        # The server's batches hold the write lock briefly; a reader only
        # waits for one that is starting the WAL over.
        source.execute("PRAGMA busy_timeout=10000")
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise StoreError(f"the copy failed its integrity check: {verdict}")
            (pages,) = copy.execute("PRAGMA page_count").fetchone()
        finally:
            copy.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreUnavailable(f"{source_path}: {exc}") from None
    finally:
        source.close()
    _durable_rename(partial, target=target)
    return int(pages)


def _durable_rename(partial: Path, *, target: Path) -> None:
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, target)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
