"""The chunks every ``IN (...)`` list is bound in."""

from __future__ import annotations

import pytest

from pointkeeper import limits
from pointkeeper.store.in_lists import in_lists


def test_values_come_in_chunks_of_at_most_the_bound_with_their_marks() -> None:
    values = list(range(2 * limits.in_list_values_max + 1))
    chunks = list(in_lists(iter(values)))
    assert [len(chunk) for _, chunk in chunks] == [
        limits.in_list_values_max,
        limits.in_list_values_max,
        1,
    ]
    assert [value for _, chunk in chunks for value in chunk] == values
    for marks, chunk in chunks:
        assert marks.split(", ") == ["?"] * len(chunk)


def test_no_values_make_no_statement() -> None:
    assert list(in_lists([])) == []


def test_the_bound_is_read_when_the_values_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "in_list_values_max", 2)
    assert list(in_lists("abcde")) == [("?, ?", ["a", "b"]), ("?, ?", ["c", "d"]), ("?", ["e"])]
