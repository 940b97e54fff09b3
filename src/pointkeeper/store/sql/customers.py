"""SQL of customers: found by any of their unique ids, inserted, edited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pointkeeper.domain.customers import ID_KINDS, Customer
from pointkeeper.domain.time import Instant

from ..in_lists import in_lists
from .area import SqlArea

__all__ = ["CustomerQueries"]

_customer_columns = (
    "id, customer_number, website_id, email, mobile_phone, first_name, last_name,"
    " program_id, status"
)
_customer_fields = (
    "customer_number",
    "website_id",
    "email",
    "mobile_phone",
    "first_name",
    "last_name",
    "program_id",
    "status",
)


class CustomerQueries(SqlArea):
    """The ``Customers`` area."""

    __slots__ = ()

    def customer_by(self, kind: str, value: object) -> Customer | None:
        column = "id" if kind == "customer_id" else kind
        assert kind in ID_KINDS
        row = self._one(
            f"SELECT {_customer_columns} FROM customers WHERE {column} = ?{self._row_lock()}",
            (value,),
        )
        return None if row is None else Customer(*row)

    def insert_customer(self, fields: dict[str, Any], *, at: Instant) -> int:
        assert set(fields) <= set(_customer_fields)
        names = [*fields, "created_at"]
        with self.unique_values():
            row = self._one(
                f"INSERT INTO customers ({', '.join(names)})"
                f" VALUES ({', '.join('?' * len(names))}) RETURNING id",
                (*fields.values(), at),
            )
        return int(row[0])

    def update_customer(self, customer_id: int, fields: dict[str, Any]) -> None:
        assert set(fields) <= set(_customer_fields)
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.unique_values():
            self.connection.execute(
                f"UPDATE customers SET {assignments} WHERE id = ?",
                (*fields.values(), customer_id),
            )

    def customer_ids_by_number(self, customer_numbers: Sequence[str]) -> dict[str, int]:
        """The customer id of each of ``customer_numbers`` that names a
        customer; unknown numbers are left out."""
        found: dict[str, int] = {}
        for marks, chunk in in_lists(customer_numbers):
            rows = self.connection.execute(
                f"SELECT customer_number, id FROM customers WHERE customer_number IN ({marks})",
                chunk,
            )
            found.update((row[0], int(row[1])) for row in rows)
        return found
