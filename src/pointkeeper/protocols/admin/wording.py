"""How the admin API (and the CLI, which speaks its names) words a
refusal: its text for the codes it says its own way, and the wire name of
each domain field that has another one (``field``); the rest are the same.
"""

from __future__ import annotations

from pointkeeper.errors import ErrorCode, PointkeeperError

__all__ = ["TEXTS", "field", "message", "reason"]

TEXTS: dict[ErrorCode, str] = {
    ErrorCode.not_enrolled: "Not enrolled in Loyalty",
    ErrorCode.insufficient_balance: "No Balance Remaining",
    ErrorCode.code_window_reversed: (
        "availableTillDateTimeUtc must come after availableFromDateTimeUtc"
    ),
}

_names = {
    "available_till": "availableTillDateTimeUtc",
    "balance_change": "balanceChangeId",
    "change_amount": "changeAmount",
    "customer_number": "customerNumber",
    "customer_numbers": "customerNumbers",
    "expires_at": "expirationDateTimeUtc",
    "issue_end": "issueEndDateTimeUtc",
    "mobile_phone": "mobilePhone",
    "multi_use": "multiUse",
    "point_of_contact": "pointOfContact",
    "promo_code": "value",
    "segment": "externalId",
    "template": "actionTemplate",
    "website_id": "websiteId",
}


def field(error: PointkeeperError) -> str | None:
    return None if error.field is None else _names.get(error.field, error.field)


def message(error: PointkeeperError) -> str:
    return error.worded(TEXTS, field=field(error))


def reason(code: ErrorCode) -> str:
    """Why an imported row was rejected (``services.promo.ImportResult``)."""
    return TEXTS.get(code, code.text)
