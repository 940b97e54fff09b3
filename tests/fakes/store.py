"""An in-memory transaction: the port's customers, reference data, ledger and
holds areas (``services.loyalty.LoyaltyTx``) kept in dictionaries, for unit
tests of the use cases without a database.

It answers as the SQL does (the same orders, the same ``None`` for what is
missing, fresh objects that a caller may change without changing the
store), and decides no rule: those stay in the services and the domain.
mypy holds it to the port, so a method that changes there changes here.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pointkeeper.domain.customers import ID_KINDS, Customer, Program
from pointkeeper.domain.ledger import KIND_EXPIRED, Draw, Hold, HoldStatus, Lot
from pointkeeper.domain.time import Instant
from pointkeeper.store.tx import DuplicateKey

if TYPE_CHECKING:
    from pointkeeper.services.loyalty import LoyaltyTx

__all__ = ["InMemoryTx"]

# The columns a customer may be found by, each unique.
_unique_customer_fields = ("customer_number", "website_id", "email", "mobile_phone")
_program_fields = tuple(f.name for f in dataclasses.fields(Program) if f.name != "id")


@dataclass(slots=True)
class _Action:
    customer_id: int
    template_id: int
    idempotency_key: str | None
    fingerprint: str | None


@dataclass(slots=True)
class _Change:
    customer_id: int
    amount: int
    kind: str
    at: Instant
    available_from: Instant | None
    document: str | None


@dataclass(slots=True)
class _Lot:
    customer_id: int
    lot: Lot
    activated: bool


@dataclass(slots=True)
class _Hold:
    hold: Hold
    payment_change_id: int | None = None
    resolved_at: Instant | None = None


@dataclass(slots=True)
class InMemoryTx:
    """One store and its open transaction at once: nothing is rolled back
    (a test that needs a refusal's rollback needs a real store)."""

    customers: dict[int, Customer] = field(default_factory=dict)
    programs: dict[int, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, tuple[int, str]] = field(default_factory=dict)
    points_of_contact: dict[str, tuple[int, str]] = field(default_factory=dict)
    actions: dict[int, _Action] = field(default_factory=dict)
    changes: dict[int, _Change] = field(default_factory=dict)
    refunds: dict[int, int] = field(default_factory=dict)
    lots: dict[int, _Lot] = field(default_factory=dict)
    # (balance change id, lot id, points), in the order they were drawn.
    lot_draws: list[tuple[int, int, int]] = field(default_factory=list)
    holds: dict[int, _Hold] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- customers ---------------------------------------------------------

    def customer_by(self, kind: str, value: object) -> Customer | None:
        assert kind in ID_KINDS
        if kind == "customer_id":
            return self.customers.get(value) if isinstance(value, int) else None
        return next((c for c in self.customers.values() if getattr(c, kind) == value), None)

    def insert_customer(self, fields: dict[str, Any], *, at: Instant) -> int:
        customer_id = next(self._ids)
        values = {name: None for name in _customer_columns()} | fields
        self._check_unique(customer_id, values)
        self.customers[customer_id] = Customer(id=customer_id, **values)
        return customer_id

    def update_customer(self, customer_id: int, fields: dict[str, Any]) -> None:
        changed = dataclasses.replace(self.customers[customer_id], **fields)
        self._check_unique(customer_id, dataclasses.asdict(changed))
        self.customers[customer_id] = changed

    def _check_unique(self, customer_id: int, values: dict[str, Any]) -> None:
        for name in _unique_customer_fields:
            others = (c for c in self.customers.values() if c.id != customer_id)
            if values[name] is not None and any(getattr(c, name) == values[name] for c in others):
                raise DuplicateKey(name)

    def customer_ids_by_number(self, customer_numbers: Sequence[str]) -> dict[str, int]:
        wanted = set(customer_numbers)
        return {
            c.customer_number: c.id for c in self.customers.values() if c.customer_number in wanted
        }

    # -- reference data ----------------------------------------------------

    def program(self, program_id: int) -> Program:
        row = self.programs[program_id]
        return Program(program_id, *(row[name] for name in _program_fields))

    def program_id(self, name: str) -> int | None:
        return next((i for i, row in self.programs.items() if row["name"] == name), None)

    def load_programs(self) -> dict[int, Program]:
        return {program_id: self.program(program_id) for program_id in self.programs}

    def upsert_program(self, values: dict[str, Any]) -> None:
        program_id = self.program_id(values["name"])
        if program_id is None:
            self.programs[next(self._ids)] = dict(values)
        else:
            self.programs[program_id].update(values)

    def template_id(self, system_name: str) -> int | None:
        found = self.templates.get(system_name)
        return None if found is None else found[0]

    def upsert_template(self, system_name: str, *, name: str) -> int:
        template_id = self.template_id(system_name) or next(self._ids)
        self.templates[system_name] = (template_id, name)
        return template_id

    def ensure_template(self, system_name: str, *, name: str) -> int:
        return self.template_id(system_name) or self.upsert_template(system_name, name=name)

    def template(self, system_name: str) -> tuple[str, str] | None:
        found = self.templates.get(system_name)
        return None if found is None else (system_name, found[1])

    def templates_by_id(self, template_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        wanted = set(template_ids)
        return {i: (s, name) for s, (i, name) in self.templates.items() if i in wanted}

    def point_of_contact_id(self, external_id: str) -> int | None:
        found = self.points_of_contact.get(external_id)
        return None if found is None else found[0]

    def upsert_point_of_contact(self, external_id: str, *, name: str) -> int:
        point_of_contact_id = self.point_of_contact_id(external_id) or next(self._ids)
        self.points_of_contact[external_id] = (point_of_contact_id, name)
        return point_of_contact_id

    def point_of_contact(self, external_id: str) -> tuple[str, str] | None:
        found = self.points_of_contact.get(external_id)
        return None if found is None else (external_id, found[1])

    def point_of_contact_by_id(self, point_of_contact_id: int) -> tuple[str, str]:
        (found,) = [
            (e, name) for e, (i, name) in self.points_of_contact.items() if i == point_of_contact_id
        ]
        return found

    def points_of_contact_by_id(self, point_of_contact_ids: Iterable[int]) -> dict[int, str]:
        wanted = set(point_of_contact_ids)
        return {i: e for e, (i, _) in self.points_of_contact.items() if i in wanted}

    # -- ledger ------------------------------------------------------------

    def lock_customer(self, customer_id: int) -> None:
        """One transaction at a time: there is nobody to keep off."""

    def lock_free_customers(self, customer_ids: Iterable[int]) -> list[int]:
        return sorted(customer_ids)

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
        if idempotency_key is not None and self._action_by_key(idempotency_key) is not None:
            return None
        action_id = next(self._ids)
        self.actions[action_id] = _Action(customer_id, template_id, idempotency_key, fingerprint)
        return action_id

    def _action_by_key(self, idempotency_key: str) -> _Action | None:
        matches = (a for a in self.actions.values() if a.idempotency_key == idempotency_key)
        return next(matches, None)

    def action_fingerprint(self, idempotency_key: str) -> str | None:
        action = self._action_by_key(idempotency_key)
        assert action is not None
        return action.fingerprint

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
        assert action_id in self.actions
        change_id = next(self._ids)
        self.changes[change_id] = _Change(customer_id, amount, kind, at, available_from, document)
        return change_id

    def change(self, change_id: int) -> tuple[int, int, str, str | None] | None:
        found = self.changes.get(change_id)
        if found is None:
            return None
        return found.customer_id, found.amount, found.kind, found.document

    def refund_of(self, debit_change_id: int) -> int | None:
        return self.refunds.get(debit_change_id)

    def record_refund(self, debit_change_id: int, *, refund_change_id: int) -> None:
        assert debit_change_id not in self.refunds
        self.refunds[debit_change_id] = refund_change_id

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
        assert lot_id not in self.lots
        lot = Lot(lot_id, amount, amount, available_from, expires_at)
        self.lots[lot_id] = _Lot(customer_id, lot, activated)

    def _lots_of(self, customer_id: int) -> list[Lot]:
        return [row.lot for row in self.lots.values() if row.customer_id == customer_id]

    def drawable_lots(self, customer_id: int, *, at: Instant) -> Iterator[Lot]:
        alive = [
            lot
            for lot in self._lots_of(customer_id)
            if lot.remaining > 0
            and lot.available_from <= at
            and (lot.expires_at is None or lot.expires_at > at)
        ]
        expiring = sorted((lot for lot in alive if lot.expires_at is not None), key=_expiry_order)
        lasting = sorted((lot for lot in alive if lot.expires_at is None), key=lambda lot: lot.id)
        return (dataclasses.replace(lot) for lot in [*expiring, *lasting])

    def lots_by_id(self, lot_ids: Iterable[int]) -> dict[int, Lot]:
        return {i: dataclasses.replace(self.lots[i].lot) for i in set(lot_ids) if i in self.lots}

    def expired_lots(self, customer_id: int, *, at: Instant, limit: int) -> list[Lot]:
        return [dataclasses.replace(lot) for lot in self._expired(customer_id, at)[:limit]]

    def _expired(self, customer_id: int | None, at: Instant) -> list[Lot]:
        lots = [
            row.lot
            for row in self.lots.values()
            if customer_id in (None, row.customer_id)
            and row.lot.remaining > 0
            and row.lot.expires_at is not None
            and row.lot.expires_at <= at
        ]
        return sorted(lots, key=_expiry_order)

    def draw(self, change_id: int, draws: Iterable[Draw]) -> None:
        for draw in draws:
            self.lot_draws.append((change_id, draw.lot_id, draw.points))
            self._take(draw.lot_id, draw.points)

    def _take(self, lot_id: int, points: int) -> None:
        lot = self.lots[lot_id].lot
        lot.remaining -= points
        # The database's CHECK constraints: a lot never goes below nothing
        # nor above what it was credited.
        assert 0 <= lot.remaining <= lot.amount, lot

    def draws_of(self, change_id: int) -> list[Draw]:
        return [Draw(lot_id, points) for c, lot_id, points in self.lot_draws if c == change_id]

    def expired_points(self, lot_id: int) -> int:
        return sum(
            points
            for change_id, drawn_lot, points in self.lot_draws
            if drawn_lot == lot_id and self.changes[change_id].kind == KIND_EXPIRED
        )

    def activate_lots(self, at: Instant, *, limit: int) -> int:
        due = [r for r in self.lots.values() if not r.activated and r.lot.available_from <= at]
        for row in due[:limit]:
            row.activated = True
        return len(due[:limit])

    def customers_with_expired_lots(self, at: Instant, *, limit: int) -> list[int]:
        first = self._expired(None, at)[:limit]
        return list(dict.fromkeys(self.lots[lot.id].customer_id for lot in first))

    def lot_sums(self, customer_id: int, *, at: Instant) -> tuple[int, int]:
        lots = self._lots_of(customer_id)
        available = sum(lot.remaining for lot in lots if lot.available_from <= at)
        return available, sum(lot.remaining for lot in lots if lot.available_from > at)

    def is_settled(self, customer_id: int, *, at: Instant) -> bool:
        due = (h for h in self._holds_of(customer_id) if h.is_due(at))
        return not self._expired(customer_id, at) and next(due, None) is None

    def all_changes(self, customer_id: int) -> list[tuple[int, Instant | None]]:
        return [
            (change.amount, change.available_from)
            for change in self.changes.values()
            if change.customer_id == customer_id
        ]

    def lot_audit(self, customer_id: int) -> list[tuple[int, int, int, int, int]]:
        def held(lot_id: int) -> int:
            return sum(
                d.points
                for h in self._holds_of(customer_id)
                if h.status == HoldStatus.OPEN
                for d in h.draws
                if d.lot_id == lot_id
            )

        return [
            (lot.id, lot.amount, lot.remaining, self._drawn(lot.id), held(lot.id))
            for lot in self._lots_of(customer_id)
        ]

    def _drawn(self, lot_id: int) -> int:
        return sum(points for _, drawn_lot, points in self.lot_draws if drawn_lot == lot_id)

    # -- holds -------------------------------------------------------------

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
        hold_id = next(self._ids)
        hold = Hold(
            hold_id,
            customer_id,
            auth_code,
            sale_id,
            points,
            location,
            HoldStatus.OPEN,
            created_at,
            expires_at,
        )
        self.holds[hold_id] = _Hold(hold)
        return hold_id

    def reserve(self, hold_id: int, draws: Iterable[Draw]) -> None:
        hold = self.holds[hold_id].hold
        for draw in draws:
            hold.draws.append(draw)
            self._take(draw.lot_id, draw.points)
        hold.draws.sort(key=lambda draw: draw.lot_id)

    def _holds_of(self, customer_id: int) -> list[Hold]:
        return [row.hold for row in self.holds.values() if row.hold.customer_id == customer_id]

    def hold_by_code(self, auth_code: str) -> Hold | None:
        found = [row.hold for row in self.holds.values() if row.hold.auth_code == auth_code]
        return _copy(found[0]) if found else None

    def live_hold_for_sale(self, customer_id: int, sale_id: str) -> Hold | None:
        live = [
            h
            for h in self._holds_of(customer_id)
            if h.sale_id == sale_id and h.status in (HoldStatus.OPEN, HoldStatus.CONFIRMED)
        ]
        return _copy(max(live, key=lambda h: h.id)) if live else None

    def open_holds(self, customer_id: int, *, limit: int) -> list[Hold]:
        found = [h for h in self._holds_of(customer_id) if h.status == HoldStatus.OPEN]
        return [_copy(h) for h in sorted(found, key=lambda h: h.id)[:limit]]

    def due_holds(self, customer_id: int, *, at: Instant, limit: int) -> list[Hold]:
        found = [h for h in self._holds_of(customer_id) if h.is_due(at)]
        return [_copy(h) for h in sorted(found, key=lambda h: h.expires_at)[:limit]]

    def customers_with_due_holds(self, at: Instant, *, limit: int) -> list[int]:
        due = sorted(
            (row.hold for row in self.holds.values() if row.hold.is_due(at)),
            key=lambda h: h.expires_at,
        )
        return list(dict.fromkeys(h.customer_id for h in due[:limit]))

    def resolve_hold(
        self, hold: Hold, status: str, *, at: Instant, payment_change_id: int | None = None
    ) -> None:
        assert hold.status == HoldStatus.OPEN
        row = self.holds[hold.id]
        assert row.hold.status == HoldStatus.OPEN, "a hold resolves exactly once"
        row.hold.status, row.resolved_at, row.payment_change_id = status, at, payment_change_id
        for draw in hold.draws:
            if payment_change_id is not None:
                self.lot_draws.append((payment_change_id, draw.lot_id, draw.points))
            else:
                self._take(draw.lot_id, -draw.points)

    def open_hold_points(self, customer_id: int) -> int:
        return sum(h.points for h in self._holds_of(customer_id) if h.status == HoldStatus.OPEN)


def _customer_columns() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Customer) if f.name != "id")


def _expiry_order(lot: Lot) -> tuple[Instant, int]:
    assert lot.expires_at is not None
    return lot.expires_at, lot.id


def _copy(hold: Hold) -> Hold:
    return dataclasses.replace(hold, draws=list(hold.draws))


if TYPE_CHECKING:
    # What proves the port: mypy holds the fake to it.
    _port: type[LoyaltyTx] = InMemoryTx
