"""The CP Extender loyalty REST API over HTTP (seed 001, SPEC §2)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper import limits
from pointkeeper.config import Config
from tests.conftest import (
    ADMIN_TOKEN,
    CP_TOKEN,
    PROGRAM,
    USER_PASSWORD,
    FakeClock,
    admin_headers,
    cp_headers,
    db_snapshot,
)

DAY_MS = 86_400_000


def enroll(client: TestClient, number: str, **fields: Any) -> None:
    answer = client.put(
        f"/admin/v1/customers/{number}",
        json={"program": PROGRAM, **fields},
        headers=admin_headers(),
    )
    assert answer.status_code == 200, answer.text


def credit(client: TestClient, number: str, points: int, **fields: Any) -> None:
    answer = client.post(
        f"/admin/v1/customers/{number}/balance-changes",
        json={"changeAmount": points, **fields},
        headers=admin_headers(),
    )
    assert answer.status_code == 201, answer.text


def earn(client: TestClient, number: str, points: Any, reference: str = "r1") -> Any:
    return client.post(
        "/Loyalty/Earn",
        json={"CustomerNumber": number, "Points": points, "Reason": "test", "Reference": reference},
        headers=cp_headers(),
    )


def authorize(client: TestClient, number: str, points: int, sale: str = "S1") -> Any:
    return client.post(
        "/Loyalty/Authorize",
        json={"Type": "loyalty", "Ref": number, "SaleId": sale, "RequestedPoints": points},
        headers=cp_headers(),
    )


def loyalty(client: TestClient, number: str, **params: str) -> dict[str, Any]:
    answer = client.get(f"/Loyalty/{number}/BalanceCheck", params=params, headers=cp_headers())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()["Loyalty"]
    return body


def test_the_seed_example_gives_the_seed_balance_and_history(client: TestClient) -> None:
    enroll(client, "CPOL-123185")
    credit(client, "CPOL-123185", 1404, dateTimeUtc="2015-11-29T10:15:00Z")
    answer = client.post(
        "/Loyalty/Earn",
        json={
            "CustomerNumber": "CPOL-123185",
            "Points": 100,
            "Reason": "Facebook Share",
            "Reference": "123456789",
        },
        headers=cp_headers(),
    )
    assert answer.status_code == 204
    answer = client.post(
        "/Loyalty/Authorize",
        json={
            "Type": "loyalty",
            "Ref": "CPOL-123185",
            "SaleId": "WB-101-10444",
            "RequestedPoints": 1000,
            "Location": "Web Order",
        },
        headers=cp_headers(),
    )
    assert answer.status_code == 200
    authorization = answer.json()
    assert authorization.pop("AuthCode")
    assert authorization == {
        "Type": "loyalty",
        "Ref": "CPOL-123185",
        "SaleId": "WB-101-10444",
        "RequestedPoints": 1000,
        "Location": "Web Order",
    }

    assert loyalty(client, "CPOL-123185") == {
        "CustomerNumber": "CPOL-123185",
        "ProgramName": PROGRAM,
        "EarningDescription": "1 point per dollar",
        "RedemptionDescription": "100 points = $1",
        "Status": "active",
        "PointBalance": 1504,
        "OpenAuthorizations": 1000,
        "PendingPointsEarned": 0,
        "AvailablePointBalance": 504,
        "History": [
            {"Activity": "Historical Summary", "Date": "11/29/2015", "PointAmount": 1404},
            {
                "Date": "01/01/2026",
                "PointAmount": 100,
                "Document": "123456789",
                "Reason": "Facebook Share",
            },
            {
                "Activity": "Pending Charge",
                "Date": "01/01/2026",
                "PointAmount": 1000,
                "Location": "Web Order",
                "Document": "WB-101-10444",
            },
        ],
    }


def test_connection_status_needs_no_token(client: TestClient) -> None:
    answer = client.get("/Connection/Status")
    assert (answer.status_code, answer.json()) == (200, {"Status": "Ok"})


def test_sso_login_token_works_until_it_expires(client: TestClient, clock: FakeClock) -> None:
    enroll(client, "C1")
    answer = client.post("/SSO/Login", json={"UserName": "web", "Password": USER_PASSWORD})
    assert answer.status_code == 200
    headers = {"Authorization": f"Bearer {answer.json()['APItoken']}"}
    assert client.get("/Loyalty/C1/BalanceCheck", headers=headers).status_code == 200
    clock.advance(3601 * 1000)
    answer = client.get("/Loyalty/C1/BalanceCheck", headers=headers)
    assert (answer.status_code, answer.json()) == (401, {"Message": "Not Authorized"})


@pytest.mark.parametrize(
    "body",
    [
        {"UserName": "web", "Password": "wrong"},
        {"UserName": "nobody", "Password": USER_PASSWORD},
        {"UserName": "web"},
        {"UserName": 1, "Password": USER_PASSWORD},
        [],
    ],
)
def test_bad_login_is_not_authorized(client: TestClient, body: Any) -> None:
    answer = client.post("/SSO/Login", json=body)
    assert (answer.status_code, answer.json()) == (401, {"Message": "Not Authorized"})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": CP_TOKEN},
        {"Authorization": f"Basic {CP_TOKEN}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"Authorization": "Bearer a.b.c"},
    ],
)
def test_every_loyalty_method_refuses_a_bad_token(
    client: TestClient, config: Config, headers: dict[str, str]
) -> None:
    enroll(client, "C1")
    credit(client, "C1", 500)
    before = db_snapshot(config)
    calls = [
        ("POST", "/Loyalty/Earn", {"CustomerNumber": "C1", "Points": 5}),
        ("GET", "/Loyalty/C1/BalanceCheck", None),
        (
            "POST",
            "/Loyalty/Authorize",
            {"Type": "loyalty", "Ref": "C1", "SaleId": "S", "RequestedPoints": 5},
        ),
        ("POST", "/Authorize/Confirm", {"Ref": "C1", "AuthCode": "x"}),
        ("POST", "/Authorize/Cancel", {"Ref": "C1", "AuthCode": "x"}),
    ]
    for method, path, body in calls:
        answer = client.request(method, path, json=body, headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"Message": "Not Authorized"})
    assert db_snapshot(config) == before


def test_the_cp_token_does_not_open_the_admin_api(client: TestClient) -> None:
    answer = client.get("/admin/v1/customers/C1", headers=cp_headers())
    assert answer.status_code == 401


def test_earn_is_idempotent_on_reference(client: TestClient, config: Config) -> None:
    enroll(client, "C1")
    assert earn(client, "C1", 100, "ref-1").status_code == 204
    before = db_snapshot(config)
    assert earn(client, "C1", 100, "ref-1").status_code == 204
    assert db_snapshot(config) == before
    answer = earn(client, "C1", 101, "ref-1")
    assert answer.status_code == 409
    assert db_snapshot(config) == before
    assert loyalty(client, "C1")["PointBalance"] == 100


def test_the_same_reference_for_two_customers_is_two_earns(client: TestClient) -> None:
    enroll(client, "C1")
    enroll(client, "C2")
    assert earn(client, "C1", 10, "shared").status_code == 204
    assert earn(client, "C2", 20, "shared").status_code == 204
    assert loyalty(client, "C1")["PointBalance"] == 10
    assert loyalty(client, "C2")["PointBalance"] == 20


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b"",
        b'{"CustomerNumber": "C1"}',
        b'{"Points": 5}',
        b'{"CustomerNumber": 17, "Points": 5}',
        b'{"CustomerNumber": "C1", "Points": 1.5}',
        b'{"CustomerNumber": "C1", "Points": 5.0}',
        b'{"CustomerNumber": "C1", "Points": "5"}',
        b'{"CustomerNumber": "C1", "Points": true}',
        b'{"CustomerNumber": "C1", "Points": 0}',
        b'{"CustomerNumber": "C1", "Points": -5}',
        b'{"CustomerNumber": "C1", "Points": 1000000000001}',
        b'{"CustomerNumber": "C1", "Points": 5, "Reference": 7}',
        b'{"CustomerNumber": "C1", "Points": 5, "Reason": ["x"]}',
        b'{"CustomerNumber": "C1", "Points": 5, "Reference": "' + b"r" * 201 + b'"}',
    ],
)
def test_a_bad_earn_body_is_400_and_changes_nothing(
    client: TestClient, config: Config, body: bytes
) -> None:
    enroll(client, "C1")
    before = db_snapshot(config)
    answer = client.post(
        "/Loyalty/Earn",
        content=body,
        headers={**cp_headers(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["Message"]
    assert db_snapshot(config) == before


def test_the_largest_earn_is_accepted(client: TestClient) -> None:
    enroll(client, "C1")
    assert earn(client, "C1", 1_000_000_000_000).status_code == 204
    assert loyalty(client, "C1")["PointBalance"] == 1_000_000_000_000


@pytest.mark.parametrize("path", ["/Loyalty/Earn", "/Loyalty/Authorize", "/Authorize/Confirm"])
def test_a_body_over_the_limit_is_413(client: TestClient, config: Config, path: str) -> None:
    enroll(client, "C1")
    before = db_snapshot(config)
    body = b'{"CustomerNumber": "C1", "Points": 5, "Reason": "' + b"x" * 1_100_000 + b'"}'
    answer = client.post(
        path, content=body, headers={**cp_headers(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json() == {"Message": "Request body too large"}
    assert db_snapshot(config) == before


def test_checks_run_in_the_contract_order(client: TestClient) -> None:
    enroll(client, "C1")
    client.put(
        "/admin/v1/customers/LAPSED",
        json={"status": "inactive", "program": PROGRAM},
        headers=admin_headers(),
    )
    client.put("/admin/v1/customers/NEVER", json={}, headers=admin_headers())
    bad_json = {"content": b"{", "headers": {"Content-Type": "application/json"}}
    assert client.post("/Loyalty/Earn", **bad_json).status_code == 401  # type: ignore[arg-type]
    answer = client.post(
        "/Loyalty/Earn",
        content=b'{"CustomerNumber": "NOBODY", "Points": 0}',
        headers=cp_headers(),
    )
    assert answer.status_code == 400
    answer = earn(client, "NOBODY", 5)
    assert (answer.status_code, answer.json()) == (404, {"Message": "CustomerNumber Not Found"})
    for number in ("LAPSED", "NEVER"):
        answer = earn(client, number, 5)
        assert (answer.status_code, answer.json()) == (400, {"Message": "Not enrolled in Loyalty"})
        answer = authorize(client, number, 5_000_000)
        assert (answer.status_code, answer.json()) == (400, {"Message": "Not enrolled in Loyalty"})
    answer = authorize(client, "C1", 5)
    assert (answer.status_code, answer.json()) == (400, {"Message": "No Balance Remaining"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"Ref": "C1", "SaleId": "S", "RequestedPoints": 5},
            "Required: Type, Ref, SaleId, and (RequestedAmount or RequestedPoints)",
        ),
        (
            {"Type": "loyalty", "SaleId": "S", "RequestedPoints": 5},
            "Required: Type, Ref, SaleId, and (RequestedAmount or RequestedPoints)",
        ),
        (
            {"Type": "loyalty", "Ref": "C1", "RequestedPoints": 5},
            "Required: Type, Ref, SaleId, and (RequestedAmount or RequestedPoints)",
        ),
        (
            {"Type": "loyalty", "Ref": "C1", "SaleId": "S"},
            "Required: Type, Ref, SaleId, and (RequestedAmount or RequestedPoints)",
        ),
        (
            {"Type": "giftcard", "Ref": "C1", "SaleId": "S", "RequestedPoints": 5},
            "Type is not valid",
        ),
        (
            {"Type": "giftcard", "Ref": "NOBODY", "SaleId": "S", "RequestedPoints": 5},
            "Type is not valid",
        ),
        ({"Type": "loyalty", "Ref": "C1", "SaleId": "S", "RequestedPoints": 2.5}, None),
        ({"Type": "loyalty", "Ref": "C1", "SaleId": "S", "RequestedPoints": "5"}, None),
        ({"Type": "loyalty", "Ref": "C1", "SaleId": "S", "RequestedPoints": -5}, None),
        ({"Type": "loyalty", "Ref": "C1", "SaleId": "S", "RequestedAmount": True}, None),
        ({"Type": "loyalty", "Ref": "C1", "SaleId": "S", "RequestedAmount": -1}, None),
        ({"Type": "loyalty", "Ref": ["C1"], "SaleId": "S", "RequestedPoints": 5}, None),
        ({"Type": "loyalty", "Ref": "C1", "SaleId": 12, "RequestedPoints": 5}, None),
    ],
)
def test_a_bad_authorize_is_400_with_the_seed_text(
    client: TestClient, config: Config, body: dict[str, Any], message: str | None
) -> None:
    enroll(client, "C1")
    credit(client, "C1", 100)
    before = db_snapshot(config)
    answer = client.post("/Loyalty/Authorize", json=body, headers=cp_headers())
    assert answer.status_code == 400
    if message is not None:
        assert answer.json() == {"Message": message}
    assert db_snapshot(config) == before


def test_authorize_is_idempotent_on_sale_id(client: TestClient, config: Config) -> None:
    enroll(client, "C1")
    credit(client, "C1", 300)
    first = authorize(client, "C1", 100, "SALE-1").json()
    before = db_snapshot(config)
    assert authorize(client, "C1", 100, "SALE-1").json() == first
    assert db_snapshot(config) == before
    answer = authorize(client, "C1", 150, "SALE-1")
    assert answer.status_code == 409
    assert db_snapshot(config) == before
    assert loyalty(client, "C1")["OpenAuthorizations"] == 100


def test_requested_amount_is_charged_at_the_program_rate(client: TestClient) -> None:
    enroll(client, "C1")
    credit(client, "C1", 1000)
    answer = client.post(
        "/Loyalty/Authorize",
        json={"Type": "Loyalty", "Ref": "C1", "SaleId": "S", "RequestedAmount": 2.5},
        headers=cp_headers(),
    )
    assert answer.status_code == 200
    assert answer.json()["RequestedPoints"] == 250
    assert loyalty(client, "C1")["AvailablePointBalance"] == 750


def hold_call(client: TestClient, action: str, number: str, code: str) -> Any:
    return client.post(
        f"/Authorize/{action}", json={"Ref": number, "AuthCode": code}, headers=cp_headers()
    )


def test_confirm_debits_once_and_then_cancel_conflicts(client: TestClient) -> None:
    enroll(client, "C1")
    credit(client, "C1", 300)
    code = authorize(client, "C1", 120, "SALE-9").json()["AuthCode"]
    assert hold_call(client, "Confirm", "C1", code).status_code == 204
    assert hold_call(client, "Confirm", "C1", code).status_code == 204
    answer = hold_call(client, "Cancel", "C1", code)
    assert answer.status_code == 409
    figures = loyalty(client, "C1")
    assert (figures["PointBalance"], figures["OpenAuthorizations"]) == (180, 0)
    assert figures["History"][-1] == {
        "Activity": "Redemption",
        "Date": "01/01/2026",
        "PointAmount": -120,
        "Document": "SALE-9",
    }


def test_cancel_gives_the_points_back_and_confirm_then_conflicts(client: TestClient) -> None:
    enroll(client, "C1")
    credit(client, "C1", 300)
    code = authorize(client, "C1", 120).json()["AuthCode"]
    assert hold_call(client, "Cancel", "C1", code).status_code == 204
    assert hold_call(client, "Cancel", "C1", code).status_code == 204
    assert hold_call(client, "Confirm", "C1", code).status_code == 409
    figures = loyalty(client, "C1")
    assert (figures["PointBalance"], figures["AvailablePointBalance"]) == (300, 300)


def test_an_expired_hold_cannot_be_confirmed(client: TestClient, clock: FakeClock) -> None:
    enroll(client, "C1")
    credit(client, "C1", 300)
    code = authorize(client, "C1", 120).json()["AuthCode"]
    clock.advance(7 * DAY_MS)
    assert hold_call(client, "Confirm", "C1", code).status_code == 409
    assert loyalty(client, "C1")["AvailablePointBalance"] == 300


@pytest.mark.parametrize(
    ("number", "code", "status"),
    [("C1", "no-such-code", 404), ("C2", None, 404), ("NOBODY", None, 404)],
)
def test_an_unknown_or_foreign_auth_code_is_404(
    client: TestClient, config: Config, number: str, code: str | None, status: int
) -> None:
    enroll(client, "C1")
    enroll(client, "C2")
    credit(client, "C1", 300)
    real = authorize(client, "C1", 120).json()["AuthCode"]
    before = db_snapshot(config)
    answer = hold_call(client, "Confirm", number, code or real)
    assert answer.status_code == status
    assert db_snapshot(config) == before


@pytest.mark.parametrize("body", [{}, {"Ref": "C1"}, {"AuthCode": "x"}, {"Ref": 1, "AuthCode": 2}])
def test_confirm_without_ref_and_code_is_400(client: TestClient, body: dict[str, Any]) -> None:
    answer = client.post("/Authorize/Confirm", json=body, headers=cp_headers())
    assert answer.status_code == 400


def test_balance_check_of_an_unknown_id_is_404(client: TestClient) -> None:
    answer = client.get("/Loyalty/NOBODY/BalanceCheck", headers=cp_headers())
    assert (answer.status_code, answer.json()) == (404, {"Message": "Id not found"})


def test_balance_check_dates_come_from_the_query_or_the_body(client: TestClient) -> None:
    enroll(client, "C1")
    credit(client, "C1", 10, dateTimeUtc="2025-03-01T00:00:00Z")
    credit(client, "C1", 20, dateTimeUtc="2025-06-01T00:00:00Z")
    credit(client, "C1", 40, dateTimeUtc="2025-09-01T00:00:00Z")
    by_query = loyalty(
        client, "C1", startDate="05/01/2025 00:00:00.000", endDate="07/01/2025 00:00:00.000"
    )
    assert by_query["History"] == [
        {"Activity": "Historical Summary", "Date": "03/01/2025", "PointAmount": 10},
        {"Date": "06/01/2025", "PointAmount": 20},
    ]
    answer = client.request(
        "GET",
        "/Loyalty/C1/BalanceCheck",
        headers=cp_headers(),
        json={"startDate": "05/01/2025 00:00:00.000", "endDate": "07/01/2025 00:00:00.000"},
    )
    assert answer.json()["Loyalty"]["History"] == by_query["History"]
    assert by_query["PointBalance"] == 70


@pytest.mark.parametrize(
    "params",
    [
        {"startDate": "2025-01-01"},
        {"endDate": "13/45/2025"},
        {"startDate": "02/01/2025", "endDate": "01/01/2025"},
    ],
)
def test_a_bad_balance_check_date_is_400(client: TestClient, params: dict[str, str]) -> None:
    enroll(client, "C1")
    answer = client.get("/Loyalty/C1/BalanceCheck", params=params, headers=cp_headers())
    assert answer.status_code == 400


def test_pending_and_expired_credits_show_in_history(client: TestClient, clock: FakeClock) -> None:
    enroll(client, "C1")
    credit(client, "C1", 50, availableFromDateTimeUtc="2026-01-03T00:00:00Z")
    credit(client, "C1", 30, expirationDateTimeUtc="2026-01-02T00:00:00Z")
    figures = loyalty(client, "C1")
    assert (figures["PendingPointsEarned"], figures["PointBalance"]) == (50, 30)
    assert figures["History"][0]["Activity"] == "Pending Earn"
    clock.advance(3 * DAY_MS)
    figures = loyalty(client, "C1")
    assert (figures["PendingPointsEarned"], figures["PointBalance"]) == (0, 50)
    assert [row.get("Activity") for row in figures["History"]] == [None, None, "Expired"]
    assert figures["History"][2]["PointAmount"] == -30


def test_a_balance_check_past_the_open_holds_bound_is_400(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "open_holds_max", 2)
    enroll(client, "C1")
    credit(client, "C1", 300)
    for sale in ("S1", "S2"):
        assert authorize(client, "C1", 10, sale=sale).status_code == 200
    history = loyalty(client, "C1")["History"]
    assert [row["Document"] for row in history if row.get("Activity") == "Pending Charge"] == [
        "S1",
        "S2",
    ]
    # One more: listing them all would pass the bound, and the history is
    # never cut short.
    assert authorize(client, "C1", 10, sale="S3").status_code == 200
    answer = client.get("/Loyalty/C1/BalanceCheck", headers=cp_headers())
    assert answer.status_code == 400
    assert answer.json() == {"Message": "More than 2 open authorizations; confirm or cancel some"}
