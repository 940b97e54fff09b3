"""``pointkeeper copy``: a SQLite database written by the real services
(customers, credits, debits, a refund, holds, an order with coupons and a
return, segments, a queued asynchronous call, a kept transactionId answer)
copied into PostgreSQL holds every row of every table and every customer's
balance, and serves on; a target that is not empty, a copy that fails half
way and a copy that does not check out all leave the target as it was."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner

from pointkeeper.cli import main
from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.domain.ledger import Balances
from pointkeeper.domain.orders import CartLine, PoolDiscount
from pointkeeper.errors import StoreError, StoreUnavailable
from pointkeeper.services import async_calls, loyalty, order_status, orders, promo, segments
from pointkeeper.services import customers as customer_service
from pointkeeper.services import ledger as ledger_service
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.services.idempotency import run_once
from pointkeeper.services.reference import put_point_of_contact
from pointkeeper.store import Store, open_store
from pointkeeper.store.copy import TableCopied, copy_database
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

pytestmark = pytest.mark.postgres

DAY = 86_400_000
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
CUSTOMERS = [f"C{n}" for n in range(6)]
STATUSES = {"Paid": "paid", "Cancelled": "cancelled", "Returned": "returned"}
_config = parse_config(
    {
        "programs": [
            {
                "name": "Shop",
                "points_per_currency_unit": 100,
                "credit_lifetime_days": 365,
                "orders": {"points_earned_per_currency_unit": 5, "points_payable_share_max": 50},
            }
        ]
    },
    environ={},
)


def _open(url: str) -> Store:
    return open_store(DatabaseConfig(url=url), programs=_config.programs, order_statuses=STATUSES)


def _by_hand(store: Store, number: str, amount: int, **fields: Any) -> None:
    store.write_sync(
        change_balance,
        customer_kind="customer_number",
        customer_value=number,
        request=BalanceChangeRequest(amount, **fields),
        key_scope=None,
        now=NOW,
    )


def _first_debit(tx: Tx) -> int:
    (change_id,) = (
        sql_connection(tx)
        .execute("SELECT id FROM balance_changes WHERE change_amount < 0 ORDER BY id")
        .fetchone()
    )
    return int(change_id)


def _kept_answer(tx: Tx) -> dict[str, Any]:
    return run_once(
        tx,
        lambda inner: {"balance": 1},
        endpoint_id="shop",
        transaction_id="kept-1",
        fingerprint="f",
        now=NOW,
    )


def _shop(store: Store) -> None:
    write = store.write_sync
    write(put_point_of_contact, external_id="till-1", name="Till 1")
    write(promo.put_pool, "TEN", values={"name": "Ten", "discount": PoolDiscount(percent=10)})
    write(promo.import_codes, "TEN", [promo.ImportRow(0, "TEN-0"), promo.ImportRow(1, "TEN-1")])
    write(
        promo.put_pool,
        "THREE",
        values={"name": "Three", "multi_use": True, "discount": PoolDiscount(amount=300)},
    )
    write(promo.import_codes, "THREE", [promo.ImportRow(0, "THREE-OFF")])
    write(segments.put_segment, "VIP", name="Very important")


def _customers(store: Store) -> None:
    for n, number in enumerate(CUSTOMERS):
        store.write_sync(
            customer_service.put_customer,
            number,
            fields={"email": f"{number.lower()}@example.com"},
            program="Shop",
            now=NOW,
        )
        _by_hand(store, number, 1_000 * (n + 1), point_of_contact="till-1")
    _by_hand(store, "C0", 500, expires_at=NOW + 30 * DAY)
    _by_hand(store, "C1", 700, available_from=NOW + DAY)  # a lot not active yet
    _by_hand(store, "C0", -1_200, comment="spent at the till")
    _by_hand(store, "C2", -300)
    store.write_sync(ledger_service.refund, store.read_sync(_first_debit), now=NOW, comment="oops")
    store.write_sync(segments.add_members, "VIP", customer_numbers=["C0", "C3"])


def _holds(store: Store) -> None:
    def authorize(number: str, sale: str, points: int) -> str:
        hold = store.write_sync(
            loyalty.authorize,
            customer_number=number,
            sale_id=sale,
            points=points,
            amount_units=None,
            location="till-1",
            ttl_ms=DAY,
            now=NOW,
        )
        return hold.auth_code

    authorize("C3", "sale-open", 400)
    confirmed = authorize("C4", "sale-paid", 600)
    store.write_sync(
        loyalty.resolve_authorization,
        customer_number="C4",
        auth_code=confirmed,
        target="confirmed",
        now=NOW,
    )


def _order(store: Store) -> None:
    request = orders.OrderRequest(
        customer=("customer_number", "C5"),
        point_of_contact="till-1",
        at=None,
        website_id="web-1",
        lines=(CartLine(1, "A", 2_000, 2_000), CartLine(2, "B", 1_500, 1_000)),
        line_statuses=(None, None),
        coupons=("TEN-0", "THREE-OFF"),
        points_asked=1_000,
        transaction_id="order-1",
    )
    view = store.write_sync(orders.create_order, request, template="Orders", now=NOW)
    assert view.status == orders.PROCESSED
    change = order_status.StatusChange(
        order_id=view.order_id,
        website_id=None,
        order_status=None,
        moves=(order_status.LineMove(1, None, "Returned", 1_000),),
        point_of_contact=None,
        at=None,
        transaction_id="return-1",
    )
    store.write_sync(order_status.change_order_status, change, template="Orders", now=NOW)


def _calls(store: Store) -> None:
    store.write_sync(
        async_calls.enqueue,
        endpoint_id="shop",
        operation="ChangeBalance",
        transaction_id="async-1",
        fingerprint="f",
        request_format="json",
        body=b'{"points": 1}',
        now=NOW,
    )
    store.write_sync(_kept_answer)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database with a row in every table, written by the services."""
    url = f"sqlite:///{tmp_path_factory.mktemp('source')}/pointkeeper.db"
    store = _open(url)
    try:
        for seed in (_shop, _customers, _holds, _order, _calls):
            seed(store)
    finally:
        store.close()
    return url


@pytest.fixture
def target(postgres_url: str) -> str:
    return postgres_url


# -- reading both databases ---------------------------------------------------


def _sqlite(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url.removeprefix("sqlite:///"))


def _source_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with _sqlite(url) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        found = {}
        for table in tables:
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            found[table] = (columns, connection.execute(f"SELECT * FROM {table}").fetchall())
    return {table: _sorted(columns, rows) for table, (columns, rows) in found.items()}


def _sorted(columns: list[str], rows: list[Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples of (column, value) sorted by column name, in a sorted list:
    the same whatever either database's column order; booleans as 0 and 1."""
    shaped = [
        tuple(
            sorted(
                (column, int(v) if isinstance(v, bool) else v)
                for column, v in zip(columns, row, strict=True)
            )
        )
        for row in rows
    ]
    return sorted(shaped, key=repr)


async def _target_rows_async(url: str) -> dict[str, list[tuple[Any, ...]]]:
    connection = await asyncpg.connect(url)
    try:
        tables = [
            row[0]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        found = {}
        for table in tables:
            rows = await connection.fetch(f"SELECT * FROM {table}")
            columns = [
                a.name
                for a in (await connection.prepare(f"SELECT * FROM {table}")).get_attributes()
            ]
            found[table] = _sorted(columns, [tuple(row) for row in rows])
        return found
    finally:
        await connection.close()


def _target_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return asyncio.run(_target_rows_async(url))


async def _sequences_async(url: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [
            tuple(row)
            for row in await connection.fetch(
                "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
            )
        ]
    finally:
        await connection.close()


async def _schema_async(url: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        constraints = await connection.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        )
        indexes = await connection.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        )
        return sorted(tuple(row) for row in [*constraints, *indexes])
    finally:
        await connection.close()


def _schema(url: str) -> list[tuple[Any, ...]]:
    """Every constraint and index, as PostgreSQL would write it."""
    return asyncio.run(_schema_async(url))


def _target_state(
    url: str,
) -> tuple[dict[str, list[tuple[Any, ...]]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row, where every id sequence stands (a rollback does not take
    back a sequence's setval), and the schema's constraints and indexes."""
    return _target_rows(url), asyncio.run(_sequences_async(url)), _schema(url)


def _balances(url: str) -> dict[str, Balances]:
    store = _open(url)
    try:
        return {
            number: store.read_sync(loyalty.customer_view, customer_number=number, now=NOW)[2]
            for number in CUSTOMERS
        }
    finally:
        store.close()


def _postgres(url: str, *statements: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


class _Progress:
    """What the copy told as it went."""

    def __init__(self) -> None:
        self.batches: dict[str, list[int]] = {}
        self.done: list[TableCopied] = []
        self.steps: list[str] = []
        self._table = ""

    def started(self, table: str, rows: int) -> None:
        self._table = table
        self.batches[table] = []

    def copied(self, rows: int) -> None:
        self.batches[self._table].append(rows)

    def finished(self, table: TableCopied) -> None:
        self.done.append(table)

    def step(self, what: str) -> None:
        self.steps.append(what)


# -- the copy -------------------------------------------------------------------


def test_the_source_has_a_row_in_every_table(source: str) -> None:
    empty = [table for table, rows in _source_rows(source).items() if not rows]
    assert empty == []


def test_a_copy_holds_every_row_of_every_table(source: str, target: str) -> None:
    progress = _Progress()
    report = copy_database(source, target_url=target, progress=progress, batch_rows=2)
    assert report.committed, report.mismatches
    assert report.customers == len(CUSTOMERS)
    copied = _target_rows(target)
    assert copied == _source_rows(source)
    # Every table but alembic_version, each in batches of at most two rows.
    assert {t.name for t in report.tables} == set(copied) - {"alembic_version"}
    assert [t.name for t in progress.done] == [t.name for t in report.tables]
    for table in report.tables:
        assert sum(progress.batches[table.name]) == table.rows == len(copied[table.name])
        assert all(1 <= rows <= 2 for rows in progress.batches[table.name])


def test_the_target_keeps_the_schema_the_migrations_made(source: str, target: str) -> None:
    migrated = _schema(target)
    progress = _Progress()
    assert copy_database(source, target_url=target, progress=progress).committed
    # The foreign keys were dropped for the copy and are back, as they were.
    assert _schema(target) == migrated
    assert any("FOREIGN KEY" in row[2] for row in migrated)
    assert progress.steps == [
        "adding the foreign keys back (checks every row)",
        "checking the copy against the source",
    ]


def test_a_source_row_referring_to_nothing_fails_the_copy(
    tmp_path: Path, source: str, target: str
) -> None:
    # SQLite checks foreign keys only on a connection that asks it to.
    broken = tmp_path / "broken.db"
    with _sqlite(source) as connection:
        connection.execute(f"VACUUM INTO '{broken}'")
    with _sqlite(f"sqlite:///{broken}") as connection:
        connection.execute(
            "INSERT INTO lot_draws (balance_change_id, lot_id, points) VALUES (1, 999999, 1)"
        )
    before = _target_state(target)
    with pytest.raises(StoreError, match=r"lot_draws.*violates foreign key constraint"):
        copy_database(f"sqlite:///{broken}", target_url=target)
    assert _target_state(target) == before


def test_tables_are_copied_after_the_tables_they_refer_to(source: str, target: str) -> None:
    order = [t.name for t in copy_database(source, target_url=target).tables]
    for referrer, referred in [
        ("customers", "programs"),
        ("balance_changes", "customer_actions"),
        ("lots", "balance_changes"),
        ("lot_draws", "lots"),
        ("hold_draws", "holds"),
        ("order_coupons", "promo_codes"),
        ("order_changes", "orders"),
        ("refunds", "balance_changes"),
    ]:
        assert order.index(referred) < order.index(referrer)


def test_every_balance_is_the_same_and_the_copy_serves_on(source: str, target: str) -> None:
    assert copy_database(source, target_url=target).committed
    assert _balances(target) == _balances(source)
    largest = _largest_ids(source)
    store = _open(target)
    try:
        customer = store.write_sync(
            customer_service.put_customer, "NEW", fields={}, program="Shop", now=NOW
        )
        _by_hand(store, "NEW", 250)
        _by_hand(store, "C0", 100)
        after = store.read_sync(loyalty.customer_view, customer_number="C0", now=NOW)[2]
    finally:
        store.close()
    # New rows get ids past the copied ones: the sequences were moved on.
    assert customer.id == largest["customers"] + 1
    now_largest = _largest_ids(target)
    assert now_largest["balance_changes"] == largest["balance_changes"] + 2
    assert now_largest["customer_actions"] == largest["customer_actions"] + 2
    assert after.point_balance == _balances(source)["C0"].point_balance + 100


def _largest_ids(url: str) -> dict[str, int]:
    tables = ("customers", "balance_changes", "customer_actions")
    if url.startswith("sqlite:"):
        with _sqlite(url) as connection:
            return {t: connection.execute(f"SELECT MAX(id) FROM {t}").fetchone()[0] for t in tables}
    rows = _target_rows(url)
    return {t: max(dict(row)["id"] for row in rows[t]) for t in tables}


# -- what is refused -------------------------------------------------------------


def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(source: str, target: str) -> None:
    _postgres(target, "INSERT INTO points_of_contact (external_id, name) VALUES ('x', 'X')")
    before = _target_state(target)
    with pytest.raises(StoreError, match=r"not empty \(points_of_contact\)"):
        copy_database(source, target_url=target)
    assert _target_state(target) == before


def test_a_target_with_a_table_of_its_own_is_refused(source: str, target: str) -> None:
    _postgres(target, "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)")
    before = _target_state(target)
    with pytest.raises(StoreError, match=r"tables of their own .*\(notes\)"):
        copy_database(source, target_url=target)
    assert _target_state(target) == before


def test_a_copy_failing_half_way_leaves_the_target_empty(source: str, target: str) -> None:
    # The target refuses the source's draws, which come late in the copy:
    # by then most tables are written.
    _postgres(target, "ALTER TABLE lot_draws ADD CONSTRAINT refused CHECK (points < 0)")
    before = _target_state(target)
    progress = _Progress()
    with pytest.raises(StoreError, match=r"the copy failed, nothing was written: .*\"refused\""):
        copy_database(source, target_url=target, progress=progress, batch_rows=2)
    assert {"customers", "balance_changes", "lots"} <= {t.name for t in progress.done}
    assert _target_state(target) == before
    rows, _, _ = before
    assert all(not found for table, found in rows.items() if table != "alembic_version")
    # Once the target takes them, the same copy goes through.
    _postgres(target, "ALTER TABLE lot_draws DROP CONSTRAINT refused")
    assert copy_database(source, target_url=target).committed


_skewing_trigger = (
    "CREATE FUNCTION skew() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN NEW.change_amount := NEW.change_amount + 1; RETURN NEW; END $$",
    "CREATE TRIGGER skew BEFORE INSERT ON balance_changes FOR EACH ROW EXECUTE FUNCTION skew()",
)


def test_a_copy_that_does_not_check_out_is_not_committed(source: str, target: str) -> None:
    # A target that changes what it is sent: every balance is off.
    _postgres(target, *_skewing_trigger)
    before = _target_state(target)
    report = copy_database(source, target_url=target)
    assert not report.committed
    assert report.mismatches_total == len(CUSTOMERS)
    assert report.mismatches[0].startswith("customer 1: sum ")
    assert _target_state(target) == before


def test_a_missing_source_is_refused_and_not_made(tmp_path: Path, target: str) -> None:
    with pytest.raises(StoreUnavailable, match="no such database"):
        copy_database(f"sqlite:///{tmp_path}/missing.db", target_url=target)
    assert not (tmp_path / "missing.db").exists()


# -- the command ---------------------------------------------------------------


def test_the_command_copies_and_says_what_it_checked(source: str, target: str) -> None:
    result = CliRunner().invoke(main, ["copy", "--from", source, "--to", target])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("copied ")
    assert f"the balances of {len(CUSTOMERS)} customers are the same" in result.stdout
    assert "balance_changes: " in result.stderr


def test_the_command_ends_with_1_when_the_copy_differs(source: str, target: str) -> None:
    _postgres(target, *_skewing_trigger)
    result = CliRunner().invoke(main, ["copy", "--from", source, "--to", target])
    assert result.exit_code == 1
    assert "differs: customer 1: sum" in result.stderr
    assert "nothing was committed" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (
            ["--from", "postgresql://a/b", "--to", "postgresql://c/d"],
            "--from must be a sqlite:/// URL: the database to copy",
        ),
        (
            ["--from", "sqlite:///a.db", "--to", "sqlite:///b.db"],
            "--to must be a postgresql:// URL: the database to copy into",
        ),
    ],
)
def test_the_command_refuses_urls_the_wrong_way_round(arguments: list[str], said: str) -> None:
    result = CliRunner().invoke(main, ["copy", *arguments])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: {said}"]
