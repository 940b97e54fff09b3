"""The ledger's pure rules: draw order, release, expiry, hold transitions."""

from __future__ import annotations

import pytest

from pointkeeper.domain.ledger import (
    Draw,
    Hold,
    HoldStatus,
    Lot,
    WriteOff,
    allocate,
    balances,
    check_points,
    draw_order_key,
    expire_lots,
    hold_transition,
    release,
)
from pointkeeper.errors import Conflict, ErrorCode, InsufficientBalance, InvalidRequest

NOW = 1_000_000


def lot(
    lot_id: int, remaining: int, *, expires_at: int | None = None, available_from: int = 0
) -> Lot:
    return Lot(lot_id, remaining, remaining, available_from, expires_at)


def in_draw_order(lots: list[Lot]) -> list[Lot]:
    return sorted(lots, key=draw_order_key)


def test_debits_draw_soonest_expiring_first_and_never_expiring_last() -> None:
    lots = in_draw_order(
        [
            lot(1, 50),
            lot(2, 30, expires_at=NOW + 500),
            lot(3, 40, expires_at=NOW + 100),
            lot(4, 10),
        ]
    )
    assert allocate(lots, 100, at=NOW) == [Draw(3, 40), Draw(2, 30), Draw(1, 30)]


def test_ties_go_to_the_oldest_lot() -> None:
    lots = in_draw_order([lot(7, 5, expires_at=NOW + 9), lot(3, 5, expires_at=NOW + 9)])
    assert allocate(lots, 6, at=NOW) == [Draw(3, 5), Draw(7, 1)]


def test_pending_and_expired_lots_are_not_drawn() -> None:
    lots = in_draw_order(
        [
            lot(1, 10, expires_at=NOW),
            lot(2, 10, available_from=NOW + 1),
            lot(3, 10),
        ]
    )
    assert allocate(lots, 10, at=NOW) == [Draw(3, 10)]
    with pytest.raises(InsufficientBalance) as refused:
        allocate(lots, 11, at=NOW)
    assert refused.value.code == ErrorCode.insufficient_balance


def test_lots_out_of_draw_order_are_a_programmer_error() -> None:
    with pytest.raises(AssertionError):
        allocate([lot(1, 10), lot(2, 10, expires_at=NOW + 5)], 15, at=NOW)


def test_release_restores_live_lots_and_writes_off_expired_ones() -> None:
    lots = {1: lot(1, 0, expires_at=NOW - 1), 2: lot(2, 0, expires_at=NOW + 1), 3: lot(3, 0)}
    outcome = release([Draw(1, 5), Draw(2, 6), Draw(3, 7)], lots, at=NOW)
    assert outcome.restored == [Draw(2, 6), Draw(3, 7)]
    assert outcome.write_offs == [WriteOff(1, 5, NOW)]


def test_expiry_writes_off_the_remaining_at_the_lot_expiry() -> None:
    lots = [
        lot(1, 5, expires_at=NOW - 10),
        lot(2, 0, expires_at=NOW - 5),
        lot(3, 9, expires_at=NOW + 1),
        lot(4, 3),
    ]
    assert expire_lots(lots, at=NOW) == [WriteOff(1, 5, NOW - 10)]


def hold(status: str, expires_at: int = NOW + 10) -> Hold:
    return Hold(1, 1, "code", "sale", 10, None, status, 0, expires_at)


@pytest.mark.parametrize(
    ("status", "target", "outcome"),
    [
        (HoldStatus.OPEN, HoldStatus.CONFIRMED, True),
        (HoldStatus.OPEN, HoldStatus.CANCELLED, True),
        (HoldStatus.CONFIRMED, HoldStatus.CONFIRMED, False),
        (HoldStatus.CANCELLED, HoldStatus.CANCELLED, False),
        (HoldStatus.CONFIRMED, HoldStatus.CANCELLED, Conflict),
        (HoldStatus.CANCELLED, HoldStatus.CONFIRMED, Conflict),
        (HoldStatus.EXPIRED, HoldStatus.CONFIRMED, Conflict),
        (HoldStatus.EXPIRED, HoldStatus.CANCELLED, Conflict),
    ],
)
def test_a_hold_resolves_exactly_once(status: str, target: str, outcome: object) -> None:
    if outcome is Conflict:
        with pytest.raises(Conflict):
            hold_transition(hold(status), target, at=NOW)
    else:
        assert hold_transition(hold(status), target, at=NOW) is outcome


def test_an_open_hold_past_its_time_cannot_be_confirmed() -> None:
    with pytest.raises(Conflict, match="expired"):
        hold_transition(hold(HoldStatus.OPEN, expires_at=NOW), HoldStatus.CONFIRMED, at=NOW)


def test_balance_figures() -> None:
    figures = balances(active=504, pending=7, open_authorizations=1000)
    assert (figures.point_balance, figures.available, figures.blocked) == (1504, 504, 1007)


@pytest.mark.parametrize("points", [0, -1, 1.0, 2.5, "5", True, None, 10**12 + 1])
def test_points_must_be_a_json_integer_in_range(points: object) -> None:
    with pytest.raises(InvalidRequest):
        check_points(points)


@pytest.mark.parametrize("points", [1, 10**12])
def test_points_at_the_bounds_are_accepted(points: int) -> None:
    assert check_points(points) == points
