"""SQL of promo code pools and codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from pointkeeper.domain.orders import PoolDiscount
from pointkeeper.domain.promo import Code, Pool
from pointkeeper.domain.time import Instant

from ..in_lists import in_lists
from .area import SqlArea

__all__ = ["PromoQueries"]

_pool_columns = (
    "id, external_id, name, description, issue_start, issue_end, available_from,"
    " available_till, multi_use, discount"
)
_code_columns = (
    "id, value, pool_id, available_from, available_till, blocked_at, issued_customer_id,"
    " issued_point_of_contact_id, issued_at, used_point_of_contact_id, used_at"
)


def _pool(row: Sequence[Any] | None) -> Pool | None:
    if row is None:
        return None
    pool_id, external_id, name, description, issue_start, issue_end, start, end, multi, discount = (
        row
    )
    return Pool(
        pool_id,
        external_id,
        name,
        description,
        issue_start,
        issue_end,
        start,
        end,
        bool(multi),
        None if discount is None else _discount(discount),
    )


def _discount(stored: str) -> PoolDiscount:
    values = orjson.loads(stored)
    return PoolDiscount(
        percent=values.get("percent"),
        amount=values.get("amount"),
        order_total_min=values.get("order_total_min", 0),
        excluded_products=frozenset(values.get("excluded_products", ())),
    )


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """The column values, a pool's discount as its JSON text."""
    discount = values.get("discount")
    if not isinstance(discount, PoolDiscount):
        return values
    text = orjson.dumps(
        {
            "percent": discount.percent,
            "amount": discount.amount,
            "order_total_min": discount.order_total_min,
            "excluded_products": sorted(discount.excluded_products),
        }
    ).decode()
    return {**values, "discount": text}


class PromoQueries(SqlArea):
    """The ``PromoCodes`` area."""

    __slots__ = ()

    # -- pools -------------------------------------------------------------

    def insert_pool(self, external_id: str, values: dict[str, Any]) -> None:
        values = _stored(values)
        names = ["external_id", *values]
        self.connection.execute(
            f"INSERT INTO promo_pools ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            (external_id, *values.values()),
        )

    def update_pool(self, external_id: str, values: dict[str, Any]) -> None:
        values = _stored(values)
        if values:
            assignments = ", ".join(f"{name} = ?" for name in values)
            self.connection.execute(
                f"UPDATE promo_pools SET {assignments} WHERE external_id = ?",
                (*values.values(), external_id),
            )

    def pool(self, external_id: str) -> Pool | None:
        return _pool(
            self.connection.execute(
                f"SELECT {_pool_columns} FROM promo_pools WHERE external_id = ?", (external_id,)
            ).fetchone()
        )

    def pool_by_id(self, pool_id: int) -> Pool:
        found = _pool(
            self.connection.execute(
                f"SELECT {_pool_columns} FROM promo_pools WHERE id = ?", (pool_id,)
            ).fetchone()
        )
        assert found is not None
        return found

    def pool_counts(self, pool_id: int) -> tuple[int, int, int, int]:
        """(available, issued, used, blocked) codes of a pool; a multi-use code
        counts once per customer it was issued to."""
        row = self.connection.execute(
            "SELECT COUNT(*) FILTER (WHERE blocked_at IS NULL AND issued_customer_id IS NULL),"
            " COUNT(*) FILTER (WHERE issued_customer_id IS NOT NULL),"
            " COUNT(*) FILTER (WHERE used_at IS NOT NULL),"
            " COUNT(*) FILTER (WHERE blocked_at IS NOT NULL)"
            " FROM promo_codes WHERE pool_id = ?",
            (pool_id,),
        ).fetchone()
        multi = self.connection.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE i.used_at IS NOT NULL) FROM promo_issues i"
            " JOIN promo_codes c ON c.id = i.code_id WHERE c.pool_id = ?",
            (pool_id,),
        ).fetchone()
        return int(row[0]), int(row[1]) + int(multi[0]), int(row[2]) + int(multi[1]), int(row[3])

    # -- codes -------------------------------------------------------------

    def code(self, value: str) -> Code | None:
        row = self.connection.execute(
            f"SELECT {_code_columns} FROM promo_codes WHERE value = ?{self._row_lock()}", (value,)
        ).fetchone()
        return None if row is None else Code(*row)

    def existing_values(self, values: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for marks, part in in_lists(values):
            rows = self.connection.execute(
                f"SELECT value FROM promo_codes WHERE value IN ({marks})", part
            )
            found.update(row[0] for row in rows)
        return found

    def insert_codes(
        self, pool_id: int, rows: Sequence[tuple[str, Instant | None, Instant | None]]
    ) -> int:
        """Adds codes not yet known (callers check first); answers how many."""
        cursor = self.connection.executemany(
            "INSERT INTO promo_codes (value, pool_id, available_from, available_till)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (value) DO NOTHING",
            [(value, pool_id, start, end) for value, start, end in rows],
        )
        return cursor.rowcount

    def first_free_code(self, pool_id: int, *, at: Instant, shared: bool) -> Code | None:
        """The oldest code of the pool nobody has, unblocked and not past its
        own end (the pool's default end is the caller's to check). Serves
        multi-use pools (``shared``) too: their codes never carry an issued
        customer. A single-use code is taken for this transaction: another
        writer passes over it to the next."""
        lock = "" if shared else self._skip_locked
        row = self.connection.execute(
            f"SELECT {_code_columns} FROM promo_codes WHERE pool_id = ?"
            " AND issued_customer_id IS NULL AND blocked_at IS NULL"
            f" AND (available_till IS NULL OR available_till > ?) ORDER BY id LIMIT 1{lock}",
            (pool_id, at),
        ).fetchone()
        return None if row is None else Code(*row)

    def issue_code(
        self,
        code_id: int,
        *,
        customer_id: int,
        point_of_contact_id: int | None,
        at: Instant,
        available_from: Instant | None,
        available_till: Instant | None,
    ) -> bool:
        """Gives a single-use code to a customer; False when it has gone meanwhile."""
        cursor = self.connection.execute(
            "UPDATE promo_codes SET issued_customer_id = ?, issued_point_of_contact_id = ?,"
            " issued_at = ?, available_from = COALESCE(?, available_from),"
            " available_till = COALESCE(?, available_till)"
            " WHERE id = ? AND issued_customer_id IS NULL",
            (customer_id, point_of_contact_id, at, available_from, available_till, code_id),
        )
        return cursor.rowcount == 1

    def multi_issue(self, code_id: int, *, customer_id: int) -> tuple[Any, ...] | None:
        """(point of contact id, issued at, used point of contact id, used at)."""
        row = self.connection.execute(
            "SELECT point_of_contact_id, issued_at, used_point_of_contact_id, used_at"
            " FROM promo_issues WHERE code_id = ? AND customer_id = ?",
            (code_id, customer_id),
        ).fetchone()
        return None if row is None else tuple(row)

    def issue_multi_use_code(
        self, code_id: int, *, customer_id: int, point_of_contact_id: int | None, at: Instant
    ) -> bool:
        cursor = self.connection.execute(
            "INSERT INTO promo_issues (code_id, customer_id, point_of_contact_id, issued_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (code_id, customer_id) DO NOTHING",
            (code_id, customer_id, point_of_contact_id, at),
        )
        return bool(cursor.rowcount)

    def set_code_used(
        self,
        code_id: int,
        *,
        customer_id: int,
        multi_use: bool,
        point_of_contact_id: int | None,
        at: Instant | None,
    ) -> None:
        """Marks a redemption (``at``) or its cancellation (``at`` None)."""
        if multi_use:
            self.connection.execute(
                "UPDATE promo_issues SET used_point_of_contact_id = ?, used_at = ?"
                " WHERE code_id = ? AND customer_id = ?",
                (point_of_contact_id, at, code_id, customer_id),
            )
        else:
            self.connection.execute(
                "UPDATE promo_codes SET used_point_of_contact_id = ?, used_at = ? WHERE id = ?",
                (point_of_contact_id, at, code_id),
            )

    def block_code(self, value: str, at: Instant) -> bool:
        cursor = self.connection.execute(
            "UPDATE promo_codes SET blocked_at = COALESCE(blocked_at, ?) WHERE value = ?",
            (at, value),
        )
        return cursor.rowcount == 1
