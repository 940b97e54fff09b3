"""What every area's queries share: the connection, and the hooks each
dialect's transaction (``SqliteTx``, ``PostgresTx``) fills in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..connection import Connection
from ..reference_data import CurrentReferenceData

__all__ = ["SqlArea"]


class SqlArea:
    """Mixed into ``SqlTx`` with every other area."""

    __slots__ = ()
    connection: Connection
    references: CurrentReferenceData
    # Appended to a SELECT that takes rows for this transaction, passing
    # over those another writer holds; "" where no other writer can hold one.
    _skip_locked: str
    # The clause for a SELECT of rows to change: locks them until commit
    # where other writers could change them meanwhile.
    _row_lock: Callable[[], str]
    # Turns a unique column's violation into ``DuplicateKey``, leaving the
    # transaction usable.
    unique_values: Callable[[], AbstractContextManager[None]]

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(sql, params).fetchone()
