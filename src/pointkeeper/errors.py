"""The domain error tree.

Expected refusals are typed errors that protocol adapters translate into
their own wire shapes; programmer errors are asserts and crash loudly.

    PointkeeperError
    ├── InvalidRequest          a value is missing, of the wrong type or out of range
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
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "CustomerNotFound",
    "DuplicateTransaction",
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


class PointkeeperError(Exception):
    """Base of every error the server expects and answers."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(PointkeeperError):
    """A request value is missing, malformed or out of range."""


class NotFound(PointkeeperError):
    """An id names nothing."""


class CustomerNotFound(NotFound):
    """No customer has the given id."""


class HoldNotFound(NotFound):
    """No hold has the given auth code for this customer."""


class NotEnrolled(PointkeeperError):
    """The customer is not actively enrolled in a loyalty program."""


class InsufficientBalance(PointkeeperError):
    """The customer's available points are fewer than requested."""


class Conflict(PointkeeperError):
    """The request contradicts one already recorded."""


class DuplicateTransaction(Conflict):
    """An idempotency key (Reference, transactionId) was already used for a
    different request."""


class StoreError(PointkeeperError):
    """The store failed in a way the caller cannot fix by changing the request."""


class Overloaded(StoreError):
    """The write queue is full; the caller should retry later."""


class StoreUnavailable(StoreError):
    """The database cannot be reached, read or written now: it is down, out
    of space or connections, or read-only. Nothing was done; the same request
    may be sent again later."""
