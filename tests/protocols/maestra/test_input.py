"""What the v3 protocol refuses in the strings and integers of a call, on
both databases: control characters in ids and text (a ``ValidationError`` at
the field's location), a transactionId that is not a plain id (a 400
``ProtocolError``: it is a query parameter), and integers outside their
range. Every refusal leaves the database as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper import limits
from pointkeeper.app import create_app
from pointkeeper.config import Config
from tests.conftest import FakeClock, cp_headers, make_config

from .conftest import (
    BALANCE,
    CHANGE,
    EDIT,
    ENDPOINT,
    EXPORT,
    HISTORY,
    KEY,
    OPERATIONS,
    OTHER_ENDPOINT,
    OTHER_KEY,
    REGISTER,
    admin,
    answer,
    async_calls,
    call,
    put_customer,
)
from .test_errors import protocol_error, refused, validation_error

Shared = tuple[TestClient, Config]
CONTROL_CHARACTERS = ["\u0000", "\u001b"]
ISSUE = "IssueOrCreate"
REDEEM = "Redeem"
CANCEL = "CancelRedemption"
_promo_operations: list[dict[str, Any]] = [
    {"name": ISSUE, "kind": "IssuePromoCode", "mode": "by-value-or-create"},
    {"name": REDEEM, "kind": "RedeemPromoCode"},
    {"name": CANCEL, "kind": "CancelPromoCodeRedemption"},
]

_customer = {"customer": {"ids": {"customerNumber": "C1"}}}
_credit = {**_customer, "balanceChanges": [{"changeAmount": 7, "comment": "thanks"}]}
_promo = {**_customer, "promoCode": {"ids": {"value": "W-1"}}}
# A valid body of each operation, and each of its strings by its path.
STRING_FIELDS: list[tuple[str, dict[str, Any], tuple[str | int, ...]]] = [
    (CHANGE, _credit, ("customer", "ids", "customerNumber")),
    (CHANGE, _credit, ("balanceChanges", 0, "comment")),
    (
        CHANGE,
        {**_credit, "pointOfContact": {"ids": {"externalId": "store-1"}}},
        ("pointOfContact", "ids", "externalId"),
    ),
    (BALANCE, {"customer": {"ids": {"webSiteUserId": "w1"}}}, ("customer", "ids", "webSiteUserId")),
    (BALANCE, {"customer": {"ids": {"email": "c1@example.com"}}}, ("customer", "ids", "email")),
    (BALANCE, {"customer": {"ids": {"mobilePhone": "555"}}}, ("customer", "ids", "mobilePhone")),
    (
        REGISTER,
        {"customer": {"ids": {"customerNumber": "C9"}, "firstName": "Ann"}},
        ("customer", "ids", "customerNumber"),
    ),
    (
        REGISTER,
        {"customer": {"ids": {"customerNumber": "C9"}, "firstName": "Ann"}},
        ("customer", "firstName"),
    ),
    (
        EDIT,
        {"customer": {"ids": {"customerNumber": "C1"}, "lastName": "Lee"}},
        ("customer", "lastName"),
    ),
    (
        EDIT,
        {"customer": {"ids": {"customerNumber": "C1"}, "program": "Loyalty program 1"}},
        ("customer", "program"),
    ),
    (
        EDIT,
        {"customer": {"ids": {"customerNumber": "C1"}, "status": "active"}},
        ("customer", "status"),
    ),
    (
        EXPORT,
        {
            "sinceDateTimeUtc": "2025-01-01 00:00",
            "tillDateTimeUtc": "2027-01-01 00:00",
            "segment": {"ids": {"externalId": "vip"}},
        },
        ("segment", "ids", "externalId"),
    ),
    (
        ISSUE,
        {
            **_customer,
            "promoCode": {"ids": {"value": "NEW-1"}, "pool": {"ids": {"externalId": "p"}}},
        },
        ("promoCode", "ids", "value"),
    ),
    (
        ISSUE,
        {
            **_customer,
            "promoCode": {"ids": {"value": "NEW-1"}, "pool": {"ids": {"externalId": "p"}}},
        },
        ("promoCode", "pool", "ids", "externalId"),
    ),
    (REDEEM, _promo, ("promoCode", "ids", "value")),
    (CANCEL, _promo, ("promoCode", "ids", "value")),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Shared]:
    """One server per backend: C1 (webSiteId w1, c1@example.com, 555) with
    100 points, point of contact store-1, segment vip, pool p with W-1."""
    config = _config(tmp_path_factory.mktemp("maestra-input"), module_database_url)
    with TestClient(create_app(config, clock=FakeClock())) as client:
        _seed(client)
        yield client, config


def _config(folder: Any, database_url: str) -> Config:
    promo = [{**operation, "endpoints": [ENDPOINT]} for operation in _promo_operations]
    return make_config(
        folder,
        database_url,
        endpoints=[
            {"id": ENDPOINT, "secret_key": KEY},
            {"id": OTHER_ENDPOINT, "secret_key": OTHER_KEY},
        ],
        operations=[*OPERATIONS, *promo],
    )


def _seed(client: TestClient) -> None:
    put_customer(client, "C1", websiteId="w1", email="c1@example.com", mobilePhone="555")
    admin(client, "POST", "/customers/C1/balance-changes", {"changeAmount": 100})
    admin(client, "PUT", "/points-of-contact/store-1", {"name": "Store 1"})
    admin(client, "PUT", "/segments/vip", {"name": "VIP"})
    admin(client, "PUT", "/pools/p", {"name": "P"})
    admin(client, "POST", "/pools/p/codes", {"codes": ["W-1"]})


def _with(body: Any, path: tuple[Any, ...], char: str) -> Any:
    """A copy of ``body`` whose string at ``path`` has ``char`` as its second character."""
    if not path:
        assert isinstance(body, str)
        return body[:1] + char + body[1:]
    copy = list(body) if isinstance(body, list) else dict(body)
    copy[path[0]] = _with(body[path[0]], path[1:], char)
    return copy


def _location(path: tuple[Any, ...]) -> str:
    names = [str(part) for part in path if not isinstance(part, int)]
    if names[0] == "balanceChanges":
        names.insert(1, "balanceChange")
    return "/operation/" + "/".join(names)


def _message(char: str) -> str:
    return f"must not contain control characters (U+{ord(char):04X} at character 2)"


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=ascii)
@pytest.mark.parametrize(("operation", "body", "path"), STRING_FIELDS, ids=lambda v: str(v)[-24:])
def test_a_control_character_in_a_json_string_is_a_validation_error(
    shared: Shared, operation: str, body: dict[str, Any], path: tuple[Any, ...], char: str
) -> None:
    client, config = shared
    sent = _with(body, path, char)
    response = refused(config, lambda: call(client, operation, sent, fmt="json"))
    assert validation_error(response, _location(path)) == _message(char)


@pytest.mark.parametrize("char", ["\t", "\n", "\x7f", "\x85"], ids=ascii)
def test_a_customer_id_refuses_layout_del_and_c1_characters(shared: Shared, char: str) -> None:
    client, config = shared
    sent = _with(_credit, ("customer", "ids", "customerNumber"), char)
    response = refused(config, lambda: call(client, CHANGE, sent, fmt="json"))
    assert validation_error(response, "/operation/customer/ids/customerNumber") == _message(char)


@pytest.mark.parametrize(
    ("inner", "location"),
    [
        ("<customerNumber>C\x7f1</customerNumber>", "/operation/customer/ids/customerNumber"),
        ("<webSiteUserId>w\x851</webSiteUserId>", "/operation/customer/ids/webSiteUserId"),
    ],
)
def test_xml_del_and_c1_characters_are_validation_errors(
    shared: Shared, inner: str, location: str
) -> None:
    client, config = shared
    body = f"<operation><customer><ids>{inner}</ids></customer></operation>"
    response = refused(config, lambda: call(client, BALANCE, body))
    assert "must not contain control characters" in validation_error(response, location)


@pytest.mark.parametrize("reference", ["&#0;", "&#27;", "\x1b"], ids=ascii)
def test_xml_c0_characters_are_not_xml_at_all(shared: Shared, reference: str) -> None:
    client, config = shared
    body = (
        "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
        f"<balanceChanges><balanceChange><changeAmount>7</changeAmount><comment>a{reference}"
        "</comment></balanceChange></balanceChanges></operation>"
    )
    protocol_error(refused(config, lambda: call(client, CHANGE, body)), 400)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "transaction_id",
    ["t\u00001", "t\u001b1", "t\t1", "t" * (limits.id_chars_max + 1), "t" * 60_000],
)
def test_a_transaction_id_that_is_not_a_plain_id_is_a_protocol_error(
    shared: Shared, transaction_id: str, mode: str
) -> None:
    client, config = shared
    response = refused(
        config,
        lambda: call(client, CHANGE, _credit, fmt="json", transaction_id=transaction_id, mode=mode),
    )
    message = protocol_error(response, 400)
    assert message.startswith("transactionId must ")


def test_a_transaction_id_at_the_cap_is_kept(client: TestClient) -> None:
    put_customer(client, "C1")
    transaction_id = "t" * limits.id_chars_max
    response = call(client, CHANGE, _credit, fmt="json", transaction_id=transaction_id)
    assert answer(response)["status"] == "Success", response.text
    response = call(
        client, CHANGE, _credit, fmt="json", transaction_id=transaction_id, mode="async"
    )
    assert answer(response)["status"] == "Success", response.text
    assert [entry["transactionId"] for entry in async_calls(client, transaction_id)] == [
        transaction_id
    ]


def test_tabs_and_line_ends_in_a_comment_are_kept(client: TestClient) -> None:
    put_customer(client, "C1")
    comment = "line one\r\nline two\tend"
    body = {**_customer, "balanceChanges": [{"changeAmount": 7, "comment": comment}]}
    assert answer(call(client, CHANGE, body, fmt="json"))["status"] == "Success"
    history = client.get("/Loyalty/C1/BalanceCheck", headers=cp_headers()).json()
    assert history["Loyalty"]["History"][-1]["Reason"] == comment


# ---------------------------------------------------------------- integers

_int64_max = 2**63 - 1
_page_max = limits.history_page_number_max
_points_max = limits.points_per_request_max
_history = {**_customer, "page": {}}
INTEGER_CASES: list[tuple[str, str, dict[str, Any] | str, str, str]] = [
    (
        "customerId 2^63",
        BALANCE,
        {"customer": {"ids": {"customerId": 2**63}}},
        "/operation/customer/ids/customerId",
        f"1 to {_int64_max}",
    ),
    (
        "customerId 0",
        BALANCE,
        {"customer": {"ids": {"customerId": 0}}},
        "/operation/customer/ids/customerId",
        f"1 to {_int64_max}",
    ),
    (
        "mindboxId 2^64-1",
        CHANGE,
        {"customer": {"ids": {"mindboxId": 2**64 - 1}}, "balanceChanges": [{"changeAmount": 7}]},
        "/operation/customer/ids/mindboxId",
        f"1 to {_int64_max}",
    ),
    (
        "XML customerId 2^63",
        BALANCE,
        f"<operation><customer><ids><customerId>{2**63}</customerId></ids></customer></operation>",
        "/operation/customer/ids/customerId",
        f"1 to {_int64_max}",
    ),
    (
        "XML customerId of 30 digits",
        BALANCE,
        "<operation><customer><ids><customerId>" + "9" * 30 + "</customerId></ids></customer>"
        "</operation>",
        "/operation/customer/ids/customerId",
        f"1 to {_int64_max}",
    ),
    (
        "pageNumber 2^63",
        HISTORY,
        {**_customer, "page": {"pageNumber": 2**63}},
        "/operation/page/pageNumber",
        f"1 to {_page_max}",
    ),
    (
        "pageNumber 2^62 of 1000",
        HISTORY,
        {**_customer, "page": {"pageNumber": 2**62, "itemsPerPage": 1000}},
        "/operation/page/pageNumber",
        f"1 to {_page_max}",
    ),
    (
        "pageNumber one over the bound",
        HISTORY,
        {**_customer, "page": {"pageNumber": _page_max + 1, "itemsPerPage": 1}},
        "/operation/page/pageNumber",
        f"1 to {_page_max}",
    ),
    (
        "XML pageNumber 2^63",
        HISTORY,
        "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
        f"<page><pageNumber>{2**63}</pageNumber></page></operation>",
        "/operation/page/pageNumber",
        f"1 to {_page_max}",
    ),
    (
        "itemsPerPage 2^63",
        HISTORY,
        {**_customer, "page": {"itemsPerPage": 2**63}},
        "/operation/page/itemsPerPage",
        "1 to 1000",
    ),
    (
        "changeAmount 2^63",
        CHANGE,
        {**_customer, "balanceChanges": [{"changeAmount": 2**63}]},
        "/operation/balanceChanges/balanceChange/changeAmount",
        f"-{_points_max} to {_points_max}",
    ),
    (
        "changeAmount -2^63",
        CHANGE,
        {**_customer, "balanceChanges": [{"changeAmount": -(2**63)}]},
        "/operation/balanceChanges/balanceChange/changeAmount",
        f"-{_points_max} to {_points_max}",
    ),
    (
        "changeAmount one over the ledger bound",
        CHANGE,
        {**_customer, "balanceChanges": [{"changeAmount": _points_max + 1}]},
        "/operation/balanceChanges/balanceChange/changeAmount",
        f"-{_points_max} to {_points_max}",
    ),
    (
        "XML changeAmount of 25 digits",
        CHANGE,
        "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
        "<balanceChanges><balanceChange><changeAmount>-" + "1" * 25 + "</changeAmount>"
        "</balanceChange></balanceChanges></operation>",
        "/operation/balanceChanges/balanceChange/changeAmount",
        f"-{_points_max} to {_points_max}",
    ),
]


@pytest.mark.parametrize(
    ("operation", "body", "location", "bounds"),
    [case[1:] for case in INTEGER_CASES],
    ids=[case[0] for case in INTEGER_CASES],
)
def test_an_integer_out_of_its_range_is_a_validation_error(
    shared: Shared, operation: str, body: dict[str, Any] | str, location: str, bounds: str
) -> None:
    client, config = shared
    fmt = "xml" if isinstance(body, str) else "json"
    response = refused(config, lambda: call(client, operation, body, fmt=fmt))
    assert validation_error(response, location) == f"must be an integer from {bounds}"


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_the_last_page_number_with_the_largest_page_is_an_empty_page(
    shared: Shared, fmt: str
) -> None:
    client, config = shared
    page = {"pageNumber": _page_max, "itemsPerPage": limits.history_page_items_max}
    if fmt == "json":
        body: dict[str, Any] | str = {**_customer, "page": page}
    else:
        body = (
            "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
            f"<page><pageNumber>{_page_max}</pageNumber><itemsPerPage>1000</itemsPerPage></page>"
            "</operation>"
        )
    tree = answer(refused(config, lambda: call(client, HISTORY, body, fmt=fmt)))
    assert tree["status"] == "Success", tree
    assert str(tree["customerActionsCount"]) == "1"
    assert tree.get("customerActions") in (None, "", [])


def test_an_xml_integer_with_leading_zeros_is_read(shared: Shared) -> None:
    client, config = shared
    body = (
        "<operation><customer><ids><customerId>" + "0" * 30 + "1</customerId></ids></customer>"
        "</operation>"
    )
    tree = answer(refused(config, lambda: call(client, BALANCE, body)))
    assert (tree["status"], tree["customer"]["ids"]["customerNumber"]) == ("Success", "C1")
