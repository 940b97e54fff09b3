"""Running wrk: the command line, the Lua literals its scripts embed, and its output
parsed into a `WrkResult` (with `check_busy`, which tells a stall from a measurement)."""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .failures import BenchError

__all__ = [
    "WRK_THREADS",
    "WrkResult",
    "check_busy",
    "lua_string",
    "parse_wrk",
    "raise_file_limit",
    "require_wrk",
    "run_wrk",
]

WRK = "wrk"
WRK_THREADS = 2
# Below this share of busy connections a wrk run is a stall, not a measurement.
BUSY_MIN = 0.7


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    mean_ms: float = 0.0

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())

    def busy(self, connections: int) -> float:
        """The share of the run the connections had a request out, by Little's law
        (answers/s x mean latency / connections): close to 1 when the server keeps up
        with wrk, far below when requests sat unanswered (those count in no latency)."""
        return self.requests_per_s * self.mean_ms / 1000 / connections


def check_busy(name: str, result: WrkResult, connections: int) -> None:
    """Raises BenchError when the connections were mostly waiting for answers that never
    came: the rate would then measure the stall."""
    busy = result.busy(connections)
    if result.requests and busy < BUSY_MIN:
        raise BenchError(
            f"{name}: {result.requests} answers in {result.duration_s:.1f}s at a mean "
            f"{result.mean_ms:.1f} ms over {connections} connections: they were busy only "
            f"{busy:.0%} of the run; the server stopped answering some requests"
        )


# wrk prints times with units us / ms / s / m / h (src/units.c).
_TIME_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)\b"


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _TIME_MS[unit]


def _need(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise BenchError(f"wrk output has no match for {pattern!r}:\n{text}")
    return match


def parse_wrk(text: str) -> WrkResult:
    """Parse `wrk --latency` output (wrk 4.x)."""
    total = _need(rf"^\s*(\d+) requests in {_TIME}", text)
    mean = _need(rf"^\s*Latency\s+{_TIME}", text)
    p50 = _need(rf"^\s*50%\s+{_TIME}", text)
    p99 = _need(rf"^\s*99%\s+{_TIME}", text)
    rate = _need(r"^Requests/sec:\s+([\d.]+)", text)
    # These two lines only appear when the count is non-zero.
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=_to_ms(total.group(2), total.group(3)) / 1000,
        requests_per_s=float(rate.group(1)),
        p50_ms=_to_ms(p50.group(1), p50.group(2)),
        p99_ms=_to_ms(p99.group(1), p99.group(2)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        mean_ms=_to_ms(mean.group(1), mean.group(2)),
        socket_errors=dict(
            zip(
                ("connect", "read", "write", "timeout"),
                (int(g) for g in errors.groups()) if errors else (0, 0, 0, 0),
                strict=True,
            )
        ),
    )


def raise_file_limit(wanted: int) -> None:
    """Raises this process's open-file limit (which wrk and the server inherit)
    towards ``wanted``, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def require_wrk() -> None:
    if shutil.which(WRK) is None:
        print("install wrk: apt-get install wrk", file=sys.stderr)
        raise SystemExit(2)


def run_wrk(
    url: str,
    connections: int,
    duration_s: int,
    script: Path | None = None,
    timeout_s: int | None = None,
) -> WrkResult:
    """`timeout_s`: wrk's per-request timeout (its default is 2 s; a slower answer is a
    socket error and left out of the latency percentiles)."""
    command = [WRK, "--latency", "-t", str(WRK_THREADS), "-c", str(connections)]
    command += ["-d", f"{duration_s}s"]
    if timeout_s is not None:
        command += ["--timeout", f"{timeout_s}s"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    print(done.stdout.rstrip(), file=sys.stderr)  # raw output for the curious, off stdout
    return parse_wrk(done.stdout)


def lua_string(value: str) -> str:
    # A JSON string literal is a valid Lua string literal for the ASCII we embed.
    return json.dumps(value)
