"""Retail order use cases: calculating a cart, creating an order (its
payment, coupons and bonus in one unit of work), and a customer's orders;
moving an order's lines to a status is ``order_status``. The rules are
``domain.orders``'s, the contract ``docs/orders.md``."""

from __future__ import annotations

from dataclasses import dataclass

from pointkeeper import limits, metrics
from pointkeeper.domain.customers import Customer, Program, require_enrolled
from pointkeeper.domain.ledger import (
    KIND_RETAIL_ORDER_BONUS,
    KIND_RETAIL_ORDER_PAYMENT,
    Balances,
    balances,
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
    OrderRules,
    PlacedLine,
    PlacedOrder,
    calculate,
    line_base,
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
from pointkeeper.errors import ErrorCode, InvalidRequest
from pointkeeper.money import format_cents
from pointkeeper.store.tx import Tx

from .customers import find_customer
from .ledger import (
    ActionSpec,
    credit,
    current_balances,
    debit,
    open_action,
    settle,
)
from .order_status import status_effect
from .reference import find_point_of_contact

__all__ = [
    "CALCULATED",
    "PRICE_CHANGED",
    "PROCESSED",
    "CartView",
    "OrderPage",
    "OrderRequest",
    "calculate_cart",
    "create_order",
    "customer_orders",
]

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
        if status is not None and status_effect(tx, status) != EFFECT_PAID:
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
