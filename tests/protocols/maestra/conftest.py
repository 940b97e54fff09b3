"""Fixtures and helpers for the Maestra v3 protocol tests.

The ``config`` fixture is replaced by one with two endpoints and one
operation of every kind, so that the shared ``client`` fixture (a fresh
SQLite database and a ``FakeClock``) answers Maestra calls.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from pointkeeper.config import Config
from tests.conftest import PROGRAM, admin_headers, make_config

GOLDEN_DIR = Path(__file__).parent / "golden"
# Set to 1 to rewrite the golden answers from what the server says now (then
# read the diff before committing it).
UPDATE_GOLDEN = os.environ.get("POINTKEEPER_UPDATE_GOLDEN") == "1"

ENDPOINT = "shop-web"
KEY = "key-shop-web"
OTHER_ENDPOINT = "shop-app"
OTHER_KEY = "key-shop-app"

# Operation names as a project would configure them, by kind.
EXPORT = "ExportBalanceChanges"
BALANCE = "GetBalance"
HISTORY = "GetHistory"
CHANGE = "ChangeBalance"
REGISTER = "Register"
EDIT = "Edit"
APP_ONLY = "AppBalance"

OPERATIONS: list[dict[str, Any]] = [
    {"name": EXPORT, "kind": "ExportBalanceChanges", "endpoints": [ENDPOINT]},
    {"name": BALANCE, "kind": "GetCustomerBalance", "endpoints": [ENDPOINT, OTHER_ENDPOINT]},
    {"name": HISTORY, "kind": "GetCustomerBalanceHistory", "endpoints": [ENDPOINT]},
    {"name": CHANGE, "kind": "ChangeCustomerBalance", "endpoints": [ENDPOINT, OTHER_ENDPOINT]},
    {"name": REGISTER, "kind": "RegisterCustomer", "endpoints": [ENDPOINT]},
    {"name": EDIT, "kind": "EditCustomer", "endpoints": [ENDPOINT]},
    {"name": APP_ONLY, "kind": "GetCustomerBalance", "endpoints": [OTHER_ENDPOINT]},
]

CONTENT_TYPES = {"xml": "application/xml", "json": "application/json"}
FORMATS = ("xml", "json")


def maestra_config(folder: Path, database_url: str | None = None) -> Config:
    return make_config(
        folder,
        database_url,
        endpoints=[
            {"id": ENDPOINT, "secret_key": KEY},
            {"id": OTHER_ENDPOINT, "secret_key": OTHER_KEY},
        ],
        operations=OPERATIONS,
    )


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return maestra_config(tmp_path, database_url)


def call(
    client: TestClient,
    operation: str,
    body: bytes | str | Any,
    *,
    fmt: str = "xml",
    endpoint: str = ENDPOINT,
    key: str | None = KEY,
    transaction_id: str | None = None,
    mode: str = "sync",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One v3 call. ``body`` may be bytes, text, or (for JSON) a value to encode."""
    if fmt == "json" and not isinstance(body, bytes | str):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    params = {"endpointId": endpoint, "operation": operation}
    if transaction_id is not None:
        params["transactionId"] = transaction_id
    sent = {"Content-Type": CONTENT_TYPES[fmt]}
    if key is not None:
        sent["Authorization"] = f"SecretKey {key}"
    sent.update(headers or {})
    response: httpx.Response = client.post(
        f"/v3/operations/{mode}", params=params, content=body, headers=sent
    )
    return response


def answer(response: httpx.Response) -> dict[str, Any]:
    """The answer as a plain tree, whichever format it came in."""
    media = response.headers["content-type"].split(";")[0]
    if media == "application/json":
        tree: dict[str, Any] = response.json()
        return tree
    assert media == "application/xml", media
    root = ET.fromstring(response.content)
    assert root.tag == "result"
    return {child.tag: _plain(child) for child in root}


# The protocol's list wrappers (seed 000 and the operation answers): each
# holds one singular element per item.
_LISTS = {"balances", "customerActions", "customerBalanceChanges", "validationMessages"}


def _plain(element: ET.Element) -> Any:
    children = list(element)
    if element.tag in _LISTS:
        return [_plain(child) for child in children]
    if not children:
        return (element.text or "").strip()
    return {child.tag: _plain(child) for child in children}


def admin(client: TestClient, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, f"/admin/v1{path}", json=body, headers=admin_headers())
    assert response.status_code in (200, 201), response.text
    return response.json()


def put_customer(client: TestClient, number: str, **fields: Any) -> int:
    body = {"program": PROGRAM, **fields}
    customer_id: int = admin(client, "PUT", f"/customers/{number}", body)["customerId"]
    return customer_id


def balance_of(client: TestClient, number: str) -> int:
    balance: int = admin(client, "GET", f"/customers/{number}")["balances"]["pointBalance"]
    return balance


def async_calls(client: TestClient, transaction_id: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = admin(
        client, "GET", f"/async-operations?transactionId={transaction_id}"
    )
    return calls


def run_jobs(client: TestClient) -> dict[str, Any]:
    report: dict[str, Any] = admin(client, "POST", "/jobs/run")
    return report


# ---------------------------------------------------------------- comparing


def xml_differences(actual: ET.Element, expected: ET.Element, path: str = "") -> list[str]:
    """Every difference between two XML trees: tag, attributes, text (layout
    whitespace aside) and children in order, each named by its path."""
    here = f"{path}/{expected.tag}"
    if actual.tag != expected.tag:
        return [f"{here}: element <{actual.tag}> instead of <{expected.tag}>"]
    found: list[str] = []
    if actual.attrib != expected.attrib:
        found.append(f"{here}: attributes {actual.attrib} instead of {expected.attrib}")
    actual_text = (actual.text or "").strip()
    expected_text = (expected.text or "").strip()
    if actual_text != expected_text:
        found.append(f"{here}: text {actual_text!r} instead of {expected_text!r}")
    actual_children = list(actual)
    expected_children = list(expected)
    for index, (got, wanted) in enumerate(zip(actual_children, expected_children, strict=False)):
        found += xml_differences(got, wanted, f"{here}[{index}]" if index else here)
    if len(actual_children) != len(expected_children):
        found.append(
            f"{here}: children {[c.tag for c in actual_children]} "
            f"instead of {[c.tag for c in expected_children]}"
        )
    return found


def json_differences(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Every difference between two JSON values, types included (1 != "1")."""
    if type(actual) is not type(expected):
        return [f"{path}: {actual!r} ({type(actual).__name__}) instead of {expected!r}"]
    if isinstance(expected, dict):
        found: list[str] = []
        if list(actual) != list(expected):
            found.append(f"{path}: keys {list(actual)} instead of {list(expected)}")
        for key in expected:
            if key in actual:
                found += json_differences(actual[key], expected[key], f"{path}.{key}")
        return found
    if isinstance(expected, list):
        found = []
        if len(actual) != len(expected):
            found.append(f"{path}: {len(actual)} items instead of {len(expected)}")
        for index, (got, wanted) in enumerate(zip(actual, expected, strict=False)):
            found += json_differences(got, wanted, f"{path}[{index}]")
        return found
    return [] if actual == expected else [f"{path}: {actual!r} instead of {expected!r}"]


def golden_request(name: str, fmt: str) -> bytes:
    return (GOLDEN_DIR / f"{name}.request.{fmt}").read_bytes()


def check_golden(name: str, fmt: str, response: httpx.Response) -> None:
    """The answer equals ``golden/<name>.response.<fmt>`` element by element."""
    path = GOLDEN_DIR / f"{name}.response.{fmt}"
    expected_type = CONTENT_TYPES[fmt]
    assert response.headers["content-type"].startswith(expected_type), response.headers
    if UPDATE_GOLDEN:
        _write_golden(path, fmt, response.content)
    if fmt == "xml":
        differences = xml_differences(ET.fromstring(response.content), ET.parse(path).getroot())
    else:
        differences = json_differences(response.json(), json.loads(path.read_bytes()))
    assert not differences, "\n".join([f"{path.name} differs:", *differences])


def _write_golden(path: Path, fmt: str, content: bytes) -> None:
    if fmt == "xml":
        root = ET.fromstring(content)
        ET.indent(root, space="  ")
        text = ET.tostring(root, encoding="unicode") + "\n"
    else:
        text = json.dumps(json.loads(content), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------- scenario

# The export window of the scenario: since is inclusive, till exclusive.
SINCE = "2025-12-15 00:00"
TILL = "2026-01-02 00:00"
_hour_ms = 3_600_000


def build_scenario(client: TestClient, clock: Any) -> None:
    """A small shop, the same every time (fresh database, ``FakeClock``).

    Customers C1 (webSiteId w1), C2 (w2) and C3 (no webSiteId); segment
    ``vip`` holds C1 and C3; point of contact ``store-1``. Actions, in the
    order they are made, with their customerActionId:

    1. C2 +50 back-dated 2025-12-01, before the window;
    2. C1 +10 back-dated to exactly ``SINCE``, so included;
    3. C3 +20 RetailOrderBonus, back-dated 2025-12-20 12:00:00.500, with a
       template, a transactionId and the point of contact;
    4. C1 +500 expiring 2026-06-30 at store-1 (Maestra, transactionId order-1);
    5. C1 -120 at store-1 (Maestra, transactionId order-2);
    6. C2 +70 (Maestra, no transactionId);
    7. C2 +30 back-dated to exactly ``TILL``, so excluded.
    """
    admin(client, "PUT", "/points-of-contact/store-1", {"name": "Store 1"})
    admin(client, "PUT", "/action-templates/RetailOrder", {"name": "Retail order"})
    put_customer(client, "C1", websiteId="w1")
    put_customer(client, "C2", websiteId="w2")
    put_customer(client, "C3")
    admin(client, "PUT", "/segments/vip", {"name": "VIP"})
    admin(client, "POST", "/segments/vip/members", {"customerNumbers": ["C1", "C3"]})
    _back_dated(client, "C2", {"changeAmount": 50}, "2025-12-01T00:00:00Z")
    _back_dated(client, "C1", {"changeAmount": 10}, "2025-12-15T00:00:00Z")
    _back_dated(
        client,
        "C3",
        {
            "changeAmount": 20,
            "kind": "RetailOrderBonus",
            "actionTemplate": "RetailOrder",
            "transactionId": "order-77",
            "pointOfContact": "store-1",
        },
        "2025-12-20T12:00:00.500Z",
    )
    clock.advance(10 * _hour_ms)  # 2026-01-01 10:00:00.000
    _ok(
        call(
            client,
            CHANGE,
            "<operation><customer><ids><webSiteUserId>w1</webSiteUserId></ids></customer>"
            "<pointOfContact><ids><externalId>store-1</externalId></ids></pointOfContact>"
            "<balanceChanges><balanceChange><changeAmount>500</changeAmount>"
            "<comment>welcome</comment>"
            "<expirationDateTimeUtc>2026-06-30 00:00</expirationDateTimeUtc>"
            "</balanceChange></balanceChanges></operation>",
            transaction_id="order-1",
        )
    )
    clock.advance(90 * 60_000 + 15_250)  # 2026-01-01 11:30:15.250
    _ok(
        call(
            client,
            CHANGE,
            {
                "customer": {"ids": {"customerNumber": "C1"}},
                "pointOfContact": {"ids": {"externalId": "store-1"}},
                "balanceChanges": [{"changeAmount": -120, "comment": "paid"}],
            },
            fmt="json",
            transaction_id="order-2",
        )
    )
    clock.advance(_hour_ms)  # 2026-01-01 12:30:15.250
    _ok(
        call(
            client,
            CHANGE,
            {
                "customer": {"ids": {"webSiteUserId": "w2"}},
                "balanceChanges": [{"changeAmount": 70}],
            },
            fmt="json",
        )
    )
    clock.advance(48 * _hour_ms)  # 2026-01-03 12:30:15.250
    _back_dated(client, "C2", {"changeAmount": 30}, "2026-01-02T00:00:00Z")


def _back_dated(client: TestClient, number: str, body: dict[str, Any], at: str) -> None:
    admin(client, "POST", f"/customers/{number}/balance-changes", {**body, "dateTimeUtc": at})


def _ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert answer(response)["status"] == "Success", response.text
