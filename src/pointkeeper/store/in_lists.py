"""Values for ``IN (...)`` lists, a bounded number per statement.

A list bound whole fails once it outgrows what the database takes in one
statement (PostgreSQL: 32,767 parameters; some SQLite builds: 999), and a
customer's lots or a page's ids can outgrow that. Every query with such a
list runs once per chunk that ``in_lists`` yields.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

from pointkeeper import limits

__all__ = ["in_lists"]

_T = TypeVar("_T")


def in_lists(values: Iterable[_T]) -> Iterator[tuple[str, list[_T]]]:
    """(``"?, ?, ..."``, the values) for each chunk of at most
    ``limits.in_list_values_max`` of ``values``, in their order; nothing
    for no values."""
    remaining = iter(values)
    while chunk := list(itertools.islice(remaining, limits.in_list_values_max)):
        yield ", ".join("?" * len(chunk)), chunk
