"""Pruning what is kept only for a while: the answers kept under a
transactionId and the finished asynchronous calls, once older than the
configured retention (``jobs.retention_days``). After it, the same
transactionId is a new call."""

from __future__ import annotations

from pointkeeper import limits
from pointkeeper.domain.time import Instant, ms_per_day
from pointkeeper.store.tx import Operations

__all__ = ["prune_kept"]


def prune_kept(tx: Operations, *, retention_days: int, now: Instant) -> int:
    """One bounded batch of pruning; callers repeat it until it answers 0."""
    before = now - retention_days * ms_per_day
    pruned = tx.prune_operation_results(before, limit=limits.job_batch_max)
    return pruned + tx.prune_async_operations(before, limit=limits.job_batch_max)
