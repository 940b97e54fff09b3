"""SQLite in WAL mode with ``synchronous=FULL``, made fast by group commit.

Writes queue up and are committed in batches by ``group_commit``; here
are its steps on SQLite (``_SqliteWriter``).

Where the work runs matters more than anything else for speed. Python's
``sqlite3`` lets go of the GIL around every statement, so a writer thread
beside a busy event loop waits for the GIL at each of a request's
statements: measured, four times the cost of the same work done alone. So
the statements of a batch run on the event loop's own thread, and only the
``COMMIT`` (the fsync, during which no GIL is held) goes to a thread; while
it is on disk the loop goes on reading the next batch's requests. Callers
without an event loop (the CLI, tests) run their work as a batch of one,
on a private event loop of the store's.

Reads run on their own connections in a small thread pool and see only
committed data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

from pointkeeper import limits
from pointkeeper.errors import StoreError, StoreUnavailable

from .group_commit import GroupCommit
from .reference_data import CurrentReferenceData, ReferenceData
from .sqlite_tx import SqliteTx
from .writes import Work, WriteFailures, WriteQueue

__all__ = ["SqliteStore"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

_reader_threads = 2
_lock_wait_seconds = 10.0
_lock_retry_seconds = 0.002
# The WAL is checkpointed by a thread of its own, so that copying pages back
# into the database happens beside the commits, not in their way. That alone
# never lets the WAL start over while writes go on (a checkpoint finishes
# only while nothing is written), and it grew with every commit. So when the
# thread finds the WAL past its bound (``database.wal_bytes_max``), it asks
# the writer to finish the checkpoint between two batches: only the frames
# since the thread's own pass are left to copy, and the next batch starts the
# WAL from its beginning, the file cut back to the bound. Should the writer
# find the WAL at twice the bound first (writes faster than the thread's
# passes), it does not wait for the thread. A reader that keeps an old
# snapshot (a long export) holds the WAL until it ends.
_checkpoint_interval_seconds = 0.25


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # The busy timeout comes first: every later statement may meet a lock.
    connection.execute("PRAGMA busy_timeout=10000")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def _connect_writer(path: str, *, wal_bytes_max: int) -> sqlite3.Connection:
    """The write connection, opened by the caller of the store so that a
    database that cannot be opened fails there."""
    connection = _connect(path)
    # The writer is the connection that starts the WAL over: it cuts the file back.
    connection.execute(f"PRAGMA journal_size_limit={wal_bytes_max}")
    # WAL is a property of the file: set once here, before any other thread connects.
    (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
    if mode != "wal":
        connection.close()
        raise StoreError(f"{path}: SQLite refused WAL mode (got {mode!r})")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    # A large import touches most pages of the unique code index; with the
    # default 2 MB cache they were written out and read back mid-transaction
    # (measured: 1M codes 17.8 s -> 14.0 s with 64 MB).
    connection.execute("PRAGMA cache_size=-65536")
    # The write connection never waits inside SQLite: a BEGIN that meets
    # another process's lock is retried by ``_begin`` off the event loop.
    connection.execute("PRAGMA busy_timeout=0")
    return connection


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


# Primary result codes of a database that cannot be read or written now (a
# full disk, an I/O error, a file that cannot be opened, a lock held too
# long), rather than of a wrong statement: the request may be sent again.
_unavailable_codes = frozenset(
    getattr(sqlite3, name)
    for name in (
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_NOMEM",
        "SQLITE_READONLY",
        "SQLITE_IOERR",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
    )
)


def _is_unavailable(error: BaseException) -> TypeGuard[sqlite3.Error]:
    if not isinstance(error, sqlite3.Error) or error.sqlite_errorcode is None:
        return False
    # Extended codes (SQLITE_IOERR_WRITE, ...) keep the primary code in the low byte.
    return error.sqlite_errorcode & 0xFF in _unavailable_codes


def _unavailable_error(error: sqlite3.Error) -> StoreUnavailable:
    _log.warning("SQLite is unavailable: %s", error)
    return StoreUnavailable(f"The database is unavailable: {error}")


# Answered by ``_begin_at_once`` when another process holds the write lock.
_busy = StoreError("The database is locked by another process")


class _SqliteWriter:
    """The write connection and the group commit's steps on it (its
    ``BatchHooks``): BEGIN IMMEDIATE at once, or off the loop while another
    process holds the lock; the writes and their savepoints on the loop's
    thread, with no await; COMMIT in the ``committer`` thread."""

    __slots__ = (
        "_committer",
        "_wal_bytes_max",
        "_wal_path",
        "connection",
        "failure",
        "tx",
        "wal_restart_wanted",
    )
    # A failed batch leaves no transaction open: the next one begins afresh.
    stops_after_failure = False

    def __init__(self, path: str, references: CurrentReferenceData, *, wal_bytes_max: int) -> None:
        self.connection = _connect_writer(path, wal_bytes_max=wal_bytes_max)
        self.tx = SqliteTx(self.connection, references)
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        # Set when the writer cannot go on; every later write is refused with it.
        self.failure: StoreError | None = None
        self._wal_path = f"{path}-wal"
        self._wal_bytes_max = wal_bytes_max
        # Set by the checkpoint thread, taken by the writer.
        self.wal_restart_wanted = False

    async def begin(self) -> None:
        # BEGIN is tried here; when another process holds the write lock the
        # wait happens off the loop, like COMMIT's wait for the disk.
        failure = self._begin_at_once()
        if failure is _busy:
            loop = asyncio.get_running_loop()
            failure = await loop.run_in_executor(self._committer, self._begin)
        if failure is not None:
            raise failure

    async def run(self, requests: Callable[[], _T]) -> _T:
        try:
            return requests()
        except BaseException as exc:
            # Beyond one request (a savepoint statement, a write that raised
            # SystemExit): the connection's state is unknown. Nothing may be
            # committed, and nothing more may be written until an operator looks.
            raise self._stop(exc) from exc

    def next_savepoint(self) -> None:
        self.connection.execute("RELEASE request")
        self.connection.execute("SAVEPOINT request")

    def request_failed(self, error: Exception) -> Exception:
        self.connection.execute("ROLLBACK TO request")
        return _unavailable_error(error) if _is_unavailable(error) else error

    async def commit(self) -> None:
        loop = asyncio.get_running_loop()
        failure = await loop.run_in_executor(self._committer, self._commit)
        if failure is not None:
            raise failure

    async def batch_failed(self, error: Exception) -> StoreError:
        return self._stop(error)

    async def after_batch(self) -> None:
        if self._wal_is_due():
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._committer, self._restart_wal)

    def close(self) -> None:
        self.connection.close()
        self._committer.shutdown(wait=True)

    def _stop(self, error: BaseException) -> StoreError:
        _log.critical("a write batch failed beyond one request", exc_info=error)
        self.failure = StoreError("The database writer stopped; see the server log")
        with contextlib.suppress(sqlite3.Error):
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        return self.failure

    def _begin_at_once(self) -> StoreError | None:
        """Opens the batch's transaction and the first request's savepoint if
        the write lock is free now; answers ``_busy`` when it is not, or the
        error that fails the batch."""
        if self.failure is not None:
            return self.failure
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                return _busy
            if _is_unavailable(exc):
                return _unavailable_error(exc)
            _log.exception("could not begin a write transaction")
            return StoreError(f"The database failed: {exc}")
        self.connection.execute("SAVEPOINT request")
        return None

    def _begin(self) -> StoreError | None:
        """Opens the batch's transaction, waiting up to ``_lock_wait_seconds``
        for another process's write lock."""
        deadline = time.monotonic() + _lock_wait_seconds
        while (failure := self._begin_at_once()) is _busy:
            if time.monotonic() > deadline:
                _log.warning("SQLite stayed locked by another process")
                return StoreUnavailable("The database stayed locked by another process")
            time.sleep(_lock_retry_seconds)
        return failure

    def _commit(self) -> StoreError | None:
        """Commits the open transaction; answers the error that fails the
        whole batch, if any."""
        connection = self.connection
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if _is_unavailable(exc):
                return _unavailable_error(exc)
            _log.exception("commit failed")
            return StoreError(f"The database failed: {exc}")
        return None

    def _restart_wal(self) -> None:
        """Checkpoints from the writer, with no write transaction open: every
        frame gets copied (unless a reader holds an old snapshot), so the
        next transaction writes the WAL from its start."""
        self.wal_restart_wanted = False
        try:
            self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            _log.warning("WAL checkpoint by the writer failed: %s", exc)

    def _wal_is_due(self) -> bool:
        """True when the writer should start the WAL over now."""
        return self.wal_restart_wanted or self.wal_bytes() > 2 * self._wal_bytes_max

    def wal_bytes(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0


class SqliteStore:
    """The store on one SQLite file: ``write`` and ``read`` run a function
    of a ``Tx`` as one unit of work."""

    def __init__(
        self,
        path: str,
        *,
        write_wait_seconds_max: float = limits.write_wait_seconds_max_default,
        wal_bytes_max: int = limits.sqlite_wal_bytes_max_default,
    ) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._references = CurrentReferenceData()
        self._writer = _SqliteWriter(path, self._references, wal_bytes_max=wal_bytes_max)
        # Held by whoever uses the write connection: the pipeline while it
        # runs, or one synchronous caller.
        self._connection_lock = threading.Lock()
        self._waiting = WriteQueue(wait_seconds_max=write_wait_seconds_max)
        self.write_failures = WriteFailures()
        self._group_commit = GroupCommit(self._waiting, self.write_failures)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pipeline: asyncio.Task[None] | None = None
        # Callers without an event loop (the CLI, tests) run their batch of
        # one on this loop, under the connection lock.
        self._private_loop = asyncio.new_event_loop()
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(_reader_threads, thread_name_prefix="sqlite-reader")
        self._read_connections: list[sqlite3.Connection] = []
        self._read_connections_lock = threading.Lock()
        self._wal_bytes_max = wal_bytes_max
        # Set once the store stops taking writes: ``leave_loop`` has begun.
        self._closing = False
        self._closed = False
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(_connect(path),),
            name="sqlite-checkpointer",
            daemon=True,
        )
        self._checkpointer.start()

    def replace_reference_data(self, reference_data: ReferenceData) -> None:
        """The reference data every later transaction sees."""
        self._references.current = reference_data

    # -- writing ---------------------------------------------------------

    async def write(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        self._check_open()
        if self._loop is None:
            self._loop = loop
        assert loop is self._loop, "a store serves one event loop"
        future = self._waiting.put(loop, work, args, kwargs)
        if self._pipeline is None:
            self._pipeline = loop.create_task(self._run_pipeline())
        return await future

    def write_sync(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        """Runs ``work`` from a thread that is not the store's event loop."""
        self._check_open()
        loop = self._loop
        if loop is not None and loop.is_running():
            assert not _loop_is_current(loop), "use write() on the store's own loop"
            call = self.write(work, *args, **kwargs)
            return asyncio.run_coroutine_threadsafe(call, loop).result()
        with self._connection_lock:
            alone = self._group_commit.run_alone(self._writer, work, args, kwargs)
            return self._private_loop.run_until_complete(alone)

    def _check_open(self) -> None:
        if self._writer.failure is not None:
            self.write_failures.record()
            raise self._writer.failure
        if self._closed or self._closing:
            raise StoreError("The store is closed")

    async def _run_pipeline(self) -> None:
        try:
            with self._connection_lock:
                await self._group_commit.run_batches(self._writer)
        finally:
            self._pipeline = None
            if self._writer.failure is not None:
                self._waiting.fail_all(self._writer.failure)

    def _checkpoint_loop(self, connection: sqlite3.Connection) -> None:
        try:
            while not self._stop_checkpoints.wait(_checkpoint_interval_seconds):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    wanted = self._writer.wal_bytes() > self._wal_bytes_max
                    self._writer.wal_restart_wanted = wanted
                except sqlite3.Error:
                    _log.exception("WAL checkpoint failed; trying again")
        finally:
            connection.close()

    # -- reading ---------------------------------------------------------

    async def read(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, lambda: self.read_sync(work, *args, **kwargs)
        )

    def read_sync(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._read_now(work, args, kwargs)
        except sqlite3.Error as exc:
            if _is_unavailable(exc):
                raise _unavailable_error(exc) from exc
            raise

    def _read_now(self, work: Work, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        tx = getattr(self._local, "tx", None)
        if tx is None:
            reader = _connect(self._path)
            tx = SqliteTx(reader, self._references)
            self._local.tx = tx
            with self._read_connections_lock:
                self._read_connections.append(reader)
        connection = tx.connection
        connection.execute("BEGIN")
        try:
            return work(tx, *args, **kwargs)
        finally:
            connection.execute("COMMIT")

    async def stream(
        self, work: Callable[..., Iterator[bytes]], /, *args: Any
    ) -> AsyncGenerator[bytes, None]:
        """Runs a generator of chunks on a reader connection in a thread of its
        own, handing the chunks over as they come; at most
        ``limits.stream_chunks_waiting_max`` wait, so a slow reader slows the query
        instead of filling memory. One snapshot covers the whole stream."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(
            limits.stream_chunks_waiting_max
        )
        stop = threading.Event()

        def hand_over(item: bytes | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(chunks.put(item), loop).result()

        def produce() -> None:
            connection = _connect(self._path)
            try:
                connection.execute("BEGIN")
                for chunk in work(SqliteTx(connection, self._references), *args):
                    if stop.is_set():
                        return
                    hand_over(chunk)
                hand_over(None)
            except BaseException as exc:  # handed to the consumer, which raises it
                if not stop.is_set():
                    hand_over(_unavailable_error(exc) if _is_unavailable(exc) else exc)
            finally:
                connection.close()

        producer = threading.Thread(target=produce, name="sqlite-stream", daemon=True)
        producer.start()
        try:
            while (item := await chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while not chunks.empty():  # unblock a producer waiting to hand over
                chunks.get_nowait()

    async def leave_loop(self) -> None:
        """Stops taking writes and waits until every write queued so far is
        answered: for a caller whose loop ends before ``close``."""
        self._closing = True
        while (pipeline := self._pipeline) is not None:
            await asyncio.wait({pipeline})

    def close(self) -> None:
        """Closes the store, once every queued write has been answered."""
        if self._closed:
            return
        loop = self._loop
        if loop is not None and loop.is_running():
            assert not _loop_is_current(loop), "await leave_loop() on the store's own loop"
            asyncio.run_coroutine_threadsafe(self.leave_loop(), loop).result()
        self._closed = True
        with self._connection_lock:
            self._writer.close()
        self._private_loop.close()
        self._stop_checkpoints.set()
        self._checkpointer.join()
        self._readers.shutdown(wait=True)
        with self._read_connections_lock:
            for connection in self._read_connections:
                connection.close()
            self._read_connections.clear()


def _loop_is_current(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
