"""The points ledger: lots, the order debits draw from them, holds, expiry
and the balance figures.

Every credit opens a lot. Debits and holds draw from lots soonest-expiring
first, never-expiring lots last, ties by the oldest lot. A hold takes its
points out of the lots' ``remaining`` while it is open, so they cannot expire
under it; when it is released the points go back, and points that go back
into a lot that has expired meanwhile are written off as ``Expired`` at once.
The same holds for a refund of a debit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pointkeeper.errors import Conflict, ErrorCode, InsufficientBalance, InvalidRequest
from pointkeeper.limits import points_per_request_max

from .time import Instant

__all__ = [
    "KIND_CUSTOM",
    "KIND_EXPIRED",
    "KIND_REFUND",
    "KIND_RETAIL_ORDER_BONUS",
    "KIND_RETAIL_ORDER_PAYMENT",
    "Balances",
    "Draw",
    "Hold",
    "HoldStatus",
    "Lot",
    "Release",
    "WriteOff",
    "allocate",
    "balances",
    "check_points",
    "draw_order_key",
    "expire_lots",
    "hold_transition",
    "release",
]

KIND_RETAIL_ORDER_BONUS = "RetailOrderBonus"
KIND_RETAIL_ORDER_PAYMENT = "RetailOrderPayment"
KIND_CUSTOM = "Custom"
KIND_EXPIRED = "Expired"
KIND_REFUND = "Refund"


@dataclass(slots=True)
class Lot:
    """What is left of one credit."""

    id: int
    amount: int
    remaining: int
    available_from: Instant
    expires_at: Instant | None

    def is_pending(self, at: Instant) -> bool:
        return self.available_from > at

    def is_expired(self, at: Instant) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def is_drawable(self, at: Instant) -> bool:
        return self.remaining > 0 and not self.is_pending(at) and not self.is_expired(at)


@dataclass(frozen=True, slots=True)
class Draw:
    """Points taken from (positive) or put back into (negative) one lot."""

    lot_id: int
    points: int


class HoldStatus:
    OPEN = "open"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(slots=True)
class Hold:
    """Points reserved for one sale until it is confirmed, cancelled or times out."""

    id: int
    customer_id: int
    auth_code: str
    sale_id: str
    points: int
    location: str | None
    status: str
    created_at: Instant
    expires_at: Instant
    draws: list[Draw] = field(default_factory=list)

    def is_due(self, at: Instant) -> bool:
        return self.status == HoldStatus.OPEN and self.expires_at <= at


@dataclass(frozen=True, slots=True)
class WriteOff:
    """Points of one lot that leave the balance through an ``Expired`` change."""

    lot_id: int
    points: int
    at: Instant


@dataclass(frozen=True, slots=True)
class Release:
    """What giving points back to their lots does: the points restored to
    lots still alive, and those written off because their lot has expired."""

    restored: list[Draw]
    write_offs: list[WriteOff]


@dataclass(frozen=True, slots=True)
class Balances:
    """The figures of SPEC §1 for one customer at one instant."""

    point_balance: int
    open_authorizations: int
    available: int
    pending: int

    @property
    def blocked(self) -> int:
        return self.open_authorizations + self.pending


def check_points(points: object) -> int:
    """Accepts a JSON integer from 1 to ``points_per_request_max``; booleans,
    floats and strings are refused."""
    if type(points) is not int or not 1 <= points <= points_per_request_max:
        raise InvalidRequest(
            code=ErrorCode.points_out_of_range, field="points", points_max=points_per_request_max
        )
    return points


def draw_order_key(lot: Lot) -> tuple[bool, Instant, int]:
    """Soonest-expiring first, never-expiring last, ties by the oldest lot."""
    return (lot.expires_at is None, lot.expires_at or 0, lot.id)


def allocate(candidates: Iterable[Lot], points: int, *, at: Instant) -> list[Draw]:
    """Chooses the draws that take ``points`` from the customer's lots.

    ``candidates`` must come in ``draw_order_key`` order (the store reads
    them that way so that a large account is not loaded whole); the order
    is asserted as they are consumed.
    """
    assert points > 0
    draws: list[Draw] = []
    needed = points
    previous: tuple[bool, Instant, int] | None = None
    for lot in candidates:
        key = draw_order_key(lot)
        assert previous is None or previous < key, "lots must come in draw order"
        previous = key
        if not lot.is_drawable(at):
            continue
        taken = min(lot.remaining, needed)
        draws.append(Draw(lot.id, taken))
        needed -= taken
        if needed == 0:
            return draws
    raise InsufficientBalance(code=ErrorCode.insufficient_balance)


def release(draws: Iterable[Draw], lots: dict[int, Lot], *, at: Instant) -> Release:
    """Gives drawn points back to their lots at ``at``: restored where the lot
    is still alive then, written off where it has expired."""
    restored: list[Draw] = []
    write_offs: list[WriteOff] = []
    for draw in draws:
        assert draw.points > 0
        lot = lots[draw.lot_id]
        if lot.is_expired(at):
            write_offs.append(WriteOff(lot.id, draw.points, at))
        else:
            restored.append(draw)
    return Release(restored, write_offs)


def expire_lots(lots: Iterable[Lot], *, at: Instant) -> list[WriteOff]:
    """Writes off what is left in every lot that has expired by ``at``,
    dated at the lot's own expiry."""
    return [
        WriteOff(lot.id, lot.remaining, lot.expires_at)
        for lot in lots
        if lot.expires_at is not None and lot.expires_at <= at and lot.remaining > 0
    ]


def hold_transition(hold: Hold, target: str, *, at: Instant) -> bool:
    """Decides whether resolving ``hold`` to ``target`` changes anything.

    Returns True when the hold must move to ``target`` now, False when it is
    already there (a repeated confirm or cancel is a no-op success), and
    raises ``Conflict`` when it was resolved the other way or has expired.
    """
    assert target in (HoldStatus.CONFIRMED, HoldStatus.CANCELLED)
    if hold.status == HoldStatus.OPEN and not hold.is_due(at):
        return True
    if hold.status == target:
        return False
    if hold.status == HoldStatus.OPEN or hold.status == HoldStatus.EXPIRED:
        raise Conflict(code=ErrorCode.hold_expired)
    raise Conflict(code=ErrorCode.hold_resolved, status=hold.status)


def balances(*, active: int, pending: int, open_authorizations: int) -> Balances:
    """The figures from a settled ledger: ``active`` is what remains in lots
    whose points are available (not pending, not expired), ``pending`` what
    remains in lots not yet available, ``open_authorizations`` the points
    reserved by open holds (already taken out of their lots' ``remaining``).
    """
    assert active >= 0 and pending >= 0 and open_authorizations >= 0
    return Balances(
        point_balance=active + open_authorizations,
        open_authorizations=open_authorizations,
        available=active,
        pending=pending,
    )
