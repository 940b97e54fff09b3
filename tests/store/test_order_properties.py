"""Retail orders on the real store, SQLite and PostgreSQL, against a small
reference model, over random carts, coupons, spends, partial and whole
cancellations and returns, spending by hand, clock moves and job runs.

The model keeps, per customer, the points they hold (available and pending
together) and, per order, what each line spent and earned and what its
quantity out must have given back by the one cumulative rule
(``floor(part x out / quantity)``, computed here with plain integers). After
every step the store must agree, and the SPEC §1 invariants hold on the
store's own numbers: every lot's remaining is its amount less what was drawn
and held, never negative; the active balance is the sum of the active
changes; an order's spent is its payment debit, its refunded the sum of its
refunds, its earned its bonus credit, and what was taken back of it (less
the shortfall) the sum of its take-backs; the lines add up to the order; a
single-use coupon is used exactly while an order that used it stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from pointkeeper.config import parse_config
from pointkeeper.domain.ledger import KIND_REFUND, KIND_RETAIL_ORDER_BONUS
from pointkeeper.domain.orders import CartLine, PoolDiscount, points_step
from pointkeeper.errors import InvalidRequest
from pointkeeper.services import customers as customer_service
from pointkeeper.services import jobs, loyalty, order_status, orders, promo
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.store import Store
from pointkeeper.store.reference_data import sync_reference_data
from pointkeeper.store.tx import Tx

from .ledger_databases import LedgerDatabase, PostgresRows, SqliteCopies

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
# 40 points a unit: points are spent in steps of 2 (5 cents), so the step
# rule is exercised too.
POINTS_PER_UNIT = 40
STEP = points_step(POINTS_PER_UNIT)
TEMPLATE = "Orders"
_config = parse_config(
    {
        "programs": [
            {
                "name": "Shop",
                "points_per_currency_unit": POINTS_PER_UNIT,
                "order_bonus_pending_days": 1,
                "orders": {
                    "points_earned_per_currency_unit": 7,
                    "points_payable_share_max": 60,
                    "earning_order_total_min": "1.00",
                    "excluded_products": ["GIFT"],
                    "multipliers": {"category:double": 2},
                },
            }
        ]
    },
    environ={},
)
STATUSES = {"Paid": "paid", "Cancelled": "cancelled", "Returned": "returned"}
SINGLE_USE = [f"TEN-{n}" for n in range(4)]
MULTI_USE = "THREE-OFF"

_line = st.tuples(
    st.sampled_from(["A", "B", "GIFT"]),
    st.sampled_from([None, "double"]),
    st.integers(0, 5_000) | st.sampled_from([1, 99, 333]),  # cents
    st.sampled_from([1_000, 2_000, 3_000, 1_500, 333, 7]),  # thousandths
)
_coupons = st.lists(st.sampled_from([*SINGLE_USE, MULTI_USE, "NOPE-0"]), max_size=2)


@dataclass
class ModelLine:
    quantity: int
    spent: int
    earned: int
    cancelled: int = 0
    returned: int = 0

    @property
    def out(self) -> int:
        return self.cancelled + self.returned

    def refunded(self) -> int:
        return self.spent * self.out // self.quantity

    def taken_back(self) -> int:
        return self.earned * self.out // self.quantity


@dataclass
class ModelOrder:
    order_id: int
    customer: int
    lines: list[ModelLine]
    coupon_codes: list[str]
    shortfall: int = 0
    coupons_back: bool = False


@dataclass
class ModelCustomer:
    number: str
    customer_id: int
    # Available and pending points together.
    points: int = 0


@dataclass
class Seen:
    audit: list[tuple[int, int, int, int, int]]
    active_sum: int
    figures: tuple[int, int, int] | None  # point balance, available, pending
    orders: list[dict[str, Any]] = field(default_factory=list)


def _seen(tx: Tx, *, customer_id: int, number: str, order_ids: list[int], now: int) -> Seen:
    figures = None
    try:
        _, _, balances = loyalty.customer_view(tx, customer_number=number, now=now)
    except loyalty.NeedsSettlement:
        pass
    else:
        figures = (balances.point_balance, balances.available, balances.pending)
    seen = Seen(
        audit=tx.lot_audit(customer_id),
        active_sum=sum(
            amount
            for amount, available_from in tx.all_changes(customer_id)
            if available_from is None or available_from <= now
        ),
        figures=figures,
    )
    for order_id in order_ids:
        order = tx.order_by(order_id=order_id, website_id=None)
        assert order is not None

        def amount(change_id: int | None) -> int:
            if change_id is None:
                return 0
            found = tx.change(change_id)
            assert found is not None
            return found[1]

        refunds = [
            tx.change(c) for c in tx.order_change_ids(order_id, role=order_status.ROLE_REFUND)
        ]
        taken = [
            tx.change(c) for c in tx.order_change_ids(order_id, role=order_status.ROLE_TAKE_BACK)
        ]
        seen.orders.append(
            {
                "order": order,
                "payment": amount(order.payment_change_id),
                "bonus": amount(order.bonus_change_id),
                "refunds": [(c[2], c[1]) for c in refunds if c is not None],
                "taken": [(c[2], c[1]) for c in taken if c is not None],
            }
        )
    return seen


def _used_codes(tx: Tx) -> set[str]:
    return {value for value in SINGLE_USE if (code := tx.code(value)) and code.used_at}


class OrderMachine(RuleBasedStateMachine):
    database: LedgerDatabase

    def __init__(self) -> None:
        super().__init__()
        self.store: Store = self.database.open()
        self.store.replace_reference_data(
            self.store.write_sync(sync_reference_data, _config.programs, STATUSES)
        )
        self.now = START
        self.customers: list[ModelCustomer] = []
        self.orders: list[ModelOrder] = []
        self.used: set[str] = set()
        self.serial = 0

    def teardown(self) -> None:
        self.database.close(self.store)

    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    @initialize(openings=st.lists(st.integers(0, 3_000), min_size=1, max_size=2))
    def open_shop(self, openings: list[int]) -> None:
        write = self.store.write_sync
        write(
            promo.put_pool,
            "TEN",
            values={"name": "Ten", "multi_use": False, "discount": PoolDiscount(percent=10)},
        )
        write(promo.import_codes, "TEN", [promo.ImportRow(n, v) for n, v in enumerate(SINGLE_USE)])
        write(
            promo.put_pool,
            "THREE",
            values={
                "name": "Three",
                "multi_use": True,
                "discount": PoolDiscount(amount=300, order_total_min=500),
            },
        )
        write(promo.import_codes, "THREE", [promo.ImportRow(0, MULTI_USE)])
        for index, opening in enumerate(openings):
            number = f"C{index}"
            customer = write(
                customer_service.put_customer, number, fields={}, program="Shop", now=self.now
            )
            self.customers.append(ModelCustomer(number, customer.id))
            if opening:
                self._by_hand(index, opening)

    def _by_hand(self, index: int, amount: int) -> None:
        self.store.write_sync(
            change_balance,
            customer_kind="customer_number",
            customer_value=self.customers[index].number,
            request=BalanceChangeRequest(amount, comment=self._next("hand")),
            key_scope=None,
            now=self.now,
        )
        self.customers[index].points += amount

    def _request(
        self,
        index: int,
        lines: list[tuple[str, str | None, int, int]],
        coupons: list[str],
        points: int,
    ) -> orders.OrderRequest:
        return orders.OrderRequest(
            customer=("customer_number", self.customers[index].number),
            point_of_contact=None,
            at=None,
            website_id=None,
            lines=tuple(
                CartLine(n, product, price, quantity, category=category)
                for n, (product, category, price, quantity) in enumerate(lines, start=1)
            ),
            line_statuses=(None,) * len(lines),
            coupons=tuple(coupons),
            points_asked=points,
            transaction_id=self._next("order"),
        )

    @rule(
        who=st.integers(0, 1),
        lines=st.lists(_line, min_size=1, max_size=5),
        coupons=_coupons,
        share=st.sampled_from([0, 0.3, 1, 1.0001]) | st.floats(0, 1),
        odd=st.booleans(),
    )
    def create(
        self,
        who: int,
        lines: list[tuple[str, str | None, int, int]],
        coupons: list[str],
        share: float,
        odd: bool,
    ) -> None:
        index = who % len(self.customers)
        cart = self.store.write_sync(
            orders.calculate_cart, self._request(index, lines, coupons, 0), now=self.now
        )
        spendable = cart.calculation.spendable
        asked = int(spendable * share) // STEP * STEP
        if share > 1:
            asked = spendable + STEP
        elif odd and asked:
            asked -= 1  # not a multiple of the step
        request = self._request(index, lines, coupons, asked)
        unknown = "NOPE-0" in coupons
        if unknown or asked > spendable or asked % STEP:
            with pytest.raises(InvalidRequest):
                self.store.write_sync(orders.create_order, request, template=TEMPLATE, now=self.now)
            return
        view = self.store.write_sync(orders.create_order, request, template=TEMPLATE, now=self.now)
        assert view.status == orders.PROCESSED
        calculation = view.calculation
        assert calculation.spent == asked
        # Nothing of a line is lost to rounding: its base is its discount,
        # its points (at the program's rate) and what is paid in money.
        for figures in calculation.lines:
            points_in_cents = figures.spent * 100 // POINTS_PER_UNIT
            assert figures.spent * 100 % POINTS_PER_UNIT == 0
            assert figures.base == figures.discount + points_in_cents + figures.paid
            assert figures.paid >= 0
            if figures.line.product == "GIFT":
                assert (figures.spent, figures.earned) == (0, 0)
        used_now = [
            r.coupon.value
            for r in calculation.coupons
            if r.status == "CanBeUsed" and r.coupon.value in SINGLE_USE
        ]
        for value in used_now:
            assert value not in self.used
            self.used.add(value)
        assert view.order_id is not None
        self.orders.append(
            ModelOrder(
                view.order_id,
                index,
                [ModelLine(f.line.quantity, f.spent, f.earned) for f in calculation.lines],
                used_now,
            )
        )
        self.customers[index].points += calculation.earned - calculation.spent

    @rule(
        pick=st.integers(0, 1_000),
        line_pick=st.integers(0, 10),
        effect=st.sampled_from(["Cancelled", "Returned", "Paid"]),
        part=st.none() | st.integers(0, 4_000),
        whole=st.booleans(),
    )
    def move(self, pick: int, line_pick: int, effect: str, part: int | None, whole: bool) -> None:
        if not self.orders:
            return
        order = self.orders[pick % len(self.orders)]
        number = line_pick % len(order.lines)
        targets = list(range(len(order.lines))) if whole else [number]
        quantity = None if whole else part
        # The model of ``move_line``: which moves are refused, and what each does.
        planned: dict[int, tuple[int, int]] = {}
        refused = False
        for target in targets:
            model = order.lines[target]
            if effect == "Paid":
                if whole and model.out:
                    continue
                refused |= model.out > 0 or (
                    quantity is not None and not 0 < quantity <= model.quantity
                )
                continue
            other = model.returned if effect == "Cancelled" else model.cancelled
            if whole and other == model.quantity:
                continue  # wholly out the other way: the order's move passes it by
            before = model.cancelled if effect == "Cancelled" else model.returned
            moved = model.quantity - other if quantity is None else quantity
            if not 0 < moved <= model.quantity - other or moved < before:
                refused = True
                continue
            planned[target] = (moved, other)
        change = order_status.StatusChange(
            order_id=order.order_id,
            website_id=None,
            order_status=effect if whole else None,
            moves=() if whole else (order_status.LineMove(number + 1, None, effect, quantity),),
            point_of_contact=None,
            at=None,
            transaction_id=self._next("status"),
        )
        if refused:
            with pytest.raises(InvalidRequest):
                self.store.write_sync(
                    order_status.change_order_status, change, template=TEMPLATE, now=self.now
                )
            return
        before_refund = sum(m.refunded() for m in order.lines)
        before_taken = sum(m.taken_back() for m in order.lines)
        for target, (moved, _) in planned.items():
            model = order.lines[target]
            if effect == "Cancelled":
                model.cancelled = moved
            else:
                model.returned = moved
        refund = sum(m.refunded() for m in order.lines) - before_refund
        take_back = sum(m.taken_back() for m in order.lines) - before_taken
        view = self.store.write_sync(
            order_status.change_order_status, change, template=TEMPLATE, now=self.now
        )
        assert (view.given_back.refund, view.given_back.take_back) == (refund, take_back)
        assert 0 <= view.shortfall <= take_back
        order.shortfall += view.shortfall
        self.customers[order.customer].points += refund - (take_back - view.shortfall)
        if all(m.cancelled == m.quantity for m in order.lines) and not order.coupons_back:
            order.coupons_back = True
            self.used -= set(order.coupon_codes)

    @rule(who=st.integers(0, 1), share=st.floats(0, 1))
    def spend_by_hand(self, who: int, share: float) -> None:
        """Spends available points, so that a later take-back may find them gone."""
        index = who % len(self.customers)
        seen = self._seen(index)
        assert seen.figures is not None
        amount = int(seen.figures[1] * share)
        if amount:
            self._by_hand(index, -amount)

    @rule(hours=st.integers(1, 60))
    def advance(self, hours: int) -> None:
        self.now += hours * HOUR
        self.store.write_sync(jobs.run_batch, now=self.now)

    # -- checks ------------------------------------------------------------

    def _seen(self, index: int) -> Seen:
        customer = self.customers[index]
        seen: Seen = self.store.read_sync(
            _seen,
            customer_id=customer.customer_id,
            number=customer.number,
            order_ids=[o.order_id for o in self.orders if o.customer == index],
            now=self.now,
        )
        return seen

    @invariant()
    def store_matches_model(self) -> None:
        for index, customer in enumerate(self.customers):
            seen = self._seen(index)
            for lot_id, amount, remaining, drawn, held in seen.audit:
                assert remaining >= 0
                assert remaining == amount - drawn - held, (lot_id, amount, remaining, drawn, held)
            assert seen.figures is not None, "every write settles, and nothing expires here"
            point_balance, available, pending = seen.figures
            assert available >= 0
            assert point_balance == seen.active_sum
            assert point_balance + pending == customer.points
            mine = [o for o in self.orders if o.customer == index]
            for model, found in zip(mine, seen.orders, strict=True):
                self._order_matches(model, found)
        used: set[str] = self.store.read_sync(_used_codes)
        assert used == self.used

    @staticmethod
    def _order_matches(model: ModelOrder, found: dict[str, Any]) -> None:
        order = found["order"]
        spent = sum(m.spent for m in model.lines)
        earned = sum(m.earned for m in model.lines)
        refunded = sum(m.refunded() for m in model.lines)
        taken_back = sum(m.taken_back() for m in model.lines)
        assert (order.spent, order.earned) == (spent, earned)
        assert found["payment"] == -spent
        assert found["bonus"] == earned
        assert order.refunded == refunded == sum(line.refunded for line in order.lines)
        assert order.taken_back == taken_back == sum(line.taken_back for line in order.lines)
        assert order.shortfall == model.shortfall
        assert all(kind == KIND_REFUND and points > 0 for kind, points in found["refunds"])
        assert sum(points for _, points in found["refunds"]) == refunded
        assert all(kind == KIND_RETAIL_ORDER_BONUS and p < 0 for kind, p in found["taken"])
        assert order.bonus_expired == 0  # nothing expires here
        assert -sum(points for _, points in found["taken"]) == taken_back - model.shortfall
        for line, placed in zip(model.lines, order.lines, strict=True):
            assert (placed.quantity_cancelled, placed.quantity_returned) == (
                line.cancelled,
                line.returned,
            )
            if line.out == line.quantity:
                assert (placed.refunded, placed.taken_back) == (line.spent, line.earned)


_examples = {SqliteCopies: 150, PostgresRows: 40}


def test_orders_match_reference_model(ledger_database: LedgerDatabase) -> None:
    OrderMachine.database = ledger_database
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=_examples[type(ledger_database)],
            stateful_step_count=30,
            deadline=None,
        ),
    )
