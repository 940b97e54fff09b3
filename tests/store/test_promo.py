"""Promo code services on a real store (SQLite and PostgreSQL): the cases
found while wiring the Maestra operations, each a rule of SPEC §1."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.domain.promo import ISSUED, NOT_AVAILABLE_FOR_ISSUE, RedemptionRefused
from pointkeeper.errors import ErrorCode, InvalidRequest
from pointkeeper.services import customers, promo
from pointkeeper.store import Store, open_store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

HOUR = 3_600_000


def _opened(database_url: str) -> Store:
    config = parse_config({"programs": [{"name": "P"}]}, {})
    opened = open_store(DatabaseConfig(url=database_url), programs=config.programs)
    for number in ("C1", "C2"):
        opened.write_sync(customers.put_customer, number, fields={}, program="P", now=0)
    return opened


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = _opened(database_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """For what only SQLite has (its query plans)."""
    opened = _opened(f"sqlite:///{tmp_path}/db.sqlite")
    yield opened
    opened.close()


_from_pool = promo.IssueRequest(
    mode="from-pool",
    customer_kind="customer_number",
    customer_value="",
    value=None,
    pool="W",
    point_of_contact=None,
    at=None,
    available_from=None,
    available_till=None,
)


def issue(store: Store, customer: str, **fields: Any) -> tuple[str, promo.CodeView | None]:
    request = dataclasses.replace(_from_pool, customer_value=customer, **fields)
    result: tuple[str, promo.CodeView | None] = store.write_sync(
        promo.issue_code, request, now=HOUR
    )
    return result


def test_a_pool_updates_only_the_fields_given(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "Welcome", "multi_use": True})
    updated = store.write_sync(promo.put_pool, "W", values={"available_till": 10 * HOUR})
    assert (updated.name, updated.multi_use, updated.available_till) == ("Welcome", True, 10 * HOUR)


def test_a_multi_use_pool_skips_a_code_past_its_end(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W", "multi_use": True})
    rows = [promo.ImportRow(1, "OLD", None, HOUR), promo.ImportRow(2, "NEW", None, 9 * HOUR)]
    store.write_sync(promo.import_codes, "W", rows)
    status, view = issue(store, "C1")
    assert status == ISSUED and view is not None and view.code.value == "NEW"


def test_a_refusal_shows_nothing_of_another_customers_issue(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W"})
    store.write_sync(promo.import_codes, "W", [promo.ImportRow(1, "ONLY")])
    assert issue(store, "C1")[0] == ISSUED
    status, view = issue(store, "C2", mode="by-value", value="ONLY", pool=None)
    assert status == NOT_AVAILABLE_FOR_ISSUE and view is not None
    assert (view.issued_at, view.issued_point_of_contact, view.used_at) == (None, None, None)


def test_a_code_cannot_be_redeemed_before_it_was_issued(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W"})
    store.write_sync(promo.import_codes, "W", [promo.ImportRow(1, "ONE")])
    issue(store, "C1")
    with pytest.raises(RedemptionRefused, match="before it was issued"):
        store.write_sync(
            promo.redeem_code,
            customer_kind="customer_number",
            customer_value="C1",
            value="ONE",
            point_of_contact=None,
            at=HOUR - 1,
        )


def test_by_value_or_create_does_not_take_a_value_of_another_pool(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W"})
    store.write_sync(promo.put_pool, "OTHER", values={"name": "Other"})
    store.write_sync(promo.import_codes, "OTHER", [promo.ImportRow(1, "THEIRS")])
    status, view = issue(store, "C1", mode="by-value-or-create", value="THEIRS", pool="W")
    assert (status, view) == (NOT_AVAILABLE_FOR_ISSUE, None)


def test_no_code_is_made_when_it_could_not_be_used(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W", "available_till": HOUR})
    status, _ = issue(store, "C1", mode="by-value-or-create", value="LATE", pool="W")
    assert status == NOT_AVAILABLE_FOR_ISSUE
    assert store.read_sync(lambda tx: tx.code("LATE")) is None


@pytest.mark.parametrize("multi_use", [False, True])
def test_taking_a_free_code_reads_the_free_index(sqlite_store: Store, multi_use: bool) -> None:
    """Whatever the pool's history: the plan of the very statement the store
    runs must read the partial index of free codes (on SQLite, whose tracing
    shows that statement)."""
    store = sqlite_store
    store.write_sync(promo.put_pool, "W", values={"name": "W", "multi_use": multi_use})

    def plan(tx: Tx) -> str:
        connection = sql_connection(tx)
        assert isinstance(connection, sqlite3.Connection)
        statements: list[str] = []
        connection.set_trace_callback(statements.append)
        try:
            tx.first_free_code(1, at=HOUR, shared=multi_use)
        finally:
            connection.set_trace_callback(None)
        (statement,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        steps = connection.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
        return " ".join(str(step) for step in steps)

    assert "promo_codes_free" in store.read_sync(plan)


def test_a_pool_with_codes_keeps_its_use_rule(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W", "multi_use": True})
    store.write_sync(promo.import_codes, "W", [promo.ImportRow(1, "SHARED")])
    with pytest.raises(InvalidRequest) as refused:
        store.write_sync(promo.put_pool, "W", values={"multi_use": False})
    assert (refused.value.code, refused.value.field) == (ErrorCode.multi_use_fixed, "multi_use")
    assert store.read_sync(promo.pool_view, "W")[0].multi_use is True


def test_a_pool_window_is_checked_against_what_is_stored(store: Store) -> None:
    store.write_sync(promo.put_pool, "W", values={"name": "W", "issue_start": 2 * HOUR})
    with pytest.raises(InvalidRequest) as refused:
        store.write_sync(promo.put_pool, "W", values={"issue_end": HOUR})
    assert (refused.value.code, refused.value.field) == (ErrorCode.window_reversed, "issue_end")
    with pytest.raises(InvalidRequest) as refused:
        store.write_sync(
            promo.put_pool, "W", values={"available_from": 3 * HOUR, "available_till": HOUR}
        )
    assert refused.value.field == "available_till"
