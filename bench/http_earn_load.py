"""Tail latency of CP Extender `POST /Loyalty/Earn` as connections grow.

    .venv/bin/python bench/http_earn_load.py [--connections 64,512,2000] [--duration 10]
                                             [--customers 1000] [--database sqlite|postgres]
                                             [--processes N]

Runs wrk against Earn once per connection count, with wrk's request timeout at 10 s, and
prints a markdown table: throughput, p50/p99, the share of answers that were 503 (the
server refusing what it could not start in time: `database.write_wait_seconds_max`),
wrk's timeouts, peak RSS and (SQLite) peak WAL size. Every 2xx Earn is checked to be in
the ledger, and no refused one. Also written to bench/results/http_earn_load[...].json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.customers import create_customers, customer_numbers, sum_point_balances
from harness.failures import BenchError, run_main
from harness.report import Summary, print_table, rows_json, shown, write_json
from harness.setup import add_setup_arguments, setup_from
from harness.wrk import WrkResult, raise_file_limit, require_wrk
from http_earn import earn_run, write_earn_script

_wrk_timeout_s = 10


def _check_ledger(earned: int, result: WrkResult, connections: int) -> None:
    """Every 2xx Earn is in the ledger, and a refusal changed nothing: the
    balances grew by the 2xx count, plus at most what was in flight at the end."""
    answered = result.requests - result.non_2xx
    ceiling = answered + connections + result.socket_error_count
    if not answered <= earned <= ceiling:
        raise BenchError(
            f"ledger mismatch at {connections} connections: balances grew by {earned}, "
            f"wrk counted {answered} 2xx Earns (allowed up to {ceiling})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", default="64,512,2000", help="comma-separated counts")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--customers", type=int, default=1000)
    add_setup_arguments(parser)
    args = parser.parse_args()
    setup = setup_from(args, parser)
    counts = [int(count) for count in args.connections.split(",")]
    require_wrk()
    raise_file_limit(max(counts) * 2)  # wrk and the server each need a descriptor per connection
    rows, notes, results = [], [], []
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-earn-load-") as folder,
        setup.fresh_database(Path(folder)) as url,
        setup.server(url) as server,
    ):
        numbers = customer_numbers(args.customers)
        create_customers(server, numbers)
        for connections in counts:
            # A fresh script each run: its References start over, and the same
            # Reference again would be a replay, crediting nothing.
            script = write_earn_script(server, args.customers)
            before = sum_point_balances(server, numbers)
            run = earn_run(server, url, script, connections, args.duration, _wrk_timeout_s)
            row, result = run.row, run.result
            time.sleep(1.0)  # requests wrk abandoned at the deadline finish before counting
            _check_ledger(sum_point_balances(server, numbers) - before, result, connections)
            refused = result.non_2xx / result.requests if result.requests else 0.0
            rows.append(row)
            results.append({"connections": connections, "refused_503_share": refused})
            notes.append(
                f"{connections} connections: {refused:.1%} refused (non-2xx: the server's 503), "
                f"wrk timeouts {result.socket_errors['timeout']}"
            )
    print_table(rows, [*notes, f"Ran on {setup.label}"])
    payload = {"rows": rows_json(rows), "runs": results, "duration_s": args.duration}
    path = write_json("http_earn_load", payload, setup, [Summary.of(row) for row in rows])
    print(f"\nwritten {shown(path)}")
    return 0


if __name__ == "__main__":
    run_main(main)
