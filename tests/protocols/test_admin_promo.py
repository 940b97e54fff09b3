"""The admin API's promo code endpoints over HTTP (SPEC §4): pools, importing
codes as JSON and as CSV, generating and blocking codes, and every refusal
leaving the database untouched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper.config import Config
from pointkeeper.limits import codes_per_generation_max, codes_per_import_max
from tests.conftest import CP_TOKEN, FakeClock, admin_headers, db_snapshot

POOL = "/admin/v1/pools/WELCOME"
CODES = f"{POOL}/codes"
GENERATE = f"{CODES}/generate"
VALUE_REASON = (
    "A promo code is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
)
FROM_REASON = "availableFromDateTimeUtc must be an ISO 8601 date, e.g. 2026-01-01T00:00:00.000Z"
TILL_REASON = "availableTillDateTimeUtc must be an ISO 8601 date, e.g. 2026-01-01T00:00:00.000Z"
WINDOW_REASON = "availableTillDateTimeUtc must come after availableFromDateTimeUtc"
NO_COUNTS = {"available": 0, "issued": 0, "used": 0, "blocked": 0}


def error(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}
    found: dict[str, Any] = body["error"]
    assert set(found) == {"code", "message", "field"}
    return found


def put_pool(client: TestClient, body: Any, url: str = POOL) -> Any:
    return client.put(url, json=body, headers=admin_headers())


def get_pool(client: TestClient, url: str = POOL) -> Any:
    return client.get(url, headers=admin_headers())


def import_json(client: TestClient, codes: Any, url: str = CODES) -> Any:
    return client.post(url, json={"codes": codes}, headers=admin_headers())


def import_csv(
    client: TestClient, text: str | bytes, url: str = CODES, content_type: str = "text/csv"
) -> Any:
    content = text.encode() if isinstance(text, str) else text
    return client.post(
        url, content=content, headers={**admin_headers(), "Content-Type": content_type}
    )


def block(client: TestClient, value: str) -> Any:
    return client.post(f"/admin/v1/promo-codes/{value}/block", headers=admin_headers())


def counts(client: TestClient) -> dict[str, int]:
    answer = get_pool(client)
    assert answer.status_code == 200, answer.text
    found: dict[str, int] = answer.json()["counts"]
    return found


def stored_codes(config: Config) -> list[tuple[Any, ...]]:
    """(value, available_from, available_till) of every code, by id."""
    return [(row[1], row[3], row[4]) for row in db_snapshot(config)["promo_codes"]]


@pytest.fixture
def pool(client: TestClient) -> str:
    """The single-use pool WELCOME holding the codes OLD1 and OLD2."""
    assert put_pool(client, {"name": "Welcome"}).status_code == 200
    answer = import_json(client, ["OLD1", "OLD2"])
    assert answer.json() == {"imported": 2, "rejected": []}
    return "WELCOME"


@pytest.fixture
def unchanged(config: Config, pool: str) -> Iterator[None]:
    """Asserts that the test's requests changed no row."""
    before = db_snapshot(config)
    yield
    assert db_snapshot(config) == before


# -- pools -------------------------------------------------------------------


def test_put_creates_a_single_use_pool_and_get_shows_it(client: TestClient) -> None:
    answer = put_pool(client, {"name": "Welcome"})
    expected = {
        "externalId": "WELCOME",
        "name": "Welcome",
        "description": None,
        "issueStartDateTimeUtc": None,
        "issueEndDateTimeUtc": None,
        "availableFromDateTimeUtc": None,
        "availableTillDateTimeUtc": None,
        "multiUse": False,
        "discount": None,
        "counts": NO_COUNTS,
    }
    assert (answer.status_code, answer.json()) == (200, expected)
    answer = get_pool(client)
    assert (answer.status_code, answer.json()) == (200, expected)


def test_put_changes_only_the_keys_given(client: TestClient) -> None:
    full = {
        "name": "Spring",
        "description": "Spring sale",
        "issueStartDateTimeUtc": "2026-03-01T00:00:00Z",
        "issueEndDateTimeUtc": "2026-03-31T03:00:00+03:00",
        "availableFromDateTimeUtc": "2026-03-01T00:00:00",
        "availableTillDateTimeUtc": "2026-06-01T00:00:00.250Z",
        "multiUse": True,
    }
    answer = put_pool(client, full)
    assert answer.status_code == 200, answer.text
    shown = {**full, "externalId": "WELCOME", "discount": None, "counts": NO_COUNTS}
    shown["issueEndDateTimeUtc"] = "2026-03-31T00:00:00Z"
    shown["availableFromDateTimeUtc"] = "2026-03-01T00:00:00Z"
    shown["availableTillDateTimeUtc"] = "2026-06-01T00:00:00.250000Z"
    assert answer.json() == shown

    answer = put_pool(client, {"name": "Spring 2026"})
    assert answer.json() == {**shown, "name": "Spring 2026"}

    answer = put_pool(client, {"description": None, "issueEndDateTimeUtc": None})
    cleared = {**shown, "name": "Spring 2026", "description": None, "issueEndDateTimeUtc": None}
    assert answer.json() == cleared
    assert get_pool(client).json() == cleared


def test_an_empty_body_changes_nothing(client: TestClient, config: Config, pool: str) -> None:
    before = db_snapshot(config)
    answer = put_pool(client, {})
    assert (answer.status_code, answer.json()["name"]) == (200, "Welcome")
    assert db_snapshot(config) == before


def test_a_new_pool_needs_a_name(client: TestClient, config: Config) -> None:
    before = db_snapshot(config)
    answer = put_pool(client, {"multiUse": True})
    assert answer.status_code == 400, answer.text
    assert error(answer) == {
        "code": "invalid_request",
        "message": "A new pool needs a name",
        "field": "name",
    }
    assert db_snapshot(config) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x" * 1001}, "name"),
        ({"description": "x" * 1001}, "description"),
        ({"multiUse": "yes"}, "multiUse"),
        ({"multiUse": 1}, "multiUse"),
        ({"multiUse": None}, "multiUse"),
        ({"issueStartDateTimeUtc": 1767225600}, "issueStartDateTimeUtc"),
        ({"issueEndDateTimeUtc": "tomorrow"}, "issueEndDateTimeUtc"),
        ({"availableTillDateTimeUtc": "2026-13-01T00:00:00Z"}, "availableTillDateTimeUtc"),
        ({"codes": []}, "codes"),
        (
            {"issueStartDateTimeUtc": "2026-03-01T00:00Z", "issueEndDateTimeUtc": "2026-03-01"},
            "issueEndDateTimeUtc",
        ),
        (["Welcome"], None),
    ],
)
def test_bad_pool_bodies_are_400(
    client: TestClient, unchanged: None, body: Any, field: str | None
) -> None:
    answer = put_pool(client, body)
    assert answer.status_code == 400, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == ("invalid_request", field)


def test_an_over_long_pool_id_is_400(client: TestClient, unchanged: None) -> None:
    answer = put_pool(client, {"name": "Long"}, url=f"/admin/v1/pools/{'x' * 201}")
    assert (answer.status_code, error(answer)["field"]) == (400, "externalId")


# -- importing: JSON -----------------------------------------------------------


def test_json_imports_strings_and_objects(client: TestClient, config: Config, pool: str) -> None:
    answer = import_json(
        client,
        [
            "NEW1",
            {"value": "NEW2"},
            {
                "value": "NEW3",
                "availableFromDateTimeUtc": "2026-03-01T03:00:00+03:00",
                "availableTillDateTimeUtc": "2026-04-01",
            },
        ],
    )
    assert (answer.status_code, answer.json()) == (200, {"imported": 3, "rejected": []})
    assert stored_codes(config)[2:] == [
        ("NEW1", None, None),
        ("NEW2", None, None),
        ("NEW3", 1_772_323_200_000, 1_775_001_600_000),
    ]
    assert counts(client) == {**NO_COUNTS, "available": 5}


def test_json_rejects_bad_rows_and_imports_the_rest_whole(
    client: TestClient, config: Config, pool: str
) -> None:
    answer = import_json(
        client,
        [
            "GOOD1",
            "GOOD1",
            "bad value",
            {"value": "DATES1", "availableFromDateTimeUtc": "soon"},
            {"value": "DATES2", "availableTillDateTimeUtc": "2026-02-30T00:00:00Z"},
            {
                "value": "DATES3",
                "availableFromDateTimeUtc": "2026-05-01T00:00:00Z",
                "availableTillDateTimeUtc": "2026-04-01T00:00:00Z",
            },
            "OLD2",
            {"value": "GOOD2", "availableTillDateTimeUtc": "2026-04-01T00:00:00Z"},
            "",
        ],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "imported": 2,
        "rejected": [
            {"row": 2, "value": "GOOD1", "reason": "duplicate in this import"},
            {"row": 3, "value": "bad value", "reason": VALUE_REASON},
            {"row": 4, "value": "DATES1", "reason": FROM_REASON},
            {"row": 5, "value": "DATES2", "reason": TILL_REASON},
            {"row": 6, "value": "DATES3", "reason": WINDOW_REASON},
            {"row": 7, "value": "OLD2", "reason": "already exists"},
            {"row": 9, "value": "", "reason": VALUE_REASON},
        ],
    }
    # A rejected row left nothing behind, not even its value without dates.
    assert stored_codes(config) == [
        ("OLD1", None, None),
        ("OLD2", None, None),
        ("GOOD1", None, None),
        ("GOOD2", None, 1_775_001_600_000),
    ]


def test_importing_the_same_codes_again_changes_nothing(
    client: TestClient, unchanged: None
) -> None:
    answer = import_json(client, ["OLD1", "OLD2"])
    assert answer.json() == {
        "imported": 0,
        "rejected": [
            {"row": 1, "value": "OLD1", "reason": "already exists"},
            {"row": 2, "value": "OLD2", "reason": "already exists"},
        ],
    }


def test_an_empty_list_imports_nothing(client: TestClient, unchanged: None) -> None:
    assert import_json(client, []).json() == {"imported": 0, "rejected": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "codes"),
        ({"codes": "NEW1"}, "codes"),
        ({"codes": None}, "codes"),
        ({"codes": [5]}, "codes.0"),
        ({"codes": ["NEW1", None]}, "codes.1"),
        ({"codes": [{"availableTillDateTimeUtc": "2026-04-01"}]}, "codes.0.value"),
        ({"codes": [{"value": 5}]}, "codes.0.value"),
        (
            {"codes": [{"value": "NEW1", "availableFromDateTimeUtc": 5}]},
            "codes.0.availableFromDateTimeUtc",
        ),
        ({"codes": [{"value": "NEW1", "pool": "OTHER"}]}, "codes.0.pool"),
        ({"codes": [], "pool": "WELCOME"}, "pool"),
        ({"codes": ["A"] * (codes_per_import_max + 1)}, "codes"),
        (["NEW1"], None),
    ],
)
def test_bad_json_import_bodies_are_400(
    client: TestClient, unchanged: None, body: Any, field: str | None
) -> None:
    answer = client.post(CODES, json=body, headers=admin_headers())
    assert answer.status_code == 400, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == ("invalid_request", field)


def test_malformed_json_is_400(client: TestClient, unchanged: None) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", None):
        headers = admin_headers()
        if content_type is not None:
            headers["Content-Type"] = content_type
        answer = client.post(CODES, content=b'{"codes": ["NEW1"', headers=headers)
        assert (answer.status_code, error(answer)["code"]) == (400, "malformed_json")


def test_other_content_types_are_400(client: TestClient, unchanged: None) -> None:
    answer = import_csv(client, "value\nNEW1\n", content_type="text/plain")
    assert answer.status_code == 400, answer.text
    assert error(answer) == {
        "code": "invalid_request",
        "message": "The body must be application/json or text/csv, not text/plain",
        "field": None,
    }


# -- importing: CSV ------------------------------------------------------------


def test_csv_imports_with_a_bom_crlf_blank_lines_and_bad_rows(
    client: TestClient, config: Config, pool: str
) -> None:
    text = (
        "\ufeffvalue,availableFromDateTimeUtc,availableTillDateTimeUtc\r\n"
        "CSV1,,\r\n"  # row 1
        "\r\n"  # row 2: blank, skipped
        "CSV2,2026-03-01T00:00:00Z,2026-04-01T00:00:00+02:00\r\n"  # row 3
        " CSV3 ,,\r\n"  # row 4: blanks around a field are dropped
        ",,\r\n"  # row 5: blank, skipped
        "CSV1,,\r\n"  # row 6: duplicate
        "CSV4,next week,\r\n"  # row 7: bad date
        "CSV5,,2026-02-30\r\n"  # row 8: no such day
        "CSV6,2026-05-01,2026-04-01\r\n"  # row 9: window backwards
        "OLD1,,\r\n"  # row 10: exists
        "bad value,,\r\n"  # row 11
        "CSV7,,,extra\r\n"  # row 12: one field too many
        "CSV8\r\n"  # row 13: missing fields are empty
        "\r\n"
    )
    answer = import_csv(client, text)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "imported": 4,
        "rejected": [
            {"row": 6, "value": "CSV1", "reason": "duplicate in this import"},
            {"row": 7, "value": "CSV4", "reason": FROM_REASON},
            {"row": 8, "value": "CSV5", "reason": TILL_REASON},
            {"row": 9, "value": "CSV6", "reason": WINDOW_REASON},
            {"row": 10, "value": "OLD1", "reason": "already exists"},
            {"row": 11, "value": "bad value", "reason": VALUE_REASON},
            {"row": 12, "value": "CSV7", "reason": "the row has 4 fields; the header has 3"},
        ],
    }
    assert stored_codes(config)[2:] == [
        ("CSV1", None, None),
        ("CSV2", 1_772_323_200_000, 1_775_001_600_000 - 7_200_000),
        ("CSV3", None, None),
        ("CSV8", None, None),
    ]
    assert counts(client)["available"] == 6


def test_csv_with_only_a_value_column_and_a_charset(
    client: TestClient, config: Config, pool: str
) -> None:
    answer = import_csv(client, "Value\nCSV1\nCSV2", content_type="text/csv; charset=utf-8")
    assert answer.json() == {"imported": 2, "rejected": []}
    assert [row[0] for row in stored_codes(config)] == ["OLD1", "OLD2", "CSV1", "CSV2"]


def test_csv_imports_thousands_of_rows_in_one_request(client: TestClient, pool: str) -> None:
    rows = 20_000
    text = "value\n" + "".join(f"BULK-{n:06d}\n" for n in range(rows))
    answer = import_csv(client, text)
    assert answer.json() == {"imported": rows, "rejected": []}
    assert counts(client)["available"] == rows + 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The CSV has no header row; it needs a column named value"),
        ("\r\n\r\n", "The CSV has no header row; it needs a column named value"),
        ("code\nNEW1\n", "Unknown CSV column 'code'; the columns are value,"),
        ("value,availableTill\nNEW1,\n", "Unknown CSV column 'availableTill'; the columns"),
        ("value,VALUE\nNEW1,NEW2\n", "A CSV column is named twice"),
        ("availableFromDateTimeUtc\n2026-01-01\n", "The CSV header has no column named value"),
        ("value\n" + "A\n" * (codes_per_import_max + 1), "At most 100000 codes per import"),
    ],
)
def test_csv_that_is_not_a_list_of_codes_is_400(
    client: TestClient, unchanged: None, text: str, message: str
) -> None:
    answer = import_csv(client, text)
    assert answer.status_code == 400, answer.text
    assert error(answer)["code"] == "invalid_request"
    assert error(answer)["message"].startswith(message)


def test_csv_that_is_not_utf8_is_400(client: TestClient, unchanged: None) -> None:
    answer = import_csv(client, "value\nCAF\xc9\n".encode("latin-1"))
    assert answer.status_code == 400, answer.text
    assert error(answer)["message"].startswith("The CSV body must be UTF-8")


def test_import_bodies_over_the_limit_are_413(
    client: TestClient, config: Config, unchanged: None
) -> None:
    limit = config.server.body_bytes_max
    text = "value\n" + "".join(f"BIG-{n:07d}\n" for n in range(limit // 12 + 1))
    assert len(text) > limit
    answer = import_csv(client, text)
    assert (answer.status_code, error(answer)["code"]) == (413, "payload_too_large")

    def streamed() -> Iterator[bytes]:
        # No Content-Length: the limit is enforced as the chunks arrive.
        data = text.encode()
        yield data[: limit // 2]
        yield data[limit // 2 :]

    answer = client.post(
        CODES, content=streamed(), headers={**admin_headers(), "Content-Type": "text/csv"}
    )
    assert (answer.status_code, error(answer)["code"]) == (413, "payload_too_large")
    answer = import_json(client, ["X" * 60] * (limit // 60))
    assert (answer.status_code, error(answer)["code"]) == (413, "payload_too_large")


# -- generating and blocking -----------------------------------------------------


def test_generate_adds_codes_made_from_the_pattern(
    client: TestClient, config: Config, pool: str
) -> None:
    answer = client.post(
        GENERATE, json={"count": 25, "pattern": "WELCOME-XXXX-XXXX"}, headers=admin_headers()
    )
    assert (answer.status_code, answer.json()) == (200, {"generated": 25})
    made = [row[0] for row in stored_codes(config)[2:]]
    assert len(set(made)) == 25
    assert all(value.startswith("WELCOME-") and len(value) == 17 for value in made)
    assert counts(client)["available"] == 27


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pattern": "W-XXXX"}, "count"),
        ({"count": 0, "pattern": "W-XXXX"}, "count"),
        ({"count": "5", "pattern": "W-XXXX"}, "count"),
        ({"count": 5.0, "pattern": "W-XXXX"}, "count"),
        ({"count": codes_per_generation_max + 1, "pattern": "W-XXXX"}, "count"),
        ({"count": 5}, "pattern"),
        ({"count": 5, "pattern": ""}, "pattern"),
        ({"count": 5, "pattern": "W-" + "X" * 63}, "pattern"),
        ({"count": 5, "pattern": "W-XXX"}, "pattern"),
        ({"count": 5, "pattern": "W XXXX"}, "pattern"),
        ({"count": 5, "pattern": "W-XXXX", "prefix": "W"}, "prefix"),
    ],
)
def test_bad_generate_bodies_are_400(
    client: TestClient, unchanged: None, body: Any, field: str
) -> None:
    answer = client.post(GENERATE, json=body, headers=admin_headers())
    assert answer.status_code == 400, answer.text
    assert (error(answer)["code"], error(answer)["field"]) == ("invalid_request", field)


def test_block_answers_the_code_and_keeps_the_first_time(
    client: TestClient, clock: FakeClock, pool: str
) -> None:
    assert import_json(
        client,
        [{"value": "DATED", "availableFromDateTimeUtc": "2026-02-01T00:00:00Z"}],
    ).json() == {"imported": 1, "rejected": []}
    blocked = {
        "value": "DATED",
        "pool": "WELCOME",
        "availableFromDateTimeUtc": "2026-02-01T00:00:00Z",
        "availableTillDateTimeUtc": None,
        "blockedDateTimeUtc": "2026-01-01T00:00:00Z",
        "issuedCustomerId": None,
        "issuedDateTimeUtc": None,
        "usedDateTimeUtc": None,
    }
    answer = block(client, "DATED")
    assert (answer.status_code, answer.json()) == (200, blocked)
    clock.advance(60_000)
    answer = block(client, "DATED")
    assert (answer.status_code, answer.json()) == (200, blocked)
    assert counts(client) == {**NO_COUNTS, "available": 2, "blocked": 1}


# -- refusals shared by every endpoint -------------------------------------------


def test_an_unknown_pool_is_404(client: TestClient, unchanged: None) -> None:
    url = "/admin/v1/pools/NOPE"
    headers = {**admin_headers(), "Content-Type": "text/csv"}
    for answer in (
        get_pool(client, url),
        import_json(client, ["NEW1"], url=f"{url}/codes"),
        client.post(f"{url}/codes", content=b"value\nNEW1\n", headers=headers),
        client.post(
            f"{url}/codes/generate", json={"count": 1, "pattern": "XXXX"}, headers=admin_headers()
        ),
    ):
        assert answer.status_code == 404, answer.text
        assert error(answer) == {
            "code": "not_found",
            "message": "Promo code pool not found",
            "field": "pool",
        }


def test_blocking_an_unknown_code_is_404(client: TestClient, unchanged: None) -> None:
    answer = block(client, "NOPE")
    assert answer.status_code == 404, answer.text
    assert error(answer) == {
        "code": "not_found",
        "message": "Promo code not found",
        "field": "value",
    }


_calls: list[tuple[str, str, dict[str, Any]]] = [
    ("PUT", POOL, {"json": {"name": "Mallory"}}),
    ("GET", POOL, {}),
    ("PUT", "/admin/v1/pools/OTHER", {"json": {"name": "Other"}}),
    ("POST", CODES, {"json": {"codes": ["NEW1"]}}),
    ("POST", CODES, {"content": b"value\nNEW1\n", "headers": {"Content-Type": "text/csv"}}),
    ("POST", CODES, {"content": b"not even csv", "headers": {"Content-Type": "text/csv"}}),
    ("POST", GENERATE, {"json": {"count": 5, "pattern": "XXXX"}}),
    ("POST", "/admin/v1/promo-codes/OLD1/block", {}),
]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Bearer {CP_TOKEN}", "Bearer "])
def test_requests_without_the_admin_token_are_401(
    client: TestClient, unchanged: None, authorization: str | None
) -> None:
    for method, path, options in _calls:
        headers = dict(options.get("headers", {}))
        if authorization is not None:
            headers["Authorization"] = authorization
        answer = client.request(method, path, **{**options, "headers": headers})
        assert answer.status_code == 401, (method, path)
        assert error(answer) == {"code": "unauthorized", "message": "Not Authorized", "field": None}


def test_the_openapi_document_describes_the_promo_paths(client: TestClient) -> None:
    paths = client.get("/admin/openapi.json").json()["paths"]
    assert set(paths["/v1/pools/{externalId}"]) == {"get", "put"}
    assert set(paths["/v1/pools/{externalId}/codes/generate"]) == {"post"}
    assert set(paths["/v1/promo-codes/{value}/block"]) == {"post"}
    body = paths["/v1/pools/{externalId}/codes"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "text/csv"}
    codes = body["content"]["application/json"]["schema"]["properties"]["codes"]
    assert [kind.get("type") for kind in codes["items"]["anyOf"]] == ["string", "object"]
    for path, operations in paths.items():
        if path.startswith(("/v1/pools", "/v1/promo-codes")):
            for operation in operations.values():
                assert {"400", "401", "404", "413"} <= set(operation["responses"])
                assert "422" not in operation["responses"]
                assert operation["tags"] == ["promo codes"]


# -- pool discounts ------------------------------------------------------------

PERCENT_OFF = {"percent": 10}
AMOUNT_OFF = {"amount": "5.5", "orderTotalMin": "20", "excludedProducts": ["GIFT", "BOOK"]}


def test_a_percent_pool_round_trips(client: TestClient) -> None:
    answer = put_pool(client, {"name": "Welcome", "discount": PERCENT_OFF})
    shown = {"percent": 10, "amount": None, "orderTotalMin": "0.00", "excludedProducts": []}
    assert (answer.status_code, answer.json()["discount"]) == (200, shown)
    assert get_pool(client).json()["discount"] == shown


def test_an_amount_pool_round_trips_with_money_as_text(client: TestClient) -> None:
    answer = put_pool(client, {"name": "Welcome", "discount": AMOUNT_OFF})
    shown = {
        "percent": None,
        "amount": "5.50",
        "orderTotalMin": "20.00",
        "excludedProducts": ["BOOK", "GIFT"],
    }
    assert (answer.status_code, answer.json()["discount"]) == (200, shown)
    assert get_pool(client).json()["discount"] == shown


def test_changing_other_keys_keeps_the_discount(client: TestClient) -> None:
    first = put_pool(client, {"name": "Welcome", "discount": AMOUNT_OFF}).json()
    answer = put_pool(client, {"name": "Hello", "description": "Hi", "multiUse": True})
    changed = {**first, "name": "Hello", "description": "Hi", "multiUse": True}
    assert (answer.status_code, answer.json()) == (200, changed)
    assert get_pool(client).json() == changed


def test_a_new_discount_replaces_the_old_one_whole(client: TestClient) -> None:
    put_pool(client, {"name": "Welcome", "discount": AMOUNT_OFF})
    answer = put_pool(client, {"discount": PERCENT_OFF})
    shown = {"percent": 10, "amount": None, "orderTotalMin": "0.00", "excludedProducts": []}
    assert (answer.status_code, answer.json()["discount"]) == (200, shown)


def test_an_explicit_null_clears_the_discount(client: TestClient) -> None:
    first = put_pool(client, {"name": "Welcome", "discount": PERCENT_OFF}).json()
    answer = put_pool(client, {"discount": None})
    assert (answer.status_code, answer.json()) == (200, {**first, "discount": None})
    assert get_pool(client).json()["discount"] is None


@pytest.mark.parametrize(
    ("discount", "field", "message"),
    [
        ({"percent": 10, "amount": "5.00"}, "discount", "give either percent or amount"),
        ({}, "discount", "give either percent or amount"),
        ({"orderTotalMin": "20.00"}, "discount", "give either percent or amount"),
        ({"percent": 0}, "discount.percent", None),
        ({"percent": 101}, "discount.percent", None),
        ({"percent": "10"}, "discount.percent", None),
        ({"percent": 10.0}, "discount.percent", None),
        ({"percent": True}, "discount.percent", None),
        ({"amount": "5.001"}, "discount.amount", None),
        ({"amount": "0.00"}, "discount", "amount must be above 0.00"),
        ({"amount": 5}, "discount.amount", None),
        ({"amount": 5.0}, "discount.amount", None),
        ({"percent": 10, "orderTotalMin": 20}, "discount.orderTotalMin", None),
        ({"percent": 10, "off": 1}, "discount.off", "Unknown field"),
        ({"percent": 10, "excludedProducts": "GIFT"}, "discount.excludedProducts", None),
        ({"percent": 10, "excludedProducts": [""]}, "discount.excludedProducts.0", None),
        (
            {"percent": 10, "excludedProducts": [f"P{n}" for n in range(1001)]},
            "discount.excludedProducts",
            None,
        ),
        (10, "discount", None),
        ("10%", "discount", None),
    ],
)
def test_bad_discounts_are_400_and_change_nothing(
    client: TestClient, config: Config, discount: Any, field: str, message: str | None
) -> None:
    put_pool(client, {"name": "Welcome", "discount": AMOUNT_OFF})
    before = db_snapshot(config)
    answer = put_pool(client, {"name": "Changed", "discount": discount})
    assert answer.status_code == 400, answer.text
    found = error(answer)
    assert (found["code"], found["field"]) == ("invalid_request", field)
    if message is not None:
        assert found["message"] == message
    assert db_snapshot(config) == before


def test_a_bad_discount_of_a_new_pool_creates_nothing(client: TestClient, config: Config) -> None:
    before = db_snapshot(config)
    answer = put_pool(client, {"name": "Welcome", "discount": {"percent": 101}})
    assert (answer.status_code, error(answer)["field"]) == (400, "discount.percent")
    assert db_snapshot(config) == before
    assert get_pool(client).status_code == 404


def test_a_thousand_excluded_products_are_allowed(client: TestClient) -> None:
    products = [f"P{n:04d}" for n in range(1000)]
    discount = {"percent": 10, "excludedProducts": products}
    answer = put_pool(client, {"name": "Welcome", "discount": discount})
    assert answer.status_code == 200, answer.text
    assert get_pool(client).json()["discount"]["excludedProducts"] == products


def test_the_openapi_document_shows_discount_money_as_text(client: TestClient) -> None:
    schemas = client.get("/admin/openapi.json").json()["components"]["schemas"]
    properties = schemas["DiscountIn"]["properties"]
    assert [kind["type"] for kind in properties["amount"]["anyOf"]] == ["string", "null"]
    assert properties["orderTotalMin"]["type"] == "string"
