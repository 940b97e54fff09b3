"""What CP Extender refuses in the strings and numbers of a request, on both
databases: control characters in ids and text, and amounts out of range.
Each refusal is a 400 ``{"Message"}`` naming the field, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from pointkeeper.app import create_app
from pointkeeper.config import Config
from tests.conftest import FakeClock, cp_headers, db_snapshot, make_config

from .test_cp_extender import credit, enroll, loyalty

Shared = tuple[TestClient, Config]
CONTROL_CHARACTERS = ["\u0000", "\u001b"]
EARN = {"CustomerNumber": "C1", "Points": 5, "Reason": "test", "Reference": "r1"}
AUTHORIZE = {
    "Type": "loyalty",
    "Ref": "C1",
    "SaleId": "S1",
    "RequestedPoints": 5,
    "Location": "Web Order",
}
HOLD = {"Ref": "C1", "AuthCode": "no-such-code"}
# Each string field of each body, with the body it is sent in.
STRING_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("/Loyalty/Earn", EARN, "CustomerNumber"),
    ("/Loyalty/Earn", EARN, "Reference"),
    ("/Loyalty/Earn", EARN, "Reason"),
    ("/Loyalty/Authorize", AUTHORIZE, "Ref"),
    ("/Loyalty/Authorize", AUTHORIZE, "SaleId"),
    ("/Loyalty/Authorize", AUTHORIZE, "Location"),
    ("/Authorize/Confirm", HOLD, "Ref"),
    ("/Authorize/Confirm", HOLD, "AuthCode"),
    ("/Authorize/Cancel", HOLD, "Ref"),
    ("/Authorize/Cancel", HOLD, "AuthCode"),
]
ID_FIELDS = [case for case in STRING_FIELDS if case[2] not in ("Reason", "Location")]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Shared]:
    """One server per backend with C1 enrolled and holding 500 points: every
    request here is refused and changes nothing, so they share it."""
    config = make_config(tmp_path_factory.mktemp("cp-input"), module_database_url)
    with TestClient(create_app(config, clock=FakeClock())) as client:
        enroll(client, "C1")
        credit(client, "C1", 500)
        yield client, config


def refused(config: Config, send: Any) -> httpx.Response:
    before = db_snapshot(config)
    response: httpx.Response = send()
    assert db_snapshot(config) == before, response.text
    return response


def _spoiled(value: str, char: str) -> str:
    """``value`` with ``char`` as its second character."""
    return value[:1] + char + value[1:]


def _message(field: str, char: str) -> dict[str, str]:
    return {
        "Message": f"{field} must not contain control characters (U+{ord(char):04X} at character 2)"
    }


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=ascii)
@pytest.mark.parametrize(("path", "body", "field"), STRING_FIELDS, ids=lambda v: str(v)[:20])
def test_a_control_character_in_a_string_field_is_400(
    shared: Shared, path: str, body: dict[str, Any], field: str, char: str
) -> None:
    client, config = shared
    spoiled = {**body, field: _spoiled(body[field], char)}
    response = refused(config, lambda: client.post(path, json=spoiled, headers=cp_headers()))
    assert (response.status_code, response.json()) == (400, _message(field, char))


@pytest.mark.parametrize("char", ["\t", "\n", "\x7f", "\x85"], ids=ascii)
@pytest.mark.parametrize(("path", "body", "field"), ID_FIELDS, ids=lambda v: str(v)[:20])
def test_ids_refuse_layout_del_and_c1_characters_too(
    shared: Shared, path: str, body: dict[str, Any], field: str, char: str
) -> None:
    client, config = shared
    spoiled = {**body, field: _spoiled(body[field], char)}
    response = refused(config, lambda: client.post(path, json=spoiled, headers=cp_headers()))
    assert (response.status_code, response.json()) == (400, _message(field, char))


@pytest.mark.parametrize("char", [*CONTROL_CHARACTERS, "\t"], ids=ascii)
def test_a_control_character_in_the_balance_check_id_is_400(shared: Shared, char: str) -> None:
    client, config = shared
    path = f"/Loyalty/{quote(_spoiled('C1', char))}/BalanceCheck"
    response = refused(config, lambda: client.get(path, headers=cp_headers()))
    assert (response.status_code, response.json()) == (400, _message("Id", char))


def test_a_balance_check_id_over_the_id_cap_is_400(shared: Shared) -> None:
    client, config = shared
    response = refused(
        config, lambda: client.get(f"/Loyalty/{'C' * 201}/BalanceCheck", headers=cp_headers())
    )
    assert (response.status_code, response.json()) == (
        400,
        {"Message": "Id must be a string of at most 200 characters"},
    )


def test_tabs_and_line_ends_in_free_text_are_kept(client: TestClient) -> None:
    enroll(client, "C1")
    credit(client, "C1", 500)
    reason = "line one\r\nline two\tend"
    response = client.post(
        "/Loyalty/Earn",
        json={"CustomerNumber": "C1", "Points": 5, "Reason": reason, "Reference": "r1"},
        headers=cp_headers(),
    )
    assert response.status_code == 204, response.text
    body = {**AUTHORIZE, "Location": "Web\nOrder"}
    response = client.post("/Loyalty/Authorize", json=body, headers=cp_headers())
    assert response.status_code == 200, response.text
    history = loyalty(client, "C1")["History"]
    assert history[-2]["Reason"] == reason
    assert history[-1]["Location"] == "Web\nOrder"


# ----------------------------------------------------------------- numbers

_out_of_range = {"Message": "RequestedAmount is out of range"}
_not_positive = {"Message": "RequestedAmount must be a positive number"}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (1e15, _out_of_range),
        (1e308, _out_of_range),
        (2**63, _out_of_range),
        (2**70, _out_of_range),
        (1_000_000_000_000.5, _out_of_range),
        (0, _not_positive),
        (-0.0, _not_positive),
        (-1, _not_positive),
        (-1e308, _not_positive),
        (True, _not_positive),
        ("5", _not_positive),
        ([5], _not_positive),
    ],
    ids=repr,
)
def test_requested_amount_out_of_range_says_so(
    shared: Shared, amount: object, message: dict[str, str]
) -> None:
    client, config = shared
    body = {**AUTHORIZE, "RequestedPoints": None, "RequestedAmount": amount}
    response = refused(
        config, lambda: client.post("/Loyalty/Authorize", json=body, headers=cp_headers())
    )
    assert (response.status_code, response.json()) == (400, message)


def test_requested_amount_within_the_wire_bound_but_too_many_points_is_out_of_range(
    shared: Shared,
) -> None:
    client, config = shared
    # One trillion units at the program's 100 points per unit.
    body = {**AUTHORIZE, "RequestedPoints": None, "RequestedAmount": 1_000_000_000_000}
    response = refused(
        config, lambda: client.post("/Loyalty/Authorize", json=body, headers=cp_headers())
    )
    assert (response.status_code, response.json()) == (400, _out_of_range)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400"])
def test_a_json_number_beyond_a_double_is_a_bad_body(shared: Shared, number: bytes) -> None:
    client, config = shared
    body = b'{"Type": "loyalty", "Ref": "C1", "SaleId": "S1", "RequestedAmount": ' + number + b"}"
    response = refused(
        config,
        lambda: client.post(
            "/Loyalty/Authorize",
            content=body,
            headers={**cp_headers(), "Content-Type": "application/json"},
        ),
    )
    assert (response.status_code, response.json()) == (
        400,
        {"Message": "The request body is not valid JSON"},
    )


@pytest.mark.parametrize("points", [2**63, 2**64 - 1, 2**64, -(2**63) - 1], ids=repr)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/Loyalty/Earn", EARN, "Points"), ("/Loyalty/Authorize", AUTHORIZE, "RequestedPoints")],
    ids=["Points", "RequestedPoints"],
)
def test_points_beyond_64_bits_are_400(
    shared: Shared, path: str, body: dict[str, Any], field: str, points: int
) -> None:
    client, config = shared
    sent = {**body, field: points}
    response = refused(config, lambda: client.post(path, json=sent, headers=cp_headers()))
    assert (response.status_code, response.json()) == (
        400,
        {"Message": f"{field} must be an integer from 1 to 1000000000000"},
    )
