"""The admin API's segment endpoints over HTTP (SPEC §4): upsert, read, add
and remove members, and every refusal leaving the database untouched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper.config import Config
from pointkeeper.limits import segment_members_per_request_max
from tests.conftest import CP_TOKEN, admin_headers, db_snapshot

SEGMENT = "/admin/v1/segments/VIP"
MEMBERS = f"{SEGMENT}/members"


def error(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}
    found: dict[str, Any] = body["error"]
    assert set(found) == {"code", "message", "field"}
    return found


def put_segment(client: TestClient, body: Any, url: str = SEGMENT) -> Any:
    return client.put(url, json=body, headers=admin_headers())


def add(client: TestClient, body: Any, url: str = MEMBERS) -> Any:
    return client.post(url, json=body, headers=admin_headers())


def remove(client: TestClient, number: str, url: str = MEMBERS) -> Any:
    return client.delete(f"{url}/{number}", headers=admin_headers())


def get_segment(client: TestClient, url: str = SEGMENT) -> Any:
    return client.get(url, headers=admin_headers())


@pytest.fixture
def customers(client: TestClient) -> list[str]:
    numbers = ["C1", "C2", "C3"]
    for number in numbers:
        answer = client.put(f"/admin/v1/customers/{number}", json={}, headers=admin_headers())
        assert answer.status_code == 200, answer.text
    return numbers


@pytest.fixture
def segment(client: TestClient, customers: list[str]) -> str:
    """Segment VIP holding C1; C2 and C3 exist outside it."""
    assert put_segment(client, {"name": "Very important"}).status_code == 200
    assert add(client, {"customerNumbers": ["C1"]}).status_code == 200
    return "VIP"


@pytest.fixture
def unchanged(config: Config, segment: str) -> Iterator[None]:
    """Asserts that the test's requests changed no row."""
    before = db_snapshot(config)
    yield
    assert db_snapshot(config) == before


# -- the happy paths ---------------------------------------------------------


def test_put_creates_then_renames_and_get_shows_it(
    client: TestClient, customers: list[str]
) -> None:
    answer = put_segment(client, {"name": "Very important"})
    assert (answer.status_code, answer.json()) == (
        200,
        {"externalId": "VIP", "name": "Very important", "memberCount": 0},
    )
    assert add(client, {"customerNumbers": ["C1", "C2"]}).status_code == 200
    answer = put_segment(client, {"name": "Gold"})
    expected = {"externalId": "VIP", "name": "Gold", "memberCount": 2}
    assert (answer.status_code, answer.json()) == (200, expected)
    answer = get_segment(client)
    assert (answer.status_code, answer.json()) == (200, expected)


def test_adding_counts_new_members_only(client: TestClient, segment: str) -> None:
    answer = add(client, {"customerNumbers": ["C1", "C2", "C2"]})
    assert (answer.status_code, answer.json()) == (200, {"added": 1, "memberCount": 2})
    answer = add(client, {"customerNumbers": ["C3"]})
    assert answer.json() == {"added": 1, "memberCount": 3}
    assert get_segment(client).json()["memberCount"] == 3


def test_adding_the_same_members_again_changes_nothing(
    client: TestClient, config: Config, segment: str
) -> None:
    body = {"customerNumbers": ["C1", "C2"]}
    assert add(client, body).json() == {"added": 1, "memberCount": 2}
    before = db_snapshot(config)
    answer = add(client, body)
    assert (answer.status_code, answer.json()) == (200, {"added": 0, "memberCount": 2})
    assert db_snapshot(config) == before


def test_an_empty_list_adds_nothing(client: TestClient, unchanged: None) -> None:
    answer = add(client, {"customerNumbers": []})
    assert (answer.status_code, answer.json()) == (200, {"added": 0, "memberCount": 1})


def test_delete_removes_a_member_and_is_idempotent(
    client: TestClient, config: Config, segment: str
) -> None:
    answer = remove(client, "C1")
    assert (answer.status_code, answer.content) == (204, b"")
    assert get_segment(client).json()["memberCount"] == 0
    before = db_snapshot(config)
    for number in ("C1", "C2"):
        answer = remove(client, number)
        assert (answer.status_code, answer.content) == (204, b"")
    assert db_snapshot(config) == before


def test_a_removed_member_can_be_added_back(client: TestClient, segment: str) -> None:
    assert remove(client, "C1").status_code == 204
    assert add(client, {"customerNumbers": ["C1"]}).json() == {"added": 1, "memberCount": 1}


# -- refusals ----------------------------------------------------------------


def test_an_unknown_segment_is_404(client: TestClient, unchanged: None) -> None:
    url = "/admin/v1/segments/NOPE"
    for answer in (
        get_segment(client, url),
        add(client, {"customerNumbers": ["C1"]}, url=f"{url}/members"),
        remove(client, "C1", url=f"{url}/members"),
    ):
        assert answer.status_code == 404, answer.text
        assert error(answer) == {
            "code": "not_found",
            "message": "Segment not found",
            "field": "externalId",
        }


def test_one_unknown_customer_refuses_the_whole_list(client: TestClient, unchanged: None) -> None:
    answer = add(client, {"customerNumbers": ["C2", "GHOST", "C3"]})
    assert answer.status_code == 404, answer.text
    assert error(answer) == {
        "code": "customer_not_found",
        "message": "Customers not found: GHOST",
        "field": "customerNumbers",
    }
    assert get_segment(client).json()["memberCount"] == 1


def test_removing_an_unknown_customer_is_404(client: TestClient, unchanged: None) -> None:
    answer = remove(client, "GHOST")
    assert answer.status_code == 404, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == (
        "customer_not_found",
        "customerNumber",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 1001}, "name"),
        ({"name": "VIP", "members": []}, "members"),
        (["VIP"], None),
    ],
)
def test_bad_segment_bodies_are_400(
    client: TestClient, unchanged: None, body: Any, field: str | None
) -> None:
    answer = put_segment(client, body)
    assert answer.status_code == 400, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == ("invalid_request", field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "customerNumbers"),
        ({"customerNumbers": "C2"}, "customerNumbers"),
        ({"customerNumbers": None}, "customerNumbers"),
        ({"customerNumbers": [2]}, "customerNumbers.0"),
        ({"customerNumbers": ["C2", ""]}, "customerNumbers.1"),
        ({"customerNumbers": ["x" * 201]}, "customerNumbers.0"),
        ({"customerNumbers": ["C2"], "segment": "VIP"}, "segment"),
        ({"customerNumber": "C2"}, "customerNumbers"),
        (
            {"customerNumbers": ["C2"] * (segment_members_per_request_max + 1)},
            "customerNumbers",
        ),
    ],
)
def test_bad_member_bodies_are_400(
    client: TestClient, unchanged: None, body: Any, field: str
) -> None:
    answer = add(client, body)
    assert answer.status_code == 400, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == ("invalid_request", field)


def test_malformed_json_is_400(client: TestClient, unchanged: None) -> None:
    answer = client.post(
        MEMBERS,
        content=b'{"customerNumbers": ["C2"',
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert (answer.status_code, error(answer)["code"]) == (400, "malformed_json")


def test_an_over_long_external_id_is_400(client: TestClient, unchanged: None) -> None:
    answer = put_segment(client, {"name": "Long"}, url=f"/admin/v1/segments/{'x' * 201}")
    assert (answer.status_code, error(answer)["field"]) == (400, "externalId")


_calls = [
    ("PUT", SEGMENT, {"name": "Mallory"}),
    ("GET", SEGMENT, None),
    ("POST", MEMBERS, {"customerNumbers": ["C2"]}),
    ("POST", MEMBERS, {"customerNumbers": "malformed"}),
    ("DELETE", f"{MEMBERS}/C1", None),
    ("PUT", "/admin/v1/segments/OTHER", {"name": "Other"}),
]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Bearer {CP_TOKEN}", "Bearer "])
def test_requests_without_the_admin_token_are_401(
    client: TestClient, unchanged: None, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in _calls:
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (method, path)
        assert error(answer) == {"code": "unauthorized", "message": "Not Authorized", "field": None}


def test_the_openapi_document_describes_the_segment_paths(client: TestClient) -> None:
    paths = client.get("/admin/openapi.json").json()["paths"]
    assert set(paths["/v1/segments/{externalId}"]) == {"get", "put"}
    assert set(paths["/v1/segments/{externalId}/members"]) == {"post"}
    assert set(paths["/v1/segments/{externalId}/members/{customerNumber}"]) == {"delete"}
    for path, operations in paths.items():
        if path.startswith("/v1/segments"):
            for operation in operations.values():
                assert {"400", "401", "404"} <= set(operation["responses"])
                assert "422" not in operation["responses"]
                assert operation["tags"] == ["segments"]
