"""SQL of retail orders: the order row, its lines, its coupons and the
changes it made after it was created."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pointkeeper.domain.orders import OrderRules, PlacedLine, PlacedOrder
from pointkeeper.domain.time import Instant

from ..in_lists import in_lists
from .area import SqlArea

__all__ = ["OrderQueries"]

_order_columns = (
    "id, customer_id, program_id, website_id, point_of_contact_id, transaction_id,"
    " date_time_utc, spent, earned, payment_change_id, bonus_change_id, refunded,"
    " taken_back, shortfall, bonus_expired"
)
_line_columns = (
    "line_number, line_id, product, category, price_per_item, quantity, base, discount,"
    " spent, paid, earned, status, quantity_cancelled, quantity_returned, refunded, taken_back"
)
_default_rules = OrderRules()


def _order(row: Sequence[Any], lines: list[PlacedLine]) -> PlacedOrder:
    (
        order_id,
        customer_id,
        program_id,
        website_id,
        point_of_contact_id,
        transaction_id,
        at,
        spent,
        earned,
        payment_change_id,
        bonus_change_id,
        refunded,
        taken_back,
        shortfall,
        bonus_expired,
    ) = row
    return PlacedOrder(
        id=order_id,
        customer_id=customer_id,
        program_id=program_id,
        website_id=website_id,
        point_of_contact_id=point_of_contact_id,
        transaction_id=transaction_id,
        at=at,
        spent=spent,
        earned=earned,
        payment_change_id=payment_change_id,
        bonus_change_id=bonus_change_id,
        refunded=refunded,
        taken_back=taken_back,
        shortfall=shortfall,
        bonus_expired=bonus_expired,
        lines=lines,
    )


class OrderQueries(SqlArea):
    """The ``Orders`` area."""

    __slots__ = ()

    def order_rules(self, program_id: int) -> OrderRules:
        return self.references.current.order_rules.get(program_id, _default_rules)

    def order_status_effect(self, status: str) -> str | None:
        return self.references.current.order_statuses.get(status)

    def insert_order(self, order: PlacedOrder, *, recorded_at: Instant) -> int | None:
        row = self._one(
            "INSERT INTO orders (customer_id, program_id, website_id, point_of_contact_id,"
            " transaction_id, date_time_utc, recorded_at, spent, earned, payment_change_id,"
            " bonus_change_id, refunded, taken_back, shortfall, bonus_expired)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (website_id) DO NOTHING RETURNING id",
            (
                order.customer_id,
                order.program_id,
                order.website_id,
                order.point_of_contact_id,
                order.transaction_id,
                order.at,
                recorded_at,
                order.spent,
                order.earned,
                order.payment_change_id,
                order.bonus_change_id,
                order.refunded,
                order.taken_back,
                order.shortfall,
                order.bonus_expired,
            ),
        )
        if row is None:
            return None
        order_id = int(row[0])
        self.connection.executemany(
            f"INSERT INTO order_lines (order_id, {_line_columns})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    order_id,
                    line.line_number,
                    line.line_id,
                    line.product,
                    line.category,
                    line.price_per_item,
                    line.quantity,
                    line.base,
                    line.discount,
                    line.spent,
                    line.paid,
                    line.earned,
                    line.status,
                    line.quantity_cancelled,
                    line.quantity_returned,
                    line.refunded,
                    line.taken_back,
                )
                for line in order.lines
            ],
        )
        return order_id

    def insert_order_coupons(self, order_id: int, coupons: Iterable[tuple[int, int]]) -> None:
        rows = [(order_id, code_id, cents, False) for code_id, cents in coupons]
        if rows:
            self.connection.executemany(
                "INSERT INTO order_coupons (order_id, code_id, discount, given_back)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    def order_by(self, *, order_id: int | None, website_id: str | None) -> PlacedOrder | None:
        key: int | str
        if order_id is not None:
            where, key = "id = ?", order_id
        else:
            assert website_id is not None
            where, key = "website_id = ?", website_id
        row = self._one(
            f"SELECT {_order_columns} FROM orders WHERE {where}{self._row_lock()}", (key,)
        )
        if row is None:
            return None
        return _order(row, self._lines({int(row[0])})[int(row[0])])

    def _lines(self, order_ids: Iterable[int]) -> dict[int, list[PlacedLine]]:
        found: dict[int, list[PlacedLine]] = {}
        for marks, ids in in_lists(order_ids):
            for order_id in ids:
                found.setdefault(order_id, [])
            rows = self.connection.execute(
                f"SELECT order_id, {_line_columns} FROM order_lines WHERE order_id IN ({marks})"
                " ORDER BY order_id, line_number",
                ids,
            )
            for row in rows:
                found[row[0]].append(PlacedLine(*row[1:]))
        return found

    def update_order(self, order: PlacedOrder) -> None:
        self.connection.execute(
            "UPDATE orders SET refunded = ?, taken_back = ?, shortfall = ?, bonus_expired = ?"
            " WHERE id = ?",
            (order.refunded, order.taken_back, order.shortfall, order.bonus_expired, order.id),
        )
        self.connection.executemany(
            "UPDATE order_lines SET status = ?, quantity_cancelled = ?, quantity_returned = ?,"
            " refunded = ?, taken_back = ? WHERE order_id = ? AND line_number = ?",
            [
                (
                    line.status,
                    line.quantity_cancelled,
                    line.quantity_returned,
                    line.refunded,
                    line.taken_back,
                    order.id,
                    line.line_number,
                )
                for line in order.lines
            ],
        )

    def give_back_coupons(self, order_id: int) -> list[tuple[int, bool]]:
        rows = self.connection.execute(
            "UPDATE order_coupons SET given_back = ? WHERE order_id = ? AND given_back = ?"
            " RETURNING code_id",
            (True, order_id, False),
        ).fetchall()
        code_ids = sorted(int(row[0]) for row in rows)
        multi_use: dict[int, bool] = {}
        for marks, ids in in_lists(code_ids):
            found = self.connection.execute(
                "SELECT c.id, p.multi_use FROM promo_codes c JOIN promo_pools p"
                f" ON p.id = c.pool_id WHERE c.id IN ({marks})",
                ids,
            )
            multi_use.update((int(row[0]), bool(row[1])) for row in found)
        return [(code_id, multi_use[code_id]) for code_id in code_ids]

    def add_order_change(self, order_id: int, *, change_id: int, role: str) -> None:
        self.connection.execute(
            "INSERT INTO order_changes (change_id, order_id, role) VALUES (?, ?, ?)",
            (change_id, order_id, role),
        )

    def order_change_ids(self, order_id: int, *, role: str) -> list[int]:
        rows = self.connection.execute(
            "SELECT change_id FROM order_changes WHERE order_id = ? AND role = ?"
            " ORDER BY change_id",
            (order_id, role),
        )
        return [int(row[0]) for row in rows]

    def is_order_change(self, change_id: int) -> bool:
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE payment_change_id = ?)"
            " OR EXISTS (SELECT 1 FROM order_changes WHERE change_id = ?)",
            (change_id, change_id),
        )
        return bool(row[0])

    def customer_order_count(self, customer_id: int, *, since: Instant, till: Instant) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM orders WHERE customer_id = ? AND date_time_utc >= ?"
            " AND date_time_utc < ?",
            (customer_id, since, till),
        )
        return int(row[0])

    def customer_orders(
        self,
        customer_id: int,
        *,
        since: Instant,
        till: Instant,
        offset: int,
        limit: int,
        lines_max: int,
    ) -> list[PlacedOrder] | None:
        rows = self.connection.execute(
            f"SELECT {_order_columns} FROM orders WHERE customer_id = ? AND date_time_utc >= ?"
            " AND date_time_utc < ? ORDER BY date_time_utc DESC, id DESC LIMIT ? OFFSET ?",
            (customer_id, since, till, limit, offset),
        ).fetchall()
        order_ids = [int(row[0]) for row in rows]
        counted = 0
        for marks, ids in in_lists(order_ids):
            counted += int(
                self._one(f"SELECT COUNT(*) FROM order_lines WHERE order_id IN ({marks})", ids)[0]
            )
        if counted > lines_max:
            return None
        lines = self._lines(order_ids)
        return [_order(row, lines[int(row[0])]) for row in rows]
