"""Promo code use cases: pools, importing and generating codes, blocking,
issuing, redeeming and cancelling a redemption."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pointkeeper import limits, metrics
from pointkeeper.domain.customers import Customer
from pointkeeper.domain.promo import (
    ISSUED,
    NO_AVAILABLE_CODES,
    NOT_AVAILABLE_FOR_ISSUE,
    NOT_IN_ISSUE_RANGE,
    POOL_NOT_FOUND,
    PROMO_CODE_NOT_FOUND,
    Code,
    Pool,
    RedemptionRefused,
    check_code_value,
    check_pattern,
    check_redemption,
    generate_value,
    issue_status,
)
from pointkeeper.domain.time import Instant
from pointkeeper.errors import ErrorCode, InvalidRequest, NotFound
from pointkeeper.store.tx import Tx

from .customers import find_customer
from .reference import find_point_of_contact

__all__ = [
    "CodeView",
    "ImportResult",
    "ImportRow",
    "IssueRequest",
    "PointOfContact",
    "block_code",
    "cancel_redemption",
    "generate_codes",
    "import_codes",
    "issue_code",
    "pool_view",
    "put_pool",
    "redeem_code",
]


@dataclass(frozen=True, slots=True)
class PointOfContact:
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CodeView:
    """A code as one customer sees it: for a multi-use code, issue and use
    are that customer's own."""

    code: Code
    pool: Pool
    issue_status: str | None
    issued_point_of_contact: PointOfContact | None = None
    issued_at: Instant | None = None
    used_point_of_contact: PointOfContact | None = None
    used_at: Instant | None = None


@dataclass(frozen=True, slots=True)
class ImportRow:
    row: int
    value: str
    available_from: Instant | None = None
    available_till: Instant | None = None


@dataclass(slots=True)
class ImportResult:
    """How many rows were imported, and each rejected one as (row, value,
    why): the reason a code, which each protocol words its own way."""

    imported: int
    rejected: list[tuple[int, str, ErrorCode]]


def _pool(tx: Tx, external_id: str) -> Pool:
    pool = tx.pool(external_id)
    if pool is None:
        raise NotFound(code=ErrorCode.pool_not_found, field="pool")
    return pool


def put_pool(tx: Tx, external_id: str, *, values: dict[str, Any]) -> Pool:
    """Creates or updates a pool; ``values`` are the columns given. Whether
    codes are single- or multi-use cannot change once the pool has codes:
    the codes already issued were issued under the other rule."""
    existing = tx.pool(external_id)
    merged: dict[str, Any] = (
        {}
        if existing is None
        else {
            "issue_start": existing.issue_start,
            "issue_end": existing.issue_end,
            "available_from": existing.available_from,
            "available_till": existing.available_till,
        }
    )
    merged.update(values)
    for start, end in (("issue_start", "issue_end"), ("available_from", "available_till")):
        opens, closes = merged.get(start), merged.get(end)
        if opens is not None and closes is not None and closes <= opens:
            raise InvalidRequest(code=ErrorCode.window_reversed, field=end)
    if existing is not None:
        switching = "multi_use" in values and bool(values["multi_use"]) != existing.multi_use
        if switching and any(tx.pool_counts(existing.id)):
            raise InvalidRequest(code=ErrorCode.multi_use_fixed, field="multi_use")
        tx.update_pool(external_id, values)
    elif values.get("name") is None:
        raise InvalidRequest(code=ErrorCode.pool_name_required, field="name")
    else:
        tx.insert_pool(external_id, {"multi_use": False, **values})
    return _pool(tx, external_id)


def pool_view(tx: Tx, external_id: str) -> tuple[Pool, tuple[int, int, int, int]]:
    """The pool and its (available, issued, used, blocked) counts."""
    pool = _pool(tx, external_id)
    return pool, tx.pool_counts(pool.id)


def _reason(row: ImportRow, seen: set[str]) -> ErrorCode | None:
    try:
        check_code_value(row.value)
    except InvalidRequest as exc:
        return exc.code
    if row.value in seen:
        return ErrorCode.code_repeated
    start, end = row.available_from, row.available_till
    if start is not None and end is not None and end <= start:
        return ErrorCode.code_window_reversed
    return None


def import_codes(tx: Tx, external_id: str, rows: Sequence[ImportRow]) -> ImportResult:
    """Adds the good rows and answers each bad one with its reason: a row is
    imported whole or not at all."""
    if len(rows) > limits.codes_per_import_max:
        raise InvalidRequest(
            code=ErrorCode.too_many_codes, field="codes", codes_max=limits.codes_per_import_max
        )
    pool = _pool(tx, external_id)
    rejected: list[tuple[int, str, ErrorCode]] = []
    seen: set[str] = set()
    good: list[ImportRow] = []
    for row in rows:
        reason = _reason(row, seen)
        seen.add(row.value)
        if reason is None:
            good.append(row)
        else:
            rejected.append((row.row, row.value, reason))
    taken = tx.existing_values([row.value for row in good])
    rejected.extend(
        (row.row, row.value, ErrorCode.code_exists) for row in good if row.value in taken
    )
    fresh = [(r.value, r.available_from, r.available_till) for r in good if r.value not in taken]
    imported = tx.insert_codes(pool.id, fresh)
    assert imported == len(fresh), "every fresh value was checked to be new"
    rejected.sort()
    return ImportResult(imported, rejected)


def generate_codes(tx: Tx, external_id: str, *, count: int, pattern: str) -> int:
    """Adds ``count`` new codes made from ``pattern``; values that exist
    already are drawn again."""
    if type(count) is not int or not 1 <= count <= limits.codes_per_generation_max:
        raise InvalidRequest(
            code=ErrorCode.count_out_of_range,
            field="count",
            count_max=limits.codes_per_generation_max,
        )
    check_pattern(pattern)
    pool = _pool(tx, external_id)
    made = 0
    for _ in range(limits.code_generation_rounds_max):
        values = {generate_value(pattern) for _ in range(count - made)}
        fresh = sorted(values - tx.existing_values(sorted(values)))
        made += tx.insert_codes(pool.id, [(value, None, None) for value in fresh])
        if made == count:
            return made
    raise InvalidRequest(code=ErrorCode.pattern_exhausted, field="pattern")


def block_code(tx: Tx, value: str, *, now: Instant) -> tuple[Code, Pool]:
    """Blocks a code for good (a blocked one keeps its first blocking time);
    answers the code as it is now, and its pool."""
    if not tx.block_code(value, now):
        raise NotFound(code=ErrorCode.promo_code_not_found, field="promo_code")
    code = tx.code(value)
    assert code is not None
    return code, tx.pool_by_id(code.pool_id)


def _view(tx: Tx, code: Code, pool: Pool, customer: Customer, status: str | None) -> CodeView:
    if pool.multi_use:
        issue = tx.multi_issue(code.id, customer_id=customer.id)
        if issue is None:
            return CodeView(code, pool, status)
        issued_point_of_contact_id, issued_at, used_point_of_contact_id, used_at = issue
    elif code.issued_customer_id == customer.id:
        issued_point_of_contact_id, issued_at = code.issued_point_of_contact_id, code.issued_at
        used_point_of_contact_id, used_at = code.used_point_of_contact_id, code.used_at
    else:
        # Another customer's issue and use are theirs to see, not this one's.
        return CodeView(code, pool, status)
    return CodeView(
        code,
        pool,
        status,
        issued_point_of_contact=_point_of_contact_named(tx, issued_point_of_contact_id),
        issued_at=issued_at,
        used_point_of_contact=_point_of_contact_named(tx, used_point_of_contact_id),
        used_at=used_at,
    )


def _point_of_contact_named(tx: Tx, point_of_contact_id: int | None) -> PointOfContact | None:
    if point_of_contact_id is None:
        return None
    return PointOfContact(*tx.point_of_contact_by_id(point_of_contact_id))


@dataclass(frozen=True, slots=True)
class IssueRequest:
    mode: str
    customer_kind: str
    customer_value: object
    value: str | None
    pool: str | None
    point_of_contact: str | None
    at: Instant | None
    available_from: Instant | None
    available_till: Instant | None


def _find_code(tx: Tx, request: IssueRequest, at: Instant) -> tuple[Code, Pool] | str:
    """The code to issue, or the issue status that says why there is none."""
    if request.mode == "from-pool":
        assert request.pool is not None
        pool = tx.pool(request.pool)
        if pool is None:
            return POOL_NOT_FOUND
        if not pool.issues_at(at):
            return NOT_IN_ISSUE_RANGE
        code = tx.first_free_code(pool.id, at=at, shared=pool.multi_use)
        return NO_AVAILABLE_CODES if code is None else (code, pool)
    assert request.value is not None
    code = tx.code(request.value)
    if code is not None:
        pool = tx.pool_by_id(code.pool_id)
        if request.pool is not None and request.pool != pool.external_id:
            return NOT_AVAILABLE_FOR_ISSUE  # the value belongs to another pool
        return code, pool
    if request.mode == "by-value":
        return PROMO_CODE_NOT_FOUND
    assert request.pool is not None
    pool = tx.pool(request.pool)
    if pool is None:
        return POOL_NOT_FOUND
    if not pool.issues_at(at):
        return NOT_IN_ISSUE_RANGE
    if pool.available_till is not None and pool.available_till <= at:
        return NOT_AVAILABLE_FOR_ISSUE  # a code made now could not be used
    tx.insert_codes(pool.id, [(check_code_value(request.value), None, None)])
    created = tx.code(request.value)
    assert created is not None
    return created, pool


def issue_code(tx: Tx, request: IssueRequest, *, now: Instant) -> tuple[str, CodeView | None]:
    """Issues a code by the operation's mode; answers the issue status and,
    where there is a code, the code as the customer sees it."""
    customer = find_customer(tx, request.customer_kind, request.customer_value)
    point_of_contact_id = find_point_of_contact(tx, request.point_of_contact)
    at = now if request.at is None else request.at
    found = _find_code(tx, request, at)
    if isinstance(found, str):
        return found, None
    code, pool = found
    status = issue_status(code, pool, customer.id, at=at)
    if status == ISSUED and pool.multi_use:
        if tx.issue_multi_use_code(
            code.id, customer_id=customer.id, point_of_contact_id=point_of_contact_id, at=at
        ):
            metrics.count(metrics.promo_codes, event="issued", pool=pool.external_id)
    elif status == ISSUED and code.issued_customer_id is None:
        taken = tx.issue_code(
            code.id,
            customer_id=customer.id,
            point_of_contact_id=point_of_contact_id,
            at=at,
            available_from=request.available_from,
            available_till=request.available_till,
        )
        assert taken, "the code's row is this transaction's"
        metrics.count(metrics.promo_codes, event="issued", pool=pool.external_id)
    fresh = tx.code(code.value)
    assert fresh is not None
    return status, _view(tx, fresh, pool, customer, status)


def _redeemable(
    tx: Tx, *, customer_kind: str, customer_value: object, value: str
) -> tuple[Customer, Code, Pool]:
    customer = find_customer(tx, customer_kind, customer_value)
    code = tx.code(value)
    if code is None:
        raise NotFound(code=ErrorCode.promo_code_not_found, field="promo_code")
    return customer, code, tx.pool_by_id(code.pool_id)


def redeem_code(
    tx: Tx,
    *,
    customer_kind: str,
    customer_value: object,
    value: str,
    point_of_contact: str | None,
    at: Instant,
) -> CodeView:
    """Uses a code once. A single-use code must have been issued to the
    customer; a multi-use code is issued to them on the way if it was not."""
    customer, code, pool = _redeemable(
        tx, customer_kind=customer_kind, customer_value=customer_value, value=value
    )
    point_of_contact_id = find_point_of_contact(tx, point_of_contact)
    if (
        pool.multi_use
        and tx.multi_issue(code.id, customer_id=customer.id) is None
        and (code.blocked_at is None)
    ):
        tx.issue_multi_use_code(
            code.id, customer_id=customer.id, point_of_contact_id=point_of_contact_id, at=at
        )
    view = _view(tx, code, pool, customer, None)
    issued = (
        view.issued_at is not None if pool.multi_use else (code.issued_customer_id == customer.id)
    )
    check_redemption(
        code, pool, issued_to_customer=issued, issued_at=view.issued_at, used_at=view.used_at, at=at
    )
    return _mark_use(tx, code, pool, customer, point_of_contact_id=point_of_contact_id, at=at)


def _mark_use(
    tx: Tx,
    code: Code,
    pool: Pool,
    customer: Customer,
    *,
    point_of_contact_id: int | None,
    at: Instant | None,
) -> CodeView:
    """Records a redemption (``at``) or its cancellation (``at`` None) and
    answers the code as the customer now sees it."""
    if at is not None:
        metrics.count(metrics.promo_codes, event="redeemed", pool=pool.external_id)
    tx.set_code_used(
        code.id,
        customer_id=customer.id,
        multi_use=pool.multi_use,
        point_of_contact_id=point_of_contact_id,
        at=at,
    )
    fresh = tx.code(code.value)
    assert fresh is not None
    return _view(tx, fresh, pool, customer, None)


def cancel_redemption(
    tx: Tx, *, customer_kind: str, customer_value: object, value: str
) -> CodeView:
    """Makes a used code usable again by the customer who used it."""
    customer, code, pool = _redeemable(
        tx, customer_kind=customer_kind, customer_value=customer_value, value=value
    )
    view = _view(tx, code, pool, customer, None)
    issued = pool.multi_use or code.issued_customer_id == customer.id
    if not issued or view.used_at is None:
        raise RedemptionRefused(code=ErrorCode.promo_code_not_used, field="promo_code")
    return _mark_use(tx, code, pool, customer, point_of_contact_id=None, at=None)
