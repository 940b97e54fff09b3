"""Customers, programs and enrollment."""

from __future__ import annotations

from dataclasses import dataclass

from pointkeeper.errors import ErrorCode, InvalidRequest, NotEnrolled

from .time import Instant, ms_per_day

__all__ = [
    "ENROLLMENT_STATUSES",
    "ID_KINDS",
    "Customer",
    "Program",
    "check_status",
    "require_enrolled",
]

ENROLLMENT_STATUSES = ("active", "inactive", "closed")

# The external ids a customer may be found by; each is unique.
ID_KINDS = ("customer_id", "customer_number", "website_id", "email", "mobile_phone")


@dataclass(frozen=True, slots=True)
class Program:
    id: int
    name: str
    earning_description: str
    redemption_description: str
    balance_type: str
    credit_lifetime_days: int | None
    order_bonus_pending_days: int | None
    # What one currency unit costs in points ("100 points = $1").
    points_per_currency_unit: int = 100

    def credit_expiry(self, available_from: Instant) -> Instant | None:
        """When a credit with no explicit expiry expires by default."""
        if self.credit_lifetime_days is None:
            return None
        return available_from + self.credit_lifetime_days * ms_per_day

    def order_bonus_available_from(self, action_at: Instant) -> Instant:
        return action_at + (self.order_bonus_pending_days or 0) * ms_per_day


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    customer_number: str | None
    website_id: str | None
    email: str | None
    mobile_phone: str | None
    first_name: str | None
    last_name: str | None
    program_id: int | None
    status: str | None


def check_status(status: str) -> str:
    if status not in ENROLLMENT_STATUSES:
        raise InvalidRequest(
            code=ErrorCode.status_invalid, field="status", statuses=", ".join(ENROLLMENT_STATUSES)
        )
    return status


def require_enrolled(customer: Customer) -> int:
    """Returns the program id of an actively enrolled customer."""
    if customer.program_id is None or customer.status != "active":
        raise NotEnrolled(code=ErrorCode.not_enrolled)
    return customer.program_id
