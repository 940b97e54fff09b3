"""Holds read back with their draws: those of many holds in one statement
per chunk of hold ids, each hold with exactly its own draws."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest

from pointkeeper import limits
from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.domain.ledger import KIND_CUSTOM, Draw, Hold
from pointkeeper.domain.templates import TEMPLATE_EARN
from pointkeeper.services import customers, loyalty
from pointkeeper.services.ledger import ActionSpec, credit, open_action
from pointkeeper.store import Store, open_store
from pointkeeper.store.connection import Connection, Cursor
from pointkeeper.store.sql import SqlTx
from pointkeeper.store.tx import Tx

HOUR = 3_600_000
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
NUMBER = "H1"
# Lots of uneven sizes, so that most holds draw from several lots.
LOT_POINTS = (3, 1, 4, 1, 5, 9, 2, 6)
# Hold i asks for HOLD_POINTS[i] points and times out (i + 1) hours from NOW.
HOLD_POINTS = (2, 5, 1, 7, 4)
_programs = parse_config({"programs": [{"name": "P"}]}, environ={}).programs


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(DatabaseConfig(url=database_url), programs=_programs)
    yield opened
    opened.close()


def _credit_and_hold(tx: Tx) -> tuple[int, list[Hold]]:
    customer = customers.put_customer(tx, NUMBER, fields={}, program="P", now=NOW)
    assert customer.program_id is not None
    program = tx.program(customer.program_id)
    for points in LOT_POINTS:
        spec = ActionSpec(customer_id=customer.id, template=TEMPLATE_EARN, at=NOW, now=NOW)
        action_id = open_action(tx, spec)
        assert action_id is not None
        credit(tx, action_id, spec, program, amount=points, kind=KIND_CUSTOM)
    holds = [
        loyalty.authorize(
            tx,
            customer_number=NUMBER,
            sale_id=f"S{index}",
            points=points,
            amount_units=None,
            location=None,
            ttl_ms=(index + 1) * HOUR,
            now=NOW,
        )
        for index, points in enumerate(HOLD_POINTS)
    ]
    return customer.id, holds


class _Counting:
    """The transaction's connection, counting the statements that read hold
    draws."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.draw_reads = 0

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        self.draw_reads += sql.startswith("SELECT") and "FROM hold_draws" in sql
        return self._connection.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        return self._connection.executemany(sql, parameters)


def _read_back(tx: Tx, *, customer_id: int, auth_codes: list[str]) -> dict[str, Any]:
    assert isinstance(tx, SqlTx)
    counting = _Counting(tx.connection)
    # The same dialect's transaction, over the counting connection.
    counted = type(tx)(counting, tx.references)
    return {
        "open": counted.open_holds(customer_id, limit=len(HOLD_POINTS)),
        "due": counted.due_holds(customer_id, at=NOW + 3 * HOUR, limit=len(HOLD_POINTS)),
        "reads": counting.draw_reads,
        "by_code": [tx.hold_by_code(code) for code in auth_codes],
    }


def _draws(holds: Iterable[Hold | None]) -> list[tuple[str, list[Draw]]]:
    return [(hold.auth_code, hold.draws) for hold in holds if hold is not None]


def test_holds_read_back_with_exactly_their_own_draws(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id, made = store.write_sync(_credit_and_hold)
    # Drawn across lot boundaries: each hold's draws as authorize chose them.
    assert sum(len(hold.draws) for hold in made) > len(made)
    assert all(sum(d.points for d in hold.draws) == hold.points for hold in made)
    # Two holds per chunk: the five open holds take three statements, the
    # three due ones two.
    monkeypatch.setattr(limits, "in_list_values_max", 2)
    read = store.read_sync(
        _read_back, customer_id=customer_id, auth_codes=[hold.auth_code for hold in made]
    )
    assert _draws(read["open"]) == _draws(made)
    # Those due by NOW + 3 h (the first three), in the order they fall due.
    assert _draws(read["due"]) == _draws(made[:3])
    assert read["reads"] == 3 + 2
    assert _draws(read["by_code"]) == _draws(made)
