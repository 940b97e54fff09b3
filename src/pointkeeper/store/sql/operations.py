"""SQL of Maestra operations: results kept under a transactionId, and the
queue of asynchronous calls."""

from __future__ import annotations

from pointkeeper.domain.time import Instant

from ..tx import AsyncOperation
from .area import SqlArea

__all__ = ["OperationQueries"]


_async_columns = (
    "id, endpoint_id, operation, transaction_id, fingerprint, request_format, body, status,"
    " attempts, result, error, created_at, finished_at"
)


class OperationQueries(SqlArea):
    """The ``Operations`` area."""

    __slots__ = ()

    def operation_result(
        self, endpoint_id: str, *, transaction_id: str
    ) -> tuple[str, bytes] | None:
        """(fingerprint, result) kept for this transactionId, if any."""
        row = self.connection.execute(
            "SELECT fingerprint, result FROM operation_results"
            " WHERE endpoint_id = ? AND transaction_id = ?",
            (endpoint_id, transaction_id),
        ).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def claim_operation(
        self, endpoint_id: str, *, transaction_id: str, fingerprint: str, at: Instant
    ) -> bool:
        """Takes the transactionId for this transaction; False when it was
        taken already. A concurrent claim waits here until the first one's
        transaction ends, then sees its result (or takes the id, when that
        transaction rolled back)."""
        row = self.connection.execute(
            "INSERT INTO operation_results (endpoint_id, transaction_id, fingerprint, result,"
            " recorded_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (endpoint_id, transaction_id) DO NOTHING RETURNING 1",
            (endpoint_id, transaction_id, fingerprint, b"", at),
        ).fetchone()
        return row is not None

    def record_operation_result(
        self, endpoint_id: str, *, transaction_id: str, result: bytes
    ) -> None:
        """Keeps the answer of a claimed transactionId."""
        self.connection.execute(
            "UPDATE operation_results SET result = ? WHERE endpoint_id = ? AND transaction_id = ?",
            (result, endpoint_id, transaction_id),
        )

    def enqueue_async(
        self,
        *,
        endpoint_id: str,
        operation: str,
        transaction_id: str | None,
        fingerprint: str,
        request_format: str,
        body: bytes,
        at: Instant,
    ) -> int | None:
        """Queues a call; None when its transactionId is already queued."""
        row = self.connection.execute(
            "INSERT INTO async_operations (endpoint_id, operation, transaction_id, fingerprint,"
            " request_format, body, status, attempts, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)"
            " ON CONFLICT (endpoint_id, transaction_id) DO NOTHING RETURNING id",
            (endpoint_id, operation, transaction_id, fingerprint, request_format, body, at, at),
        ).fetchone()
        return None if row is None else int(row[0])

    def async_operation_by_transaction(
        self, endpoint_id: str, *, transaction_id: str
    ) -> AsyncOperation | None:
        row = self.connection.execute(
            f"SELECT {_async_columns} FROM async_operations"
            " WHERE endpoint_id = ? AND transaction_id = ?",
            (endpoint_id, transaction_id),
        ).fetchone()
        return None if row is None else AsyncOperation(*row)

    def async_operations_by_transaction(
        self, transaction_id: str, limit: int
    ) -> list[AsyncOperation]:
        rows = self.connection.execute(
            f"SELECT {_async_columns} FROM async_operations WHERE transaction_id = ?"
            " ORDER BY id LIMIT ?",
            (transaction_id, limit),
        )
        return [AsyncOperation(*row) for row in rows]

    def due_async_operations(self, at: Instant, *, limit: int) -> list[AsyncOperation]:
        """Due calls, taken for this transaction: another worker passes over them."""
        rows = self.connection.execute(
            f"SELECT {_async_columns} FROM async_operations"
            " WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id"
            f" LIMIT ?{self._skip_locked}",
            (at, limit),
        )
        return [AsyncOperation(*row) for row in rows]

    def finish_async_operation(
        self,
        operation_id: int,
        *,
        status: str,
        result: bytes | None,
        error: str | None,
        at: Instant,
    ) -> None:
        cursor = self.connection.execute(
            "UPDATE async_operations SET status = ?, result = ?, error = ?, finished_at = ?,"
            " attempts = attempts + 1 WHERE id = ? AND status = 'queued'",
            (status, result, error, at, operation_id),
        )
        assert cursor.rowcount == 1, "an async operation finishes exactly once"

    def queued_async_count(self) -> int:
        row = self._one("SELECT COUNT(*) FROM async_operations WHERE status = 'queued'")
        return int(row[0])

    def prune_operation_results(self, before: Instant, *, limit: int) -> int:
        cursor = self.connection.execute(
            "DELETE FROM operation_results WHERE (endpoint_id, transaction_id) IN"
            " (SELECT endpoint_id, transaction_id FROM operation_results"
            " WHERE recorded_at < ? ORDER BY recorded_at LIMIT ?)",
            (before, limit),
        )
        return int(cursor.rowcount)

    def prune_async_operations(self, before: Instant, *, limit: int) -> int:
        cursor = self.connection.execute(
            "DELETE FROM async_operations WHERE id IN (SELECT id FROM async_operations"
            " WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ?)",
            (before, limit),
        )
        return int(cursor.rowcount)

    def retry_async_operation(
        self, operation_id: int, *, error: str, next_attempt_at: Instant
    ) -> None:
        self.connection.execute(
            "UPDATE async_operations SET attempts = attempts + 1, error = ?, next_attempt_at = ?"
            " WHERE id = ? AND status = 'queued'",
            (error, next_attempt_at, operation_id),
        )
