"""SQL of the ledger: customer actions, balance changes, lots and the draws
of debits from lots."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pointkeeper.domain.ledger import KIND_EXPIRED, Draw, Lot
from pointkeeper.domain.time import Instant

from ..in_lists import in_lists
from .area import SqlArea

__all__ = ["LedgerQueries"]

_lot_columns = "id, amount, remaining, available_from, expires_at"


class LedgerQueries(SqlArea):
    """The ``Ledger`` area, but for its locks (each dialect's own)."""

    __slots__ = ()

    def insert_action(
        self,
        *,
        customer_id: int,
        template_id: int,
        at: Instant,
        point_of_contact_id: int | None,
        transaction_id: str | None,
        idempotency_key: str | None,
        fingerprint: str | None,
        recorded_at: Instant,
    ) -> int | None:
        """Records an action; None when ``idempotency_key`` is already taken."""
        row = self._one(
            "INSERT INTO customer_actions (idempotency_key, request_fingerprint, transaction_id,"
            " template_id, date_time_utc, point_of_contact_id, customer_id, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            (
                idempotency_key,
                fingerprint,
                transaction_id,
                template_id,
                at,
                point_of_contact_id,
                customer_id,
                recorded_at,
            ),
        )
        return None if row is None else int(row[0])

    def action_fingerprint(self, idempotency_key: str) -> str | None:
        row = self._one(
            "SELECT request_fingerprint FROM customer_actions WHERE idempotency_key = ?",
            (idempotency_key,),
        )
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    def insert_change(
        self,
        *,
        action_id: int,
        customer_id: int,
        amount: int,
        kind: str,
        at: Instant,
        recorded_at: Instant,
        expires_at: Instant | None = None,
        available_from: Instant | None = None,
        comment: str | None = None,
        document: str | None = None,
        location: str | None = None,
    ) -> int:
        row = self._one(
            "INSERT INTO balance_changes (action_id, customer_id, change_amount, kind,"
            " date_time_utc, expires_at, available_from, comment, document, location,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                action_id,
                customer_id,
                amount,
                kind,
                at,
                expires_at,
                available_from,
                comment,
                document,
                location,
                recorded_at,
            ),
        )
        return int(row[0])

    def change(self, change_id: int) -> tuple[int, int, str, str | None] | None:
        """(customer id, amount, kind, document) of one balance change."""
        row = self._one(
            "SELECT customer_id, change_amount, kind, document FROM balance_changes WHERE id = ?",
            (change_id,),
        )
        return None if row is None else (row[0], row[1], row[2], row[3])

    def refund_of(self, debit_change_id: int) -> int | None:
        row = self._one(
            "SELECT refund_change_id FROM refunds WHERE debit_change_id = ?", (debit_change_id,)
        )
        return None if row is None else int(row[0])

    def record_refund(self, debit_change_id: int, *, refund_change_id: int) -> None:
        self.connection.execute(
            "INSERT INTO refunds (debit_change_id, refund_change_id) VALUES (?, ?)",
            (debit_change_id, refund_change_id),
        )

    def insert_lot(
        self,
        *,
        lot_id: int,
        customer_id: int,
        amount: int,
        available_from: Instant,
        expires_at: Instant | None,
        activated: bool,
    ) -> None:
        self.connection.execute(
            "INSERT INTO lots (id, customer_id, amount, remaining, available_from, expires_at,"
            " activated) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (lot_id, customer_id, amount, amount, available_from, expires_at, activated),
        )

    def drawable_lots(self, customer_id: int, *, at: Instant) -> Iterator[Lot]:
        """Lots with points to draw at ``at``, in the domain's draw order:
        expiring ones by expiry then id, then never-expiring ones by id.
        Consumed lazily, so SQLite reads only as far as the points needed;
        PostgreSQL's ``_Rows`` fetch each query's rows at once (a known cost
        for customers with many lots, see docs/decisions.md)."""
        expiring = self.connection.execute(
            f"SELECT {_lot_columns} FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at > ? AND available_from <= ? ORDER BY expires_at, id",
            (customer_id, at, at),
        )
        yield from (Lot(*row) for row in expiring)
        lasting = self.connection.execute(
            f"SELECT {_lot_columns} FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at IS NULL AND available_from <= ? ORDER BY id",
            (customer_id, at),
        )
        yield from (Lot(*row) for row in lasting)

    def lots_by_id(self, lot_ids: Iterable[int]) -> dict[int, Lot]:
        lots: dict[int, Lot] = {}
        for marks, ids in in_lists(sorted(set(lot_ids))):
            rows = self.connection.execute(
                f"SELECT {_lot_columns} FROM lots WHERE id IN ({marks})", ids
            )
            lots.update((row[0], Lot(*row)) for row in rows)
        return lots

    def expired_lots(self, customer_id: int, *, at: Instant, limit: int) -> list[Lot]:
        """The first ``limit`` lots past expiry at ``at`` with points left."""
        rows = self.connection.execute(
            f"SELECT {_lot_columns} FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
            (customer_id, at, limit),
        )
        return [Lot(*row) for row in rows]

    def draw(self, change_id: int, draws: Iterable[Draw]) -> None:
        """Records ``draws`` against a balance change and moves each lot's
        ``remaining`` by the points (a negative draw puts points back)."""
        rows = [(change_id, d.lot_id, d.points) for d in draws]
        self.connection.executemany(
            "INSERT INTO lot_draws (balance_change_id, lot_id, points) VALUES (?, ?, ?)", rows
        )
        self.connection.executemany(
            "UPDATE lots SET remaining = remaining - ? WHERE id = ?",
            [(points, lot_id) for _, lot_id, points in rows],
        )

    def expired_points(self, lot_id: int) -> int:
        row = self._one(
            "SELECT COALESCE(SUM(d.points), 0) FROM lot_draws d"
            " JOIN balance_changes c ON c.id = d.balance_change_id"
            " WHERE d.lot_id = ? AND c.kind = ?",
            (lot_id, KIND_EXPIRED),
        )
        return int(row[0])

    def draws_of(self, change_id: int) -> list[Draw]:
        """A debit's draws: at most one per lot of its customer."""
        rows = self.connection.execute(
            "SELECT lot_id, points FROM lot_draws WHERE balance_change_id = ? ORDER BY id",
            (change_id,),
        )
        return [Draw(*row) for row in rows]

    def activate_lots(self, at: Instant, *, limit: int) -> int:
        cursor = self.connection.execute(
            "UPDATE lots SET activated = TRUE WHERE id IN (SELECT id FROM lots"
            f" WHERE NOT activated AND available_from <= ? LIMIT ?{self._skip_locked})",
            (at, limit),
        )
        return cursor.rowcount

    def customers_with_expired_lots(self, at: Instant, *, limit: int) -> list[int]:
        rows = self.connection.execute(
            "SELECT DISTINCT customer_id FROM (SELECT customer_id FROM lots"
            " WHERE remaining > 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?) AS due",
            (at, limit),
        )
        return [row[0] for row in rows]

    def lot_sums(self, customer_id: int, *, at: Instant) -> tuple[int, int]:
        """(points in available lots, points in pending lots), on a settled ledger."""
        row = self._one(
            "SELECT COALESCE(SUM(CASE WHEN available_from <= ? THEN remaining END), 0),"
            " COALESCE(SUM(CASE WHEN available_from > ? THEN remaining END), 0)"
            " FROM lots WHERE customer_id = ? AND remaining > 0",
            (at, at, customer_id),
        )
        return int(row[0]), int(row[1])

    def is_settled(self, customer_id: int, *, at: Instant) -> bool:
        """True when no lot of the customer is past expiry with points left and
        no open hold is past its time."""
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at <= ?) OR EXISTS (SELECT 1 FROM holds WHERE customer_id = ?"
            " AND status = 'open' AND expires_at <= ?)",
            (customer_id, at, customer_id, at),
        )
        return not row[0]

    def all_changes(self, customer_id: int) -> list[tuple[int, Instant | None]]:
        """(amount, available from) of every change: for invariant checks
        in tests, which is why it is not bounded."""
        rows = self.connection.execute(
            "SELECT change_amount, available_from FROM balance_changes WHERE customer_id = ?",
            (customer_id,),
        )
        return [(row[0], row[1]) for row in rows]

    def lot_audit(self, customer_id: int) -> list[tuple[int, int, int, int, int]]:
        """(lot id, amount, remaining, drawn, held) per lot: for invariant
        checks in tests, which is why it is not bounded."""
        rows = self.connection.execute(
            "SELECT l.id, l.amount, l.remaining,"
            " (SELECT COALESCE(SUM(points), 0) FROM lot_draws WHERE lot_id = l.id),"
            " (SELECT COALESCE(SUM(d.points), 0) FROM hold_draws d JOIN holds h"
            "   ON h.id = d.hold_id WHERE d.lot_id = l.id AND h.status = 'open')"
            " FROM lots l WHERE l.customer_id = ?",
            (customer_id,),
        )
        return [tuple(row) for row in rows]
