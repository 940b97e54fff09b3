"""How Maestra words a refusal: its text for the codes it says its own way,
and where each domain field sits in a request (``error_location``).

A refusal's message names its field by the last step of that location
(``changeAmount must be …``). A kind that knows better where a refusal
points in its request (the balance change a debit was refused for)
re-points it with ``PointkeeperError.restated(field=location)``; a field
that already is a location is answered as it is.
"""

from __future__ import annotations

from typing import Any

from pointkeeper.errors import DuplicateTransaction, ErrorCode, PointkeeperError

__all__ = ["TEXTS", "error_location", "message", "refusal_tree"]

TEXTS: dict[ErrorCode, str] = {
    ErrorCode.insufficient_balance: "The debit is larger than the available balance",
    ErrorCode.not_enrolled: "Not enrolled in Loyalty",
    ErrorCode.transaction_reused: "This transactionId was already used for a different request",
}

# Where a refusal from the services points in the request, by the domain's field name.
_locations = {
    "customer": "/operation/customer/ids",
    "ids": "/operation/customer/ids",
    "customer_number": "/operation/customer/ids/customerNumber",
    "website_id": "/operation/customer/ids/webSiteUserId",
    "email": "/operation/customer/email",
    "mobile_phone": "/operation/customer/mobilePhone",
    "status": "/operation/customer/status",
    "program": "/operation/customer/program",
    "change_amount": "/operation/balanceChanges/balanceChange/changeAmount",
    "expires_at": "/operation/balanceChanges/balanceChange/expirationDateTimeUtc",
    "point_of_contact": "/operation/pointOfContact/ids/externalId",
    "promo_code": "/operation/promoCode/ids/value",
    "pool": "/operation/promoCode/pool/ids/externalId",
    "segment": "/operation/segment/ids/externalId",
    "order": "/operation/order/ids",
    "order_website_id": "/operation/order/ids/websiteId",
    "order_line": "/operation/order/lines/line",
    "order_lines": "/operation/order/lines",
    "order_line_price": "/operation/order/lines/line/basePricePerItem",
    "order_line_quantity": "/operation/order/lines/line/quantity",
    "order_status": "/operation/order/lines/line/status/ids/externalId",
    "bonus_points": "/operation/order/bonusPoints/bonusPointsItem/amount",
    "coupon": "/operation/order/coupons/coupon/ids/code",
    "page_items": "/operation/page/itemsPerPage",
}


def error_location(field: str | None) -> str:
    if field is None:
        return "/operation"
    if field.startswith("/"):
        return field
    return _locations.get(field, f"/operation/{field}")


def message(error: PointkeeperError) -> str:
    name = None if error.field is None else error_location(error.field).rpartition("/")[2]
    return error.worded(TEXTS, field=name)


def refusal_tree(error: PointkeeperError) -> dict[str, Any]:
    """The answer to a refused call: a transactionId reused for another
    request is a ``ProtocolError``, every other refusal a ``ValidationError``
    at its location."""
    if isinstance(error, DuplicateTransaction):
        return {"status": "ProtocolError", "errorMessage": message(error)}
    return {
        "status": "ValidationError",
        "validationMessages": [
            {"message": message(error), "location": error_location(error.field)}
        ],
    }
