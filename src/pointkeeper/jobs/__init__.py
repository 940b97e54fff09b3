"""Periodic jobs: hold timeouts, expiry and pending activation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pointkeeper import limits
from pointkeeper.domain.time import Instant
from pointkeeper.services.jobs import JobReport, run_batch
from pointkeeper.store.sqlite import SqliteStore

__all__ = ["run_jobs", "run_periodically"]

_log = logging.getLogger(__name__)


async def run_jobs(store: SqliteStore, clock: Callable[[], Instant]) -> JobReport:
    """Runs every job until nothing is due, one bounded batch per transaction."""
    total = JobReport()
    for _ in range(limits.job_batches_per_run_max):
        report: JobReport = await store.write(run_batch, now=clock())
        total.add(report)
        if not report.did_anything:
            break
    return total


async def run_periodically(
    store: SqliteStore, clock: Callable[[], Instant], interval_seconds: float
) -> None:
    while True:
        try:
            report = await run_jobs(store, clock)
            if report.did_anything:
                _log.info("jobs ran", extra={"report": report})
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("periodic jobs failed; trying again next interval")
        await asyncio.sleep(interval_seconds)
