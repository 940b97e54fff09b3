"""SQL of the transaction itself: nested units of work and a liveness check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .area import SqlArea

__all__ = ["TransactionQueries"]


class TransactionQueries(SqlArea):
    """The ``Transaction`` area, but for what each dialect does its own way
    (``unique_values``, ``try_job_lock``)."""

    __slots__ = ()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit of work: rolled back alone when it raises."""
        self.connection.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK TO nested")
            self.connection.execute("RELEASE nested")
            raise
        self.connection.execute("RELEASE nested")

    def ping(self) -> None:
        """A statement that needs nothing but a working database."""
        self._one("SELECT 1")
