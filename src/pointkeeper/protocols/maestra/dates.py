"""Maestra dates and times on the wire, to and from instants.

Requests may say ``YYYY-MM-DD hh:mm``, ``YYYY-MM-DD hh:mm:ss``,
``YYYY-MM-DD hh:mm:ss.fff`` (one to six fraction digits) or ISO 8601 with
``T`` and ``Z`` or an offset such as ``+03:00``; a time without a zone is
UTC. Answers always say ``YYYY-MM-DD hh:mm:ss.fff`` in UTC.

``format_date`` runs once per exported record, so it is table lookups and
integer arithmetic with the date part cached per day.
"""

from __future__ import annotations

import re
from datetime import date

from pointkeeper import limits
from pointkeeper.domain.time import Instant, ms_per_day
from pointkeeper.errors import InvalidRequest

__all__ = ["format_date", "instant_max", "instant_min", "parse_date"]

# 0001-01-01 00:00:00.000 and 9999-12-31 23:59:59.999 UTC, the range that
# four-digit years can write.
instant_min = -62_135_596_800_000
instant_max = 253_402_300_799_999

_ms_per_hour = 3_600_000
_ms_per_minute = 60_000
_epoch_ordinal = date(1970, 1, 1).toordinal()

_pattern = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))?"
)
_expected = "expected YYYY-MM-DD hh:mm[:ss[.fff]] or ISO 8601 such as 2025-01-31T13:45:00Z"


def parse_date(value: object, location: str) -> Instant:
    """The instant ``value`` names; ``location`` is where it was in the request,
    reported as the field of the ``InvalidRequest`` raised for a bad value."""
    if not isinstance(value, str):
        raise InvalidRequest(f"A date and time must be a string, {_expected}.", field=location)
    match = _pattern.fullmatch(value)
    if match is None:
        raise InvalidRequest(
            f"{_shown(value)} is not a date and time: {_expected}.", field=location
        )
    year, month, day, hour, minute, second, fraction, sign, zone_hours, zone_minutes = (
        match.groups()
    )
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _epoch_ordinal
    except ValueError:
        raise InvalidRequest(f"{_shown(value)} names no calendar date.", field=location) from None
    seconds = int(second) if second is not None else 0
    offset_minutes = 0
    if sign is not None:
        offset_minutes = int(zone_hours) * 60 + int(zone_minutes)
        if int(zone_hours) > 23 or int(zone_minutes) > 59:
            raise InvalidRequest(f"{_shown(value)} has no such UTC offset.", field=location)
        if sign == "-":
            offset_minutes = -offset_minutes
    if int(hour) > 23 or int(minute) > 59 or seconds > 59:
        raise InvalidRequest(f"{_shown(value)} names no time of day.", field=location)
    # Digits past the millisecond are dropped: instants count milliseconds.
    ms = int((fraction or "0").ljust(3, "0")[:3])
    instant = (
        days * ms_per_day
        + int(hour) * _ms_per_hour
        + (int(minute) - offset_minutes) * _ms_per_minute
        + seconds * 1000
        + ms
    )
    if not instant_min <= instant <= instant_max:
        raise InvalidRequest(f"{_shown(value)} is outside years 0001 to 9999 UTC.", field=location)
    return instant


def format_date(instant: Instant) -> str:
    """``YYYY-MM-DD hh:mm:ss.fff`` in UTC."""
    day, ms = divmod(instant, ms_per_day)
    prefix = _day_prefixes.get(day)
    if prefix is None:
        prefix = _day_prefix(day)
    minute, ms = divmod(ms, _ms_per_minute)
    second, ms = divmod(ms, 1000)
    return prefix + _hh_mm[minute] + _ss[second] + _fff[ms]


def _shown(value: str) -> str:
    if len(value) > limits.date_shown_chars_max:
        value = value[: limits.date_shown_chars_max] + "…"
    return repr(value)


# "YYYY-MM-DD " by day since the epoch. An export runs in time order, so
# consecutive records mostly share a day (bound: limits.export_day_prefixes_cached_max).
_day_prefixes: dict[int, str] = {}

_hh_mm = [f"{minute // 60:02d}:{minute % 60:02d}:" for minute in range(24 * 60)]
_ss = [f"{second:02d}." for second in range(60)]
_fff = [f"{ms:03d}" for ms in range(1000)]


def _day_prefix(day: int) -> str:
    # date.fromordinal refuses days outside years 1 to 9999: no instant from
    # parse_date or the clock is there, so one that is, is a bug upstream.
    prefix = date.fromordinal(day + _epoch_ordinal).isoformat() + " "
    if len(_day_prefixes) >= limits.export_day_prefixes_cached_max:
        _day_prefixes.clear()
    _day_prefixes[day] = prefix
    return prefix
