"""Periodic jobs: hold timeouts, expiry, pending activation, the queued
asynchronous Maestra calls, and pruning what is kept past its retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pointkeeper import limits, metrics
from pointkeeper.config import Config
from pointkeeper.domain.time import Instant
from pointkeeper.services.async_calls import CallRunner, run_due
from pointkeeper.services.jobs import JobReport, run_batch
from pointkeeper.services.retention import prune_kept
from pointkeeper.store import Store
from pointkeeper.store.tx import Tx

__all__ = ["JobsReport", "run_jobs", "run_periodically"]

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class JobsReport:
    ledger: JobReport
    async_operations: int
    # Kept transactionId answers and finished asynchronous calls deleted.
    pruned: int = 0


async def _repeat(job: str, write: Callable[[], Awaitable[int]]) -> int:
    """Runs one job's bounded batches until one does nothing; answers what
    they did together."""
    started = time.perf_counter()
    done = 0
    for _ in range(limits.job_batches_per_run_max):
        count = await write()
        done += count
        if count == 0:
            break
    metrics.count(metrics.job_runs, job=job)
    metrics.observe(metrics.job_seconds, time.perf_counter() - started, job=job)
    return done


async def run_jobs(
    store: Store,
    clock: Callable[[], Instant],
    *,
    async_calls: CallRunner,
    retention_days: int,
) -> JobsReport:
    """Runs every job until nothing is due, one bounded batch per transaction."""
    ledger = JobReport()

    async def ledger_batch() -> int:
        report: JobReport = await store.write(run_batch, now=clock())
        ledger.add(report)
        return 1 if report.did_anything else 0

    await _repeat("ledger", ledger_batch)
    handled = await _repeat(
        "async_calls", lambda: store.write(run_due, runner=async_calls, now=clock())
    )
    metrics.async_backlog.set(await store.read(_queued_async_calls))
    pruned = await _repeat(
        "retention",
        lambda: store.write(prune_kept, retention_days=retention_days, now=clock()),
    )
    return JobsReport(ledger, handled, pruned)


def _queued_async_calls(tx: Tx) -> int:
    return tx.queued_async_count()


async def run_periodically(
    store: Store,
    clock: Callable[[], Instant],
    config: Config,
    *,
    async_calls: CallRunner,
    wake: asyncio.Event | None = None,
) -> None:
    """Runs the jobs every ``jobs.interval_seconds``, and at once when ``wake``
    is set (an asynchronous call was queued)."""
    wake = wake or asyncio.Event()
    while True:
        wake.clear()
        try:
            report = await run_jobs(
                store,
                clock,
                async_calls=async_calls,
                retention_days=config.jobs.retention_days,
            )
            if report.ledger.did_anything or report.async_operations or report.pruned:
                _log.info("jobs ran", extra={"report": report})
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("periodic jobs failed; trying again next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), config.jobs.interval_seconds)
