"""Moving a whole SQLite database into an empty PostgreSQL one
(``pointkeeper copy``): for an installation that outgrows one machine.

Both ends are migrated first, so that they have the same tables. The source
is read in one read transaction (a snapshot of one commit) and the target
written in one transaction: the tables in foreign-key order, every row with
its ids as they are, one ``COPY`` per table fed in batches. Then the copy is
checked against the source's snapshot: every table's row count, a few sums
of the ledger tables, and every customer's figures (the sum and number of
their balance changes, their lots' amounts and remaining points, their open
holds), each computed by the same SQL on both. Only a copy that checks out
has its id sequences set past the largest ids copied (a rollback would not
take that back) and is committed; one that fails or differs is rolled
back, so the target is either a whole, checked copy or as empty as before.
One transaction, not one per table, for that reason: a copy stopped half
way (an error, Ctrl-C, a lost connection) leaves nothing to clean up.

Rows go in faster without their foreign keys checked one by one (some
110,000 rows/s with them, 450,000 without): the target's foreign keys are
dropped inside that transaction and added back, with the same names and
definitions, once the rows are in, which checks every row against them in
one query per key, as ``pg_restore`` does. A row referring to nothing fails
the copy there, and the rollback brings the keys back with everything else.

The target is opened with plain asyncpg, not through ``open_store``, which
would write the configured programs and templates into it first; a target
with any row in any table but ``alembic_version`` is refused.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from pointkeeper import limits
from pointkeeper.config import is_postgres, postgres_dsn
from pointkeeper.errors import StoreError, StoreUnavailable

from .migrate import migrate
from .unreachable import OPEN_FAILURES, describe_open_failure

__all__ = ["CopyProgress", "CopyReport", "TableCopied", "copy_database"]

# Differences named in the report; the rest are counted.
_mismatches_shown = 20
# How long to wait for a lock on the target's tables (a server using it).
_lock_timeout = "10s"
_kept_tables = frozenset({"alembic_version"})

# A customer's figures, the same SQL on both databases; CAST keeps
# PostgreSQL's sums BIGINT (not NUMERIC), so that both answer integers.
_customer_figures = """
SELECT c.id,
       COALESCE(b.changes, 0), COALESCE(b.total, 0),
       COALESCE(l.lots, 0), COALESCE(l.amount, 0), COALESCE(l.remaining, 0),
       COALESCE(h.held, 0)
FROM customers c
LEFT JOIN (SELECT customer_id, COUNT(*) AS changes, CAST(SUM(change_amount) AS BIGINT) AS total
           FROM balance_changes GROUP BY customer_id) b ON b.customer_id = c.id
LEFT JOIN (SELECT customer_id, COUNT(*) AS lots, CAST(SUM(amount) AS BIGINT) AS amount,
                  CAST(SUM(remaining) AS BIGINT) AS remaining
           FROM lots GROUP BY customer_id) l ON l.customer_id = c.id
LEFT JOIN (SELECT customer_id, CAST(SUM(points) AS BIGINT) AS held
           FROM holds WHERE status = 'open' GROUP BY customer_id) h ON h.customer_id = c.id
ORDER BY c.id
"""
_customer_figure_names = ("changes", "sum", "lots", "lot amount", "lot remaining", "held")
# Whole-table sums beside the counts: the draws no customer figure covers.
_table_sums = {
    "lot_draws": "CAST(COALESCE(SUM(points), 0) AS BIGINT)",
    "hold_draws": "CAST(COALESCE(SUM(points), 0) AS BIGINT)",
    "refunds": "CAST(COALESCE(SUM(debit_change_id + refund_change_id), 0) AS BIGINT)",
}


class CopyProgress(Protocol):
    """What the copy tells as it goes (the CLI draws a progress bar)."""

    def started(self, table: str, rows: int) -> None: ...

    def copied(self, rows: int) -> None: ...

    def finished(self, table: TableCopied) -> None: ...

    def step(self, what: str) -> None:
        """A step after the tables: ``what`` it does, in a few words."""


@dataclass(frozen=True, slots=True)
class TableCopied:
    """One table copied: its rows, and how long they took."""

    name: str
    rows: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What was copied; ``mismatches`` empty when the copy checked out and
    was committed, else what differed (and nothing was committed)."""

    tables: tuple[TableCopied, ...]
    customers: int
    mismatches: tuple[str, ...]
    mismatches_total: int
    seconds: float  # the whole copy, from connecting to the end of the check
    keys_seconds: float  # adding the foreign keys back
    check_seconds: float  # comparing the copy with the source

    @property
    def committed(self) -> bool:
        return self.mismatches_total == 0

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


@dataclass(frozen=True, slots=True)
class _ForeignKey:
    table: str
    name: str
    definition: str


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    booleans: tuple[int, ...]  # positions of the columns PostgreSQL holds as boolean


def copy_database(
    source_url: str,
    *,
    target_url: str,
    progress: CopyProgress | None = None,
    batch_rows: int = limits.copy_batch_rows_max,
) -> CopyReport:
    """Copies the SQLite database of ``source_url`` into the empty
    PostgreSQL database of ``target_url``. Call it from a thread without a
    running event loop. A target that is not empty, a source that is not
    there and a copy that cannot be written are ``StoreError``s that say why
    in one line; the target is then left as it was."""
    if not source_url.startswith("sqlite:///") or not is_postgres(target_url):
        raise StoreError("copy goes from a sqlite:/// URL to a postgresql:// URL")
    assert 1 <= batch_rows <= limits.copy_batch_rows_max, batch_rows
    source_path = Path(source_url.removeprefix("sqlite:///"))
    if not source_path.is_file():
        raise StoreUnavailable(f"{source_path}: no such database")
    migrate(source_url)
    migrate(target_url)
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreUnavailable(describe_open_failure(source_url, exc)) from exc
    try:
        return asyncio.run(_copy(source, target_url, progress=progress, batch_rows=batch_rows))
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"reading {source_path}: {exc}") from exc
    finally:
        source.close()


async def _copy(
    source: sqlite3.Connection,
    target_url: str,
    *,
    progress: CopyProgress | None,
    batch_rows: int,
) -> CopyReport:
    try:
        target = await asyncpg.connect(postgres_dsn(target_url))
    except OPEN_FAILURES as exc:
        raise StoreUnavailable(describe_open_failure(target_url, exc)) from exc
    # One snapshot of the source for the copy and its check alike.
    source.execute("BEGIN")
    transaction = target.transaction()
    try:
        await transaction.start()
        report = await _copy_and_check(source, target, progress=progress, batch_rows=batch_rows)
        if report.committed:
            # Only now: a sequence's setval is not undone by a rollback.
            await _advance_sequences(target)
            await transaction.commit()
        else:
            await transaction.rollback()
    except asyncpg.PostgresError as exc:
        raise StoreError(f"the copy failed, nothing was written: {_first_line(exc)}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(describe_open_failure(target_url, exc)) from exc
    finally:
        source.execute("ROLLBACK")
        # Closing a connection in a transaction rolls it back.
        await target.close()
    return report


async def _copy_and_check(
    source: sqlite3.Connection,
    target: asyncpg.Connection,
    *,
    progress: CopyProgress | None,
    batch_rows: int,
) -> CopyReport:
    started = time.perf_counter()
    tables = await _prepare_target(target, _source_tables(source))
    keys = await _drop_foreign_keys(target)
    copied = [await _copy_table(source, target, t, progress, batch_rows) for t in tables]
    if progress is not None:
        progress.step("adding the foreign keys back (checks every row)")
    keys_started = time.perf_counter()
    await _add_foreign_keys(target, keys)
    if progress is not None:
        progress.step("checking the copy against the source")
    check_started = time.perf_counter()
    found = await _check(source, target, copied, batch_rows=batch_rows)
    done = time.perf_counter()
    return CopyReport(
        tables=tuple(copied),
        customers=found.customers,
        mismatches=tuple(found.shown),
        mismatches_total=found.total,
        seconds=done - started,
        keys_seconds=check_started - keys_started,
        check_seconds=done - check_started,
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    detail = getattr(exc, "detail", None)
    return (lines[0] if lines else type(exc).__name__) + (f" ({detail})" if detail else "")


def _source_tables(source: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    names = [
        row[0]
        for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        name: tuple(row[1] for row in source.execute(f"PRAGMA table_info({name})"))
        for name in names
        if name not in _kept_tables
    }


async def _prepare_target(
    target: asyncpg.Connection, source_tables: dict[str, tuple[str, ...]]
) -> list[_Table]:
    """The target's tables in foreign-key order, locked against writers and
    checked to be empty and to match the source's columns; locked against
    readers too, since their foreign keys will be gone for a while."""
    tables = await _target_tables(target)
    differing = sorted(
        {t.name for t in tables} ^ set(source_tables)
        | {t.name for t in tables if set(t.columns) != set(source_tables.get(t.name, t.columns))}
    )
    if differing:
        raise StoreError(
            "the two databases differ in tables of their own after migrating both"
            f" ({', '.join(differing)}); copy into a new database"
        )
    await target.execute(f"SET LOCAL lock_timeout = '{_lock_timeout}'")
    names = ", ".join(t.name for t in tables)
    try:
        # Every lock the copy takes (dropping the foreign keys takes these),
        # taken at once and before anything is written.
        await target.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
    except asyncpg.LockNotAvailableError:
        raise StoreError("the target database is in use: stop what uses it first") from None
    filled = [
        t.name for t in tables if await target.fetchval(f"SELECT EXISTS (SELECT FROM {t.name})")
    ]
    if filled:
        raise StoreError(
            f"the target database is not empty ({', '.join(filled)}); copy into a new database"
        )
    return tables


async def _target_tables(target: asyncpg.Connection) -> list[_Table]:
    columns: dict[str, list[tuple[str, str]]] = {}
    for row in await target.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        columns.setdefault(row[0], []).append((row[1], row[2]))
    references = await target.fetch(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    )
    referred: dict[str, set[str]] = {name: set() for name in columns}
    for referrer, table in references:
        if referrer != table:
            referred[referrer].add(table)
    return [
        _Table(
            name,
            tuple(column for column, _ in columns[name]),
            tuple(n for n, (_, kind) in enumerate(columns[name]) if kind == "boolean"),
        )
        for name in _dependency_order(referred)
        if name not in _kept_tables
    ]


def _dependency_order(referred: dict[str, set[str]]) -> list[str]:
    """Every table after the tables it refers to."""
    order: list[str] = []
    placed: set[str] = set()
    for _ in range(len(referred)):
        ready = sorted(t for t, others in referred.items() if t not in placed and others <= placed)
        if not ready:
            break
        order += ready
        placed.update(ready)
    assert len(order) == len(referred), f"foreign keys in a cycle: {referred}"
    return order


async def _drop_foreign_keys(target: asyncpg.Connection) -> list[_ForeignKey]:
    keys = [
        _ForeignKey(*row)
        for row in await target.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
            " ORDER BY 1, 2"
        )
    ]
    for key in keys:
        await target.execute(f'ALTER TABLE {key.table} DROP CONSTRAINT "{key.name}"')
    return keys


async def _add_foreign_keys(target: asyncpg.Connection, keys: Sequence[_ForeignKey]) -> None:
    for key in keys:
        await target.execute(
            f'ALTER TABLE {key.table} ADD CONSTRAINT "{key.name}" {key.definition}'
        )


async def _copy_table(
    source: sqlite3.Connection,
    target: asyncpg.Connection,
    table: _Table,
    progress: CopyProgress | None,
    batch_rows: int,
) -> TableCopied:
    started = time.perf_counter()
    (total,) = source.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()
    if progress is not None:
        progress.started(table.name, total)
    cursor = source.execute(f"SELECT {', '.join(table.columns)} FROM {table.name}")
    rows = 0

    def records() -> Iterator[tuple[Any, ...]]:
        nonlocal rows
        while batch := cursor.fetchmany(batch_rows):
            yield from _booleans(batch, table.booleans)
            rows += len(batch)
            if progress is not None:
                progress.copied(len(batch))

    # One COPY per table, fed as it goes: PostgreSQL writes while the next
    # rows are read and encoded (measured: a COPY per batch left it waiting
    # between batches, a third slower; reading in a thread gained nothing).
    await target.copy_records_to_table(table.name, records=records(), columns=table.columns)
    copied = TableCopied(table.name, rows, time.perf_counter() - started)
    if progress is not None:
        progress.finished(copied)
    return copied


def _booleans(batch: list[tuple[Any, ...]], positions: Sequence[int]) -> list[tuple[Any, ...]]:
    """SQLite keeps booleans as 0 and 1; PostgreSQL takes only True and False."""
    if not positions:
        return batch
    converted = []
    for row in batch:
        values = list(row)
        for n in positions:
            if values[n] is not None:
                values[n] = bool(values[n])
        converted.append(tuple(values))
    return converted


async def _advance_sequences(target: asyncpg.Connection) -> None:
    """Sets every id sequence past the largest id copied, so that the next
    insert gets a new id."""
    for table, column in await target.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'"
    ):
        await target.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), largest)"
            f" FROM (SELECT MAX({column}) AS largest FROM {table}) found"
            " WHERE largest IS NOT NULL"
        )


class _Differences:
    """The first differences found, how many there were, and how many
    customers were compared."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.total = 0
        self.customers = 0  # compared

    def add(self, difference: str) -> None:
        self.total += 1
        if len(self.shown) < _mismatches_shown:
            self.shown.append(difference)


async def _check(
    source: sqlite3.Connection,
    target: asyncpg.Connection,
    copied: list[TableCopied],
    *,
    batch_rows: int,
) -> _Differences:
    """The copy against the source's snapshot, by the same SQL on both."""
    found = _Differences()
    for table in copied:
        query = f"SELECT COUNT(*), {_table_sums.get(table.name, '0')} FROM {table.name}"
        mine = tuple(source.execute(query).fetchone())
        answer = await target.fetchrow(query)
        assert answer is not None
        theirs = tuple(answer)
        if mine != theirs:
            found.add(f"{table.name}: rows and sum {mine} in the source, {theirs} in the copy")
    source_rows = source.execute(_customer_figures)
    async for row in target.cursor(_customer_figures, prefetch=batch_rows):
        found.customers += 1
        mine = source_rows.fetchone()
        if mine is None or tuple(mine) != tuple(row):
            found.add(_customer_mismatch(mine=mine, theirs=tuple(row)))
    for mine in source_rows:
        found.add(_customer_mismatch(mine=mine, theirs=None))
    return found


def _customer_mismatch(*, mine: tuple[Any, ...] | None, theirs: tuple[Any, ...] | None) -> str:
    if mine is None or theirs is None:
        present = mine or theirs
        assert present is not None
        return f"customer {present[0]}: only in {'the copy' if mine is None else 'the source'}"
    differing = ", ".join(
        f"{name} {a} in the source, {b} in the copy"
        for name, a, b in zip(_customer_figure_names, mine[1:], theirs[1:], strict=True)
        if a != b
    )
    return f"customer {mine[0]}: {differing}"
