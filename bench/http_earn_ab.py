"""Earn throughput of several servers side by side: a before/after comparison that
holds on a machine whose speed drifts.

    .venv/bin/python bench/http_earn_ab.py --variant before=/tmp/old/.venv/bin/pointkeeper \
        --variant after=.venv/bin/pointkeeper [--variant uvloop=.venv/bin/pointkeeper,loop=uvloop]
        [--rounds 16] [--seconds 4] [--connections 64] [--database sqlite|postgres]

Every variant's server is up at once (idle ones cost nothing); each round runs wrk
against Earn on each of them in turn, for a few seconds, the order turning every round.
A slow minute then hits all of them alike, where one long run each would have caught it
in one. A variant is NAME=POINTKEEPER[,KEY=VALUE...]: the `pointkeeper` of an
installation (another checkout's .venv, say) and [server] keys, or [database] keys
written `database.KEY`. Prints each variant's median requests/s and server CPU per Earn,
and the median of its per-round ratios to the first variant.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _harness as h
from http_earn import write_earn_script


def _variant(text: str) -> tuple[str, list[str], str, str]:
    """NAME=POINTKEEPER[,KEY=VALUE...] as (name, command, server_toml, database_toml)."""
    name, _, rest = text.partition("=")
    command, *settings = rest.split(",")
    tables: dict[str, str] = {"server": "", "database": ""}
    for setting in settings:
        key, _, value = setting.partition("=")
        table, _, key = key.rpartition(".")
        shown = value if value.lstrip("-").isdigit() else h.toml_str(value)
        tables[table or "server"] += f"{key} = {shown}\n"
    return name, [command], tables["server"], tables["database"]


def _run_rounds(servers: dict[str, h.Server], args: argparse.Namespace) -> dict[str, Any]:
    """Per variant and round: requests/s, p50 and p99 ms, server CPU us per Earn."""
    found: dict[str, Any] = {
        name: {"rates": [], "p50": [], "p99": [], "cpu_us": []} for name in servers
    }
    names = list(servers)
    for round_number in range(args.rounds):
        turn = round_number % len(names)
        for name in names[turn:] + names[:turn]:
            server = servers[name]
            script = write_earn_script(server, args.customers)
            cpu_before = h.cpu_seconds(server.pid)
            url = f"{server.base_url}/Loyalty/Earn"
            result = h.run_wrk(url, args.connections, args.seconds, script, 10)
            used = h.cpu_seconds(server.pid) - cpu_before
            found[name]["rates"].append(result.requests / args.seconds)
            found[name]["p50"].append(result.p50_ms)
            found[name]["p99"].append(result.p99_ms)
            found[name]["cpu_us"].append(used * 1e6 / max(result.requests, 1))
    return found


def _print(found: dict[str, Any], servers: dict[str, h.Server], note: str) -> None:
    """Medians over the rounds; peak RSS over the whole run."""
    first = next(iter(found))
    print(
        f"| variant | requests/s | ratio to {first} | p50 ms | p99 ms "
        "| server CPU per Earn us | server peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in found.items():
        ratios = [a / b for a, b in zip(runs["rates"], found[first]["rates"], strict=True)]
        median = {key: statistics.median(values) for key, values in runs.items()}
        print(
            f"| {name} | {median['rates']:,.0f} | {statistics.median(ratios):.3f} "
            f"| {median['p50']:.2f} | {median['p99']:.2f} | {median['cpu_us']:.0f} "
            f"| {servers[name].peak_rss_mb():.1f} |"
        )
    print(f"\n{note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", type=_variant, required=True)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=4, help="per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--customers", type=int, default=1000)
    h.add_setup_arguments(parser, explicit_url=False)
    args = parser.parse_args()
    setup = h.setup_from(args, parser)
    h.require_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-earn-ab-") as folder,
        contextlib.ExitStack() as stack,
    ):
        servers = {}
        for name, command, server_toml, database_toml in args.variant:
            url = stack.enter_context(setup.fresh_database(Path(folder), name))
            servers[name] = stack.enter_context(
                h.bench_server(
                    url,
                    "",
                    setup.processes,
                    setup.database_toml() + database_toml,
                    server_toml,
                    command,
                )
            )
            h.create_customers(servers[name], h.customer_numbers(args.customers))
        found = _run_rounds(servers, args)
        note = f"{args.rounds} rounds of {args.seconds} s, {args.connections} connections"
        _print(found, servers, f"{note}, {setup.label}")
    return 0


if __name__ == "__main__":
    h.run_main(main)
