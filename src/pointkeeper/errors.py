"""The domain error tree.

Expected refusals are typed errors that protocol adapters translate into
their own wire shapes; programmer errors are asserts and crash loudly.

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
