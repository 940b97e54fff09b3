"""The CP Extender loyalty use cases: earn, balance check, authorize,
confirm and cancel."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from pointkeeper import limits, metrics
from pointkeeper.domain.customers import Customer, Program, require_enrolled
from pointkeeper.domain.ledger import (
    KIND_CUSTOM,
    KIND_RETAIL_ORDER_PAYMENT,
    Balances,
    Hold,
    HoldStatus,
    allocate,
    hold_transition,
)
from pointkeeper.domain.templates import TEMPLATE_EARN, TEMPLATE_PAYMENT
from pointkeeper.domain.time import Instant
from pointkeeper.errors import Conflict, ErrorCode, HoldNotFound, InvalidRequest
from pointkeeper.store.tx import ChangeRow, Customers, Holds, Ledger, References, Tx

from .customers import find_customer
from .ledger import ActionSpec, credit, current_balances, open_action, release_hold, settle

__all__ = [
    "LoyaltyTx",
    "NeedsSettlement",
    "Statement",
    "authorize",
    "customer_view",
    "earn",
    "resolve_authorization",
    "settle_customer",
    "statement",
]


class LoyaltyTx(Customers, References, Ledger, Holds, Protocol):
    """The areas of the port earning and spending points need (a statement
    reads the histories too)."""


def earn(
    tx: LoyaltyTx,
    *,
    customer_number: str,
    points: int,
    reason: str | None,
    reference: str | None,
    now: Instant,
) -> bool:
    """Credits ``points``; answers False when ``reference`` was already
    earned with the same points (a retry), and refuses other points under
    the same reference."""
    customer = find_customer(tx, "customer_number", customer_number)
    program = tx.program(require_enrolled(customer))
    key = None if reference is None else f"cpx-earn/{customer.id}/{reference}"
    spec = ActionSpec(
        customer_id=customer.id,
        template=TEMPLATE_EARN,
        at=now,
        now=now,
        transaction_id=reference,
        idempotency_key=key,
        fingerprint=str(points),
    )
    action_id = open_action(tx, spec)
    if action_id is None:
        return False
    credit(
        tx,
        action_id,
        spec,
        program,
        amount=points,
        kind=KIND_CUSTOM,
        comment=reason,
        document=reference,
    )
    return True


def authorize(
    tx: LoyaltyTx,
    *,
    customer_number: str,
    sale_id: str,
    points: int | None,
    amount_units: float | None,
    location: str | None,
    ttl_ms: int,
    now: Instant,
) -> Hold:
    """Reserves points for a sale. The same sale for the same points again
    answers the hold already made; other points for a live sale conflict."""
    customer = find_customer(tx, "customer_number", customer_number)
    program_id = require_enrolled(customer)
    if points is None:
        assert amount_units is not None
        points = _points_for_amount(tx.program(program_id).points_per_currency_unit, amount_units)
    settle(tx, customer.id, now=now)
    existing = tx.live_hold_for_sale(customer.id, sale_id)
    if existing is not None:
        if existing.points != points:
            raise Conflict(code=ErrorCode.sale_already_authorized, field="sale")
        return existing
    draws = allocate(tx.drawable_lots(customer.id, at=now), points, at=now)
    auth_code = secrets.token_urlsafe(limits.auth_code_bytes)
    hold_id = tx.insert_hold(
        auth_code=auth_code,
        customer_id=customer.id,
        sale_id=sale_id,
        points=points,
        location=location,
        created_at=now,
        expires_at=now + ttl_ms,
    )
    tx.reserve(hold_id, draws)
    metrics.count(metrics.holds, event="opened")
    return Hold(
        id=hold_id,
        customer_id=customer.id,
        auth_code=auth_code,
        sale_id=sale_id,
        points=points,
        location=location,
        status=HoldStatus.OPEN,
        created_at=now,
        expires_at=now + ttl_ms,
        draws=sorted(draws, key=lambda draw: draw.lot_id),
    )


def _points_for_amount(points_per_unit: int, amount_units: float) -> int:
    # Rounded up: a fraction of a point is charged as a whole point.
    points = -(-round(amount_units * 100) * points_per_unit // 100)
    if not 1 <= points <= limits.points_per_request_max:
        raise InvalidRequest(code=ErrorCode.amount_out_of_range, field="amount")
    return points


def resolve_authorization(
    tx: LoyaltyTx, *, customer_number: str, auth_code: str, target: str, now: Instant
) -> None:
    """Confirms (a ``RetailOrderPayment`` debit of the reserved lots) or
    cancels (the points go back) a hold, exactly once."""
    customer = find_customer(tx, "customer_number", customer_number)
    settle(tx, customer.id, now=now)
    hold = tx.hold_by_code(auth_code)
    if hold is None or hold.customer_id != customer.id:
        raise HoldNotFound(code=ErrorCode.hold_not_found, field="hold")
    if not hold_transition(hold, target, at=now):
        return
    if target == HoldStatus.CANCELLED:
        release_hold(tx, hold, HoldStatus.CANCELLED, at=now, now=now)
        return
    spec = ActionSpec(customer_id=customer.id, template=TEMPLATE_PAYMENT, at=now, now=now)
    action_id = open_action(tx, spec)
    assert action_id is not None
    change_id = tx.insert_change(
        action_id=action_id,
        customer_id=customer.id,
        amount=-hold.points,
        kind=KIND_RETAIL_ORDER_PAYMENT,
        at=now,
        recorded_at=now,
        document=hold.sale_id,
        location=hold.location,
    )
    tx.resolve_hold(hold, HoldStatus.CONFIRMED, at=now, payment_change_id=change_id)
    metrics.count(metrics.holds, event=HoldStatus.CONFIRMED)
    metrics.count(metrics.points, hold.points, direction="debited", kind=KIND_RETAIL_ORDER_PAYMENT)


@dataclass(frozen=True, slots=True)
class Statement:
    """What a balance check shows: the customer, the figures, a summary of
    what came before the range, the changes in it and the open holds."""

    customer: Customer
    program: Program | None
    balances: Balances
    summary: tuple[int, Instant] | None
    changes: list[ChangeRow]
    open_holds: list[Hold]


class NeedsSettlement(Exception):
    """The ledger has due work; the caller settles it through a write first."""


def statement(
    tx: Tx, *, customer_number: str, start: Instant, end: Instant, now: Instant
) -> Statement:
    customer = find_customer(tx, "customer_number", customer_number)
    if not tx.is_settled(customer.id, at=now):
        raise NeedsSettlement
    changes = tx.changes_between(
        customer.id, start=start, end=end, limit=limits.history_rows_max + 1
    )
    if len(changes) > limits.history_rows_max:
        raise InvalidRequest(code=ErrorCode.history_too_long, rows_max=limits.history_rows_max)
    # Every open hold is listed whatever the dates, and the history is never
    # cut short: past the bound the check is refused until holds resolve.
    open_holds = tx.open_holds(customer.id, limit=limits.open_holds_max + 1)
    if len(open_holds) > limits.open_holds_max:
        raise InvalidRequest(code=ErrorCode.too_many_open_holds, holds_max=limits.open_holds_max)
    return Statement(
        customer=customer,
        program=None if customer.program_id is None else tx.program(customer.program_id),
        balances=current_balances(tx, customer, now=now),
        summary=tx.summary_before(customer.id, start=start),
        changes=changes,
        open_holds=open_holds,
    )


def customer_view(
    tx: LoyaltyTx, *, customer_number: str, now: Instant
) -> tuple[Customer, Program | None, Balances]:
    customer = find_customer(tx, "customer_number", customer_number)
    if not tx.is_settled(customer.id, at=now):
        raise NeedsSettlement
    program = None if customer.program_id is None else tx.program(customer.program_id)
    return customer, program, current_balances(tx, customer, now=now)


def settle_customer(tx: LoyaltyTx, *, customer_number: str, now: Instant) -> None:
    settle(tx, find_customer(tx, "customer_number", customer_number).id, now=now)
