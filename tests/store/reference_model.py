"""A small reference model of one customer's points, written from SPEC §1
and nothing else, for the stateful test to compare the store against.

It keeps every lot in creation order and replays the rules in the plainest
way it can: lists, loops and sums, no indexes and no cleverness.

* A credit opens a lot. It is available from its ``available_from`` (the
  action's date unless given; a retail-order bonus waits the program's
  pending period) and expires at ``expires_at`` (unless given: the
  program's credit lifetime after it becomes available; never without one).
* A debit or a hold draws from the available, unexpired lots, soonest-expiring
  first, never-expiring last, ties by the older lot.
* A hold takes its points out of the lots while it is open, so they cannot
  expire under it. Confirming turns it into a ``RetailOrderPayment``;
  cancelling or timing out gives the points back, and points given back to a
  lot that has expired by then leave at once as ``Expired``. A refund gives
  a debit's points back the same way.
* When a lot expires, what is left in it leaves as ``Expired``, dated at the
  lot's expiry.

The ledger is settled lazily, like the real one: ``settle`` does the due
work (hold timeouts first, then expiry), and the operations that settle
call it. Settling earlier or later ends in the same ledger; the model only
mirrors when, so that "is there due work?" can be compared too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Account",
    "Change",
    "Figures",
    "ModelDebit",
    "ModelHold",
    "ModelLot",
    "Refusal",
]

# (kind, amount, dated, available from, expires at): one balance change.
Change = tuple[str, int, int, int | None, int | None]


class Refusal(Exception):
    """The operation must be refused: ``reason`` is one of ``insufficient``,
    ``conflict``, ``invalid`` and ``not_found``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ModelLot:
    amount: int
    available_from: int
    expires_at: int | None
    # Points neither drawn nor reserved by an open hold.
    remaining: int

    def has_expired(self, at: int) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def is_pending(self, at: int) -> bool:
        return self.available_from > at


@dataclass
class ModelHold:
    sale_id: str
    points: int
    expires_at: int
    # Lot index -> points reserved from it.
    draws: dict[int, int]
    status: str = "open"
    auth_code: str = ""


@dataclass
class ModelDebit:
    amount: int
    draws: dict[int, int]
    refunded: bool = False
    # The real store's balance change id, filled in by the test.
    change_id: int = 0


@dataclass(frozen=True)
class Figures:
    point_balance: int
    open_authorizations: int
    available: int
    pending: int


@dataclass
class Account:
    """One enrolled customer's ledger."""

    lifetime_ms: int | None
    bonus_pending_ms: int
    lots: list[ModelLot] = field(default_factory=list)
    holds: list[ModelHold] = field(default_factory=list)
    debits: list[ModelDebit] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    earned: dict[str, int] = field(default_factory=dict)

    # -- due work ------------------------------------------------------

    def is_settled(self, now: int) -> bool:
        """No lot past its expiry with points left, no open hold past its time."""
        lots_due = any(lot.has_expired(now) and lot.remaining > 0 for lot in self.lots)
        holds_due = any(h.status == "open" and h.expires_at <= now for h in self.holds)
        return not lots_due and not holds_due

    def settle(self, now: int) -> None:
        due = [h for h in self.holds if h.status == "open" and h.expires_at <= now]
        for hold in sorted(due, key=lambda h: h.expires_at):
            hold.status = "expired"
            self._give_back(hold.draws, at=hold.expires_at)
        for lot in self.lots:
            if lot.has_expired(now) and lot.remaining > 0:
                assert lot.expires_at is not None
                self.changes.append(("Expired", -lot.remaining, lot.expires_at, None, None))
                lot.remaining = 0

    def _give_back(self, draws: dict[int, int], *, at: int) -> None:
        for index, points in draws.items():
            lot = self.lots[index]
            if lot.has_expired(at):
                self.changes.append(("Expired", -points, at, None, None))
            else:
                lot.remaining += points

    # -- drawing -------------------------------------------------------

    def available(self, now: int) -> int:
        return sum(
            lot.remaining
            for lot in self.lots
            if not lot.is_pending(now) and not lot.has_expired(now)
        )

    def _take(self, points: int, now: int) -> dict[int, int]:
        if self.available(now) < points:
            raise Refusal("insufficient")
        usable = [
            index
            for index, lot in enumerate(self.lots)
            if lot.remaining > 0 and not lot.is_pending(now) and not lot.has_expired(now)
        ]
        expiring = [i for i in usable if self.lots[i].expires_at is not None]
        lasting = [i for i in usable if self.lots[i].expires_at is None]
        # Sorting by (expiry, index) puts ties in the order the lots were made.
        expiring.sort(key=lambda i: (self.lots[i].expires_at, i))
        draws: dict[int, int] = {}
        needed = points
        for index in expiring + lasting:
            taken = min(needed, self.lots[index].remaining)
            self.lots[index].remaining -= taken
            draws[index] = taken
            needed -= taken
            if needed == 0:
                break
        assert needed == 0
        return draws

    # -- operations ----------------------------------------------------

    def credit(
        self,
        amount: int,
        *,
        kind: str,
        at: int,
        now: int,
        expires_at: int | None = None,
        available_from: int | None = None,
    ) -> None:
        assert amount > 0
        if available_from is None:
            available_from = at + (self.bonus_pending_ms if kind == "RetailOrderBonus" else 0)
        if expires_at is None and self.lifetime_ms is not None:
            expires_at = available_from + self.lifetime_ms
        if expires_at is not None and expires_at <= available_from:
            raise Refusal("invalid")
        self.lots.append(ModelLot(amount, available_from, expires_at, amount))
        self.changes.append((kind, amount, at, available_from, expires_at))
        # A credit whose expiry has already passed is written off at once.
        if expires_at is not None and expires_at <= now:
            self.settle(now)

    def debit(self, amount: int, *, kind: str, at: int, now: int) -> ModelDebit:
        self.settle(now)
        debit = ModelDebit(amount, self._take(amount, now))
        self.debits.append(debit)
        self.changes.append((kind, -amount, at, None, None))
        return debit

    def earn(self, points: int, *, reference: str | None, now: int) -> bool:
        if reference is not None:
            if reference in self.earned:
                if self.earned[reference] != points:
                    raise Refusal("conflict")
                return False
            self.earned[reference] = points
        self.credit(points, kind="Custom", at=now, now=now)
        return True

    def authorize(self, points: int, *, sale_id: str, ttl_ms: int, now: int) -> ModelHold:
        self.settle(now)
        for hold in reversed(self.holds):
            if hold.sale_id == sale_id and hold.status in ("open", "confirmed"):
                if hold.points != points:
                    raise Refusal("conflict")
                return hold
        hold = ModelHold(sale_id, points, now + ttl_ms, self._take(points, now))
        self.holds.append(hold)
        return hold

    def resolve(self, hold: ModelHold, target: str, *, now: int) -> ModelDebit | None:
        """Confirms or cancels; answers the payment a confirmation makes."""
        assert target in ("confirmed", "cancelled")
        self.settle(now)
        if hold.status == target:
            return None
        if hold.status != "open":
            raise Refusal("conflict")
        assert hold.expires_at > now
        hold.status = target
        if target == "cancelled":
            self._give_back(hold.draws, at=now)
            return None
        payment = ModelDebit(hold.points, dict(hold.draws))
        self.debits.append(payment)
        self.changes.append(("RetailOrderPayment", -hold.points, now, None, None))
        return payment

    def refund(self, debit: ModelDebit, *, now: int) -> None:
        if debit.refunded:
            raise Refusal("conflict")
        debit.refunded = True
        self.changes.append(("Refund", debit.amount, now, None, None))
        self._give_back(debit.draws, at=now)

    # -- what the customer sees ------------------------------------------

    def held(self, index: int) -> int:
        return sum(h.draws.get(index, 0) for h in self.holds if h.status == "open")

    def figures(self, now: int) -> Figures:
        assert self.is_settled(now), "figures are read from a settled ledger"
        open_authorizations = sum(h.points for h in self.holds if h.status == "open")
        available = self.available(now)
        pending = sum(lot.remaining for lot in self.lots if lot.is_pending(now))
        # Two ways to the balance, which must agree: what is in the lots plus
        # what open holds reserve, and the sum of the active balance changes.
        from_lots = available + open_authorizations
        from_changes = sum(
            amount
            for _, amount, _, available_from, _ in self.changes
            if available_from is None or available_from <= now
        )
        assert from_lots == from_changes, (from_lots, from_changes)
        return Figures(from_lots, open_authorizations, available, pending)
