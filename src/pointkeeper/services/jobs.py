"""Periodic work: hold timeouts, expiry and pending activation, each in
bounded batches so that one run never holds the writer for long."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pointkeeper import limits
from pointkeeper.domain.time import Instant
from pointkeeper.store.tx import Tx

from .ledger import settle

__all__ = ["JobReport", "run_batch"]


@dataclass(slots=True)
class JobReport:
    holds_expired: int = 0
    lots_expired: int = 0
    points_expired: int = 0
    credits_activated: int = 0

    def add(self, other: JobReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def did_anything(self) -> bool:
        return any(asdict(self).values())


def run_batch(tx: Tx, *, now: Instant) -> JobReport:
    """One transaction's share of every job; callers repeat it until it
    answers a report that did nothing. While another process runs the jobs
    this one does nothing, so that no work is done twice."""
    report = JobReport()
    if not tx.try_job_lock("ledger"):
        return report
    due = set(tx.customers_with_due_holds(now, limit=limits.job_batch_max))
    due.update(tx.customers_with_expired_lots(now, limit=limits.job_batch_max))
    # A customer another writer holds now is settled by that writer (every
    # write settles its customer first) or by the next run.
    for customer_id in tx.lock_free_customers(due):
        settled = settle(tx, customer_id, now=now)
        report.holds_expired += settled.holds_expired
        report.lots_expired += settled.lots_expired
        report.points_expired += settled.points_expired
    report.credits_activated = tx.activate_lots(now, limit=limits.job_batch_max)
    return report
