"""The storage port: what a service may ask of the transaction it runs in.

A ``Tx`` is handed to a service function by the store, inside a transaction
(a savepoint, for writes). It is composed of one protocol per area, so that
a use case can say which areas it needs (``services.ledger`` needs only
``References``, ``Ledger`` and ``Holds``) and a test can hand it an
in-memory fake of those. Methods answer domain objects or plain values;
nothing here decides a rule, and nothing here knows SQL: the statements,
written once for SQLite and PostgreSQL, are in ``store.sql``, and what each
database does differently (locks, unique-key errors) is in
``store.sqlite_tx`` and ``store.postgres_tx``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pointkeeper.domain.customers import Customer, Program
from pointkeeper.domain.ledger import Draw, Hold, Lot
from pointkeeper.domain.orders import OrderRules, PlacedOrder
from pointkeeper.domain.promo import Code, Pool
from pointkeeper.domain.time import Instant

__all__ = [
    "ActionChangeRow",
    "AsyncOperation",
    "ChangeRow",
    "Customers",
    "DuplicateKey",
    "Histories",
    "Holds",
    "Ledger",
    "LockBusy",
    "Operations",
    "Orders",
    "PromoCodes",
    "References",
    "SegmentRow",
    "Segments",
    "Transaction",
    "Tx",
]


class DuplicateKey(Exception):
    """A unique column already holds the value; ``column`` names it."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class LockBusy(Exception):
    """Another writer holds a row this transaction may not wait for; the
    unit of work that met it is rolled back and tried again later."""


# -- rows that are no domain object ------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One balance change with its action's context, for histories and exports."""

    id: int
    action_id: int
    date_time_utc: Instant
    change_amount: int
    kind: str
    expires_at: Instant | None
    available_from: Instant | None
    comment: str | None
    document: str | None
    location: str | None


@dataclass(frozen=True, slots=True)
class ActionChangeRow:
    """One balance change with what its customer action says."""

    action_id: int
    date_time_utc: Instant
    transaction_id: str | None
    template_id: int
    point_of_contact_id: int | None
    customer_id: int
    website_id: str | None
    change_amount: int
    expires_at: Instant | None
    kind: str


@dataclass(frozen=True, slots=True)
class SegmentRow:
    id: int
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AsyncOperation:
    id: int
    endpoint_id: str
    operation: str
    transaction_id: str | None
    fingerprint: str
    request_format: str
    body: bytes
    status: str
    attempts: int
    result: bytes | None
    error: str | None
    created_at: Instant
    finished_at: Instant | None


# -- the areas ---------------------------------------------------------------


class Transaction(Protocol):
    """What belongs to the transaction itself rather than to an area."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit of work: rolled back alone when it raises."""
        ...

    def unique_values(self) -> AbstractContextManager[None]:
        """Turns a unique column's violation into ``DuplicateKey``, leaving
        the transaction usable."""
        ...

    def try_job_lock(self, job: str) -> bool:
        """True when no other process runs ``job`` in a transaction now; the
        lock lasts until this transaction ends."""
        ...

    def ping(self) -> None:
        """A statement that needs nothing but a working database."""
        ...


class Customers(Protocol):
    def customer_by(self, kind: str, value: object) -> Customer | None:
        """The customer whose ``kind`` (one of ``ID_KINDS``) is ``value``;
        in a write, locked until commit."""
        ...

    def insert_customer(self, fields: dict[str, Any], *, at: Instant) -> int: ...

    def update_customer(self, customer_id: int, fields: dict[str, Any]) -> None: ...

    def customer_ids_by_number(self, customer_numbers: Sequence[str]) -> dict[str, int]:
        """The customer id of each of ``customer_numbers`` that names a
        customer; unknown numbers are left out."""
        ...


class Ledger(Protocol):
    """Customer actions, balance changes, lots and what draws on them."""

    def lock_customer(self, customer_id: int) -> None:
        """Keeps every other writer off the customer's ledger until commit."""
        ...

    def lock_free_customers(self, customer_ids: Iterable[int]) -> list[int]:
        """Locks those of the customers no other writer holds now; answers
        them in id order."""
        ...

    def insert_action(
        self,
        *,
        customer_id: int,
        template_id: int,
        at: Instant,
        point_of_contact_id: int | None,
        transaction_id: str | None,
        idempotency_key: str | None,
        fingerprint: str | None,
        recorded_at: Instant,
    ) -> int | None:
        """Records an action; None when ``idempotency_key`` is already taken."""
        ...

    def action_fingerprint(self, idempotency_key: str) -> str | None: ...

    def insert_change(
        self,
        *,
        action_id: int,
        customer_id: int,
        amount: int,
        kind: str,
        at: Instant,
        recorded_at: Instant,
        expires_at: Instant | None = None,
        available_from: Instant | None = None,
        comment: str | None = None,
        document: str | None = None,
        location: str | None = None,
    ) -> int: ...

    def change(self, change_id: int) -> tuple[int, int, str, str | None] | None:
        """(customer id, amount, kind, document) of one balance change."""
        ...

    def refund_of(self, debit_change_id: int) -> int | None: ...

    def record_refund(self, debit_change_id: int, *, refund_change_id: int) -> None: ...

    def insert_lot(
        self,
        *,
        lot_id: int,
        customer_id: int,
        amount: int,
        available_from: Instant,
        expires_at: Instant | None,
        activated: bool,
    ) -> None: ...

    def drawable_lots(self, customer_id: int, *, at: Instant) -> Iterator[Lot]:
        """Lots with points to draw at ``at``, in the domain's draw order:
        expiring ones by expiry then id, then never-expiring ones by id."""
        ...

    def lots_by_id(self, lot_ids: Iterable[int]) -> dict[int, Lot]: ...

    def expired_lots(self, customer_id: int, *, at: Instant, limit: int) -> list[Lot]:
        """The first ``limit`` lots past expiry at ``at`` with points left."""
        ...

    def draw(self, change_id: int, draws: Iterable[Draw]) -> None:
        """Records ``draws`` against a balance change and moves each lot's
        ``remaining`` by the points (a negative draw puts points back)."""
        ...

    def draws_of(self, change_id: int) -> list[Draw]:
        """A debit's draws: at most one per lot of its customer."""
        ...

    def expired_points(self, lot_id: int) -> int:
        """The points of the lot written off by ``Expired`` changes."""
        ...

    def activate_lots(self, at: Instant, *, limit: int) -> int: ...

    def customers_with_expired_lots(self, at: Instant, *, limit: int) -> list[int]: ...

    def lot_sums(self, customer_id: int, *, at: Instant) -> tuple[int, int]:
        """(points in available lots, points in pending lots), on a settled ledger."""
        ...

    def is_settled(self, customer_id: int, *, at: Instant) -> bool:
        """True when no lot of the customer is past expiry with points left and
        no open hold is past its time."""
        ...

    def all_changes(self, customer_id: int) -> list[tuple[int, Instant | None]]:
        """(amount, available from) of every change: for invariant checks
        in tests, which is why it is not bounded."""
        ...

    def lot_audit(self, customer_id: int) -> list[tuple[int, int, int, int, int]]:
        """(lot id, amount, remaining, drawn, held) per lot: for invariant
        checks in tests, which is why it is not bounded."""
        ...


class Holds(Protocol):
    """Points reserved for a sale until it is confirmed, cancelled or timed out."""

    def insert_hold(
        self,
        *,
        auth_code: str,
        customer_id: int,
        sale_id: str,
        points: int,
        location: str | None,
        created_at: Instant,
        expires_at: Instant,
    ) -> int: ...

    def reserve(self, hold_id: int, draws: Iterable[Draw]) -> None:
        """Takes the drawn points out of their lots for the hold."""
        ...

    def hold_by_code(self, auth_code: str) -> Hold | None: ...

    def live_hold_for_sale(self, customer_id: int, sale_id: str) -> Hold | None: ...

    def open_holds(self, customer_id: int, *, limit: int) -> list[Hold]:
        """The customer's first ``limit`` open holds, oldest first."""
        ...

    def due_holds(self, customer_id: int, *, at: Instant, limit: int) -> list[Hold]: ...

    def customers_with_due_holds(self, at: Instant, *, limit: int) -> list[int]: ...

    def resolve_hold(
        self, hold: Hold, status: str, *, at: Instant, payment_change_id: int | None = None
    ) -> None:
        """Moves an open hold to ``status``; a released hold gives its points
        back to its lots, a confirmed one turns its draws into the payment's."""
        ...

    def open_hold_points(self, customer_id: int) -> int: ...


class References(Protocol):
    """Programs, action templates and points of contact."""

    def program(self, program_id: int) -> Program:
        """One of the programs read when the store opened."""
        ...

    def program_id(self, name: str) -> int | None: ...

    def load_programs(self) -> dict[int, Program]: ...

    def upsert_program(self, values: dict[str, Any]) -> None: ...

    def template_id(self, system_name: str) -> int | None: ...

    def upsert_template(self, system_name: str, *, name: str) -> int: ...

    def ensure_template(self, system_name: str, *, name: str) -> int:
        """The template's id, creating it with ``name`` when missing."""
        ...

    def template(self, system_name: str) -> tuple[str, str] | None: ...

    def templates_by_id(self, template_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(system name, name) of each of the templates."""
        ...

    def point_of_contact_id(self, external_id: str) -> int | None: ...

    def upsert_point_of_contact(self, external_id: str, *, name: str) -> int: ...

    def point_of_contact(self, external_id: str) -> tuple[str, str] | None: ...

    def point_of_contact_by_id(self, point_of_contact_id: int) -> tuple[str, str]: ...

    def points_of_contact_by_id(self, point_of_contact_ids: Iterable[int]) -> dict[int, str]:
        """The external id of each of the points of contact."""
        ...


class Histories(Protocol):
    """A customer's balance changes read back: statements, pages, exports."""

    def summary_before(self, customer_id: int, *, start: Instant) -> tuple[int, Instant] | None:
        """(net points, earliest date) of every change dated before ``start``."""
        ...

    def changes_between(
        self, customer_id: int, *, start: Instant, end: Instant, limit: int
    ) -> list[ChangeRow]: ...

    def export_rows(
        self, *, since: Instant, till: Instant, segment_id: int | None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Every balance change dated in [since, till), as lists of plain
        tuples in ``ActionChangeRow`` order."""
        ...

    def customer_action_count(self, customer_id: int, *, since: Instant, till: Instant) -> int: ...

    def customer_action_page(
        self,
        customer_id: int,
        *,
        since: Instant,
        till: Instant,
        offset: int,
        limit: int,
    ) -> list[ActionChangeRow]:
        """The changes of one page of a customer's actions, oldest first."""
        ...


class PromoCodes(Protocol):
    """Pools of promo codes, and the codes issued from them and redeemed."""

    def insert_pool(self, external_id: str, values: dict[str, Any]) -> None: ...

    def update_pool(self, external_id: str, values: dict[str, Any]) -> None: ...

    def pool(self, external_id: str) -> Pool | None: ...

    def pool_by_id(self, pool_id: int) -> Pool: ...

    def pool_counts(self, pool_id: int) -> tuple[int, int, int, int]:
        """(available, issued, used, blocked) codes of a pool; a multi-use code
        counts once per customer it was issued to."""
        ...

    def code(self, value: str) -> Code | None: ...

    def existing_values(self, values: Sequence[str]) -> set[str]: ...

    def insert_codes(
        self, pool_id: int, rows: Sequence[tuple[str, Instant | None, Instant | None]]
    ) -> int:
        """Adds codes not yet known (callers check first); answers how many."""
        ...

    def first_free_code(self, pool_id: int, *, at: Instant, shared: bool) -> Code | None:
        """The oldest code of the pool nobody has, unblocked and not past its
        own end; a single-use one is taken for this transaction."""
        ...

    def issue_code(
        self,
        code_id: int,
        *,
        customer_id: int,
        point_of_contact_id: int | None,
        at: Instant,
        available_from: Instant | None,
        available_till: Instant | None,
    ) -> bool:
        """Gives a single-use code to a customer; False when it has gone meanwhile."""
        ...

    def multi_issue(self, code_id: int, *, customer_id: int) -> tuple[Any, ...] | None:
        """(point of contact id, issued at, used point of contact id, used at)."""
        ...

    def issue_multi_use_code(
        self, code_id: int, *, customer_id: int, point_of_contact_id: int | None, at: Instant
    ) -> bool:
        """Gives a multi-use code to one more customer; False when they had it."""
        ...

    def set_code_used(
        self,
        code_id: int,
        *,
        customer_id: int,
        multi_use: bool,
        point_of_contact_id: int | None,
        at: Instant | None,
    ) -> None:
        """Marks a redemption (``at``) or its cancellation (``at`` None)."""
        ...

    def block_code(self, value: str, at: Instant) -> bool: ...


class Operations(Protocol):
    """Maestra operations: results kept under a transactionId, and the queue
    of asynchronous calls."""

    def operation_result(
        self, endpoint_id: str, *, transaction_id: str
    ) -> tuple[str, bytes] | None:
        """(fingerprint, result) kept for this transactionId, if any."""
        ...

    def claim_operation(
        self, endpoint_id: str, *, transaction_id: str, fingerprint: str, at: Instant
    ) -> bool:
        """Takes the transactionId for this transaction; False when it was
        taken already."""
        ...

    def record_operation_result(
        self, endpoint_id: str, *, transaction_id: str, result: bytes
    ) -> None: ...

    def enqueue_async(
        self,
        *,
        endpoint_id: str,
        operation: str,
        transaction_id: str | None,
        fingerprint: str,
        request_format: str,
        body: bytes,
        at: Instant,
    ) -> int | None:
        """Queues a call; None when its transactionId is already queued."""
        ...

    def async_operation_by_transaction(
        self, endpoint_id: str, *, transaction_id: str
    ) -> AsyncOperation | None: ...

    def async_operations_by_transaction(
        self, transaction_id: str, limit: int
    ) -> list[AsyncOperation]: ...

    def due_async_operations(self, at: Instant, *, limit: int) -> list[AsyncOperation]:
        """Due calls, taken for this transaction: another worker passes over them."""
        ...

    def finish_async_operation(
        self,
        operation_id: int,
        *,
        status: str,
        result: bytes | None,
        error: str | None,
        at: Instant,
    ) -> None: ...

    def retry_async_operation(
        self, operation_id: int, *, error: str, next_attempt_at: Instant
    ) -> None: ...

    def queued_async_count(self) -> int:
        """How many asynchronous calls wait to be done."""
        ...

    def prune_operation_results(self, before: Instant, *, limit: int) -> int:
        """Deletes at most ``limit`` kept results recorded before ``before``,
        the oldest first; answers how many."""
        ...

    def prune_async_operations(self, before: Instant, *, limit: int) -> int:
        """Deletes at most ``limit`` calls finished before ``before``, the
        oldest first; answers how many."""
        ...


class Orders(Protocol):
    """Retail orders, their lines and coupons, and the rules they follow."""

    def order_rules(self, program_id: int) -> OrderRules:
        """The program's configured rules (the defaults when it has none)."""
        ...

    def order_status_effect(self, status: str) -> str | None:
        """What the configured order status does (``EFFECTS``); None when it
        is not in the vocabulary."""
        ...

    def insert_order(self, order: PlacedOrder, *, recorded_at: Instant) -> int | None:
        """Records the order and its lines (``order.id`` is not read) and
        answers its id; None, recording nothing, when its website id is
        another order's."""
        ...

    def insert_order_coupons(self, order_id: int, coupons: Iterable[tuple[int, int]]) -> None:
        """(code id, cents it took off the order) of each coupon used."""
        ...

    def order_by(self, *, order_id: int | None, website_id: str | None) -> PlacedOrder | None:
        """The order with that id (or, without one, that website id); in a
        write, locked until commit."""
        ...

    def update_order(self, order: PlacedOrder) -> None:
        """Writes what changes of an order after it is created: each line's
        status, quantities out and shares given back, and the totals."""
        ...

    def give_back_coupons(self, order_id: int) -> list[tuple[int, bool]]:
        """Marks the order's coupons given back; answers (code id, whether
        it is multi-use) of those not given back before."""
        ...

    def add_order_change(self, order_id: int, *, change_id: int, role: str) -> None:
        """Records a refund or take-back (``role``) the order made after it
        was created."""
        ...

    def order_change_ids(self, order_id: int, *, role: str) -> list[int]:
        """The order's later changes of one role, oldest first."""
        ...

    def is_order_change(self, change_id: int) -> bool:
        """True for an order's payment and for its later refunds and
        take-backs: changes only the order's own status changes may undo."""
        ...

    def customer_order_count(self, customer_id: int, *, since: Instant, till: Instant) -> int:
        """How many of the customer's orders are dated in [since, till)."""
        ...

    def customer_orders(
        self,
        customer_id: int,
        *,
        since: Instant,
        till: Instant,
        offset: int,
        limit: int,
        lines_max: int,
    ) -> list[PlacedOrder] | None:
        """One page of the customer's orders dated in [since, till), newest
        first; None, reading no line, when they hold more than ``lines_max``
        lines together."""
        ...


class Segments(Protocol):
    def upsert_segment(self, external_id: str, *, name: str) -> int: ...

    def segment(self, external_id: str) -> SegmentRow | None: ...

    def segment_id(self, external_id: str) -> int | None: ...

    def add_segment_members(self, segment_id: int, customer_ids: Iterable[int]) -> int:
        """Adds the customers to the segment; answers how many were not
        members before (an existing member is left as it is)."""
        ...

    def remove_segment_member(self, segment_id: int, *, customer_id: int) -> bool:
        """Answers whether the customer was a member."""
        ...

    def is_segment_member(self, segment_id: int, *, customer_id: int) -> bool: ...

    def segment_member_count(self, segment_id: int) -> int: ...

    def segment_member_ids(
        self, segment_id: int, *, limit: int, after_customer_id: int = 0
    ) -> list[int]:
        """One page of member customer ids in ascending order: the first
        ``limit`` above ``after_customer_id``."""
        ...


class Tx(
    Transaction,
    Customers,
    Ledger,
    Holds,
    References,
    Histories,
    PromoCodes,
    Operations,
    Orders,
    Segments,
    Protocol,
):
    """Every area: what a unit of work run by the store is handed."""
