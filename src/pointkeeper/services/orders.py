"""Retail order use cases: calculating a cart, creating an order (its
payment, coupons and bonus in one unit of work), moving its lines to a
status (refunds and take-backs of what cancelled and returned lines
carried), and a customer's orders. The rules are ``domain.orders``'s; the
contract is ``docs/orders.md``."""

from __future__ import annotations

from dataclasses import dataclass

from pointkeeper import limits, metrics
from pointkeeper.domain.customers import Customer, Program, require_enrolled
from pointkeeper.domain.ledger import (
    KIND_RETAIL_ORDER_BONUS,
    KIND_RETAIL_ORDER_PAYMENT,
    Balances,
    Draw,
    balances,
    draw_order_key,
)
from pointkeeper.domain.orders import (
    ALREADY_NOT_ACTIVE,
    CAN_BE_USED,
    CAN_NOT_BE_USED,
    COUPON_NOT_FOUND,
    COUPON_USED,
    EFFECT_PAID,
    Calculation,
    CartLine,
    Coupon,
    GiveBack,
    OrderRules,
    PlacedLine,
    PlacedOrder,
    calculate,
    give_back,
    has_room,
    line_base,
    move_line,
    points_step,
)
from pointkeeper.domain.promo import (
    ISSUED,
    Code,
    Pool,
    RedemptionRefused,
    check_redemption,
    issue_status,
)
from pointkeeper.domain.time import Instant
from pointkeeper.errors import ErrorCode, InvalidRequest, NotFound
from pointkeeper.money import format_cents
from pointkeeper.store.tx import Tx

from .customers import find_customer
from .ledger import (
    ActionSpec,
    credit,
    current_balances,
    debit,
    open_action,
    put_back,
    settle,
    take_back,
)
from .reference import find_point_of_contact

__all__ = [
    "CALCULATED",
    "PRICE_CHANGED",
    "PROCESSED",
    "ROLE_REFUND",
    "ROLE_TAKE_BACK",
    "CartView",
    "LineMove",
    "OrderPage",
    "OrderRequest",
    "StatusChange",
    "StatusView",
    "calculate_cart",
    "change_order_status",
    "create_order",
    "customer_orders",
]

# What an order's later changes are to it (``Orders.add_order_change``).
ROLE_REFUND = "refund"
ROLE_TAKE_BACK = "take_back"

# The processing statuses of Mindbox's order answers.
CALCULATED = "Calculated"
PROCESSED = "Processed"
PRICE_CHANGED = "PriceHasBeenChanged"

_unauthorized_rules = OrderRules()
_unauthorized_points_per_currency_unit = 100


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A cart or an order as a protocol read it."""

    customer: tuple[str, object] | None
    point_of_contact: str | None
    at: Instant | None
    website_id: str | None
    lines: tuple[CartLine, ...]
    # The status each line is created in (the vocabulary's, paid), if any.
    line_statuses: tuple[str | None, ...]
    coupons: tuple[str, ...]
    points_asked: int
    # What the client calculated the order to cost, when it says.
    client_total: int | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class CartView:
    """The figures of a cart or an order, and what became of it."""

    status: str
    calculation: Calculation
    balances: Balances | None
    bonus_expires_at: Instant | None
    order_id: int | None = None
    website_id: str | None = None
    description: str | None = None


def _coupon(
    tx: Tx,
    value: str,
    customer: Customer | None,
    codes: dict[str, tuple[Code, Pool]],
    *,
    at: Instant,
) -> Coupon:
    """The coupon as its code's state allows its use by ``customer`` at
    ``at``; the code and its pool, when there is one, go into ``codes``."""
    code = tx.code(value)
    if code is None:
        return Coupon(value, COUPON_NOT_FOUND)
    pool = tx.pool_by_id(code.pool_id)
    codes[value] = code, pool
    status = _coupon_status(tx, code, pool, customer, at=at)
    return Coupon(value, status, code.id, pool.id, pool.external_id, pool.discount)


# What refuses a redemption, as couponsInfo says it.
_coupon_refusals = {
    ErrorCode.promo_code_blocked: ALREADY_NOT_ACTIVE,
    ErrorCode.promo_code_expired: ALREADY_NOT_ACTIVE,
    ErrorCode.promo_code_used: COUPON_USED,
    ErrorCode.promo_code_not_issued: CAN_NOT_BE_USED,
    ErrorCode.promo_code_not_yet_issued: CAN_NOT_BE_USED,
    ErrorCode.promo_code_not_yet_available: CAN_NOT_BE_USED,
}


def _coupon_status(
    tx: Tx, code: Code, pool: Pool, customer: Customer | None, *, at: Instant
) -> str:
    """By the promo rules of a redemption (``check_redemption``). A code not
    yet the customer's is issued to them on the way, so it counts as theirs
    when it could be issued now; without a customer (an unauthorized cart)
    only the code's own state counts. A single-use code someone used is
    ``Used``, whoever it was."""
    issued_at = used_at = None
    if pool.multi_use:
        issued = True
        issue = None if customer is None else tx.multi_issue(code.id, customer_id=customer.id)
        if issue is not None:
            _, issued_at, _, used_at = issue
    elif code.used_at is not None:
        return COUPON_USED
    elif code.issued_customer_id is None:
        issued = customer is None or issue_status(code, pool, customer.id, at=at) == ISSUED
    else:
        issued = customer is None or code.issued_customer_id == customer.id
        issued_at = code.issued_at
    try:
        check_redemption(
            code, pool, issued_to_customer=issued, issued_at=issued_at, used_at=used_at, at=at
        )
    except RedemptionRefused as refused:
        return _coupon_refusals[refused.code]
    return CAN_BE_USED


@dataclass(frozen=True, slots=True)
class _Figures:
    customer: Customer | None
    program: Program | None
    calculation: Calculation
    balances: Balances | None
    bonus_available_from: Instant | None
    bonus_expires_at: Instant | None
    step: int
    # The code and pool of each coupon found, by its value.
    codes: dict[str, tuple[Code, Pool]]


def _check_amounts(lines: tuple[CartLine, ...]) -> None:
    """Each line's and the order's amount within what every column holds
    (each price and quantity is bounded, their product is not)."""
    total = 0
    for line in lines:
        base = line_base(line)
        if base > limits.order_cents_max:
            raise InvalidRequest(
                code=ErrorCode.order_amount_too_large,
                field="order_line_price",
                amount_max=format_cents(limits.order_cents_max),
            )
        total += base
    if total > limits.order_cents_max:
        raise InvalidRequest(
            code=ErrorCode.order_amount_too_large,
            field="order_lines",
            amount_max=format_cents(limits.order_cents_max),
        )


def _figures(tx: Tx, request: OrderRequest, *, at: Instant, now: Instant) -> _Figures:
    _check_amounts(request.lines)
    customer = None
    program = None
    customer_balances = None
    bonus_available_from = bonus_expires_at = None
    rules = _unauthorized_rules
    points_per_currency_unit = _unauthorized_points_per_currency_unit
    if request.customer is not None:
        customer = find_customer(tx, *request.customer)
        program_id = require_enrolled(customer)
        program = tx.program(program_id)
        rules = tx.order_rules(program_id)
        points_per_currency_unit = program.points_per_currency_unit
        customer_balances = _settled_balances(tx, customer, now=now)
        bonus_available_from = program.order_bonus_available_from(at)
        bonus_expires_at = program.credit_expiry(bonus_available_from)
    codes: dict[str, tuple[Code, Pool]] = {}
    coupons = [_coupon(tx, value, customer, codes, at=at) for value in request.coupons]
    calculation = calculate(
        request.lines,
        coupons,
        rules=rules,
        points_per_currency_unit=points_per_currency_unit,
        points_asked=request.points_asked,
        points_available=None if customer_balances is None else customer_balances.available,
    )
    if calculation.earned > limits.points_per_request_max:
        raise InvalidRequest(
            code=ErrorCode.order_earns_too_much,
            field="order_lines",
            points_max=limits.points_per_request_max,
        )
    return _Figures(
        customer,
        program,
        calculation,
        customer_balances,
        bonus_available_from,
        bonus_expires_at,
        points_step(points_per_currency_unit),
        codes,
    )


def _settled_balances(tx: Tx, customer: Customer, *, now: Instant) -> Balances:
    settle(tx, customer.id, now=now)
    return current_balances(tx, customer, now=now)


def calculate_cart(tx: Tx, request: OrderRequest, *, now: Instant) -> CartView:
    """What the cart would cost and earn now; changes nothing but settling
    the customer's ledger."""
    at = now if request.at is None else request.at
    figures = _figures(tx, request, at=at, now=now)
    return CartView(
        CALCULATED,
        figures.calculation,
        figures.balances,
        figures.bonus_expires_at,
        website_id=request.website_id,
    )


def _price_change(calculation: Calculation, request: OrderRequest) -> str | None:
    """Why the order no longer costs what the client calculated, if it does not."""
    if request.client_total is None or request.client_total == calculation.total_price:
        return None
    lost = [r.coupon.value for r in calculation.coupons if r.status != CAN_BE_USED]
    if lost:
        return f"The coupon {', '.join(lost)} can no longer be used for this order"
    if calculation.spent < request.points_asked:
        return "The points asked for are no longer available"
    return "The order's total has changed"


def create_order(tx: Tx, request: OrderRequest, *, template: str, now: Instant) -> CartView:
    """Creates the order in one unit of work: the points spent become one
    ``RetailOrderPayment`` debit, each usable coupon is redeemed, the bonus
    becomes one pending ``RetailOrderBonus`` credit. When the client's
    total no longer matches, answers ``PriceHasBeenChanged`` having done
    nothing (the caller keeps no result for it)."""
    if request.customer is None:
        raise InvalidRequest(code=ErrorCode.order_customer_required, field="customer")
    at = now if request.at is None else request.at
    point_of_contact_id = find_point_of_contact(tx, request.point_of_contact)
    figures = _figures(tx, request, at=at, now=now)
    calculation = figures.calculation
    customer, program = figures.customer, figures.program
    assert customer is not None and program is not None and figures.balances is not None
    unknown = [r.coupon.value for r in calculation.coupons if r.status == COUPON_NOT_FOUND]
    if unknown:
        raise InvalidRequest(code=ErrorCode.coupon_not_found, field="coupon", coupon=unknown[0])
    changed = _price_change(calculation, request)
    if changed is not None:
        return CartView(
            PRICE_CHANGED,
            calculation,
            figures.balances,
            figures.bonus_expires_at,
            website_id=request.website_id,
            description=changed,
        )
    if calculation.spent != request.points_asked:
        raise InvalidRequest(
            code=ErrorCode.points_above_order_share,
            field="bonus_points",
            spendable=calculation.spendable,
            step=figures.step,
        )
    for status in request.line_statuses:
        if status is not None and _effect(tx, status) != EFFECT_PAID:
            raise InvalidRequest(
                code=ErrorCode.order_status_not_paid, field="order_status", status=status
            )
    tx.ensure_template(template, name=template)
    spec = ActionSpec(
        customer_id=customer.id,
        template=template,
        at=at,
        now=now,
        point_of_contact_id=point_of_contact_id,
        transaction_id=request.transaction_id,
    )
    action_id = open_action(tx, spec)
    assert action_id is not None
    payment_id = None
    if calculation.spent:
        payment_id = debit(
            tx,
            action_id,
            spec,
            amount=calculation.spent,
            kind=KIND_RETAIL_ORDER_PAYMENT,
            document=request.website_id,
        )
    used: list[tuple[int, int]] = []
    for result in calculation.coupons:
        if result.status == CAN_BE_USED:
            code, pool = figures.codes[result.coupon.value]
            _use_coupon(tx, code, pool, customer, point_of_contact_id=point_of_contact_id, at=at)
            used.append((code.id, result.discount))
    bonus_id = None
    if calculation.earned:
        bonus_id = credit(
            tx,
            action_id,
            spec,
            program,
            amount=calculation.earned,
            kind=KIND_RETAIL_ORDER_BONUS,
            document=request.website_id,
        )
    order = PlacedOrder(
        id=0,
        customer_id=customer.id,
        program_id=program.id,
        website_id=request.website_id,
        point_of_contact_id=point_of_contact_id,
        transaction_id=request.transaction_id,
        at=at,
        spent=calculation.spent,
        earned=calculation.earned,
        payment_change_id=payment_id,
        bonus_change_id=bonus_id,
        refunded=0,
        taken_back=0,
        shortfall=0,
        bonus_expired=0,
        lines=[
            PlacedLine(
                line_number=figures.line.line_number,
                line_id=figures.line.line_id,
                product=figures.line.product,
                category=figures.line.category,
                price_per_item=figures.line.price_per_item,
                quantity=figures.line.quantity,
                base=figures.base,
                discount=figures.discount,
                spent=figures.spent,
                paid=figures.paid,
                earned=figures.earned,
                status=status,
            )
            for figures, status in zip(calculation.lines, request.line_statuses, strict=True)
        ],
    )
    # The unique column is the check: it holds for writers at once too.
    order_id = tx.insert_order(order, recorded_at=now)
    if order_id is None:
        raise InvalidRequest(code=ErrorCode.order_website_id_taken, field="order_website_id")
    tx.insert_order_coupons(order_id, used)
    return CartView(
        PROCESSED,
        calculation,
        _balances_after(tx, customer, figures, now=now),
        figures.bonus_expires_at,
        order_id=order_id,
        website_id=request.website_id,
    )


def _balances_after(tx: Tx, customer: Customer, figures: _Figures, *, now: Instant) -> Balances:
    """The figures once the order's payment and bonus are in, from those
    read before it (no other change comes between in one transaction)."""
    before, earned = figures.balances, figures.calculation.earned
    assert before is not None and figures.bonus_available_from is not None
    expires = figures.bonus_expires_at
    if expires is not None and expires <= now:
        return current_balances(tx, customer, now=now)  # a back-dated bonus expired at once
    active = earned if figures.bonus_available_from <= now else 0
    return balances(
        active=before.available - figures.calculation.spent + active,
        pending=before.pending + earned - active,
        open_authorizations=before.open_authorizations,
    )


def _use_coupon(
    tx: Tx,
    code: Code,
    pool: Pool,
    customer: Customer,
    *,
    point_of_contact_id: int | None,
    at: Instant,
) -> None:
    """Redeems a coupon ``_coupon`` found usable, issuing it on the way."""
    issued = False
    if pool.multi_use:
        issued = tx.issue_multi_use_code(
            code.id, customer_id=customer.id, point_of_contact_id=point_of_contact_id, at=at
        )
    elif code.issued_customer_id is None:
        issued = tx.issue_code(
            code.id,
            customer_id=customer.id,
            point_of_contact_id=point_of_contact_id,
            at=at,
            available_from=None,
            available_till=None,
        )
        assert issued, "the code's row is this transaction's"
    if issued:
        metrics.count(metrics.promo_codes, event="issued", pool=pool.external_id)
    metrics.count(metrics.promo_codes, event="redeemed", pool=pool.external_id)
    tx.set_code_used(
        code.id,
        customer_id=customer.id,
        multi_use=pool.multi_use,
        point_of_contact_id=point_of_contact_id,
        at=at,
    )


# -- status changes ----------------------------------------------------------


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


def _effect(tx: Tx, status: str) -> str:
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
        effect = _effect(tx, change.order_status)
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
            effect=_effect(tx, move.status),
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


# -- reading -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders_total: int
    orders: list[PlacedOrder]
    points_of_contact: dict[int, str]


def customer_orders(
    tx: Tx,
    *,
    customer_kind: str,
    customer_value: object,
    since: Instant,
    till: Instant | None,
    page_number: int,
    per_page: int,
) -> OrderPage:
    """A page of the customer's orders dated from ``since`` up to ``till``
    (without it, every later one: an order may carry a time ahead of the
    server's clock), newest first."""
    customer = find_customer(tx, customer_kind, customer_value)
    end = limits.int64_max if till is None else till
    orders = tx.customer_orders(
        customer.id,
        since=since,
        till=end,
        offset=(page_number - 1) * per_page,
        limit=per_page,
        lines_max=limits.order_page_lines_max,
    )
    if orders is None:
        # A page of large orders could not be answered in bounded memory.
        raise InvalidRequest(
            code=ErrorCode.order_page_too_long,
            field="page_items",
            lines_max=limits.order_page_lines_max,
        )
    return OrderPage(
        orders_total=tx.customer_order_count(customer.id, since=since, till=end),
        orders=orders,
        points_of_contact=tx.points_of_contact_by_id(
            {o.point_of_contact_id for o in orders if o.point_of_contact_id is not None}
        ),
    )
