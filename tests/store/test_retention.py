"""Pruning kept transactionId answers and finished asynchronous calls past
their retention, on SQLite and PostgreSQL: only what is old enough goes, in
bounded batches, and a call still queued is never touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pointkeeper import limits
from pointkeeper.config import DatabaseConfig
from pointkeeper.domain.time import ms_per_day
from pointkeeper.services.retention import prune_kept
from pointkeeper.store import Store, open_store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

NOW = 1_767_225_600_000
RETENTION_DAYS = 30
OLD = NOW - (RETENTION_DAYS + 1) * ms_per_day
RECENT = NOW - (RETENTION_DAYS - 1) * ms_per_day


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(DatabaseConfig(url=database_url), programs=())
    yield opened
    opened.close()


def _keep(tx: Tx, transaction_id: str, at: int) -> None:
    assert tx.claim_operation("shop", transaction_id=transaction_id, fingerprint="f", at=at)
    tx.record_operation_result("shop", transaction_id=transaction_id, result=b"{}")


def _queue(tx: Tx, transaction_id: str, at: int, *, finished: bool) -> None:
    call_id = tx.enqueue_async(
        endpoint_id="shop",
        operation="Change",
        transaction_id=transaction_id,
        fingerprint="f",
        request_format="json",
        body=b"{}",
        at=at,
    )
    assert call_id is not None
    if finished:
        tx.finish_async_operation(call_id, status="done", result=b"{}", error=None, at=at)


def _left(tx: Tx) -> tuple[list[str], list[str]]:
    connection = sql_connection(tx)
    kept = connection.execute("SELECT transaction_id FROM operation_results ORDER BY 1")
    calls = connection.execute("SELECT transaction_id FROM async_operations ORDER BY 1")
    return [row[0] for row in kept], [row[0] for row in calls]


def test_only_what_is_past_its_retention_is_pruned(store: Store) -> None:
    store.write_sync(_keep, "old", OLD)
    store.write_sync(_keep, "recent", RECENT)
    store.write_sync(_queue, "old-done", OLD, finished=True)
    store.write_sync(_queue, "old-queued", OLD, finished=False)
    store.write_sync(_queue, "recent-done", RECENT, finished=True)
    assert store.write_sync(prune_kept, retention_days=RETENTION_DAYS, now=NOW) == 2
    assert store.read_sync(_left) == (["recent"], ["old-queued", "recent-done"])
    assert store.write_sync(prune_kept, retention_days=RETENTION_DAYS, now=NOW) == 0


def _keep_many(tx: Tx, count: int) -> None:
    for n in range(count):
        _keep(tx, f"t-{n:05d}", OLD - n)


def test_one_batch_prunes_at_most_job_batch_max_of_each(store: Store) -> None:
    many = limits.job_batch_max + 7
    store.write_sync(_keep_many, many)
    first = store.write_sync(prune_kept, retention_days=RETENTION_DAYS, now=NOW)
    assert first == limits.job_batch_max
    # The oldest went first.
    kept, _ = store.read_sync(_left)
    assert kept == [f"t-{n:05d}" for n in range(7)]
    assert store.write_sync(prune_kept, retention_days=RETENTION_DAYS, now=NOW) == 7
    assert store.read_sync(_left) == ([], [])
