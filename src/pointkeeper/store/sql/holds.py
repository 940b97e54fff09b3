"""SQL of holds: points reserved for a sale, with the lots they draw from,
until the sale is confirmed, cancelled or times out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pointkeeper.domain.ledger import Draw, Hold, HoldStatus
from pointkeeper.domain.time import Instant

from ..in_lists import in_lists
from .area import SqlArea

__all__ = ["HoldQueries"]

_hold_columns = (
    "id, customer_id, auth_code, sale_id, points, location, status, created_at, expires_at"
)


class HoldQueries(SqlArea):
    """The ``Holds`` area."""

    __slots__ = ()

    def insert_hold(
        self,
        *,
        auth_code: str,
        customer_id: int,
        sale_id: str,
        points: int,
        location: str | None,
        created_at: Instant,
        expires_at: Instant,
    ) -> int:
        row = self._one(
            "INSERT INTO holds (auth_code, customer_id, sale_id, points, location, status,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id",
            (auth_code, customer_id, sale_id, points, location, created_at, expires_at),
        )
        return int(row[0])

    def reserve(self, hold_id: int, draws: Iterable[Draw]) -> None:
        rows = [(hold_id, d.lot_id, d.points) for d in draws]
        self.connection.executemany(
            "INSERT INTO hold_draws (hold_id, lot_id, points) VALUES (?, ?, ?)", rows
        )
        self.connection.executemany(
            "UPDATE lots SET remaining = remaining - ? WHERE id = ?",
            [(points, lot_id) for _, lot_id, points in rows],
        )

    def _holds(self, where: str, params: Sequence[Any]) -> list[Hold]:
        """The holds ``where`` selects, each with its draws in lot order."""
        rows = self.connection.execute(
            f"SELECT {_hold_columns} FROM holds WHERE {where}",
            params,
        ).fetchall()
        holds = {row[0]: Hold(*row) for row in rows}
        # The draws of many holds in one statement per chunk, not one per hold.
        for marks, ids in in_lists(holds):
            draws = self.connection.execute(
                f"SELECT hold_id, lot_id, points FROM hold_draws WHERE hold_id IN ({marks})"
                " ORDER BY hold_id, lot_id",
                ids,
            )
            for hold_id, lot_id, points in draws:
                holds[hold_id].draws.append(Draw(lot_id, points))
        return list(holds.values())

    def hold_by_code(self, auth_code: str) -> Hold | None:
        holds = self._holds("auth_code = ?", (auth_code,))
        return holds[0] if holds else None

    def live_hold_for_sale(self, customer_id: int, sale_id: str) -> Hold | None:
        holds = self._holds(
            "customer_id = ? AND sale_id = ? AND status IN ('open', 'confirmed')"
            " ORDER BY id DESC LIMIT 1",
            (customer_id, sale_id),
        )
        return holds[0] if holds else None

    def open_holds(self, customer_id: int, *, limit: int) -> list[Hold]:
        """The customer's first ``limit`` open holds, oldest first."""
        return self._holds(
            "customer_id = ? AND status = 'open' ORDER BY id LIMIT ?", (customer_id, limit)
        )

    def due_holds(self, customer_id: int, *, at: Instant, limit: int) -> list[Hold]:
        return self._holds(
            "customer_id = ? AND status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (customer_id, at, limit),
        )

    def customers_with_due_holds(self, at: Instant, *, limit: int) -> list[int]:
        rows = self.connection.execute(
            "SELECT DISTINCT customer_id FROM (SELECT customer_id FROM holds"
            " WHERE status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?) AS due",
            (at, limit),
        )
        return [row[0] for row in rows]

    def resolve_hold(
        self, hold: Hold, status: str, *, at: Instant, payment_change_id: int | None = None
    ) -> None:
        """Moves an open hold to ``status``; a released hold gives its points
        back to its lots, a confirmed one turns its draws into the payment's."""
        assert hold.status == HoldStatus.OPEN
        cursor = self.connection.execute(
            "UPDATE holds SET status = ?, resolved_at = ?, payment_change_id = ?"
            " WHERE id = ? AND status = 'open'",
            (status, at, payment_change_id, hold.id),
        )
        assert cursor.rowcount == 1, "a hold resolves exactly once"
        if payment_change_id is not None:
            self.connection.executemany(
                "INSERT INTO lot_draws (balance_change_id, lot_id, points) VALUES (?, ?, ?)",
                [(payment_change_id, d.lot_id, d.points) for d in hold.draws],
            )
        else:
            self.connection.executemany(
                "UPDATE lots SET remaining = remaining + ? WHERE id = ?",
                [(d.points, d.lot_id) for d in hold.draws],
            )

    def open_hold_points(self, customer_id: int) -> int:
        row = self._one(
            "SELECT COALESCE(SUM(points), 0) FROM holds WHERE customer_id = ? AND status = 'open'",
            (customer_id,),
        )
        return int(row[0])
