"""Shared pieces of pointkeeper's benchmarks, one module per concern.

A benchmark script builds a throwaway server (`servers.bench_server`, or
`setup.Setup.server` for the set-up given on its command line), seeds data through the
admin API (`customers`), drives load with wrk (`wrk`), samples the server's process tree
(`measure`) and reports with `report`. `failures.run_main` runs its `main`. Everything is
stdlib, httpx and pointkeeper itself (its configuration model, wire codecs and store
helpers, so the benchmarks cannot drift from the product); the only outside tool is wrk
(and py-spy, for `profile`).

The scripts run as `python bench/<name>.py`: Python puts `bench/` first on the import
path, which is what makes `import harness` work without installing anything.
"""

from __future__ import annotations

__all__: list[str] = []
