"""The retail order kinds (``docs/orders.md``): CalculateCart, CreateOrder,
ChangeOrderStatus and GetCustomerOrders, with the legacy names Mindbox
still accepts.

Each reads the request's ``order`` into a ``services.orders`` request,
refusing bad values at their location, and answers Mindbox's blocks: money
as decimal strings ("80.00"), points as integers.
"""

from __future__ import annotations

from typing import Any

from pointkeeper import limits
from pointkeeper.config import OperationConfig
from pointkeeper.domain.orders import CAN_BE_USED, CartLine, LineFigures, PlacedLine, PlacedOrder
from pointkeeper.domain.time import Instant
from pointkeeper.errors import ErrorCode, InvalidRequest
from pointkeeper.money import format_cents
from pointkeeper.services.idempotency import NothingDone
from pointkeeper.services.order_status import LineMove, StatusChange, change_order_status
from pointkeeper.services.orders import (
    PRICE_CHANGED,
    CartView,
    OrderRequest,
    calculate_cart,
    create_order,
    customer_orders,
)
from pointkeeper.store.tx import Tx

from .dates import format_date
from .fields import Fields
from .prepared import Kind, Prepared

__all__ = ["EXACT_DECIMAL_KINDS", "ORDER_KINDS"]

_items_per_page_default = 100


def _product(line: Fields) -> str:
    """The first id under ``product/ids``, whatever its key (the project's
    product id kind)."""
    ids = line.child("product", "ids")
    if ids is not None:
        for name in ids.names():
            value = ids.identifier(name)
            if value is not None:
                return value
    raise InvalidRequest("a product id is required", field=line.where("product", "ids"))


def _lines(order: Fields) -> tuple[tuple[CartLine, ...], tuple[str | None, ...]]:
    """The cart's lines and the status each names, numbered by position
    where the request gives no ``lineNumber``."""
    items = order.items("lines", item="line", limit=limits.order_lines_max)
    if not items:
        raise InvalidRequest("at least one line is required", field=order.where("lines"))
    lines: list[CartLine] = []
    statuses: list[str | None] = []
    numbers: set[int] = set()
    ids: set[str] = set()
    for position, line in enumerate(items, start=1):
        given = line.integer("lineNumber", minimum=1, maximum=limits.int64_max)
        number = position if given is None else given
        if number in numbers:
            raise InvalidRequest(
                code=ErrorCode.order_line_repeated, field=line.where("lineNumber"), line=number
            )
        numbers.add(number)
        line_id = line.identifier("lineId")
        if line_id is not None and line_id in ids:
            raise InvalidRequest(
                code=ErrorCode.order_line_repeated, field=line.where("lineId"), line=line_id
            )
        if line_id is not None:
            ids.add(line_id)
        price = line.money("basePricePerItem", required=True)
        quantity = line.quantity("quantity", required=True)
        assert price is not None and quantity is not None
        lines.append(
            CartLine(
                line_number=number,
                product=_product(line),
                price_per_item=price,
                quantity=quantity,
                category=line.identifier("category"),
                line_id=line_id,
            )
        )
        statuses.append(line.identifier("status", "ids", "externalId"))
    return tuple(lines), tuple(statuses)


def _order_request(
    fields: Fields, transaction_id: str | None, *, authorized: bool | None, with_total: bool
) -> OrderRequest:
    """``authorized`` True needs a customer, False refuses one, None takes
    what comes."""
    has_customer = fields.has("customer")
    if authorized is True and not has_customer:
        raise InvalidRequest("a customer id is required", field=fields.where("customer", "ids"))
    if authorized is False and has_customer:
        raise InvalidRequest(
            "is not allowed: this operation calculates carts without a customer",
            field=fields.where("customer"),
        )
    customer = fields.customer("customer") if has_customer else None
    order = fields.child("order")
    if order is None:
        raise InvalidRequest("is required", field=fields.where("order"))
    lines, statuses = _lines(order)
    coupons = tuple(
        code
        for coupon in order.items("coupons", item="coupon", limit=limits.order_coupons_max)
        if (code := coupon.identifier("ids", "code", required=True)) is not None
    )
    points_asked = 0
    for item in order.items("bonusPoints", item="bonusPointsItem", limit=limits.order_coupons_max):
        amount = item.integer(
            "amount", required=True, minimum=0, maximum=limits.points_per_request_max
        )
        assert amount is not None
        points_asked += amount
    if points_asked and customer is None:
        raise InvalidRequest(
            "points can be spent only by a customer",
            field=order.where("bonusPoints", "bonusPointsItem", "amount"),
        )
    if points_asked > limits.points_per_request_max:
        raise InvalidRequest(
            f"at most {limits.points_per_request_max} points in all",
            field=order.where("bonusPoints", "bonusPointsItem", "amount"),
        )
    return OrderRequest(
        customer=customer,
        point_of_contact=fields.identifier("pointOfContact", "ids", "externalId"),
        at=fields.date("executionDateTimeUtc"),
        website_id=order.identifier("ids", "websiteId"),
        lines=lines,
        line_statuses=statuses,
        coupons=coupons,
        points_asked=points_asked,
        client_total=order.money("totalPrice") if with_total else None,
        transaction_id=transaction_id,
    )


# -- answers -----------------------------------------------------------------


def _line_tree(
    figures: LineFigures, view: CartView, coupon_codes: list[tuple[str, str | None]]
) -> dict[str, Any]:
    promotions: list[dict[str, Any]] = []
    for index, cents in figures.discounts:
        code, pool = coupon_codes[index]
        promotions.append(
            {
                "type": "discount",
                "amount": format_cents(cents),
                "coupon": {
                    "ids": {"code": code},
                    "pool": None if pool is None else {"ids": {"externalId": pool}},
                },
            }
        )
    if figures.spent:
        promotions.append({"type": "spentBonusPoints", "amount": figures.spent})
    if figures.earned:
        promotions.append(
            {
                "type": "earnedBonusPoints",
                "amount": figures.earned,
                "expirationDateTimeUtc": None
                if view.bonus_expires_at is None
                else format_date(view.bonus_expires_at),
            }
        )
    return {
        "lineNumber": figures.line.line_number,
        "lineId": figures.line.line_id,
        "discountedPriceOfLine": format_cents(figures.paid),
        "appliedPromotions": promotions or None,
    }


def _cart_tree(view: CartView) -> dict[str, Any]:
    calculation = view.calculation
    coupon_codes = [(r.coupon.value, r.coupon.pool) for r in calculation.coupons]
    order: dict[str, Any] = {
        "ids": None
        if view.order_id is None and view.website_id is None
        else {"mindboxId": view.order_id, "websiteId": view.website_id},
        "totalPrice": format_cents(calculation.total_price),
        "processingStatus": view.status,
        "statusDescription": view.description,
        "lines": [_line_tree(figures, view, coupon_codes) for figures in calculation.lines],
        "couponsInfo": [
            {
                "coupon": {"ids": {"code": result.coupon.value}, "status": result.status},
                "discountAmountForCurrentOrder": format_cents(result.discount)
                if result.status == CAN_BE_USED
                else None,
            }
            for result in calculation.coupons
        ]
        or None,
    }
    if view.balances is not None:
        balances = view.balances
        order["bonusPointsInfo"] = [
            {
                "availableAmountForCurrentOrder": calculation.spendable,
                "spentAmountForCurrentOrder": calculation.spent,
                "balance": {
                    "total": balances.point_balance + balances.pending,
                    "available": balances.available,
                    "blocked": balances.blocked,
                },
            }
        ]
        order["bonusPointsChanges"] = [
            {"earnedAmount": calculation.earned, "spentAmount": calculation.spent}
        ]
    return {"order": order}


def _quantity(thousandths: int) -> str:
    whole, part = divmod(thousandths, 1000)
    return str(whole) if part == 0 else f"{whole}.{part:03d}".rstrip("0")


def _placed_line_tree(line: PlacedLine) -> dict[str, Any]:
    return {
        "lineNumber": line.line_number,
        "lineId": line.line_id,
        "product": {"ids": {"website": line.product}},
        "basePricePerItem": format_cents(line.price_per_item),
        "quantity": _quantity(line.quantity),
        "status": None if line.status is None else {"ids": {"externalId": line.status}},
        "quantityCancelled": _quantity(line.quantity_cancelled)
        if line.quantity_cancelled
        else None,
        "quantityReturned": _quantity(line.quantity_returned) if line.quantity_returned else None,
        "discountedPriceOfLine": format_cents(line.paid),
    }


def _placed_tree(order: PlacedOrder, points_of_contact: dict[int, str]) -> dict[str, Any]:
    return {
        "ids": {"mindboxId": order.id, "websiteId": order.website_id},
        "dateTimeUtc": format_date(order.at),
        "pointOfContact": None
        if order.point_of_contact_id is None
        else {"ids": {"externalId": points_of_contact[order.point_of_contact_id]}},
        "totalPrice": format_cents(order.total_price),
        "lines": [_placed_line_tree(line) for line in order.lines],
        "spentBonusPoints": order.spent,
        "earnedBonusPoints": order.earned,
        "refundedBonusPoints": order.refunded,
        "takenBackBonusPoints": order.taken_back,
        "shortfallBonusPoints": order.shortfall or None,
        "expiredBonusPoints": order.bonus_expired or None,
    }


# -- the kinds -----------------------------------------------------------------


def _calculate(authorized: bool | None) -> Kind:
    def kind(fields: Fields, operation: OperationConfig, transaction_id: str | None) -> Prepared:
        request = _order_request(fields, None, authorized=authorized, with_total=False)

        def work(tx: Tx, now: Instant) -> dict[str, Any]:
            return _cart_tree(calculate_cart(tx, request, now=now))

        return Prepared(work, changes_state=False)

    return kind


def _transaction_required(transaction_id: str | None) -> str:
    """CreateOrder and ChangeOrderStatus change an order once per call: a
    retry must be known for one."""
    if transaction_id is None:
        # A query parameter, but refused like a field: the body is fine.
        raise InvalidRequest(
            "is required: an order changes once per transactionId", field="/transactionId"
        )
    return transaction_id


def _create(fields: Fields, operation: OperationConfig, transaction_id: str | None) -> Prepared:
    request = _order_request(
        fields, _transaction_required(transaction_id), authorized=True, with_total=True
    )

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        view = create_order(tx, request, template=operation.name, now=now)
        if view.status == PRICE_CHANGED:
            raise NothingDone(_cart_tree(view))
        return _cart_tree(view)

    return Prepared(work, changes_state=True)


def _order_key(order: Fields) -> tuple[int | None, str | None]:
    order_id = order.integer("ids", "mindboxId", minimum=1, maximum=limits.int64_max)
    website_id = order.identifier("ids", "websiteId")
    if order_id is None and website_id is None:
        raise InvalidRequest("mindboxId or websiteId is required", field=order.where("ids"))
    return order_id, website_id


def _change_status(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    transaction_id = _transaction_required(transaction_id)
    order = fields.child("order")
    if order is None:
        raise InvalidRequest("is required", field=fields.where("order"))
    order_id, website_id = _order_key(order)
    whole = order.identifier("orderLinesStatus", "ids", "externalId")
    moves = tuple(
        _move(line) for line in order.items("lines", item="line", limit=limits.order_lines_max)
    )
    if whole is None and not moves:
        raise InvalidRequest(
            "orderLinesStatus or lines is required", field=order.where("orderLinesStatus")
        )
    change = StatusChange(
        order_id=order_id,
        website_id=website_id,
        order_status=whole,
        moves=moves,
        point_of_contact=fields.identifier("pointOfContact", "ids", "externalId"),
        at=fields.date("executionDateTimeUtc"),
        transaction_id=transaction_id,
    )

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        view = change_order_status(tx, change, template=operation.name, now=now)
        placed = view.order
        return {
            "order": {
                "ids": {"mindboxId": placed.id, "websiteId": placed.website_id},
                "lines": [
                    {
                        "lineNumber": line.line_number,
                        "lineId": line.line_id,
                        "status": None
                        if line.status is None
                        else {"ids": {"externalId": line.status}},
                    }
                    for line in placed.lines
                ],
                "bonusPointsChanges": [
                    {
                        "refundedAmount": view.given_back.refund,
                        "takenBackAmount": view.given_back.take_back
                        - view.shortfall
                        - view.expired,
                        "shortfallAmount": view.shortfall,
                        "expiredAmount": view.expired or None,
                    }
                ],
            }
        }

    return Prepared(work, changes_state=True)


def _move(line: Fields) -> LineMove:
    number = line.integer("lineNumber", minimum=1, maximum=limits.int64_max)
    line_id = line.identifier("lineId")
    if number is None and line_id is None:
        raise InvalidRequest("lineNumber or lineId is required", field=line.where("lineNumber"))
    status = line.identifier("status", "ids", "externalId", required=True)
    assert status is not None
    return LineMove(number, line_id, status, line.quantity("quantity"))


def _customer_orders(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    kind, value = fields.customer("customer")
    page = fields.child("page")
    since, till, number, per_page = (
        (None, None, 1, _items_per_page_default)
        if page is None
        else page.paging(per_page_default=_items_per_page_default)
    )

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        found = customer_orders(
            tx,
            customer_kind=kind,
            customer_value=value,
            since=0 if since is None else since,
            till=till,
            page_number=number,
            per_page=per_page,
        )
        return {
            "ordersCount": found.orders_total,
            "orders": [_placed_tree(order, found.points_of_contact) for order in found.orders],
        }

    return Prepared(work, changes_state=False)


# Registered by ``kinds`` under the kind names of the configuration.
ORDER_KINDS: dict[str, Kind] = {
    "CalculateCart": _calculate(None),
    "CalculateAuthorizedCart": _calculate(True),
    "CalculateUnauthorizedCart": _calculate(False),
    "CreateOrder": _create,
    "SaveOfflineOrder": _create,
    "ChangeOrderStatus": _change_status,
    "UpdateOrderItemsStatus": _change_status,
    "GetCustomerOrders": _customer_orders,
}

# The kinds whose JSON carries money: read with exact decimals.
EXACT_DECIMAL_KINDS = frozenset(ORDER_KINDS)
