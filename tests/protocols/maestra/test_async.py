"""``POST /v3/operations/async`` (SPEC §3): the call is stored durably and
answered with Success at once; the jobs execute it exactly once and its
outcome shows in the admin API."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper.config import Config
from tests.conftest import FakeClock, db_snapshot

from .conftest import (
    CHANGE,
    EXPORT,
    FORMATS,
    OTHER_ENDPOINT,
    OTHER_KEY,
    REGISTER,
    admin,
    answer,
    async_calls,
    balance_of,
    call,
    put_customer,
    run_jobs,
)

CREDIT: dict[str, Any] = {
    "xml": "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
    "<balanceChanges><balanceChange><changeAmount>5</changeAmount></balanceChange>"
    "</balanceChanges></operation>",
    "json": {
        "customer": {"ids": {"customerNumber": "C1"}},
        "balanceChanges": [{"changeAmount": 5}],
    },
}


@pytest.fixture
def shop(client: TestClient, clock: FakeClock) -> TestClient:
    """C1 (webSiteId w1) holds 100 points."""
    put_customer(client, "C1", websiteId="w1")
    admin(client, "POST", "/customers/C1/balance-changes", {"changeAmount": 100})
    return client


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_async_call_is_stored_then_executed_once(
    shop: TestClient, clock: FakeClock, fmt: str
) -> None:
    response = call(shop, CHANGE, CREDIT[fmt], fmt=fmt, transaction_id="a-1", mode="async")
    assert response.status_code == 200, response.text
    if fmt == "json":
        assert response.json() == {"status": "Success"}
    else:
        root = ET.fromstring(response.content)
        assert root.tag == "result"
        assert [(child.tag, child.text) for child in root] == [("status", "Success")]
    # Stored, not executed yet.
    assert balance_of(shop, "C1") == 100
    [queued] = async_calls(shop, "a-1")
    assert queued["status"] == "queued"
    assert queued["endpointId"] == "shop-web"
    assert queued["operation"] == CHANGE
    assert queued["attempts"] == 0
    assert queued["result"] is None
    assert queued["finishedAt"] is None

    clock.advance(1_000)
    assert run_jobs(shop)["asyncOperations"] == 1
    assert balance_of(shop, "C1") == 105
    [done] = async_calls(shop, "a-1")
    assert done["status"] == "done"
    assert done["attempts"] == 1
    assert done["error"] is None
    assert done["finishedAt"] is not None
    assert done["result"] == {
        "status": "Success",
        "customer": {
            "ids": {"customerId": 1, "mindboxId": 1, "customerNumber": "C1", "webSiteUserId": "w1"}
        },
        "balances": [
            {
                "totalValue": 105,
                "availableValue": 105,
                "blockedValue": 0,
                "balanceType": {"ids": {"systemName": "Points"}, "name": "Points"},
            }
        ],
    }

    # Running the jobs again executes nothing.
    for _ in range(3):
        clock.advance(60_000)
        assert run_jobs(shop)["asyncOperations"] == 0
    assert balance_of(shop, "C1") == 105
    assert async_calls(shop, "a-1") == [done]


def test_a_refused_async_call_ends_failed_with_its_validation_error(
    shop: TestClient, config: Config
) -> None:
    too_much = {
        "customer": {"ids": {"customerNumber": "C1"}},
        "balanceChanges": [{"changeAmount": -1_000}],
    }
    unknown = {
        "customer": {"ids": {"customerNumber": "C9"}},
        "balanceChanges": [{"changeAmount": 1}],
    }
    for transaction_id, body in (("a-much", too_much), ("a-unknown", unknown)):
        response = call(shop, CHANGE, body, fmt="json", transaction_id=transaction_id, mode="async")
        assert response.json() == {"status": "Success"}
    assert run_jobs(shop)["asyncOperations"] == 2
    [much] = async_calls(shop, "a-much")
    assert much["status"] == "failed"
    assert much["result"] == {
        "status": "ValidationError",
        "validationMessages": [
            {
                "message": "The debit is larger than the available balance",
                "location": "/operation/balanceChanges/balanceChange/changeAmount",
            }
        ],
    }
    [missing] = async_calls(shop, "a-unknown")
    assert missing["status"] == "failed"
    assert missing["result"]["status"] == "ValidationError"
    assert missing["result"]["validationMessages"][0]["location"] == "/operation/customer/ids"
    assert balance_of(shop, "C1") == 100
    # A refusal is final: later runs leave it failed and change nothing.
    before = db_snapshot(config)
    assert run_jobs(shop)["asyncOperations"] == 0
    assert db_snapshot(config) == before


def test_a_request_invalid_in_itself_is_refused_before_it_is_stored(
    shop: TestClient, config: Config
) -> None:
    before = db_snapshot(config)
    body = {
        "customer": {"ids": {"customerNumber": "C1"}},
        "balanceChanges": [{"changeAmount": "x"}],
    }
    response = call(shop, CHANGE, body, fmt="json", transaction_id="a-bad", mode="async")
    assert response.status_code == 200
    assert answer(response) == {
        "status": "ValidationError",
        "validationMessages": [
            {
                "message": "must be an integer",
                "location": "/operation/balanceChanges/balanceChange/changeAmount",
            }
        ],
    }
    assert db_snapshot(config) == before
    assert async_calls(shop, "a-bad") == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_async_export_is_refused(shop: TestClient, config: Config, fmt: str) -> None:
    body: str | dict[str, str] = (
        {"sinceDateTimeUtc": "2025-01-01 00:00", "tillDateTimeUtc": "2027-01-01 00:00"}
        if fmt == "json"
        else "<operation><sinceDateTimeUtc>2025-01-01 00:00</sinceDateTimeUtc>"
        "<tillDateTimeUtc>2027-01-01 00:00</tillDateTimeUtc></operation>"
    )
    before = db_snapshot(config)
    response = call(shop, EXPORT, body, fmt=fmt, transaction_id="a-export", mode="async")
    assert response.status_code == 400, response.text
    tree = answer(response)
    assert tree["status"] == "ProtocolError"
    assert tree["errorMessage"]
    assert db_snapshot(config) == before
    assert async_calls(shop, "a-export") == []


@pytest.mark.parametrize(
    ("case", "status"),
    [("wrong key", 401), ("unknown operation", 400), ("not allowed", 403), ("malformed", 400)],
)
def test_async_protocol_errors_are_answered_at_once(
    shop: TestClient, config: Config, case: str, status: int
) -> None:
    kwargs: dict[str, Any] = {"fmt": "xml", "transaction_id": "a-x", "mode": "async"}
    operation, body = CHANGE, CREDIT["xml"]
    if case == "wrong key":
        kwargs["key"] = OTHER_KEY
    elif case == "unknown operation":
        operation = "Nope"
    elif case == "not allowed":
        operation, kwargs["endpoint"], kwargs["key"] = REGISTER, OTHER_ENDPOINT, OTHER_KEY
    else:
        body = "<operation><customer>"
    before = db_snapshot(config)
    response = call(shop, operation, body, **kwargs)
    assert response.status_code == status, response.text
    assert answer(response)["status"] == "ProtocolError"
    assert db_snapshot(config) == before


def test_an_async_retry_is_stored_once_and_a_different_request_is_409(
    shop: TestClient, config: Config
) -> None:
    first = call(shop, CHANGE, CREDIT["json"], fmt="json", transaction_id="a-1", mode="async")
    assert first.json() == {"status": "Success"}
    stored = db_snapshot(config)
    # The same call again, also in the other format: the same call.
    for fmt in ("json", "xml"):
        again = call(shop, CHANGE, CREDIT[fmt], fmt=fmt, transaction_id="a-1", mode="async")
        assert answer(again) == {"status": "Success"}
    assert db_snapshot(config) == stored
    other = {"customer": {"ids": {"customerNumber": "C1"}}, "balanceChanges": [{"changeAmount": 6}]}
    conflict = call(shop, CHANGE, other, fmt="json", transaction_id="a-1", mode="async")
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["status"] == "ProtocolError"
    assert db_snapshot(config) == stored
    run_jobs(shop)
    assert len(async_calls(shop, "a-1")) == 1
    assert balance_of(shop, "C1") == 105
    # After it ran, a retry is still the same call and runs nothing more.
    call(shop, CHANGE, CREDIT["json"], fmt="json", transaction_id="a-1", mode="async")
    run_jobs(shop)
    assert balance_of(shop, "C1") == 105


def test_async_ids_are_per_endpoint(shop: TestClient) -> None:
    call(shop, CHANGE, CREDIT["json"], fmt="json", transaction_id="a-1", mode="async")
    call(
        shop,
        CHANGE,
        CREDIT["json"],
        fmt="json",
        transaction_id="a-1",
        mode="async",
        endpoint=OTHER_ENDPOINT,
        key=OTHER_KEY,
    )
    assert run_jobs(shop)["asyncOperations"] == 2
    calls = async_calls(shop, "a-1")
    assert sorted(entry["endpointId"] for entry in calls) == [OTHER_ENDPOINT, "shop-web"]
    assert all(entry["status"] == "done" for entry in calls)
    assert balance_of(shop, "C1") == 110


@pytest.mark.parametrize("sync_first", [True, False], ids=["sync first", "async first"])
def test_sync_and_async_under_one_id_run_once(shop: TestClient, sync_first: bool) -> None:
    def sync() -> Any:
        return call(shop, CHANGE, CREDIT["json"], fmt="json", transaction_id="a-1")

    if sync_first:
        kept = sync()
    call(shop, CHANGE, CREDIT["json"], fmt="json", transaction_id="a-1", mode="async")
    run_jobs(shop)
    if not sync_first:
        kept = sync()
    assert balance_of(shop, "C1") == 105
    [done] = async_calls(shop, "a-1")
    assert done["status"] == "done"
    # Both answers are the one kept result.
    assert done["result"] == kept.json()


def test_async_calls_without_an_id_each_run(shop: TestClient) -> None:
    for _ in range(3):
        response = call(shop, CHANGE, CREDIT["xml"], mode="async")
        assert answer(response) == {"status": "Success"}
    assert balance_of(shop, "C1") == 100
    assert run_jobs(shop)["asyncOperations"] == 3
    assert run_jobs(shop)["asyncOperations"] == 0
    assert balance_of(shop, "C1") == 115
