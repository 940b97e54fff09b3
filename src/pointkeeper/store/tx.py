"""Every SQL statement of the ledger, written once for SQLite and PostgreSQL.

A ``Tx`` is handed to a service function by the store, inside a transaction
(a savepoint, for writes). Methods return domain objects or plain values;
nothing here decides a rule. The SQL is the dialect both databases share;
the few places where PostgreSQL must do more (row locks, which SQLite's
single writer makes needless) are the hooks ``PostgresTx`` overrides.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pointkeeper.domain.customers import ID_KINDS, Customer, Program
from pointkeeper.domain.ledger import Draw, Hold, HoldStatus, Lot
from pointkeeper.domain.time import Instant

from .action_queries import ActionQueries
from .connection import Connection
from .in_lists import in_lists
from .operation_queries import OperationQueries
from .promo_queries import PromoQueries
from .segment_queries import SegmentQueries

__all__ = ["ChangeRow", "DuplicateKey", "LockBusy", "Tx"]

_customer_columns = (
    "id, customer_number, website_id, email, mobile_phone, first_name, last_name,"
    " program_id, status"
)
_lot_columns = "id, amount, remaining, available_from, expires_at"
_hold_columns = (
    "id, customer_id, auth_code, sale_id, points, location, status, created_at, expires_at"
)
_customer_fields = (
    "customer_number",
    "website_id",
    "email",
    "mobile_phone",
    "first_name",
    "last_name",
    "program_id",
    "status",
)


class DuplicateKey(Exception):
    """A unique column already holds the value; ``column`` names it."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class LockBusy(Exception):
    """Another writer holds a row this transaction may not wait for; the
    unit of work that met it is rolled back and tried again later."""


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


def _unique_column(error: sqlite3.IntegrityError) -> str:
    # SQLite names the column: "UNIQUE constraint failed: customers.email".
    text = str(error)
    if "UNIQUE constraint failed:" not in text:
        raise error
    return text.rsplit(".", 1)[-1]


class Tx(ActionQueries, SegmentQueries, OperationQueries, PromoQueries):
    """The ledger's queries here; histories', segments', operations' and
    promo codes' in their mixins. As it stands, the SQLite transaction."""

    __slots__ = ("_context", "connection")

    # Appended to a SELECT that takes rows for this transaction, passing
    # over those another writer holds (PostgreSQL's write transactions; in
    # SQLite the one writer already excludes every other).
    _skip_locked = ""

    def __init__(self, connection: Connection, context: dict[str, Any]) -> None:
        self.connection = connection
        self._context = context

    def _row_lock(self) -> str:
        """The clause for a SELECT of rows to change: locks them until
        commit where other writers could change them meanwhile."""
        return ""

    def lock_customer(self, customer_id: int) -> None:
        """Keeps every other writer off the customer's ledger until commit."""

    def lock_free_customers(self, customer_ids: Iterable[int]) -> list[int]:
        """Locks those of the customers no other writer holds now; answers
        them in id order."""
        return sorted(customer_ids)

    def try_job_lock(self, job: str) -> bool:
        """True when no other process runs ``job`` in a transaction now; the
        lock lasts until this transaction ends."""
        return True

    @contextlib.contextmanager
    def unique_values(self) -> Iterator[None]:
        """Turns a unique column's violation into ``DuplicateKey``, leaving
        the transaction usable."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(_unique_column(exc)) from None

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit of work: rolled back alone when it raises."""
        self.connection.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK TO nested")
            self.connection.execute("RELEASE nested")
            raise
        self.connection.execute("RELEASE nested")

    def ping(self) -> None:
        """A statement that needs nothing but a working database."""
        self._one("SELECT 1")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(sql, params).fetchone()

    # -- reference data --------------------------------------------------

    def program(self, program_id: int) -> Program:
        programs: dict[int, Program] = self._context["programs"]
        return programs[program_id]

    def program_id(self, name: str) -> int | None:
        row = self._one("SELECT id FROM programs WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    def load_programs(self) -> dict[int, Program]:
        rows = self.connection.execute(
            "SELECT id, name, earning_description, redemption_description, balance_type,"
            " credit_lifetime_days, order_bonus_pending_days FROM programs"
        )
        return {row[0]: Program(*row) for row in rows}

    def upsert_program(self, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "name")
        self.connection.execute(
            f"INSERT INTO programs ({columns}) VALUES ({', '.join('?' * len(values))})"
            f" ON CONFLICT (name) DO UPDATE SET {updates}",
            tuple(values.values()),
        )

    def points_per_currency_unit(self, program_id: int) -> int:
        return int(
            self._one("SELECT points_per_currency_unit FROM programs WHERE id = ?", (program_id,))[
                0
            ]
        )

    def template_id(self, system_name: str) -> int | None:
        builtins: dict[str, int] = self._context.get("templates", {})
        if system_name in builtins:
            return builtins[system_name]
        row = self._one("SELECT id FROM action_templates WHERE system_name = ?", (system_name,))
        return None if row is None else int(row[0])

    def upsert_template(self, system_name: str, name: str) -> int:
        row = self._one(
            "INSERT INTO action_templates (system_name, name) VALUES (?, ?)"
            " ON CONFLICT (system_name) DO UPDATE SET name = excluded.name RETURNING id",
            (system_name, name),
        )
        return int(row[0])

    def ensure_template(self, system_name: str, name: str) -> int:
        """The template's id, creating it with ``name`` when missing."""
        self.connection.execute(
            "INSERT INTO action_templates (system_name, name) VALUES (?, ?)"
            " ON CONFLICT (system_name) DO NOTHING",
            (system_name, name),
        )
        template_id = self.template_id(system_name)
        assert template_id is not None
        return template_id

    def template(self, system_name: str) -> tuple[str, str] | None:
        row = self._one(
            "SELECT system_name, name FROM action_templates WHERE system_name = ?", (system_name,)
        )
        return None if row is None else (row[0], row[1])

    def point_of_contact_id(self, external_id: str) -> int | None:
        row = self._one("SELECT id FROM points_of_contact WHERE external_id = ?", (external_id,))
        return None if row is None else int(row[0])

    def upsert_point_of_contact(self, external_id: str, name: str) -> int:
        row = self._one(
            "INSERT INTO points_of_contact (external_id, name) VALUES (?, ?)"
            " ON CONFLICT (external_id) DO UPDATE SET name = excluded.name RETURNING id",
            (external_id, name),
        )
        return int(row[0])

    def point_of_contact(self, external_id: str) -> tuple[str, str] | None:
        row = self._one(
            "SELECT external_id, name FROM points_of_contact WHERE external_id = ?", (external_id,)
        )
        return None if row is None else (row[0], row[1])

    # -- customers -------------------------------------------------------

    def customer_by(self, kind: str, value: object) -> Customer | None:
        column = "id" if kind == "customer_id" else kind
        assert kind in ID_KINDS
        row = self._one(
            f"SELECT {_customer_columns} FROM customers WHERE {column} = ?{self._row_lock()}",
            (value,),
        )
        return None if row is None else Customer(*row)

    def insert_customer(self, fields: dict[str, Any], *, at: Instant) -> int:
        assert set(fields) <= set(_customer_fields)
        names = [*fields, "created_at"]
        with self.unique_values():
            row = self._one(
                f"INSERT INTO customers ({', '.join(names)})"
                f" VALUES ({', '.join('?' * len(names))}) RETURNING id",
                (*fields.values(), at),
            )
        return int(row[0])

    def update_customer(self, customer_id: int, fields: dict[str, Any]) -> None:
        assert set(fields) <= set(_customer_fields)
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.unique_values():
            self.connection.execute(
                f"UPDATE customers SET {assignments} WHERE id = ?",
                (*fields.values(), customer_id),
            )

    # -- actions and balance changes -------------------------------------

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
        row = self._one(
            "INSERT INTO customer_actions (idempotency_key, request_fingerprint, transaction_id,"
            " template_id, date_time_utc, point_of_contact_id, customer_id, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            (
                idempotency_key,
                fingerprint,
                transaction_id,
                template_id,
                at,
                point_of_contact_id,
                customer_id,
                recorded_at,
            ),
        )
        return None if row is None else int(row[0])

    def action_fingerprint(self, idempotency_key: str) -> str | None:
        row = self._one(
            "SELECT request_fingerprint FROM customer_actions WHERE idempotency_key = ?",
            (idempotency_key,),
        )
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

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
    ) -> int:
        row = self._one(
            "INSERT INTO balance_changes (action_id, customer_id, change_amount, kind,"
            " date_time_utc, expires_at, available_from, comment, document, location,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                action_id,
                customer_id,
                amount,
                kind,
                at,
                expires_at,
                available_from,
                comment,
                document,
                location,
                recorded_at,
            ),
        )
        return int(row[0])

    def change(self, change_id: int) -> tuple[int, int, str, str | None] | None:
        """(customer id, amount, kind, document) of one balance change."""
        row = self._one(
            "SELECT customer_id, change_amount, kind, document FROM balance_changes WHERE id = ?",
            (change_id,),
        )
        return None if row is None else (row[0], row[1], row[2], row[3])

    def refund_of(self, debit_change_id: int) -> int | None:
        row = self._one(
            "SELECT refund_change_id FROM refunds WHERE debit_change_id = ?", (debit_change_id,)
        )
        return None if row is None else int(row[0])

    def record_refund(self, debit_change_id: int, refund_change_id: int) -> None:
        self.connection.execute(
            "INSERT INTO refunds (debit_change_id, refund_change_id) VALUES (?, ?)",
            (debit_change_id, refund_change_id),
        )

    # -- lots ------------------------------------------------------------

    def insert_lot(
        self,
        *,
        lot_id: int,
        customer_id: int,
        amount: int,
        available_from: Instant,
        expires_at: Instant | None,
        activated: bool,
    ) -> None:
        self.connection.execute(
            "INSERT INTO lots (id, customer_id, amount, remaining, available_from, expires_at,"
            " activated) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (lot_id, customer_id, amount, amount, available_from, expires_at, activated),
        )

    def drawable_lots(self, customer_id: int, at: Instant) -> Iterator[Lot]:
        """Lots with points to draw at ``at``, in the domain's draw order:
        expiring ones by expiry then id, then never-expiring ones by id.
        Consumed lazily, so SQLite reads only as far as the points needed;
        PostgreSQL's ``_Rows`` fetch each query's rows at once (a known cost
        for customers with many lots, see docs/decisions.md)."""
        expiring = self.connection.execute(
            f"SELECT {_lot_columns} FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at > ? AND available_from <= ? ORDER BY expires_at, id",
            (customer_id, at, at),
        )
        yield from (Lot(*row) for row in expiring)
        lasting = self.connection.execute(
            f"SELECT {_lot_columns} FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at IS NULL AND available_from <= ? ORDER BY id",
            (customer_id, at),
        )
        yield from (Lot(*row) for row in lasting)

    def lots_by_id(self, lot_ids: Iterable[int]) -> dict[int, Lot]:
        lots: dict[int, Lot] = {}
        for marks, ids in in_lists(sorted(set(lot_ids))):
            rows = self.connection.execute(
                f"SELECT {_lot_columns} FROM lots WHERE id IN ({marks})", ids
            )
            lots.update((row[0], Lot(*row)) for row in rows)
        return lots

    def expired_lots(self, customer_id: int, at: Instant, *, limit: int) -> list[Lot]:
        """The first ``limit`` lots past expiry at ``at`` with points left."""
        rows = self.connection.execute(
            f"SELECT {_lot_columns} FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
            (customer_id, at, limit),
        )
        return [Lot(*row) for row in rows]

    def draw(self, change_id: int, draws: Iterable[Draw]) -> None:
        """Records ``draws`` against a balance change and moves each lot's
        ``remaining`` by the points (a negative draw puts points back)."""
        rows = [(change_id, d.lot_id, d.points) for d in draws]
        self.connection.executemany(
            "INSERT INTO lot_draws (balance_change_id, lot_id, points) VALUES (?, ?, ?)", rows
        )
        self.connection.executemany(
            "UPDATE lots SET remaining = remaining - ? WHERE id = ?",
            [(points, lot_id) for _, lot_id, points in rows],
        )

    def draws_of(self, change_id: int) -> list[Draw]:
        """A debit's draws: at most one per lot of its customer."""
        rows = self.connection.execute(
            "SELECT lot_id, points FROM lot_draws WHERE balance_change_id = ? ORDER BY id",
            (change_id,),
        )
        return [Draw(*row) for row in rows]

    def activate_lots(self, at: Instant, limit: int) -> int:
        cursor = self.connection.execute(
            "UPDATE lots SET activated = TRUE WHERE id IN (SELECT id FROM lots"
            f" WHERE NOT activated AND available_from <= ? LIMIT ?{self._skip_locked})",
            (at, limit),
        )
        return cursor.rowcount

    def customers_with_expired_lots(self, at: Instant, limit: int) -> list[int]:
        rows = self.connection.execute(
            "SELECT DISTINCT customer_id FROM (SELECT customer_id FROM lots"
            " WHERE remaining > 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?) AS due",
            (at, limit),
        )
        return [row[0] for row in rows]

    # -- holds -----------------------------------------------------------

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
    ) -> int:
        row = self._one(
            "INSERT INTO holds (auth_code, customer_id, sale_id, points, location, status,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id",
            (auth_code, customer_id, sale_id, points, location, created_at, expires_at),
        )
        return int(row[0])

    def reserve(self, hold_id: int, draws: Iterable[Draw]) -> None:
        rows = [(hold_id, d.lot_id, d.points) for d in draws]
        self.connection.executemany(
            "INSERT INTO hold_draws (hold_id, lot_id, points) VALUES (?, ?, ?)", rows
        )
        self.connection.executemany(
            "UPDATE lots SET remaining = remaining - ? WHERE id = ?",
            [(points, lot_id) for _, lot_id, points in rows],
        )

    def _holds(self, where: str, params: Sequence[Any]) -> list[Hold]:
        """The holds ``where`` selects, each with its draws in lot order."""
        rows = self.connection.execute(
            f"SELECT {_hold_columns} FROM holds WHERE {where}",
            params,
        ).fetchall()
        holds = {row[0]: Hold(*row) for row in rows}
        # The draws of many holds in one statement per chunk, not one per hold.
        for marks, ids in in_lists(holds):
            draws = self.connection.execute(
                f"SELECT hold_id, lot_id, points FROM hold_draws WHERE hold_id IN ({marks})"
                " ORDER BY hold_id, lot_id",
                ids,
            )
            for hold_id, lot_id, points in draws:
                holds[hold_id].draws.append(Draw(lot_id, points))
        return list(holds.values())

    def hold_by_code(self, auth_code: str) -> Hold | None:
        holds = self._holds("auth_code = ?", (auth_code,))
        return holds[0] if holds else None

    def live_hold_for_sale(self, customer_id: int, sale_id: str) -> Hold | None:
        holds = self._holds(
            "customer_id = ? AND sale_id = ? AND status IN ('open', 'confirmed')"
            " ORDER BY id DESC LIMIT 1",
            (customer_id, sale_id),
        )
        return holds[0] if holds else None

    def open_holds(self, customer_id: int, *, limit: int) -> list[Hold]:
        """The customer's first ``limit`` open holds, oldest first."""
        return self._holds(
            "customer_id = ? AND status = 'open' ORDER BY id LIMIT ?", (customer_id, limit)
        )

    def due_holds(self, customer_id: int, at: Instant, limit: int) -> list[Hold]:
        return self._holds(
            "customer_id = ? AND status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (customer_id, at, limit),
        )

    def customers_with_due_holds(self, at: Instant, limit: int) -> list[int]:
        rows = self.connection.execute(
            "SELECT DISTINCT customer_id FROM (SELECT customer_id FROM holds"
            " WHERE status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?) AS due",
            (at, limit),
        )
        return [row[0] for row in rows]

    def resolve_hold(
        self, hold: Hold, status: str, *, at: Instant, payment_change_id: int | None = None
    ) -> None:
        """Moves an open hold to ``status``; a released hold gives its points
        back to its lots, a confirmed one turns its draws into the payment's."""
        assert hold.status == HoldStatus.OPEN
        cursor = self.connection.execute(
            "UPDATE holds SET status = ?, resolved_at = ?, payment_change_id = ?"
            " WHERE id = ? AND status = 'open'",
            (status, at, payment_change_id, hold.id),
        )
        assert cursor.rowcount == 1, "a hold resolves exactly once"
        if payment_change_id is not None:
            self.connection.executemany(
                "INSERT INTO lot_draws (balance_change_id, lot_id, points) VALUES (?, ?, ?)",
                [(payment_change_id, d.lot_id, d.points) for d in hold.draws],
            )
        else:
            self.connection.executemany(
                "UPDATE lots SET remaining = remaining + ? WHERE id = ?",
                [(d.points, d.lot_id) for d in hold.draws],
            )

    # -- figures and histories -------------------------------------------

    def lot_sums(self, customer_id: int, at: Instant) -> tuple[int, int]:
        """(points in available lots, points in pending lots), on a settled ledger."""
        row = self._one(
            "SELECT COALESCE(SUM(CASE WHEN available_from <= ? THEN remaining END), 0),"
            " COALESCE(SUM(CASE WHEN available_from > ? THEN remaining END), 0)"
            " FROM lots WHERE customer_id = ? AND remaining > 0",
            (at, at, customer_id),
        )
        return int(row[0]), int(row[1])

    def open_hold_points(self, customer_id: int) -> int:
        row = self._one(
            "SELECT COALESCE(SUM(points), 0) FROM holds WHERE customer_id = ? AND status = 'open'",
            (customer_id,),
        )
        return int(row[0])

    def is_settled(self, customer_id: int, at: Instant) -> bool:
        """True when no lot of the customer is past expiry with points left and
        no open hold is past its time."""
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM lots WHERE customer_id = ? AND remaining > 0"
            " AND expires_at <= ?) OR EXISTS (SELECT 1 FROM holds WHERE customer_id = ?"
            " AND status = 'open' AND expires_at <= ?)",
            (customer_id, at, customer_id, at),
        )
        return not row[0]

    def summary_before(self, customer_id: int, start: Instant) -> tuple[int, Instant] | None:
        """(net points, earliest date) of every change dated before ``start``."""
        row = self._one(
            "SELECT SUM(change_amount), MIN(date_time_utc), COUNT(*) FROM balance_changes"
            " WHERE customer_id = ? AND date_time_utc < ?",
            (customer_id, start),
        )
        return None if row[2] == 0 else (int(row[0]), int(row[1]))

    def changes_between(
        self, customer_id: int, start: Instant, end: Instant, limit: int
    ) -> list[ChangeRow]:
        rows = self.connection.execute(
            "SELECT id, action_id, date_time_utc, change_amount, kind, expires_at,"
            " available_from, comment, document, location FROM balance_changes"
            " WHERE customer_id = ? AND date_time_utc >= ? AND date_time_utc <= ?"
            " ORDER BY date_time_utc, id LIMIT ?",
            (customer_id, start, end, limit),
        )
        return [ChangeRow(*row) for row in rows]

    def all_changes(self, customer_id: int) -> list[tuple[int, int]]:
        """(amount, available from) of every change: for invariant checks
        in tests, which is why it is not bounded."""
        rows = self.connection.execute(
            "SELECT change_amount, available_from FROM balance_changes WHERE customer_id = ?",
            (customer_id,),
        )
        return [(row[0], row[1]) for row in rows]

    def lot_audit(self, customer_id: int) -> list[tuple[int, int, int, int, int]]:
        """(lot id, amount, remaining, drawn, held) per lot: for invariant
        checks in tests, which is why it is not bounded."""
        rows = self.connection.execute(
            "SELECT l.id, l.amount, l.remaining,"
            " (SELECT COALESCE(SUM(points), 0) FROM lot_draws WHERE lot_id = l.id),"
            " (SELECT COALESCE(SUM(d.points), 0) FROM hold_draws d JOIN holds h"
            "   ON h.id = d.hold_id WHERE d.lot_id = l.id AND h.status = 'open')"
            " FROM lots l WHERE l.customer_id = ?",
            (customer_id,),
        )
        return [tuple(row) for row in rows]
