"""How CP Extender words a refusal: the seed's texts for the codes it says
its own way, and its names for the fields a text names.

CP Extender answers no field, only a ``Message``. Where one endpoint words
a refusal otherwise (the balance check's "Id not found"), it answers with
its own table (``BALANCE_CHECK_TEXTS``); a field one request names its own
way is re-pointed with ``PointkeeperError.restated(field=name)``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pointkeeper.errors import ErrorCode, PointkeeperError

__all__ = ["BALANCE_CHECK_TEXTS", "DOMAIN_WORDED", "TEXTS", "message"]

TEXTS: dict[ErrorCode, str] = {
    ErrorCode.customer_not_found: "CustomerNumber Not Found",
    ErrorCode.not_enrolled: "Not enrolled in Loyalty",
    ErrorCode.insufficient_balance: "No Balance Remaining",
    ErrorCode.amount_out_of_range: "RequestedAmount is out of range",
    ErrorCode.sale_already_authorized: "SaleId is already authorized for different points",
    ErrorCode.hold_not_found: "AuthCode Not Found",
    ErrorCode.hold_expired: "Authorization has expired",
    ErrorCode.hold_resolved: "Authorization is already {status}",
    ErrorCode.history_too_long: "More than {rows_max} history rows; narrow startDate and endDate",
    ErrorCode.too_many_open_holds: (
        "More than {holds_max} open authorizations; confirm or cancel some"
    ),
}
BALANCE_CHECK_TEXTS: dict[ErrorCode, str] = {
    **TEXTS,
    ErrorCode.customer_not_found: "Id not found",
}
# The domain's codes answered in its own words (``ErrorCode.text``), each
# chosen: a code the domain gains is worded above or listed here
# (``tests/unit/test_wording.py``).
DOMAIN_WORDED = frozenset(
    {
        ErrorCode.customers_not_found,
        ErrorCode.ids_required,
        ErrorCode.id_taken,
        ErrorCode.program_not_found,
        ErrorCode.status_invalid,
        ErrorCode.points_out_of_range,
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

# The seed's names of the domain's fields, where a text names one.
_names = {"points": "Points", "amount": "RequestedAmount"}


def message(error: PointkeeperError, texts: Mapping[ErrorCode, str] = TEXTS) -> str:
    name = None if error.field is None else _names.get(error.field, error.field)
    return error.worded(texts, field=name)
