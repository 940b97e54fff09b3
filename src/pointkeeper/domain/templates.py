"""The action templates the server itself records actions under. Each is
created once, with the name given here; an operator may rename it later."""

from __future__ import annotations

__all__ = [
    "BUILTIN_TEMPLATES",
    "TEMPLATE_ADMIN",
    "TEMPLATE_EARN",
    "TEMPLATE_EXPIRY",
    "TEMPLATE_PAYMENT",
    "TEMPLATE_REFUND",
]

TEMPLATE_EARN = "Loyalty.Earn"
TEMPLATE_PAYMENT = "Loyalty.RetailOrderPayment"
TEMPLATE_EXPIRY = "Loyalty.Expiry"
TEMPLATE_REFUND = "Loyalty.Refund"
TEMPLATE_ADMIN = "Admin.BalanceChange"

# System name -> the name it is created with.
BUILTIN_TEMPLATES = {
    TEMPLATE_EARN: "Loyalty points earned",
    TEMPLATE_PAYMENT: "Paying for a retail order with points",
    TEMPLATE_EXPIRY: "Points expiry",
    TEMPLATE_REFUND: "Refund of a points payment",
    TEMPLATE_ADMIN: "Manual balance change",
}
