"""Promo codes to import, read from CSV: the ``text/csv`` body of
``POST /admin/v1/pools/{externalId}/codes`` and the file of
``pointkeeper import-codes``.

The first non-blank line is the header. It names a column ``value`` and may
name ``availableFromDateTimeUtc`` and ``availableTillDateTimeUtc``, in any
order; names are compared without case and surrounding blanks, and any other
column refuses the whole file (a misspelt date column would otherwise be
dropped without a word). Fields lose their surrounding blanks; an empty date
means "none". Dates are ISO 8601, and one without an offset is UTC, as
everywhere in the admin API.

Row numbers are 1-based data-row numbers as the rows stand in the file: the
first line after the header is row 1, and a blank line is skipped but keeps
its number. So with the header on line 1, row N is line N + 1 of the file,
the line a spreadsheet or an editor shows (a record whose quoted field spans
lines is numbered by its first line).

A UTF-8 byte order mark, blank lines (also ones of bare commas) and CRLF line
ends are all taken in stride. The reader is a generator over lines, so a file
of millions of rows is read as it is imported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pointkeeper.domain.time import Instant, from_datetime
from pointkeeper.errors import InvalidRequest
from pointkeeper.protocols.text import refusal
from pointkeeper.services.promo import ImportRow

if TYPE_CHECKING:
    from _csv import Reader

__all__ = [
    "AVAILABLE_FROM",
    "AVAILABLE_TILL",
    "VALUE",
    "Rejection",
    "code_row",
    "parse_instant",
    "read_codes",
]

VALUE = "value"
AVAILABLE_FROM = "availableFromDateTimeUtc"
AVAILABLE_TILL = "availableTillDateTimeUtc"
_columns = {name.lower(): name for name in (VALUE, AVAILABLE_FROM, AVAILABLE_TILL)}
_date_example = "2026-01-01T00:00:00.000Z"
_bom = "\ufeff"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row refused before it reaches the store, with the reason."""

    row: int
    value: str
    reason: str


def parse_instant(text: str) -> Instant:
    """An ISO 8601 date and time; without an offset it is UTC. Raises
    ``ValueError`` for anything else."""
    return from_datetime(datetime.fromisoformat(text))


def _date(row: int, *, value: str, name: str, text: str | None) -> Instant | Rejection | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return Rejection(row, value, f"{name} must be an ISO 8601 date, e.g. {_date_example}")


def code_row(
    row: int, value: str, *, available_from: str | None, available_till: str | None
) -> ImportRow | Rejection:
    """One code to import, or why it is refused: a control character in the
    value (refused here, as at every protocol boundary), or a bad date. The
    value's form is checked by the service, with duplicates and codes that
    exist already."""
    problem = refusal(value, free_text=False)
    if problem is not None:
        return Rejection(row, value, f"{VALUE} {problem}")
    start = _date(row, value=value, name=AVAILABLE_FROM, text=available_from)
    if isinstance(start, Rejection):
        return start
    end = _date(row, value=value, name=AVAILABLE_TILL, text=available_till)
    if isinstance(end, Rejection):
        return end
    return ImportRow(row, value, start, end)


@dataclass(frozen=True, slots=True)
class _Header:
    line: int
    width: int
    value_at: int
    from_at: int | None
    till_at: int | None


def _header(reader: Reader) -> _Header:
    for fields in reader:
        names = [field.strip().removeprefix(_bom).strip().lower() for field in fields]
        if not any(names):
            continue
        unknown = [fields[at].strip() for at, name in enumerate(names) if name not in _columns]
        if unknown:
            raise InvalidRequest(
                f"Unknown CSV column {unknown[0]!r}; the columns are"
                f" {VALUE}, {AVAILABLE_FROM} and {AVAILABLE_TILL}",
                field=VALUE,
            )
        if len(set(names)) != len(names):
            raise InvalidRequest("A CSV column is named twice", field=VALUE)
        if VALUE.lower() not in names:
            raise InvalidRequest("The CSV header has no column named value", field=VALUE)
        at = {name: index for index, name in enumerate(names)}
        return _Header(
            line=reader.line_num,
            width=len(names),
            value_at=at[VALUE.lower()],
            from_at=at.get(AVAILABLE_FROM.lower()),
            till_at=at.get(AVAILABLE_TILL.lower()),
        )
    raise InvalidRequest("The CSV has no header row; it needs a column named value", field=VALUE)


def _field(fields: list[str], at: int | None) -> str | None:
    if at is None or at >= len(fields):
        return None
    return fields[at].strip() or None


def _item(header: _Header, row: int, fields: list[str]) -> ImportRow | Rejection | None:
    """The code on one row, why it is refused, or None for a blank line."""
    value = fields[header.value_at].strip() if header.value_at < len(fields) else ""
    if not value and not any(field.strip() for field in fields):
        return None
    if len(fields) > header.width:
        reason = f"the row has {len(fields)} fields; the header has {header.width}"
        return Rejection(row, value, reason)
    return code_row(
        row,
        value,
        available_from=_field(fields, header.from_at),
        available_till=_field(fields, header.till_at),
    )


def read_codes(lines: Iterable[str]) -> Iterator[ImportRow | Rejection]:
    """The rows of a CSV (an iterable of lines, such as a file opened with
    ``newline=""``), in file order: each a code to import or a rejection.
    Raises ``InvalidRequest`` when the file cannot be read as codes at all (a
    bad header, a field over the csv module's size limit)."""
    reader = csv.reader(lines)
    try:
        header = _header(reader)
        last_line = header.line
        value_only = header.width == 1
        for fields in reader:
            row = last_line + 1 - header.line
            last_line = reader.line_num
            # The common case of a file of millions, handled inline.
            if (
                value_only
                and len(fields) == 1
                and (value := fields[0].strip())
                and refusal(value, free_text=False) is None
            ):
                yield ImportRow(row, value)
                continue
            item = _item(header, row, fields)
            if item is not None:
                yield item
    except csv.Error as exc:
        raise InvalidRequest(f"CSV line {reader.line_num}: {exc}", field=VALUE) from None
