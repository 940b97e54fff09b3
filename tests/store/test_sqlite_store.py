"""The SQLite store's group commit: isolation of failures, durability of
answers, and no caller left waiting when the writer cannot go on."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pointkeeper.config import DatabaseConfig
from pointkeeper.errors import StoreError
from pointkeeper.store import open_store
from pointkeeper.store.migrate import migrate
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.sqlite import SqliteStore
from pointkeeper.store.tx import Tx


def _add_template(tx: Tx, name: str) -> int:
    return tx.upsert_template(name, name=name)


def _add_then_fail(tx: Tx, name: str) -> None:
    tx.upsert_template(name, name=name)
    raise ValueError("refused after writing")


def _names(tx: Tx) -> list[str]:
    rows = sql_connection(tx).execute("SELECT system_name FROM action_templates ORDER BY 1")
    return [row[0] for row in rows]


def _open(tmp_path: Path) -> SqliteStore:
    opened = open_store(DatabaseConfig(url=f"sqlite:///{tmp_path}/db.sqlite"), programs=())
    assert isinstance(opened, SqliteStore)
    return opened


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = _open(tmp_path)
    yield opened
    opened.close()


def test_a_failing_request_rolls_back_alone_within_its_batch(store: SqliteStore) -> None:
    async def run() -> list[object]:
        calls = [store.write(_add_template, f"ok-{i}") for i in range(20)]
        calls += [store.write(_add_then_fail, f"bad-{i}") for i in range(20)]
        outcomes: list[object] = await asyncio.gather(*calls, return_exceptions=True)
        return outcomes

    outcomes = asyncio.run(run())
    assert all(isinstance(o, int) for o in outcomes[:20])
    assert all(isinstance(o, ValueError) for o in outcomes[20:])
    names = store.read_sync(_names)
    assert [n for n in names if n.startswith("ok-")] == sorted(f"ok-{i}" for i in range(20))
    assert not [n for n in names if n.startswith("bad-")]


def test_an_answered_write_is_on_disk(store: SqliteStore, tmp_path: Path) -> None:
    store.write_sync(_add_template, "durable")
    with sqlite3.connect(tmp_path / "db.sqlite") as other:
        rows = other.execute("SELECT 1 FROM action_templates WHERE system_name = 'durable'")
        assert rows.fetchone() == (1,)


def test_the_database_runs_in_wal_mode_with_full_sync(store: SqliteStore) -> None:
    def pragmas(tx: Tx) -> tuple[str, int]:
        mode = sql_connection(tx).execute("PRAGMA journal_mode").fetchone()[0]
        sync = sql_connection(tx).execute("PRAGMA synchronous").fetchone()[0]
        return mode, sync

    assert store.read_sync(pragmas) == ("wal", 2)


def _stop_the_writer(tx: Tx) -> None:
    raise SystemExit("simulated fatal failure of the writer thread")


def test_a_dead_writer_fails_every_caller_instead_of_hanging(store: SqliteStore) -> None:
    with pytest.raises(StoreError, match="writer stopped"):
        store.write_sync(_stop_the_writer)
    with pytest.raises(StoreError, match="writer stopped"):
        store.write_sync(_add_template, "after")


def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = _open(tmp_path)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.write_sync(_add_template, "late")


def test_a_write_waits_off_the_loop_for_another_process_lock(
    store: SqliteStore, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def run() -> tuple[int, int]:
        write = asyncio.ensure_future(store.write(_add_template, "after-the-lock"))
        ticks = 0
        while not write.done() and ticks < 50:
            await asyncio.sleep(0.01)  # the loop keeps running meanwhile
            ticks += 1
            if ticks == 20:
                other.execute("COMMIT")
        return await write, ticks

    template_id, ticks = asyncio.run(run())
    other.close()
    assert template_id > 0
    assert ticks >= 20
    assert "after-the-lock" in store.read_sync(_names)


def _add_place(tx: Tx, external_id: str, name: str) -> int:
    return tx.upsert_point_of_contact(external_id, name=name)


def _place_count(tx: Tx) -> int:
    return int(sql_connection(tx).execute("SELECT COUNT(*) FROM points_of_contact").fetchone()[0])


def test_the_wal_stays_bounded_under_steady_writes(tmp_path: Path) -> None:
    """Batch after batch without a pause (as under load): the WAL is started
    over once it passes its bound instead of growing with every commit (it
    used to fill a small disk with a database a hundredth of its size)."""
    wal_bytes_max = 1024 * 1024
    migrate(f"sqlite:///{tmp_path}/db.sqlite")
    store = SqliteStore(str(tmp_path / "db.sqlite"), wal_bytes_max=wal_bytes_max)
    wal = tmp_path / "db.sqlite-wal"
    writes = 3_000
    peak = 0

    async def run() -> None:
        nonlocal peak
        for n in range(writes):
            await store.write(_add_place, f"place-{n}", "p" * 2_000)
            peak = max(peak, wal.stat().st_size)

    try:
        asyncio.run(run())
        assert store.read_sync(_place_count) == writes
    finally:
        store.close()
    # Each commit appended a few pages: unbounded, the WAL would hold them
    # all (some 40 MB). The writer starts it over at twice the bound at the
    # latest, so it never passes that by more than a batch.
    assert peak <= 2 * wal_bytes_max + 64 * 1024, peak
