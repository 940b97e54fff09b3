"""PostgreSQL through asyncpg, with the group commit of the SQLite store.

The services are plain functions of a ``Tx`` that call its methods one
after another; asyncpg answers only to ``await``. A greenlet joins the two:
the service runs in a greenlet of its own, and each statement switches back
to the event loop's task, which awaits the driver and switches the rows in.
One thread, no locks, and the loop serves other requests while PostgreSQL
works.

Writes queue up as on SQLite. Each of ``writers`` connections takes as many
as are waiting (up to ``write_batch_max``), runs each in a savepoint of one
transaction and commits once (``group_commit``, with ``_PgBatches`` for its
steps here). Several processes share the database, so the
queries lock what they change (``PostgresTx``: a batch waits only for its
first lock); a request that meets a lock another writer holds, or loses a
deadlock, is rolled back alone and tried again in a later batch, a bounded
number of times.

Reads run in REPEATABLE READ, READ ONLY transactions: one snapshot each,
as SQLite's readers see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
)
from typing import Any, TypeAlias, TypeVar

import asyncpg
import greenlet
from asyncpg.pool import PoolConnectionProxy

from pointkeeper import limits
from pointkeeper.config import postgres_dsn
from pointkeeper.errors import StoreError, StoreUnavailable

from .group_commit import BatchNotStarted, GroupCommit
from .postgres_tx import Bridge, PgConnection, PostgresReadTx, PostgresTx, await_in_bridge
from .reference_data import CurrentReferenceData, ReferenceData
from .tx import LockBusy
from .unreachable import describe_open_failure
from .writes import Work, WriteFailures, WriteQueue

__all__ = ["PostgresStore"]

# A connection of its own (the private one) or one lent by the pool.
_Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
_T = TypeVar("_T")
_log = logging.getLogger(__name__)

_retryable = (
    LockBusy,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)
# Failures of the database rather than of the request: it cannot be reached,
# is shutting down, out of disk or connections, or read-only (a standby).
# The request may be sent again later as it is.
_unavailable = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    # The driver's state machine met an answer it did not expect: a server
    # that ended the connection while it sat idle (a restart, a failover).
    asyncpg.InternalClientError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresSystemError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.InvalidCatalogNameError,
)


def _unavailable_error(exc: BaseException) -> StoreUnavailable:
    _log.warning("PostgreSQL is unavailable: %s", _one_line(exc))
    return StoreUnavailable(f"The database is unavailable: {_one_line(exc)}")


@contextlib.asynccontextmanager
async def _acquired(pool: asyncpg.Pool) -> AsyncIterator[_Connection]:
    """A connection of the pool. A failure to get one, whatever PostgreSQL
    says (not accepting connections, too many, a wrong password after a
    change), is the database being unavailable, not the request's fault."""
    try:
        connection = await pool.acquire()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _unavailable_error(exc) from exc
    try:
        yield connection
    finally:
        await pool.release(connection)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -- running a service's plain calls on asyncpg --------------------------


class _Chunk:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


async def _run_bridged(work: Work, /, *args: Any, **kwargs: Any) -> Any:
    bridge = Bridge(work)
    value = bridge.switch(*args, **kwargs)
    while not bridge.dead:
        try:
            result = await value
        except BaseException as exc:  # raised again inside the service
            value = bridge.throw(exc)
        else:
            value = bridge.switch(result)
    return value


async def _stream_bridged(
    work: Callable[..., Iterator[bytes]], /, *args: Any
) -> AsyncGenerator[bytes, None]:
    def produce(*args: Any) -> None:
        parent = greenlet.getcurrent().parent
        for chunk in work(*args):
            parent.switch(_Chunk(chunk))

    bridge = Bridge(produce)
    value = bridge.switch(*args)
    try:
        while not bridge.dead:
            if isinstance(value, _Chunk):
                yield value.data
                value = bridge.switch(None)
                continue
            try:
                result = await value
            except BaseException as exc:
                value = bridge.throw(exc)
            else:
                value = bridge.switch(result)
    finally:
        if not bridge.dead:
            bridge.throw()  # GreenletExit: the service's generator is closed


# -- the store --------------------------------------------------------------


class _PgBatches:
    """The group commit's steps on one connection (its ``BatchHooks``): the
    statements of a batch's writes and their savepoints, one round trip each
    between two writes, all in one greenlet bridge."""

    __slots__ = ("_connection", "_locking", "_references", "_replacing_dead", "tx")
    # A batch that failed as a whole may leave its connection in any state:
    # the writer gives it back to the pool, which resets or replaces it.
    stops_after_failure = True
    tx: PostgresTx

    def __init__(
        self,
        connection: _Connection,
        references: CurrentReferenceData,
        *,
        replacing_dead: bool = False,
    ) -> None:
        self._connection = connection
        self._references = references
        # The connection stands in for one found dead, and has begun nothing yet.
        self._replacing_dead = replacing_dead
        self._locking = False

    async def begin(self) -> None:
        self.tx = PostgresTx(PgConnection(self._connection), self._references)
        self._locking = False
        try:
            await self._connection.execute("BEGIN; SAVEPOINT request")
        except _unavailable as exc:
            self._connection.terminate()  # the pool opens a new one in its place
            if self._replacing_dead:
                # Dead again at once: the database itself is unavailable.
                raise _unavailable_error(exc) from exc
            raise BatchNotStarted from exc
        self._replacing_dead = False

    async def run(self, requests: Callable[[], _T]) -> _T:
        result: _T = await _run_bridged(requests)
        return result

    def next_savepoint(self) -> None:
        await_in_bridge(self._connection.execute("RELEASE SAVEPOINT request; SAVEPOINT request"))
        # Rolling back to the savepoint gives up the locks taken since.
        self._locking = self.tx.locking

    def request_failed(self, error: Exception) -> Exception | None:
        if not isinstance(error, _retryable) and self._connection.is_closed():
            raise error
        await_in_bridge(self._connection.execute("ROLLBACK TO SAVEPOINT request"))
        self.tx.locking = self._locking
        if isinstance(error, _retryable):
            return None
        return _unavailable_error(error) if isinstance(error, _unavailable) else error

    async def commit(self) -> None:
        await self._connection.execute("COMMIT")

    async def batch_failed(self, error: Exception) -> StoreError | None:
        await _rollback(self._connection)
        if isinstance(error, _retryable):
            return None
        if isinstance(error, _unavailable):
            return _unavailable_error(error)
        if isinstance(error, asyncpg.PostgresError):
            _log.error("a write batch failed", exc_info=error)
            return StoreError(f"The database failed: {_one_line(error)}")
        _log.error("a PostgreSQL writer stopped", exc_info=error)
        return StoreError("The database failed; see the server log")

    async def after_batch(self) -> None:
        pass


class PostgresStore:
    """The store on a PostgreSQL database shared by any number of processes."""

    def __init__(
        self,
        database_url: str,
        *,
        writers: int = 2,
        connections_max: int = 8,
        write_wait_seconds_max: float = limits.write_wait_seconds_max_default,
    ) -> None:
        assert 1 <= writers < connections_max
        self._dsn = postgres_dsn(database_url)
        self._references = CurrentReferenceData()
        self._writers_max = writers
        self._connections_max = connections_max
        self._pool: asyncpg.Pool | None = None
        self._pool_ready: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = WriteQueue(wait_seconds_max=write_wait_seconds_max)
        self._writers: set[asyncio.Task[None]] = set()
        # Set once the store stops taking writes: ``leave_loop`` has begun.
        self._closing = False
        self._closed = False
        self.write_failures = WriteFailures()
        self._group_commit = GroupCommit(self._waiting, self.write_failures)
        # Callers without an event loop (the CLI, tests) use a private loop
        # and connection of their own, one call at a time.
        self._private_loop = asyncio.new_event_loop()
        self._private_lock = threading.Lock()
        self._private_connection: asyncpg.Connection | None = None
        # A database that cannot be reached fails here, where it is opened;
        # a server process never needs the connection again.
        try:
            self._run_private(self._close_private())
        except BaseException:
            self._private_loop.close()
            raise

    async def _close_private(self) -> None:
        connection = await self._private()
        self._private_connection = None
        await connection.close()

    def replace_reference_data(self, reference_data: ReferenceData) -> None:
        """The reference data every later transaction sees."""
        self._references.current = reference_data

    # -- connections -------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(self._dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(describe_open_failure(self._dsn, exc)) from exc

    async def _shared_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            if self._closing or self._closed:
                raise StoreError("The store is closed")
            # The pool belongs to this loop; ``close`` closes it there.
            self._loop = self._loop or asyncio.get_running_loop()
            if self._pool_ready is None:
                self._pool_ready = asyncio.Lock()
            async with self._pool_ready:
                if self._pool is None:
                    try:
                        self._pool = await asyncpg.create_pool(
                            self._dsn, min_size=1, max_size=self._connections_max
                        )
                    except (OSError, asyncpg.PostgresError) as exc:
                        _log.warning("PostgreSQL is unavailable: %s", _one_line(exc))
                        raise StoreUnavailable(describe_open_failure(self._dsn, exc)) from exc
        return self._pool

    async def _private(self) -> asyncpg.Connection:
        connection = self._private_connection
        if connection is None or connection.is_closed():
            connection = self._private_connection = await self._connect()
        return connection

    def _run_private(self, call: Awaitable[Any]) -> Any:
        with self._private_lock:
            return self._private_loop.run_until_complete(call)

    def _check_open(self) -> None:
        if self._closed or self._closing:
            raise StoreError("The store is closed")

    # -- writing -----------------------------------------------------------

    async def write(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        self._check_open()
        if self._loop is None:
            self._loop = loop
        assert loop is self._loop, "a store serves one event loop"
        future = self._waiting.put(loop, work, args, kwargs)
        if len(self._writers) < self._writers_max:
            self._writers.add(loop.create_task(self._write_batches()))
        return await future

    def write_sync(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        """Runs ``work`` from a thread that is not the store's event loop."""
        self._check_open()
        loop = self._loop
        if loop is not None and loop.is_running():
            call = self.write(work, *args, **kwargs)
            return asyncio.run_coroutine_threadsafe(call, loop).result()
        return self._run_private(self._write_alone(work, args, kwargs))

    async def _write_alone(self, work: Work, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        batches = _PgBatches(await self._private(), self._references)
        try:
            return await self._group_commit.run_alone(batches, work, args, kwargs)
        except BatchNotStarted as dead:
            # The private connection is not replaced here; the next call connects anew.
            self.write_failures.record()
            raise _unavailable_error(dead.__cause__ or dead) from dead

    async def _write_batches(self) -> None:
        """One writer: takes batches while requests wait, on one connection.
        It leaves the set of writers only when it finds the queue empty with
        no await in between, so that ``write`` never counts on a writer that
        is about to stop (handing back the connection is such an await)."""
        replacing_dead = False
        try:
            while self._waiting:
                pool = await self._shared_pool()
                try:
                    async with _acquired(pool) as connection:
                        batches = _PgBatches(
                            connection, self._references, replacing_dead=replacing_dead
                        )
                        await self._group_commit.run_batches(batches)
                except BatchNotStarted:
                    # The batch is back at the head of the queue, for a new
                    # connection (the pool's others died with this one).
                    replacing_dead = True
                    await pool.expire_connections()
                else:
                    replacing_dead = False
        except Exception as exc:
            if isinstance(exc, StoreError):
                failure = exc
            elif isinstance(exc, _unavailable):
                failure = _unavailable_error(exc)
            else:
                _log.exception("a PostgreSQL writer stopped")
                failure = StoreError("The database failed; see the server log")
            # The writes waiting: the next write starts a writer afresh, they
            # would wait for nobody.
            if isinstance(failure, StoreUnavailable):
                self.write_failures.record()
            self._waiting.fail_all(failure)
        finally:
            self._writers.discard(asyncio.current_task())

    # -- reading -----------------------------------------------------------

    async def read(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        pool = await self._shared_pool()
        # A read changes nothing: after a restart or a failover killed the
        # pool's connections, it is read again once, on a new one.
        for attempt in range(1, limits.postgres_read_attempts_max + 1):
            try:
                async with _acquired(pool) as connection:
                    return await _read(connection, self._references, work, args, kwargs)
            except _unavailable as exc:
                if attempt == limits.postgres_read_attempts_max:
                    raise _unavailable_error(exc) from exc
                await pool.expire_connections()
        raise AssertionError("unreachable")

    def read_sync(self, work: Work, /, *args: Any, **kwargs: Any) -> Any:
        self._check_open()
        return self._run_private(self._read_alone(work, args, kwargs))

    async def _read_alone(self, work: Work, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await _read(await self._private(), self._references, work, args, kwargs)
        except _unavailable as exc:
            raise _unavailable_error(exc) from exc

    async def stream(
        self, work: Callable[..., Iterator[bytes]], /, *args: Any
    ) -> AsyncGenerator[bytes, None]:
        """Chunks of a generator run over one snapshot, rows fetched through a
        server-side cursor as the chunks are taken."""
        try:
            pool = await self._shared_pool()
            async with (
                _acquired(pool) as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                tx = PostgresReadTx(PgConnection(connection, server_side=True), self._references)
                async for chunk in _stream_bridged(work, tx, *args):
                    yield chunk
        except _unavailable as exc:
            raise _unavailable_error(exc) from exc

    async def leave_loop(self) -> None:
        """Stops taking writes, waits until every write queued so far is
        answered and the writers have stopped, then closes the pool's
        connections on the store's own event loop: for a caller whose loop
        ends before ``close`` (``asyncio.run``), and for ``close`` itself."""
        self._closing = True
        while self._writers:
            await asyncio.wait(set(self._writers))
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def close(self) -> None:
        """Closes the store, once every queued write has been answered."""
        if self._closed:
            return
        loop = self._loop
        if loop is not None and loop.is_running():
            assert not _loop_is_current(loop), "await leave_loop() on the store's own loop"
            asyncio.run_coroutine_threadsafe(self.leave_loop(), loop).result()
        elif self._pool is not None and loop is not None and not loop.is_closed():
            self._pool.terminate()
        # else the loop that served the pool is gone (``asyncio.run`` has
        # ended, as in the worker): its connections end with the process.
        self._closed = True
        if self._private_connection is not None:
            self._run_private(self._close_private())
        self._private_loop.close()


def _loop_is_current(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _read(
    connection: _Connection,
    references: CurrentReferenceData,
    work: Work,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        tx = PostgresReadTx(PgConnection(connection), references)
        return await _run_bridged(work, tx, *args, **kwargs)


async def _rollback(connection: _Connection) -> None:
    # A connection the pool has already let go of answers even is_closed()
    # with an InterfaceError.
    with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        if not connection.is_closed():
            await connection.execute("ROLLBACK")
