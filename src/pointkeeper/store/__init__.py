"""The store: the only package with SQL in it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from pointkeeper.config import DatabaseConfig, ProgramConfig, is_postgres
from pointkeeper.errors import StoreUnavailable

from .migrate import migrate
from .reference_data import ReferenceData, sync_reference_data
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

    def replace_reference_data(self, reference_data: ReferenceData) -> None:
        """The reference data every later transaction sees (``open_store``
        gives the store its first)."""

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


def open_store(
    database: DatabaseConfig,
    *,
    programs: Sequence[ProgramConfig],
    order_statuses: Mapping[str, str] | None = None,
    operation_templates: Sequence[str] = (),
) -> Store:
    """Migrates the database to the newest schema, opens it, writes the
    configured ``programs`` and the built-in templates, and hands what it
    wrote to every transaction (``ReferenceData``). Call it from a thread
    without a running event loop. A database that cannot be opened is a
    ``StoreUnavailable`` that says why in one line."""
    store = _open(database)
    try:
        store.replace_reference_data(
            store.write_sync(sync_reference_data, programs, order_statuses, operation_templates)
        )
    except BaseException:
        store.close()
        raise
    return store


def _open(database: DatabaseConfig) -> Store:
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
