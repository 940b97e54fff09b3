"""Importing promo codes from CSV with `pointkeeper import-codes`.

    .venv/bin/python bench/import_codes.py [--rows 1000000]
                                           [--database sqlite|postgres] [--processes N]
                                           [--database-url postgresql://...]

Writes a CSV of random 14-character codes and a configuration into a temp
dir, creates a pool, then times `pointkeeper import-codes` as an operator
runs it (a fresh process, start-up included) and checks that every row was
imported. Prints a markdown table (also
bench/results/import_codes[.<database>-p<N>].json).
Target (issue 4): 1,000,000 codes in at most 20 s.

There is no server here: `--processes N` runs N `pointkeeper import-codes` at
once, each with its own CSV of rows/N codes into the same pool (operators
importing several files side by side, all writing to one database); the time
is the wall time until the last one ends and the peak RSS is the sum of theirs.
`--database postgres` imports into a fresh PostgreSQL database, dropped
afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.configs import write_config
from harness.failures import BenchError, run_main
from harness.report import Summary, shown, write_json
from harness.servers import pointkeeper_command, server_environment
from harness.setup import Setup, add_setup_arguments, setup_from
from pointkeeper.domain.promo import generate_value

POOL = "GEN"
# Ten random characters of the product's code alphabet, as `generate_value` makes them.
CODE_PATTERN = "GEN-XXXXXXXXXX"


def _write_codes(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("value\n")
        for _ in range(rows):
            out.write(generate_value(CODE_PATTERN) + "\n")


def _command(*args: str, config: Path) -> list[str]:
    return [*pointkeeper_command(), *args, "--config", str(config)]


def _pointkeeper(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    command = _command(*args, config=config)
    env = server_environment()
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float


def _import_at_once(files: list[Path], config: Path, work: Path) -> list[Finished]:
    """One `import-codes` per file, all started together; each one's exit, output and
    peak RSS (from wait4: getrusage of the children would give only the largest)."""
    started: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
    for n, codes in enumerate(files):
        out, err = work / f"import.{n}.out", work / f"import.{n}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                _command("import-codes", POOL, str(codes), config=config),
                stdout=stdout,
                stderr=stderr,
                env=server_environment(),
            )
        started.append((process, out, err))
    finished = []
    for process, out, err in started:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        finished.append(
            Finished(
                process.returncode,
                out.read_text(),
                err.read_text(),
                usage.ru_maxrss / 1024,
            )
        )
    return finished


def _arguments() -> tuple[argparse.Namespace, Setup]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    add_setup_arguments(parser)
    args = parser.parse_args()
    setup = setup_from(args, parser, serves=False)
    if args.rows < setup.processes:
        parser.error("--rows must be at least --processes")
    return args, setup


def _prepare(work: Path, url: str, setup: Setup, rows: int) -> tuple[Path, list[Path], list[int]]:
    """The configuration, the pool and one CSV per process; answers the configuration,
    the CSVs and their rows."""
    config = write_config(
        work / "pointkeeper.toml", {"database": {"url": url, **setup.pool_config()}}
    )
    shares = [rows // setup.processes] * setup.processes
    shares[0] += rows - sum(shares)
    files = []
    for n, share in enumerate(shares):
        files.append(work / f"codes.{n}.csv")
        _write_codes(files[-1], share)
    made = _pointkeeper("pools", "put", POOL, "--name", "Generated", config=config)
    if made.returncode != 0:
        raise BenchError(f"pools put failed: {made.stderr.strip()}")
    return config, files, shares


@dataclass(frozen=True)
class Imported:
    seconds: float  # wall, start-up included, until the last import ended
    import_seconds: float  # the slowest import's own figure
    peak_rss_mb: float  # summed over the importers


def _import(config: Path, files: list[Path], shares: list[int], work: Path) -> Imported:
    """All imports at once, each checked to have imported every row of its file."""
    started = time.perf_counter()
    finished = _import_at_once(files, config, work)
    seconds = time.perf_counter() - started
    summaries = []
    for done, share in zip(finished, shares, strict=True):
        if done.returncode != 0:
            raise BenchError(f"import-codes failed ({done.returncode}): {done.stderr}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        if summary["imported"] != share:
            raise BenchError(f"imported {summary['imported']} of {share} rows")
        summaries.append(summary)
    import_seconds = max(summary["seconds"] for summary in summaries)
    return Imported(seconds, import_seconds, sum(done.peak_rss_mb for done in finished))


def _report(imported: Imported, rows: int, setup: Setup) -> None:
    seconds, rss = imported.seconds, imported.peak_rss_mb
    print(
        "| rows | processes | seconds (wall, with start-up) | seconds (import) | rows/s "
        "| peak RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {rows:,} | {setup.processes} | {seconds:.1f} | {imported.import_seconds:.1f} | "
        f"{rows / seconds:,.0f} | {rss:.0f} |"
    )
    if rows < 1_000_000:
        print("\nTarget 1,000,000 codes in <= 20 s: not judged (fewer rows)")
    else:
        print(f"\nTarget 1,000,000 codes in <= 20 s: {'MET' if seconds <= 20 else 'NOT MET'}")
    print(f"\nRan on {setup.label}")
    path = write_json(
        "import_codes",
        {
            "rows": rows,
            "seconds": seconds,
            "import_seconds": imported.import_seconds,
            "peak_rss_mb": rss,
        },
        setup,
        [Summary("import-codes", rows / seconds, "codes/s", peak_rss_mb=rss)],
    )
    print(f"\nwritten {shown(path)}")


def main() -> int:
    args, setup = _arguments()
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-import-") as folder,
        setup.fresh_database(Path(folder), "db") as url,
    ):
        work = Path(folder)
        config, files, shares = _prepare(work, url, setup, args.rows)
        imported = _import(config, files, shares, work)
    _report(imported, args.rows, setup)
    return 0


if __name__ == "__main__":
    run_main(main)
