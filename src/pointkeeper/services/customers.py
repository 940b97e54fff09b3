"""Finding, creating and editing customers."""

from __future__ import annotations

from typing import Any

from pointkeeper.domain.customers import Customer, check_status
from pointkeeper.domain.time import Instant
from pointkeeper.errors import Conflict, CustomerNotFound, InvalidRequest
from pointkeeper.store.tx import DuplicateKey, SqliteTx

__all__ = ["find_customer", "put_customer"]

_wire_names = {
    "customer_number": "customerNumber",
    "website_id": "websiteId",
    "email": "email",
    "mobile_phone": "mobilePhone",
}


def find_customer(
    tx: SqliteTx, kind: str, value: object, *, message: str = "CustomerNumber Not Found"
) -> Customer:
    customer = tx.customer_by(kind, value)
    if customer is None:
        raise CustomerNotFound(message)
    return customer


def put_customer(
    tx: SqliteTx,
    customer_number: str,
    *,
    fields: dict[str, Any],
    program: str | None,
    now: Instant,
) -> Customer:
    """Creates or updates the customer with ``customer_number``. Naming a
    program enrolls the customer in it with status ``active`` unless a
    status is given."""
    values = dict(fields)
    if "status" in values and values["status"] is not None:
        check_status(values["status"])
    if program is not None:
        program_id = tx.program_id(program)
        if program_id is None:
            raise InvalidRequest(f"Program {program!r} not found", field="program")
        values["program_id"] = program_id
        values.setdefault("status", "active")
    existing = tx.customer_by("customer_number", customer_number)
    try:
        if existing is None:
            tx.insert_customer({"customer_number": customer_number, **values}, at=now)
        else:
            tx.update_customer(existing.id, values)
    except DuplicateKey as exc:
        name = _wire_names.get(exc.column, exc.column)
        raise Conflict(f"{name} already belongs to another customer", field=name) from None
    return find_customer(tx, "customer_number", customer_number)
