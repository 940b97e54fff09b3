"""Moving a created order's lines to a status of the project's vocabulary:
what their cancelled and returned parts carried of the order's spent and
earned points goes back (``domain.orders.give_back``), as one ``Refund``
into the payment's lots and one take-back of the bonus; coupons come back
when every line is cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from pointkeeper.domain.ledger import KIND_RETAIL_ORDER_BONUS, Draw, draw_order_key
from pointkeeper.domain.orders import (
    GiveBack,
    PlacedLine,
    PlacedOrder,
    give_back,
    has_room,
    move_line,
)
from pointkeeper.domain.time import Instant
from pointkeeper.errors import ErrorCode, InvalidRequest, NotFound
from pointkeeper.store.tx import Tx

from .ledger import ActionSpec, open_action, put_back, take_back
from .reference import find_point_of_contact

__all__ = [
    "ROLE_REFUND",
    "ROLE_TAKE_BACK",
    "LineMove",
    "StatusChange",
    "StatusView",
    "change_order_status",
    "status_effect",
]

# What an order's later changes are to it (``Orders.add_order_change``).
ROLE_REFUND = "refund"
ROLE_TAKE_BACK = "take_back"


@dataclass(frozen=True, slots=True)
class LineMove:
    """One line (by number or id) to a status; ``quantity`` in thousandths."""

    line_number: int | None
    line_id: str | None
    status: str
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    order_id: int | None
    website_id: str | None
    # Every line to this status, or the moves of single lines.
    order_status: str | None
    moves: tuple[LineMove, ...]
    point_of_contact: str | None
    at: Instant | None
    transaction_id: str | None


@dataclass(frozen=True, slots=True)
class StatusView:
    """An order after a status change, and what this change gave back: of
    ``given_back.take_back``, ``shortfall`` could not be taken (the balance
    had gone) and ``expired`` had left already, through the bonus's expiry."""

    order: PlacedOrder
    given_back: GiveBack
    shortfall: int
    expired: int


def status_effect(tx: Tx, status: str) -> str:
    """The effect of a status of the vocabulary; one outside it is refused."""
    effect = tx.order_status_effect(status)
    if effect is None:
        raise InvalidRequest(
            code=ErrorCode.order_status_unknown, field="order_status", status=status
        )
    return effect


def _line(lines: dict[int | str, PlacedLine], move: LineMove) -> PlacedLine:
    """The line a move names: by its number, or without one by its id."""
    key = move.line_number if move.line_number is not None else move.line_id
    assert key is not None
    found = lines.get(key)
    if found is None:
        raise NotFound(code=ErrorCode.order_line_not_found, field="order_line", line=key)
    return found


def change_order_status(tx: Tx, change: StatusChange, *, template: str, now: Instant) -> StatusView:
    """Moves lines to statuses; what the cancelled and returned parts carry
    of the order's spent and earned points goes back (``give_back``)."""
    order = tx.order_by(order_id=change.order_id, website_id=change.website_id)
    if order is None:
        raise NotFound(code=ErrorCode.order_not_found, field="order")
    tx.lock_customer(order.customer_id)
    point_of_contact_id = find_point_of_contact(tx, change.point_of_contact)
    if change.order_status is not None:
        effect = status_effect(tx, change.order_status)
        # Every line that still has some of itself to move: not a paid
        # status for lines with anything out, nor a cancelling or returning
        # one for lines wholly out the other way.
        for line in order.lines:
            if has_room(line, effect):
                move_line(line, status=change.order_status, effect=effect, quantity=None)
    by_key: dict[int | str, PlacedLine] = {line.line_number: line for line in order.lines}
    by_key.update((line.line_id, line) for line in order.lines if line.line_id is not None)
    for move in change.moves:
        move_line(
            _line(by_key, move),
            status=move.status,
            effect=status_effect(tx, move.status),
            quantity=move.quantity,
        )
    given = give_back(order)
    shortfall = expired = 0
    if given.refund or given.take_back:
        tx.ensure_template(template, name=template)
        spec = ActionSpec(
            customer_id=order.customer_id,
            template=template,
            at=now if change.at is None else change.at,
            now=now,
            point_of_contact_id=point_of_contact_id,
            transaction_id=change.transaction_id,
        )
        action_id = open_action(tx, spec)
        assert action_id is not None
        if given.refund:
            draws = _refund_draws(tx, order, given.refund, now=now)
            refund_id = put_back(tx, action_id, spec, draws=draws, document=order.website_id)
            tx.add_order_change(order.id, change_id=refund_id, role=ROLE_REFUND)
        if given.take_back:
            shortfall, expired = _take_bonus_back(
                tx, order, spec, action_id=action_id, points=given.take_back
            )
    if order.fully_cancelled():
        for code_id, multi_use in tx.give_back_coupons(order.id):
            tx.set_code_used(
                code_id,
                customer_id=order.customer_id,
                multi_use=multi_use,
                point_of_contact_id=None,
                at=None,
            )
    tx.update_order(order)
    return StatusView(order, given, shortfall, expired)


def _take_bonus_back(
    tx: Tx, order: PlacedOrder, spec: ActionSpec, *, action_id: int, points: int
) -> tuple[int, int]:
    """Takes ``points`` more of the order's bonus back; answers (shortfall,
    expired). What the bonus lost to expiry has left the balance already
    and is not taken again: of the bonus, the customer kept only ``earned``
    less its expired points, so the take-backs together never pass that."""
    assert order.bonus_change_id is not None
    kept = order.earned - tx.expired_points(order.bonus_change_id)
    before = order.taken_back - points
    due = min(order.taken_back, kept) - min(before, kept)
    expired = points - due
    shortfall = 0
    if due:
        taken_id, shortfall = take_back(
            tx,
            action_id,
            spec,
            bonus_lot_id=order.bonus_change_id,
            points=due,
            kind=KIND_RETAIL_ORDER_BONUS,
        )
        if taken_id is not None:
            tx.add_order_change(order.id, change_id=taken_id, role=ROLE_TAKE_BACK)
    order.shortfall += shortfall
    order.bonus_expired += expired
    return shortfall, expired


def _refund_draws(tx: Tx, order: PlacedOrder, points: int, *, now: Instant) -> list[Draw]:
    """The lots a part of the order's payment goes back to: those it drew
    from, less what earlier refunds gave them, latest-expiring first (the
    points that would have been spent last come back first)."""
    assert order.payment_change_id is not None
    left = {draw.lot_id: draw.points for draw in tx.draws_of(order.payment_change_id)}
    for refund_id in tx.order_change_ids(order.id, role=ROLE_REFUND):
        for draw in tx.draws_of(refund_id):
            left[draw.lot_id] += draw.points  # a refund's draws are negative
    lots = tx.lots_by_id(left)
    draws: list[Draw] = []
    needed = points
    for lot_id in sorted(left, key=lambda i: draw_order_key(lots[i]), reverse=True):
        taken = min(left[lot_id], needed)
        if taken:
            draws.append(Draw(lot_id, taken))
            needed -= taken
        if needed == 0:
            break
    assert needed == 0, "an order never refunds more than it spent"
    return draws
