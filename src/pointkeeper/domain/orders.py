"""Retail orders: what a cart costs after its coupons and the points spent on
it, what it earns, and what a cancelled or returned part gives back.

Money is integer cents and quantities integer thousandths; nothing here is a
float. Every split of an integer whole over lines is the one share rule
(``share``), and every part of a line given back is the one cumulative rule
(``part_of``), so that an order's parts always add up to its whole. The
order the rules apply in is documented in ``docs/orders.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import gcd

from pointkeeper.errors import ErrorCode, InvalidRequest

__all__ = [
    "ALREADY_NOT_ACTIVE",
    "CAN_BE_USED",
    "CAN_NOT_BE_USED",
    "COUPON_NOT_FOUND",
    "COUPON_USED",
    "EFFECTS",
    "EFFECT_CANCELLED",
    "EFFECT_PAID",
    "EFFECT_RETURNED",
    "Calculation",
    "CartLine",
    "Coupon",
    "CouponResult",
    "GiveBack",
    "LineFigures",
    "OrderRules",
    "PlacedLine",
    "PlacedOrder",
    "PoolDiscount",
    "calculate",
    "give_back",
    "has_room",
    "line_base",
    "move_line",
    "part_of",
    "points_step",
    "share",
]

# The coupon statuses of Mindbox's couponsInfo.
CAN_BE_USED = "CanBeUsed"
COUPON_NOT_FOUND = "NotFound"
CAN_NOT_BE_USED = "CanNotBeUsedForCurrentOrder"
ALREADY_NOT_ACTIVE = "AlreadyNotActive"
COUPON_USED = "Used"

# What an order status does to the lines moved to it.
EFFECT_PAID = "paid"
EFFECT_CANCELLED = "cancelled"
EFFECT_RETURNED = "returned"
EFFECTS = (EFFECT_PAID, EFFECT_CANCELLED, EFFECT_RETURNED)

_cents_per_unit = 100
_milli = 1000


@dataclass(frozen=True, slots=True)
class OrderRules:
    """A program's rules for orders (``[programs.orders]``)."""

    points_earned_per_currency_unit: int = 0
    points_payable_share_max: int = 100  # percent of the total after discounts
    earning_order_total_min: int = 0  # cents
    excluded_products: frozenset[str] = frozenset()
    # "category:<name>" or "product:<id>" -> a whole multiplier; a product's
    # beats its category's.
    multipliers: Mapping[str, int] = field(default_factory=dict)

    def multiplier(self, line: CartLine) -> int:
        if line.product in self.excluded_products:
            return 0
        by_product = self.multipliers.get(f"product:{line.product}")
        if by_product is not None:
            return by_product
        if line.category is not None:
            return self.multipliers.get(f"category:{line.category}", 1)
        return 1

    def payable_with_points(self, line: CartLine) -> bool:
        return line.product not in self.excluded_products


@dataclass(frozen=True, slots=True)
class PoolDiscount:
    """What a pool's coupons take off an order: ``percent`` of the eligible
    lines, or ``amount`` cents spread over them."""

    percent: int | None = None
    amount: int | None = None
    order_total_min: int = 0  # cents
    excluded_products: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        assert (self.percent is None) != (self.amount is None)


@dataclass(frozen=True, slots=True)
class CartLine:
    line_number: int
    product: str
    price_per_item: int  # cents
    quantity: int  # thousandths
    category: str | None = None
    line_id: str | None = None


@dataclass(frozen=True, slots=True)
class Coupon:
    """A coupon of a request as the store found it: ``status`` is
    ``CanBeUsed`` when the code's own state allows its use now, otherwise the
    status that says why not; ``pool`` is None for an unknown code."""

    value: str
    status: str
    code_id: int | None = None
    pool_id: int | None = None
    pool: str | None = None
    discount: PoolDiscount | None = None


@dataclass(frozen=True, slots=True)
class CouponResult:
    coupon: Coupon
    status: str
    discount: int  # cents, over the whole order


@dataclass(frozen=True, slots=True)
class LineFigures:
    line: CartLine
    base: int  # cents
    # (index of the coupon in the request, cents it takes off this line)
    discounts: tuple[tuple[int, int], ...]
    spent: int  # points
    paid: int  # cents still paid in money: discountedPriceOfLine
    earned: int  # points

    @property
    def discount(self) -> int:
        return sum(cents for _, cents in self.discounts)


@dataclass(frozen=True, slots=True)
class Calculation:
    lines: tuple[LineFigures, ...]
    coupons: tuple[CouponResult, ...]
    spendable: int  # points the order may be paid with: availableAmountForCurrentOrder
    spent: int
    earned: int

    @property
    def total_price(self) -> int:
        return sum(line.paid for line in self.lines)

    @property
    def total_base(self) -> int:
        return sum(line.base for line in self.lines)


def share(whole: int, weights: Sequence[int]) -> list[int]:
    """Splits ``whole`` over ``weights``: each gets the floor of its share,
    and what is left goes one each to the largest remainders, ties to the
    earlier weight. The parts add up to ``whole``; a part never exceeds
    its weight when ``whole`` does not exceed their sum."""
    total = sum(weights)
    assert whole >= 0 and all(weight >= 0 for weight in weights)
    if whole == 0:
        return [0] * len(weights)
    assert total > 0
    parts = [whole * weight // total for weight in weights]
    left = whole - sum(parts)
    by_remainder = sorted(
        range(len(weights)), key=lambda index: (-(whole * weights[index] % total), index)
    )
    for index in by_remainder[:left]:
        parts[index] += 1
    return parts


def part_of(whole: int, *, out: int, total: int) -> int:
    """The part of ``whole`` that ``out`` of ``total`` (quantities) carries,
    counted cumulatively: giving back a line in steps gives back exactly
    what giving it back at once would, and all of it gives back ``whole``."""
    assert 0 <= out <= total and total > 0
    return whole * out // total


def line_base(line: CartLine) -> int:
    """``price_per_item * quantity`` in cents, rounded half up."""
    return (line.price_per_item * line.quantity * 2 + _milli) // (2 * _milli)


def points_step(points_per_currency_unit: int) -> int:
    """The smallest number of points worth a whole number of cents: points
    are spent in multiples of it (1 at the default of 100 points a unit)."""
    return points_per_currency_unit // gcd(points_per_currency_unit, _cents_per_unit)


def _coupon_discounts(
    lines: Sequence[CartLine], amounts: list[int], coupons: Sequence[Coupon]
) -> tuple[list[CouponResult], list[list[tuple[int, int]]]]:
    """Applies the coupons in request order, one per pool, each on what the
    previous ones left; ``amounts`` is moved down in place."""
    results: list[CouponResult] = []
    per_line: list[list[tuple[int, int]]] = [[] for _ in lines]
    pools_used: set[int] = set()
    for index, coupon in enumerate(coupons):
        if coupon.status != CAN_BE_USED:
            results.append(CouponResult(coupon, coupon.status, 0))
            continue
        assert coupon.pool_id is not None
        if coupon.pool_id in pools_used:
            results.append(CouponResult(coupon, CAN_NOT_BE_USED, 0))
            continue
        discount = coupon.discount
        if discount is None:  # a pool without a discount: usable, worth nothing
            pools_used.add(coupon.pool_id)
            results.append(CouponResult(coupon, CAN_BE_USED, 0))
            continue
        weights = [
            0 if line.product in discount.excluded_products else amount
            for line, amount in zip(lines, amounts, strict=True)
        ]
        eligible = sum(weights)
        if eligible == 0 or sum(amounts) < discount.order_total_min:
            results.append(CouponResult(coupon, CAN_NOT_BE_USED, 0))
            continue
        if discount.percent is not None:
            whole = eligible * discount.percent // 100
        else:
            assert discount.amount is not None
            whole = min(discount.amount, eligible)
        if whole == 0:
            # Worth nothing on this order: kept for one where it is.
            results.append(CouponResult(coupon, CAN_NOT_BE_USED, 0))
            continue
        parts = share(whole, weights)
        for line_index, cents in enumerate(parts):
            if cents:
                amounts[line_index] -= cents
                per_line[line_index].append((index, cents))
        pools_used.add(coupon.pool_id)
        results.append(CouponResult(coupon, CAN_BE_USED, whole))
    return results, per_line


def calculate(
    lines: Sequence[CartLine],
    coupons: Sequence[Coupon],
    *,
    rules: OrderRules,
    points_per_currency_unit: int,
    points_asked: int,
    points_available: int | None,
) -> Calculation:
    """The order's figures. ``points_available`` is None for a cart without a
    customer: it neither spends nor earns. The points spent are the asked
    ones, cut down to what the order allows (``spendable``); refusing to cut
    them is the caller's choice."""
    assert points_asked >= 0
    amounts = [line_base(line) for line in lines]
    bases = list(amounts)
    coupon_results, discounts = _coupon_discounts(lines, amounts, coupons)
    after_discounts = sum(amounts)

    step = points_step(points_per_currency_unit)
    cents_per_step = step * _cents_per_unit // points_per_currency_unit
    # How many steps each line can take: never more than it costs.
    capacities = [
        amount // cents_per_step if rules.payable_with_points(line) else 0
        for line, amount in zip(lines, amounts, strict=True)
    ]
    payable = sum(
        amount
        for line, amount in zip(lines, amounts, strict=True)
        if rules.payable_with_points(line)
    )
    steps_max = min(
        payable * rules.points_payable_share_max // 100 // cents_per_step, sum(capacities)
    )
    steps_max = 0 if points_available is None else min(steps_max, points_available // step)
    spendable = steps_max * step
    spent_steps = min(points_asked // step, steps_max)
    line_steps = share(spent_steps, capacities)
    spent = [steps * step for steps in line_steps]
    paid = [
        amount - steps * cents_per_step for amount, steps in zip(amounts, line_steps, strict=True)
    ]

    weights = [cents * rules.multiplier(line) for line, cents in zip(lines, paid, strict=True)]
    earns = points_available is not None and after_discounts >= rules.earning_order_total_min
    earned_total = (
        sum(weights) * rules.points_earned_per_currency_unit // _cents_per_unit if earns else 0
    )
    earned = share(earned_total, weights)

    figures = tuple(
        LineFigures(
            line=line,
            base=bases[index],
            discounts=tuple(discounts[index]),
            spent=spent[index],
            paid=paid[index],
            earned=earned[index],
        )
        for index, line in enumerate(lines)
    )
    return Calculation(
        lines=figures,
        coupons=tuple(coupon_results),
        spendable=spendable,
        spent=sum(spent),
        earned=earned_total,
    )


@dataclass(slots=True)
class PlacedLine:
    """A line of a created order with its shares, and what has been given
    back of it: ``quantity_cancelled`` and ``quantity_returned`` are how
    much of its quantity is in each such state now."""

    line_number: int
    line_id: str | None
    product: str
    category: str | None
    price_per_item: int
    quantity: int
    base: int
    discount: int
    spent: int
    paid: int
    earned: int
    status: str | None
    quantity_cancelled: int = 0
    quantity_returned: int = 0
    refunded: int = 0
    taken_back: int = 0

    @property
    def quantity_out(self) -> int:
        return self.quantity_cancelled + self.quantity_returned


@dataclass(slots=True)
class PlacedOrder:
    """A created order: its lines, its two ledger changes, and what its
    cancelled and returned parts gave back."""

    id: int
    customer_id: int
    program_id: int
    website_id: str | None
    point_of_contact_id: int | None
    transaction_id: str | None
    at: int
    spent: int
    earned: int
    payment_change_id: int | None
    bonus_change_id: int | None
    refunded: int
    taken_back: int
    # Of ``taken_back``: what could not be taken (the balance had gone), and
    # what the bonus had lost to expiry already (nothing left to take).
    shortfall: int
    bonus_expired: int
    lines: list[PlacedLine]

    @property
    def total_price(self) -> int:
        return sum(line.paid for line in self.lines)

    @property
    def total_base(self) -> int:
        return sum(line.base for line in self.lines)

    def fully_cancelled(self) -> bool:
        return all(line.quantity_cancelled == line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class GiveBack:
    """What moving lines out of an order gives back now: points refunded
    to the customer and bonus points taken back, over the whole order."""

    refund: int
    take_back: int


def give_back(order: PlacedOrder) -> GiveBack:
    """Brings every line's ``refunded`` and ``taken_back`` up to the part of
    its spent and earned points its quantity out carries (``part_of``), and
    answers what that adds. The parts are cumulative, so the order's totals
    never pass what it spent and earned, and everything out gives back all."""
    refund = take_back = 0
    for line in order.lines:
        refunded = part_of(line.spent, out=line.quantity_out, total=line.quantity)
        taken_back = part_of(line.earned, out=line.quantity_out, total=line.quantity)
        assert refunded >= line.refunded and taken_back >= line.taken_back
        refund += refunded - line.refunded
        take_back += taken_back - line.taken_back
        line.refunded, line.taken_back = refunded, taken_back
    order.refunded += refund
    order.taken_back += take_back
    return GiveBack(refund, take_back)


def has_room(line: PlacedLine, effect: str) -> bool:
    """Whether moving the whole line to a status of ``effect`` can change
    anything: a paid one not once anything is out, a cancelling or returning
    one not once all of the line is out the other way."""
    if effect == EFFECT_PAID:
        return not line.quantity_out
    other = line.quantity_returned if effect == EFFECT_CANCELLED else line.quantity_cancelled
    return other < line.quantity


def move_line(line: PlacedLine, *, status: str, effect: str, quantity: int | None) -> None:
    """Puts ``quantity`` of the line in ``status``; without one, all of the
    line not already out the other way. For a cancelling or returning status
    the quantity is how much of the line is in that state from now on, so
    sending the same again changes nothing; it never goes down, and what is
    out never passes the line's quantity. A line with anything out cannot be
    paid again."""
    assert effect in EFFECTS
    if effect == EFFECT_PAID:
        if quantity is not None and not 0 < quantity <= line.quantity:
            raise InvalidRequest(
                code=ErrorCode.order_quantity_out_of_range, field="order_line_quantity"
            )
        if line.quantity_out:
            raise InvalidRequest(code=ErrorCode.order_line_given_back, field="order_status")
        line.status = status
        return
    cancelling = effect == EFFECT_CANCELLED
    other = line.quantity_returned if cancelling else line.quantity_cancelled
    before = line.quantity_cancelled if cancelling else line.quantity_returned
    moved = line.quantity - other if quantity is None else quantity
    if not 0 < moved <= line.quantity - other or moved < before:
        raise InvalidRequest(
            code=ErrorCode.order_quantity_out_of_range, field="order_line_quantity"
        )
    if cancelling:
        line.quantity_cancelled = moved
    else:
        line.quantity_returned = moved
    line.status = status
