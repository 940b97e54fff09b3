"""Importing promo codes from CSV with `pointkeeper import-codes`.

    .venv/bin/python bench/import_codes.py [--rows 1000000]

Writes a CSV of random 14-character codes and a configuration into a temp
dir, creates a pool, then times `pointkeeper import-codes` as an operator
runs it (a fresh process, start-up included) and checks that every row was
imported. Prints a markdown table (also bench/results/import_codes.json).
Target (issue 4): 1,000,000 codes in at most 20 s.
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
from pathlib import Path

import _harness as h

_alphabet = "ABCDEFGHJKMNPQRTUVWXY346789"


def _write_codes(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("value\n")
        for _ in range(rows):
            out.write("GEN-" + "".join(secrets.choice(_alphabet) for _ in range(10)) + "\n")


def _pointkeeper(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pointkeeper.cli", *args, "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POINTKEEPER_")}
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pointkeeper-import-") as folder:
        work = Path(folder)
        config = work / "pointkeeper.toml"
        config.write_text(f'[database]\nurl = "sqlite:///{work}/db.sqlite"\n')
        codes = work / "codes.csv"
        _write_codes(codes, args.rows)
        made = _pointkeeper("pools", "put", "GEN", "--name", "Generated", config=config)
        if made.returncode != 0:
            raise h.BenchError(f"pools put failed: {made.stderr.strip()}")
        started = time.perf_counter()
        imported = _pointkeeper("import-codes", "GEN", str(codes), config=config)
        seconds = time.perf_counter() - started
        if imported.returncode != 0:
            raise h.BenchError(f"import-codes failed ({imported.returncode}): {imported.stderr}")
        summary = json.loads(imported.stdout.strip().splitlines()[-1])
        if summary["imported"] != args.rows:
            raise h.BenchError(f"imported {summary['imported']} of {args.rows} rows")
        rss = _peak_rss_mb()
    print("| rows | seconds (wall, with start-up) | seconds (import) | rows/s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rows:,} | {seconds:.1f} | {summary['seconds']:.1f} | "
        f"{args.rows / seconds:,.0f} | {rss:.0f} |"
    )
    if args.rows < 1_000_000:
        print("\nTarget 1,000,000 codes in <= 20 s: not judged (fewer rows)")
    else:
        print(f"\nTarget 1,000,000 codes in <= 20 s: {'MET' if seconds <= 20 else 'NOT MET'}")
    path = h.write_json(
        "import_codes",
        {
            "rows": args.rows,
            "seconds": seconds,
            "import_seconds": summary["seconds"],
            "peak_rss_mb": rss,
        },
    )
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except h.BenchError as error:
        print(f"BENCH FAILED: {error}", file=sys.stderr)
        sys.exit(1)
