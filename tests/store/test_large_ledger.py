"""A customer with more lots than one statement may bind parameters for
(PostgreSQL takes at most 32,767): holding, cancelling, timing out,
debiting and refunding across all of them works on both databases, and the
SPEC §1 invariants hold after every step. Lots that expire together are
written off in bounded batches."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from pointkeeper import limits
from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.domain.ledger import KIND_CUSTOM, HoldStatus
from pointkeeper.domain.templates import TEMPLATE_EARN
from pointkeeper.services import customers, jobs, loyalty
from pointkeeper.services.ledger import ActionSpec, credit, debit, open_action, refund, settle
from pointkeeper.store import Store, open_store
from pointkeeper.store import sqlite as sqlite_store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

HOUR = 3_600_000
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
NUMBER = "BIG"
# More lots than PostgreSQL's 32,767 parameters, and a few to spare, so that
# every step below leaves points on the account.
LOTS = 40_010
POINTS = 40_000
_programs = parse_config({"programs": [{"name": "P"}]}, environ={}).programs


# The fewest parameters a SQLite build may allow (before 3.32); this
# machine's build allows far more, which would hide an unchunked list.
_sqlite_parameters_max = 999


def _connect_like_an_old_sqlite(path: str) -> sqlite3.Connection:
    connection = _sqlite_connect(path)
    connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, _sqlite_parameters_max)
    return connection


_sqlite_connect = sqlite_store._connect


@pytest.fixture
def store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(sqlite_store, "_connect", _connect_like_an_old_sqlite)
    opened = open_store(DatabaseConfig(url=database_url), programs=_programs)
    yield opened
    opened.close()


def _credit_one_point_lots(tx: Tx, *, count: int) -> int:
    """``count`` one-point earns in one action, written in two statements:
    the rows ``credit`` writes for each (a change, and its lot under the
    change's id), which one call per lot would take minutes to write on
    PostgreSQL."""
    customer = customers.put_customer(tx, NUMBER, fields={}, program="P", now=NOW)
    spec = ActionSpec(customer_id=customer.id, template=TEMPLATE_EARN, at=NOW, now=NOW)
    action_id = open_action(tx, spec)
    sql_connection(tx).execute(
        "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO balance_changes (action_id, customer_id, change_amount, kind,"
        " date_time_utc, available_from, recorded_at)"
        " SELECT ?, ?, 1, ?, ?, ?, ? FROM n",
        (count, action_id, customer.id, KIND_CUSTOM, NOW, NOW, NOW),
    )
    sql_connection(tx).execute(
        "INSERT INTO lots (id, customer_id, amount, remaining, available_from, expires_at,"
        " activated) SELECT id, customer_id, 1, 1, available_from, NULL, TRUE"
        " FROM balance_changes WHERE action_id = ?",
        (action_id,),
    )
    return customer.id


def _figures(tx: Tx, *, customer_id: int, now: int) -> tuple[int, int, int]:
    """(balance, open authorizations, lots) after checking the SPEC §1
    invariants: every lot's remaining is at least 0 and its credit less what
    was drawn and is held; the balance is the sum of the changes."""
    audit = tx.lot_audit(customer_id)
    for lot_id, amount, remaining, drawn, held in audit:
        assert 0 <= remaining == amount - drawn - held, (lot_id, amount, remaining, drawn, held)
    active, pending = tx.lot_sums(customer_id, at=now)
    held = tx.open_hold_points(customer_id)
    changes = tx.all_changes(customer_id)
    balance = sum(amount for amount, start in changes if start is None or start <= now)
    assert (active + held, pending) == (balance, 0)
    return balance, held, len(audit)


def _authorize(tx: Tx, *, sale_id: str, ttl_ms: int, now: int) -> Any:
    return loyalty.authorize(
        tx,
        customer_number=NUMBER,
        sale_id=sale_id,
        points=POINTS,
        amount_units=None,
        location=None,
        ttl_ms=ttl_ms,
        now=now,
    )


def _debit(tx: Tx, *, customer_id: int, now: int) -> int:
    spec = ActionSpec(customer_id=customer_id, template=TEMPLATE_EARN, at=now, now=now)
    action_id = open_action(tx, spec)
    assert action_id is not None
    return debit(tx, action_id, spec, amount=POINTS, kind=KIND_CUSTOM)


# Some 25 s on PostgreSQL, where each of the five big writes sends its
# 40,000 draws through executemany (about a second per 40,000 rows).
@pytest.mark.slow
def test_a_customer_with_more_lots_than_parameters_holds_debits_and_refunds(
    store: Store,
) -> None:
    customer_id = store.write_sync(_credit_one_point_lots, count=LOTS)
    assert store.read_sync(_figures, customer_id=customer_id, now=NOW) == (LOTS, 0, LOTS)

    # A hold on 40,000 lots, then its cancel: every point goes back.
    hold = store.write_sync(_authorize, sale_id="S1", ttl_ms=HOUR, now=NOW)
    assert len(hold.draws) == POINTS
    assert store.read_sync(_figures, customer_id=customer_id, now=NOW) == (LOTS, POINTS, LOTS)
    store.write_sync(
        loyalty.resolve_authorization,
        customer_number=NUMBER,
        auth_code=hold.auth_code,
        target=HoldStatus.CANCELLED,
        now=NOW,
    )
    assert store.read_sync(_figures, customer_id=customer_id, now=NOW) == (LOTS, 0, LOTS)

    # Another, left to time out: the jobs release it.
    store.write_sync(_authorize, sale_id="S2", ttl_ms=HOUR, now=NOW)
    later = NOW + HOUR
    assert not store.read_sync(lambda tx: tx.is_settled(customer_id, at=later))
    report = store.write_sync(jobs.run_batch, now=later)
    assert (report.holds_expired, report.points_expired) == (1, 0)
    assert store.read_sync(_figures, customer_id=customer_id, now=later) == (LOTS, 0, LOTS)

    # A debit across 40,000 lots, and its refund into the very same lots.
    change_id = store.write_sync(_debit, customer_id=customer_id, now=later)
    assert store.read_sync(_figures, customer_id=customer_id, now=later) == (
        LOTS - POINTS,
        0,
        LOTS,
    )
    store.write_sync(refund, change_id, now=later, comment=None)
    assert store.read_sync(_figures, customer_id=customer_id, now=later) == (LOTS, 0, LOTS)


def _credit_expiring_lots(tx: Tx, *, count: int, expires_at: int) -> int:
    customer = customers.put_customer(tx, NUMBER, fields={}, program="P", now=NOW)
    assert customer.program_id is not None
    program = tx.program(customer.program_id)
    for _ in range(count):
        spec = ActionSpec(customer_id=customer.id, template=TEMPLATE_EARN, at=NOW, now=NOW)
        action_id = open_action(tx, spec)
        assert action_id is not None
        credit(tx, action_id, spec, program, amount=2, kind=KIND_CUSTOM, expires_at=expires_at)
    return customer.id


def test_lots_expiring_together_are_written_off_a_batch_at_a_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "job_batch_max", 2)
    customer_id = store.write_sync(_credit_expiring_lots, count=5, expires_at=NOW + HOUR)
    settled = store.write_sync(settle, customer_id, now=NOW + HOUR)
    assert (settled.lots_expired, settled.points_expired) == (5, 10)
    assert store.read_sync(_figures, customer_id=customer_id, now=NOW + HOUR) == (0, 0, 5)
