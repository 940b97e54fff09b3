"""How the admin API (and the CLI, which speaks its names) words a
refusal: its text for the codes it says its own way, and the wire name of
each domain field that has another one (``field``); the rest are the same.
"""

from __future__ import annotations

from pointkeeper.errors import ErrorCode, PointkeeperError

__all__ = ["DOMAIN_WORDED", "TEXTS", "field", "message", "reason"]

TEXTS: dict[ErrorCode, str] = {
    ErrorCode.not_enrolled: "Not enrolled in Loyalty",
    ErrorCode.insufficient_balance: "No Balance Remaining",
    ErrorCode.code_window_reversed: (
        "availableTillDateTimeUtc must come after availableFromDateTimeUtc"
    ),
}
# The domain's codes answered in its own words (``ErrorCode.text``), each
# chosen: a code the domain gains is worded above or listed here
# (``tests/unit/test_wording.py``).
DOMAIN_WORDED = frozenset(
    {
        ErrorCode.customer_not_found,
        ErrorCode.customers_not_found,
        ErrorCode.ids_required,
        ErrorCode.id_taken,
        ErrorCode.program_not_found,
        ErrorCode.status_invalid,
        ErrorCode.points_out_of_range,
        ErrorCode.amount_out_of_range,
        ErrorCode.change_amount_invalid,
        ErrorCode.kind_invalid,
        ErrorCode.kind_reserved,
        ErrorCode.debit_dated,
        ErrorCode.expiry_before_availability,
        ErrorCode.template_not_found,
        ErrorCode.point_of_contact_not_found,
        ErrorCode.transaction_reused,
        ErrorCode.balance_change_not_found,
        ErrorCode.not_a_debit,
        ErrorCode.already_refunded,
        ErrorCode.sale_already_authorized,
        ErrorCode.hold_not_found,
        ErrorCode.hold_expired,
        ErrorCode.hold_resolved,
        ErrorCode.history_too_long,
        ErrorCode.too_many_open_holds,
        ErrorCode.pool_not_found,
        ErrorCode.pool_name_required,
        ErrorCode.window_reversed,
        ErrorCode.multi_use_fixed,
        ErrorCode.too_many_codes,
        ErrorCode.count_out_of_range,
        ErrorCode.pattern_invalid,
        ErrorCode.pattern_exhausted,
        ErrorCode.promo_code_not_found,
        ErrorCode.promo_code_value_invalid,
        ErrorCode.code_repeated,
        ErrorCode.code_exists,
        ErrorCode.promo_code_blocked,
        ErrorCode.promo_code_not_issued,
        ErrorCode.promo_code_not_yet_issued,
        ErrorCode.promo_code_used,
        ErrorCode.promo_code_not_yet_available,
        ErrorCode.promo_code_expired,
        ErrorCode.promo_code_not_used,
        ErrorCode.segment_not_found,
        ErrorCode.length_out_of_range,
        ErrorCode.too_many_members,
    }
)

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
