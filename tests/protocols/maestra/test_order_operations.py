"""The retail order kinds over HTTP (docs/orders.md): golden XML and JSON
pairs for each, what each leaves in the ledger, and the refusals, each
checked to leave the database as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from pointkeeper import limits
from pointkeeper.config import Config
from pointkeeper.limits import order_lines_max
from pointkeeper.protocols.maestra import codec
from tests.conftest import PROGRAM, FakeClock, admin_headers, db_snapshot, make_config

from .conftest import (
    ENDPOINT,
    FORMATS,
    KEY,
    admin,
    check_golden,
    golden_request,
    put_customer,
)
from .conftest import call as maestra_call

CALCULATE = "Cart"
CALCULATE_UNAUTHORIZED = "GuestCart"
CREATE = "Order"
OFFLINE = "OfflineOrder"
STATUS = "OrderStatus"
ITEMS_STATUS = "OrderItemsStatus"
ORDERS = "CustomerOrders"
EXPORT = "Export"

_kinds = {
    CALCULATE: "CalculateCart",
    CALCULATE_UNAUTHORIZED: "CalculateUnauthorizedCart",
    CREATE: "CreateOrder",
    OFFLINE: "SaveOfflineOrder",
    STATUS: "ChangeOrderStatus",
    ITEMS_STATUS: "UpdateOrderItemsStatus",
    ORDERS: "GetCustomerOrders",
    EXPORT: "ExportBalanceChanges",
    "History": "GetCustomerBalanceHistory",
}

PROGRAM_RULES: dict[str, Any] = {
    "name": PROGRAM,
    "earning_description": "5 points per 1.00",
    "redemption_description": "100 points = 1.00",
    "order_bonus_pending_days": 14,
    "credit_lifetime_days": 365,
    "orders": {
        "points_earned_per_currency_unit": 5,
        "points_payable_share_max": 50,
        "earning_order_total_min": "10.00",
        "excluded_products": ["GIFT-CARD"],
        "multipliers": {"product:SKU-7": 0, "category:double": 2},
    },
}
STATUSES = {
    "Paid": "paid",
    "Delivered": "paid",
    "Cancelled": "cancelled",
    "Returned": "returned",
}
LINES_AT = "/operation/order/lines"
LINE_AT = "/operation/order/lines/line"


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return make_config(
        tmp_path,
        database_url,
        endpoints=[{"id": ENDPOINT, "secret_key": KEY}],
        operations=[
            {"name": name, "kind": kind, "endpoints": [ENDPOINT]} for name, kind in _kinds.items()
        ],
        programs=[PROGRAM_RULES],
        order_statuses=STATUSES,
    )


@pytest.fixture
def shop(client: TestClient) -> None:
    """Customer C1 (webSiteUserId web-1) with 11,000 points, C2 with none;
    point of contact shop-1; pool WELCOME10 (10% off, not on gift cards)
    with single-use codes WELCOME-7QX2 and WELCOME-8RY3; pool FIVE (5.00
    off orders from 20.00) with the multi-use code FIVE-OFF."""
    admin(client, "PUT", "/points-of-contact/shop-1", {"name": "Shop 1"})
    put_customer(client, "C1", websiteId="web-1")
    put_customer(client, "C2", websiteId="web-2")
    admin(client, "POST", "/customers/C1/balance-changes", {"changeAmount": 11_000})
    admin(
        client,
        "PUT",
        "/pools/WELCOME10",
        {"name": "Welcome", "discount": {"percent": 10, "excludedProducts": ["GIFT-CARD"]}},
    )
    admin(
        client,
        "POST",
        "/pools/WELCOME10/codes",
        {"codes": [{"value": "WELCOME-7QX2"}, {"value": "WELCOME-8RY3"}]},
    )
    admin(
        client,
        "PUT",
        "/pools/FIVE",
        {
            "name": "Five off",
            "multiUse": True,
            "discount": {"amount": "5.00", "orderTotalMin": "20.00"},
        },
    )
    admin(client, "POST", "/pools/FIVE/codes", {"codes": [{"value": "FIVE-OFF"}]})


def call(
    client: TestClient,
    operation: str,
    body: bytes | str | Any,
    *,
    fmt: str = "json",
    transaction_id: str | None = None,
) -> httpx.Response:
    return maestra_call(client, operation, body, fmt=fmt, transaction_id=transaction_id)


def send(
    client: TestClient,
    operation: str,
    tree: dict[str, Any],
    fmt: str = "json",
    *,
    transaction_id: str | None = None,
) -> dict[str, Any]:
    """``tree`` sent as XML or JSON; the answer read back as JSON would give it."""
    body = codec.render_xml(tree, root="operation") if fmt == "xml" else json.dumps(tree)
    response = call(client, operation, body, fmt=fmt, transaction_id=transaction_id)
    assert response.status_code == 200, response.text
    if fmt == "xml":
        return _from_xml(response.content)
    answer: dict[str, Any] = response.json()
    return answer


def _from_xml(content: bytes) -> dict[str, Any]:
    """An XML answer as its JSON twin: lists by the codec's names, leaves as
    text (so callers compare against strings or str() of numbers)."""
    import xml.etree.ElementTree as ET

    from pointkeeper.protocols.maestra.names import LIST_ELEMENTS

    def plain(element: ET.Element) -> Any:
        children = list(element)
        if element.tag in LIST_ELEMENTS:
            return [plain(child) for child in children]
        if not children:
            return (element.text or "").strip()
        return {child.tag: plain(child) for child in children}

    root = ET.fromstring(content)
    return {child.tag: plain(child) for child in root}


def cart(
    *lines: dict[str, Any],
    customer: str | None = "web-1",
    coupons: tuple[str, ...] = (),
    points: int | None = None,
    website_id: str | None = None,
    total: str | None = None,
) -> dict[str, Any]:
    return {
        "customer": None if customer is None else {"ids": {"webSiteUserId": customer}},
        "order": {
            "ids": None if website_id is None else {"websiteId": website_id},
            "lines": list(lines),
            "coupons": [{"ids": {"code": code}} for code in coupons] or None,
            "bonusPoints": None if points is None else [{"amount": points}],
            "totalPrice": total,
        },
    }


def line(number: int, product: str, price: str, quantity: Any = 1, **more: Any) -> dict[str, Any]:
    return {
        "lineNumber": number,
        "product": {"ids": {"website": product}},
        "basePricePerItem": price,
        "quantity": quantity,
        **more,
    }


def order_status(website_id: str, status: str) -> dict[str, Any]:
    """A ChangeOrderStatus of every line of the order."""
    return {
        "order": {
            "ids": {"websiteId": website_id},
            "orderLinesStatus": {"ids": {"externalId": status}},
        }
    }


def line_status(
    website_id: str, number: int, status: str, *, quantity: Any = None
) -> dict[str, Any]:
    """A ChangeOrderStatus of one line (of ``quantity`` of it, when given)."""
    moved: dict[str, Any] = {"lineNumber": number, "status": {"ids": {"externalId": status}}}
    if quantity is not None:
        moved["quantity"] = quantity
    return {"order": {"ids": {"websiteId": website_id}, "lines": [moved]}}


def balances(client: TestClient, number: str = "C1") -> dict[str, int]:
    found: dict[str, int] = admin(client, "GET", f"/customers/{number}")["balances"]
    return found


def order_of(client: TestClient, customer: str = "web-1") -> dict[str, Any]:
    answer = send(client, ORDERS, {"customer": {"ids": {"webSiteUserId": customer}}})
    assert answer["status"] == "Success", answer
    newest: dict[str, Any] = answer["orders"][0]
    return newest


def _create_golden_order(client: TestClient) -> None:
    created = call(client, CREATE, golden_request("order", "json"), transaction_id="t-1")
    assert created.json()["order"]["processingStatus"] == "Processed", created.text


# ------------------------------------------------------------------ goldens

# golden name -> (operation, transactionId, what to do before)
GOLDEN: dict[str, tuple[str, str | None, Any]] = {
    "cart": (CALCULATE, None, None),
    "cart-unauthorized": (CALCULATE_UNAUTHORIZED, None, None),
    "order": (CREATE, "t-1", None),
    "order-status": (STATUS, "s-1", _create_golden_order),
    "orders": (ORDERS, None, _create_golden_order),
}


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden(client: TestClient, clock: FakeClock, name: str, fmt: str) -> None:
    operation, transaction_id, before = GOLDEN[name]
    if before is not None:
        before(client)
    if name == "orders":
        # A status change after the order, so that the list shows one.
        done = call(client, STATUS, golden_request("order-status", "json"), transaction_id="s-1")
        assert done.json()["status"] == "Success", done.text
    response = call(
        client, operation, golden_request(name, fmt), fmt=fmt, transaction_id=transaction_id
    )
    assert response.status_code == 200
    check_golden(name, fmt, response)


# ----------------------------------------------------------- calculating


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("fmt", FORMATS)
def test_calculating_changes_nothing(client: TestClient, config: Config, fmt: str) -> None:
    before = db_snapshot(config)
    answer = send(
        client,
        CALCULATE,
        cart(line(1, "SKU-1", "40.00", 2), coupons=("WELCOME-7QX2",), points=1000),
        fmt,
    )
    assert answer["status"] == "Success"
    assert answer["order"]["processingStatus"] == "Calculated"
    assert db_snapshot(config) == before


@pytest.mark.usefixtures("shop")
def test_points_asked_above_the_share_are_cut_down_when_calculating(client: TestClient) -> None:
    answer = send(client, CALCULATE, cart(line(1, "SKU-1", "40.00"), points=3_000))
    info = answer["order"]["bonusPointsInfo"][0]
    assert info["availableAmountForCurrentOrder"] == 2_000  # 50% of 40.00
    assert info["spentAmountForCurrentOrder"] == 2_000
    assert answer["order"]["totalPrice"] == "20.00"


@pytest.mark.usefixtures("shop")
def test_coupon_statuses(client: TestClient) -> None:
    """Each status of couponsInfo, from one customer's point of view."""
    admin(client, "PUT", "/pools/CLOSED", {"name": "Closed", "discount": {"percent": 5}})
    admin(client, "POST", "/pools/CLOSED/codes", {"codes": [{"value": "BLOCKED-1"}]})
    admin(client, "POST", "/promo-codes/BLOCKED-1/block")
    other = send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "40.00"), customer="web-2", coupons=("WELCOME-8RY3",)),
        transaction_id="other",
    )
    assert other["order"]["couponsInfo"][0]["coupon"]["status"] == "CanBeUsed"
    answer = send(
        client,
        CALCULATE,
        cart(
            line(1, "SKU-1", "10.00"),
            coupons=("WELCOME-7QX2", "WELCOME-7QX2", "WELCOME-8RY3", "BLOCKED-1", "FIVE-OFF"),
        ),
    )
    statuses = [
        (info["coupon"]["ids"]["code"], info["coupon"]["status"])
        for info in answer["order"]["couponsInfo"]
    ]
    assert statuses == [
        ("WELCOME-7QX2", "CanBeUsed"),
        ("WELCOME-7QX2", "CanNotBeUsedForCurrentOrder"),  # a second of one pool
        ("WELCOME-8RY3", "Used"),  # issued to and used by C2
        ("BLOCKED-1", "AlreadyNotActive"),
        ("FIVE-OFF", "CanNotBeUsedForCurrentOrder"),  # the order is under 20.00
    ]


@pytest.mark.usefixtures("shop")
def test_an_unauthorized_cart_neither_spends_nor_earns(client: TestClient) -> None:
    answer = send(client, CALCULATE_UNAUTHORIZED, cart(line(1, "SKU-1", "40.00"), customer=None))
    order = answer["order"]
    assert order["totalPrice"] == "40.00"
    assert "bonusPointsInfo" not in order
    assert "appliedPromotions" not in order["lines"][0]


# ------------------------------------------------------------- creating


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_order_writes_one_payment_and_one_pending_bonus(
    client: TestClient, clock: FakeClock, fmt: str
) -> None:
    answer = send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "40.00", 2), coupons=("WELCOME-7QX2",), points=1000),
        fmt,
        transaction_id="t-1",
    )
    assert answer["order"]["processingStatus"] == "Processed"
    # 80.00 - 8.00 coupon - 10.00 points = 62.00, 5 points a unit: 310.
    assert balances(client) == {
        "pointBalance": 10_000,
        "openAuthorizations": 0,
        "availablePointBalance": 10_000,
        "pendingPointsEarned": 310,
        "blockedValue": 310,
    }
    clock.advance(14 * 86_400_000)
    admin(client, "POST", "/jobs/run")
    assert balances(client)["availablePointBalance"] == 10_310


@pytest.mark.usefixtures("shop")
def test_a_replay_answers_the_first_answer_and_changes_nothing(
    client: TestClient, config: Config
) -> None:
    body = cart(line(1, "SKU-1", "40.00"), points=500, website_id="W-9")
    first = send(client, CREATE, body, transaction_id="t-1")
    before = db_snapshot(config)
    again = send(client, CREATE, body, transaction_id="t-1")
    assert again == first
    assert db_snapshot(config) == before
    reused = call(client, CREATE, json.dumps(cart(line(1, "SKU-2", "1.00"))), transaction_id="t-1")
    assert reused.status_code == 409
    assert db_snapshot(config) == before


@pytest.mark.usefixtures("shop")
def test_a_coupon_used_meanwhile_is_a_price_change_that_keeps_nothing(
    client: TestClient, config: Config
) -> None:
    body = cart(line(1, "SKU-1", "40.00"), coupons=("WELCOME-7QX2",), total="36.00")
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "40.00"), customer="web-2", coupons=("WELCOME-7QX2",)),
        transaction_id="first",
    )
    before = db_snapshot(config)
    answer = send(client, CREATE, body, transaction_id="t-2")
    order = answer["order"]
    assert order["processingStatus"] == "PriceHasBeenChanged"
    assert "WELCOME-7QX2" in order["statusDescription"]
    assert order["totalPrice"] == "40.00"
    assert db_snapshot(config) == before
    # Nothing kept under the transactionId: the client's retry with the
    # price it was told is judged anew, and goes through.
    retried = send(
        client,
        CREATE,
        {**body, "order": {**body["order"], "totalPrice": "40.00"}},
        transaction_id="t-2",
    )
    assert retried["order"]["processingStatus"] == "Processed"


@pytest.mark.usefixtures("shop")
def test_without_a_total_a_used_coupon_is_left_out(client: TestClient) -> None:
    send(client, CREATE, cart(line(1, "SKU-1", "40.00"), coupons=("FIVE-OFF",)), transaction_id="a")
    answer = send(
        client, CREATE, cart(line(1, "SKU-1", "40.00"), coupons=("FIVE-OFF",)), transaction_id="b"
    )
    order = answer["order"]
    assert order["processingStatus"] == "Processed"
    assert order["couponsInfo"][0]["coupon"]["status"] == "Used"
    assert order["totalPrice"] == "40.00"


@pytest.mark.usefixtures("shop")
def test_a_website_id_names_one_order(client: TestClient, config: Config) -> None:
    send(client, CREATE, cart(line(1, "SKU-1", "1.00"), website_id="W-1"), transaction_id="a")
    before = db_snapshot(config)
    answer = send(
        client, CREATE, cart(line(1, "SKU-1", "1.00"), website_id="W-1"), transaction_id="b"
    )
    assert answer["status"] == "ValidationError"
    assert answer["validationMessages"][0]["location"] == "/operation/order/ids/websiteId"
    assert db_snapshot(config) == before


@pytest.mark.usefixtures("shop")
def test_save_offline_order_is_create_order(client: TestClient) -> None:
    answer = send(client, OFFLINE, cart(line(1, "SKU-1", "40.00")), transaction_id="pos-1")
    assert answer["order"]["processingStatus"] == "Processed"
    assert balances(client)["pendingPointsEarned"] == 200


# ------------------------------------------------------- changing status


@pytest.mark.usefixtures("shop")
def test_returning_everything_gives_back_every_point(client: TestClient) -> None:
    send(
        client,
        CREATE,
        cart(
            line(1, "SKU-1", "33.33", 3),
            line(2, "SKU-2", "0.07", "2.5", category="double"),
            points=1_777,
            website_id="W-1",
        ),
        transaction_id="t-1",
    )
    assert balances(client)["availablePointBalance"] == 11_000 - 1_777
    for transaction_id, quantity in (("s-1", 1), ("s-2", 2), ("s-3", 3)):
        send(
            client,
            STATUS,
            line_status("W-1", 1, "Returned", quantity=quantity),
            transaction_id=transaction_id,
        )
    send(
        client,
        ITEMS_STATUS,
        line_status("W-1", 2, "Cancelled"),
        transaction_id="s-4",
    )
    assert balances(client) == {
        "pointBalance": 11_000,
        "openAuthorizations": 0,
        "availablePointBalance": 11_000,
        "pendingPointsEarned": 0,
        "blockedValue": 0,
    }
    order = order_of(client)
    assert order["refundedBonusPoints"] == order["spentBonusPoints"] == 1_777
    assert order["takenBackBonusPoints"] == order["earnedBonusPoints"]


@pytest.mark.usefixtures("shop")
def test_an_active_bonus_spent_meanwhile_is_taken_back_from_other_points_or_recorded(
    client: TestClient, clock: FakeClock
) -> None:
    put_customer(client, "C3", websiteId="web-3")
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "100.00"), customer="web-3", website_id="W-3"),
        transaction_id="t-3",
    )
    clock.advance(15 * 86_400_000)
    admin(client, "POST", "/jobs/run")
    assert balances(client, "C3")["availablePointBalance"] == 500
    admin(client, "POST", "/customers/C3/balance-changes", {"changeAmount": -400})
    answer = send(
        client,
        STATUS,
        order_status("W-3", "Returned"),
        transaction_id="r-3",
    )
    assert answer["order"]["bonusPointsChanges"] == [
        {"refundedAmount": 0, "takenBackAmount": 100, "shortfallAmount": 400}
    ]
    assert balances(client, "C3")["availablePointBalance"] == 0
    order = order_of(client, "web-3")
    assert order["takenBackBonusPoints"] == 500
    assert order["shortfallBonusPoints"] == 400


@pytest.mark.usefixtures("shop")
def test_a_refund_into_lots_that_expired_meanwhile_is_written_off_at_once(
    client: TestClient, clock: FakeClock
) -> None:
    """Points spent from a lot come back to it; from the lot that expires
    first, which by the return has expired, they leave again at once."""
    put_customer(client, "C4", websiteId="web-4")
    admin(
        client,
        "POST",
        "/customers/C4/balance-changes",
        {"changeAmount": 300, "expirationDateTimeUtc": "2026-01-03T00:00:00Z"},
    )
    admin(client, "POST", "/customers/C4/balance-changes", {"changeAmount": 700})
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "10.00", 2), customer="web-4", points=1_000, website_id="W-4"),
        transaction_id="t-4",
    )
    assert balances(client, "C4")["availablePointBalance"] == 0
    clock.advance(3 * 86_400_000)
    admin(client, "POST", "/jobs/run")
    answer = send(
        client,
        STATUS,
        order_status("W-4", "Returned"),
        transaction_id="r-4",
    )
    assert answer["order"]["bonusPointsChanges"][0]["refundedAmount"] == 1_000
    # The 300 of the expired lot came back and were written off again.
    assert balances(client, "C4")["availablePointBalance"] == 700
    history = send(
        client,
        "History",
        {"customer": {"ids": {"customerNumber": "C4"}}, "page": {"itemsPerPage": 100}},
    )
    kinds = [
        (change["balanceChangeKind"]["systemName"], change["changeAmount"])
        for action in history["customerActions"]
        for change in action["customerBalanceChanges"]
    ]
    assert ("Refund", 1_000) in kinds
    assert ("Expired", -300) in kinds


@pytest.mark.usefixtures("shop")
def test_a_coupon_comes_back_only_when_every_line_is_cancelled(client: TestClient) -> None:
    send(
        client,
        CREATE,
        cart(
            line(1, "SKU-1", "40.00"),
            line(2, "SKU-2", "10.00"),
            coupons=("WELCOME-7QX2",),
            website_id="W-1",
        ),
        transaction_id="t-1",
    )

    def status_of_coupon() -> str:
        answer = send(client, CALCULATE, cart(line(1, "SKU-1", "1.00"), coupons=("WELCOME-7QX2",)))
        status: str = answer["order"]["couponsInfo"][0]["coupon"]["status"]
        return status

    def move(transaction_id: str, number: int, status: str) -> None:
        answer = send(
            client,
            STATUS,
            {
                "order": {
                    "ids": {"websiteId": "W-1"},
                    "lines": [{"lineNumber": number, "status": {"ids": {"externalId": status}}}],
                }
            },
            transaction_id=transaction_id,
        )
        assert answer["status"] == "Success", answer

    move("s-1", 1, "Cancelled")
    assert status_of_coupon() == "Used"
    move("s-2", 2, "Cancelled")
    assert status_of_coupon() == "CanBeUsed"


# ---------------------------------------------------------------- refusals

_refusals: list[tuple[str, dict[str, Any], str]] = [
    ("no lines", cart(), LINES_AT),
    (
        "no price",
        cart({"lineNumber": 1, "product": {"ids": {"website": "A"}}, "quantity": 1}),
        f"{LINE_AT}/basePricePerItem",
    ),
    (
        "no quantity",
        cart({"lineNumber": 1, "product": {"ids": {"website": "A"}}, "basePricePerItem": "1.00"}),
        f"{LINE_AT}/quantity",
    ),
    (
        "no product",
        cart({"lineNumber": 1, "basePricePerItem": "1.00", "quantity": 1}),
        f"{LINE_AT}/product/ids",
    ),
    ("negative quantity", cart(line(1, "A", "1.00", -1)), f"{LINE_AT}/quantity"),
    ("zero quantity", cart(line(1, "A", "1.00", 0)), f"{LINE_AT}/quantity"),
    ("four decimals of quantity", cart(line(1, "A", "1.00", "1.0001")), f"{LINE_AT}/quantity"),
    ("three decimals of money", cart(line(1, "A", "1.001")), f"{LINE_AT}/basePricePerItem"),
    ("negative price", cart(line(1, "A", "-1.00")), f"{LINE_AT}/basePricePerItem"),
    (
        "two lines with one number",
        cart(line(1, "A", "1.00"), line(1, "B", "1.00")),
        f"{LINE_AT}/lineNumber",
    ),
    (
        "unknown coupon",
        cart(line(1, "A", "1.00"), coupons=("NO-SUCH",)),
        "/operation/order/coupons/coupon/ids/code",
    ),
    (
        "points above the share",
        cart(line(1, "SKU-1", "40.00"), points=2_001),
        "/operation/order/bonusPoints/bonusPointsItem/amount",
    ),
    (
        "points above the balance",
        cart(line(1, "SKU-1", "400.00"), points=11_001),
        "/operation/order/bonusPoints/bonusPointsItem/amount",
    ),
    ("unknown customer", cart(line(1, "A", "1.00"), customer="nobody"), "/operation/customer/ids"),
    ("no customer", cart(line(1, "A", "1.00"), customer=None), "/operation/customer/ids"),
    (
        "bad date",
        {**cart(line(1, "A", "1.00")), "executionDateTimeUtc": "yesterday"},
        "/operation/executionDateTimeUtc",
    ),
    (
        "a line created cancelled",
        cart(line(1, "A", "1.00", status={"ids": {"externalId": "Cancelled"}})),
        f"{LINE_AT}/status/ids/externalId",
    ),
]


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("why", "body", "location"), _refusals, ids=[r[0] for r in _refusals])
def test_a_refused_order_changes_nothing(
    client: TestClient, config: Config, fmt: str, why: str, body: dict[str, Any], location: str
) -> None:
    before = db_snapshot(config)
    answer = send(client, CREATE, body, fmt, transaction_id="t-1")
    assert answer["status"] == "ValidationError", answer
    assert answer["validationMessages"][0]["location"] == location
    assert db_snapshot(config) == before


# XML has no booleans, numbers or lists of values: these are JSON's own.
_json_refusals: list[tuple[str, dict[str, Any], str]] = [
    ("price as a boolean", cart(line(1, "A", True)), f"{LINE_AT}/basePricePerItem"),
    ("price beyond 15 digits", cart(line(1, "A", 1e20)), f"{LINE_AT}/basePricePerItem"),
    ("quantity as a list", cart(line(1, "A", "1.00", [1])), f"{LINE_AT}/quantity"),
    ("line number as a decimal", cart(line(1.5, "A", "1.00")), f"{LINE_AT}/lineNumber"),
]


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("why", "body", "location"), _json_refusals, ids=[r[0] for r in _json_refusals]
)
def test_a_refused_json_order_changes_nothing(
    client: TestClient, config: Config, why: str, body: dict[str, Any], location: str
) -> None:
    before = db_snapshot(config)
    answer = send(client, CREATE, body, "json", transaction_id="t-1")
    assert answer["status"] == "ValidationError", answer
    assert answer["validationMessages"][0]["location"] == location
    assert db_snapshot(config) == before


@pytest.mark.usefixtures("shop")
def test_money_in_json_is_read_exactly(client: TestClient) -> None:
    """0.1 + 0.2 is 0.30 here, and a price in a float's least exact digits
    comes out as it went in."""
    answer = send(
        client,
        CALCULATE_UNAUTHORIZED,
        cart(line(1, "A", 0.1), line(2, "B", 0.2), line(3, "C", 9007199254740.99), customer=None),
    )
    lines = answer["order"]["lines"]
    assert [entry["discountedPriceOfLine"] for entry in lines] == [
        "0.10",
        "0.20",
        "9007199254740.99",
    ]
    assert answer["order"]["totalPrice"] == "9007199254741.29"


@pytest.mark.usefixtures("shop")
def test_more_lines_than_order_lines_max_are_refused(client: TestClient, config: Config) -> None:
    lines = [line(n, "A", "1.00") for n in range(1, order_lines_max + 2)]
    before = db_snapshot(config)
    answer = send(client, CREATE, cart(*lines), transaction_id="t-1")
    assert answer["validationMessages"][0]["location"] == LINES_AT
    assert db_snapshot(config) == before
    allowed = send(client, CALCULATE_UNAUTHORIZED, cart(*lines[:-1], customer=None))
    assert allowed["order"]["totalPrice"] == f"{order_lines_max}.00"


@pytest.mark.usefixtures("shop")
def test_create_order_needs_a_transaction_id(client: TestClient, config: Config) -> None:
    before = db_snapshot(config)
    answer = send(client, CREATE, cart(line(1, "A", "1.00")))
    assert answer["validationMessages"][0]["location"] == "/transactionId"
    assert db_snapshot(config) == before


_status_refusals: list[tuple[str, dict[str, Any], str]] = [
    (
        "no order id",
        {"order": {"orderLinesStatus": {"ids": {"externalId": "Paid"}}}},
        "/operation/order/ids",
    ),
    (
        "unknown order",
        {"order": {"ids": {"mindboxId": 999}, "orderLinesStatus": {"ids": {"externalId": "Paid"}}}},
        "/operation/order/ids",
    ),
    (
        "unknown status",
        order_status("W-1", "Lost"),
        f"{LINE_AT}/status/ids/externalId",
    ),
    (
        "unknown line",
        line_status("W-1", 7, "Cancelled"),
        LINE_AT,
    ),
    (
        "more than the line",
        line_status("W-1", 1, "Cancelled", quantity=3),
        f"{LINE_AT}/quantity",
    ),
    (
        "nothing to change",
        {"order": {"ids": {"websiteId": "W-1"}}},
        "/operation/order/orderLinesStatus",
    ),
]


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("why", "body", "location"), _status_refusals, ids=[r[0] for r in _status_refusals]
)
def test_a_refused_status_change_changes_nothing(
    client: TestClient, config: Config, why: str, body: dict[str, Any], location: str
) -> None:
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "10.00", 2), points=500, website_id="W-1"),
        transaction_id="t-1",
    )
    before = db_snapshot(config)
    answer = send(client, STATUS, body, transaction_id="s-1")
    assert answer["status"] == "ValidationError", answer
    assert answer["validationMessages"][0]["location"] == location
    assert db_snapshot(config) == before


@pytest.mark.usefixtures("shop")
def test_a_returned_line_cannot_be_paid_again(client: TestClient, config: Config) -> None:
    send(client, CREATE, cart(line(1, "SKU-1", "10.00", 2), website_id="W-1"), transaction_id="t-1")

    def move(transaction_id: str, status: str, quantity: int | None = None) -> dict[str, Any]:
        moved = {"lineNumber": 1, "quantity": quantity, "status": {"ids": {"externalId": status}}}
        return send(
            client,
            STATUS,
            {"order": {"ids": {"websiteId": "W-1"}, "lines": [moved]}},
            transaction_id=transaction_id,
        )

    assert move("s-1", "Returned", 1)["status"] == "Success"
    before = db_snapshot(config)
    assert move("s-1", "Returned", 1)["status"] == "Success"  # a replay
    assert move("s-2", "Returned", 1)["order"]["bonusPointsChanges"][0]["takenBackAmount"] == 0
    refused = move("s-3", "Paid")
    assert refused["validationMessages"][0]["location"] == f"{LINE_AT}/status/ids/externalId"
    shrunk = move("s-4", "Returned", None)  # all of the line: fine, goes up
    assert shrunk["status"] == "Success"
    assert move("s-5", "Returned", 1)["validationMessages"][0]["location"] == f"{LINE_AT}/quantity"
    assert db_snapshot(config) != before


# ------------------------------------------------------------------ export


@pytest.mark.usefixtures("shop")
def test_the_export_shows_the_order_changes_with_their_point_of_contact_and_transaction(
    client: TestClient,
) -> None:
    send(
        client,
        CREATE,
        {
            **cart(line(1, "SKU-1", "40.00", 2), points=1000, website_id="W-1"),
            "pointOfContact": {"ids": {"externalId": "shop-1"}},
        },
        transaction_id="t-1",
    )
    send(
        client,
        STATUS,
        {
            "pointOfContact": {"ids": {"externalId": "shop-1"}},
            "order": {
                "ids": {"websiteId": "W-1"},
                "lines": [
                    {"lineNumber": 1, "quantity": 1, "status": {"ids": {"externalId": "Returned"}}}
                ],
            },
        },
        transaction_id="s-1",
    )
    response = call(
        client,
        EXPORT,
        json.dumps({"sinceDateTimeUtc": "2025-12-01 00:00", "tillDateTimeUtc": "2027-01-01 00:00"}),
    )
    assert response.status_code == 200, response.text
    actions = [
        (
            action["ids"]["transactionId"],
            action["pointOfContact"]["ids"]["externalId"],
            [
                (c["balanceChangeKind"]["systemName"], c["changeAmount"])
                for c in action["customerBalanceChanges"]
            ],
        )
        for action in response.json()["customerActions"]
        if action["ids"].get("transactionId") in ("t-1", "s-1")
    ]
    assert actions == [
        ("t-1", "shop-1", [("RetailOrderPayment", -1000), ("RetailOrderBonus", 350)]),
        ("s-1", "shop-1", [("Refund", 500), ("RetailOrderBonus", -175)]),
    ]


@pytest.mark.usefixtures("shop")
def test_a_page_of_orders_is_bounded_by_its_lines(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "order_page_lines_max", 5)
    for transaction_id in ("a", "b"):
        three = [line(n, "SKU-1", "1.00") for n in (1, 2, 3)]
        send(client, CREATE, cart(*three), transaction_id=transaction_id)
    customer = {"ids": {"webSiteUserId": "web-1"}}
    refused = send(client, ORDERS, {"customer": customer, "page": {"itemsPerPage": 2}})
    assert refused["validationMessages"][0]["location"] == "/operation/page/itemsPerPage"
    one = send(client, ORDERS, {"customer": customer, "page": {"itemsPerPage": 1}})
    assert one["ordersCount"] == 2
    assert len(one["orders"]) == 1


@pytest.mark.usefixtures("shop")
def test_a_bonus_lost_to_expiry_is_not_taken_back_again(
    client: TestClient, clock: FakeClock
) -> None:
    """The bonus (500) activates, 200 of it are spent, the rest expires; a
    return takes back the 200 spent, from other points, and not the 300
    that already left through their expiry."""
    put_customer(client, "C5", websiteId="web-5")
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "100.00"), customer="web-5", website_id="W-5"),
        transaction_id="t-5",
    )
    clock.advance(15 * 86_400_000)
    admin(client, "POST", "/jobs/run")
    admin(client, "POST", "/customers/C5/balance-changes", {"changeAmount": -200})
    admin(
        client,
        "POST",
        "/customers/C5/balance-changes",
        {"changeAmount": 1_000, "expirationDateTimeUtc": "2030-01-01T00:00:00Z"},
    )
    clock.advance(366 * 86_400_000)  # past the bonus's expiry, not the 1,000's
    admin(client, "POST", "/jobs/run")
    assert balances(client, "C5")["availablePointBalance"] == 1_000  # the bonus's 300 expired
    answer = send(
        client,
        STATUS,
        order_status("W-5", "Returned"),
        transaction_id="r-5",
    )
    assert answer["order"]["bonusPointsChanges"] == [
        {"refundedAmount": 0, "takenBackAmount": 200, "shortfallAmount": 0, "expiredAmount": 300}
    ]
    assert balances(client, "C5")["availablePointBalance"] == 800
    order = order_of(client, "web-5")
    assert (order["takenBackBonusPoints"], order["expiredBonusPoints"]) == (500, 300)


@pytest.mark.usefixtures("shop")
def test_an_order_s_changes_cannot_be_refunded_by_hand(client: TestClient, config: Config) -> None:
    """Its payment and its take-backs are undone by its own status changes
    only: a refund by hand beside them would give points twice."""
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "40.00", 2), points=1_000, website_id="W-1"),
        transaction_id="t-1",
    )
    send(
        client,
        STATUS,
        line_status("W-1", 1, "Returned", quantity=1),
        transaction_id="r-1",
    )
    changes = db_snapshot(config)["balance_changes"]
    # (id, action id, customer id, amount, kind, ...): the order's debits.
    debits = [row[0] for row in changes if row[3] < 0 and row[4] != "Expired"]
    assert len(debits) == 2  # the payment and the take-back
    before = db_snapshot(config)
    for change_id in debits:
        refused = client.post(
            f"/admin/v1/balance-changes/{change_id}/refund", headers=admin_headers(), json={}
        )
        assert refused.status_code == 409, refused.text
    assert db_snapshot(config) == before


@pytest.mark.usefixtures("shop")
def test_cancelling_the_rest_of_an_order_leaves_a_returned_line_as_it_is(
    client: TestClient,
) -> None:
    send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "10.00"), line(2, "SKU-2", "10.00"), points=600, website_id="W-1"),
        transaction_id="t-1",
    )
    returned = {"lineNumber": 1, "status": {"ids": {"externalId": "Returned"}}}
    send(
        client,
        STATUS,
        {"order": {"ids": {"websiteId": "W-1"}, "lines": [returned]}},
        transaction_id="r-1",
    )
    answer = send(
        client,
        STATUS,
        order_status("W-1", "Cancelled"),
        transaction_id="c-1",
    )
    assert answer["status"] == "Success", answer
    statuses = [entry["status"]["ids"]["externalId"] for entry in answer["order"]["lines"]]
    assert statuses == ["Returned", "Cancelled"]
    order = order_of(client)
    assert order["refundedBonusPoints"] == order["spentBonusPoints"] == 600


@pytest.mark.usefixtures("shop")
def test_a_coupon_worth_nothing_on_an_order_is_not_used_up(client: TestClient) -> None:
    answer = send(
        client,
        CREATE,
        cart(line(1, "SKU-1", "0.05"), coupons=("WELCOME-7QX2",)),
        transaction_id="t-1",
    )
    (info,) = answer["order"]["couponsInfo"]
    assert info["coupon"]["status"] == "CanNotBeUsedForCurrentOrder"
    again = send(client, CALCULATE, cart(line(1, "SKU-1", "40.00"), coupons=("WELCOME-7QX2",)))
    assert again["order"]["couponsInfo"][0]["coupon"]["status"] == "CanBeUsed"
