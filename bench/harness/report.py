"""A benchmark's results: the markdown table of its wrk runs (`Row`), the `Summary`
lines bench/run_postgres.py gathers, and the JSON under bench/results/."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .setup import Setup
from .wrk import WrkResult

__all__ = [
    "BENCH_DIR",
    "RESULTS_DIR",
    "Row",
    "Summary",
    "print_table",
    "rows_json",
    "rows_table",
    "shown",
    "write_json",
]

BENCH_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True)
class Row:
    benchmark: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_peak_rss_mb: float
    # SQLite runs that write: the largest the write-ahead log grew during the run.
    peak_wal_mb: float | None = None

    @classmethod
    def of(
        cls,
        name: str,
        connections: int,
        result: WrkResult,
        rss_mb: float,
        *,
        peak_wal_mb: float | None = None,
    ) -> Row:
        return cls(
            name,
            connections,
            result.requests_per_s,
            result.p50_ms,
            result.p99_ms,
            rss_mb,
            peak_wal_mb,
        )


def rows_table(rows: list[Row]) -> str:
    with_wal = any(r.peak_wal_mb is not None for r in rows)
    wal_head, wal_rule = (" peak WAL MB |", "---:|") if with_wal else ("", "")
    lines = [
        "| benchmark | connections | requests/s | p50 ms | p99 ms | server peak RSS MB |"
        + wal_head,
        f"|---|---:|---:|---:|---:|---:|{wal_rule}",
    ]
    for r in rows:
        wal = ""
        if with_wal:
            wal = " - |" if r.peak_wal_mb is None else f" {r.peak_wal_mb:.1f} |"
        lines.append(
            f"| {r.benchmark} | {r.connections} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.server_peak_rss_mb:.1f} |{wal}"
        )
    return "\n".join(lines)


def print_table(rows: list[Row], notes: Iterable[str] = ()) -> None:
    print(rows_table(rows))
    for note in notes:
        print(f"\n{note}")


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


@dataclass(frozen=True)
class Summary:
    """One line of bench/run_postgres.py's table: what a script measured, in a shape
    common to every script."""

    scenario: str
    throughput: float
    unit: str  # of throughput
    p50_ms: float | None = None
    p99_ms: float | None = None
    peak_rss_mb: float | None = None  # of the server's process tree (or the importers')

    @classmethod
    def of(cls, row: Row, unit: str = "requests/s") -> Summary:
        return cls(
            row.benchmark, row.requests_per_s, unit, row.p50_ms, row.p99_ms, row.server_peak_rss_mb
        )


def write_json(
    name: str,
    payload: dict[str, Any],
    setup: Setup | None = None,
    summary: Iterable[Summary] = (),
) -> Path:
    """bench/results/<name><setup.suffix>.json, with the set-up and summary added."""
    RESULTS_DIR.mkdir(exist_ok=True)
    if setup is not None:
        name += setup.suffix
        payload = {**payload, "setup": setup.as_json()}
    payload = {**payload, "summary": [asdict(line) for line in summary]}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def shown(path: Path) -> str:
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
