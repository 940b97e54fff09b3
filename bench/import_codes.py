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
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _harness as h

_alphabet = "ABCDEFGHJKMNPQRTUVWXY346789"


def _write_codes(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("value\n")
        for _ in range(rows):
            out.write("GEN-" + "".join(secrets.choice(_alphabet) for _ in range(10)) + "\n")


def _command(*args: str, config: Path) -> list[str]:
    return [sys.executable, "-m", "pointkeeper.cli", *args, "--config", str(config)]


def _pointkeeper(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    command = _command(*args, config=config)
    env = h.server_environment()
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
                _command("import-codes", "GEN", str(codes), config=config),
                stdout=stdout,
                stderr=stderr,
                env=h.server_environment(),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    h.add_setup_arguments(parser)
    args = parser.parse_args()
    setup = h.setup_from(args, parser, serves=False)
    if args.rows < setup.processes:
        parser.error("--rows must be at least --processes")
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-import-") as folder,
        setup.fresh_database(Path(folder), "db") as url,
    ):
        work = Path(folder)
        config = work / "pointkeeper.toml"
        config.write_text(f"[database]\nurl = {json.dumps(url)}\n{setup.database_toml()}")
        shares = [args.rows // setup.processes] * setup.processes
        shares[0] += args.rows - sum(shares)
        files = []
        for n, share in enumerate(shares):
            files.append(work / f"codes.{n}.csv")
            _write_codes(files[-1], share)
        made = _pointkeeper("pools", "put", "GEN", "--name", "Generated", config=config)
        if made.returncode != 0:
            raise h.BenchError(f"pools put failed: {made.stderr.strip()}")
        started = time.perf_counter()
        finished = _import_at_once(files, config, work)
        seconds = time.perf_counter() - started
        summaries = []
        for done, share in zip(finished, shares, strict=True):
            if done.returncode != 0:
                raise h.BenchError(f"import-codes failed ({done.returncode}): {done.stderr}")
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            if summary["imported"] != share:
                raise h.BenchError(f"imported {summary['imported']} of {share} rows")
            summaries.append(summary)
        rss = sum(done.peak_rss_mb for done in finished)
    import_seconds = max(summary["seconds"] for summary in summaries)
    print(
        "| rows | processes | seconds (wall, with start-up) | seconds (import) | rows/s "
        "| peak RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rows:,} | {setup.processes} | {seconds:.1f} | {import_seconds:.1f} | "
        f"{args.rows / seconds:,.0f} | {rss:.0f} |"
    )
    if args.rows < 1_000_000:
        print("\nTarget 1,000,000 codes in <= 20 s: not judged (fewer rows)")
    else:
        print(f"\nTarget 1,000,000 codes in <= 20 s: {'MET' if seconds <= 20 else 'NOT MET'}")
    print(f"\nRan on {setup.label}")
    path = h.write_json(
        "import_codes",
        {
            "rows": args.rows,
            "seconds": seconds,
            "import_seconds": import_seconds,
            "peak_rss_mb": rss,
        },
        setup,
        [h.Summary("import-codes", args.rows / seconds, "codes/s", peak_rss_mb=rss)],
    )
    print(f"\nwritten {h.shown(path)}")
    return 0


if __name__ == "__main__":
    h.run_main(main)
