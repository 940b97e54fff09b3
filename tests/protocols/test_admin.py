"""The admin API over HTTP (SPEC §4): customers, balance changes, refunds,
reference data, jobs, and every refusal leaving the ledger untouched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import pointkeeper.protocols.admin as admin_package
from pointkeeper.config import Config
from pointkeeper.protocols.admin.routes import balance_change_fingerprint
from pointkeeper.protocols.admin.schemas import BalanceChangeIn
from pointkeeper.protocols.fingerprint import request_fingerprint
from tests.conftest import (
    ADMIN_TOKEN,
    CP_TOKEN,
    PROGRAM,
    FakeClock,
    admin_headers,
    db_snapshot,
)

DAY_MS = 86_400_000
CUSTOMER = "CPOL-123185"
BALANCE_CHANGES = f"/admin/v1/customers/{CUSTOMER}/balance-changes"


def put_customer(client: TestClient, number: str = CUSTOMER, **fields: Any) -> Any:
    return client.put(f"/admin/v1/customers/{number}", json=fields, headers=admin_headers())


def change(client: TestClient, body: Any, number: str = CUSTOMER) -> Any:
    return client.post(
        f"/admin/v1/customers/{number}/balance-changes", json=body, headers=admin_headers()
    )


def balances(client: TestClient, number: str = CUSTOMER) -> dict[str, int]:
    answer = client.get(f"/admin/v1/customers/{number}", headers=admin_headers())
    assert answer.status_code == 200, answer.text
    figures: dict[str, int] = answer.json()["balances"]
    return figures


def figures(balance: int, *, holds: int = 0, pending: int = 0) -> dict[str, int]:
    return {
        "pointBalance": balance,
        "openAuthorizations": holds,
        "availablePointBalance": balance - holds,
        "pendingPointsEarned": pending,
        "blockedValue": holds + pending,
    }


def error(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    return body["error"]


@pytest.fixture
def customer(client: TestClient) -> str:
    """An enrolled customer holding 100 points."""
    assert put_customer(client, program=PROGRAM).status_code == 200
    assert change(client, {"changeAmount": 100}).status_code == 201
    return CUSTOMER


@pytest.fixture
def other_customer(client: TestClient) -> str:
    """A second customer, whose websiteId is taken."""
    assert put_customer(client, "OTHER", websiteId="taken").status_code == 200
    return "OTHER"


@pytest.fixture
def unchanged(client: TestClient, config: Config, customer: str) -> Iterator[None]:
    """Asserts that the test's requests changed no row and no figure."""
    before = db_snapshot(config)
    yield
    assert balances(client) == figures(100)
    assert db_snapshot(config) == before


def test_the_package_lists_its_public_names() -> None:
    assert admin_package.__all__ == ["create_admin_app"]
    assert all(hasattr(admin_package, name) for name in admin_package.__all__)


# -- customers ---------------------------------------------------------------


def test_put_creates_an_enrolled_customer_and_get_shows_it(client: TestClient) -> None:
    answer = put_customer(
        client,
        websiteId="web-1",
        email="ann@example.com",
        mobilePhone="+15550100",
        firstName="Ann",
        lastName="Lee",
        program=PROGRAM,
    )
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert isinstance(created["customerId"], int)
    assert created == {
        "customerId": created["customerId"],
        "customerNumber": CUSTOMER,
        "websiteId": "web-1",
        "email": "ann@example.com",
        "mobilePhone": "+15550100",
        "firstName": "Ann",
        "lastName": "Lee",
        "program": PROGRAM,
        "status": "active",
        "balances": figures(0),
    }
    fetched = client.get(f"/admin/v1/customers/{CUSTOMER}", headers=admin_headers())
    assert (fetched.status_code, fetched.json()) == (200, created)


def test_put_changes_only_the_given_fields_and_null_clears(client: TestClient) -> None:
    first = put_customer(client, email="ann@example.com", firstName="Ann").json()
    assert (first["program"], first["status"]) == (None, None)
    assert put_customer(client).json() == first
    answer = put_customer(client, firstName=None, lastName="Lee", status="inactive")
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert updated["customerId"] == first["customerId"]
    assert (updated["email"], updated["firstName"], updated["lastName"]) == (
        "ann@example.com",
        None,
        "Lee",
    )
    assert updated["status"] == "inactive"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"program": "No such program"}, 400, "invalid_request", "program"),
        ({"program": None}, 400, "invalid_request", "program"),
        ({"status": "asleep"}, 400, "invalid_request", "status"),
        ({"email": 5}, 400, "invalid_request", "email"),
        ({"email": ""}, 400, "invalid_request", "email"),
        ({"nickname": "Annie"}, 400, "invalid_request", "nickname"),
        ({"websiteId": "taken"}, 409, "conflict", "websiteId"),
    ],
)
def test_put_customer_refusals(
    client: TestClient,
    other_customer: str,
    unchanged: None,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    answer = put_customer(client, **body)
    assert answer.status_code == status, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == (code, field)


def test_unknown_customer_is_404(client: TestClient, unchanged: None) -> None:
    answer = client.get("/admin/v1/customers/NOBODY", headers=admin_headers())
    assert answer.status_code == 404
    assert error(answer)["code"] == "customer_not_found"
    assert change(client, {"changeAmount": 5}, number="NOBODY").status_code == 404


# -- balance changes ---------------------------------------------------------


def test_credits_and_debits_answer_the_new_balances(client: TestClient, customer: str) -> None:
    answer = change(client, {"changeAmount": 50, "comment": "goodwill"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body == {"customerId": body["customerId"], "recorded": True, "balances": figures(150)}
    answer = change(client, {"changeAmount": -120, "kind": "RetailOrderPayment"})
    assert (answer.status_code, answer.json()["balances"]) == (201, figures(30))
    assert balances(client) == figures(30)


def test_pending_credits_count_as_blocked_until_available(
    client: TestClient, customer: str, clock: FakeClock
) -> None:
    answer = change(
        client, {"changeAmount": 40, "availableFromDateTimeUtc": "2026-01-03T00:00:00.000Z"}
    )
    assert answer.json()["balances"] == figures(100, pending=40)
    clock.advance(3 * DAY_MS)
    run = client.post("/admin/v1/jobs/run", headers=admin_headers())
    assert run.json()["creditsActivated"] == 1
    assert balances(client) == figures(140)


def test_dates_accept_offsets_and_naive_utc(client: TestClient, customer: str) -> None:
    for body in (
        {"changeAmount": 1, "dateTimeUtc": "2025-12-31T10:00:00"},
        {"changeAmount": 1, "dateTimeUtc": "2025-12-31T12:00:00+02:00"},
        {"changeAmount": 1, "expirationDateTimeUtc": "2027-01-01T00:00:00.000Z"},
    ):
        answer = change(client, body)
        assert answer.status_code == 201, answer.text
    assert balances(client) == figures(103)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"changeAmount": 1.0}, "changeAmount"),
        ({"changeAmount": 1.5}, "changeAmount"),
        ({"changeAmount": "10"}, "changeAmount"),
        ({"changeAmount": True}, "changeAmount"),
        ({"changeAmount": None}, "changeAmount"),
        ({"changeAmount": 0}, "changeAmount"),
        ({"changeAmount": 10**13}, "changeAmount"),
        ({}, "changeAmount"),
        ({"changeAmount": 5, "points": 5}, "points"),
        ({"changeAmount": 5, "dateTimeUtc": "yesterday"}, "dateTimeUtc"),
        ({"changeAmount": 5, "dateTimeUtc": "2026-13-01T00:00:00Z"}, "dateTimeUtc"),
        ({"changeAmount": 5, "dateTimeUtc": 1767225600}, "dateTimeUtc"),
        ({"changeAmount": 5, "expirationDateTimeUtc": "2025-01-01T00:00:00Z"}, None),
        ({"changeAmount": -5, "expirationDateTimeUtc": "2027-01-01T00:00:00Z"}, None),
        ({"changeAmount": 5, "kind": "Expired"}, "kind"),
        ({"changeAmount": 5, "kind": "no spaces"}, "kind"),
        ({"changeAmount": 5, "transactionId": 7}, "transactionId"),
        ({"changeAmount": 5, "comment": "x" * 1001}, "comment"),
        ([5], None),
    ],
)
def test_bad_balance_changes_are_400(
    client: TestClient, unchanged: None, body: Any, field: str | None
) -> None:
    answer = change(client, body)
    assert answer.status_code == 400, answer.text
    found = error(answer)
    assert found["code"] == "invalid_request"
    if field is not None:
        assert found["field"] == field


def test_malformed_json_is_400(client: TestClient, unchanged: None) -> None:
    json_type = {"Content-Type": "application/json"}
    for raw, headers, code in (
        (b'{"changeAmount": 5', json_type, "malformed_json"),
        (b"\xff\xfe", json_type, "malformed_json"),
        (b"", json_type, "invalid_request"),
        (b"null", json_type, "invalid_request"),
        (b'{"changeAmount": 5}', {"Content-Type": "text/plain"}, "invalid_request"),
    ):
        answer = client.post(BALANCE_CHANGES, content=raw, headers={**admin_headers(), **headers})
        assert answer.status_code == 400, answer.text
        assert (error(answer)["code"], error(answer)["field"]) == (code, None)


def test_a_debit_above_the_available_balance_is_409(client: TestClient, unchanged: None) -> None:
    answer = change(client, {"changeAmount": -101})
    assert answer.status_code == 409
    assert error(answer)["code"] == "insufficient_balance"


def test_unknown_references_are_404(client: TestClient, unchanged: None) -> None:
    for body, field in (
        ({"changeAmount": 5, "pointOfContact": "nowhere"}, "pointOfContact"),
        ({"changeAmount": 5, "actionTemplate": "No.Such"}, "actionTemplate"),
    ):
        answer = change(client, body)
        assert answer.status_code == 404, answer.text
        assert error(answer)["field"] == field


def test_a_customer_outside_a_program_cannot_change_balance(client: TestClient) -> None:
    put_customer(client, "LOOSE", email="loose@example.com")
    answer = change(client, {"changeAmount": 5}, number="LOOSE")
    assert (answer.status_code, error(answer)["code"]) == (400, "not_enrolled")
    assert balances(client, "LOOSE") == figures(0)


def test_a_transaction_id_replay_records_nothing(
    client: TestClient, config: Config, customer: str
) -> None:
    body = {"changeAmount": 25, "transactionId": "tx-1", "comment": "once"}
    first = change(client, body)
    assert (first.status_code, first.json()["recorded"]) == (201, True)
    before = db_snapshot(config)
    again = change(client, body)
    assert again.status_code == 201
    assert again.json() == {**first.json(), "recorded": False}
    assert db_snapshot(config) == before
    other = change(client, {**body, "changeAmount": 26})
    assert (other.status_code, error(other)["code"]) == (409, "duplicate_transaction")
    assert db_snapshot(config) == before
    assert balances(client) == figures(125)


def test_a_replay_is_known_by_its_wire_fields_however_written(
    client: TestClient, config: Config, customer: str
) -> None:
    body = {
        "changeAmount": 25,
        "transactionId": "tx-w",
        "comment": "once",
        "expirationDateTimeUtc": "2027-01-01T00:00:00Z",
    }
    assert change(client, body).json()["recorded"] is True
    before = db_snapshot(config)
    # Keys in another order, the default kind spelt out, null for a field
    # left out, the same instant at another offset: the same request.
    same = {
        "kind": "Custom",
        "expirationDateTimeUtc": "2027-01-01T03:00:00+03:00",
        "pointOfContact": None,
        "comment": "once",
        "transactionId": "tx-w",
        "changeAmount": 25,
    }
    again = change(client, same)
    assert (again.status_code, again.json()["recorded"]) == (201, False)
    assert db_snapshot(config) == before


def test_the_idempotency_fingerprint_is_a_hash_of_the_wire_fields_only() -> None:
    """Pinned: a retry sent before an upgrade must be a retry after it, so the
    fingerprint may depend on nothing but what the caller sent (not on the
    server's Python names or defaults), and its form may never change."""
    body = BalanceChangeIn.model_validate(
        {
            "changeAmount": -40,
            "comment": "order 7",
            "transactionId": "tx-9",
            "dateTimeUtc": "2026-03-01T10:00:00+01:00",
        }
    )
    wire = {
        "customerNumber": "CPOL-1",
        "changeAmount": -40,
        "kind": "Custom",
        "comment": "order 7",
        "dateTimeUtc": "2026-03-01T09:00:00Z",
        "transactionId": "tx-9",
    }
    assert balance_change_fingerprint("CPOL-1", body) == request_fingerprint(
        "admin/balance-changes", wire
    )
    assert balance_change_fingerprint("CPOL-1", body) == (
        "e8dcd40480554d3705e83565a93981756f5f04f7d116c812bad62067e8ffe27b"
    )


# -- refunds -----------------------------------------------------------------


def _last_change_id(config: Config) -> int:
    rows = db_snapshot(config)["balance_changes"]
    return max(int(row[0]) for row in rows)


def test_a_refund_restores_the_balance_once(
    client: TestClient, config: Config, customer: str
) -> None:
    assert change(client, {"changeAmount": -60}).status_code == 201
    debit_id = _last_change_id(config)
    assert balances(client) == figures(40)
    url = f"/admin/v1/balance-changes/{debit_id}/refund"
    answer = client.post(url, json={"comment": "order cancelled"}, headers=admin_headers())
    assert answer.status_code == 201, answer.text
    assert answer.json()["refundChangeId"] > debit_id
    assert balances(client) == figures(100)
    again = client.post(url, headers=admin_headers())
    assert (again.status_code, error(again)["code"]) == (409, "conflict")
    assert balances(client) == figures(100)


def test_refund_refusals(client: TestClient, config: Config, unchanged: None) -> None:
    credit_id = _last_change_id(config)
    for url, status in (
        (f"/admin/v1/balance-changes/{credit_id}/refund", 400),
        ("/admin/v1/balance-changes/999999/refund", 404),
        ("/admin/v1/balance-changes/abc/refund", 400),
    ):
        answer = client.post(url, headers=admin_headers())
        assert answer.status_code == status, answer.text
    answer = client.post(
        f"/admin/v1/balance-changes/{credit_id}/refund", json={"why": 1}, headers=admin_headers()
    )
    assert (answer.status_code, error(answer)["field"]) == (400, "why")


# -- reference data ----------------------------------------------------------


def test_points_of_contact_and_templates_are_upserted_and_usable(
    client: TestClient, customer: str
) -> None:
    url = "/admin/v1/points-of-contact/store-7"
    answer = client.put(url, json={"name": "Store 7"}, headers=admin_headers())
    assert (answer.status_code, answer.json()) == (
        200,
        {"externalId": "store-7", "name": "Store 7"},
    )
    answer = client.put(url, json={"name": "Store seven"}, headers=admin_headers())
    assert answer.json()["name"] == "Store seven"
    url = "/admin/v1/action-templates/Shop.Goodwill"
    answer = client.put(url, json={"name": "Goodwill"}, headers=admin_headers())
    assert (answer.status_code, answer.json()) == (
        200,
        {"systemName": "Shop.Goodwill", "name": "Goodwill"},
    )
    body = {"changeAmount": 5, "pointOfContact": "store-7", "actionTemplate": "Shop.Goodwill"}
    assert change(client, body).status_code == 201
    assert balances(client) == figures(105)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/admin/v1/points-of-contact/store-7", {}),
        ("/admin/v1/points-of-contact/store-7", {"name": ""}),
        ("/admin/v1/points-of-contact/store-7", {"name": 7}),
        ("/admin/v1/action-templates/has%20space", {"name": "x"}),
        ("/admin/v1/action-templates/Shop.Goodwill", {"name": "x", "extra": 1}),
    ],
)
def test_bad_reference_data_is_400(
    client: TestClient, unchanged: None, url: str, body: dict[str, Any]
) -> None:
    answer = client.put(url, json=body, headers=admin_headers())
    assert answer.status_code == 400, answer.text
    assert error(answer)["code"] == "invalid_request"


# -- jobs --------------------------------------------------------------------


def test_jobs_run_expires_a_credit_once_its_time_has_passed(
    client: TestClient, customer: str, clock: FakeClock
) -> None:
    body = {"changeAmount": 30, "expirationDateTimeUtc": "2026-01-02T00:00:00.000Z"}
    assert change(client, body).status_code == 201
    quiet = client.post("/admin/v1/jobs/run", headers=admin_headers())
    assert quiet.json() == {
        "holdsExpired": 0,
        "lotsExpired": 0,
        "pointsExpired": 0,
        "creditsActivated": 0,
        "asyncOperations": 0,
        "pruned": 0,
    }
    clock.advance(2 * DAY_MS)
    answer = client.post("/admin/v1/jobs/run", headers=admin_headers())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "holdsExpired": 0,
        "lotsExpired": 1,
        "pointsExpired": 30,
        "creditsActivated": 0,
        "asyncOperations": 0,
        "pruned": 0,
    }
    assert balances(client) == figures(100)


# -- auth and body size ------------------------------------------------------

_calls = [
    ("PUT", f"/admin/v1/customers/{CUSTOMER}", {"firstName": "Mallory"}),
    ("GET", f"/admin/v1/customers/{CUSTOMER}", None),
    ("POST", BALANCE_CHANGES, {"changeAmount": 5}),
    ("POST", BALANCE_CHANGES, {"changeAmount": "malformed"}),
    ("POST", "/admin/v1/balance-changes/1/refund", None),
    ("PUT", "/admin/v1/points-of-contact/p", {"name": "P"}),
    ("PUT", "/admin/v1/action-templates/T", {"name": "T"}),
    ("POST", "/admin/v1/jobs/run", None),
    ("GET", "/admin/v1/no-such-path", None),
]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Bearer {CP_TOKEN}", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN, "Bearer "],
)
def test_requests_without_the_admin_token_are_401(
    client: TestClient, unchanged: None, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in _calls:
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (method, path)
        assert answer.json() == {
            "error": {"code": "unauthorized", "message": "Not Authorized", "field": None}
        }
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_bodies_over_the_limit_are_413(client: TestClient, config: Config, unchanged: None) -> None:
    limit = config.server.body_bytes_max
    padded = b'{"changeAmount": 5, "comment": "' + b"x" * limit + b'"}'
    answer = client.post(
        BALANCE_CHANGES,
        content=padded,
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert (answer.status_code, error(answer)["code"]) == (413, "payload_too_large")

    def streamed() -> Iterator[bytes]:
        # No Content-Length: the limit is enforced as the chunks arrive.
        yield padded[: limit // 2]
        yield padded[limit // 2 :]

    answer = client.post(
        BALANCE_CHANGES,
        content=streamed(),
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert (answer.status_code, error(answer)["code"]) == (413, "payload_too_large")


def test_a_body_just_under_the_limit_is_read(
    client: TestClient, config: Config, customer: str
) -> None:
    limit = config.server.body_bytes_max
    prefix = b'{"changeAmount": 5, "comment": "'
    padded = prefix + b" " * (limit - len(prefix) - len(b'"}') - 1) + b'"}'
    answer = client.post(
        BALANCE_CHANGES,
        content=padded,
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    # Read whole and validated: the comment is over its own, smaller limit.
    assert (answer.status_code, error(answer)["field"]) == (400, "comment")


# -- the OpenAPI document ----------------------------------------------------


def test_the_openapi_document_and_docs_are_served_under_admin(client: TestClient) -> None:
    answer = client.get("/admin/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert {"/v1/customers/{customerNumber}", "/v1/jobs/run"} <= set(document["paths"])
    assert set(document["paths"]) == {
        "/v1/customers/{customerNumber}",
        "/v1/customers/{customerNumber}/balance-changes",
        "/v1/balance-changes/{balanceChangeId}/refund",
        "/v1/points-of-contact/{externalId}",
        "/v1/action-templates/{systemName}",
        "/v1/jobs/run",
        "/v1/async-operations",
        "/v1/segments/{externalId}",
        "/v1/segments/{externalId}/members",
        "/v1/segments/{externalId}/members/{customerNumber}",
        "/v1/pools/{externalId}",
        "/v1/pools/{externalId}/codes",
        "/v1/pools/{externalId}/codes/generate",
        "/v1/promo-codes/{value}/block",
    }
    assert document["servers"] == [{"url": "/admin"}]
    assert document["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
    assert set(document["paths"]["/v1/customers/{customerNumber}"]) == {"get", "put"}
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]
            assert "400" in operation["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    docs = client.get("/admin/docs")
    assert docs.status_code == 200
    assert "/admin/openapi.json" in docs.text
