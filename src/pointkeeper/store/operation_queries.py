"""SQL of Maestra operations: results kept under a transactionId, and the
queue of asynchronous calls."""

from __future__ import annotations

import sqlite3

__all__ = ["OperationQueries"]


class OperationQueries:
    """Mixed into ``SqliteTx``."""

    __slots__ = ()
    connection: sqlite3.Connection
