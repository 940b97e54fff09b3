"""The balance-change export: every customer action with balance changes
dated in [since, till), oldest first, optionally of one segment's members,
as batches of rows for a protocol to write out as they come."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pointkeeper.domain.time import Instant
from pointkeeper.errors import ErrorCode, NotFound
from pointkeeper.store.tx import Tx

__all__ = ["BalanceChangeExport", "export_balance_changes"]


@dataclass(frozen=True, slots=True)
class BalanceChangeExport:
    """The rows in batches, in ``ActionChangeRow`` order as plain tuples (an
    export may hold millions), with the readers of the names they refer to:
    the writer reads them as the rows first name them."""

    batches: Iterator[list[tuple[Any, ...]]]
    templates_by_id: Callable[[set[int]], dict[int, tuple[str, str]]]
    points_of_contact_by_id: Callable[[set[int]], dict[int, str]]


def export_balance_changes(
    tx: Tx, *, since: Instant, till: Instant, segment: str | None
) -> BalanceChangeExport:
    """Starts the export in ``tx`` (a reader's snapshot); a segment that
    does not exist is refused before any row."""
    segment_id = None
    if segment is not None:
        segment_id = tx.segment_id(segment)
        if segment_id is None:
            raise NotFound(code=ErrorCode.segment_not_found, field="segment")
    return BalanceChangeExport(
        batches=tx.export_rows(since=since, till=till, segment_id=segment_id),
        templates_by_id=tx.templates_by_id,
        points_of_contact_by_id=tx.points_of_contact_by_id,
    )
