"""SQL that reads a customer's balance changes as histories: a statement's
range and what came before it, paged actions, and streamed exports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pointkeeper.domain.time import Instant

from ..in_lists import in_lists
from ..tx import ActionChangeRow, ChangeRow
from .area import SqlArea

__all__ = ["HistoryQueries"]

# One balance change with what its customer action says; rows of one action
# come together, actions oldest first.
_action_change_columns = (
    "bc.action_id, bc.date_time_utc, a.transaction_id, a.template_id, a.point_of_contact_id,"
    " bc.customer_id, c.website_id, bc.change_amount, bc.expires_at, bc.kind"
)
_action_change_joins = (
    " FROM balance_changes bc JOIN customer_actions a ON a.id = bc.action_id"
    " JOIN customers c ON c.id = bc.customer_id"
)
_export_rows_per_fetch = 2_000


class HistoryQueries(SqlArea):
    """The ``Histories`` area."""

    __slots__ = ()

    def summary_before(self, customer_id: int, *, start: Instant) -> tuple[int, Instant] | None:
        """(net points, earliest date) of every change dated before ``start``."""
        row = self._one(
            "SELECT SUM(change_amount), MIN(date_time_utc), COUNT(*) FROM balance_changes"
            " WHERE customer_id = ? AND date_time_utc < ?",
            (customer_id, start),
        )
        return None if row[2] == 0 else (int(row[0]), int(row[1]))

    def changes_between(
        self, customer_id: int, *, start: Instant, end: Instant, limit: int
    ) -> list[ChangeRow]:
        rows = self.connection.execute(
            "SELECT id, action_id, date_time_utc, change_amount, kind, expires_at,"
            " available_from, comment, document, location FROM balance_changes"
            " WHERE customer_id = ? AND date_time_utc >= ? AND date_time_utc <= ?"
            " ORDER BY date_time_utc, id LIMIT ?",
            (customer_id, start, end, limit),
        )
        return [ChangeRow(*row) for row in rows]

    def export_rows(
        self, *, since: Instant, till: Instant, segment_id: int | None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Every balance change dated in [since, till), as lists of plain
        tuples in ``ActionChangeRow`` order (the export formats millions)."""
        where = " WHERE bc.date_time_utc >= ? AND bc.date_time_utc < ?"
        params: Sequence[object] = (since, till)
        if segment_id is not None:
            where += (
                " AND bc.customer_id IN (SELECT customer_id FROM segment_members"
                " WHERE segment_id = ?)"
            )
            params = (since, till, segment_id)
        cursor = self.connection.execute(
            f"SELECT {_action_change_columns}{_action_change_joins}{where}"
            " ORDER BY bc.date_time_utc, bc.action_id, bc.id",
            params,
        )
        while rows := cursor.fetchmany(_export_rows_per_fetch):
            yield rows

    def customer_action_count(self, customer_id: int, *, since: Instant, till: Instant) -> int:
        row = self.connection.execute(
            "SELECT COUNT(DISTINCT action_id) FROM balance_changes"
            " WHERE customer_id = ? AND date_time_utc >= ? AND date_time_utc < ?",
            (customer_id, since, till),
        ).fetchone()
        return int(row[0])

    def customer_action_page(
        self,
        customer_id: int,
        *,
        since: Instant,
        till: Instant,
        offset: int,
        limit: int,
    ) -> list[ActionChangeRow]:
        """The changes of one page of a customer's actions, oldest first."""
        page = {
            row[0]: position
            for position, row in enumerate(
                self.connection.execute(
                    "SELECT action_id FROM balance_changes WHERE customer_id = ?"
                    " AND date_time_utc >= ? AND date_time_utc < ? GROUP BY action_id"
                    " ORDER BY MIN(date_time_utc), action_id LIMIT ? OFFSET ?",
                    (customer_id, since, till, limit, offset),
                )
            )
        }
        changes: list[ActionChangeRow] = []
        for marks, ids in in_lists(page):
            rows = self.connection.execute(
                f"SELECT {_action_change_columns}{_action_change_joins}"
                f" WHERE bc.action_id IN ({marks}) ORDER BY bc.action_id, bc.id",
                ids,
            )
            changes.extend(ActionChangeRow(*row) for row in rows)
        # In the page's order, each action's changes together in their own
        # order (the sort is stable): the chunks came one after another.
        changes.sort(key=lambda change: page[change.action_id])
        return changes
