"""IssuePromoCode, RedeemPromoCode and CancelPromoCodeRedemption over HTTP
(seed 002), in XML and JSON.

Pools and codes are set up through the promo services on the application's
own store; customers and points of contact through the admin API. Every
refusal is checked to leave the database as it was.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from pointkeeper.config import Config
from pointkeeper.protocols.maestra import codec
from tests.conftest import FakeClock, admin_headers, db_snapshot, make_config

from .conftest import ENDPOINT, FORMATS, KEY, admin, answer, call, put_customer

BY_VALUE = "IssueByValue"
OR_CREATE = "IssueOrCreate"
OR_CREATE_WELCOME = "IssueOrCreateWelcome"
FROM_POOL = "IssueFromPool"
FROM_WELCOME = "IssueFromWelcome"
NO_MODE = "IssueWithoutMode"
REDEEM = "Redeem"
CANCEL = "CancelRedemption"

VALUE_AT = "/operation/promoCode/ids/value"
POOL_AT = "/operation/promoCode/pool/ids/externalId"

_issue = "IssuePromoCode"
OPERATIONS: list[dict[str, Any]] = [
    {"name": BY_VALUE, "kind": _issue, "mode": "by-value"},
    {"name": OR_CREATE, "kind": _issue, "mode": "by-value-or-create"},
    {"name": OR_CREATE_WELCOME, "kind": _issue, "mode": "by-value-or-create", "pool": "welcome"},
    {"name": FROM_POOL, "kind": _issue, "mode": "from-pool"},
    {"name": FROM_WELCOME, "kind": _issue, "mode": "from-pool", "pool": "welcome"},
    {"name": NO_MODE, "kind": _issue},
    {"name": REDEEM, "kind": "RedeemPromoCode"},
    {"name": CANCEL, "kind": "CancelPromoCodeRedemption"},
]

# The seed's order of the promoCode block.
BLOCK_ORDER = [
    "issueStatus",
    "ids",
    "pool",
    "availableFromDateTimeUtc",
    "availableTillDateTimeUtc",
    "isUsed",
    "usedPointOfContact",
    "usedDateTimeUtc",
    "issuedPointOfContact",
    "issuedDateTimeUtc",
    "blockedDateTimeUtc",
]
WELCOME = {
    "ids": {"externalId": "welcome"},
    "name": "Welcome",
    "description": "10% off the first order",
}
STORE_1 = {"ids": {"externalId": "store-1"}, "name": "Store 1"}
NOW = "2026-01-01 00:00:00.000"  # FakeClock's start


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return make_config(
        tmp_path,
        database_url,
        endpoints=[{"id": ENDPOINT, "secret_key": KEY}],
        operations=[{**operation, "endpoints": [ENDPOINT]} for operation in OPERATIONS],
    )


@pytest.fixture
def shop(client: TestClient) -> None:
    """Customers C1 (webSiteUserId w1), C2, C3; point of contact store-1;
    single-use pool ``welcome`` with W-1, W-2, W-3; an ``empty`` pool; the
    multi-use pool ``summer`` with the one code SUMMER."""
    admin(client, "PUT", "/points-of-contact/store-1", {"name": "Store 1"})
    put_customer(client, "C1", websiteId="w1")
    put_customer(client, "C2")
    put_customer(client, "C3")
    put_pool(client, "welcome", name="Welcome", description="10% off the first order")
    add_codes(client, "welcome", "W-1", "W-2", "W-3")
    put_pool(client, "empty", name="Empty")
    put_pool(client, "summer", name="Summer", multi_use=True)
    add_codes(client, "summer", "SUMMER")


# ------------------------------------------------------------------ helpers


def ms_text(text: str) -> str:
    """A test's ``YYYY-MM-DD hh:mm`` as the admin API's ISO 8601 in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


# The pool's dates by the short names the tests use.
_pool_dates = {
    "issue_start": "issueStartDateTimeUtc",
    "issue_end": "issueEndDateTimeUtc",
    "available_from": "availableFromDateTimeUtc",
    "available_till": "availableTillDateTimeUtc",
}


def put_pool(client: TestClient, external_id: str, **values: Any) -> None:
    """Creates a pool, or changes the fields given of an existing one,
    through the admin API."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        if name in _pool_dates:
            body[_pool_dates[name]] = ms_text(value)
        else:
            body[_camel(name)] = value
    response = client.get(f"/admin/v1/pools/{external_id}", headers=admin_headers())
    if response.status_code == 200:
        # Workaround: an update must name every NOT NULL column again, as the
        # store's upsert checks them before it sees the conflict.
        found = response.json()
        body = {"name": found["name"], "multiUse": found["multiUse"], **body}
    admin(client, "PUT", f"/pools/{external_id}", body)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def add_codes(
    client: TestClient,
    pool: str,
    *values: str,
    available_from: str | None = None,
    available_till: str | None = None,
) -> None:
    window = {
        "availableFromDateTimeUtc": None if available_from is None else ms_text(available_from),
        "availableTillDateTimeUtc": None if available_till is None else ms_text(available_till),
    }
    codes = [{"value": value, **window} for value in values]
    result = admin(client, "POST", f"/pools/{pool}/codes", {"codes": codes})
    assert result == {"imported": len(values), "rejected": []}, result


def block(client: TestClient, value: str) -> None:
    admin(client, "POST", f"/promo-codes/{value}/block")


def send(
    client: TestClient,
    operation: str,
    tree: dict[str, Any],
    fmt: str,
    *,
    transaction_id: str | None = None,
) -> httpx.Response:
    """``tree`` as the request body: XML under <operation>, or JSON."""
    body = codec.render_xml(tree, root="operation") if fmt == "xml" else json.dumps(tree)
    return call(client, operation, body, fmt=fmt, transaction_id=transaction_id)


def request(
    customer: str | None = "C1",
    *,
    value: str | None = None,
    pool: str | None = None,
    available_from: str | None = None,
    available_till: str | None = None,
    at: str | None = None,
    point_of_contact: str | None = None,
) -> dict[str, Any]:
    """A request of any of the three kinds; None fields are left out."""
    promo_code = {
        "ids": None if value is None else {"value": value},
        "pool": None if pool is None else {"ids": {"externalId": pool}},
        "availableFromDateTimeUtc": available_from,
        "availableTillDateTimeUtc": available_till,
    }
    return {
        "customer": None if customer is None else {"ids": {"customerNumber": customer}},
        "promoCode": promo_code if any(v is not None for v in promo_code.values()) else None,
        "pointOfContact": None
        if point_of_contact is None
        else {"ids": {"externalId": point_of_contact}},
        "executionDateTimeUtc": at,
    }


def as_text(value: Any) -> Any:
    """JSON values as XML says them, so one expectation serves both."""
    if isinstance(value, dict):
        return {key: as_text(child) for key, child in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def promo_block(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    tree = answer(response)
    assert tree["status"] == "Success", tree
    assert list(tree) == ["status", "promoCode"], tree
    block: dict[str, Any] = as_text(tree["promoCode"])
    order = [name for name in BLOCK_ORDER if name in block]
    assert list(block) == order, list(block)
    return block


def status_of(response: httpx.Response) -> str:
    status: str = promo_block(response)["issueStatus"]
    return status


def refused(response: httpx.Response, location: str) -> str:
    assert response.status_code == 200, response.text
    tree = answer(response)
    assert tree["status"] == "ValidationError", tree
    [message] = tree["validationMessages"]
    assert message["location"] == location, message
    text: str = message["message"]
    return text


def refused_unchanged(
    client: TestClient,
    config: Config,
    operation: str,
    tree: dict[str, Any],
    fmt: str,
    location: str,
) -> str:
    before = db_snapshot(config)
    message = refused(send(client, operation, tree, fmt), location)
    assert db_snapshot(config) == before
    return message


def issued_to(config: Config, value: str) -> Any:
    rows = db_snapshot(config)["promo_codes"]
    [row] = [row for row in rows if row[1] == value]
    return row[6]  # issued_customer_id


# ---------------------------------------------------- the seed's mode table

# (operation, request fields, location refused): every rule of the table broken.
_broken_rules = [
    pytest.param(BY_VALUE, {}, VALUE_AT, id="by-value/value-mandatory"),
    pytest.param(BY_VALUE, {"value": "W-1", "pool": "welcome"}, POOL_AT, id="by-value/pool-no"),
    pytest.param(OR_CREATE, {"pool": "welcome"}, VALUE_AT, id="or-create/value-mandatory"),
    pytest.param(OR_CREATE, {"value": "W-1"}, POOL_AT, id="or-create/pool-mandatory"),
    pytest.param(OR_CREATE_WELCOME, {"pool": "welcome"}, VALUE_AT, id="or-create-set/value"),
    pytest.param(
        OR_CREATE_WELCOME, {"value": "W-1", "pool": "welcome"}, POOL_AT, id="or-create-set/pool-no"
    ),
    pytest.param(FROM_POOL, {"value": "W-1", "pool": "welcome"}, VALUE_AT, id="from-pool/value-no"),
    pytest.param(FROM_POOL, {}, POOL_AT, id="from-pool/pool-mandatory"),
    pytest.param(FROM_WELCOME, {"value": "W-1"}, VALUE_AT, id="from-pool-set/value-no"),
    pytest.param(FROM_WELCOME, {"pool": "welcome"}, POOL_AT, id="from-pool-set/pool-no"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("operation", "promo_fields", "location"), _broken_rules)
def test_a_broken_mode_rule_is_a_validation_error_at_its_field(
    client: TestClient,
    config: Config,
    shop: None,
    fmt: str,
    operation: str,
    promo_fields: dict[str, str],
    location: str,
) -> None:
    message = refused_unchanged(client, config, operation, request(**promo_fields), fmt, location)
    assert "required" in message or "not allowed" in message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("operation", "promo_fields", "value", "pool"),
    [
        pytest.param(BY_VALUE, {"value": "W-2"}, "W-2", "welcome", id="by-value"),
        pytest.param(
            OR_CREATE, {"value": "W-2", "pool": "welcome"}, "W-2", "welcome", id="or-create/found"
        ),
        pytest.param(
            OR_CREATE, {"value": "NEW-1", "pool": "summer"}, "NEW-1", "summer", id="or-create/new"
        ),
        pytest.param(OR_CREATE_WELCOME, {"value": "NEW-2"}, "NEW-2", "welcome", id="or-create-set"),
        pytest.param(FROM_POOL, {"pool": "welcome"}, "W-1", "welcome", id="from-pool"),
        pytest.param(FROM_WELCOME, {}, "W-1", "welcome", id="from-pool-set"),
    ],
)
def test_a_request_that_keeps_the_mode_rules_issues(
    client: TestClient,
    config: Config,
    shop: None,
    fmt: str,
    operation: str,
    promo_fields: dict[str, str],
    value: str,
    pool: str,
) -> None:
    block = promo_block(send(client, operation, request(**promo_fields), fmt))
    assert block["issueStatus"] == "Issued"
    assert block["ids"]["value"] == value
    assert block["pool"]["ids"]["externalId"] == pool
    assert block["issuedDateTimeUtc"] == NOW
    assert issued_to(config, value) is not None or pool == "summer"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_operation_without_a_mode_refuses_every_issue(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    message = refused_unchanged(client, config, NO_MODE, request(value="W-1"), fmt, "/operation")
    assert "mode" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_issue_refuses_a_missing_or_unknown_customer(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    at = "/operation/customer/ids"
    refused_unchanged(client, config, FROM_WELCOME, request(None), fmt, at)
    refused_unchanged(client, config, FROM_WELCOME, request("NOBODY"), fmt, at)


@pytest.mark.parametrize("fmt", FORMATS)
def test_issue_refuses_bad_input_where_it_is(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    refused_unchanged(
        client,
        config,
        FROM_WELCOME,
        request(point_of_contact="store-9"),
        fmt,
        "/operation/pointOfContact/ids/externalId",
    )
    refused_unchanged(
        client,
        config,
        FROM_WELCOME,
        request(at="yesterday"),
        fmt,
        "/operation/executionDateTimeUtc",
    )
    refused_unchanged(
        client,
        config,
        FROM_WELCOME,
        request(available_from="2026-02-01 00:00", available_till="2026-01-01 00:00"),
        fmt,
        "/operation/promoCode/availableTillDateTimeUtc",
    )
    # A value that cannot be a code is refused only when it would be created.
    refused_unchanged(client, config, OR_CREATE_WELCOME, request(value="no spaces"), fmt, VALUE_AT)
    assert status_of(send(client, BY_VALUE, request(value="no spaces"), fmt)) == (
        "PromoCodeNotFound"
    )


# ------------------------------------------------------------ the six statuses


@pytest.mark.parametrize("fmt", FORMATS)
def test_issued_answers_the_whole_block_in_the_seed_order(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    put_pool(
        client,
        "welcome",
        available_from="2026-01-01 00:00",
        available_till="2026-03-01 00:00",
    )
    issue = request(value="W-2", point_of_contact="store-1", at="2025-12-31 23:00:00.125")
    first = promo_block(send(client, BY_VALUE, issue, fmt))
    used = request(value="W-2", point_of_contact="store-1", at="2026-01-02 10:30")
    promo_block(send(client, REDEEM, used, fmt))
    block(client, "W-2")
    again = promo_block(send(client, BY_VALUE, issue, fmt))

    code_id = first["ids"]["mindboxId"]
    assert first == {
        "issueStatus": "Issued",
        "ids": {"mindboxId": code_id, "value": "W-2"},
        "pool": WELCOME,
        "availableFromDateTimeUtc": "2026-01-01 00:00:00.000",
        "availableTillDateTimeUtc": "2026-03-01 00:00:00.000",
        "isUsed": "false",
        "issuedPointOfContact": STORE_1,
        "issuedDateTimeUtc": "2025-12-31 23:00:00.125",
    }
    # Issued, used and blocked: every element of the seed, in its order.
    assert list(again) == BLOCK_ORDER
    assert again == {
        **first,
        "issueStatus": "NotAvailableForIssue",
        "isUsed": "true",
        "usedPointOfContact": STORE_1,
        "usedDateTimeUtc": "2026-01-02 10:30:00.000",
        "blockedDateTimeUtc": NOW,
    }


def test_json_answers_numbers_and_flags_as_json_types(
    client: TestClient, config: Config, shop: None
) -> None:
    response = send(client, FROM_WELCOME, request(), "json")
    code = response.json()["promoCode"]
    assert type(code["ids"]["mindboxId"]) is int
    assert code["isUsed"] is False
    assert "usedDateTimeUtc" not in code and "blockedDateTimeUtc" not in code


@pytest.mark.parametrize("fmt", FORMATS)
def test_promo_code_not_found(client: TestClient, config: Config, shop: None, fmt: str) -> None:
    before = db_snapshot(config)
    block_ = promo_block(send(client, BY_VALUE, request(value="NOPE"), fmt))
    assert block_ == {"issueStatus": "PromoCodeNotFound", "ids": {"value": "NOPE"}}
    assert db_snapshot(config) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_promo_code_pool_not_found(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    before = db_snapshot(config)
    from_pool = promo_block(send(client, FROM_POOL, request(pool="nope"), fmt))
    assert from_pool == {
        "issueStatus": "PromoCodePoolNotFound",
        "pool": {"ids": {"externalId": "nope"}},
    }
    created = promo_block(send(client, OR_CREATE, request(value="NEW-1", pool="nope"), fmt))
    assert created == {
        "issueStatus": "PromoCodePoolNotFound",
        "ids": {"value": "NEW-1"},
        "pool": {"ids": {"externalId": "nope"}},
    }
    assert db_snapshot(config) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_available_promo_codes_in_pool(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    empty = promo_block(send(client, FROM_POOL, request(pool="empty"), fmt))
    assert empty == {
        "issueStatus": "NoAvailablePromoCodesInPool",
        "pool": {"ids": {"externalId": "empty"}},
    }
    values = [
        promo_block(send(client, FROM_WELCOME, request(customer), fmt))["ids"]["value"]
        for customer in ("C1", "C2", "C3")
    ]
    assert values == ["W-1", "W-2", "W-3"]
    before = db_snapshot(config)
    assert status_of(send(client, FROM_WELCOME, request("C1"), fmt)) == (
        "NoAvailablePromoCodesInPool"
    )
    assert db_snapshot(config) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_not_available_for_issue(client: TestClient, config: Config, shop: None, fmt: str) -> None:
    assert status_of(send(client, BY_VALUE, request("C1", value="W-1"), fmt)) == "Issued"
    before = db_snapshot(config)
    taken = promo_block(send(client, BY_VALUE, request("C2", value="W-1"), fmt))
    assert taken["issueStatus"] == "NotAvailableForIssue"
    assert taken["ids"]["value"] == "W-1"
    assert db_snapshot(config) == before
    # A code whose window has ended cannot be issued either.
    add_codes(client, "welcome", "OLD-1", available_till="2025-12-31 00:00")
    before = db_snapshot(config)
    assert status_of(send(client, BY_VALUE, request("C2", value="OLD-1"), fmt)) == (
        "NotAvailableForIssue"
    )
    assert db_snapshot(config) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_not_in_issue_date_time_range(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    put_pool(client, "welcome", issue_start="2026-02-01 00:00")
    before = db_snapshot(config)
    by_value = promo_block(send(client, BY_VALUE, request(value="W-1"), fmt))
    assert by_value["issueStatus"] == "NotInIssueDateTimeRange"
    assert by_value["ids"]["value"] == "W-1" and "issuedDateTimeUtc" not in by_value
    from_pool = promo_block(send(client, FROM_WELCOME, request(), fmt))
    assert from_pool == {
        "issueStatus": "NotInIssueDateTimeRange",
        "pool": {"ids": {"externalId": "welcome"}},
    }
    created = promo_block(send(client, OR_CREATE_WELCOME, request(value="NEW-1"), fmt))
    assert created["issueStatus"] == "NotInIssueDateTimeRange"
    assert db_snapshot(config) == before


# ----------------------------------------------------------------- issuing


@pytest.mark.parametrize("fmt", FORMATS)
def test_execution_date_back_dates_the_issue_within_the_pool_window(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    put_pool(client, "welcome", issue_start="2025-12-01 00:00", issue_end="2025-12-31 00:00")
    # Now (2026-01-01) is past the window; before its start too.
    assert status_of(send(client, FROM_WELCOME, request(), fmt)) == "NotInIssueDateTimeRange"
    early = request(at="2025-11-30 23:59:59.999")
    assert status_of(send(client, FROM_WELCOME, early, fmt)) == "NotInIssueDateTimeRange"
    at_end = request(at="2025-12-31 00:00")
    assert status_of(send(client, FROM_WELCOME, at_end, fmt)) == "NotInIssueDateTimeRange"
    inside = promo_block(send(client, FROM_WELCOME, request(at="2025-12-20T10:00:00.25Z"), fmt))
    assert inside["issueStatus"] == "Issued"
    assert inside["issuedDateTimeUtc"] == "2025-12-20 10:00:00.250"


@pytest.mark.parametrize("fmt", FORMATS)
def test_request_availability_overrides_the_codes_own(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    add_codes(
        client,
        "welcome",
        "OWN-1",
        available_from="2026-01-01 00:00",
        available_till="2026-12-31 00:00",
    )
    issue = request(
        value="OWN-1", available_from="2026-02-01 00:00", available_till="2026-02-10 00:00"
    )
    issued = promo_block(send(client, BY_VALUE, issue, fmt))
    assert issued["availableFromDateTimeUtc"] == "2026-02-01 00:00:00.000"
    assert issued["availableTillDateTimeUtc"] == "2026-02-10 00:00:00.000"
    # The new window is the one redemption keeps to.
    refused_unchanged(client, config, REDEEM, request(value="OWN-1"), fmt, VALUE_AT)
    later = request(value="OWN-1", at="2026-02-10 00:00")
    refused_unchanged(client, config, REDEEM, later, fmt, VALUE_AT)
    inside = promo_block(send(client, REDEEM, request(value="OWN-1", at="2026-02-05 00:00"), fmt))
    assert inside["isUsed"] == "true"


@pytest.mark.parametrize("fmt", FORMATS)
def test_issuing_the_same_code_to_the_same_customer_again_is_issued(
    client: TestClient, config: Config, shop: None, clock: FakeClock, fmt: str
) -> None:
    first = promo_block(send(client, BY_VALUE, request("C1", value="W-3"), fmt))
    clock.advance(60_000)
    before = db_snapshot(config)
    again = promo_block(send(client, BY_VALUE, request("C1", value="W-3"), fmt))
    assert again == first
    assert again["issuedDateTimeUtc"] == NOW
    assert db_snapshot(config) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_transaction_id_retry_of_a_from_pool_issue_answers_the_same_code(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    first = promo_block(send(client, FROM_WELCOME, request(), fmt, transaction_id="issue-1"))
    retry = promo_block(send(client, FROM_WELCOME, request(), fmt, transaction_id="issue-1"))
    assert retry == first
    assert first["ids"]["value"] == "W-1"
    fresh = promo_block(send(client, FROM_WELCOME, request(), fmt, transaction_id="issue-2"))
    assert fresh["ids"]["value"] == "W-2"
    other = send(client, FROM_WELCOME, request("C2"), fmt, transaction_id="issue-1")
    assert other.status_code == 409


# -------------------------------------------------------------- redeeming


@pytest.mark.parametrize("fmt", FORMATS)
def test_redeem_once_then_again_is_refused(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    promo_block(send(client, BY_VALUE, request(value="W-1"), fmt))
    redeem = request(value="W-1", point_of_contact="store-1", at="2026-01-01 08:00")
    used = promo_block(send(client, REDEEM, redeem, fmt))
    assert "issueStatus" not in used
    assert used["isUsed"] == "true"
    assert used["usedPointOfContact"] == STORE_1
    assert used["usedDateTimeUtc"] == "2026-01-01 08:00:00.000"
    message = refused_unchanged(client, config, REDEEM, redeem, fmt, VALUE_AT)
    assert "already used" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_redeem_defaults_to_now_and_takes_any_customer_id(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    promo_block(send(client, BY_VALUE, request(value="W-1"), fmt))
    tree = request(None, value="W-1")
    tree["customer"] = {"ids": {"webSiteUserId": "w1"}}
    used = promo_block(send(client, REDEEM, tree, fmt))
    assert used["usedDateTimeUtc"] == NOW
    assert "usedPointOfContact" not in used


@pytest.mark.parametrize("fmt", FORMATS)
def test_cancel_then_redeem_again_works(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    promo_block(send(client, BY_VALUE, request(value="W-1"), fmt))
    promo_block(send(client, REDEEM, request(value="W-1", point_of_contact="store-1"), fmt))
    cancelled = promo_block(send(client, CANCEL, request(value="W-1"), fmt))
    assert cancelled["isUsed"] == "false"
    assert "usedDateTimeUtc" not in cancelled and "usedPointOfContact" not in cancelled
    message = refused_unchanged(client, config, CANCEL, request(value="W-1"), fmt, VALUE_AT)
    assert "not used" in message
    again = promo_block(send(client, REDEEM, request(value="W-1", at="2026-01-05 00:00"), fmt))
    assert again["isUsed"] == "true" and again["usedDateTimeUtc"] == "2026-01-05 00:00:00.000"


@pytest.mark.parametrize("fmt", FORMATS)
def test_redemption_outside_availability_is_refused(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    put_pool(
        client, "welcome", available_from="2026-01-10 00:00", available_till="2026-01-20 00:00"
    )
    promo_block(send(client, BY_VALUE, request(value="W-1"), fmt))
    message = refused_unchanged(client, config, REDEEM, request(value="W-1"), fmt, VALUE_AT)
    assert "not available yet" in message
    late = request(value="W-1", at="2026-01-20 00:00")
    message = refused_unchanged(client, config, REDEEM, late, fmt, VALUE_AT)
    assert "no longer available" in message
    inside = request(value="W-1", at="2026-01-19 23:59:59.999")
    assert promo_block(send(client, REDEEM, inside, fmt))["isUsed"] == "true"


@pytest.mark.parametrize("fmt", FORMATS)
def test_redeem_refuses_codes_it_cannot_use(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    promo_block(send(client, BY_VALUE, request("C1", value="W-1"), fmt))
    message = refused_unchanged(client, config, REDEEM, request("C2", value="W-1"), fmt, VALUE_AT)
    assert "not issued to this customer" in message
    refused_unchanged(client, config, REDEEM, request("C1", value="W-2"), fmt, VALUE_AT)
    message = refused_unchanged(client, config, REDEEM, request(value="NOPE"), fmt, VALUE_AT)
    assert "not found" in message
    refused_unchanged(client, config, REDEEM, request("C1"), fmt, VALUE_AT)
    refused_unchanged(
        client, config, REDEEM, request(None, value="W-1"), fmt, "/operation/customer/ids"
    )
    refused_unchanged(
        client, config, REDEEM, request("NOBODY", value="W-1"), fmt, "/operation/customer/ids"
    )
    refused_unchanged(
        client,
        config,
        REDEEM,
        request(value="W-1", point_of_contact="store-9"),
        fmt,
        "/operation/pointOfContact/ids/externalId",
    )
    refused_unchanged(client, config, CANCEL, request(value="NOPE"), fmt, VALUE_AT)
    refused_unchanged(client, config, CANCEL, request("C2", value="W-1"), fmt, VALUE_AT)


@pytest.mark.parametrize("fmt", FORMATS)
def test_blocked_codes_neither_issue_nor_redeem(
    client: TestClient, config: Config, shop: None, fmt: str
) -> None:
    promo_block(send(client, BY_VALUE, request("C1", value="W-1"), fmt))
    block(client, "W-1")
    block(client, "W-2")
    message = refused_unchanged(client, config, REDEEM, request("C1", value="W-1"), fmt, VALUE_AT)
    assert "blocked" in message
    before = db_snapshot(config)
    blocked = promo_block(send(client, BY_VALUE, request("C2", value="W-2"), fmt))
    assert blocked["issueStatus"] == "NotAvailableForIssue"
    assert blocked["blockedDateTimeUtc"] == NOW
    assert db_snapshot(config) == before
    # The pool hands out the next unblocked code.
    assert promo_block(send(client, FROM_WELCOME, request("C2"), fmt))["ids"]["value"] == "W-3"
    block(client, "SUMMER")
    assert status_of(send(client, BY_VALUE, request("C3", value="SUMMER"), fmt)) == (
        "NotAvailableForIssue"
    )
    refused_unchanged(client, config, REDEEM, request("C3", value="SUMMER"), fmt, VALUE_AT)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_multi_use_code_goes_to_many_customers_each_using_it_once(
    client: TestClient, config: Config, shop: None, clock: FakeClock, fmt: str
) -> None:
    blocks = []
    for customer in ("C1", "C2", "C3"):
        blocks.append(promo_block(send(client, FROM_POOL, request(customer, pool="summer"), fmt)))
        clock.advance(1_000)
    assert {b["issueStatus"] for b in blocks} == {"Issued"}
    assert {b["ids"]["value"] for b in blocks} == {"SUMMER"}
    assert [b["issuedDateTimeUtc"] for b in blocks] == [
        "2026-01-01 00:00:00.000",
        "2026-01-01 00:00:01.000",
        "2026-01-01 00:00:02.000",
    ]
    first = promo_block(send(client, REDEEM, request("C1", value="SUMMER"), fmt))
    assert first["isUsed"] == "true"
    refused_unchanged(client, config, REDEEM, request("C1", value="SUMMER"), fmt, VALUE_AT)
    # Another customer's use is their own.
    by_value = promo_block(send(client, BY_VALUE, request("C2", value="SUMMER"), fmt))
    assert by_value["issueStatus"] == "Issued" and by_value["isUsed"] == "false"
    assert promo_block(send(client, REDEEM, request("C2", value="SUMMER"), fmt))["isUsed"] == "true"
    assert (
        promo_block(send(client, CANCEL, request("C1", value="SUMMER"), fmt))["isUsed"] == "false"
    )
    assert promo_block(send(client, REDEEM, request("C3", value="SUMMER"), fmt))["isUsed"] == "true"
    issues = db_snapshot(config)["promo_issues"]
    assert len(issues) == 3
    assert sorted(row[5] is not None for row in issues) == [False, True, True]
