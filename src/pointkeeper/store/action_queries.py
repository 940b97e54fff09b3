"""SQL that reads customer actions with their balance changes: paged
histories and streamed exports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pointkeeper.domain.time import Instant

from .connection import Connection
from .in_lists import in_lists

__all__ = ["ActionChangeRow", "ActionQueries"]

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


@dataclass(frozen=True, slots=True)
class ActionChangeRow:
    action_id: int
    date_time_utc: Instant
    transaction_id: str | None
    template_id: int
    point_of_contact_id: int | None
    customer_id: int
    website_id: str | None
    change_amount: int
    expires_at: Instant | None
    kind: str


class ActionQueries:
    """Mixed into ``Tx``."""

    __slots__ = ()
    connection: Connection

    def templates_by_id(self, template_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(system name, name) of each of the templates."""
        found: dict[int, tuple[str, str]] = {}
        for marks, ids in in_lists(template_ids):
            rows = self.connection.execute(
                f"SELECT id, system_name, name FROM action_templates WHERE id IN ({marks})", ids
            )
            found.update((row[0], (row[1], row[2])) for row in rows)
        return found

    def points_of_contact_by_id(self, point_of_contact_ids: Iterable[int]) -> dict[int, str]:
        """The external id of each of the points of contact."""
        found: dict[int, str] = {}
        for marks, ids in in_lists(point_of_contact_ids):
            rows = self.connection.execute(
                f"SELECT id, external_id FROM points_of_contact WHERE id IN ({marks})", ids
            )
            found.update((row[0], row[1]) for row in rows)
        return found

    def export_rows(
        self, since: Instant, till: Instant, segment_id: int | None
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

    def customer_action_count(self, customer_id: int, since: Instant, till: Instant) -> int:
        row = self.connection.execute(
            "SELECT COUNT(DISTINCT action_id) FROM balance_changes"
            " WHERE customer_id = ? AND date_time_utc >= ? AND date_time_utc < ?",
            (customer_id, since, till),
        ).fetchone()
        return int(row[0])

    def customer_action_page(
        self,
        customer_id: int,
        since: Instant,
        till: Instant,
        *,
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
