"""Reading promo codes from CSV (``protocols.codes_csv``): the header, row
numbers, dates, blank lines, and rows refused with their reason."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

import pytest

from pointkeeper.errors import InvalidRequest
from pointkeeper.protocols import codes_csv
from pointkeeper.protocols.codes_csv import Rejection, code_row, parse_instant, read_codes
from pointkeeper.services.promo import ImportRow

JAN_1 = 1_767_225_600_000
HOUR_MS = 3_600_000
FROM_REASON = "availableFromDateTimeUtc must be an ISO 8601 date, e.g. 2026-01-01T00:00:00.000Z"
TILL_REASON = "availableTillDateTimeUtc must be an ISO 8601 date, e.g. 2026-01-01T00:00:00.000Z"


def read(text: str) -> list[ImportRow | Rejection]:
    return list(read_codes(io.StringIO(text, newline="")))


def test_the_public_names_exist() -> None:
    assert all(hasattr(codes_csv, name) for name in codes_csv.__all__)


def test_a_value_column_alone() -> None:
    assert read("value\nA1\nA2\n") == [ImportRow(1, "A1"), ImportRow(2, "A2")]


def test_the_last_line_needs_no_line_end() -> None:
    assert read("value\nA1") == [ImportRow(1, "A1")]


def test_only_a_header_gives_no_rows() -> None:
    assert read("value\r\n") == []


def test_header_names_ignore_case_blanks_and_order() -> None:
    text = " AvailableTillDateTimeUtc ,VALUE, availablefromdatetimeutc\n2026-01-02,A1,2026-01-01\n"
    assert read(text) == [ImportRow(1, "A1", JAN_1, JAN_1 + 24 * HOUR_MS)]


def test_a_byte_order_mark_crlf_and_leading_blank_lines() -> None:
    text = "\ufeff\r\n\r\nvalue\r\nA1\r\nA2\r\n"
    assert read(text) == [ImportRow(1, "A1"), ImportRow(2, "A2")]


def test_a_bom_on_the_header_itself() -> None:
    assert read("\ufeffvalue\nA1\n") == [ImportRow(1, "A1")]


def test_blank_lines_are_skipped_but_keep_their_numbers() -> None:
    text = "value,availableFromDateTimeUtc\n\nA1,\n , \n,\nA2,\n\n"
    assert read(text) == [ImportRow(2, "A1"), ImportRow(5, "A2")]


def test_lone_carriage_returns_end_lines_too() -> None:
    assert read("value\rA1\r\rA2\r") == [ImportRow(1, "A1"), ImportRow(3, "A2")]


def test_a_quoted_field_spanning_lines_is_numbered_by_its_first_line() -> None:
    text = 'value\nA1\n"A\n2"\nA3\n'
    # A code holds no line end, so that row is rejected, under its first line's number.
    reason = "value must not contain control characters (U+000A at character 2)"
    assert read(text) == [ImportRow(1, "A1"), Rejection(2, "A\n2", reason), ImportRow(4, "A3")]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\t", "\x7f", "\x9f"], ids=ascii)
@pytest.mark.parametrize("header", ["value", "value,availableFromDateTimeUtc"])
def test_a_control_character_in_a_value_rejects_its_row(header: str, char: str) -> None:
    reason = f"value must not contain control characters (U+{ord(char):04X} at character 3)"
    assert read(f"{header}\nA1\nAB{char}C\nA3\n") == [
        ImportRow(1, "A1"),
        Rejection(2, f"AB{char}C", reason),
        ImportRow(3, "A3"),
    ]


def test_code_row_rejects_a_control_character_before_the_dates() -> None:
    found = code_row(4, "A\x001", available_from="not a date", available_till=None)
    reason = "value must not contain control characters (U+0000 at character 2)"
    assert found == Rejection(4, "A\x001", reason)


def test_quoted_fields_and_blanks_around_them() -> None:
    text = 'value,availableTillDateTimeUtc\n"A,1" ," 2026-01-01 "\n  A2  ,\n'
    assert read(text) == [ImportRow(1, "A,1", None, JAN_1), ImportRow(2, "A2")]


def test_dates_with_offsets_without_them_and_empty() -> None:
    text = (
        "value,availableFromDateTimeUtc,availableTillDateTimeUtc\n"
        "A1,2026-01-01T00:00:00Z,2026-01-01T03:00:00+03:00\n"
        "A2,2026-01-01T00:00:00.250,\n"
        "A3,,2026-01-01\n"
        "A4\n"
    )
    assert read(text) == [
        ImportRow(1, "A1", JAN_1, JAN_1),
        ImportRow(2, "A2", JAN_1 + 250, None),
        ImportRow(3, "A3", None, JAN_1),
        ImportRow(4, "A4"),
    ]


def test_a_bad_date_rejects_its_row_with_the_reason() -> None:
    text = (
        "value,availableFromDateTimeUtc,availableTillDateTimeUtc\n"
        "A1,tomorrow,\n"
        "A2,,2026-02-30\n"
        "A3,nope,nope\n"
        "A4,,\n"
    )
    assert read(text) == [
        Rejection(1, "A1", FROM_REASON),
        Rejection(2, "A2", TILL_REASON),
        Rejection(3, "A3", FROM_REASON),
        ImportRow(4, "A4"),
    ]


def test_a_row_wider_than_the_header_is_rejected() -> None:
    assert read("value\nA1,x\nA2\n") == [
        Rejection(1, "A1", "the row has 2 fields; the header has 1"),
        ImportRow(2, "A2"),
    ]


def test_values_are_left_to_the_service_to_judge() -> None:
    # An empty value with a date, or a malformed one, still goes through:
    # the service rejects it with the same reason as a JSON item.
    text = "value,availableFromDateTimeUtc\n,2026-01-01\nnot a code,\n"
    assert read(text) == [ImportRow(1, "", JAN_1), ImportRow(2, "not a code")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The CSV has no header row; it needs a column named value"),
        ("\n , \n", "The CSV has no header row; it needs a column named value"),
        ("code\nA1\n", "Unknown CSV column 'code'"),
        ("value,note\nA1,x\n", "Unknown CSV column 'note'"),
        ("value,,availableFromDateTimeUtc\nA1,,\n", "Unknown CSV column ''"),
        ("value,Value\nA1,A1\n", "A CSV column is named twice"),
        ("availableFromDateTimeUtc\n2026-01-01\n", "The CSV header has no column named value"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        read(text)
    assert refused.value.message.startswith(message)
    assert refused.value.field == "value"


def test_a_field_over_the_csv_size_limit_refuses_the_file_naming_the_line() -> None:
    text = "value\nA1\n" + "A" * (csv.field_size_limit() + 1) + "\n"
    rows = read_codes(io.StringIO(text, newline=""))
    assert next(rows) == ImportRow(1, "A1")
    with pytest.raises(InvalidRequest) as refused:
        next(rows)
    assert refused.value.message.startswith("CSV line 3: field larger than field limit")


def test_rows_are_read_as_they_are_asked_for() -> None:
    def endless() -> Iterator[str]:
        yield "value\n"
        for number in itertools.count(1):
            yield f"A{number}\n"

    first = list(itertools.islice(read_codes(endless()), 3))
    assert first == [ImportRow(1, "A1"), ImportRow(2, "A2"), ImportRow(3, "A3")]


def test_code_row_parses_both_dates() -> None:
    row = code_row(7, "A1", available_from="2026-01-01", available_till=None)
    assert row == ImportRow(7, "A1", JAN_1, None)
    refused = code_row(7, "A1", available_from=None, available_till="")
    assert refused == Rejection(7, "A1", TILL_REASON)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-01", JAN_1),
        ("2026-01-01T00:00:00", JAN_1),
        ("2026-01-01T00:00:00Z", JAN_1),
        ("2026-01-01T00:00:00.001Z", JAN_1 + 1),
        ("2026-01-01T01:00:00+01:00", JAN_1),
        ("2025-12-31T19:00:00-05:00", JAN_1),
    ],
)
def test_parse_instant_reads_iso_8601_with_utc_as_the_default(text: str, instant: int) -> None:
    assert parse_instant(text) == instant


@pytest.mark.parametrize("text", ["", "soon", "2026-13-01", "01/02/2026", "1767225600"])
def test_parse_instant_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)
