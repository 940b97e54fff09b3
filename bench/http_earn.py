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
processes (see bench/_harness.py, `add_setup_arguments`). A run whose connections sat
waiting for answers most of the time (`_harness.check_busy`) fails: its rate would
measure a stalled server.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

import _harness as h

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


def write_earn_script(server: h.Server, customers: int) -> Path:
    script = server.workdir / "earn.lua"
    script.write_text(
        EARN_LUA.format(
            token=h.lua_string(server.secrets.bearer_token),
            threads=h.WRK_THREADS,
            customer_format=h.lua_string(h.CUSTOMER_FORMAT),
            customers=customers,
            run=h.lua_string(secrets.token_hex(4)),
        )
    )
    return script


def check_ledger(earned: int, result: h.WrkResult, connections: int) -> list[str]:
    """Every counted 2xx Earn must be in the ledger.

    wrk counts only responses it read; requests still in flight when it stopped (at most
    one per connection, plus one per socket error) may have been applied too.
    """
    if result.non_2xx:
        raise h.BenchError(f"Earn: {result.non_2xx} non-2xx responses out of {result.requests}")
    ceiling = result.requests + connections + result.socket_error_count
    if not result.requests <= earned <= ceiling:
        raise h.BenchError(
            f"ledger mismatch: balances grew by {earned}, wrk counted {result.requests} "
            f"2xx Earns (allowed up to {ceiling})"
        )
    return [f"Earn correctness: wrk counted {result.requests} 2xx, balances grew by {earned}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--customers", type=int, default=1000)
    h.add_setup_arguments(parser)
    args = parser.parse_args()
    setup = h.setup_from(args, parser)
    if args.connections < h.WRK_THREADS:
        parser.error(f"--connections must be at least {h.WRK_THREADS} (wrk threads)")
    h.require_wrk()

    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-earn-") as folder,
        setup.fresh_database(Path(folder)) as url,
        setup.server(url) as server,
    ):
        numbers = h.customer_numbers(args.customers)
        h.create_customers(server, numbers)
        before = h.sum_point_balances(server, numbers)  # non-zero on a reused PostgreSQL

        status = h.run_wrk(f"{server.base_url}/Connection/Status", args.connections, args.duration)
        rows = [h.Row.of("GET /Connection/Status", args.connections, status, server.peak_rss_mb())]
        healthz = h.run_wrk(f"{server.base_url}/healthz", args.connections, args.duration)
        rows.append(h.Row.of("GET /healthz", args.connections, healthz, server.peak_rss_mb()))

        script = write_earn_script(server, args.customers)
        cpu_before = h.cpu_seconds(server.pid)
        with h.PeakFileSize(h.sqlite_wal_path(url)) as wal:
            earn = h.run_wrk(
                f"{server.base_url}/Loyalty/Earn", args.connections, args.duration, script
            )
        cpu_us_per_earn = (h.cpu_seconds(server.pid) - cpu_before) * 1e6 / max(earn.requests, 1)
        wal_mb = None if h.is_postgres(url) else wal.peak_mb
        rows.append(
            h.Row.of(
                "POST /Loyalty/Earn",
                args.connections,
                earn,
                server.peak_rss_mb(),
                peak_wal_mb=wal_mb,
            )
        )
        time.sleep(0.5)  # let requests wrk abandoned at the deadline finish before counting
        earned = h.sum_point_balances(server, numbers) - before
        notes = check_ledger(earned, earn, args.connections)
        for row, result in zip(rows, (status, healthz, earn), strict=True):
            h.check_busy(row.benchmark, result, args.connections)

    ratio = earn.requests_per_s / status.requests_per_s
    over_starlette = earn.requests_per_s / healthz.requests_per_s
    notes = [
        f"Earn / ceiling: {ratio:.2f}",
        # Steadier than the rate on a shared machine: what one Earn costs the server.
        f"server CPU per Earn: {cpu_us_per_earn:.0f} us",
        f"Earn / Starlette no-op (/healthz): {over_starlette:.2f}",
        *notes,
        f"Ran on {setup.label}",
    ]
    if earn.socket_error_count or status.socket_error_count:
        notes.append(f"socket errors: ceiling {status.socket_errors}, Earn {earn.socket_errors}")
    h.print_table(rows, notes)
    path = h.write_json(
        "http_earn",
        {
            "rows": h.rows_json(rows),
            "earn_over_ceiling": ratio,
            "earn_over_starlette_noop": over_starlette,
            "duration_s": args.duration,
            "customers": args.customers,
            "earn_requests": earn.requests,
            "server_cpu_us_per_earn": cpu_us_per_earn,
            "earn_balance_delta": earned,
            "socket_errors": {"ceiling": status.socket_errors, "earn": earn.socket_errors},
        },
        setup,
        [h.Summary.of(row) for row in rows],
    )
    print(f"\nwritten {h.shown(path)}")
    return 0


if __name__ == "__main__":
    h.run_main(main)
