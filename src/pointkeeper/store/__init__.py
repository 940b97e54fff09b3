"""The store: the only package with SQL in it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from pointkeeper.config import DatabaseConfig, is_postgres
from pointkeeper.errors import StoreUnavailable

from .migrate import migrate
from .unreachable import OPEN_FAILURES, describe_open_failure
from .writes import WriteFailures

if TYPE_CHECKING:
    from .tx import Tx

__all__ = ["Store", "WriteFailures", "open_store"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class Store(Protocol):
    """What the application needs of a store; ``work`` is a function of a
    ``Tx`` run as one unit of work (a savepoint of a batch, for writes)."""

    @property
    def context(self) -> dict[str, Any]: ...

    # When writes last failed because the database was unavailable.
    write_failures: WriteFailures

    # Typed so that a misspelt or missing keyword of ``work`` fails in mypy,
    # not inside a batch.
    async def write(
        self, work: Callable[Concatenate[Tx, _P], _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R: ...

    def write_sync(
        self, work: Callable[Concatenate[Tx, _P], _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R: ...

    async def read(
        self, work: Callable[Concatenate[Tx, _P], _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R: ...

    def read_sync(
        self, work: Callable[Concatenate[Tx, _P], _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R: ...

    def stream(
        self, work: Callable[..., Iterator[bytes]], /, *args: Any
    ) -> AsyncGenerator[bytes, None]: ...

    async def leave_loop(self) -> None:
        """Stops taking writes, answers every write queued so far, and lets
        go of what the store holds on the running event loop: for a caller
        whose loop ends before ``close`` (``asyncio.run``)."""

    def close(self) -> None:
        """Closes the store; a write still queued is answered first."""


def open_store(database: DatabaseConfig) -> Store:
    """Migrates the database to the newest schema and opens it. Call it from
    a thread without a running event loop. A database that cannot be opened
    is a ``StoreUnavailable`` that says why in one line."""
    migrate(database.url)
    if is_postgres(database.url):
        from .postgres import PostgresStore

        return PostgresStore(
            database.url,
            writers=database.writers,
            connections_max=database.connections_max,
            write_wait_seconds_max=database.write_wait_seconds_max,
        )
    from .sqlite import SqliteStore

    try:
        return SqliteStore(
            database.url.removeprefix("sqlite:///"),
            write_wait_seconds_max=database.write_wait_seconds_max,
            wal_bytes_max=database.wal_bytes_max,
        )
    except OPEN_FAILURES as exc:
        raise StoreUnavailable(describe_open_failure(database.url, exc)) from exc
