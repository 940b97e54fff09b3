"""The domain error tree.

Expected refusals are typed errors that protocol adapters translate into
their own wire shapes; programmer errors are asserts and crash loudly.

Every refusal carries an ``ErrorCode`` (what was refused), the domain's name
of the field it is about (``points``, ``expires_at``, ``point_of_contact``)
and named values (a limit, a status, what the caller sent). The domain's
English text of each code is here; each protocol's ``wording`` module turns
a code and a field into its own text and location, so no protocol's words
live in the domain or the services. A protocol or the store may raise an
error with a text of its own, answered as it is.

    PointkeeperError
    ├── InvalidRequest          a value is missing, of the wrong type or out of range
    │   └── RedemptionRefused   a promo code cannot be redeemed now (domain.promo)
    ├── NotFound                an id names nothing
    │   ├── CustomerNotFound
    │   └── HoldNotFound
    ├── NotEnrolled             the customer has no active loyalty program
    ├── InsufficientBalance     available points are fewer than asked for
    ├── Conflict                a hold already resolved the other way, an id taken
    │   └── DuplicateTransaction  an idempotency key reused with a different request
    └── StoreError              backend-neutral storage failure: nothing was done, retry later
        ├── Overloaded          the write queue is full
        └── StoreUnavailable    the database cannot be reached or written now (down, full,
                                read-only)

Outside it, signals between two layers, each caught by the one that expects
it and never answered as it is (the module in brackets):

    Exception
    ├── ConfigError             the configuration is invalid; the CLI says why (config)
    ├── NeedsSettlement         a read found the ledger due (services.loyalty)
    ├── NothingDone             an answer that changes and keeps nothing (services.idempotency)
    ├── DuplicateKey            an insert met a unique key (store.tx)
    ├── LockBusy                another writer holds the customer now (store.tx)
    ├── BatchNotStarted         a batch's connection was dead at BEGIN (store.group_commit)
    ├── BodyTooLarge            a body passed its bound (protocols.body)
    ├── ClientDisconnect        the client left before its body was whole (protocols.body)
    ├── MalformedRequest        a Maestra body cannot be read (protocols.maestra.codec)
    ├── ProtocolError           a Maestra call is wrong before its body (protocols.maestra.routes)
    ├── _RetryLater             a CP Extender answer is "retry later" (protocols.cp_extender.routes)
    ├── _TooLarge               an admin body passed its bound (protocols.admin.body_limit)
    └── _HeadTooLarge           a request's line and headers passed theirs (serving)

``tests/unit/test_error_tree.py`` holds these trees to the classes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum, auto
from typing import ClassVar, Self

__all__ = [
    "Conflict",
    "CustomerNotFound",
    "DuplicateTransaction",
    "ErrorCode",
    "HoldNotFound",
    "InsufficientBalance",
    "InvalidRequest",
    "NotEnrolled",
    "NotFound",
    "Overloaded",
    "PointkeeperError",
    "StoreError",
    "StoreUnavailable",
]


class ErrorCode(StrEnum):
    """Every distinct refusal; ``text`` is the domain's English for it."""

    # Raised with a text of its raiser's own (a protocol's, the store's).
    refused = auto()
    invalid_request = auto()
    not_found = auto()
    conflict = auto()
    store_failed = auto()
    overloaded = auto()
    store_unavailable = auto()
    # Customers and enrollment.
    customer_not_found = auto()
    customers_not_found = auto()
    ids_required = auto()
    id_taken = auto()
    program_not_found = auto()
    status_invalid = auto()
    not_enrolled = auto()
    # The ledger.
    points_out_of_range = auto()
    amount_out_of_range = auto()
    change_amount_invalid = auto()
    insufficient_balance = auto()
    kind_invalid = auto()
    kind_reserved = auto()
    debit_dated = auto()
    expiry_before_availability = auto()
    template_not_found = auto()
    point_of_contact_not_found = auto()
    transaction_reused = auto()
    balance_change_not_found = auto()
    not_a_debit = auto()
    already_refunded = auto()
    order_payment_refunded_by_order = auto()
    order_not_found = auto()
    order_line_not_found = auto()
    order_website_id_taken = auto()
    order_status_unknown = auto()
    order_status_not_paid = auto()
    order_quantity_out_of_range = auto()
    order_line_given_back = auto()
    order_line_repeated = auto()
    order_customer_required = auto()
    order_page_too_long = auto()
    order_amount_too_large = auto()
    order_earns_too_much = auto()
    points_above_order_share = auto()
    coupon_not_found = auto()
    # Holds (CP Extender's authorizations) and statements.
    sale_already_authorized = auto()
    hold_not_found = auto()
    hold_expired = auto()
    hold_resolved = auto()
    history_too_long = auto()
    too_many_open_holds = auto()
    # Promo codes and their pools.
    pool_not_found = auto()
    pool_name_required = auto()
    window_reversed = auto()
    multi_use_fixed = auto()
    too_many_codes = auto()
    count_out_of_range = auto()
    pattern_invalid = auto()
    pattern_exhausted = auto()
    promo_code_not_found = auto()
    promo_code_value_invalid = auto()
    code_repeated = auto()
    code_exists = auto()
    code_window_reversed = auto()
    promo_code_blocked = auto()
    promo_code_not_issued = auto()
    promo_code_not_yet_issued = auto()
    promo_code_used = auto()
    promo_code_not_yet_available = auto()
    promo_code_expired = auto()
    promo_code_not_used = auto()
    # Segments.
    segment_not_found = auto()
    length_out_of_range = auto()
    too_many_members = auto()

    @property
    def text(self) -> str:
        """The domain's template: ``{field}`` is the field's name, the other
        placeholders name the error's values."""
        return _texts[self]


_texts: dict[ErrorCode, str] = {
    ErrorCode.refused: "The request was refused",
    ErrorCode.invalid_request: "The request is not valid",
    ErrorCode.not_found: "Not found",
    ErrorCode.conflict: "The request conflicts with one already recorded",
    ErrorCode.store_failed: "The database failed",
    ErrorCode.overloaded: "The database is busy; retry later",
    ErrorCode.store_unavailable: "The database is unavailable",
    ErrorCode.customer_not_found: "Customer not found",
    ErrorCode.customers_not_found: "Customers not found: {unknown}",
    ErrorCode.ids_required: "A customer needs at least one id",
    ErrorCode.id_taken: "{field} already belongs to another customer",
    ErrorCode.program_not_found: "Program {program!r} not found",
    ErrorCode.status_invalid: "{field} must be one of {statuses}",
    ErrorCode.not_enrolled: "The customer is not enrolled in a loyalty program",
    ErrorCode.points_out_of_range: "{field} must be an integer from 1 to {points_max}",
    ErrorCode.amount_out_of_range: "The amount is out of range",
    ErrorCode.change_amount_invalid: "{field} must be a non-zero integer within ±{points_max}",
    ErrorCode.insufficient_balance: "The available points are fewer than asked for",
    ErrorCode.kind_invalid: "{field} must be a system name such as Custom",
    ErrorCode.kind_reserved: "Expired changes are written by the ledger only",
    ErrorCode.debit_dated: "A debit has no expiry or availability date",
    ErrorCode.expiry_before_availability: (
        "The expiry must come after the credit becomes available"
    ),
    ErrorCode.template_not_found: "Action template {template} not found",
    ErrorCode.point_of_contact_not_found: "Point of contact not found",
    ErrorCode.transaction_reused: "This transaction id was already used for a different request",
    ErrorCode.balance_change_not_found: "Balance change not found",
    ErrorCode.not_a_debit: "Only a debit can be refunded",
    ErrorCode.already_refunded: "This balance change was already refunded",
    ErrorCode.order_not_found: "Order not found",
    ErrorCode.order_line_not_found: "The order has no line {line}",
    ErrorCode.order_website_id_taken: "Another order already has this websiteId",
    ErrorCode.order_status_unknown: "The order status {status!r} is not configured",
    ErrorCode.order_status_not_paid: (
        "An order is created paid: {status!r} cancels or returns; change its status later"
    ),
    ErrorCode.order_quantity_out_of_range: (
        "must be more than zero, at most the line's quantity with what else is out of it,"
        " and no less than is already in that status"
    ),
    ErrorCode.order_line_given_back: (
        "A line cancelled or returned, in whole or in part, cannot be paid again"
    ),
    ErrorCode.order_line_repeated: "Two lines are both {line!r}",
    ErrorCode.order_customer_required: "An order needs a customer",
    ErrorCode.order_amount_too_large: "must come to at most {amount_max}",
    ErrorCode.order_earns_too_much: "The order would earn more than {points_max} points",
    ErrorCode.order_page_too_long: (
        "The orders of this page hold more than {lines_max} lines; ask for fewer itemsPerPage"
    ),
    ErrorCode.points_above_order_share: (
        "At most {spendable} points may be spent on this order, in multiples of {step}"
    ),
    ErrorCode.coupon_not_found: "Coupon {coupon!r} not found",
    ErrorCode.order_payment_refunded_by_order: (
        "This balance change belongs to an order: cancel or return the order's lines instead"
    ),
    ErrorCode.sale_already_authorized: "The sale already holds different points",
    ErrorCode.hold_not_found: "No hold of this customer has that code",
    ErrorCode.hold_expired: "The hold has expired",
    ErrorCode.hold_resolved: "The hold is already {status}",
    ErrorCode.history_too_long: "More than {rows_max} history rows; narrow the dates",
    ErrorCode.too_many_open_holds: "More than {holds_max} open holds; confirm or cancel some",
    ErrorCode.pool_not_found: "Promo code pool not found",
    ErrorCode.pool_name_required: "A new pool needs a name",
    ErrorCode.window_reversed: "{field} must come after the start of its window",
    ErrorCode.multi_use_fixed: "{field} cannot change once the pool has codes",
    ErrorCode.too_many_codes: "At most {codes_max} codes per import",
    ErrorCode.count_out_of_range: "{field} must be from 1 to {count_max}",
    ErrorCode.pattern_invalid: (
        "{field} must be at most {chars_max} characters with at least four X"
    ),
    ErrorCode.pattern_exhausted: "The pattern has too few free values left; add more X",
    ErrorCode.promo_code_not_found: "Promo code not found",
    ErrorCode.promo_code_value_invalid: (
        "A promo code is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
    ),
    ErrorCode.code_repeated: "duplicate in this import",
    ErrorCode.code_exists: "already exists",
    ErrorCode.code_window_reversed: "the code's window ends before it starts",
    ErrorCode.promo_code_blocked: "The promo code is blocked",
    ErrorCode.promo_code_not_issued: "The promo code was not issued to this customer",
    ErrorCode.promo_code_not_yet_issued: "The promo code cannot be used before it was issued",
    ErrorCode.promo_code_used: "The promo code is already used",
    ErrorCode.promo_code_not_yet_available: "The promo code is not available yet",
    ErrorCode.promo_code_expired: "The promo code is no longer available",
    ErrorCode.promo_code_not_used: "The promo code is not used by this customer",
    ErrorCode.segment_not_found: "Segment not found",
    ErrorCode.length_out_of_range: "must be 1 to {chars_max} characters",
    ErrorCode.too_many_members: "at most {members_max} customer numbers per call",
}

# A placeholder: a name, and ``!r`` for the value's repr.
_placeholder = re.compile(r"\{([a-z_]+)(!r)?\}")


def _filled(template: str, values: Mapping[str, object]) -> str:
    """``template`` with its placeholders replaced in one pass over the
    template alone: a value is never read as a template, so braces in what a
    caller sent come out as they went in. A placeholder with no value stays."""

    def value(match: re.Match[str]) -> str:
        name, conversion = match[1], match[2]
        if name not in values:
            return match[0]
        return repr(values[name]) if conversion else str(values[name])

    return _placeholder.sub(value, template)


class PointkeeperError(Exception):
    """Base of every error the server expects and answers.

    Raised with a ``code`` (by the domain and the services always), or with
    a ``text`` of its raiser's own words and the class's ``default_code``.
    ``field`` is the domain's name of the field at fault, or, in an error a
    protocol raised or re-pointed, that protocol's own name or location.
    """

    default_code: ClassVar[ErrorCode] = ErrorCode.refused

    def __init__(
        self,
        text: str | None = None,
        /,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        **values: object,
    ) -> None:
        self.code = self.default_code if code is None else code
        self.field = field
        self.values = values
        self.own_text = text
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The domain's wording, for logs and errors no protocol answers."""
        return self.worded({}, field=self.field)

    def worded(self, texts: Mapping[ErrorCode, str], *, field: str | None) -> str:
        """In one protocol's words: the raiser's own text if it gave one,
        else the template ``texts`` has for the code (the domain's where it
        has none) with ``{field}`` as ``field``."""
        if self.own_text is not None:
            return self.own_text
        template = texts.get(self.code, self.code.text)
        return _filled(template, self.values if field is None else {**self.values, "field": field})

    def restated(self, text: str | None = None, *, field: str | None = None) -> Self:
        """The same refusal as a protocol answers it in one request: in its
        own ``text``, or pointed at its own ``field`` name or location."""
        return type(self)(
            self.own_text if text is None else text,
            code=self.code,
            field=self.field if field is None else field,
            **self.values,
        )


class InvalidRequest(PointkeeperError):
    """A request value is missing, malformed or out of range."""

    default_code = ErrorCode.invalid_request


class NotFound(PointkeeperError):
    """An id names nothing."""

    default_code = ErrorCode.not_found


class CustomerNotFound(NotFound):
    """No customer has the given id."""

    default_code = ErrorCode.customer_not_found


class HoldNotFound(NotFound):
    """No hold has the given auth code for this customer."""

    default_code = ErrorCode.hold_not_found


class NotEnrolled(PointkeeperError):
    """The customer is not actively enrolled in a loyalty program."""

    default_code = ErrorCode.not_enrolled


class InsufficientBalance(PointkeeperError):
    """The customer's available points are fewer than requested."""

    default_code = ErrorCode.insufficient_balance


class Conflict(PointkeeperError):
    """The request contradicts one already recorded."""

    default_code = ErrorCode.conflict


class DuplicateTransaction(Conflict):
    """An idempotency key (Reference, transactionId) was already used for a
    different request."""

    default_code = ErrorCode.transaction_reused


class StoreError(PointkeeperError):
    """The store failed in a way the caller cannot fix by changing the request."""

    default_code = ErrorCode.store_failed


class Overloaded(StoreError):
    """The write queue is full; the caller should retry later."""

    default_code = ErrorCode.overloaded


class StoreUnavailable(StoreError):
    """The database cannot be reached, read or written now: it is down, out
    of space or connections, or read-only. Nothing was done; the same request
    may be sent again later."""

    default_code = ErrorCode.store_unavailable
