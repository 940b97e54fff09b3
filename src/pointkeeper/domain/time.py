"""Instants are integer milliseconds since the Unix epoch, UTC.

One representation everywhere below the protocol adapters keeps comparisons
exact and storage cheap; adapters convert to and from their wire formats.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, timedelta

__all__ = ["Instant", "from_datetime", "ms_per_day", "ms_per_second", "now", "to_datetime"]

Instant = int

ms_per_day = 86_400_000
ms_per_second = 1_000


def now() -> Instant:
    return _time.time_ns() // 1_000_000


def to_datetime(instant: Instant) -> datetime:
    return datetime.fromtimestamp(instant / 1000, tz=UTC)


def from_datetime(value: datetime) -> Instant:
    """Converts an aware datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _epoch) // _one_ms


_epoch = datetime(1970, 1, 1, tzinfo=UTC)
_one_ms = timedelta(milliseconds=1)
