"""Finding, creating and editing customers."""

from __future__ import annotations

from typing import Any

from pointkeeper.domain.customers import Customer, check_status
from pointkeeper.domain.time import Instant
from pointkeeper.errors import Conflict, CustomerNotFound, ErrorCode, InvalidRequest
from pointkeeper.store.tx import Customers, DuplicateKey, Tx

__all__ = ["edit_customer", "find_customer", "put_customer", "register_customer"]

# The external ids a registration may give; the customer id is the store's.
_external_ids = ("customer_number", "website_id", "email", "mobile_phone")


def find_customer(tx: Customers, kind: str, value: object) -> Customer:
    customer = tx.customer_by(kind, value)
    if customer is None:
        raise CustomerNotFound(code=ErrorCode.customer_not_found, field="customer")
    return customer


def _enrollment(tx: Tx, fields: dict[str, Any], program: str | None) -> dict[str, Any]:
    """The column values for ``fields``; naming a program enrolls the customer
    in it with status ``active`` unless a status is given."""
    values = dict(fields)
    if values.get("status") is not None:
        check_status(values["status"])
    if program is not None:
        program_id = tx.program_id(program)
        if program_id is None:
            raise InvalidRequest(code=ErrorCode.program_not_found, field="program", program=program)
        values["program_id"] = program_id
        values.setdefault("status", "active")
    return values


def _write(tx: Tx, existing: Customer | None, values: dict[str, Any], now: Instant) -> int:
    try:
        if existing is None:
            return tx.insert_customer(values, at=now)
        tx.update_customer(existing.id, values)
        return existing.id
    except DuplicateKey as exc:
        raise Conflict(code=ErrorCode.id_taken, field=exc.column) from None


def put_customer(
    tx: Tx,
    customer_number: str,
    *,
    fields: dict[str, Any],
    program: str | None,
    now: Instant,
) -> Customer:
    """Creates or updates the customer with ``customer_number``."""
    values = _enrollment(tx, fields, program)
    existing = tx.customer_by("customer_number", customer_number)
    if existing is None:
        values["customer_number"] = customer_number
    _write(tx, existing, values, now)
    return find_customer(tx, "customer_number", customer_number)


def register_customer(
    tx: Tx, *, fields: dict[str, Any], program: str | None, now: Instant
) -> Customer:
    """Creates a customer; at least one external id is needed, and none may
    belong to another customer already."""
    if not any(fields.get(kind) for kind in _external_ids):
        raise InvalidRequest(code=ErrorCode.ids_required, field="ids")
    customer_id = _write(tx, None, _enrollment(tx, fields, program), now)
    return find_customer(tx, "customer_id", customer_id)


def edit_customer(
    tx: Tx,
    *,
    kind: str,
    value: object,
    fields: dict[str, Any],
    program: str | None,
    now: Instant,
) -> Customer:
    """Changes the given fields of the customer found by one of its ids."""
    existing = find_customer(tx, kind, value)
    _write(tx, existing, _enrollment(tx, fields, program), now)
    return find_customer(tx, "customer_id", existing.id)
