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

__all__ = ["BALANCE_CHECK_TEXTS", "TEXTS", "message"]

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

# The seed's names of the domain's fields, where a text names one.
_names = {"points": "Points", "amount": "RequestedAmount"}


def message(error: PointkeeperError, texts: Mapping[ErrorCode, str] = TEXTS) -> str:
    name = None if error.field is None else _names.get(error.field, error.field)
    return error.worded(texts, field=name)
