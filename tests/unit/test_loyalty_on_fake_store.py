"""The loyalty use cases (earn, authorize, confirm, cancel, time out) on an
in-memory fake of the storage port: the ledger's rules with no database,
judged by the balances, lots and refusals they leave."""

from __future__ import annotations

import pytest

from pointkeeper.config import ProgramConfig
from pointkeeper.domain.ledger import KIND_EXPIRED, Balances, Draw, HoldStatus
from pointkeeper.domain.time import ms_per_day
from pointkeeper.errors import Conflict, DuplicateTransaction, InsufficientBalance
from pointkeeper.services import loyalty
from pointkeeper.store.reference_data import sync_reference_data
from tests.fakes.store import InMemoryTx

NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
HOUR = 3_600_000
LIFETIME_DAYS = 30


@pytest.fixture
def tx() -> InMemoryTx:
    """A store with one program, whose credits live 30 days, and customer C1
    enrolled in it."""
    fake = InMemoryTx()
    program = ProgramConfig(name="P", credit_lifetime_days=LIFETIME_DAYS)
    (program_id,) = sync_reference_data(fake, [program]).programs
    fields = {"customer_number": "C1", "program_id": program_id, "status": "active"}
    fake.insert_customer(fields, at=NOW)
    return fake


def _earn(tx: InMemoryTx, points: int, *, at: int, reference: str | None = None) -> bool:
    return loyalty.earn(
        tx, customer_number="C1", points=points, reason=None, reference=reference, now=at
    )


def _authorize(tx: InMemoryTx, points: int, *, sale_id: str, at: int, ttl_ms: int = HOUR) -> int:
    hold = loyalty.authorize(
        tx,
        customer_number="C1",
        sale_id=sale_id,
        points=points,
        amount_units=None,
        location=None,
        ttl_ms=ttl_ms,
        now=at,
    )
    return hold.id


def _resolve(tx: InMemoryTx, hold_id: int, target: str, *, at: int) -> None:
    auth_code = tx.holds[hold_id].hold.auth_code
    loyalty.resolve_authorization(
        tx, customer_number="C1", auth_code=auth_code, target=target, now=at
    )


def _balances(tx: InMemoryTx, *, at: int) -> Balances:
    _, _, figures = loyalty.customer_view(tx, customer_number="C1", now=at)
    return figures


def _remaining(tx: InMemoryTx) -> list[int]:
    return [row.lot.remaining for row in tx.lots.values()]


def test_an_earn_sent_again_under_its_reference_credits_once(tx: InMemoryTx) -> None:
    assert _earn(tx, 100, at=NOW, reference="R1")
    assert not _earn(tx, 100, at=NOW + 1, reference="R1")
    with pytest.raises(DuplicateTransaction):
        _earn(tx, 200, at=NOW + 2, reference="R1")
    assert _balances(tx, at=NOW + 3) == Balances(
        point_balance=100, open_authorizations=0, available=100, pending=0
    )
    assert _remaining(tx) == [100]


def test_a_hold_draws_the_soonest_expiring_lot_first(tx: InMemoryTx) -> None:
    _earn(tx, 50, at=NOW + ms_per_day)
    _earn(tx, 100, at=NOW)  # credited later, but expires a day sooner
    hold_id = _authorize(tx, 120, sale_id="S1", at=NOW + 2 * ms_per_day)

    later, sooner = tx.lots
    assert tx.holds[hold_id].hold.draws == [Draw(later, 20), Draw(sooner, 100)]
    assert _remaining(tx) == [30, 0]
    assert _balances(tx, at=NOW + 2 * ms_per_day) == Balances(
        point_balance=150, open_authorizations=120, available=30, pending=0
    )


def test_a_hold_for_more_than_is_available_is_refused_and_takes_nothing(
    tx: InMemoryTx,
) -> None:
    _earn(tx, 100, at=NOW)
    _authorize(tx, 60, sale_id="S1", at=NOW)
    with pytest.raises(InsufficientBalance):
        _authorize(tx, 41, sale_id="S2", at=NOW)
    assert _remaining(tx) == [40]
    assert _balances(tx, at=NOW).available == 40


def test_a_confirmed_hold_is_paid_once_and_cannot_be_cancelled(tx: InMemoryTx) -> None:
    _earn(tx, 100, at=NOW)
    hold_id = _authorize(tx, 70, sale_id="S1", at=NOW)
    _resolve(tx, hold_id, HoldStatus.CONFIRMED, at=NOW + 1)
    _resolve(tx, hold_id, HoldStatus.CONFIRMED, at=NOW + 2)  # a retry changes nothing

    with pytest.raises(Conflict):
        _resolve(tx, hold_id, HoldStatus.CANCELLED, at=NOW + 3)
    assert [c.amount for c in tx.changes.values()] == [100, -70]
    assert _balances(tx, at=NOW + 3) == Balances(
        point_balance=30, open_authorizations=0, available=30, pending=0
    )


def test_a_cancelled_hold_gives_its_points_back(tx: InMemoryTx) -> None:
    _earn(tx, 100, at=NOW)
    hold_id = _authorize(tx, 70, sale_id="S1", at=NOW)
    _resolve(tx, hold_id, HoldStatus.CANCELLED, at=NOW + 1)

    assert _remaining(tx) == [100]
    assert _balances(tx, at=NOW + 1).point_balance == 100
    # The sale is free again: a new hold for it draws afresh.
    _authorize(tx, 100, sale_id="S1", at=NOW + 2)
    assert _remaining(tx) == [0]


def test_points_of_a_timed_out_hold_are_written_off_with_their_expired_lot(
    tx: InMemoryTx,
) -> None:
    _earn(tx, 100, at=NOW)
    expiry = NOW + LIFETIME_DAYS * ms_per_day
    # Held across the lot's expiry: its 60 points cannot expire under the hold...
    _authorize(tx, 60, sale_id="S1", at=expiry - HOUR, ttl_ms=2 * HOUR)
    with pytest.raises(loyalty.NeedsSettlement):
        _balances(tx, at=expiry)
    loyalty.settle_customer(tx, customer_number="C1", now=expiry)
    assert _balances(tx, at=expiry) == Balances(
        point_balance=60, open_authorizations=60, available=0, pending=0
    )

    # ...but once the hold times out they go back into an expired lot, and
    # are written off at once: when the hold timed out, not when the lot did.
    loyalty.settle_customer(tx, customer_number="C1", now=expiry + 2 * HOUR)
    (hold,) = tx.holds.values()
    assert hold.hold.status == HoldStatus.EXPIRED
    written_off = [(c.amount, c.at) for c in tx.changes.values() if c.kind == KIND_EXPIRED]
    assert written_off == [(-40, expiry), (-60, expiry + HOUR)]
    assert _balances(tx, at=expiry + 2 * HOUR) == Balances(
        point_balance=0, open_authorizations=0, available=0, pending=0
    )
