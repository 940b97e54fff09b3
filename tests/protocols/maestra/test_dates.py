"""Maestra dates: the accepted request forms and the one answer form."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from pointkeeper import limits
from pointkeeper.domain.time import from_datetime
from pointkeeper.errors import InvalidRequest
from pointkeeper.protocols.maestra import dates
from pointkeeper.protocols.maestra.dates import format_date, instant_max, instant_min, parse_date

LOCATION = "/operation/sinceDateTimeUtc"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, ms: int = 0
) -> int:
    return from_datetime(datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-03-01 09:05", utc(2025, 3, 1, 9, 5)),
        ("2025-03-01 09:05:07", utc(2025, 3, 1, 9, 5, 7)),
        ("2025-03-01 09:05:07.1", utc(2025, 3, 1, 9, 5, 7, ms=100)),
        ("2025-03-01 09:05:07.12", utc(2025, 3, 1, 9, 5, 7, ms=120)),
        ("2025-03-01 09:05:07.123", utc(2025, 3, 1, 9, 5, 7, ms=123)),
        # Instants count milliseconds: further digits are dropped, not rounded.
        ("2025-03-01 09:05:07.1239", utc(2025, 3, 1, 9, 5, 7, ms=123)),
        ("2025-03-01 09:05:07.999999", utc(2025, 3, 1, 9, 5, 7, ms=999)),
        ("2025-03-01T09:05:07Z", utc(2025, 3, 1, 9, 5, 7)),
        ("2025-03-01T09:05:07.250Z", utc(2025, 3, 1, 9, 5, 7, ms=250)),
        ("2025-03-01T09:05Z", utc(2025, 3, 1, 9, 5)),
        ("2025-03-01T09:05:07", utc(2025, 3, 1, 9, 5, 7)),
        ("2025-03-01T12:05:07+03:00", utc(2025, 3, 1, 9, 5, 7)),
        ("2025-03-01T02:05:07.5-07:00", utc(2025, 3, 1, 9, 5, 7, ms=500)),
        ("2025-03-01T14:35:07+05:30", utc(2025, 3, 1, 9, 5, 7)),
        ("2025-03-01T09:05:07-00:00", utc(2025, 3, 1, 9, 5, 7)),
        # An offset can move the instant to another day, month or year.
        ("2025-01-01T01:00:00+03:00", utc(2024, 12, 31, 22)),
        ("2024-12-31T22:00:00-03:00", utc(2025, 1, 1, 1)),
        ("2024-02-29 23:59:59.999", utc(2024, 2, 29, 23, 59, 59, ms=999)),
        ("2000-02-29 00:00", utc(2000, 2, 29)),
        ("1970-01-01 00:00", 0),
        ("1969-12-31 23:59:59.999", -1),
        ("1900-03-01 12:00", utc(1900, 3, 1, 12)),
        ("0001-01-01 00:00", instant_min),
        ("9999-12-31 23:59:59.999", instant_max),
    ],
)
def test_accepted_forms(text: str, instant: int) -> None:
    assert parse_date(text, LOCATION) == instant


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-03-01",
        "2025-03-01 09",
        "2025-3-1 09:05",
        "2025-03-01 9:05",
        "25-03-01 09:05",
        "2025/03/01 09:05",
        "01.03.2025 09:05",
        "2025-03-01  09:05",
        " 2025-03-01 09:05",
        "2025-03-01 09:05 ",
        "2025-03-01 09:05:07.",
        "2025-03-01 09:05:07.1234567",
        "2025-03-01 09:05:07,123",
        "2025-03-01t09:05:07z",
        "2025-03-01T09:05:07+0300",
        "2025-03-01T09:05:07+03",
        "2025-03-01T09:05:07 +03:00",
        "2025-03-01T09:05:07UTC",
        "1740819907000",
        # Non-ASCII digits are digits to Python's \d, not to us.
        "\u0662\u0660\u0662\u0665-03-01 09:05",
        "2025-03-01 09:05\n",
    ],
)
def test_other_shapes_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_date(text, LOCATION)
    assert caught.value.field == LOCATION
    assert "YYYY-MM-DD hh:mm" in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-29 00:00",
        "2023-02-29 00:00",
        "1900-02-29 00:00",
        "2025-02-30 00:00",
        "2025-04-31 00:00",
        "2025-13-01 00:00",
        "2025-00-10 00:00",
        "2025-01-00 00:00",
        "0000-01-01 00:00",
        "2025-01-01 24:00",
        "2025-01-01 23:60",
        "2025-01-01 23:59:60",
        "2025-01-01T10:00+24:00",
        "2025-01-01T10:00+03:60",
        # Valid on the wall clock, but outside years 1 to 9999 in UTC.
        "0001-01-01T00:00+00:01",
        "9999-12-31T23:59:59.999-00:01",
    ],
)
def test_impossible_dates_and_times_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_date(text, LOCATION)
    assert caught.value.field == LOCATION
    assert text in caught.value.message


@pytest.mark.parametrize("value", [None, 1_740_819_907_000, 1.5, True, b"2025-03-01 09:05", {}])
def test_values_that_are_not_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_date(value, "/operation/promoCode/availableFromDateTimeUtc")
    assert caught.value.field == "/operation/promoCode/availableFromDateTimeUtc"
    assert "must be a string" in caught.value.message


def test_a_long_bad_value_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_date("x" * 10_000, LOCATION)
    assert len(caught.value.message) < 200


def reference(instant: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=instant)
    return moment.isoformat(sep=" ", timespec="milliseconds").removesuffix("+00:00")


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (0, "1970-01-01 00:00:00.000"),
        (-1, "1969-12-31 23:59:59.999"),
        (utc(2024, 2, 29, 23, 59, 59, ms=999), "2024-02-29 23:59:59.999"),
        (utc(2024, 2, 29, 23, 59, 59, ms=999) + 1, "2024-03-01 00:00:00.000"),
        (utc(2025, 3, 14, 9, 30, 5, ms=7), "2025-03-14 09:30:05.007"),
        (instant_min, "0001-01-01 00:00:00.000"),
        (instant_max, "9999-12-31 23:59:59.999"),
    ],
)
def test_format_date(instant: int, text: str) -> None:
    assert format_date(instant) == text
    assert reference(instant) == text


def test_format_date_agrees_with_datetime() -> None:
    chance = random.Random(20250301)
    instants = [chance.randint(instant_min, instant_max) for _ in range(20_000)]
    # Dense around the epoch, and every leap day's edges from 1896 to 2104.
    instants += [
        chance.randint(-10 * 365 * 86_400_000, 10 * 365 * 86_400_000) for _ in range(5_000)
    ]
    for year in range(1896, 2105, 4):
        if year % 100 != 0 or year % 400 == 0:
            leap_day = utc(year, 2, 29)
            instants += [leap_day - 1, leap_day, leap_day + 86_400_000 - 1, leap_day + 86_400_000]
    for instant in instants:
        assert format_date(instant) == reference(instant), instant


def test_formatted_dates_parse_back() -> None:
    chance = random.Random(7)
    for _ in range(5_000):
        instant = chance.randint(instant_min, instant_max)
        assert parse_date(format_date(instant), LOCATION) == instant


@pytest.mark.parametrize("instant", [instant_min - 1, instant_max + 1])
def test_format_date_refuses_instants_four_digit_years_cannot_write(instant: int) -> None:
    with pytest.raises(ValueError):
        format_date(instant)


def test_the_day_cache_is_bounded() -> None:
    for day in range(limits.export_day_prefixes_cached_max + 10):
        format_date(day * 86_400_000)
    assert len(dates._day_prefixes) <= limits.export_day_prefixes_cached_max
    assert format_date(5 * 86_400_000 + 1) == "1970-01-06 00:00:00.001"


def test_the_public_names_are_listed() -> None:
    assert all(hasattr(dates, name) for name in dates.__all__)
    assert sorted(dates.__all__) == dates.__all__
