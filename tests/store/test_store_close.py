"""Closing a store under load: every write queued before the close is
committed and answered, or answered with an error; a write after it is
refused; and closing logs nothing (``pointkeeper jobs run`` on PostgreSQL
used to end with a writer's traceback: its pool closed while a writer was
still taking a connection)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from pointkeeper.config import DatabaseConfig
from pointkeeper.errors import StoreError
from pointkeeper.store import Store, open_store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

_rounds = 5
_burst = 200
_answer_seconds_max = 30


def _add_template(tx: Tx, name: str) -> int:
    return tx.upsert_template(name, name=name)


def _names(tx: Tx) -> set[str]:
    return {
        row[0] for row in sql_connection(tx).execute("SELECT system_name FROM action_templates")
    }


def _open(url: str) -> Store:
    # Two writers on PostgreSQL: the second takes a connection while the
    # first answers, which is where a close used to meet it.
    return open_store(DatabaseConfig(url=url, writers=2), programs=())


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if anything logs a warning or worse."""
    caplog.set_level(logging.WARNING)
    yield
    loud = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, loud


def _check_answers(store: Store, outcomes: list[Any], names: list[str]) -> None:
    """Each write answered: committed (its name is in the database) or
    refused with a ``StoreError`` (and not committed)."""
    committed = store.read_sync(_names)
    for outcome, name in zip(outcomes, names, strict=True):
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, StoreError), repr(outcome)
            assert name not in committed
        else:
            assert name in committed


def test_a_close_on_the_store_loop_answers_every_queued_write(
    database_url: str, quiet: None
) -> None:
    """``leave_loop`` as ``jobs run`` and ``worker`` use it: writes awaited
    one after another (each answered as the writer gives its connection
    back), then a burst left queued as the loop ends."""
    for round_number in range(_rounds):
        store = _open(database_url)
        names = [f"r{round_number}-burst-{n}" for n in range(_burst)]
        try:
            outcomes = asyncio.run(_writes_then_leave(store, names))
        finally:
            store.close()
        reopened = _open(database_url)
        try:
            _check_answers(reopened, outcomes, names)
        finally:
            reopened.close()


async def _writes_then_leave(store: Store, names: list[str]) -> list[Any]:
    for n in range(5):
        await store.write(_add_template, f"{names[0]}-one-{n}")
    queued = [asyncio.ensure_future(store.write(_add_template, name)) for name in names]
    await asyncio.sleep(0)  # the burst is queued, a writer has begun
    await store.leave_loop()
    assert all(future.done() for future in queued), "a write was left unanswered"
    with pytest.raises(StoreError, match="closed"):
        await store.write(_add_template, "after")
    return [future.exception() or future.result() for future in queued]


def test_a_close_from_another_thread_answers_every_queued_write(
    database_url: str, quiet: None
) -> None:
    """``close`` as a server's shutdown calls it: from a thread other than
    the store's loop, with writes still queued."""
    store = _open(database_url)
    loop = asyncio.new_event_loop()
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    names = [f"burst-{n}" for n in range(_burst)]
    try:
        futures: list[Future[Any]] = [
            asyncio.run_coroutine_threadsafe(store.write(_add_template, name), loop)
            for name in names
        ]
        store.close()
        outcomes = [
            exc if (exc := future.exception(_answer_seconds_max)) else future.result()
            for future in futures
        ]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        serving.join(_answer_seconds_max)
        loop.close()
    reopened = _open(database_url)
    try:
        _check_answers(reopened, outcomes, names)
    finally:
        reopened.close()
