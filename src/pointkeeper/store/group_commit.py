"""The group commit, written once for both stores.

A writer takes the writes waiting (a batch), opens one transaction, runs
each write in a savepoint of its own so that a failing one rolls back
alone, commits once, and only then answers every write of the batch. A
write the backend may not finish now (a lock another writer holds, a lost
deadlock) is rolled back to its savepoint and put back at the head of the
queue for a later batch, where it may come first, at most
``limits.write_attempts_max`` times; then it is answered
``Overloaded``. A batch whose transaction cannot begin or commit is
answered as a whole with the ``StoreError`` that says why.

What differs between the databases is given by a ``BatchHooks`` object:
how to begin, where the writes' plain code runs (SQLite on the event
loop's thread, PostgreSQL in the greenlet bridge), the savepoint
statements, which errors are whose, and what to do between batches. The
writes and their savepoints run as plain code, with no ``await`` between
them: a SQLite batch leaves the event loop for its COMMIT only (and for
BEGIN while another process holds the lock), however many writes it holds.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pointkeeper import limits, metrics
from pointkeeper.errors import Overloaded, StoreError

from .tx import Tx
from .writes import Work, WriteFailures, WriteQueue, WriteRequest, answer

__all__ = ["BatchHooks", "BatchNotStarted", "GroupCommit"]

_T = TypeVar("_T")
# Outcomes of a batch's writes: (request, ok, result or exception).
_Outcomes = list[tuple[WriteRequest, bool, Any]]

# A caller without batches pauses before its next attempt.
_retry_pause_seconds = 0.01


class BatchNotStarted(Exception):
    """The batch's connection was found dead at BEGIN (it died idle in a
    pool, as every connection does when the database restarts or fails
    over): nothing of the batch ran, and it goes back to the head of the
    queue for another connection."""


class BatchHooks(Protocol):
    """One backend's steps of a batch, on one connection. ``begin``,
    ``commit`` and ``run`` raise a ``StoreError`` to fail the batch as it
    is, with no transaction left open."""

    # A writer stops after a batch that failed as a whole, rather than go on
    # with the next one on the same connection.
    stops_after_failure: bool

    @property
    def tx(self) -> Tx:
        """What the batch's writes run on, once ``begin`` has opened it."""

    async def begin(self) -> None:
        """Opens the transaction and the first write's savepoint; raises
        ``BatchNotStarted`` when the connection was dead."""

    async def run(self, requests: Callable[[], _T]) -> _T:
        """Calls ``requests`` (the writes and the savepoint hooks) where the
        backend's statements can run."""

    def next_savepoint(self) -> None:
        """Releases the last write's savepoint and opens the next one's."""

    def request_failed(self, error: Exception) -> Exception | None:
        """Rolls a write that raised ``error`` back to its savepoint and
        says what it is answered with: None to try it again in a later batch.
        Raises when the batch cannot go on."""

    async def commit(self) -> None:
        """Commits the transaction, the last savepoint with it."""

    async def batch_failed(self, error: Exception) -> StoreError | None:
        """Rolls back a batch that failed beyond one of its writes and says
        what its writes are answered with: None to try them all again."""

    async def after_batch(self) -> None:
        """Runs between two batches, once the first is answered."""


class GroupCommit:
    """The batches of one store's write queue."""

    __slots__ = ("_queue", "_write_failures")

    def __init__(self, queue: WriteQueue, write_failures: WriteFailures) -> None:
        self._queue = queue
        self._write_failures = write_failures

    async def run_batches(self, hooks: BatchHooks) -> None:
        """Takes batches on one connection while writes wait; returns when
        it finds the queue empty."""
        loop = asyncio.get_running_loop()
        while self._queue:
            batch = self._queue.take(loop)
            metrics.write_queue_depth.set(len(self._queue))
            if not batch:
                continue
            try:
                again, failure = await self._run_batch(hooks, batch)
            except BatchNotStarted:
                self._queue.put_back(batch)
                raise
            self._queue.put_back(again)
            await hooks.after_batch()
            if failure is not None and hooks.stops_after_failure:
                raise failure

    async def run_alone(
        self, hooks: BatchHooks, work: Work, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """A write of a caller without the store's event loop (a command):
        a batch of one, tried again after a pause while the backend says it
        may be."""
        loop = asyncio.get_running_loop()
        request = WriteRequest(work, args, kwargs, loop.create_future(), loop.time())
        again = [request]
        while again:
            if request.attempts:
                await asyncio.sleep(_retry_pause_seconds * request.attempts)
            again, _ = await self._run_batch(hooks, again)
        await hooks.after_batch()
        return request.future.result()

    async def _run_batch(
        self, hooks: BatchHooks, batch: list[WriteRequest]
    ) -> tuple[list[WriteRequest], StoreError | None]:
        """Runs the batch as one transaction and answers its writes; returns
        those to try again and, if the batch failed as a whole, why."""
        failure: StoreError | None = None
        try:
            await hooks.begin()
            outcomes, again = await hooks.run(functools.partial(_run_requests, hooks, batch))
            committing = time.perf_counter()
            await hooks.commit()
            metrics.observe(metrics.commit_seconds, time.perf_counter() - committing)
            metrics.observe(metrics.write_batch_size, len(outcomes))
        except BatchNotStarted:
            raise
        except StoreError as error:
            failure = error
        except Exception as error:
            failure = await hooks.batch_failed(error)
            if failure is None:
                outcomes, again = [], batch
        if failure is not None:
            metrics.count(metrics.database_errors, len(batch), operation="write")
            outcomes, again = [(request, False, failure) for request in batch], []
        self._write_failures.note((ok, value) for _, ok, value in outcomes)
        for request, ok, value in outcomes:
            if ok:
                # What the write counted holds now that it is committed.
                metrics.flush(request.events)
            answer(request, ok, value)
        return _count_attempts(again), failure


def _run_requests(
    hooks: BatchHooks, batch: list[WriteRequest]
) -> tuple[_Outcomes, list[WriteRequest]]:
    """Runs each write in its savepoint: (outcomes, writes to try again)."""
    tx = hooks.tx
    outcomes: _Outcomes = []
    again: list[WriteRequest] = []
    for index, request in enumerate(batch):
        if index:
            hooks.next_savepoint()
        try:
            with metrics.deferred() as request.events:
                result = request.work(tx, *request.args, **request.kwargs)
        except Exception as exc:
            error = hooks.request_failed(exc)
            if error is None:
                again.append(request)
            else:
                outcomes.append((request, False, error))
        else:
            outcomes.append((request, True, result))
    return outcomes, again


def _count_attempts(again: list[WriteRequest]) -> list[WriteRequest]:
    """The writes to try again, less those tried often enough: they are
    answered "retry later", as a full queue is."""
    retried = []
    for request in again:
        request.attempts += 1
        if request.attempts >= limits.write_attempts_max:
            answer(request, False, Overloaded("The database is busy; retry later"))
        else:
            retried.append(request)
    return retried
