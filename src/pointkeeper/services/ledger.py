"""Credits, debits, refunds and settlement (hold timeouts and expiry) of one
customer's points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pointkeeper import limits, metrics
from pointkeeper.domain.customers import Customer, Program
from pointkeeper.domain.ledger import (
    KIND_EXPIRED,
    KIND_REFUND,
    KIND_RETAIL_ORDER_BONUS,
    Balances,
    Draw,
    Hold,
    HoldStatus,
    WriteOff,
    allocate,
    balances,
    expire_lots,
    release,
)
from pointkeeper.domain.templates import TEMPLATE_EXPIRY, TEMPLATE_REFUND
from pointkeeper.domain.time import Instant
from pointkeeper.errors import (
    Conflict,
    DuplicateTransaction,
    ErrorCode,
    InvalidRequest,
    NotFound,
)
from pointkeeper.store.tx import Holds, Ledger, Orders, References

__all__ = [
    "ActionSpec",
    "LedgerTx",
    "RefundTx",
    "Settlement",
    "credit",
    "current_balances",
    "debit",
    "open_action",
    "put_back",
    "refund",
    "release_hold",
    "settle",
    "take_back",
]


class LedgerTx(References, Ledger, Holds, Protocol):
    """The areas of the port the ledger's use cases need."""


class RefundTx(LedgerTx, Orders, Protocol):
    """A refund by hand also asks whether an order owns the debit."""


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """Who, when and under which key a customer action happens."""

    customer_id: int
    template: str
    at: Instant
    now: Instant
    point_of_contact_id: int | None = None
    transaction_id: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None


@dataclass(slots=True)
class Settlement:
    holds_expired: int = 0
    lots_expired: int = 0
    points_expired: int = 0

    def add(self, other: Settlement) -> None:
        self.holds_expired += other.holds_expired
        self.lots_expired += other.lots_expired
        self.points_expired += other.points_expired


def open_action(tx: LedgerTx, spec: ActionSpec) -> int | None:
    """Records the action; None when its idempotency key was already used
    with the same fingerprint (a replay), ``Conflict`` when with another."""
    template_id = tx.template_id(spec.template)
    if template_id is None:
        raise NotFound(code=ErrorCode.template_not_found, field="template", template=spec.template)
    action_id = tx.insert_action(
        customer_id=spec.customer_id,
        template_id=template_id,
        at=spec.at,
        point_of_contact_id=spec.point_of_contact_id,
        transaction_id=spec.transaction_id,
        idempotency_key=spec.idempotency_key,
        fingerprint=spec.fingerprint,
        recorded_at=spec.now,
    )
    if action_id is None:
        assert spec.idempotency_key is not None
        if tx.action_fingerprint(spec.idempotency_key) != spec.fingerprint:
            raise DuplicateTransaction(code=ErrorCode.transaction_reused)
    return action_id


def credit(
    tx: LedgerTx,
    action_id: int,
    spec: ActionSpec,
    program: Program,
    *,
    amount: int,
    kind: str,
    expires_at: Instant | None = None,
    available_from: Instant | None = None,
    comment: str | None = None,
    document: str | None = None,
    location: str | None = None,
) -> int:
    """Adds ``amount`` points and opens their lot. A retail-order bonus waits
    the program's pending period; without an explicit expiry the credit
    lives the program's default lifetime from when it becomes available."""
    assert amount > 0
    if available_from is None:
        bonus = kind == KIND_RETAIL_ORDER_BONUS
        available_from = program.order_bonus_available_from(spec.at) if bonus else spec.at
    if expires_at is None:
        expires_at = program.credit_expiry(available_from)
    if expires_at is not None and expires_at <= available_from:
        raise InvalidRequest(code=ErrorCode.expiry_before_availability, field="expires_at")
    change_id = tx.insert_change(
        action_id=action_id,
        customer_id=spec.customer_id,
        amount=amount,
        kind=kind,
        at=spec.at,
        recorded_at=spec.now,
        expires_at=expires_at,
        available_from=available_from,
        comment=comment,
        document=document,
        location=location,
    )
    tx.insert_lot(
        lot_id=change_id,
        customer_id=spec.customer_id,
        amount=amount,
        available_from=available_from,
        expires_at=expires_at,
        activated=available_from <= spec.now,
    )
    metrics.count(metrics.points, amount, direction="credited", kind=kind)
    if expires_at is not None and expires_at <= spec.now:
        settle(tx, spec.customer_id, now=spec.now)
    return change_id


def debit(
    tx: LedgerTx,
    action_id: int,
    spec: ActionSpec,
    *,
    amount: int,
    kind: str,
    comment: str | None = None,
    document: str | None = None,
    location: str | None = None,
) -> int:
    """Takes ``amount`` available points, soonest-expiring lots first."""
    assert amount > 0
    settle(tx, spec.customer_id, now=spec.now)
    draws = allocate(tx.drawable_lots(spec.customer_id, at=spec.now), amount, at=spec.now)
    change_id = tx.insert_change(
        action_id=action_id,
        customer_id=spec.customer_id,
        amount=-amount,
        kind=kind,
        at=spec.at,
        recorded_at=spec.now,
        comment=comment,
        document=document,
        location=location,
    )
    tx.draw(change_id, draws)
    metrics.count(metrics.points, amount, direction="debited", kind=kind)
    return change_id


def refund(tx: RefundTx, change_id: int, *, now: Instant, comment: str | None) -> int:
    """Reverses a debit into the very lots it drew from; points that land in
    a lot that has expired meanwhile are written off at once."""
    found = tx.change(change_id)
    if found is None:
        raise NotFound(code=ErrorCode.balance_change_not_found, field="balance_change")
    customer_id, amount, kind, document = found
    tx.lock_customer(customer_id)
    if amount >= 0 or kind == KIND_EXPIRED:
        raise InvalidRequest(code=ErrorCode.not_a_debit, field="balance_change")
    if tx.refund_of(change_id) is not None:
        raise Conflict(code=ErrorCode.already_refunded)
    if tx.is_order_change(change_id):
        # Its order's status changes undo it line by line; all at once here
        # would let both happen (a refunded take-back would make points).
        raise Conflict(code=ErrorCode.order_payment_refunded_by_order, field="balance_change")
    spec = ActionSpec(customer_id=customer_id, template=TEMPLATE_REFUND, at=now, now=now)
    action_id = open_action(tx, spec)
    assert action_id is not None
    refund_id = put_back(
        tx, action_id, spec, draws=tx.draws_of(change_id), comment=comment, document=document
    )
    tx.record_refund(change_id, refund_change_id=refund_id)
    return refund_id


def put_back(
    tx: LedgerTx,
    action_id: int,
    spec: ActionSpec,
    *,
    draws: list[Draw],
    comment: str | None = None,
    document: str | None = None,
) -> int:
    """Gives a debit's ``draws`` (or part of them) back to their lots as one
    ``Refund`` change; points that land in a lot that has expired meanwhile
    are written off at once."""
    assert draws and all(draw.points > 0 for draw in draws)
    refund_id = tx.insert_change(
        action_id=action_id,
        customer_id=spec.customer_id,
        amount=sum(draw.points for draw in draws),
        kind=KIND_REFUND,
        at=spec.at,
        recorded_at=spec.now,
        comment=comment,
        document=document,
    )
    tx.draw(refund_id, [Draw(d.lot_id, -d.points) for d in draws])
    metrics.count(
        metrics.points, sum(d.points for d in draws), direction="refunded", kind=KIND_REFUND
    )
    outcome = release(draws, tx.lots_by_id(d.lot_id for d in draws), at=spec.now)
    _write_off(tx, spec.customer_id, outcome.write_offs, now=spec.now)
    return refund_id


def take_back(
    tx: LedgerTx, action_id: int, spec: ActionSpec, *, bonus_lot_id: int, points: int, kind: str
) -> tuple[int | None, int]:
    """Takes ``points`` of a credit back: out of its own lot first (while the
    lot is pending, the change is pending with it and so leaves the active
    balance alone), then, where the credit was spent meanwhile, out of the
    customer's other available points; never below zero. Answers the
    change (None when nothing was left to take) and the points not taken."""
    assert points > 0
    settle(tx, spec.customer_id, now=spec.now)
    lot = tx.lots_by_id([bonus_lot_id])[bonus_lot_id]
    if lot.is_pending(spec.now):
        assert lot.remaining >= points, "a pending lot is drawn by its take-backs only"
        draws = [Draw(lot.id, points)]
        available_from: Instant | None = lot.available_from
    else:
        draws, needed = [], points
        if lot.is_drawable(spec.now):
            draws.append(Draw(lot.id, min(lot.remaining, needed)))
            needed -= draws[0].points
        for other in tx.drawable_lots(spec.customer_id, at=spec.now) if needed else ():
            if other.id == lot.id or not other.is_drawable(spec.now):
                continue
            draws.append(Draw(other.id, min(other.remaining, needed)))
            needed -= draws[-1].points
            if needed == 0:
                break
        available_from = None
    taken = sum(draw.points for draw in draws)
    if taken == 0:
        return None, points
    change_id = tx.insert_change(
        action_id=action_id,
        customer_id=spec.customer_id,
        amount=-taken,
        kind=kind,
        at=spec.at,
        recorded_at=spec.now,
        available_from=available_from,
    )
    tx.draw(change_id, draws)
    metrics.count(metrics.points, taken, direction="debited", kind=kind)
    return change_id, points - taken


def release_hold(tx: LedgerTx, hold: Hold, status: str, *, at: Instant, now: Instant) -> int:
    """Cancels or times out an open hold: its points go back to their lots,
    or are written off where the lot has expired by ``at``. Answers the
    points written off."""
    assert status in (HoldStatus.CANCELLED, HoldStatus.EXPIRED)
    outcome = release(hold.draws, tx.lots_by_id(d.lot_id for d in hold.draws), at=at)
    tx.resolve_hold(hold, status, at=at)
    metrics.count(metrics.holds, event=status)
    _write_off(tx, hold.customer_id, outcome.write_offs, now=now)
    return sum(w.points for w in outcome.write_offs)


def settle(tx: LedgerTx, customer_id: int, *, now: Instant) -> Settlement:
    """Brings one customer's ledger up to ``now``: holds past their time
    expire, then lots past their expiry are written off."""
    result = Settlement()
    if tx.is_settled(customer_id, at=now):  # the common case, in one query
        return result
    while due := tx.due_holds(customer_id, at=now, limit=limits.job_batch_max):
        for hold in due:
            result.points_expired += release_hold(
                tx, hold, HoldStatus.EXPIRED, at=hold.expires_at, now=now
            )
        result.holds_expired += len(due)
    # A batch at a time: a customer may have thousands of lots expire at once.
    while lots := tx.expired_lots(customer_id, at=now, limit=limits.job_batch_max):
        write_offs = expire_lots(lots, at=now)
        # Each lot read is written off (to 0 remaining), so the loop ends.
        assert len(write_offs) == len(lots)
        _write_off(tx, customer_id, write_offs, now=now)
        result.lots_expired += len(write_offs)
        result.points_expired += sum(w.points for w in write_offs)
    return result


def _write_off(
    tx: LedgerTx, customer_id: int, write_offs: Iterable[WriteOff], *, now: Instant
) -> None:
    for write_off in write_offs:
        spec = ActionSpec(
            customer_id=customer_id, template=TEMPLATE_EXPIRY, at=write_off.at, now=now
        )
        action_id = open_action(tx, spec)
        assert action_id is not None
        change_id = tx.insert_change(
            action_id=action_id,
            customer_id=customer_id,
            amount=-write_off.points,
            kind=KIND_EXPIRED,
            at=write_off.at,
            recorded_at=now,
        )
        tx.draw(change_id, [Draw(write_off.lot_id, write_off.points)])
        metrics.count(metrics.points, write_off.points, direction="expired", kind=KIND_EXPIRED)


def current_balances(tx: LedgerTx, customer: Customer, *, now: Instant) -> Balances:
    """The figures of a settled ledger (callers settle first, or check
    ``tx.is_settled``)."""
    active, pending = tx.lot_sums(customer.id, at=now)
    return balances(
        active=active, pending=pending, open_authorizations=tx.open_hold_points(customer.id)
    )
