"""Manual balance changes (admin API, Maestra ChangeCustomerBalance) and
the reference data they name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pointkeeper.domain.customers import require_enrolled
from pointkeeper.domain.ledger import KIND_CUSTOM, KIND_EXPIRED
from pointkeeper.domain.templates import TEMPLATE_ADMIN
from pointkeeper.domain.time import Instant
from pointkeeper.errors import ErrorCode, InvalidRequest
from pointkeeper.limits import points_per_request_max
from pointkeeper.store.tx import Tx

from .customers import find_customer
from .ledger import ActionSpec, credit, debit, open_action
from .reference import find_point_of_contact

__all__ = ["BalanceChangeRequest", "change_balance"]

_kind_pattern = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class BalanceChangeRequest:
    change_amount: int
    kind: str = KIND_CUSTOM
    comment: str | None = None
    at: Instant | None = None
    expires_at: Instant | None = None
    available_from: Instant | None = None
    transaction_id: str | None = None
    point_of_contact: str | None = None
    action_template: str | None = None


def _check(request: BalanceChangeRequest) -> None:
    amount = request.change_amount
    if type(amount) is not int or amount == 0 or abs(amount) > points_per_request_max:
        raise InvalidRequest(
            code=ErrorCode.change_amount_invalid,
            field="change_amount",
            points_max=points_per_request_max,
        )
    if not _kind_pattern.fullmatch(request.kind):
        raise InvalidRequest(code=ErrorCode.kind_invalid, field="kind")
    if request.kind == KIND_EXPIRED:
        raise InvalidRequest(code=ErrorCode.kind_reserved, field="kind")
    if amount < 0 and (request.expires_at is not None or request.available_from is not None):
        raise InvalidRequest(code=ErrorCode.debit_dated, field="expires_at")


def change_balance(
    tx: Tx,
    *,
    customer_kind: str,
    customer_value: object,
    request: BalanceChangeRequest,
    key_scope: str | None,
    fingerprint: str | None = None,
    now: Instant,
) -> tuple[int, bool]:
    """Credits or debits a customer by hand. Answers the customer id and
    whether anything new was recorded (False for a transaction-id replay).
    With a ``key_scope``, the transaction id is kept under it with the
    request's ``fingerprint`` (the protocol's canonical hash of what it was
    sent, customer included): the same again is a replay, another is a
    conflict."""
    _check(request)
    customer = find_customer(tx, customer_kind, customer_value)
    program = tx.program(require_enrolled(customer))
    point_of_contact_id = find_point_of_contact(tx, request.point_of_contact)
    # Without a scope the caller keeps its own idempotency (Maestra's
    # transactionId results) and the id is only recorded on the action.
    key = None
    if request.transaction_id is not None and key_scope is not None:
        assert fingerprint is not None, "a kept transaction id needs the request's fingerprint"
        key = f"{key_scope}/{request.transaction_id}"
    spec = ActionSpec(
        customer_id=customer.id,
        template=request.action_template or TEMPLATE_ADMIN,
        at=now if request.at is None else request.at,
        now=now,
        point_of_contact_id=point_of_contact_id,
        transaction_id=request.transaction_id,
        idempotency_key=key,
        fingerprint=fingerprint if key else None,
    )
    action_id = open_action(tx, spec)
    if action_id is None:
        return customer.id, False
    if request.change_amount > 0:
        credit(
            tx,
            action_id,
            spec,
            program,
            amount=request.change_amount,
            kind=request.kind,
            expires_at=request.expires_at,
            available_from=request.available_from,
            comment=request.comment,
        )
    else:
        debit(
            tx,
            action_id,
            spec,
            amount=-request.change_amount,
            kind=request.kind,
            comment=request.comment,
        )
    return customer.id, True
