"""The retail-order rules (docs/orders.md): the share rule, a line's base,
the points step, what a cart costs and earns, and what a cancelled or
returned part gives back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pointkeeper.domain.orders import (
    ALREADY_NOT_ACTIVE,
    CAN_BE_USED,
    CAN_NOT_BE_USED,
    COUPON_NOT_FOUND,
    COUPON_USED,
    EFFECT_CANCELLED,
    EFFECT_PAID,
    EFFECT_RETURNED,
    Calculation,
    CartLine,
    Coupon,
    OrderRules,
    PlacedLine,
    PlacedOrder,
    PoolDiscount,
    calculate,
    give_back,
    line_base,
    move_line,
    part_of,
    points_step,
    share,
)
from pointkeeper.errors import ErrorCode, InvalidRequest

# -- helpers -------------------------------------------------------------


def cart_line(
    number: int,
    product: str = "SKU-1",
    *,
    price: int,
    quantity: int = 1000,
    category: str | None = None,
) -> CartLine:
    return CartLine(number, product, price, quantity, category)


def coupon(
    value: str, *, pool_id: int, discount: PoolDiscount | None, status: str = CAN_BE_USED
) -> Coupon:
    return Coupon(
        value, status, code_id=pool_id * 100, pool_id=pool_id, pool=f"P{pool_id}", discount=discount
    )


def placed_line(number: int, *, quantity: int, spent: int, earned: int) -> PlacedLine:
    return PlacedLine(
        line_number=number,
        line_id=None,
        product=f"SKU-{number}",
        category=None,
        price_per_item=1000,
        quantity=quantity,
        base=quantity,
        discount=0,
        spent=spent,
        paid=quantity,
        earned=earned,
        status="Paid",
    )


def placed_order(lines: list[PlacedLine]) -> PlacedOrder:
    return PlacedOrder(
        id=41,
        customer_id=1,
        program_id=1,
        website_id="W-1001",
        point_of_contact_id=None,
        transaction_id="tx-1",
        at=0,
        spent=sum(line.spent for line in lines),
        earned=sum(line.earned for line in lines),
        payment_change_id=None,
        bonus_change_id=None,
        refunded=0,
        taken_back=0,
        shortfall=0,
        bonus_expired=0,
        lines=lines,
    )


# The program and pool of docs/orders.md.
DOC_RULES = OrderRules(
    points_earned_per_currency_unit=5,
    points_payable_share_max=50,
    earning_order_total_min=1000,
    excluded_products=frozenset({"GIFT-CARD"}),
    multipliers={"category:promo": 2, "product:SKU-7": 0},
)
WELCOME10 = PoolDiscount(
    percent=10, order_total_min=2000, excluded_products=frozenset({"GIFT-CARD"})
)
DOC_LINES = (
    cart_line(1, "SKU-1", price=4000, quantity=2000),
    cart_line(2, "SKU-7", price=2000, quantity=1000, category="promo"),
)
DOC_COUPON = coupon("WELCOME-7QX2", pool_id=1, discount=WELCOME10)


def doc_cart(
    *,
    lines: Sequence[CartLine] = DOC_LINES,
    coupons: Sequence[Coupon] = (DOC_COUPON,),
    rules: OrderRules = DOC_RULES,
    points_per_currency_unit: int = 100,
    points_asked: int = 1000,
    points_available: int | None = 11000,
) -> Calculation:
    return calculate(
        lines,
        coupons,
        rules=rules,
        points_per_currency_unit=points_per_currency_unit,
        points_asked=points_asked,
        points_available=points_available,
    )


# -- share -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("whole", "weights", "parts"),
    [
        (1000, [7200, 1800], [800, 200]),
        (10, [1, 1, 1], [4, 3, 3]),  # a tie goes to the earlier weight
        (2, [1, 1, 1], [1, 1, 0]),
        (10, [1, 2, 4], [1, 3, 6]),  # the largest remainders: 6/7 and 5/7, not 3/7
        (5, [0, 3], [0, 5]),
        (0, [0, 0], [0, 0]),
        (0, [], []),
        (7, [5], [7]),
    ],
)
def test_share_examples(whole: int, weights: list[int], parts: list[int]) -> None:
    assert share(whole, weights) == parts


weight_lists = st.lists(st.integers(0, 10**9), min_size=1, max_size=12).filter(
    lambda weights: sum(weights) > 0
)


@settings(max_examples=300)
@given(weight_lists, st.data())
def test_share_parts_add_up_and_stay_within_one_of_the_exact_share(
    weights: list[int], data: st.DataObject
) -> None:
    whole = data.draw(st.integers(0, 3 * sum(weights)), label="whole")
    parts = share(whole, weights)
    total = sum(weights)
    assert len(parts) == len(weights)
    assert sum(parts) == whole
    for part, weight in zip(parts, weights, strict=True):
        assert part >= 0
        assert abs(part - Fraction(whole * weight, total)) < 1
        if whole <= total:
            assert part <= weight
        if weight == 0:
            assert part == 0


@settings(max_examples=200)
@given(weight_lists, st.data())
def test_share_gives_the_leftover_to_the_largest_remainders_then_earlier(
    weights: list[int], data: st.DataObject
) -> None:
    whole = data.draw(st.integers(0, sum(weights)), label="whole")
    total = sum(weights)
    parts = share(whole, weights)
    # A part above its floor has a remainder at least as large as any part at
    # its floor, and strictly larger than those before it.
    lifted = [index for index, part in enumerate(parts) if part > whole * weights[index] // total]
    floored = [index for index in range(len(parts)) if index not in lifted]
    for up in lifted:
        for down in floored:
            up_rest, down_rest = whole * weights[up] % total, whole * weights[down] % total
            assert up_rest > down_rest or (up_rest == down_rest and up < down)


# -- part_of -----------------------------------------------------------------


def test_part_of_examples() -> None:
    assert part_of(10, out=1000, total=3000) == 3
    assert part_of(10, out=2000, total=3000) == 6
    assert part_of(10, out=3000, total=3000) == 10
    assert part_of(10, out=0, total=3000) == 0


@settings(max_examples=200)
@given(st.integers(0, 10**9), st.lists(st.integers(1, 10**4), min_size=1, max_size=8))
def test_part_of_in_steps_adds_up_to_all_at_once(whole: int, steps: list[int]) -> None:
    total = sum(steps)
    given_back = out = 0
    for step in steps:
        before = part_of(whole, out=out, total=total)
        out += step
        after = part_of(whole, out=out, total=total)
        assert after >= before
        given_back += after - before
        assert given_back == part_of(whole, out=out, total=total)
    assert given_back == whole


# -- line_base and points_step -----------------------------------------------


@pytest.mark.parametrize(
    ("price", "quantity", "base"),
    [
        (4000, 2000, 8000),
        (199, 333, 66),  # 0.333 kg at 1.99: 66.267 cents
        (1, 500, 1),  # half a cent rounds up
        (1, 499, 0),
        (3, 500, 2),  # 1.5 cents
        (0, 1000, 0),
        (123_45, 1, 12),  # 12.345 cents
    ],
)
def test_line_base_rounds_half_up_to_the_cent(price: int, quantity: int, base: int) -> None:
    assert line_base(cart_line(1, price=price, quantity=quantity)) == base


@settings(max_examples=200)
@given(st.integers(0, 10**12), st.integers(1, 10**9))
def test_line_base_is_the_nearest_cent_halves_up(price: int, quantity: int) -> None:
    exact = Fraction(price * quantity, 1000)
    base = line_base(cart_line(1, price=price, quantity=quantity))
    assert exact - Fraction(1, 2) < base <= exact + Fraction(1, 2)


@pytest.mark.parametrize(
    ("per_unit", "step"),
    [(100, 1), (10, 1), (1, 1), (50, 1), (3, 3), (250, 5), (1000, 10), (1_000_000, 10_000)],
)
def test_points_step_examples(per_unit: int, step: int) -> None:
    assert points_step(per_unit) == step


@settings(max_examples=200)
@given(st.integers(1, 5000))
def test_points_step_is_the_fewest_points_worth_whole_cents(per_unit: int) -> None:
    step = points_step(per_unit)
    assert step * 100 % per_unit == 0
    assert all(points * 100 % per_unit != 0 for points in range(1, step))


# -- OrderRules.multiplier -----------------------------------------------------


def test_multiplier_of_a_product_beats_its_category() -> None:
    assert DOC_RULES.multiplier(cart_line(1, "SKU-7", price=1, category="promo")) == 0
    assert DOC_RULES.multiplier(cart_line(1, "SKU-8", price=1, category="promo")) == 2


def test_multiplier_is_one_without_a_rule() -> None:
    assert DOC_RULES.multiplier(cart_line(1, "SKU-8", price=1)) == 1
    assert DOC_RULES.multiplier(cart_line(1, "SKU-8", price=1, category="food")) == 1


def test_multiplier_of_an_excluded_product_is_zero_whatever_its_rules() -> None:
    rules = OrderRules(
        excluded_products=frozenset({"GIFT-CARD"}),
        multipliers={"product:GIFT-CARD": 3, "category:cards": 4},
    )
    assert rules.multiplier(cart_line(1, "GIFT-CARD", price=1, category="cards")) == 0
    assert rules.multiplier(cart_line(1, "OTHER", price=1, category="cards")) == 4


# -- calculate: worked examples ------------------------------------------------


def test_the_example_of_the_contract() -> None:
    calculation = doc_cart()
    first, second = calculation.lines
    assert [first.base, second.base] == [8000, 2000]
    assert [first.discounts, second.discounts] == [((0, 800),), ((0, 200),)]
    assert [first.spent, second.spent] == [800, 200]
    assert [first.paid, second.paid] == [6400, 1600]
    assert [first.earned, second.earned] == [320, 0]
    assert calculation.total_base == 10000
    assert calculation.total_price == 8000
    assert calculation.spendable == 4500
    assert calculation.spent == 1000
    assert calculation.earned == 320
    (result,) = calculation.coupons
    assert (result.coupon, result.status, result.discount) == (DOC_COUPON, CAN_BE_USED, 1000)


def test_points_asked_above_the_share_are_cut_to_it() -> None:
    calculation = doc_cart(points_asked=9999)
    assert calculation.spendable == 4500
    assert calculation.spent == 4500
    assert [line.spent for line in calculation.lines] == [3600, 900]


def test_points_asked_above_the_balance_are_cut_to_it() -> None:
    calculation = doc_cart(points_asked=3000, points_available=700)
    assert calculation.spendable == 700
    assert calculation.spent == 700
    assert [line.spent for line in calculation.lines] == [560, 140]


def test_an_unauthorized_cart_gets_its_coupons_but_spends_and_earns_nothing() -> None:
    calculation = doc_cart(points_available=None)
    assert calculation.spendable == calculation.spent == calculation.earned == 0
    assert [line.paid for line in calculation.lines] == [7200, 1800]
    assert [(line.spent, line.earned) for line in calculation.lines] == [(0, 0), (0, 0)]
    assert calculation.coupons[0].discount == 1000


def test_an_excluded_product_is_not_paid_with_points_and_earns_nothing() -> None:
    lines = (*DOC_LINES, cart_line(3, "GIFT-CARD", price=5000))
    calculation = doc_cart(lines=lines, points_asked=10**6)
    gift = calculation.lines[2]
    # The coupon leaves the gift card out too, so it takes the same 10.00.
    assert (gift.discounts, gift.spent, gift.paid, gift.earned) == ((), 0, 5000, 0)
    # Half of the 90.00 the other lines cost after the coupon, not of 140.00.
    assert calculation.spendable == 4500
    assert calculation.total_price == 4500 + 5000


def test_under_the_earning_minimum_nothing_is_earned() -> None:
    rules = replace(DOC_RULES, earning_order_total_min=9001)
    assert doc_cart(rules=rules).earned == 0
    assert doc_cart(rules=replace(DOC_RULES, earning_order_total_min=9000)).earned == 320


def test_earning_is_floored_per_order_and_shared_back() -> None:
    lines = [cart_line(number, f"SKU-{number}", price=10) for number in (1, 2, 3)]
    rules = OrderRules(points_earned_per_currency_unit=5)
    calculation = calculate(
        lines, [], rules=rules, points_per_currency_unit=100, points_asked=0, points_available=0
    )
    # 0.30 earns 1.5 points: one, not one per line rounded nor none.
    assert calculation.earned == 1
    assert [line.earned for line in calculation.lines] == [1, 0, 0]


def test_a_category_multiplier_earns_twice() -> None:
    lines = [cart_line(1, price=1000), cart_line(2, "SKU-2", price=1000, category="promo")]
    calculation = doc_cart(lines=lines, coupons=[], points_asked=0)
    assert [line.earned for line in calculation.lines] == [50, 100]


def test_with_three_points_a_unit_points_are_spent_in_threes() -> None:
    calculation = doc_cart(coupons=[], points_per_currency_unit=3, points_asked=10)
    assert calculation.spent == 9  # 3.00; the tenth point would be worth a third of a unit
    assert calculation.total_price == 10000 - 300
    # 50% of 100.00 is 150 points.
    assert calculation.spendable == 150


def test_with_a_thousand_points_a_unit_ten_points_are_a_cent() -> None:
    calculation = doc_cart(
        coupons=[], points_per_currency_unit=1000, points_asked=1005, points_available=10**6
    )
    assert calculation.spent == 1000
    assert calculation.total_price == 10000 - 100
    assert calculation.spendable == 50000  # 50.00
    assert (
        doc_cart(coupons=[], points_per_currency_unit=1000, points_available=1239).spendable == 1230
    )


def test_an_amount_coupon_is_spread_by_the_share_rule() -> None:
    lines = [cart_line(1, price=1000), cart_line(2, "SKU-2", price=2000)]
    five = coupon("FIVE", pool_id=2, discount=PoolDiscount(amount=500))
    calculation = doc_cart(lines=lines, coupons=[five], points_asked=0)
    assert [line.discount for line in calculation.lines] == [167, 333]
    assert calculation.coupons[0].discount == 500


def test_an_amount_coupon_never_takes_a_line_below_zero() -> None:
    big = coupon("BIG", pool_id=2, discount=PoolDiscount(amount=999_999))
    calculation = doc_cart(coupons=[big], points_asked=10**6)
    assert calculation.coupons[0].discount == 10000
    assert [line.paid for line in calculation.lines] == [0, 0]
    assert calculation.spendable == calculation.spent == calculation.earned == 0


def test_a_second_coupon_of_a_pool_can_not_be_used() -> None:
    again = coupon("WELCOME-8ZZ1", pool_id=1, discount=WELCOME10)
    calculation = doc_cart(coupons=[DOC_COUPON, again])
    assert [(r.status, r.discount) for r in calculation.coupons] == [
        (CAN_BE_USED, 1000),
        (CAN_NOT_BE_USED, 0),
    ]
    assert [line.paid for line in calculation.lines] == [6400, 1600]


def test_pools_apply_in_request_order_each_on_what_the_previous_left() -> None:
    other = coupon("TEN-MORE", pool_id=2, discount=PoolDiscount(percent=10))
    calculation = doc_cart(coupons=[DOC_COUPON, other], points_asked=0)
    assert [r.discount for r in calculation.coupons] == [1000, 900]
    assert [line.discounts for line in calculation.lines] == [
        ((0, 800), (1, 720)),
        ((0, 200), (1, 180)),
    ]


def test_a_pool_whose_minimum_is_not_met_can_not_be_used() -> None:
    pool = PoolDiscount(percent=10, order_total_min=10001)
    calculation = doc_cart(coupons=[coupon("MIN", pool_id=2, discount=pool)])
    assert [(r.status, r.discount) for r in calculation.coupons] == [(CAN_NOT_BE_USED, 0)]
    assert all(line.discounts == () for line in calculation.lines)


def test_a_pool_minimum_counts_the_lines_it_leaves_out() -> None:
    pool = PoolDiscount(percent=10, order_total_min=10000, excluded_products=frozenset({"SKU-7"}))
    calculation = doc_cart(coupons=[coupon("MIN", pool_id=2, discount=pool)], points_asked=0)
    # 100.00 is the order's total though only the 80.00 of line 1 is eligible.
    assert [(r.status, r.discount) for r in calculation.coupons] == [(CAN_BE_USED, 800)]
    assert [line.discount for line in calculation.lines] == [800, 0]


def test_a_pool_without_an_eligible_line_can_not_be_used() -> None:
    pool = PoolDiscount(amount=100, excluded_products=frozenset({"SKU-1", "SKU-7"}))
    calculation = doc_cart(coupons=[coupon("NONE", pool_id=2, discount=pool)])
    assert [(r.status, r.discount) for r in calculation.coupons] == [(CAN_NOT_BE_USED, 0)]


def test_a_pool_without_a_discount_is_usable_and_worth_nothing() -> None:
    first = coupon("PLAIN-1", pool_id=3, discount=None)
    second = coupon("PLAIN-2", pool_id=3, discount=None)
    calculation = doc_cart(coupons=[first, second], points_asked=0)
    assert [(r.status, r.discount) for r in calculation.coupons] == [
        (CAN_BE_USED, 0),
        (CAN_NOT_BE_USED, 0),
    ]


@pytest.mark.parametrize("status", [COUPON_NOT_FOUND, ALREADY_NOT_ACTIVE, COUPON_USED])
def test_a_coupon_that_can_not_be_used_keeps_its_status_and_gives_nothing(status: str) -> None:
    used = coupon("WELCOME-7QX2", pool_id=1, discount=WELCOME10, status=status)
    calculation = doc_cart(coupons=[used])
    assert [(r.status, r.discount) for r in calculation.coupons] == [(status, 0)]
    # Nor does it take its pool: a usable coupon of it still applies.
    calculation = doc_cart(coupons=[used, DOC_COUPON])
    assert [(r.status, r.discount) for r in calculation.coupons] == [
        (status, 0),
        (CAN_BE_USED, 1000),
    ]


# -- calculate: properties -------------------------------------------------------

_products = ("SKU-1", "SKU-2", "SKU-7", "GIFT-CARD")
_categories = (None, "promo", "food")
_multiplier_targets = ("product:SKU-2", "product:SKU-7", "category:promo", "category:food")
_statuses = (
    CAN_BE_USED,
    CAN_BE_USED,
    CAN_BE_USED,
    COUPON_NOT_FOUND,
    COUPON_USED,
    ALREADY_NOT_ACTIVE,
)


@dataclass(frozen=True)
class Cart:
    lines: list[CartLine]
    coupons: list[Coupon]
    rules: OrderRules
    points_per_currency_unit: int
    points_asked: int
    points_available: int | None

    def calculated(self) -> Calculation:
        return calculate(
            self.lines,
            self.coupons,
            rules=self.rules,
            points_per_currency_unit=self.points_per_currency_unit,
            points_asked=self.points_asked,
            points_available=self.points_available,
        )


product_sets = st.frozensets(st.sampled_from(_products), max_size=2)


@st.composite
def pool_discounts(
    draw: st.DrawFn,
    *,
    kinds: Sequence[str | None] = ("percent", "amount", None),
    minimums: Sequence[int] = (0, 0, 1000, 50_000),
) -> PoolDiscount | None:
    kind = draw(st.sampled_from(kinds))
    if kind is None:
        return None
    minimum = draw(st.sampled_from(minimums))
    excluded = draw(product_sets)
    if kind == "percent":
        percent = draw(st.integers(1, 100))
        return PoolDiscount(percent=percent, order_total_min=minimum, excluded_products=excluded)
    amount = draw(st.integers(1, 100_000))
    return PoolDiscount(amount=amount, order_total_min=minimum, excluded_products=excluded)


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    count = draw(st.integers(1, 6))
    lines = [
        CartLine(
            number,
            draw(st.sampled_from(_products)),
            draw(st.one_of(st.integers(0, 10_000), st.integers(0, 10**7))),
            draw(st.integers(1, 20_000)),
            draw(st.sampled_from(_categories)),
        )
        for number in range(1, count + 1)
    ]
    pools = {pool_id: draw(pool_discounts()) for pool_id in (1, 2, 3)}
    coupons: list[Coupon] = []
    for index in range(draw(st.integers(0, 4))):
        pool_id = draw(st.sampled_from(sorted(pools)))
        status = draw(st.sampled_from(_statuses))
        coupons.append(
            coupon(f"C-{index}", pool_id=pool_id, discount=pools[pool_id], status=status)
        )
    rules = OrderRules(
        points_earned_per_currency_unit=draw(st.sampled_from([0, 1, 5, 7, 100, 1_000_000])),
        points_payable_share_max=draw(st.sampled_from([0, 1, 33, 50, 100])),
        earning_order_total_min=draw(st.sampled_from([0, 1000, 100_000])),
        excluded_products=draw(product_sets),
        multipliers=draw(
            st.dictionaries(st.sampled_from(_multiplier_targets), st.integers(0, 100), max_size=3)
        ),
    )
    per_unit = draw(
        st.one_of(
            st.sampled_from([1, 3, 7, 10, 100, 250, 1000, 1_000_000]), st.integers(1, 1_000_000)
        )
    )
    asked = draw(st.one_of(st.integers(0, 10_000), st.integers(0, 10**10)))
    available = draw(st.one_of(st.none(), st.integers(0, 10_000), st.integers(0, 10**10)))
    return Cart(lines, coupons, rules, per_unit, asked, available)


_cart_examples = 150


@settings(max_examples=_cart_examples)
@given(carts())
def test_every_line_pays_its_base_less_discounts_and_points(cart: Cart) -> None:
    calculation = cart.calculated()
    assert [figures.line for figures in calculation.lines] == cart.lines
    for figures in calculation.lines:
        assert figures.base == line_base(figures.line)
        assert figures.spent * 100 % cart.points_per_currency_unit == 0
        points_cents = figures.spent * 100 // cart.points_per_currency_unit
        assert figures.paid == figures.base - figures.discount - points_cents
        assert figures.paid >= 0
        assert all(cents > 0 for _, cents in figures.discounts)
    assert calculation.total_price == sum(figures.paid for figures in calculation.lines)


@settings(max_examples=_cart_examples)
@given(carts())
def test_points_spent_stay_within_every_limit(cart: Cart) -> None:
    calculation = cart.calculated()
    rules, per_unit = cart.rules, cart.points_per_currency_unit
    step = points_step(per_unit)
    cents_per_step = step * 100 // per_unit
    assert sum(figures.spent for figures in calculation.lines) == calculation.spent
    assert calculation.spent <= calculation.spendable
    assert calculation.spendable % step == 0
    assert calculation.spent == min(cart.points_asked // step * step, calculation.spendable)
    if cart.points_available is None:
        assert calculation.spendable == 0
        return
    assert calculation.spendable <= cart.points_available
    payable = [
        figures.base - figures.discount
        for figures in calculation.lines
        if figures.line.product not in rules.excluded_products
    ]
    # In cents, at most the share of what the payable lines cost after discounts.
    assert (
        calculation.spendable * 100 // per_unit * 100
        <= sum(payable) * rules.points_payable_share_max
    )
    # And no step more would do: it passes the balance, the share, or what the
    # payable lines can take in whole steps.
    more = calculation.spendable + step
    assert (
        more > cart.points_available
        or more * 100 // per_unit * 100 > sum(payable) * rules.points_payable_share_max
        or more // step > sum(cents // cents_per_step for cents in payable)
    )


@settings(max_examples=_cart_examples)
@given(carts())
def test_excluded_products_get_no_points_and_earn_nothing(cart: Cart) -> None:
    calculation = cart.calculated()
    for figures in calculation.lines:
        if figures.line.product in cart.rules.excluded_products:
            assert (figures.spent, figures.earned) == (0, 0)
        if cart.rules.multiplier(figures.line) == 0:
            assert figures.earned == 0


@settings(max_examples=_cart_examples)
@given(carts())
def test_earning_is_on_what_is_paid_in_money_times_the_multipliers(cart: Cart) -> None:
    calculation = cart.calculated()
    rules = cart.rules
    assert sum(figures.earned for figures in calculation.lines) == calculation.earned
    assert all(figures.earned >= 0 for figures in calculation.lines)
    after_discounts = sum(figures.base - figures.discount for figures in calculation.lines)
    if cart.points_available is None or after_discounts < rules.earning_order_total_min:
        assert calculation.earned == 0
    else:
        weighted = sum(
            figures.paid * rules.multiplier(figures.line) for figures in calculation.lines
        )
        assert calculation.earned == weighted * rules.points_earned_per_currency_unit // 100


@settings(max_examples=_cart_examples)
@given(carts())
def test_an_unauthorized_cart_spends_and_earns_nothing(cart: Cart) -> None:
    calculation = replace(cart, points_available=None).calculated()
    assert calculation.spendable == calculation.spent == calculation.earned == 0
    assert all((f.spent, f.earned) == (0, 0) for f in calculation.lines)
    # Its coupons are those of the same cart with a customer.
    assert calculation.coupons == cart.calculated().coupons


@settings(max_examples=_cart_examples)
@given(carts())
def test_at_most_one_coupon_of_a_pool_applies(cart: Cart) -> None:
    calculation = cart.calculated()
    assert [result.coupon for result in calculation.coupons] == cart.coupons
    pools_used: set[int | None] = set()
    for index, result in enumerate(calculation.coupons):
        taken = [
            cents
            for figures in calculation.lines
            for coupon_index, cents in figures.discounts
            if coupon_index == index
        ]
        assert sum(taken) == result.discount
        if result.coupon.status != CAN_BE_USED:
            assert (result.status, result.discount) == (result.coupon.status, 0)
        elif result.coupon.pool_id in pools_used:
            assert (result.status, result.discount) == (CAN_NOT_BE_USED, 0)
        if result.status == CAN_BE_USED:
            pools_used.add(result.coupon.pool_id)
        else:
            assert result.discount == 0
        discount = result.coupon.discount
        if discount is not None:
            for figures in calculation.lines:
                if figures.line.product in discount.excluded_products:
                    assert all(i != index for i, _ in figures.discounts)


@settings(max_examples=_cart_examples)
@given(carts(), st.data())
def test_one_coupon_takes_its_percent_or_its_amount_of_the_eligible_lines(
    cart: Cart, data: st.DataObject
) -> None:
    discount = data.draw(pool_discounts(kinds=("percent", "amount"), minimums=(0,)))
    assert discount is not None
    calculation = replace(cart, coupons=[coupon("ONE", pool_id=1, discount=discount)]).calculated()
    weights = [
        0 if figures.line.product in discount.excluded_products else figures.base
        for figures in calculation.lines
    ]
    (result,) = calculation.coupons
    if sum(weights) == 0:
        assert (result.status, result.discount) == (CAN_NOT_BE_USED, 0)
        return
    if discount.percent is not None:
        worth = sum(weights) * discount.percent // 100
    else:
        assert discount.amount is not None
        worth = min(discount.amount, sum(weights))
    # A coupon worth nothing on this order is kept for one where it is.
    assert (result.status, result.discount) == (CAN_BE_USED if worth else CAN_NOT_BE_USED, worth)
    assert [f.discount for f in calculation.lines] == share(result.discount, weights)


# -- give_back -------------------------------------------------------------------


def doc_order() -> PlacedOrder:
    return placed_order(
        [
            placed_line(1, quantity=2000, spent=800, earned=320),
            placed_line(2, quantity=1000, spent=200, earned=0),
        ]
    )


def test_returning_a_line_gives_back_its_points_and_takes_back_its_bonus() -> None:
    order = doc_order()
    first, second = order.lines
    move_line(second, status="Returned", effect=EFFECT_RETURNED, quantity=None)
    assert give_back(order).refund == 200
    move_line(first, status="Returned", effect=EFFECT_RETURNED, quantity=1000)
    back = give_back(order)
    assert (back.refund, back.take_back) == (400, 160)
    assert (order.refunded, order.taken_back) == (600, 160)
    assert (first.refunded, first.taken_back, second.refunded) == (400, 160, 200)


def test_give_back_twice_gives_nothing_more() -> None:
    order = doc_order()
    move_line(order.lines[0], status="Cancelled", effect=EFFECT_CANCELLED, quantity=None)
    assert give_back(order).refund == 800
    back = give_back(order)
    assert (back.refund, back.take_back) == (0, 0)
    assert (order.refunded, order.taken_back) == (800, 320)


def test_a_line_given_back_in_thirds_gives_back_all_of_it() -> None:
    order = placed_order([placed_line(1, quantity=3000, spent=10, earned=5)])
    (line,) = order.lines
    refunds = []
    for returned in (1000, 2000, 3000):
        move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=returned)
        refunds.append(give_back(order).refund)
    assert refunds == [3, 3, 4]
    assert (order.refunded, order.taken_back) == (10, 5)


@dataclass(frozen=True)
class Move:
    line: int
    effect: str
    quantity: int | None


moves = st.builds(
    Move,
    st.integers(0, 3),
    st.sampled_from([EFFECT_CANCELLED, EFFECT_RETURNED]),
    st.one_of(st.none(), st.integers(-1, 5001)),
)
placed_lines = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 10**7), st.integers(0, 10**7)),
    min_size=1,
    max_size=4,
)


def order_of(specs: list[tuple[int, int, int]]) -> PlacedOrder:
    return placed_order(
        [
            placed_line(number, quantity=quantity, spent=spent, earned=earned)
            for number, (quantity, spent, earned) in enumerate(specs, start=1)
        ]
    )


@settings(max_examples=200)
@given(placed_lines, st.lists(moves, max_size=12))
def test_giving_back_in_steps_gives_what_giving_back_at_once_would(
    specs: list[tuple[int, int, int]], steps: list[Move]
) -> None:
    order = order_of(specs)
    refunded = taken_back = 0
    for move in steps:
        line = order.lines[move.line % len(order.lines)]
        try:
            move_line(line, status=move.effect, effect=move.effect, quantity=move.quantity)
        except InvalidRequest:
            continue
        back = give_back(order)
        refunded += back.refund
        taken_back += back.take_back
        assert 0 <= order.refunded == refunded <= order.spent
        assert 0 <= order.taken_back == taken_back <= order.earned
    at_once = order_of(specs)
    for line, moved in zip(at_once.lines, order.lines, strict=True):
        line.quantity_cancelled = moved.quantity_cancelled
        line.quantity_returned = moved.quantity_returned
    back = give_back(at_once)
    assert (back.refund, back.take_back) == (refunded, taken_back)
    for line in order.lines:
        assert line.refunded == part_of(line.spent, out=line.quantity_out, total=line.quantity)
        assert line.taken_back == part_of(line.earned, out=line.quantity_out, total=line.quantity)
    # Everything out gives back exactly what the order spent and earned.
    for line in order.lines:
        effect = EFFECT_CANCELLED if line.quantity_returned == 0 else EFFECT_RETURNED
        move_line(line, status=effect, effect=effect, quantity=None)
        assert line.quantity_out == line.quantity
    give_back(order)
    assert (order.refunded, order.taken_back) == (order.spent, order.earned)


# -- move_line ---------------------------------------------------------------------


def fresh_line() -> PlacedLine:
    return placed_line(1, quantity=1000, spent=100, earned=50)


def refused(line: PlacedLine, *, effect: str, quantity: int | None) -> InvalidRequest:
    before = replace(line)
    with pytest.raises(InvalidRequest) as caught:
        move_line(line, status="Next", effect=effect, quantity=quantity)
    assert line == before
    return caught.value


def test_cancelling_without_a_quantity_cancels_the_whole_line() -> None:
    line = fresh_line()
    move_line(line, status="Cancelled", effect=EFFECT_CANCELLED, quantity=None)
    assert (line.status, line.quantity_cancelled, line.quantity_returned) == ("Cancelled", 1000, 0)


def test_a_quantity_is_how_much_is_in_the_state_from_now_on() -> None:
    line = fresh_line()
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=400)
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=700)
    assert line.quantity_returned == 700
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=700)
    assert line.quantity_returned == 700


def test_a_quantity_never_goes_down() -> None:
    line = fresh_line()
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=700)
    error = refused(line, effect=EFFECT_RETURNED, quantity=500)
    assert (error.code, error.field) == (
        ErrorCode.order_quantity_out_of_range,
        "order_line_quantity",
    )


@pytest.mark.parametrize("quantity", [0, -1, 1001])
@pytest.mark.parametrize("effect", [EFFECT_CANCELLED, EFFECT_RETURNED, EFFECT_PAID])
def test_a_quantity_outside_the_line_is_refused(effect: str, quantity: int) -> None:
    error = refused(fresh_line(), effect=effect, quantity=quantity)
    assert (error.code, error.field) == (
        ErrorCode.order_quantity_out_of_range,
        "order_line_quantity",
    )


def test_what_is_out_never_passes_the_quantity() -> None:
    line = fresh_line()
    move_line(line, status="Cancelled", effect=EFFECT_CANCELLED, quantity=600)
    error = refused(line, effect=EFFECT_RETURNED, quantity=401)
    assert error.code == ErrorCode.order_quantity_out_of_range
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=400)
    assert (line.quantity_cancelled, line.quantity_returned) == (600, 400)
    assert refused(line, effect=EFFECT_CANCELLED, quantity=601).code == (
        ErrorCode.order_quantity_out_of_range
    )


def test_without_a_quantity_all_not_out_the_other_way_moves() -> None:
    line = fresh_line()
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=250)
    move_line(line, status="Cancelled", effect=EFFECT_CANCELLED, quantity=None)
    assert (line.quantity_cancelled, line.quantity_returned) == (750, 250)
    # All of it not cancelled is returned already: the same again changes nothing.
    move_line(line, status="Returned", effect=EFFECT_RETURNED, quantity=None)
    assert (line.status, line.quantity_cancelled, line.quantity_returned) == ("Returned", 750, 250)


def test_nothing_left_to_return_is_refused() -> None:
    line = fresh_line()
    move_line(line, status="Cancelled", effect=EFFECT_CANCELLED, quantity=None)
    error = refused(line, effect=EFFECT_RETURNED, quantity=None)
    assert (error.code, error.field) == (
        ErrorCode.order_quantity_out_of_range,
        "order_line_quantity",
    )


@pytest.mark.parametrize("effect", [EFFECT_CANCELLED, EFFECT_RETURNED])
def test_a_line_with_anything_out_can_not_be_paid_again(effect: str) -> None:
    line = fresh_line()
    move_line(line, status="Out", effect=effect, quantity=1)
    for quantity in (None, 1000):
        error = refused(line, effect=EFFECT_PAID, quantity=quantity)
        assert (error.code, error.field) == (ErrorCode.order_line_given_back, "order_status")


def test_a_paid_status_changes_only_the_status() -> None:
    line = fresh_line()
    move_line(line, status="Delivered", effect=EFFECT_PAID, quantity=None)
    assert (line.status, line.quantity_out) == ("Delivered", 0)
    move_line(line, status="Paid", effect=EFFECT_PAID, quantity=500)
    assert (line.status, line.quantity_out) == ("Paid", 0)


status_moves = st.builds(
    Move,
    st.just(0),
    st.sampled_from([EFFECT_PAID, EFFECT_CANCELLED, EFFECT_RETURNED]),
    st.one_of(st.none(), st.integers(-1, 1001)),
)


@settings(max_examples=300)
@given(st.integers(1, 1000), st.lists(status_moves, max_size=10))
def test_moves_are_refused_exactly_when_they_break_a_rule(quantity: int, steps: list[Move]) -> None:
    line = placed_line(1, quantity=quantity, spent=0, earned=0)
    for number, move in enumerate(steps):
        before = replace(line)
        status = f"S{number}"
        if move.effect == EFFECT_PAID:
            fits = move.quantity is None or 0 < move.quantity <= quantity
            allowed = fits and before.quantity_out == 0
        else:
            cancelling = move.effect == EFFECT_CANCELLED
            other = before.quantity_returned if cancelling else before.quantity_cancelled
            now = before.quantity_cancelled if cancelling else before.quantity_returned
            wanted = quantity - other if move.quantity is None else move.quantity
            allowed = 0 < wanted <= quantity - other and wanted >= now
        try:
            move_line(line, status=status, effect=move.effect, quantity=move.quantity)
        except InvalidRequest as error:
            assert not allowed
            assert error.code in (
                ErrorCode.order_quantity_out_of_range,
                ErrorCode.order_line_given_back,
            )
            assert line == before
            continue
        assert allowed
        assert line.status == status
        assert line.quantity_cancelled >= before.quantity_cancelled
        assert line.quantity_returned >= before.quantity_returned
        assert line.quantity_out <= quantity
        if move.effect == EFFECT_CANCELLED:
            assert line.quantity_returned == before.quantity_returned
            assert line.quantity_cancelled == (
                quantity - line.quantity_returned if move.quantity is None else move.quantity
            )
        elif move.effect == EFFECT_RETURNED:
            assert line.quantity_cancelled == before.quantity_cancelled
            assert line.quantity_returned == (
                quantity - line.quantity_cancelled if move.quantity is None else move.quantity
            )
        else:
            assert line.quantity_out == before.quantity_out == 0
