"""The promo code kinds of seed 002: IssuePromoCode, RedeemPromoCode and
CancelPromoCodeRedemption.

Each reads its request into plain values, refusing what the seed's table
disallows with the location of the field, and gives the work that calls one
promo service and answers the seed's ``promoCode`` block. Every issue status
is a ``Success`` answer that names the status; refusals (no such customer, a
code that cannot be redeemed) are ``ValidationError``s.
"""

from __future__ import annotations

from typing import Any

from pointkeeper.config import OperationConfig
from pointkeeper.domain.promo import available_window
from pointkeeper.domain.time import Instant
from pointkeeper.errors import InvalidRequest
from pointkeeper.services.promo import (
    CodeView,
    IssueRequest,
    PointOfContact,
    cancel_redemption,
    issue_code,
    redeem_code,
)
from pointkeeper.store.tx import Tx

from .dates import format_date
from .fields import Fields
from .prepared import Kind, Prepared, Work

__all__ = [
    "PROMO_KINDS",
    "cancel_promo_code_redemption",
    "issue_promo_code",
    "redeem_promo_code",
]

_value_path = ("promoCode", "ids", "value")
_pool_path = ("promoCode", "pool", "ids", "externalId")
_disallowed = {
    "by-value": "is not allowed: this operation issues codes by their value only",
    "from-pool": "is not allowed: this operation issues the next free code of a pool",
    "pool-set": "is not allowed: this operation's settings name the pool",
}


def _prepared(work: Work) -> Prepared:
    # Each kind changes state, so a transactionId retry answers the same code.
    return Prepared(work, changes_state=True)


def _date(instant: Instant | None) -> str | None:
    return None if instant is None else format_date(instant)


def _point_of_contact_tree(point_of_contact: PointOfContact | None) -> dict[str, Any] | None:
    if point_of_contact is None:
        return None
    return {"ids": {"externalId": point_of_contact.external_id}, "name": point_of_contact.name}


def _code_tree(view: CodeView) -> dict[str, Any]:
    """The seed's ``promoCode`` block, in its order; absent values are None."""
    code, pool = view.code, view.pool
    start, end = available_window(code, pool)
    return {
        "issueStatus": view.issue_status,
        "ids": {"mindboxId": code.id, "value": code.value},
        "pool": {
            "ids": {"externalId": pool.external_id},
            "name": pool.name,
            "description": pool.description,
        },
        "availableFromDateTimeUtc": _date(start),
        "availableTillDateTimeUtc": _date(end),
        "isUsed": view.used_at is not None,
        "usedPointOfContact": _point_of_contact_tree(view.used_point_of_contact),
        "usedDateTimeUtc": _date(view.used_at),
        "issuedPointOfContact": _point_of_contact_tree(view.issued_point_of_contact),
        "issuedDateTimeUtc": _date(view.issued_at),
        "blockedDateTimeUtc": _date(code.blocked_at),
    }


def _codeless_tree(status: str, request: IssueRequest) -> dict[str, Any]:
    """The block of a status without a code: the status and what was asked for."""
    return {
        "issueStatus": status,
        "ids": None if request.value is None else {"value": request.value},
        "pool": None if request.pool is None else {"ids": {"externalId": request.pool}},
    }


def _point_of_contact(fields: Fields) -> str | None:
    return fields.identifier("pointOfContact", "ids", "externalId")


def _by_rule(fields: Fields, path: tuple[str, ...], disallowed: str | None) -> str | None:
    """The field at ``path``, mandatory unless the seed's table disallows its
    node (``promoCode/ids`` or ``promoCode/pool``) in this mode."""
    if disallowed is None:
        return fields.identifier(*path, required=True)
    if fields.has(*path[:2]):
        raise InvalidRequest(disallowed, field=fields.where(*path))
    return None


def _issue_target(
    fields: Fields, mode: str, pool_setting: str | None
) -> tuple[str | None, str | None]:
    """The code value and the pool, by the seed's mandatory/disallowed table."""
    value = _by_rule(fields, _value_path, _disallowed["from-pool"] if mode == "from-pool" else None)
    if mode == "by-value":
        pool_rule: str | None = _disallowed["by-value"]
    elif pool_setting is not None:
        pool_rule = _disallowed["pool-set"]
    else:
        pool_rule = None
    pool = _by_rule(fields, _pool_path, pool_rule)
    return value, pool_setting if pool is None else pool


def _issue_request(fields: Fields, operation: OperationConfig) -> IssueRequest:
    mode = operation.mode
    if mode is None:
        raise InvalidRequest(
            f"The operation {operation.name!r} has no mode setting; ask its operator to set"
            " mode = by-value, by-value-or-create or from-pool",
            field="/operation",
        )
    customer_kind, customer_value = fields.customer("customer")
    value, pool = _issue_target(fields, mode, operation.pool)
    available_from = fields.date("promoCode", "availableFromDateTimeUtc")
    available_till = fields.date("promoCode", "availableTillDateTimeUtc")
    if (
        available_from is not None
        and available_till is not None
        and available_till <= available_from
    ):
        raise InvalidRequest(
            "must come after availableFromDateTimeUtc",
            field=fields.where("promoCode", "availableTillDateTimeUtc"),
        )
    return IssueRequest(
        mode=mode,
        customer_kind=customer_kind,
        customer_value=customer_value,
        value=value,
        pool=None if mode == "by-value" else pool,
        point_of_contact=_point_of_contact(fields),
        at=fields.date("executionDateTimeUtc"),
        available_from=available_from,
        available_till=available_till,
    )


def issue_promo_code(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    request = _issue_request(fields, operation)

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        status, view = issue_code(tx, request, now=now)
        tree = _codeless_tree(status, request) if view is None else _code_tree(view)
        return {"promoCode": tree}

    return _prepared(work)


def redeem_promo_code(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    customer_kind, customer_value = fields.customer("customer")
    value = fields.identifier(*_value_path, required=True)
    assert value is not None
    point_of_contact = _point_of_contact(fields)
    at = fields.date("executionDateTimeUtc")

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        view = redeem_code(
            tx,
            customer_kind=customer_kind,
            customer_value=customer_value,
            value=value,
            point_of_contact=point_of_contact,
            at=now if at is None else at,
        )
        return {"promoCode": _code_tree(view)}

    return _prepared(work)


def cancel_promo_code_redemption(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    customer_kind, customer_value = fields.customer("customer")
    value = fields.identifier(*_value_path, required=True)
    assert value is not None
    # A cancellation records neither, but malformed ones are refused as in
    # every other kind.
    _point_of_contact(fields)
    fields.date("executionDateTimeUtc")

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        view = cancel_redemption(
            tx, customer_kind=customer_kind, customer_value=customer_value, value=value
        )
        return {"promoCode": _code_tree(view)}

    return _prepared(work)


# Registered by ``kinds`` under the kind names of the configuration.
PROMO_KINDS: dict[str, Kind] = {
    "IssuePromoCode": issue_promo_code,
    "RedeemPromoCode": redeem_promo_code,
    "CancelPromoCodeRedemption": cancel_promo_code_redemption,
}
