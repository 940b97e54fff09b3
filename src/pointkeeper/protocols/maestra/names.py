"""The Maestra element names that the codec treats specially.

Every other name passes through unchanged: the XML element name is the JSON
key. The names here are the exceptions, kept in this one file so that a new
list in a new operation is a one-line change.
"""

from __future__ import annotations

__all__ = ["ANSWER_ROOT", "LIST_ELEMENTS", "REQUEST_ROOT"]

# XML wraps a request in <operation> and an answer in <result>; JSON has no
# root wrapper at all.
REQUEST_ROOT = "operation"
ANSWER_ROOT = "result"

# A list is a plural wrapper element holding one singular element per item:
# <customerActions><customerAction>…</customerAction>…</customerActions> in
# XML, "customerActions": [{…}, …] in JSON (no inner item key).
LIST_ELEMENTS: dict[str, str] = {
    "appliedPromotions": "appliedPromotion",
    "balanceChanges": "balanceChange",
    "balances": "balance",
    "bonusPoints": "bonusPointsItem",
    "bonusPointsChanges": "bonusPointsChange",
    "bonusPointsInfo": "bonusPointsInfoItem",
    "coupons": "coupon",
    "couponsInfo": "couponInfo",
    "customerActions": "customerAction",
    "customerBalanceChanges": "customerBalanceChange",
    "lines": "line",
    "orders": "order",
    "promoCodes": "promoCode",
    "validationMessages": "validationMessage",
}
