"""The error matrix of the v3 protocol (SPEC §3): every refusal has its
status code and shape, in XML and JSON, and changes nothing in the database.

Most refusals are tried on ChangeCustomerBalance with an otherwise valid
body, so that a check skipped by mistake would show as a changed balance.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from pointkeeper.app import create_app
from pointkeeper.config import Config
from tests.conftest import FakeClock, db_snapshot

from .conftest import (
    APP_ONLY,
    BALANCE,
    CHANGE,
    EDIT,
    ENDPOINT,
    EXPORT,
    FORMATS,
    HISTORY,
    KEY,
    OTHER_ENDPOINT,
    OTHER_KEY,
    REGISTER,
    answer,
    balance_of,
    call,
    maestra_config,
    put_customer,
)

CREDIT_XML = (
    "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
    "<balanceChanges><balanceChange><changeAmount>7</changeAmount></balanceChange>"
    "</balanceChanges></operation>"
)
CREDIT_JSON = {
    "customer": {"ids": {"customerNumber": "C1"}},
    "balanceChanges": [{"changeAmount": 7}],
}
PROTOCOL_ERROR = "ProtocolError"
AUTH_MESSAGE = "Unknown endpoint or wrong secret key"


def _seed(client: TestClient) -> TestClient:
    """C1 (webSiteId w1) holds 100 points, credited at the clock's start."""
    put_customer(client, "C1", websiteId="w1")
    body = CREDIT_JSON | {"balanceChanges": [{"changeAmount": 100}]}
    assert answer(call(client, CHANGE, body, fmt="json"))["status"] == "Success"
    return client


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    return _seed(client)


Shared = tuple[TestClient, Config]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Shared]:
    """One seeded server per backend for the tables of refusals: each refusal
    changes nothing (every test checks that), so they may share a database,
    which spares a server start per case."""
    config = maestra_config(tmp_path_factory.mktemp("maestra-errors"), module_database_url)
    with TestClient(create_app(config, clock=FakeClock())) as client:
        yield _seed(client), config


def refused(config: Config, send: Callable[[], httpx.Response]) -> httpx.Response:
    """Sends, and checks that nothing at all changed in the database."""
    before = db_snapshot(config)
    response = send()
    assert db_snapshot(config) == before, response.text
    return response


def protocol_error(response: httpx.Response, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.text
    tree = answer(response)
    assert tree["status"] == PROTOCOL_ERROR, tree
    assert set(tree) == {"status", "errorMessage"}, tree
    assert tree["errorMessage"], tree
    if message is not None:
        assert tree["errorMessage"] == message
    text: str = tree["errorMessage"]
    return text


def validation_error(response: httpx.Response, location: str) -> str:
    assert response.status_code == 200, response.text
    tree = answer(response)
    assert tree["status"] == "ValidationError", tree
    messages = tree["validationMessages"]
    assert [message["location"] for message in messages] == [location], tree
    text: str = messages[0]["message"]
    assert text
    return text


# ------------------------------------------------------ who and what (401/400/403)


def _post(client: TestClient, query: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/v3/operations/sync?{query}", content=body, headers=headers
    )
    return response


_xml = {"Content-Type": "application/xml"}
_ok_auth = {"Authorization": f"SecretKey {KEY}"}

AUTH_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "unknown endpoint": (f"endpointId=nowhere&operation={CHANGE}", _ok_auth),
    "unknown endpoint, no key": (f"endpointId=nowhere&operation={CHANGE}", {}),
    "no endpoint": (f"operation={CHANGE}", _ok_auth),
    "wrong key": (f"endpointId={ENDPOINT}&operation={CHANGE}", {"Authorization": "SecretKey x"}),
    "another endpoint's key": (
        f"endpointId={ENDPOINT}&operation={CHANGE}",
        {"Authorization": f"SecretKey {OTHER_KEY}"},
    ),
    "missing Authorization": (f"endpointId={ENDPOINT}&operation={CHANGE}", {}),
    "empty SecretKey": (
        f"endpointId={ENDPOINT}&operation={CHANGE}",
        {"Authorization": "SecretKey"},
    ),
    "Bearer scheme": (
        f"endpointId={ENDPOINT}&operation={CHANGE}",
        {"Authorization": f"Bearer {KEY}"},
    ),
    "bare key": (f"endpointId={ENDPOINT}&operation={CHANGE}", {"Authorization": KEY}),
    "Mindbox form, wrong key": (
        f"endpointId={ENDPOINT}&operation={CHANGE}",
        {"Authorization": 'Mindbox secretKey="nope"'},
    ),
    "Mindbox form, unquoted": (
        f"endpointId={ENDPOINT}&operation={CHANGE}",
        {"Authorization": f"Mindbox secretKey={KEY}"},
    ),
    # Authentication comes before everything else: an unknown operation and a
    # malformed body are not even looked at.
    "wrong key and unknown operation": (
        f"endpointId={ENDPOINT}&operation=Nope",
        {"Authorization": "SecretKey x"},
    ),
}


@pytest.mark.parametrize("case", list(AUTH_CASES))
def test_unauthenticated_calls_are_401(shared: Shared, case: str) -> None:
    seeded, config = shared
    query, auth = AUTH_CASES[case]
    response = refused(config, lambda: _post(seeded, query, _xml | auth, CREDIT_XML.encode()))
    protocol_error(response, 401, AUTH_MESSAGE)
    assert balance_of(seeded, "C1") == 100


@pytest.mark.parametrize("path", ["sync", "async"])
def test_unauthenticated_with_a_malformed_body_is_still_401(shared: Shared, path: str) -> None:
    seeded, config = shared
    response = refused(
        config,
        lambda: seeded.post(
            f"/v3/operations/{path}?endpointId={ENDPOINT}&operation={CHANGE}",
            content=b"<operation>",
            headers=_xml | {"Authorization": "SecretKey wrong"},
        ),
    )
    protocol_error(response, 401, AUTH_MESSAGE)


@pytest.mark.parametrize(
    "auth",
    [f"SecretKey {KEY}", f'Mindbox secretKey="{KEY}"', f"  SecretKey   {KEY}  "],
    ids=["SecretKey", "Mindbox", "extra spaces"],
)
@pytest.mark.parametrize("query_name", ["endpointId", "endpoint"])
def test_accepted_authorization_forms_and_endpoint_names(
    seeded: TestClient, auth: str, query_name: str
) -> None:
    response = _post(
        seeded,
        f"{query_name}={ENDPOINT}&operation={CHANGE}",
        _xml | {"Authorization": auth},
        CREDIT_XML.encode(),
    )
    assert response.status_code == 200, response.text
    assert answer(response)["status"] == "Success"
    assert balance_of(seeded, "C1") == 107


def test_each_endpoint_has_its_own_key(seeded: TestClient) -> None:
    response = call(seeded, CHANGE, CREDIT_XML, endpoint=OTHER_ENDPOINT, key=OTHER_KEY)
    assert answer(response)["status"] == "Success"
    response = call(seeded, CHANGE, CREDIT_XML, endpoint=OTHER_ENDPOINT, key=KEY)
    protocol_error(response, 401, AUTH_MESSAGE)
    assert balance_of(seeded, "C1") == 107


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "operation", ["Nope", "", "changebalance"], ids=["unknown", "empty", "case"]
)
def test_unknown_operation_is_400(shared: Shared, fmt: str, operation: str) -> None:
    seeded, config = shared
    body = CREDIT_XML if fmt == "xml" else CREDIT_JSON
    response = refused(config, lambda: call(seeded, operation, body, fmt=fmt))
    protocol_error(response, 400, "Operation not found")


def test_missing_operation_is_400(shared: Shared) -> None:
    seeded, config = shared
    response = refused(
        config, lambda: _post(seeded, f"endpointId={ENDPOINT}", _xml | _ok_auth, b"<operation/>")
    )
    protocol_error(response, 400, "Operation not found")


@pytest.mark.parametrize(
    ("operation", "endpoint", "key"),
    [
        (APP_ONLY, ENDPOINT, KEY),
        (EXPORT, OTHER_ENDPOINT, OTHER_KEY),
        (REGISTER, OTHER_ENDPOINT, OTHER_KEY),
    ],
    ids=["app-only on web", "export on app", "register on app"],
)
def test_operation_not_allowed_on_the_endpoint_is_403(
    shared: Shared, operation: str, endpoint: str, key: str
) -> None:
    seeded, config = shared
    # The body is not even well-formed: the 403 comes first.
    response = refused(
        config, lambda: call(seeded, operation, "<operation>", endpoint=endpoint, key=key)
    )
    protocol_error(response, 403)


# ------------------------------------------------------------- bodies (400)


BODY_CASES: dict[str, tuple[str, bytes]] = {
    "unclosed XML": ("application/xml", b"<operation><customer>"),
    "not XML": ("application/xml", b"hello"),
    "empty XML": ("application/xml", b""),
    "wrong XML root": ("application/xml", b"<result><status>Success</status></result>"),
    "two XML roots": ("application/xml", b"<operation/><operation/>"),
    "XML not UTF-8": (
        "application/xml",
        "<operation><comment>\xe9</comment></operation>".encode("latin-1"),
    ),
    "undefined XML entity": ("application/xml", b"<operation><a>&nope;</a></operation>"),
    "text/xml malformed": ("text/xml", b"<operation"),
    "unclosed JSON": ("application/json", b'{"customer": {'),
    "not JSON": ("application/json", b"<operation/>"),
    "empty JSON": ("application/json", b""),
    "JSON array": ("application/json", b'[{"customer": {"ids": {"customerNumber": "C1"}}}]'),
    "JSON string": ("application/json", b'"operation"'),
    "JSON null": ("application/json", b"null"),
    "JSON number": ("application/json", b"42"),
    "text/plain": ("text/plain", CREDIT_XML.encode()),
    "form": ("application/x-www-form-urlencoded", b"a=b"),
    "no content type": ("", CREDIT_XML.encode()),
}


@pytest.mark.parametrize("case", list(BODY_CASES))
def test_malformed_bodies_are_400(shared: Shared, case: str) -> None:
    seeded, config = shared
    content_type, body = BODY_CASES[case]
    headers = _ok_auth | ({"Content-Type": content_type} if content_type else {})
    response = refused(
        config, lambda: _post(seeded, f"endpointId={ENDPOINT}&operation={CHANGE}", headers, body)
    )
    protocol_error(response, 400)
    assert balance_of(seeded, "C1") == 100


def test_content_type_parameters_and_text_xml_are_accepted(seeded: TestClient) -> None:
    for content_type in ("application/xml; charset=utf-8", "text/xml", "APPLICATION/XML"):
        response = call(seeded, CHANGE, CREDIT_XML, headers={"Content-Type": content_type})
        assert answer(response)["status"] == "Success", content_type
    response = call(
        seeded,
        CHANGE,
        CREDIT_JSON,
        fmt="json",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer(response)["status"] == "Success"
    assert balance_of(seeded, "C1") == 128


# --------------------------------------------------- validation (200 + location)


def _change_json(change: dict[str, Any], ids: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "customer": {"ids": ids or {"customerNumber": "C1"}},
        "balanceChanges": [change],
    }


def _change_xml(inner: str, ids: str = "<customerNumber>C1</customerNumber>") -> str:
    return (
        f"<operation><customer><ids>{ids}</ids></customer><balanceChanges><balanceChange>"
        f"{inner}</balanceChange></balanceChanges></operation>"
    )


_amount = "/operation/balanceChanges/balanceChange/changeAmount"
_customer_ids = "/operation/customer/ids"

VALIDATION_CASES: dict[str, tuple[str, str, str | dict[str, Any], str]] = {
    # Missing mandatory fields.
    "change: no customer": (
        CHANGE,
        "json",
        {"balanceChanges": [{"changeAmount": 5}]},
        _customer_ids,
    ),
    "change: empty ids": (
        CHANGE,
        "xml",
        "<operation><customer><ids/></customer><balanceChanges><balanceChange>"
        "<changeAmount>5</changeAmount></balanceChange></balanceChanges></operation>",
        _customer_ids,
    ),
    "change: no balanceChanges": (
        CHANGE,
        "json",
        {"customer": {"ids": {"customerNumber": "C1"}}},
        "/operation/balanceChanges",
    ),
    "change: no changeAmount (json)": (CHANGE, "json", _change_json({"comment": "x"}), _amount),
    "change: no changeAmount (xml)": (CHANGE, "xml", _change_xml("<comment>x</comment>"), _amount),
    "balance: no customer": (BALANCE, "xml", "<operation/>", _customer_ids),
    "balance: no ids": (BALANCE, "json", {"customer": {}}, _customer_ids),
    "history: no page": (
        HISTORY,
        "json",
        {"customer": {"ids": {"customerNumber": "C1"}}},
        "/operation/page",
    ),
    "edit: no customer": (EDIT, "xml", "<operation/>", _customer_ids),
    "register: no customer": (REGISTER, "json", {}, "/operation/customer"),
    "export: no since": (
        EXPORT,
        "json",
        {"tillDateTimeUtc": "2026-01-01 00:00"},
        "/operation/sinceDateTimeUtc",
    ),
    "export: no till": (
        EXPORT,
        "xml",
        "<operation><sinceDateTimeUtc>2026-01-01 00:00</sinceDateTimeUtc></operation>",
        "/operation/tillDateTimeUtc",
    ),
    # Wrong types.
    "JSON string amount": (CHANGE, "json", _change_json({"changeAmount": "7"}), _amount),
    "JSON float amount": (CHANGE, "json", _change_json({"changeAmount": 7.5}), _amount),
    "JSON whole float amount": (CHANGE, "json", _change_json({"changeAmount": 7.0}), _amount),
    "JSON boolean amount": (CHANGE, "json", _change_json({"changeAmount": True}), _amount),
    "JSON object amount": (CHANGE, "json", _change_json({"changeAmount": {"v": 7}}), _amount),
    "JSON huge amount": (CHANGE, "json", _change_json({"changeAmount": 10**30}), _amount),
    "XML abc amount": (CHANGE, "xml", _change_xml("<changeAmount>abc</changeAmount>"), _amount),
    "XML float amount": (CHANGE, "xml", _change_xml("<changeAmount>7.5</changeAmount>"), _amount),
    "XML element amount": (
        CHANGE,
        "xml",
        _change_xml("<changeAmount><v>7</v></changeAmount>"),
        _amount,
    ),
    "zero amount": (CHANGE, "json", _change_json({"changeAmount": 0}), _amount),
    "JSON string customerId": (
        CHANGE,
        "json",
        _change_json({"changeAmount": 7}, {"customerId": "1"}),
        "/operation/customer/ids/customerId",
    ),
    "XML text customerId": (
        CHANGE,
        "xml",
        _change_xml("<changeAmount>7</changeAmount>", "<customerId>one</customerId>"),
        "/operation/customer/ids/customerId",
    ),
    "JSON number webSiteUserId": (
        CHANGE,
        "json",
        _change_json({"changeAmount": 7}, {"webSiteUserId": 5}),
        "/operation/customer/ids/webSiteUserId",
    ),
    "JSON list as customer": (
        CHANGE,
        "json",
        {"customer": [1], "balanceChanges": [{"changeAmount": 7}]},
        "/operation/customer",
    ),
    "history: itemsPerPage over 1000": (
        HISTORY,
        "json",
        {"customer": {"ids": {"customerNumber": "C1"}}, "page": {"itemsPerPage": 1001}},
        "/operation/page/itemsPerPage",
    ),
    "history: negative pageNumber": (
        HISTORY,
        "json",
        {"customer": {"ids": {"customerNumber": "C1"}}, "page": {"pageNumber": -1}},
        "/operation/page/pageNumber",
    ),
    # Unknown things.
    "change: unknown customer": (
        CHANGE,
        "json",
        _change_json({"changeAmount": 7}, {"email": "nobody@example.com"}),
        _customer_ids,
    ),
    "change: unknown customerId": (
        CHANGE,
        "xml",
        _change_xml("<changeAmount>7</changeAmount>", "<customerId>999</customerId>"),
        _customer_ids,
    ),
    "balance: unknown customer": (
        BALANCE,
        "xml",
        "<operation><customer><ids><webSiteUserId>nobody</webSiteUserId></ids>"
        "</customer></operation>",
        _customer_ids,
    ),
    "history: unknown customer": (
        HISTORY,
        "json",
        {"customer": {"ids": {"mobilePhone": "0"}}, "page": {}},
        _customer_ids,
    ),
    "edit: unknown customer": (
        EDIT,
        "json",
        {"customer": {"ids": {"customerNumber": "C9"}, "firstName": "X"}},
        _customer_ids,
    ),
    "change: unknown point of contact": (
        CHANGE,
        "json",
        _change_json({"changeAmount": 7}) | {"pointOfContact": {"ids": {"externalId": "nowhere"}}},
        "/operation/pointOfContact/ids/externalId",
    ),
    "register: unknown program": (
        REGISTER,
        "json",
        {"customer": {"ids": {"webSiteUserId": "w9"}, "program": "Nope"}},
        "/operation/customer/program",
    ),
    "change: debit over balance": (CHANGE, "json", _change_json({"changeAmount": -101}), _amount),
    "change: second change over balance": (
        CHANGE,
        "json",
        {
            "customer": {"ids": {"customerNumber": "C1"}},
            "balanceChanges": [{"changeAmount": -60}, {"changeAmount": -60}],
        },
        _amount,
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_invalid_requests_are_validation_errors(shared: Shared, case: str) -> None:
    seeded, config = shared
    operation, fmt, body, location = VALIDATION_CASES[case]
    response = refused(config, lambda: call(seeded, operation, body, fmt=fmt))
    validation_error(response, location)
    assert balance_of(seeded, "C1") == 100


BAD_DATES = [
    "2026-12-15",
    "2026-12-15 00",
    "15.12.2026 00:00",
    "2026/12/15 00:00",
    "2026-13-01 00:00",
    "2026-02-30 00:00",
    "2026-12-15 24:00",
    "2026-12-15 23:60",
    "2026-12-15 23:59:60",
    "2026-12-15T00:00:00+25:00",
    "2026-12-15T00:00:00.1234567Z",
    "2026-12-15 00:00 UTC",
    "yesterday",
    "0000-01-01 00:00",
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", BAD_DATES)
def test_bad_dates_are_validation_errors(shared: Shared, fmt: str, value: str) -> None:
    seeded, config = shared
    if fmt == "json":
        body: str | dict[str, Any] = _change_json(
            {"changeAmount": 7, "expirationDateTimeUtc": value}
        )
    else:
        body = _change_xml(
            f"<changeAmount>7</changeAmount><expirationDateTimeUtc>{value}</expirationDateTimeUtc>"
        )
    response = refused(config, lambda: call(seeded, CHANGE, body, fmt=fmt))
    validation_error(response, "/operation/balanceChanges/balanceChange/expirationDateTimeUtc")


@pytest.mark.parametrize("value", [20251215, True, ["2025-12-15 00:00"], {"v": "x"}])
def test_json_dates_must_be_strings(shared: Shared, value: object) -> None:
    seeded, config = shared
    body = {"sinceDateTimeUtc": value, "tillDateTimeUtc": "2026-01-01 00:00"}
    response = refused(config, lambda: call(seeded, EXPORT, body, fmt="json"))
    validation_error(response, "/operation/sinceDateTimeUtc")


# The six forms of SPEC §3, with what each names.
DATE_FORMS = {
    "2026-06-30 12:34": "2026-06-30 12:34:00.000",
    "2026-06-30 12:34:56": "2026-06-30 12:34:56.000",
    "2026-06-30 12:34:56.789": "2026-06-30 12:34:56.789",
    "2026-06-30T12:34Z": "2026-06-30 12:34:00.000",
    "2026-06-30T12:34:56Z": "2026-06-30 12:34:56.000",
    "2026-06-30T12:34:56.789Z": "2026-06-30 12:34:56.789",
    # And ISO 8601 with an offset or without a zone.
    "2026-06-30T15:34:56.789+03:00": "2026-06-30 12:34:56.789",
    "2026-06-30T12:34:56": "2026-06-30 12:34:56.000",
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", list(DATE_FORMS))
def test_every_date_form_is_accepted(seeded: TestClient, fmt: str, value: str) -> None:
    if fmt == "json":
        body: str | dict[str, Any] = _change_json(
            {"changeAmount": 7, "expirationDateTimeUtc": value}
        )
    else:
        body = _change_xml(
            f"<changeAmount>7</changeAmount><expirationDateTimeUtc>{value}</expirationDateTimeUtc>"
        )
    response = call(seeded, CHANGE, body, fmt=fmt)
    assert answer(response)["status"] == "Success", response.text
    export = call(
        seeded,
        EXPORT,
        {"sinceDateTimeUtc": "2026-01-01 00:00", "tillDateTimeUtc": "2026-01-01 00:00:00.001"},
        fmt="json",
    )
    changes = [
        change
        for action in answer(export)["customerActions"]
        for change in action["customerBalanceChanges"]
    ]
    assert changes[-1] == {
        "changeAmount": 7,
        "expirationDateTimeUtc": DATE_FORMS[value],
        "balanceChangeKind": {"systemName": "Custom"},
    }


# The seeded credit's instant (the clock's start) in each of the six forms.
START_FORMS = [
    "2026-01-01 00:00",
    "2026-01-01 00:00:00",
    "2026-01-01 00:00:00.000",
    "2026-01-01T00:00Z",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.000Z",
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", START_FORMS)
def test_every_date_form_bounds_an_export(shared: Shared, fmt: str, value: str) -> None:
    seeded = shared[0]

    def count(since: str, till: str) -> int:
        if fmt == "json":
            body: str | dict[str, Any] = {"sinceDateTimeUtc": since, "tillDateTimeUtc": till}
        else:
            body = (
                f"<operation><sinceDateTimeUtc>{since}</sinceDateTimeUtc>"
                f"<tillDateTimeUtc>{till}</tillDateTimeUtc></operation>"
            )
        actions = answer(call(seeded, EXPORT, body, fmt=fmt))["customerActions"]
        return len(actions)

    # A window starting exactly at the credit holds it; one ending there does not.
    assert count(value, "2026-01-02 00:00") == 1
    assert count("2025-12-31 00:00", value) == 0


# ------------------------------------------------------------ hostile XML


def test_external_entities_are_never_read(shared: Shared, tmp_path: Path) -> None:
    seeded, config = shared
    secret = tmp_path / "secret.txt"
    marker = "TOP-SECRET-MARKER-5f1c"
    secret.write_text(marker, encoding="utf-8")
    bodies = [
        # Classic XXE into a field that is echoed back when found.
        f'<?xml version="1.0"?><!DOCTYPE operation [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<operation><customer><ids><webSiteUserId>&xxe;</webSiteUserId></ids></customer>"
        "</operation>",
        # A parameter entity.
        f'<?xml version="1.0"?><!DOCTYPE operation [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
        "<operation/>",
        # An external DTD.
        f'<?xml version="1.0"?><!DOCTYPE operation SYSTEM "file://{secret}"><operation/>',
        # An internal entity only: refused as well (no DTD at all).
        '<?xml version="1.0"?><!DOCTYPE operation [<!ENTITY e "w1">]>'
        "<operation><customer><ids><webSiteUserId>&e;</webSiteUserId></ids></customer>"
        "</operation>",
    ]
    for body in bodies:
        for accept in ("application/xml", "application/json"):

            def send(body: str = body, accept: str = accept) -> httpx.Response:
                return call(seeded, BALANCE, body, headers={"Accept": accept})

            response = refused(config, send)
            protocol_error(response, 400)
            assert marker not in response.text
            assert str(secret) not in response.text


def test_billion_laughs_is_refused_at_once(shared: Shared) -> None:
    seeded, config = shared
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    for level in range(1, 10):
        entities.append(f'<!ENTITY lol{level} "' + f"&lol{level - 1};" * 10 + '">')
    body = (
        '<?xml version="1.0"?><!DOCTYPE operation [' + "".join(entities) + "]>"
        "<operation><customer><ids><webSiteUserId>&lol9;</webSiteUserId></ids></customer>"
        "</operation>"
    )
    started = time.monotonic()
    response = refused(config, lambda: call(seeded, BALANCE, body))
    assert time.monotonic() - started < 1.0
    protocol_error(response, 400)
    assert "lollol" not in response.text


def test_deep_nesting_is_refused(shared: Shared) -> None:
    seeded, config = shared
    xml = "<operation>" + "<a>" * 10_000 + "</a>" * 10_000 + "</operation>"
    protocol_error(refused(config, lambda: call(seeded, BALANCE, xml)), 400)
    json_body = '{"a":' * 10_000 + "1" + "}" * 10_000
    protocol_error(refused(config, lambda: call(seeded, BALANCE, json_body, fmt="json")), 400)


# ------------------------------------------------------------ body size (413)

_twenty_mb = 20 * 1024 * 1024
_chunk_bytes = 64 * 1024


def _big_xml() -> bytes:
    padding = b"x" * (_twenty_mb - 100)
    return b"<operation><comment>" + padding + b"</comment></operation>"


def _chunks() -> Iterator[bytes]:
    body = _big_xml()
    for start in range(0, len(body), _chunk_bytes):
        yield body[start : start + _chunk_bytes]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_20_mb_body_is_413(shared: Shared, fmt: str) -> None:
    seeded, config = shared
    response = refused(config, lambda: call(seeded, CHANGE, _big_xml(), fmt=fmt))
    protocol_error(response, 413)
    assert response.headers["content-type"].startswith(
        "application/json" if fmt == "json" else "application/xml"
    )


def test_a_20_mb_body_without_content_length_is_413(shared: Shared) -> None:
    seeded, config = shared

    def send() -> httpx.Response:
        request = seeded.build_request(
            "POST",
            "/v3/operations/sync",
            params={"endpointId": ENDPOINT, "operation": CHANGE},
            content=_chunks(),
            headers=_xml | _ok_auth,
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        response: httpx.Response = seeded.send(request)
        return response

    protocol_error(refused(config, send), 413)


def test_a_streamed_body_is_refused_before_it_is_all_read(shared: Shared) -> None:
    """Straight over ASGI, 64 KiB at a time and no Content-Length: the server
    stops reading soon after the limit instead of taking in 20 MB."""
    seeded, config = shared
    pulled = 0
    total = -(-_twenty_mb // _chunk_bytes)

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        more = pulled < total
        return {"type": "http.request", "body": b"x" * _chunk_bytes, "more_body": more}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v3/operations/sync",
        "raw_path": b"/v3/operations/sync",
        "root_path": "",
        "query_string": f"endpointId={ENDPOINT}&operation={CHANGE}".encode(),
        "headers": [
            (b"content-type", b"application/xml"),
            (b"authorization", f"SecretKey {KEY}".encode()),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    before = db_snapshot(config)
    assert seeded.portal is not None

    async def run() -> None:
        await seeded.app(scope, receive, send)

    seeded.portal.call(run)
    assert db_snapshot(config) == before
    assert sent[0]["status"] == 413
    body = b"".join(message.get("body", b"") for message in sent[1:])
    tree = ET.fromstring(body)
    assert tree.findtext("status") == PROTOCOL_ERROR
    limit_chunks = config.server.body_bytes_max // _chunk_bytes
    assert pulled <= limit_chunks + 2, (pulled, total)


# ------------------------------------------------- answer format and shapes


def test_accept_chooses_the_answer_format(shared: Shared) -> None:
    seeded = shared[0]
    ids_xml = (
        "<operation><customer><ids><webSiteUserId>w1</webSiteUserId></ids></customer></operation>"
    )
    ids_json = {"customer": {"ids": {"webSiteUserId": "w1"}}}
    cases: list[tuple[str, str | dict[str, Any], str | None, str]] = [
        ("xml", ids_xml, None, "xml"),
        ("json", ids_json, None, "json"),
        ("xml", ids_xml, "application/json", "json"),
        ("json", ids_json, "application/xml", "xml"),
        ("json", ids_json, "text/xml", "xml"),
        ("xml", ids_xml, "*/*", "xml"),
        ("json", ids_json, "*/*", "json"),
        ("xml", ids_xml, "application/json, */*;q=0.1", "json"),
        ("json", ids_json, "application/xml;q=0.9", "xml"),
    ]
    answers = []
    for fmt, body, accept, wanted in cases:
        headers = {} if accept is None else {"Accept": accept}
        response = call(seeded, BALANCE, body, fmt=fmt, headers=headers)
        media = response.headers["content-type"].split(";")[0]
        assert media == f"application/{wanted}", (fmt, accept, media)
        if wanted == "json":
            response.json()
        else:
            ET.fromstring(response.content)
        answers.append(answer(response))
    # Whatever the format, the same facts (XML carries them as text).
    as_text = [
        {"status": a["status"], "total": str(a["balances"][0]["totalValue"])} for a in answers
    ]
    assert all(entry == {"status": "Success", "total": "100"} for entry in as_text)


def test_protocol_error_shape_in_xml_and_json(shared: Shared) -> None:
    seeded = shared[0]
    response = call(seeded, "Nope", CREDIT_XML)
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "result"
    assert [child.tag for child in root] == ["status", "errorMessage"]
    assert root.findtext("status") == PROTOCOL_ERROR
    assert root.findtext("errorMessage") == "Operation not found"

    response = call(seeded, "Nope", CREDIT_JSON, fmt="json")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": PROTOCOL_ERROR, "errorMessage": "Operation not found"}


def test_validation_error_shape_in_xml_and_json(shared: Shared) -> None:
    seeded = shared[0]
    body = _change_xml("<changeAmount>abc</changeAmount>")
    response = call(seeded, CHANGE, body)
    root = ET.fromstring(response.content)
    assert root.tag == "result"
    assert [child.tag for child in root] == ["status", "validationMessages"]
    assert root.findtext("status") == "ValidationError"
    messages = root.find("validationMessages")
    assert messages is not None
    assert [child.tag for child in messages] == ["validationMessage"]
    assert [child.tag for child in messages[0]] == ["message", "location"]
    assert messages[0].findtext("location") == _amount
    assert messages[0].findtext("message") == "must be an integer"

    response = call(seeded, CHANGE, _change_json({"changeAmount": "abc"}), fmt="json")
    assert response.json() == {
        "status": "ValidationError",
        "validationMessages": [{"message": "must be an integer", "location": _amount}],
    }


def test_errors_answer_in_the_accepted_format(shared: Shared) -> None:
    seeded = shared[0]
    response = call(seeded, CHANGE, "<operation>", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == PROTOCOL_ERROR
    response = call(
        seeded, CHANGE, "{", fmt="json", key="wrong", headers={"Accept": "application/xml"}
    )
    assert response.status_code == 401
    assert ET.fromstring(response.content).findtext("status") == PROTOCOL_ERROR


# ------------------------------------------- locations the services report
# Refusals raised below the protocol layer name their field by the service's
# own name; the protocol maps each to where it stands in the request.


def test_register_without_ids_points_at_customer_ids(seeded: TestClient, config: Config) -> None:
    body = {"customer": {"firstName": "Nobody"}}
    response = refused(config, lambda: call(seeded, REGISTER, body, fmt="json"))
    validation_error(response, "/operation/customer/ids")


def test_register_with_a_taken_id_points_at_that_id(seeded: TestClient, config: Config) -> None:
    body = {"customer": {"ids": {"webSiteUserId": "w1"}}}
    response = refused(config, lambda: call(seeded, REGISTER, body, fmt="json"))
    validation_error(response, "/operation/customer/ids/webSiteUserId")


def test_edit_with_a_bad_status_points_at_it(seeded: TestClient, config: Config) -> None:
    body = {"customer": {"ids": {"customerNumber": "C1"}, "status": "weird"}}
    response = refused(config, lambda: call(seeded, EDIT, body, fmt="json"))
    validation_error(response, "/operation/customer/status")


def test_a_debit_with_an_expiry_points_at_the_expiry(seeded: TestClient, config: Config) -> None:
    body = _change_json({"changeAmount": -5, "expirationDateTimeUtc": "2027-01-01 00:00"})
    response = refused(config, lambda: call(seeded, CHANGE, body, fmt="json"))
    validation_error(response, "/operation/balanceChanges/balanceChange/expirationDateTimeUtc")


def test_an_expiry_in_the_past_points_at_the_expiry(seeded: TestClient, config: Config) -> None:
    body = _change_json({"changeAmount": 5, "expirationDateTimeUtc": "2020-01-01 00:00"})
    response = refused(config, lambda: call(seeded, CHANGE, body, fmt="json"))
    validation_error(response, "/operation/balanceChanges/balanceChange/expirationDateTimeUtc")


@pytest.mark.parametrize("field", ["pageNumber", "itemsPerPage"])
def test_history_page_fields_of_zero_are_refused(
    seeded: TestClient, config: Config, field: str
) -> None:
    body = {"customer": {"ids": {"customerNumber": "C1"}}, "page": {field: 0}}
    response = refused(config, lambda: call(seeded, HISTORY, body, fmt="json"))
    validation_error(response, f"/operation/page/{field}")
