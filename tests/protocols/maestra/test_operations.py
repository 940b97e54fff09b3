"""Every operation kind against golden request/answer pairs in XML and JSON,
and the ExportBalanceChanges window, order and segment rules."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from starlette.testclient import TestClient

from pointkeeper import limits
from pointkeeper.store.sql import histories
from tests.conftest import FakeClock, admin_headers

from .conftest import (
    BALANCE,
    CHANGE,
    EDIT,
    EXPORT,
    FORMATS,
    GOLDEN_DIR,
    HISTORY,
    REGISTER,
    SINCE,
    TILL,
    admin,
    answer,
    balance_of,
    build_scenario,
    call,
    check_golden,
    golden_request,
    put_customer,
)

# golden name -> operation name
GOLDEN = {
    "export": EXPORT,
    "export-segment": EXPORT,
    "balance": BALANCE,
    "history": HISTORY,
    "change": CHANGE,
    "register": REGISTER,
    "edit": EDIT,
}

# The answer of seed 000, element names only, as the seed writes it.
SEED_000_ANSWER = """
<result>
  <status/>
  <customerActions>
    <customerAction>
      <ids><customerActionId/><transactionId/></ids>
      <actionTemplate><systemName/><name/></actionTemplate>
      <dateTimeUtc/>
      <pointOfContact><ids><externalId/></ids></pointOfContact>
      <customer><ids><customerId/><webSiteId/></ids></customer>
      <customerBalanceChanges>
        <customerBalanceChange>
          <changeAmount/>
          <expirationDateTimeUtc/>
          <balanceChangeKind><systemName/></balanceChangeKind>
        </customerBalanceChange>
      </customerBalanceChanges>
    </customerAction>
  </customerActions>
</result>
"""


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden(client: TestClient, clock: FakeClock, name: str, fmt: str) -> None:
    build_scenario(client, clock)
    response = call(client, GOLDEN[name], golden_request(name, fmt), fmt=fmt)
    assert response.status_code == 200, response.text
    check_golden(name, fmt, response)


def _paths(element: ET.Element, prefix: str = "") -> set[str]:
    """Every element path, list items folded together."""
    here = f"{prefix}/{element.tag}"
    found = {here}
    for child in element:
        found |= _paths(child, here)
    return found


def _child_orders(element: ET.Element, prefix: str = "") -> dict[str, list[list[str]]]:
    """For every path, the tags of its children as each occurrence has them."""
    here = f"{prefix}/{element.tag}"
    orders: dict[str, list[list[str]]] = {here: [[child.tag for child in element]]}
    for child in element:
        for path, found in _child_orders(child, here).items():
            orders.setdefault(path, []).extend(found)
    return orders


def test_golden_export_has_exactly_the_seed_000_shape() -> None:
    seed = ET.fromstring(SEED_000_ANSWER)
    golden = ET.parse(GOLDEN_DIR / "export.response.xml").getroot()
    # Every element of the seed is there somewhere, and nothing else.
    assert _paths(golden) == _paths(seed)
    # Each element's children come in the seed's order (optional ones may be
    # left out, list items repeat).
    seed_orders = {path: found[0] for path, found in _child_orders(seed).items()}
    for path, occurrences in _child_orders(golden).items():
        order = seed_orders[path]
        for tags in occurrences:
            positions = [order.index(tag) for tag in tags]
            assert positions == sorted(positions), (path, tags)
    actions = golden.find("customerActions")
    assert actions is not None
    for action in actions:
        date = action.findtext("dateTimeUtc")
        assert date is not None
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", date), date


def _export(
    client: TestClient, since: str, till: str, segment: str | None = None, fmt: str = "json"
) -> dict[str, object]:
    body: dict[str, object] = {"sinceDateTimeUtc": since, "tillDateTimeUtc": till}
    if segment is not None:
        body["segment"] = {"ids": {"externalId": segment}}
    if fmt == "xml":
        xml = (
            f"<operation><sinceDateTimeUtc>{since}</sinceDateTimeUtc>"
            f"<tillDateTimeUtc>{till}</tillDateTimeUtc>"
            + (
                ""
                if segment is None
                else f"<segment><ids><externalId>{segment}</externalId></ids></segment>"
            )
            + "</operation>"
        )
        response = call(client, EXPORT, xml)
    else:
        response = call(client, EXPORT, body, fmt="json")
    assert response.status_code == 200, response.text
    return answer(response)


def _action_ids(tree: dict[str, object]) -> list[int]:
    actions = tree["customerActions"]
    assert isinstance(actions, list)
    return [int(action["ids"]["customerActionId"]) for action in actions]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_since_is_inclusive_and_till_exclusive(
    client: TestClient, clock: FakeClock, fmt: str
) -> None:
    build_scenario(client, clock)
    # Action 2 is exactly at SINCE, action 7 exactly at TILL.
    assert _action_ids(_export(client, SINCE, TILL, fmt=fmt)) == [2, 3, 4, 5, 6]
    # One millisecond later and earlier, in other accepted spellings.
    assert _action_ids(
        _export(client, "2025-12-15 00:00:00.001", "2026-01-02T00:00:00.001Z", fmt=fmt)
    ) == [3, 4, 5, 6, 7]
    # The whole history, and a window holding nothing.
    everything = _export(client, "2025-01-01 00:00", "2027-01-01 00:00", fmt=fmt)
    assert _action_ids(everything) == [1, 2, 3, 4, 5, 6, 7]
    assert _action_ids(_export(client, "2024-01-01 00:00", "2025-01-01 00:00", fmt=fmt)) == []


def test_export_lists_oldest_first_not_by_id(client: TestClient, clock: FakeClock) -> None:
    build_scenario(client, clock)
    # Made now (id 8), back-dated before every other: it comes first.
    admin(
        client,
        "POST",
        "/customers/C3/balance-changes",
        {"changeAmount": 1, "dateTimeUtc": "2025-11-01T00:00:00Z"},
    )
    tree = _export(client, "2025-01-01 00:00", "2027-01-01 00:00")
    assert _action_ids(tree) == [8, 1, 2, 3, 4, 5, 6, 7]
    actions = tree["customerActions"]
    assert isinstance(actions, list)
    dates = [action["dateTimeUtc"] for action in actions]
    assert dates == sorted(dates)


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_segment_holds_only_its_current_members(
    client: TestClient, clock: FakeClock, fmt: str
) -> None:
    build_scenario(client, clock)
    # vip holds C1 (actions 2, 4, 5) and C3 (action 3).
    assert _action_ids(_export(client, SINCE, TILL, "vip", fmt=fmt)) == [2, 3, 4, 5]
    admin(client, "PUT", "/segments/new", {"name": "Empty so far"})
    assert _action_ids(_export(client, SINCE, TILL, "new", fmt=fmt)) == []
    admin(client, "POST", "/segments/new/members", {"customerNumbers": ["C2"]})
    assert _action_ids(_export(client, SINCE, TILL, "new", fmt=fmt)) == [6]
    response = client.delete("/admin/v1/segments/vip/members/C1", headers=admin_headers())
    assert response.status_code in (200, 204), response.text
    assert _action_ids(_export(client, SINCE, TILL, "vip", fmt=fmt)) == [3]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_unknown_segment_is_a_validation_error(
    client: TestClient, clock: FakeClock, fmt: str
) -> None:
    build_scenario(client, clock)
    tree = _export(client, SINCE, TILL, "no-such-segment", fmt=fmt)
    assert tree == {
        "status": "ValidationError",
        "validationMessages": [
            {"message": "Segment not found", "location": "/operation/segment/ids/externalId"}
        ],
    }


@pytest.mark.parametrize(
    ("since", "till"), [(TILL, SINCE), (SINCE, SINCE)], ids=["reversed", "empty"]
)
def test_export_till_must_come_after_since(
    client: TestClient, clock: FakeClock, since: str, till: str
) -> None:
    tree = _export(client, since, till)
    assert tree["status"] == "ValidationError"
    assert tree["validationMessages"] == [
        {"message": "must come after sinceDateTimeUtc", "location": "/operation/tillDateTimeUtc"}
    ]


def test_export_xml_and_json_carry_the_same_actions(client: TestClient, clock: FakeClock) -> None:
    build_scenario(client, clock)
    from_xml = _export(client, SINCE, TILL, fmt="xml")
    from_json = _export(client, SINCE, TILL, fmt="json")

    def as_text(value: object) -> object:
        if isinstance(value, dict):
            return {key: as_text(item) for key, item in value.items()}
        if isinstance(value, list):
            return [as_text(item) for item in value]
        return str(value)

    assert as_text(from_json) == from_xml


# ------------------------------------------------- what the goldens changed


@pytest.mark.parametrize("fmt", FORMATS)
def test_change_credits_and_debits_the_customer(
    client: TestClient, clock: FakeClock, fmt: str
) -> None:
    build_scenario(client, clock)
    assert balance_of(client, "C2") == 150
    response = call(client, CHANGE, golden_request("change", fmt), fmt=fmt)
    assert answer(response)["status"] == "Success"
    assert balance_of(client, "C2") == 175
    tree = _export(client, "2026-01-03 00:00", "2026-01-04 00:00")
    assert tree["customerActions"] == [
        {
            "ids": {"customerActionId": 8},
            "actionTemplate": {"systemName": CHANGE, "name": CHANGE},
            "dateTimeUtc": "2026-01-03 12:30:15.250",
            "pointOfContact": {"ids": {"externalId": "store-1"}},
            "customer": {"ids": {"customerId": 2, "webSiteId": "w2"}},
            "customerBalanceChanges": [
                {
                    "changeAmount": 25,
                    "expirationDateTimeUtc": "2026-12-31 23:59:59.999",
                    "balanceChangeKind": {"systemName": "Custom"},
                }
            ],
        }
    ]


def test_a_debit_over_the_available_balance_is_refused(
    client: TestClient, clock: FakeClock
) -> None:
    build_scenario(client, clock)
    response = call(
        client,
        CHANGE,
        {"customer": {"ids": {"customerNumber": "C3"}}, "balanceChanges": [{"changeAmount": -21}]},
        fmt="json",
    )
    assert answer(response) == {
        "status": "ValidationError",
        "validationMessages": [
            {
                "message": "The debit is larger than the available balance",
                "location": "/operation/balanceChanges/balanceChange/changeAmount",
            }
        ],
    }
    assert balance_of(client, "C3") == 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_register_creates_the_customer(client: TestClient, clock: FakeClock, fmt: str) -> None:
    response = call(client, REGISTER, golden_request("register", fmt), fmt=fmt)
    assert answer(response)["status"] == "Success"
    customer = admin(client, "GET", "/customers/C4")
    assert {key: value for key, value in customer.items() if key != "balances"} == {
        "customerId": 1,
        "customerNumber": "C4",
        "websiteId": "w4",
        "email": "dana@example.com",
        "mobilePhone": "79990000004",
        "firstName": "Dana",
        "lastName": "Doe",
        "program": "Loyalty program 1",
        "status": "active",
    }
    # The new customer is found by every id it was given.
    for ids in (
        {"customerId": 1},
        {"mindboxId": 1},
        {"webSiteUserId": "w4"},
        {"webSiteId": "w4"},
        {"customerNumber": "C4"},
        {"email": "dana@example.com"},
        {"mobilePhone": "79990000004"},
    ):
        found = call(client, BALANCE, {"customer": {"ids": ids}}, fmt="json")
        assert answer(found)["customer"]["ids"]["customerId"] == 1, ids


def test_register_twice_with_the_same_id_is_refused(client: TestClient) -> None:
    put_customer(client, "C1", websiteId="w1")
    response = call(client, REGISTER, {"customer": {"ids": {"webSiteUserId": "w1"}}}, fmt="json")
    tree = answer(response)
    assert tree["status"] == "ValidationError", tree


@pytest.mark.parametrize("fmt", FORMATS)
def test_edit_changes_only_the_given_fields(client: TestClient, clock: FakeClock, fmt: str) -> None:
    build_scenario(client, clock)
    response = call(client, EDIT, golden_request("edit", fmt), fmt=fmt)
    assert answer(response)["status"] == "Success"
    customer = admin(client, "GET", "/customers/C3")
    assert customer["websiteId"] == "w3"
    assert customer["email"] == "cora@example.com"
    assert customer["firstName"] == "Cora"
    assert customer["lastName"] is None
    assert customer["program"] == "Loyalty program 1"
    assert customer["balances"]["pointBalance"] == 20


def test_edit_found_by_email_changes_the_email(client: TestClient) -> None:
    put_customer(client, "C1", email="old@example.com")
    body = {"customer": {"ids": {"email": "old@example.com"}, "email": "new@example.com"}}
    assert answer(call(client, EDIT, body, fmt="json"))["status"] == "Success"
    assert admin(client, "GET", "/customers/C1")["email"] == "new@example.com"


@pytest.mark.parametrize(("body_fmt", "answer_fmt"), [("xml", "json"), ("json", "xml")])
def test_the_streamed_export_answers_in_the_accepted_format(
    client: TestClient, clock: FakeClock, body_fmt: str, answer_fmt: str
) -> None:
    build_scenario(client, clock)
    response = call(
        client,
        EXPORT,
        golden_request("export", body_fmt),
        fmt=body_fmt,
        headers={"Accept": f"application/{answer_fmt}"},
    )
    assert response.status_code == 200, response.text
    check_golden("export", answer_fmt, response)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["history", "export", "export-segment"])
def test_golden_answers_stand_with_one_value_per_in_list(
    client: TestClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, name: str, fmt: str
) -> None:
    """Every ``IN (...)`` list in chunks of one value; an export that reads
    one row at a time and keeps one name of each sort, so that it reads
    names again as rows name them: the answers stay the golden ones."""
    monkeypatch.setattr(limits, "in_list_values_max", 1)
    monkeypatch.setattr(limits, "export_names_cached_max", 1)
    monkeypatch.setattr(histories, "_export_rows_per_fetch", 1)
    build_scenario(client, clock)
    response = call(client, GOLDEN[name], golden_request(name, fmt), fmt=fmt)
    assert response.status_code == 200, response.text
    check_golden(name, fmt, response)
