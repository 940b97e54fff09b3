"""Moving a SQLite database to PostgreSQL with `pointkeeper copy`.

    .venv/bin/python bench/copy_database.py [--customers 100000] [--changes-per-customer 10]
                                            [--postgres-server postgresql://...]

Seeds a SQLite database in a temp dir: the bench program and the built-in templates
through the store, then, in plain SQL, `--customers` enrolled customers with
`--changes-per-customer` balance changes each (one action each; per ten changes seven
credits of 100 points, each its own lot, and three debits of 50 drawn from the oldest
lots, so that a customer holds 550 points in three kinds of lot: drawn empty, half
drawn, whole). Then times `pointkeeper copy` into a fresh PostgreSQL database as an
operator runs it (a fresh process, start-up and both migrations included), checks its
exit status, that it checked every customer, and that the target's totals are the
source's; prints a markdown table (also bench/results/copy_database.json).
Target (issue 12): 100,000 customers and 1,000,000 changes, time recorded.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.databases import (
    POSTGRES_SERVER,
    create_postgres_database,
    drop_postgres_database,
    sql,
)
from harness.failures import BenchError, run_main
from harness.report import Summary, shown, write_json
from harness.seeding import seeding_store
from harness.servers import pointkeeper_command, server_environment

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MINUTE = 60_000
# One customer's ten changes: + credit of 100, - debit of 50 from the n-th credit.
PATTERN = ["+", "+", "-0", "+", "-0", "+", "+", "-1", "+", "+"]
CREDIT, DEBIT = 100, 50
CHUNK = 50_000  # customers written per executemany round
_table_line = re.compile(r"^(\w+): ([\d,]+) rows in ([\d.]+) s \(([\d,]+) rows/s\)")
_steps_line = re.compile(r"foreign keys ([\d.]+) s, checks ([\d.]+) s")


def _pattern(changes: int) -> list[str]:
    """The customer's changes: PATTERN repeated, each debit drawing from a credit of
    its own block of ten."""
    return [PATTERN[n % 10] for n in range(changes)]


@dataclass
class _Ids:
    action: int = 0
    change: int = 0
    draw: int = 0


def _customer_rows(
    first: int, count: int, changes: int, template: int, ids: _Ids
) -> Iterator[tuple[str, list[tuple[object, ...]]]]:
    """Rows for customers first..first+count-1, table by table."""
    customers, actions, balance_changes, lots, draws = [], [], [], [], []
    for customer in range(first, first + count):
        customers.append((customer, f"BENCH-{customer:07d}", 1, "active", START))
        credits: list[int] = []
        lot_of: dict[int, list[int]] = {}  # lot id -> [available from, remaining]
        for n, step in enumerate(_pattern(changes)):
            ids.action += 1
            ids.change += 1
            at = START + (customer * changes + n) * 1_000
            actions.append((ids.action, template, at, customer, at))
            if step == "+":
                balance_changes.append((ids.change, ids.action, customer, CREDIT, at, at, at))
                credits.append(ids.change)
                lot_of[ids.change] = [at, CREDIT]
                continue
            lot = credits[(n // 10) * 7 + int(step[1])]
            balance_changes.append((ids.change, ids.action, customer, -DEBIT, at, None, at))
            lot_of[lot][1] -= DEBIT
            ids.draw += 1
            draws.append((ids.draw, ids.change, lot, DEBIT))
        lots.extend((lot, customer, CREDIT, left, at, 1) for lot, (at, left) in lot_of.items())
    yield "customers", customers
    yield "customer_actions", actions
    yield "balance_changes", balance_changes
    yield "lots", lots
    yield "lot_draws", draws


_inserts = {
    "customers": "INSERT INTO customers (id, customer_number, program_id, status, created_at)"
    " VALUES (?, ?, ?, ?, ?)",
    "customer_actions": "INSERT INTO customer_actions"
    " (id, template_id, date_time_utc, customer_id, recorded_at) VALUES (?, ?, ?, ?, ?)",
    "balance_changes": "INSERT INTO balance_changes"
    " (id, action_id, customer_id, change_amount, kind, date_time_utc, available_from,"
    " recorded_at) VALUES (?, ?, ?, ?, 'Custom', ?, ?, ?)",
    "lots": "INSERT INTO lots (id, customer_id, amount, remaining, available_from, activated)"
    " VALUES (?, ?, ?, ?, ?, ?)",
    "lot_draws": "INSERT INTO lot_draws (id, balance_change_id, lot_id, points)"
    " VALUES (?, ?, ?, ?)",
}


def _seed(url: str, customers: int, changes: int) -> None:
    with seeding_store(url):
        pass  # the program and the built-in templates, as a server writes them
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA journal_mode=WAL")
        (template,) = connection.execute(
            "SELECT id FROM action_templates WHERE system_name = 'Admin.BalanceChange'"
        ).fetchone()
        ids = _Ids()
        with connection:
            for first in range(1, customers + 1, CHUNK):
                count = min(CHUNK, customers + 1 - first)
                # A credit's available_from is its date, a debit has none, as the
                # services write them.
                for table, rows in _customer_rows(first, count, changes, template, ids):
                    connection.executemany(_inserts[table], rows)
    finally:
        connection.close()


@dataclass(frozen=True)
class Copied:
    seconds: float  # wall, start-up and migrations included
    peak_rss_mb: float
    tables: list[tuple[str, int, float, int]]  # rows, seconds, rows/s as the command said
    keys_seconds: float
    check_seconds: float
    stdout: str


def _copy(source: str, target: str) -> Copied:
    command = [*pointkeeper_command(), "copy", "--from", source, "--to", target]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=server_environment())
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"pointkeeper copy failed: {stderr.strip()}")
    tables = [
        (found[1], int(found[2].replace(",", "")), float(found[3]), int(found[4].replace(",", "")))
        for line in stderr.splitlines()
        if (found := _table_line.match(line))
    ]
    steps = _steps_line.search(stdout)
    if steps is None:
        raise BenchError(f"pointkeeper copy said no times: {stdout}")
    keys, check = float(steps[1]), float(steps[2])
    return Copied(seconds, usage.ru_maxrss / 1024, tables, keys, check, stdout)


_totals = (
    "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM balance_changes),"
    " (SELECT SUM(change_amount) FROM balance_changes), (SELECT SUM(remaining) FROM lots)"
)


def _check(source: str, target: str, copied: Copied, customers: int) -> None:
    mine, theirs = sql(source, _totals)[0], sql(target, _totals)[0]
    if tuple(int(v) for v in mine) != tuple(int(v) for v in theirs):
        raise BenchError(f"totals differ: source {mine}, copy {theirs}")
    if f"the balances of {customers:,} customers" not in copied.stdout:
        raise BenchError(f"the copy did not say it checked every customer: {copied.stdout}")


def _report(copied: Copied, customers: int, changes: int) -> None:
    rows = sum(count for _, count, _, _ in copied.tables)
    table_seconds = sum(seconds for _, _, seconds, _ in copied.tables)
    print("| table | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for name, count, seconds, rate in sorted(copied.tables, key=lambda t: -t[1]):
        if count >= 1_000:
            print(f"| {name} | {count:,} | {seconds:.1f} | {rate:,} |")
    print(f"| adding the foreign keys back | | {copied.keys_seconds:.1f} | |")
    print(f"| checking counts and every balance | | {copied.check_seconds:.1f} | |")
    rest = copied.seconds - table_seconds - copied.keys_seconds - copied.check_seconds
    print(f"| start-up, migrations, the small tables, commit | | {rest:.1f} | |")
    print(
        f"| **whole command** | **{rows:,}** | **{copied.seconds:.1f}** |"
        f" **{rows / copied.seconds:,.0f}** |"
    )
    print(
        f"\n{customers:,} customers, {changes:,} balance changes; peak RSS of the command"
        f" {copied.peak_rss_mb:.0f} MB"
    )
    path = write_json(
        "copy_database",
        {
            "customers": customers,
            "changes": changes,
            "rows": rows,
            "seconds": copied.seconds,
            "peak_rss_mb": copied.peak_rss_mb,
            "keys_seconds": copied.keys_seconds,
            "check_seconds": copied.check_seconds,
            "tables": [
                {"table": name, "rows": count, "seconds": seconds, "rows_per_s": rate}
                for name, count, seconds, rate in copied.tables
            ],
        },
        summary=[Summary("copy", rows / copied.seconds, "rows/s", peak_rss_mb=copied.peak_rss_mb)],
    )
    print(f"\nwritten {shown(path)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--changes-per-customer", type=int, default=10)
    parser.add_argument("--postgres-server", default=POSTGRES_SERVER)
    args = parser.parse_args()
    if args.customers < 1 or not 1 <= args.changes_per_customer <= 1_000:
        parser.error("--customers must be at least 1, --changes-per-customer 1 to 1000")
    with tempfile.TemporaryDirectory(prefix="pointkeeper-copy-") as folder:
        source = f"sqlite:///{Path(folder) / 'source.db'}"
        started = time.perf_counter()
        # In a process of its own: a child forked from a parent that held the
        # seeding's rows would count them in its peak RSS.
        seeding = multiprocessing.get_context("spawn").Process(
            target=_seed, args=(source, args.customers, args.changes_per_customer)
        )
        seeding.start()
        seeding.join()
        if seeding.exitcode != 0:
            raise BenchError(f"seeding failed ({seeding.exitcode})")
        print(f"seeded {source} in {time.perf_counter() - started:.1f} s\n")
        target = create_postgres_database(args.postgres_server)
        try:
            copied = _copy(source, target)
            _check(source, target, copied, args.customers)
        finally:
            drop_postgres_database(target, args.postgres_server)
    _report(copied, args.customers, args.customers * args.changes_per_customer)
    return 0


if __name__ == "__main__":
    run_main(main)
