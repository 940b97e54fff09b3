"""Every benchmark on PostgreSQL with 1, 2 and 4 server processes, in one table.

    .venv/bin/python bench/run_postgres.py [--processes 1,2,4] [--duration 10]
                                           [--connections 64]
                                           [--only earn,authorize,promo,export,import]
                                           [--writers N] [--connections-max N]
                                           [--postgres-server URL] [--quick]

Runs each benchmark script as a process of its own with `--database postgres
--processes N` (a fresh pointkeeper_bench_<random> database each time, dropped
afterwards), one after the other, and reads what it measured from the `summary` of its
bench/results/<script>.postgres-p<N>.json. Prints one markdown table, scenario by
scenario, each with its 1, 2 and 4 process rows together: throughput, p50 / p99 latency
(wrk's; none for the export, one request, or the import, no server) and the peak RSS of
the server's whole process tree (of the importers, for the import). The table and rows
are also written to bench/results/run_postgres.json; each script's own output goes to
bench/results/run_postgres/<script>.p<N>.log.

The scripts keep their own defaults (a full run takes a long while: the export seeds a
million actions through the services, and the promo benchmark seeds two pools of up to a
million codes, for every process count). `--quick` runs each briefly on small data: it
shows that everything works, its figures mean nothing. A script that fails shows
FAILED with its reason in the table and the others still run; the exit status is then 1.
Run it on a quiet machine: the server, PostgreSQL and wrk share its CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.databases import POSTGRES_SERVER, redact_url
from harness.report import BENCH_DIR, RESULTS_DIR, shown, write_json
from harness.setup import Setup
from harness.wrk import require_wrk

LOGS_DIR = RESULTS_DIR / "run_postgres"


@dataclass(frozen=True)
class Scenario:
    name: str  # for --only
    script: str
    result: str  # the script's result name, before the set-up suffix
    full: tuple[str, ...]  # arguments of a real measurement (beyond the scripts' defaults)
    quick: tuple[str, ...]  # of a check that it works
    wrk: bool  # takes --duration and --connections


SCENARIOS = (
    Scenario("earn", "http_earn.py", "http_earn", (), ("--customers", "100"), wrk=True),
    Scenario("authorize", "http_authorize.py", "http_authorize", (), (), wrk=True),
    Scenario(
        "promo",
        "http_promo.py",
        "http_promo",
        (),
        ("--sizes", "2000,8000", "--rounds", "1"),
        wrk=True,
    ),
    Scenario(
        "export",
        "http_export.py",
        "http_export",
        (),
        ("--sizes", "2000,5000", "--customers", "200", "--runs", "1"),
        wrk=False,
    ),
    Scenario("import", "import_codes.py", "import_codes", (), ("--rows", "20000"), wrk=False),
)


@dataclass(frozen=True)
class Line:
    scenario: str
    processes: int
    throughput: float | None
    unit: str
    p50_ms: float | None
    p99_ms: float | None
    peak_rss_mb: float | None
    failure: str | None = None


def _numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not numbers or any(n < 1 for n in numbers):
        raise argparse.ArgumentTypeError("process counts must be positive")
    return numbers


def command(scenario: Scenario, processes: int, args: argparse.Namespace) -> list[str]:
    found = [sys.executable, str(BENCH_DIR / scenario.script)]
    found += ["--database", "postgres", "--processes", str(processes)]
    found += ["--postgres-server", args.postgres_server]
    if args.writers is not None:
        found += ["--writers", str(args.writers)]
    if args.connections_max is not None:
        found += ["--connections-max", str(args.connections_max)]
    found += list(scenario.quick if args.quick else scenario.full)
    if scenario.wrk:
        duration = args.duration if args.duration is not None else (3 if args.quick else None)
        connections = args.connections or (16 if args.quick else None)
        if duration is not None:
            found += ["--duration", str(duration)]
        if connections is not None:
            found += ["--connections", str(connections)]
    return found


def _last_error(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    failed = [line for line in lines if line.startswith("BENCH FAILED")]
    chosen = failed[-1] if failed else next((ln for ln in reversed(lines) if ln.strip()), "")
    return chosen.removeprefix("BENCH FAILED: ")[:300]


def run(scenario: Scenario, processes: int, args: argparse.Namespace) -> list[Line]:
    setup = Setup("postgres", None, processes)
    result = RESULTS_DIR / f"{scenario.result}{setup.suffix}.json"
    result.unlink(missing_ok=True)  # never report a previous run's figures
    log = LOGS_DIR / f"{Path(scenario.script).stem}.p{processes}.log"
    call = command(scenario, processes, args)
    print(f"== {scenario.name}, {setup.label}: {' '.join(call[1:])}", file=sys.stderr)
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(call, stdout=out, stderr=subprocess.STDOUT, check=False)
    print(f"   {time.perf_counter() - started:.0f}s, exit {done.returncode}", file=sys.stderr)
    if done.returncode != 0 or not result.exists():
        reason = _last_error(log) or f"exit {done.returncode}"
        return [Line(scenario.name, processes, None, "", None, None, None, reason)]
    summary: list[dict[str, Any]] = json.loads(result.read_text())["summary"]
    return [
        Line(
            row["scenario"],
            processes,
            row["throughput"],
            row["unit"],
            row["p50_ms"],
            row["p99_ms"],
            row["peak_rss_mb"],
        )
        for row in summary
    ]


def _figure(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def table(lines: list[Line]) -> str:
    # Each scenario's rows together, in the order they first came.
    order = {name: n for n, name in enumerate(dict.fromkeys(line.scenario for line in lines))}
    ordered = sorted(lines, key=lambda line: (order[line.scenario], line.processes))
    text = [
        "| scenario | processes | throughput | unit | p50 ms | p99 ms | peak RSS MB |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for line in ordered:
        if line.failure is not None:
            reason = line.failure.replace("|", "\\|")
            text.append(f"| {line.scenario} | {line.processes} | FAILED | {reason} | - | - | - |")
            continue
        text.append(
            f"| {line.scenario} | {line.processes} | {_figure(line.throughput, ',.0f')} | "
            f"{line.unit} | {_figure(line.p50_ms, '.2f')} | {_figure(line.p99_ms, '.2f')} | "
            f"{_figure(line.peak_rss_mb, '.0f')} |"
        )
    return "\n".join(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=_numbers, default=[1, 2, 4])
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=[scenario.name for scenario in SCENARIOS],
        help="scenarios, of " + ", ".join(scenario.name for scenario in SCENARIOS),
    )
    parser.add_argument("--duration", type=int, help="seconds per wrk run (scripts' default)")
    parser.add_argument("--connections", type=int, help="wrk connections (scripts' default)")
    parser.add_argument("--writers", type=int, help="[database] writers per process")
    parser.add_argument("--connections-max", type=int, help="[database] connections_max")
    parser.add_argument("--postgres-server", default=POSTGRES_SERVER)
    parser.add_argument("--quick", action="store_true", help="short runs on small data")
    args = parser.parse_args()
    unknown = set(args.only) - {scenario.name for scenario in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    require_wrk()
    LOGS_DIR.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()
    lines: list[Line] = []
    for scenario in SCENARIOS:
        if scenario.name in args.only:
            for processes in args.processes:
                lines += run(scenario, processes, args)
    load_after = os.getloadavg()

    print(table(lines))
    print(
        f"\nPostgreSQL at {redact_url(args.postgres_server)}; load average (1 min) "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} CPUs"
        + ("; --quick: these figures mean nothing" if args.quick else "")
    )
    path = write_json(
        "run_postgres",
        {
            "lines": [asdict(line) for line in lines],
            "table": table(lines),
            "quick": args.quick,
            "load_average_1m": [load_before[0], load_after[0]],
            "cpus": os.cpu_count(),
        },
    )
    print(f"\nwritten {shown(path)}; each script's output in {shown(LOGS_DIR)}")
    return 1 if any(line.failure for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
