"""What the admin API refuses in the strings and integers of a request, on
both databases: control characters in ids (bodies, paths, queries) and in
free text, and integers beyond 64 bits. Each refusal is a 400
``invalid_request`` naming the field, and changes nothing; a promo code with
a control character is a rejected row of its import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from pointkeeper.app import create_app
from pointkeeper.config import Config
from tests.conftest import PROGRAM, FakeClock, admin_headers, cp_headers, db_snapshot, make_config

Shared = tuple[TestClient, Config]
CONTROL_CHARACTERS = ["\u0000", "\u001b"]
_customer = "/admin/v1/customers/C1"
_changes = f"{_customer}/balance-changes"
# Each string field of a body: method, path, a valid body, the field.
BODY_FIELDS: list[tuple[str, str, dict[str, Any], str]] = [
    *[
        ("PUT", _customer, {name: "value"}, name)
        for name in ("websiteId", "email", "mobilePhone", "firstName", "lastName")
    ],
    ("PUT", _customer, {"program": PROGRAM}, "program"),
    *[
        ("POST", _changes, {"changeAmount": 5, name: value}, name)
        for name, value in (
            ("comment", "goodwill"),
            ("transactionId", "tx-1"),
            ("pointOfContact", "store-1"),
            ("actionTemplate", "T1"),
            ("kind", "Custom"),
        )
    ],
    ("POST", "/admin/v1/balance-changes/1/refund", {"comment": "sorry"}, "comment"),
    ("PUT", "/admin/v1/points-of-contact/store-2", {"name": "Store 2"}, "name"),
    ("PUT", "/admin/v1/action-templates/T2", {"name": "Template 2"}, "name"),
    ("PUT", "/admin/v1/segments/s2", {"name": "Segment 2"}, "name"),
    ("PUT", "/admin/v1/pools/p2", {"name": "Pool 2"}, "name"),
    ("PUT", "/admin/v1/pools/p2", {"name": "Pool 2", "description": "text"}, "description"),
]
# Each id in a path or a query: method, the URL with {} for the id, its
# name, and a seeded value, so that only the character can be at fault.
URL_IDS: list[tuple[str, str, str, str]] = [
    ("PUT", "/admin/v1/customers/{}", "customerNumber", "C1"),
    ("GET", "/admin/v1/customers/{}", "customerNumber", "C1"),
    ("POST", "/admin/v1/customers/{}/balance-changes", "customerNumber", "C1"),
    ("PUT", "/admin/v1/points-of-contact/{}", "externalId", "store-1"),
    ("PUT", "/admin/v1/segments/{}", "externalId", "vip"),
    ("GET", "/admin/v1/segments/{}", "externalId", "vip"),
    ("POST", "/admin/v1/segments/{}/members", "externalId", "vip"),
    ("DELETE", "/admin/v1/segments/{}/members/C1", "externalId", "vip"),
    ("DELETE", "/admin/v1/segments/vip/members/{}", "customerNumber", "C1"),
    ("PUT", "/admin/v1/pools/{}", "externalId", "p"),
    ("GET", "/admin/v1/pools/{}", "externalId", "p"),
    ("POST", "/admin/v1/pools/{}/codes", "externalId", "p"),
    ("POST", "/admin/v1/pools/{}/codes/generate", "externalId", "p"),
    ("POST", "/admin/v1/promo-codes/{}/block", "value", "W-1"),
    ("GET", "/admin/v1/async-operations?transactionId={}", "transactionId", "tx-1"),
]
# A valid body for each URL that needs one.
_url_bodies: dict[str, Any] = {
    "/admin/v1/customers/{}": {"firstName": "Ann"},
    "/admin/v1/customers/{}/balance-changes": {"changeAmount": 5},
    "/admin/v1/points-of-contact/{}": {"name": "Store"},
    "/admin/v1/segments/{}": {"name": "Segment"},
    "/admin/v1/segments/{}/members": {"customerNumbers": ["C1"]},
    "/admin/v1/pools/{}": {"name": "Pool"},
    "/admin/v1/pools/{}/codes": {"codes": ["NEW-1"]},
    "/admin/v1/pools/{}/codes/generate": {"count": 1, "pattern": "G-XXXX"},
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Shared]:
    """One server per backend: C1 enrolled with 100 points, point of contact
    store-1, template T1, segment vip holding C1, pool p with code W-1."""
    config = make_config(tmp_path_factory.mktemp("admin-input"), module_database_url)
    with TestClient(create_app(config, clock=FakeClock())) as client:
        for path, body in (
            (_customer, {"program": PROGRAM}),
            ("/admin/v1/points-of-contact/store-1", {"name": "Store 1"}),
            ("/admin/v1/action-templates/T1", {"name": "Template 1"}),
            ("/admin/v1/segments/vip", {"name": "VIP"}),
            ("/admin/v1/pools/p", {"name": "P"}),
        ):
            assert client.put(path, json=body, headers=admin_headers()).status_code == 200
        for path, body in (
            (_changes, {"changeAmount": 100}),
            ("/admin/v1/segments/vip/members", {"customerNumbers": ["C1"]}),
            ("/admin/v1/pools/p/codes", {"codes": ["W-1"]}),
        ):
            answer = client.post(path, json=body, headers=admin_headers())
            assert answer.status_code in (200, 201), answer.text
        yield client, config


def refused(config: Config, send: Any) -> httpx.Response:
    before = db_snapshot(config)
    response: httpx.Response = send()
    assert db_snapshot(config) == before, response.text
    return response


def error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "invalid_request", body
    found: dict[str, Any] = body["error"]
    return found


def _spoiled(value: str, char: str) -> str:
    return value[:1] + char + value[1:]


def _message(char: str) -> str:
    return f"must not contain control characters (U+{ord(char):04X} at character 2)"


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=ascii)
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    BODY_FIELDS,
    ids=[f"{case[0]} {case[1]} {case[3]}" for case in BODY_FIELDS],
)
def test_a_control_character_in_a_body_string_is_400(
    shared: Shared, method: str, path: str, body: dict[str, Any], field: str, char: str
) -> None:
    client, config = shared
    sent = {**body, field: _spoiled(body[field], char)}
    response = refused(
        config, lambda: client.request(method, path, json=sent, headers=admin_headers())
    )
    assert error(response) == {"code": "invalid_request", "message": _message(char), "field": field}


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=ascii)
def test_a_control_character_in_a_listed_customer_number_is_400(shared: Shared, char: str) -> None:
    client, config = shared
    body = {"customerNumbers": ["C1", _spoiled("C1", char)]}
    response = refused(
        config,
        lambda: client.post("/admin/v1/segments/vip/members", json=body, headers=admin_headers()),
    )
    assert error(response)["field"] == "customerNumbers.1"
    assert error(response)["message"] == _message(char)


@pytest.mark.parametrize("char", [*CONTROL_CHARACTERS, "\t", "\x7f", "\x85"], ids=ascii)
@pytest.mark.parametrize(
    ("method", "url", "name", "seeded"),
    URL_IDS,
    ids=[f"{case[0]} {case[1]}" for case in URL_IDS],
)
def test_a_control_character_in_a_path_or_query_id_is_400(
    shared: Shared, method: str, url: str, name: str, seeded: str, char: str
) -> None:
    client, config = shared
    target = url.format(quote(_spoiled(seeded, char)))
    body = _url_bodies.get(url)
    response = refused(
        config, lambda: client.request(method, target, json=body, headers=admin_headers())
    )
    assert error(response) == {"code": "invalid_request", "message": _message(char), "field": name}


def test_a_line_feed_in_a_path_finds_no_route_and_in_a_query_is_400(shared: Shared) -> None:
    # The admin API is mounted under /admin, and the mount's pattern stops
    # at a line feed: such a path never reaches an endpoint.
    client, config = shared
    for url in ("/admin/v1/customers/C%0A1", "/admin/v1/promo-codes/W%0A1/block"):
        response = refused(config, lambda url=url: client.post(url, headers=admin_headers()))
        assert response.status_code == 404, response.text
    url = "/admin/v1/async-operations?transactionId=t%0Ax1"
    response = refused(config, lambda: client.get(url, headers=admin_headers()))
    assert error(response) == {
        "code": "invalid_request",
        "message": _message("\n"),
        "field": "transactionId",
    }


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=ascii)
def test_a_control_character_in_a_system_name_is_400(shared: Shared, char: str) -> None:
    client, config = shared
    url = f"/admin/v1/action-templates/{quote(_spoiled('T1', char))}"
    response = refused(config, lambda: client.put(url, json={"name": "x"}, headers=admin_headers()))
    assert error(response)["field"] == "systemName"


def test_tabs_and_line_ends_in_free_text_are_kept(client: TestClient) -> None:
    headers = admin_headers()
    assert client.put(_customer, json={"program": PROGRAM}, headers=headers).status_code == 200
    comment = "line one\r\nline two\tend"
    answer = client.post(_changes, json={"changeAmount": 5, "comment": comment}, headers=headers)
    assert answer.status_code == 201, answer.text
    history = client.get("/Loyalty/C1/BalanceCheck", headers=cp_headers()).json()
    assert history["Loyalty"]["History"][-1]["Reason"] == comment
    answer = client.put(
        "/admin/v1/points-of-contact/s1", json={"name": "Store\n1"}, headers=headers
    )
    assert (answer.status_code, answer.json()["name"]) == (200, "Store\n1")


# ------------------------------------------------------------ promo imports


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=ascii)
@pytest.mark.parametrize("form", ["json", "json object", "csv", "csv with dates"])
def test_a_code_with_a_control_character_is_a_rejected_row(
    shared: Shared, form: str, char: str
) -> None:
    client, config = shared
    value = _spoiled("BAD1", char)
    url = "/admin/v1/pools/p/codes"
    headers = admin_headers()
    if form == "json":
        content, media = json.dumps({"codes": [value]}).encode(), "application/json"
    elif form == "json object":
        content, media = json.dumps({"codes": [{"value": value}]}).encode(), "application/json"
    elif form == "csv":
        content, media = f"value\n{value}\n".encode(), "text/csv"
    else:
        content, media = f"value,availableFromDateTimeUtc\n{value},\n".encode(), "text/csv"
    response = refused(
        config,
        lambda: client.post(url, content=content, headers={**headers, "Content-Type": media}),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "imported": 0,
        "rejected": [{"row": 1, "value": value, "reason": f"value {_message(char)}"}],
    }


# ---------------------------------------------------------------- integers


@pytest.mark.parametrize(
    "change_id", ["99999999999999999999999", str(2**63), str(2**64), "0", "-1", "1e3"]
)
def test_a_balance_change_id_beyond_64_bits_is_400(shared: Shared, change_id: str) -> None:
    client, config = shared
    url = f"/admin/v1/balance-changes/{change_id}/refund"
    response = refused(config, lambda: client.post(url, headers=admin_headers()))
    assert error(response)["field"] == "balanceChangeId"


def test_the_largest_balance_change_id_is_looked_up(shared: Shared) -> None:
    client, config = shared
    url = f"/admin/v1/balance-changes/{2**63 - 1}/refund"
    response = refused(config, lambda: client.post(url, headers=admin_headers()))
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (_changes, {"changeAmount": 2**63}, "changeAmount"),
        (_changes, {"changeAmount": -(2**63) - 1}, "changeAmount"),
        (_changes, {"changeAmount": 2**64}, "changeAmount"),
        ("/admin/v1/pools/p/codes/generate", {"count": 2**63, "pattern": "G-XXXX"}, "count"),
        ("/admin/v1/pools/p/codes/generate", {"count": 2**64, "pattern": "G-XXXX"}, "count"),
    ],
    ids=repr,
)
def test_a_body_integer_beyond_its_range_is_400(
    shared: Shared, path: str, body: dict[str, Any], field: str
) -> None:
    client, config = shared
    response = refused(config, lambda: client.post(path, json=body, headers=admin_headers()))
    assert error(response)["field"] == field
