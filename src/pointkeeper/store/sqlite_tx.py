"""The SQLite transaction: the shared queries, with no row lock to take
(the one writer excludes every other) and SQLite's way of naming the
unique column a statement violated."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .sql import SqlTx
from .tx import DuplicateKey

if TYPE_CHECKING:
    from .tx import Tx

__all__ = ["SqliteTx"]


def _unique_column(error: sqlite3.IntegrityError) -> str:
    # SQLite names the column: "UNIQUE constraint failed: customers.email".
    text = str(error)
    if "UNIQUE constraint failed:" not in text:
        raise error
    return text.rsplit(".", 1)[-1]


class SqliteTx(SqlTx):
    """A transaction of the SQLite store, reading or writing."""

    __slots__ = ()

    # No other writer can hold a row: SQLite has one writer at a time.
    _skip_locked = ""

    def _row_lock(self) -> str:
        return ""

    def lock_customer(self, customer_id: int) -> None:
        """Keeps every other writer off the customer's ledger until commit."""

    def lock_free_customers(self, customer_ids: Iterable[int]) -> list[int]:
        """Locks those of the customers no other writer holds now; answers
        them in id order."""
        return sorted(customer_ids)

    def try_job_lock(self, job: str) -> bool:
        """True when no other process runs ``job`` in a transaction now; the
        lock lasts until this transaction ends."""
        return True

    @contextlib.contextmanager
    def unique_values(self) -> Iterator[None]:
        """Turns a unique column's violation into ``DuplicateKey``, leaving
        the transaction usable."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(_unique_column(exc)) from None


if TYPE_CHECKING:
    # mypy holds the class to the port.
    _port: type[Tx] = SqliteTx
