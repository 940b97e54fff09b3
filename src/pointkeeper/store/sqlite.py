"""SQLite in WAL mode with ``synchronous=FULL``, made fast by group commit.

One writer thread owns the only write connection. Requests queue up; the
writer takes as many as are waiting (up to ``write_batch_max``), runs each
in a savepoint of one transaction so that a failing request rolls back
alone, commits once, and only then answers every request of the batch.
Reads run on their own connections in a small thread pool and see only
committed data.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pointkeeper import limits
from pointkeeper.errors import Overloaded, StoreError

from .tx import SqliteTx

__all__ = ["SqliteStore"]

T = TypeVar("T")
Work = Callable[..., Any]
_log = logging.getLogger(__name__)

_reader_threads = 2
# The WAL is checkpointed by a thread of its own, so that copying pages back
# into the database never stalls a commit of the writer.
_checkpoint_interval_seconds = 1.0
_wal_bytes_max = 64 * 1024 * 1024


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # The busy timeout comes first: every later statement may meet a lock.
    connection.execute("PRAGMA busy_timeout=10000")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA journal_size_limit={_wal_bytes_max}")
    return connection


def _connect_writer(path: str) -> sqlite3.Connection:
    """The write connection, opened by the caller of the store so that a
    database that cannot be opened fails there, not in a thread."""
    connection = _connect(path)
    # WAL is a property of the file: set once here, before any other thread connects.
    (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
    if mode != "wal":
        connection.close()
        raise StoreError(f"{path}: SQLite refused WAL mode (got {mode!r})")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


class _Request:
    __slots__ = ("args", "future", "kwargs", "loop", "work")

    def __init__(
        self,
        work: Work,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: Future[Any] | asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.work = work
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.loop = loop


def _resolve_async(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SqliteStore:
    """The store on one SQLite file: ``write`` and ``read`` run a function
    of a ``SqliteTx`` as one unit of work."""

    def __init__(self, path: str, *, context: dict[str, Any] | None = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._context = context or {}
        self._queue: queue.Queue[_Request | None] = queue.Queue(limits.write_queue_max)
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(_reader_threads, thread_name_prefix="sqlite-reader")
        self._closed = False
        self._failure: StoreError | None = None
        self._read_connections: list[sqlite3.Connection] = []
        self._read_connections_lock = threading.Lock()
        self._write_connection = _connect_writer(path)
        self._checkpoint_connection = _connect(path)
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="sqlite-checkpointer", daemon=True
        )
        self._writer.start()
        self._checkpointer.start()

    @property
    def context(self) -> dict[str, Any]:
        """Reference data every transaction sees (programs, built-in templates)."""
        return self._context

    # -- writing ---------------------------------------------------------

    async def write(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._enqueue(_Request(work, args, kwargs, future, loop))
        return await future

    def write_sync(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        future: Future[Any] = Future()
        self._enqueue(_Request(work, args, kwargs, future, None))
        return future.result()

    def _enqueue(self, request: _Request) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise StoreError("The store is closed")
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            raise Overloaded("Too many writes are waiting; retry later") from None
        if self._failure is not None:
            # The writer stopped between the check above and the put.
            self._fail_queued()

    def _checkpoint_loop(self) -> None:
        connection = self._checkpoint_connection
        try:
            while not self._stop_checkpoints.wait(_checkpoint_interval_seconds):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    _log.exception("WAL checkpoint failed; trying again")
        finally:
            connection.close()

    def _write_loop(self) -> None:
        connection = self._write_connection
        tx = SqliteTx(connection, self._context)
        batch: list[_Request] = []
        try:
            while batch := self._next_batch():
                self._answer(batch, self._run_batch(connection, tx, batch))
                batch = []
        except BaseException as exc:
            # Nothing may wait forever on a writer that is gone: fail the
            # batch in hand and every queued request, and refuse new ones.
            _log.critical("the SQLite writer stopped", exc_info=exc)
            self._failure = StoreError("The database writer stopped; see the server log")
            self._answer(batch, [(False, self._failure)] * len(batch))
            self._fail_queued()
        finally:
            connection.close()

    def _next_batch(self) -> list[_Request]:
        """Waits for a request, then takes every other one already waiting
        (up to ``write_batch_max``); an empty batch means the store closes."""
        first = self._queue.get()
        if first is None:
            return []
        batch = [first]
        while len(batch) < limits.write_batch_max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
        return batch

    def _fail_queued(self) -> None:
        assert self._failure is not None
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._answer([item], [(False, self._failure)])

    @staticmethod
    def _run_batch(
        connection: sqlite3.Connection, tx: SqliteTx, batch: list[_Request]
    ) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for request in batch:
                connection.execute("SAVEPOINT request")
                try:
                    result = request.work(tx, *request.args, **request.kwargs)
                except Exception as exc:
                    connection.execute("ROLLBACK TO request")
                    outcomes.append((False, exc))
                else:
                    outcomes.append((True, result))
                connection.execute("RELEASE request")
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            _log.exception("write batch failed")
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            failure = StoreError(f"The database failed: {exc}")
            return [(False, failure)] * len(batch)
        return outcomes

    @staticmethod
    def _answer(batch: list[_Request], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool, Any]]] = {}
        for request, (ok, value) in zip(batch, outcomes, strict=True):
            if request.loop is None:
                assert isinstance(request.future, Future)
                if ok:
                    request.future.set_result(value)
                else:
                    request.future.set_exception(value)
            else:
                by_loop.setdefault(request.loop, []).append((request.future, ok, value))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_async, items)
            except RuntimeError:
                _log.warning("a caller's event loop closed before its write was answered")

    # -- reading ---------------------------------------------------------

    async def read(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, lambda: self.read_sync(work, *args, **kwargs)
        )

    def read_sync(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        tx = getattr(self._local, "tx", None)
        if tx is None:
            tx = SqliteTx(_connect(self._path), self._context)
            self._local.tx = tx
            with self._read_connections_lock:
                self._read_connections.append(tx.connection)
        connection = tx.connection
        connection.execute("BEGIN")
        try:
            return work(tx, *args, **kwargs)
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._stop_checkpoints.set()
        self._checkpointer.join()
        self._readers.shutdown(wait=True)
        with self._read_connections_lock:
            for connection in self._read_connections:
                connection.close()
            self._read_connections.clear()
