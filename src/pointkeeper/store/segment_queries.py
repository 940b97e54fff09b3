"""SQL of segments and their members."""

from __future__ import annotations

import sqlite3

__all__ = ["SegmentQueries"]


class SegmentQueries:
    """Mixed into ``SqliteTx``."""

    __slots__ = ()
    connection: sqlite3.Connection
