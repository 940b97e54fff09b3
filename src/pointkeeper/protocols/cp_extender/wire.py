"""CP Extender's JSON: field names, date formats and error texts, parsed
into plain values and rendered from domain objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from pointkeeper import limits
from pointkeeper.domain.ledger import (
    KIND_EXPIRED,
    KIND_REFUND,
    KIND_RETAIL_ORDER_PAYMENT,
    check_points,
)
from pointkeeper.domain.time import Instant, from_datetime, to_datetime
from pointkeeper.errors import ErrorCode, InvalidRequest
from pointkeeper.protocols.text import refusal
from pointkeeper.services.loyalty import Statement
from pointkeeper.store.tx import ChangeRow

__all__ = [
    "AUTHORIZE_REQUIRED",
    "balance_check_body",
    "parse_authorize",
    "parse_balance_check_id",
    "parse_date",
    "parse_earn",
    "parse_hold_reference",
    "parse_json_object",
]

AUTHORIZE_REQUIRED = "Required: Type, Ref, SaleId, and (RequestedAmount or RequestedPoints)"
_date_formats = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
_activity_by_kind = {
    KIND_RETAIL_ORDER_PAYMENT: "Redemption",
    KIND_EXPIRED: "Expired",
    KIND_REFUND: "Refund",
}


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return value


def _checked(value: object, name: str, *, required: bool, chars_max: int, free_text: bool) -> str:
    if not isinstance(value, str) or (required and not value) or len(value) > chars_max:
        raise InvalidRequest(
            f"{name} must be a string of at most {chars_max} characters", field=name
        )
    problem = refusal(value, free_text=free_text)
    if problem is not None:
        raise InvalidRequest(f"{name} {problem}", field=name)
    return value


def _id(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    """An id: at most ``id_chars_max`` characters, none of them a control character."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required", field=name)
        return None
    return _checked(value, name, required=required, chars_max=limits.id_chars_max, free_text=False)


def _free_text(body: dict[str, Any], name: str) -> str | None:
    """Optional free text: tabs and line ends are kept, other control characters refused."""
    value = body.get(name)
    if value is None:
        return None
    return _checked(value, name, required=False, chars_max=limits.text_chars_max, free_text=True)


def parse_balance_check_id(value: str) -> str:
    """The customer number in the path of ``/Loyalty/{id}/BalanceCheck``."""
    return _checked(value, "Id", required=True, chars_max=limits.id_chars_max, free_text=False)


def parse_earn(body: dict[str, Any]) -> tuple[str, int, str | None, str | None]:
    """(customer number, points, reason, reference)."""
    customer_number = _id(body, "CustomerNumber", required=True)
    assert customer_number is not None
    if "Points" not in body:
        raise InvalidRequest("Points is required", field="Points")
    points = check_points(body["Points"])
    reason = _free_text(body, "Reason")
    reference = _id(body, "Reference", required=False)
    return customer_number, points, reason, reference


def parse_authorize(
    body: dict[str, Any],
) -> tuple[str, str, int | None, float | None, str | None]:
    """(customer number, sale id, points, amount, location), in the seed's
    order of checks: required fields, then the type, then the values."""
    required_present = all(body.get(name) not in (None, "") for name in ("Type", "Ref", "SaleId"))
    asked = body.get("RequestedPoints") is not None or body.get("RequestedAmount") is not None
    if not (required_present and asked):
        raise InvalidRequest(AUTHORIZE_REQUIRED)
    if not isinstance(body["Type"], str) or body["Type"].lower() != "loyalty":
        raise InvalidRequest("Type is not valid", field="Type")
    customer_number = _id(body, "Ref", required=True)
    sale_id = _id(body, "SaleId", required=True)
    location = _free_text(body, "Location")
    assert customer_number is not None and sale_id is not None
    if body.get("RequestedPoints") is not None:
        try:
            points = check_points(body["RequestedPoints"])
        except InvalidRequest as exc:
            raise exc.restated(field="RequestedPoints") from None
        return customer_number, sale_id, points, None, location
    return customer_number, sale_id, None, _requested_amount(body["RequestedAmount"]), location


def _requested_amount(amount: object) -> float:
    # Booleans are ints to Python, not numbers to a caller. A JSON integer
    # beyond 64 bits arrives as a float, and one beyond a double's range is
    # refused by the JSON parser already, so the bound sees every number.
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
        raise InvalidRequest("RequestedAmount must be a positive number", field="RequestedAmount")
    if amount > limits.requested_amount_units_max:
        raise InvalidRequest(code=ErrorCode.amount_out_of_range, field="amount")
    return float(amount)


def parse_hold_reference(body: dict[str, Any]) -> tuple[str, str]:
    """(customer number, auth code) of a Confirm or Cancel."""
    if not body.get("Ref") or not body.get("AuthCode"):
        raise InvalidRequest("Required: Ref and AuthCode")
    customer_number = _id(body, "Ref", required=True)
    auth_code = _id(body, "AuthCode", required=True)
    assert customer_number is not None and auth_code is not None
    return customer_number, auth_code


def parse_date(value: object, name: str) -> Instant:
    """``MM/DD/YYYY hh:mm:ss.fff`` in UTC; seconds, fraction and time may be left out."""
    if isinstance(value, str):
        for pattern in _date_formats:
            try:
                return from_datetime(datetime.strptime(value, pattern).replace(tzinfo=UTC))
            except ValueError:
                continue
    raise InvalidRequest(f"{name} must be a date as MM/DD/YYYY hh:mm:ss.fff", field=name)


def _date(instant: Instant) -> str:
    return to_datetime(instant).strftime("%m/%d/%Y")


def _change_row(change: ChangeRow, now: Instant) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if (
        change.change_amount > 0
        and change.available_from is not None
        and (change.available_from > now)
    ):
        row["Activity"] = "Pending Earn"
    elif change.kind in _activity_by_kind:
        row["Activity"] = _activity_by_kind[change.kind]
    elif change.change_amount < 0:
        row["Activity"] = "Adjustment"
    row["Date"] = _date(change.date_time_utc)
    row["PointAmount"] = change.change_amount
    for key, value in (
        ("Document", change.document),
        ("Reason", change.comment),
        ("Location", change.location),
    ):
        if value:
            row[key] = value
    return row


def balance_check_body(statement: Statement, *, now: Instant) -> bytes:
    history: list[dict[str, Any]] = []
    if statement.summary is not None:
        net, earliest = statement.summary
        history.append(
            {"Activity": "Historical Summary", "Date": _date(earliest), "PointAmount": net}
        )
    history.extend(_change_row(change, now) for change in statement.changes)
    for hold in statement.open_holds:
        charge: dict[str, Any] = {
            "Activity": "Pending Charge",
            "Date": _date(hold.created_at),
            "PointAmount": hold.points,
        }
        if hold.location:
            charge["Location"] = hold.location
        charge["Document"] = hold.sale_id
        history.append(charge)
    program = statement.program
    figures = statement.balances
    return orjson.dumps(
        {
            "Loyalty": {
                "CustomerNumber": statement.customer.customer_number,
                "ProgramName": program.name if program else None,
                "EarningDescription": program.earning_description if program else None,
                "RedemptionDescription": program.redemption_description if program else None,
                "Status": statement.customer.status,
                "PointBalance": figures.point_balance,
                "OpenAuthorizations": figures.open_authorizations,
                "PendingPointsEarned": figures.pending,
                "AvailablePointBalance": figures.available,
                "History": history,
            }
        }
    )
