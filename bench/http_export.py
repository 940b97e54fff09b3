"""Streaming speed and memory of the Maestra ExportBalanceChanges operation.

    .venv/bin/python bench/http_export.py [--sizes 10000,100000,1000000] [--format xml|json|both]
                                          [--customers 10000] [--runs 3] [--profile]
                                          [--database sqlite|postgres] [--processes N]
                                          [--database-url sqlite:///FILE|postgresql://...]

Grows one database (SQLite, or with `--database postgres` a fresh PostgreSQL database,
dropped afterwards) through the sizes (10k -> 100k -> 1M customer actions by
default), seeding each step in process through the real services (`loyalty.earn` and
`adjustments.change_balance`, 100k actions per write transaction) while no server runs.
For every size and format it then starts a fresh server (so VmHWM, the peak resident set,
belongs to that size and format alone), POSTs the export over the whole seeded year
`--runs` times, reads the streamed answer with httpx, checks that it holds exactly the
seeded number of actions and is complete, and keeps the fastest run. The smallest size is
also parsed whole and checked action by action.

Prints a markdown table (also written to bench/results/http_export.json) and whether the
targets hold: at least 200,000 actions/s streamed at the largest size, and peak RSS
growing less than 50 MB from the smallest size to the largest. Wall-clock speed depends on
what else the machine runs, so the server's CPU time per export is reported as well.
`--profile` samples the server with py-spy (`.venv/bin/pip install py-spy`) during the
largest exports and prints where the time goes. `--database-url sqlite:///FILE` (or an
existing PostgreSQL database) keeps the seeded database and grows it from where it
stopped on the next run, which skips re-seeding (1M actions take about 1.5 minutes to
seed on SQLite). `--processes N` serves with N processes: one export is one request, so
that changes the memory counted (every process's) more than the speed. Results go to
bench/results/http_export[.<database>-p<N>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.arguments import increasing_sizes
from harness.configs import PROGRAM, maestra_settings
from harness.customers import customer_number
from harness.databases import redact_url
from harness.failures import BenchError, run_main
from harness.maestra import CONTENT_TYPE, request_body, request_headers, sync_url
from harness.measure import cpu_seconds
from harness.profile import start_profile, stop_profile, summarize_profile
from harness.report import RESULTS_DIR, Summary, shown, write_json
from harness.seeding import seeding_store
from harness.servers import Server
from harness.setup import Setup, add_setup_arguments, setup_from
from pointkeeper.domain.time import from_datetime, ms_per_day
from pointkeeper.protocols.maestra.dates import format_date
from pointkeeper.secrets import new_secret
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.services.customers import put_customer
from pointkeeper.services.loyalty import earn
from pointkeeper.services.reference import put_point_of_contact
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx

ENDPOINT = "bench"
OPERATION = "Export"
ACTIONS_PER_TRANSACTION = 100_000
POINT_OF_CONTACT = "bench-shop"
# Every fifth action is a Maestra-style manual credit with a point of contact and an
# expiry (so the export writes every optional element); the rest are CP Extender earns.
MANUAL_EVERY = 5
MANUAL_POINTS = 5
# The seeded year: action i of the largest size is dated SINCE + i * step.
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
TILL = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_ACTIONS_PER_S = 200_000
TARGET_RSS_GROWTH_MB = 50.0
# The smallest size is also parsed whole, unless it is bigger than this.
VALIDATE_ACTIONS_MAX = 100_000
# What marks one action in the answer; neither string occurs anywhere else in it.
ACTION_MARK = {"xml": b"<customerAction>", "json": b'"customerActionId"'}
ANSWER_HEAD = {"xml": b'<?xml version="1.0" encoding="utf-8"?><result>', "json": b"{"}
ANSWER_END = {"xml": b"</customerActions></result>", "json": b"]}"}


def wire_date(value: datetime) -> str:
    return format_date(from_datetime(value))


# --------------------------------------------------------------------------- seeding


def earn_points(index: int) -> int:
    return 10 + index % 90


def seeded_points(actions: int) -> int:
    """The points the first `actions` seeded actions credit, all told."""
    return sum(MANUAL_POINTS if i % MANUAL_EVERY == 0 else earn_points(i) for i in range(actions))


def _create_customers(tx: Tx, count: int, at: int) -> None:
    put_point_of_contact(tx, external_id=POINT_OF_CONTACT, name="Bench shop")
    for i in range(1, count + 1):
        put_customer(
            tx,
            customer_number(i),
            fields={"website_id": f"web-{i}"},
            program=PROGRAM,
            now=at,
        )


def _seed_actions(tx: Tx, start: int, stop: int, customers: int, step_ms: int) -> None:
    """Actions start..stop-1, one balance change each."""
    since = from_datetime(SINCE)
    for i in range(start, stop):
        at = since + i * step_ms
        number = customer_number(i % customers + 1)
        if i % MANUAL_EVERY == 0:
            request = BalanceChangeRequest(
                change_amount=MANUAL_POINTS,
                comment="bench credit",
                expires_at=at + 365 * ms_per_day,
                transaction_id=f"bench-manual-{i}",
                point_of_contact=POINT_OF_CONTACT,
            )
            _, recorded = change_balance(
                tx,
                customer_kind="customer_number",
                customer_value=number,
                request=request,
                key_scope=None,
                now=at,
            )
        else:
            recorded = earn(
                tx,
                customer_number=number,
                points=earn_points(i),
                reason="bench",
                reference=f"bench-earn-{i}",
                now=at,
            )
        if not recorded:
            raise BenchError(f"seeding action {i} was taken for a replay")


def _count_actions(tx: Tx) -> tuple[int, int]:
    """(actions in the seeded year, actions in all)."""
    row = (
        sql_connection(tx)
        .execute(
            "SELECT COUNT(*) FILTER (WHERE date_time_utc >= ? AND date_time_utc < ?), COUNT(*)"
            " FROM customer_actions",
            (from_datetime(SINCE), from_datetime(TILL)),
        )
        .fetchone()
    )
    return int(row[0]), int(row[1])


def step_for(largest: int) -> int:
    """Milliseconds between seeded actions: `largest` of them spread over the seeded year
    (a smaller size fills its first part)."""
    return (from_datetime(TILL) - from_datetime(SINCE)) // largest


def grow(
    url: str, pool_config: Mapping[str, int], size: int, customers: int, step_ms: int
) -> float:
    """Seeds actions up to `size` with the server stopped (a database seeded earlier,
    by this run or a previous one with `--database-url`, is grown from where it stopped);
    answers the seconds it took."""
    started = time.perf_counter()
    with seeding_store(url, pool_config) as (store, _):
        in_year, total = store.read_sync(_count_actions)
        if in_year != total or total > size:
            raise BenchError(
                f"{redact_url(url)} holds {total} actions ({in_year} in the bench year); "
                f"cannot grow it to {size}: use a fresh database"
            )
        if total == 0:
            store.write_sync(_create_customers, customers, from_datetime(SINCE))
        for start in range(total, size, ACTIONS_PER_TRANSACTION):
            stop = min(size, start + ACTIONS_PER_TRANSACTION)
            store.write_sync(_seed_actions, start, stop, customers, step_ms)
        found, _ = store.read_sync(_count_actions)
    if found != size:
        raise BenchError(f"seeded {size} actions but the database holds {found} in the year")
    return time.perf_counter() - started


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class Export:
    actions: int
    bytes: int
    seconds: float
    first_byte_s: float
    server_cpu_s: float
    client_cpu_s: float


def export_request(server: Server, key: str, answer_format: str) -> dict[str, Any]:
    """The export of the whole seeded year, as keyword arguments of an httpx request."""
    year = {"sinceDateTimeUtc": wire_date(SINCE), "tillDateTimeUtc": wire_date(TILL)}
    return {
        "method": "POST",
        "url": sync_url(server, ENDPOINT, OPERATION),
        "content": request_body(year, answer_format),
        "headers": request_headers(key, answer_format),
    }


def _client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(10.0, read=600.0))


def _check_answer(response: httpx.Response, answer_format: str) -> None:
    if response.status_code != 200:
        response.read()
        raise BenchError(f"export: {response.status_code} {response.text[:500]}")
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if media != CONTENT_TYPE[answer_format]:
        raise BenchError(f"export answered {media!r}, wanted {CONTENT_TYPE[answer_format]}")


def stream_export(server: Server, key: str, answer_format: str, expected: int) -> Export:
    """One timed export, counted as it streams; the body is never held whole."""
    mark = ACTION_MARK[answer_format]
    keep = len(mark) - 1  # a mark split across chunks is counted once the rest arrives
    head = b""
    tail = b""
    carry = b""
    count = 0
    size = 0
    first_byte_s = 0.0
    with _client() as client:
        cpu_before = cpu_seconds(server.pid)
        client_before = time.process_time()
        started = time.perf_counter()
        with client.stream(**export_request(server, key, answer_format)) as response:
            _check_answer(response, answer_format)
            for chunk in response.iter_raw():
                if not size:
                    first_byte_s = time.perf_counter() - started
                if len(head) < 64:
                    head += chunk[:64]
                size += len(chunk)
                window = carry + chunk
                count += window.count(mark)
                carry = window[-keep:]  # shorter than a mark: never counted twice
                tail = (tail + chunk[-64:])[-64:]
        seconds = time.perf_counter() - started
        server_cpu_s = cpu_seconds(server.pid) - cpu_before
        client_cpu_s = time.process_time() - client_before
    if not head.startswith(ANSWER_HEAD[answer_format]) or b"Success" not in head:
        raise BenchError(f"export ({answer_format}) starts {head[:64]!r}")
    if not tail.endswith(ANSWER_END[answer_format]):
        raise BenchError(f"export ({answer_format}) is unfinished: ends {tail[-64:]!r}")
    if count != expected:
        raise BenchError(f"export ({answer_format}) streamed {count} actions, seeded {expected}")
    return Export(count, size, seconds, first_byte_s, server_cpu_s, client_cpu_s)


def _actions_of(body: bytes, answer_format: str) -> list[dict[str, Any]]:
    """(id, date, changes) of every action of a whole answer, in the same shape for
    both formats."""
    if answer_format == "json":
        tree = json.loads(body)
        if tree["status"] != "Success":
            raise BenchError(f"export status {tree['status']!r}")
        return [
            {
                "id": int(a["ids"]["customerActionId"]),
                "date": a["dateTimeUtc"],
                "amounts": [int(c["changeAmount"]) for c in a["customerBalanceChanges"]],
                "place": a.get("pointOfContact", {}).get("ids", {}).get("externalId"),
            }
            for a in tree["customerActions"]
        ]
    root = ET.fromstring(body)
    if root.findtext("status") != "Success":
        raise BenchError(f"export status {root.findtext('status')!r}")
    return [
        {
            "id": int(a.findtext("ids/customerActionId", "")),
            "date": a.findtext("dateTimeUtc", ""),
            "amounts": [
                int(c.findtext("changeAmount", ""))
                for c in a.iterfind("customerBalanceChanges/customerBalanceChange")
            ],
            "place": a.findtext("pointOfContact/ids/externalId"),
        }
        for a in root.iterfind("customerActions/customerAction")
    ]


def validate_export(server: Server, key: str, answer_format: str, expected: int) -> None:
    """Parses one whole answer: every seeded action once, oldest first, every point."""
    with _client() as client:
        response = client.request(**export_request(server, key, answer_format))
        _check_answer(response, answer_format)
    actions = _actions_of(response.content, answer_format)
    ids = [a["id"] for a in actions]
    dates = [a["date"] for a in actions]
    points = sum(sum(a["amounts"]) for a in actions)
    places = Counter(a["place"] for a in actions)
    problems = []
    if len(actions) != expected or len(set(ids)) != len(ids):
        problems.append(f"{len(actions)} actions ({len(set(ids))} distinct), {expected} seeded")
    if dates != sorted(dates):
        problems.append("actions are not oldest first")
    if points != seeded_points(expected):
        problems.append(f"changes add up to {points} points, {seeded_points(expected)} seeded")
    manual = len(range(0, expected, MANUAL_EVERY))
    if places[POINT_OF_CONTACT] != manual:
        problems.append(
            f"{places[POINT_OF_CONTACT]} actions at {POINT_OF_CONTACT}, {manual} seeded"
        )
    if problems:
        raise BenchError(f"export ({answer_format}) is wrong: {'; '.join(problems)}")


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ExportRow:
    actions: int
    format: str
    seconds: float
    actions_per_s: float
    mb_per_s: float
    bytes: int
    first_byte_ms: float
    server_cpu_s: float
    actions_per_server_cpu_s: float
    client_cpu_s: float
    server_startup_rss_mb: float
    server_peak_rss_mb: float
    rss_growth_mb: float
    runs_s: tuple[float, ...]
    profile: tuple[str, ...] = ()


def table(rows: list[ExportRow], smallest: int) -> str:
    lines = [
        "| actions | format | seconds | actions/s | MB/s | server peak RSS MB "
        f"| RSS growth vs {smallest // 1000}k |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.actions:,} | {r.format} | {r.seconds:.2f} | {r.actions_per_s:,.0f} | "
        f"{r.mb_per_s:.1f} | {r.server_peak_rss_mb:.1f} | {r.rss_growth_mb:+.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def verdicts(rows: list[ExportRow]) -> tuple[bool, bool, list[str]]:
    largest = max(r.actions for r in rows)
    top = [r for r in rows if r.actions == largest]
    slowest = min(top, key=lambda r: r.actions_per_s)
    growth = max(rows, key=lambda r: r.rss_growth_mb)
    speed_ok = slowest.actions_per_s >= TARGET_ACTIONS_PER_S
    memory_ok = growth.rss_growth_mb < TARGET_RSS_GROWTH_MB
    notes = [
        f"Target >= {TARGET_ACTIONS_PER_S:,} actions/s at {largest:,}: "
        f"{'MET' if speed_ok else 'NOT MET'} (slowest: {slowest.format} "
        f"{slowest.actions_per_s:,.0f}/s)",
        f"Target peak RSS growth < {TARGET_RSS_GROWTH_MB:.0f} MB: "
        f"{'MET' if memory_ok else 'NOT MET'} (largest: {growth.format} at "
        f"{growth.actions:,}, {growth.rss_growth_mb:+.1f} MB)",
    ]
    return speed_ok, memory_ok, notes


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Plan:
    setup: Setup
    url: str
    key: str
    settings: dict[str, Any]  # the endpoint and the export operation
    runs: int
    validate: bool
    profile: bool


def measure(plan: Plan, size: int, answer_format: str, baseline_mb: float | None) -> ExportRow:
    """Exports `size` actions `plan.runs` times from a fresh server; the best run counts,
    the peak RSS covers them all."""
    profile: list[str] = []
    with plan.setup.server(plan.url, plan.settings) as server:
        startup_rss = server.peak_rss_mb()
        profiler = None
        profile_path = RESULTS_DIR / f"http_export{plan.setup.suffix}.{answer_format}.pyspy.txt"
        if plan.profile:
            RESULTS_DIR.mkdir(exist_ok=True)
            profile_path.unlink(missing_ok=True)
            profiler = start_profile(server, profile_path)
        runs = [stream_export(server, plan.key, answer_format, size) for _ in range(plan.runs)]
        if profiler is not None:
            stop_profile(profiler)
            profile = summarize_profile(profile_path)
        peak_rss = server.peak_rss_mb()
        if plan.validate:
            validate_export(server, plan.key, answer_format, size)
    best = min(runs, key=lambda r: r.seconds)
    row = ExportRow(
        actions=size,
        format=answer_format,
        seconds=best.seconds,
        actions_per_s=size / best.seconds,
        mb_per_s=best.bytes / best.seconds / 1e6,
        bytes=best.bytes,
        first_byte_ms=best.first_byte_s * 1000,
        server_cpu_s=best.server_cpu_s,
        actions_per_server_cpu_s=size / best.server_cpu_s if best.server_cpu_s else 0.0,
        client_cpu_s=best.client_cpu_s,
        server_startup_rss_mb=startup_rss,
        server_peak_rss_mb=peak_rss,
        rss_growth_mb=peak_rss - (peak_rss if baseline_mb is None else baseline_mb),
        runs_s=tuple(r.seconds for r in runs),
        profile=tuple(profile),
    )
    print(
        f"  {answer_format} {size:,}: {row.actions_per_s:,.0f} actions/s "
        f"({row.actions_per_server_cpu_s:,.0f} per server CPU second), first byte "
        f"{row.first_byte_ms:.0f} ms, peak RSS {peak_rss:.1f} MB (after start-up "
        f"{startup_rss:.1f} MB)",
        file=sys.stderr,
    )
    return row


def _arguments() -> tuple[argparse.Namespace, Setup]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=increasing_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--format", choices=("xml", "json", "both"), default="both")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="timed exports per size and format (best counts)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the largest exports")
    add_setup_arguments(parser)
    args = parser.parse_args()
    args.formats = ["xml", "json"] if args.format == "both" else [args.format]
    return args, setup_from(args, parser)


def export_settings(key: str) -> dict[str, Any]:
    """The configuration a server needs for the export: its Maestra endpoint and operation."""
    return maestra_settings(ENDPOINT, key, [{"name": OPERATION, "kind": "ExportBalanceChanges"}])


def _grow_and_measure(
    setup: Setup, args: argparse.Namespace, workdir: Path, seeding: dict[int, float]
) -> list[ExportRow]:
    """Grows the database through the sizes and measures every format at each; the
    seconds each size took to seed go to `seeding`."""
    sizes: list[int] = args.sizes
    settings = export_settings(new_secret())
    key = settings["endpoints"][0]["secret_key"]
    step_ms = step_for(sizes[-1])
    rows: list[ExportRow] = []
    with setup.fresh_database(workdir, "export") as url:
        for size in sizes:
            seeding[size] = grow(url, setup.pool_config(), size, args.customers, step_ms)
            print(f"seeded {size:,} actions in {seeding[size]:.1f}s", file=sys.stderr)
            for answer_format in args.formats:
                plan = Plan(
                    setup=setup,
                    url=url,
                    key=key,
                    settings=settings,
                    runs=args.runs,
                    validate=size == sizes[0] and size <= VALIDATE_ACTIONS_MAX,
                    profile=args.profile and size == sizes[-1],
                )
                baseline = next(
                    (r.server_peak_rss_mb for r in rows if r.format == answer_format), None
                )
                rows.append(measure(plan, size, answer_format, baseline))
    return rows


def _notes(
    rows: list[ExportRow],
    seeding: dict[int, float],
    load: tuple[float, float],
    args: argparse.Namespace,
    setup: Setup,
) -> list[str]:
    """What the table does not show: start-up memory, CPU, load, seeding, the checks."""
    smallest = args.sizes[0]
    startup = ", ".join(f"{r.format} {r.actions:,}: {r.server_startup_rss_mb:.1f}" for r in rows)
    cpu = ", ".join(f"{r.format} {r.actions:,}: {r.actions_per_server_cpu_s:,.0f}" for r in rows)
    parsed = (
        f"; the {smallest:,} exports were also parsed whole (ids, order, points, points "
        "of contact)."
        if smallest <= VALIDATE_ACTIONS_MAX
        else "."
    )
    return [
        f"Server RSS (VmHWM) right after start-up, MB: {startup}",
        f"Actions per server CPU second (less sensitive to other load): {cpu}",
        f"Load average (1 min) before/after: {load[0]:.1f}/{load[1]:.1f} on "
        f"{os.cpu_count()} CPUs; best of {args.runs} runs each; ran on {setup.label}",
        "Seeding (server stopped, in process): "
        + ", ".join(f"{size:,} in {s:.1f}s" for size, s in seeding.items()),
        "Checked: every export streamed exactly the seeded count and ended complete" + parsed,
    ]


def _print(rows: list[ExportRow], notes: list[str], smallest: int) -> None:
    print(table(rows, smallest))
    for note in notes:
        print(f"\n{note}")
    for row in rows:
        if row.profile:
            print(f"\npy-spy, {row.format} export of {row.actions:,} (share of samples):")
            print("\n".join(f"    {line}" for line in row.profile))


def _write(
    rows: list[ExportRow],
    verdict: tuple[bool, bool],
    seeding: dict[int, float],
    load: tuple[float, float],
    args: argparse.Namespace,
    setup: Setup,
) -> Path:
    speed_ok, memory_ok = verdict
    payload = {
        "rows": [asdict(r) for r in rows],
        "targets": {
            "actions_per_s": TARGET_ACTIONS_PER_S,
            "actions_per_s_met": speed_ok,
            "rss_growth_mb": TARGET_RSS_GROWTH_MB,
            "rss_growth_met": memory_ok,
        },
        "customers": args.customers,
        "runs": args.runs,
        "load_average": list(load),
        "cpus": os.cpu_count(),
        "seeding_s": {str(size): s for size, s in seeding.items()},
        "date_range": [wire_date(SINCE), wire_date(TILL)],
    }
    summary = [
        Summary(
            f"ExportBalanceChanges {r.format}, {r.actions:,} actions",
            r.actions_per_s,
            "actions/s",
            peak_rss_mb=r.server_peak_rss_mb,
        )
        for r in rows
    ]
    return write_json("http_export", payload, setup, summary)


def main() -> int:
    args, setup = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="pointkeeper-export-"))
    seeding: dict[int, float] = {}
    load_before = os.getloadavg()[0]
    try:
        rows = _grow_and_measure(setup, args, workdir, seeding)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    speed_ok, memory_ok, notes = verdicts(rows)
    notes += _notes(rows, seeding, load, args, setup)
    _print(rows, notes, args.sizes[0])
    path = _write(rows, (speed_ok, memory_ok), seeding, load, args, setup)
    print(f"\nwritten {shown(path)}")
    return 0


if __name__ == "__main__":
    run_main(main)
