"""transactionId (SPEC §3): a state-changing call repeated with the same id
on the same endpoint does nothing new and answers the original result; the
same id with another request is a 409; ids are per endpoint."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper.config import Config
from tests.conftest import FakeClock, db_snapshot

from .conftest import (
    BALANCE,
    CHANGE,
    EDIT,
    FORMATS,
    OTHER_ENDPOINT,
    OTHER_KEY,
    REGISTER,
    admin,
    answer,
    balance_of,
    call,
    put_customer,
)

# Each state-changing kind, one request in both formats.
REQUESTS: dict[str, dict[str, Any]] = {
    CHANGE: {
        "xml": "<operation><customer><ids><customerNumber>C1</customerNumber></ids></customer>"
        "<balanceChanges><balanceChange><changeAmount>40</changeAmount>"
        "<comment>gift</comment><expirationDateTimeUtc>2026-12-31 00:00</expirationDateTimeUtc>"
        "</balanceChange></balanceChanges></operation>",
        "json": {
            "customer": {"ids": {"customerNumber": "C1"}},
            "balanceChanges": [
                {
                    "changeAmount": 40,
                    "comment": "gift",
                    "expirationDateTimeUtc": "2026-12-31 00:00",
                }
            ],
        },
    },
    REGISTER: {
        "xml": "<operation><customer><ids><webSiteUserId>w2</webSiteUserId>"
        "<customerNumber>C2</customerNumber></ids><email>c2@example.com</email>"
        "<program>Loyalty program 1</program></customer></operation>",
        "json": {
            "customer": {
                "ids": {"webSiteUserId": "w2", "customerNumber": "C2"},
                "email": "c2@example.com",
                "program": "Loyalty program 1",
            }
        },
    },
    EDIT: {
        "xml": "<operation><customer><ids><customerNumber>C1</customerNumber></ids>"
        "<firstName>Ann</firstName></customer></operation>",
        "json": {"customer": {"ids": {"customerNumber": "C1"}, "firstName": "Ann"}},
    },
}

# The same requests with one value changed.
OTHER_REQUESTS: dict[str, dict[str, Any]] = {
    CHANGE: {
        "xml": REQUESTS[CHANGE]["xml"].replace(">40<", ">41<"),
        "json": {
            "customer": {"ids": {"customerNumber": "C1"}},
            "balanceChanges": [
                {
                    "changeAmount": 41,
                    "comment": "gift",
                    "expirationDateTimeUtc": "2026-12-31 00:00",
                }
            ],
        },
    },
    REGISTER: {
        "xml": REQUESTS[REGISTER]["xml"].replace("c2@", "other@"),
        "json": {
            "customer": {
                "ids": {"webSiteUserId": "w2", "customerNumber": "C2"},
                "email": "other@example.com",
                "program": "Loyalty program 1",
            }
        },
    },
    EDIT: {
        "xml": REQUESTS[EDIT]["xml"].replace("Ann", "Anna"),
        "json": {"customer": {"ids": {"customerNumber": "C1"}, "firstName": "Anna"}},
    },
}


@pytest.fixture
def shop(client: TestClient, clock: FakeClock) -> TestClient:
    """C1 (webSiteId w1) holds 100 points."""
    put_customer(client, "C1", websiteId="w1")
    admin(client, "POST", "/customers/C1/balance-changes", {"changeAmount": 100})
    clock.advance(1_000)
    return client


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("operation", list(REQUESTS))
def test_a_replay_answers_the_original_and_changes_nothing(
    shop: TestClient, config: Config, clock: FakeClock, operation: str, fmt: str
) -> None:
    body = REQUESTS[operation][fmt]
    first = call(shop, operation, body, fmt=fmt, transaction_id="tx-1")
    assert first.status_code == 200
    assert answer(first)["status"] == "Success", first.text
    after_first = db_snapshot(config)
    clock.advance(60_000)
    for _ in range(3):
        again = call(shop, operation, body, fmt=fmt, transaction_id="tx-1")
        assert again.status_code == 200
        assert again.content == first.content
        assert again.headers["content-type"] == first.headers["content-type"]
    assert db_snapshot(config) == after_first


def test_a_replay_answers_the_original_even_after_other_changes(shop: TestClient) -> None:
    body = REQUESTS[CHANGE]["json"]
    first = call(shop, CHANGE, body, fmt="json", transaction_id="tx-1")
    assert answer(first)["balances"][0]["totalValue"] == 140
    # Another change without an id moves the balance on.
    later = call(shop, CHANGE, body, fmt="json")
    assert answer(later)["balances"][0]["totalValue"] == 180
    again = call(shop, CHANGE, body, fmt="json", transaction_id="tx-1")
    # The kept answer, not a new one: 140, while the balance is 180.
    assert again.content == first.content
    assert balance_of(shop, "C1") == 180


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("operation", list(REQUESTS))
def test_the_same_id_with_another_request_is_409(
    shop: TestClient, config: Config, operation: str, fmt: str
) -> None:
    first = call(shop, operation, REQUESTS[operation][fmt], fmt=fmt, transaction_id="tx-1")
    assert answer(first)["status"] == "Success", first.text
    before = db_snapshot(config)
    response = call(shop, operation, OTHER_REQUESTS[operation][fmt], fmt=fmt, transaction_id="tx-1")
    assert response.status_code == 409, response.text
    tree = answer(response)
    assert tree["status"] == "ProtocolError"
    assert tree["errorMessage"]
    assert db_snapshot(config) == before
    # And the original still replays.
    again = call(shop, operation, REQUESTS[operation][fmt], fmt=fmt, transaction_id="tx-1")
    assert again.content == first.content


def test_the_same_id_for_another_operation_is_409(shop: TestClient, config: Config) -> None:
    assert (
        answer(call(shop, EDIT, REQUESTS[EDIT]["json"], fmt="json", transaction_id="tx"))["status"]
        == "Success"
    )
    before = db_snapshot(config)
    response = call(shop, CHANGE, REQUESTS[CHANGE]["json"], fmt="json", transaction_id="tx")
    assert response.status_code == 409, response.text
    assert db_snapshot(config) == before


@pytest.mark.parametrize(("first_fmt", "second_fmt"), [("xml", "json"), ("json", "xml")])
@pytest.mark.parametrize("operation", list(REQUESTS))
def test_xml_and_json_of_one_request_are_the_same_request(
    shop: TestClient, config: Config, operation: str, first_fmt: str, second_fmt: str
) -> None:
    first = call(
        shop, operation, REQUESTS[operation][first_fmt], fmt=first_fmt, transaction_id="tx-1"
    )
    assert answer(first)["status"] == "Success", first.text
    before = db_snapshot(config)
    second = call(
        shop, operation, REQUESTS[operation][second_fmt], fmt=second_fmt, transaction_id="tx-1"
    )
    assert second.status_code == 200, second.text
    assert db_snapshot(config) == before
    # The original result, now in the second format; XML carries every
    # value as text.
    assert _as_text(answer(second)) == _as_text(answer(first))
    # Asked for in the first format, it is the original answer to the byte.
    accept = {"Accept": f"application/{first_fmt}"}
    third = call(
        shop,
        operation,
        REQUESTS[operation][second_fmt],
        fmt=second_fmt,
        transaction_id="tx-1",
        headers=accept,
    )
    assert third.content == first.content


def test_layout_and_key_order_do_not_make_another_request(shop: TestClient, config: Config) -> None:
    first = call(shop, CHANGE, REQUESTS[CHANGE]["xml"], transaction_id="tx-1")
    assert answer(first)["status"] == "Success"
    before = db_snapshot(config)
    pretty = (
        '<?xml version="1.0" encoding="utf-8"?>\n<operation>\n  <customer>\n    <ids>\n'
        "      <customerNumber>C1</customerNumber>\n    </ids>\n  </customer>\n"
        "  <balanceChanges>\n    <balanceChange>\n      <changeAmount>40</changeAmount>\n"
        "      <comment>gift</comment>\n"
        "      <expirationDateTimeUtc>2026-12-31 00:00</expirationDateTimeUtc>\n"
        "    </balanceChange>\n  </balanceChanges>\n</operation>\n"
    )
    assert call(shop, CHANGE, pretty, transaction_id="tx-1").content == first.content
    reordered = (
        '{"balanceChanges": [{"expirationDateTimeUtc": "2026-12-31 00:00", "comment": "gift",'
        ' "changeAmount": 40}], "customer": {"ids": {"customerNumber": "C1"}}}'
    )
    response = call(
        shop, CHANGE, reordered, fmt="json", transaction_id="tx-1", headers={"Accept": "*/*"}
    )
    assert response.status_code == 200, response.text
    assert db_snapshot(config) == before


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return str(value)


def test_ids_are_per_endpoint(shop: TestClient) -> None:
    body = REQUESTS[CHANGE]["json"]
    web = call(shop, CHANGE, body, fmt="json", transaction_id="tx-1")
    app = call(
        shop,
        CHANGE,
        body,
        fmt="json",
        transaction_id="tx-1",
        endpoint=OTHER_ENDPOINT,
        key=OTHER_KEY,
    )
    assert answer(web)["balances"][0]["totalValue"] == 140
    assert answer(app)["balances"][0]["totalValue"] == 180
    # Another request under the same id on the other endpoint is no conflict.
    other = call(
        shop,
        CHANGE,
        OTHER_REQUESTS[CHANGE]["json"],
        fmt="json",
        transaction_id="tx-2",
        endpoint=OTHER_ENDPOINT,
        key=OTHER_KEY,
    )
    assert answer(call(shop, CHANGE, body, fmt="json", transaction_id="tx-2"))["status"] == (
        "Success"
    )
    assert answer(other)["status"] == "Success"
    # Each endpoint replays its own.
    assert call(shop, CHANGE, body, fmt="json", transaction_id="tx-1").content == web.content
    assert (
        call(
            shop,
            CHANGE,
            body,
            fmt="json",
            transaction_id="tx-1",
            endpoint=OTHER_ENDPOINT,
            key=OTHER_KEY,
        ).content
        == app.content
    )
    assert balance_of(shop, "C1") == 100 + 40 + 40 + 41 + 40


def test_a_refused_call_keeps_nothing_under_its_id(shop: TestClient) -> None:
    too_much = {
        "customer": {"ids": {"customerNumber": "C1"}},
        "balanceChanges": [{"changeAmount": -500}],
    }
    refused = call(shop, CHANGE, too_much, fmt="json", transaction_id="tx-1")
    assert answer(refused)["status"] == "ValidationError"
    # Judged anew: the same refusal again, then another request is no conflict.
    assert call(shop, CHANGE, too_much, fmt="json", transaction_id="tx-1").content == (
        refused.content
    )
    accepted = call(shop, CHANGE, REQUESTS[CHANGE]["json"], fmt="json", transaction_id="tx-1")
    assert answer(accepted)["status"] == "Success"
    assert balance_of(shop, "C1") == 140


def test_reads_are_not_kept_under_their_id(shop: TestClient) -> None:
    ids = {"customer": {"ids": {"customerNumber": "C1"}}}
    first = call(shop, BALANCE, ids, fmt="json", transaction_id="read-1")
    assert answer(first)["balances"][0]["totalValue"] == 100
    call(shop, CHANGE, REQUESTS[CHANGE]["json"], fmt="json")
    again = call(shop, BALANCE, ids, fmt="json", transaction_id="read-1")
    assert answer(again)["balances"][0]["totalValue"] == 140
    other = call(
        shop,
        BALANCE,
        {"customer": {"ids": {"webSiteUserId": "w1"}}},
        fmt="json",
        transaction_id="read-1",
    )
    assert other.status_code == 200


def test_a_replayed_register_creates_no_second_customer(shop: TestClient, config: Config) -> None:
    first = call(shop, REGISTER, REQUESTS[REGISTER]["xml"], transaction_id="reg-1")
    assert answer(first)["customer"]["ids"]["customerId"] == "2"
    # Without the id the same call is refused: the customer exists already.
    duplicate = call(shop, REGISTER, REQUESTS[REGISTER]["xml"])
    assert answer(duplicate)["status"] == "ValidationError"
    assert call(shop, REGISTER, REQUESTS[REGISTER]["xml"], transaction_id="reg-1").content == (
        first.content
    )
    customers = db_snapshot(config)["customers"]
    assert len(customers) == 2


def test_concurrent_retries_run_once(shop: TestClient) -> None:
    body = REQUESTS[CHANGE]["json"]

    def send(_: int) -> bytes:
        response = call(shop, CHANGE, body, fmt="json", transaction_id="tx-race")
        assert response.status_code == 200, response.text
        return response.content

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = set(pool.map(send, range(16)))
    assert len(answers) == 1
    assert balance_of(shop, "C1") == 140


def test_a_kept_answer_is_pruned_after_the_retention_and_the_id_is_new_again(
    shop: TestClient, clock: FakeClock, config: Config
) -> None:
    body = REQUESTS[CHANGE]["json"]
    assert call(shop, CHANGE, body, fmt="json", transaction_id="t-1").status_code == 200
    assert balance_of(shop, "C1") == 140
    clock.advance((config.jobs.retention_days - 1) * 86_400_000)
    assert admin(shop, "POST", "/jobs/run")["pruned"] == 0
    call(shop, CHANGE, body, fmt="json", transaction_id="t-1")
    assert balance_of(shop, "C1") == 140  # still a replay
    clock.advance(2 * 86_400_000)
    assert admin(shop, "POST", "/jobs/run")["pruned"] == 1
    call(shop, CHANGE, body, fmt="json", transaction_id="t-1")
    assert balance_of(shop, "C1") == 180  # a new call under an old id
