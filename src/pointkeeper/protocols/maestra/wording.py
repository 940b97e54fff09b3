"""How Maestra words a refusal: its text for the codes it says its own way,
and where each domain field sits in a request (``error_location``).

A refusal's message names its field by the last step of that location
(``changeAmount must be …``). A kind that knows better where a refusal
points in its request (the balance change a debit was refused for)
re-points it with ``PointkeeperError.restated(field=location)``; a field
that already is a location is answered as it is.
"""

from __future__ import annotations

from pointkeeper.errors import ErrorCode, PointkeeperError

__all__ = ["DOMAIN_WORDED", "TEXTS", "error_location", "message"]

TEXTS: dict[ErrorCode, str] = {
    ErrorCode.insufficient_balance: "The debit is larger than the available balance",
    ErrorCode.not_enrolled: "Not enrolled in Loyalty",
    ErrorCode.transaction_reused: "This transactionId was already used for a different request",
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
        ErrorCode.code_window_reversed,
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
