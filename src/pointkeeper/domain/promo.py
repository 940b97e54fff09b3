"""Promo code pools and codes: who may get a code, and when it may be used.

A single-use code goes to one customer, once; a multi-use code may be issued
to any number of customers, each using it once. A code is available in its
own window, or in its pool's default window when it has none.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from pointkeeper import limits
from pointkeeper.errors import ErrorCode, InvalidRequest

from .orders import PoolDiscount
from .time import Instant

__all__ = [
    "ALPHABET",
    "ISSUED",
    "NOT_AVAILABLE_FOR_ISSUE",
    "NOT_IN_ISSUE_RANGE",
    "NO_AVAILABLE_CODES",
    "POOL_NOT_FOUND",
    "PROMO_CODE_NOT_FOUND",
    "Code",
    "Pool",
    "RedemptionRefused",
    "available_window",
    "check_code_value",
    "check_pattern",
    "check_redemption",
    "generate_value",
    "issue_status",
]

# The six issue statuses of seed 002.
PROMO_CODE_NOT_FOUND = "PromoCodeNotFound"
POOL_NOT_FOUND = "PromoCodePoolNotFound"
NO_AVAILABLE_CODES = "NoAvailablePromoCodesInPool"
NOT_AVAILABLE_FOR_ISSUE = "NotAvailableForIssue"
ISSUED = "Issued"
NOT_IN_ISSUE_RANGE = "NotInIssueDateTimeRange"

# No 0/O, 1/I/L, 5/S or 2/Z: codes are read aloud and typed from receipts.
ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
_value_pattern = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


@dataclass(frozen=True, slots=True)
class Pool:
    id: int
    external_id: str
    name: str
    description: str | None
    issue_start: Instant | None
    issue_end: Instant | None
    available_from: Instant | None
    available_till: Instant | None
    multi_use: bool
    # What its codes take off an order when used as coupons (docs/orders.md).
    discount: PoolDiscount | None = None

    def issues_at(self, at: Instant) -> bool:
        starts = self.issue_start is None or self.issue_start <= at
        ends = self.issue_end is None or at < self.issue_end
        return starts and ends


@dataclass(frozen=True, slots=True)
class Code:
    id: int
    value: str
    pool_id: int
    available_from: Instant | None
    available_till: Instant | None
    blocked_at: Instant | None
    issued_customer_id: int | None
    issued_point_of_contact_id: int | None
    issued_at: Instant | None
    used_point_of_contact_id: int | None
    used_at: Instant | None


def available_window(code: Code, pool: Pool) -> tuple[Instant | None, Instant | None]:
    """The code's own window, or its pool's default where it has none."""
    start = code.available_from if code.available_from is not None else pool.available_from
    end = code.available_till if code.available_till is not None else pool.available_till
    return start, end


def issue_status(code: Code, pool: Pool, customer_id: int, *, at: Instant) -> str:
    """Whether ``code`` can go to the customer at ``at``: ``Issued`` (also
    when it already went to this very customer), ``NotInIssueDateTimeRange``
    or ``NotAvailableForIssue``."""
    if not pool.issues_at(at):
        return NOT_IN_ISSUE_RANGE
    if code.blocked_at is not None:
        return NOT_AVAILABLE_FOR_ISSUE
    if not pool.multi_use and code.issued_customer_id not in (None, customer_id):
        return NOT_AVAILABLE_FOR_ISSUE
    _, end = available_window(code, pool)
    if end is not None and end <= at:
        return NOT_AVAILABLE_FOR_ISSUE
    return ISSUED


class RedemptionRefused(InvalidRequest):
    """The code cannot be redeemed (or its redemption cancelled) now."""


def check_redemption(
    code: Code,
    pool: Pool,
    *,
    issued_to_customer: bool,
    issued_at: Instant | None,
    used_at: Instant | None,
    at: Instant,
) -> None:
    """Refuses a redemption that the code's state or window does not allow."""
    if code.blocked_at is not None:
        raise RedemptionRefused(code=ErrorCode.promo_code_blocked, field="promo_code")
    if not issued_to_customer:
        raise RedemptionRefused(code=ErrorCode.promo_code_not_issued, field="promo_code")
    if issued_at is not None and at < issued_at:
        raise RedemptionRefused(code=ErrorCode.promo_code_not_yet_issued, field="promo_code")
    if used_at is not None:
        raise RedemptionRefused(code=ErrorCode.promo_code_used, field="promo_code")
    start, end = available_window(code, pool)
    if start is not None and at < start:
        raise RedemptionRefused(code=ErrorCode.promo_code_not_yet_available, field="promo_code")
    if end is not None and end <= at:
        raise RedemptionRefused(code=ErrorCode.promo_code_expired, field="promo_code")


def check_code_value(value: object) -> str:
    if not isinstance(value, str) or not _value_pattern.fullmatch(value):
        raise InvalidRequest(code=ErrorCode.promo_code_value_invalid, field="promo_code")
    return value


def check_pattern(pattern: object) -> str:
    """A generation pattern: X marks a random character, the rest is kept."""
    if (
        not isinstance(pattern, str)
        or not 1 <= len(pattern) <= limits.code_pattern_chars_max
        or pattern.count("X") < 4
    ):
        raise InvalidRequest(
            code=ErrorCode.pattern_invalid, field="pattern", chars_max=limits.code_pattern_chars_max
        )
    try:
        check_code_value(pattern)
    except InvalidRequest as exc:
        raise InvalidRequest(code=exc.code, field="pattern") from None
    return pattern


def generate_value(pattern: str) -> str:
    return "".join(secrets.choice(ALPHABET) if char == "X" else char for char in pattern)
