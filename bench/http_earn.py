"""Throughput of CP Extender `POST /Loyalty/Earn` against the server's ceiling.

    .venv/bin/python bench/http_earn.py [--connections 64] [--duration 10] [--customers 1000]
                                        [--database sqlite|postgres] [--processes N]
                                        [--database-url postgresql://...]

Runs wrk against `GET /Connection/Status` (no auth, no database, a raw ASGI endpoint like
Earn's: what the HTTP stack can do at all), `GET /healthz` (the same through an ordinary
Starlette route and response, for comparison with other Starlette services) and then
against Earn, checks that every Earn landed in the ledger, and prints
a markdown table (also written to bench/results/http_earn[.<database>-p<N>].json).
`--database postgres` runs on a fresh PostgreSQL database, `--processes N` on N server
processes (see bench/harness/setup.py, `add_setup_arguments`). A run whose connections
sat waiting for answers most of the time (`harness.wrk.check_busy`) fails: its rate
would measure a stalled server.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.customers import (
    CUSTOMER_FORMAT,
    create_customers,
    customer_numbers,
    sum_point_balances,
)
from harness.failures import BenchError, run_main
from harness.measure import PeakFileSize, cpu_seconds, sqlite_wal_path
from harness.report import Row, Summary, print_table, rows_json, shown, write_json
from harness.servers import Server
from harness.setup import Setup, add_setup_arguments, setup_from
from harness.wrk import WRK_THREADS, WrkResult, check_busy, lua_string, require_wrk, run_wrk
from pointkeeper.config import is_postgres

# One global sequence per run: request k of thread `id` is number k*THREADS + id, which
# picks the customer round robin and, with the run nonce, makes Reference unique even
# when a persistent database (PostgreSQL) is reused across runs.
EARN_LUA = """\
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. {token}
wrk.headers["Content-Type"] = "application/json"

local counter = 0
function request()
  local seq = counter * {threads} + id
  counter = counter + 1
  local customer = string.format({customer_format}, seq % {customers} + 1)
  local body = string.format(
    '{{"CustomerNumber":"%s","Points":1,"Reason":"bench","Reference":"%s-%d-%d"}}',
    customer, {run}, id, counter)
  return wrk.format(nil, nil, nil, body)
end
"""


def write_earn_script(server: Server, customers: int) -> Path:
    script = server.workdir / "earn.lua"
    script.write_text(
        EARN_LUA.format(
            token=lua_string(server.secrets.bearer_token),
            threads=WRK_THREADS,
            customer_format=lua_string(CUSTOMER_FORMAT),
            customers=customers,
            run=lua_string(secrets.token_hex(4)),
        )
    )
    return script


def check_ledger(earned: int, result: WrkResult, connections: int) -> list[str]:
    """Every counted 2xx Earn must be in the ledger.

    wrk counts only responses it read; requests still in flight when it stopped (at most
    one per connection, plus one per socket error) may have been applied too.
    """
    if result.non_2xx:
        raise BenchError(f"Earn: {result.non_2xx} non-2xx responses out of {result.requests}")
    ceiling = result.requests + connections + result.socket_error_count
    if not result.requests <= earned <= ceiling:
        raise BenchError(
            f"ledger mismatch: balances grew by {earned}, wrk counted {result.requests} "
            f"2xx Earns (allowed up to {ceiling})"
        )
    return [f"Earn correctness: wrk counted {result.requests} 2xx, balances grew by {earned}"]


EARN_PATH = "/Loyalty/Earn"


def _arguments() -> tuple[argparse.Namespace, Setup]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--customers", type=int, default=1000)
    add_setup_arguments(parser)
    args = parser.parse_args()
    setup = setup_from(args, parser)
    if args.connections < WRK_THREADS:
        parser.error(f"--connections must be at least {WRK_THREADS} (wrk threads)")
    return args, setup


@dataclass(frozen=True)
class Measured:
    """The three runs (ceiling, Starlette no-op, Earn) and what the Earn run cost."""

    rows: list[Row]
    status: WrkResult
    healthz: WrkResult
    earn: WrkResult
    cpu_us_per_earn: float
    earned: int  # how far the balances grew


@dataclass(frozen=True)
class EarnRun:
    row: Row  # with the peak WAL on SQLite
    result: WrkResult
    cpu_us_per_earn: float  # of the server


def earn_run(
    server: Server,
    url: str,
    script: Path,
    connections: int,
    duration: int,
    timeout_s: int | None = None,
) -> EarnRun:
    """One wrk run of Earn (`script`: `write_earn_script`'s) on the server of database
    `url`; `timeout_s`: wrk's per-request timeout."""
    cpu_before = cpu_seconds(server.pid)
    with PeakFileSize(sqlite_wal_path(url)) as wal:
        earn = run_wrk(f"{server.base_url}{EARN_PATH}", connections, duration, script, timeout_s)
    cpu_us_per_earn = (cpu_seconds(server.pid) - cpu_before) * 1e6 / max(earn.requests, 1)
    wal_mb = None if is_postgres(url) else wal.peak_mb
    row = Row.of(f"POST {EARN_PATH}", connections, earn, server.peak_rss_mb(), peak_wal_mb=wal_mb)
    return EarnRun(row, earn, cpu_us_per_earn)


def _measure(server: Server, url: str, args: argparse.Namespace) -> Measured:
    numbers = customer_numbers(args.customers)
    create_customers(server, numbers)
    before = sum_point_balances(server, numbers)  # non-zero on a reused PostgreSQL
    status = run_wrk(f"{server.base_url}/Connection/Status", args.connections, args.duration)
    rows = [Row.of("GET /Connection/Status", args.connections, status, server.peak_rss_mb())]
    healthz = run_wrk(f"{server.base_url}/healthz", args.connections, args.duration)
    rows.append(Row.of("GET /healthz", args.connections, healthz, server.peak_rss_mb()))
    script = write_earn_script(server, args.customers)
    earn = earn_run(server, url, script, args.connections, args.duration)
    rows.append(earn.row)
    time.sleep(0.5)  # let requests wrk abandoned at the deadline finish before counting
    earned = sum_point_balances(server, numbers) - before
    return Measured(rows, status, healthz, earn.result, earn.cpu_us_per_earn, earned)


def _report(measured: Measured, checked: list[str], args: argparse.Namespace, setup: Setup) -> None:
    status, healthz, earn = measured.status, measured.healthz, measured.earn
    ratio = earn.requests_per_s / status.requests_per_s
    over_starlette = earn.requests_per_s / healthz.requests_per_s
    notes = [
        f"Earn / ceiling: {ratio:.2f}",
        # Steadier than the rate on a shared machine: what one Earn costs the server.
        f"server CPU per Earn: {measured.cpu_us_per_earn:.0f} us",
        f"Earn / Starlette no-op (/healthz): {over_starlette:.2f}",
        *checked,
        f"Ran on {setup.label}",
    ]
    if earn.socket_error_count or status.socket_error_count:
        notes.append(f"socket errors: ceiling {status.socket_errors}, Earn {earn.socket_errors}")
    print_table(measured.rows, notes)
    path = write_json(
        "http_earn",
        {
            "rows": rows_json(measured.rows),
            "earn_over_ceiling": ratio,
            "earn_over_starlette_noop": over_starlette,
            "duration_s": args.duration,
            "customers": args.customers,
            "earn_requests": earn.requests,
            "server_cpu_us_per_earn": measured.cpu_us_per_earn,
            "earn_balance_delta": measured.earned,
            "socket_errors": {"ceiling": status.socket_errors, "earn": earn.socket_errors},
        },
        setup,
        [Summary.of(row) for row in measured.rows],
    )
    print(f"\nwritten {shown(path)}")


def main() -> int:
    args, setup = _arguments()
    require_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-earn-") as folder,
        setup.fresh_database(Path(folder)) as url,
        setup.server(url) as server,
    ):
        measured = _measure(server, url, args)
        checked = check_ledger(measured.earned, measured.earn, args.connections)
        results = (measured.status, measured.healthz, measured.earn)
        for row, result in zip(measured.rows, results, strict=True):
            check_busy(row.benchmark, result, args.connections)
    _report(measured, checked, args, setup)
    return 0


if __name__ == "__main__":
    run_main(main)
