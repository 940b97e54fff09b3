"""Speed of Maestra IssuePromoCode (mode from-pool) against the size of the pool.

    .venv/bin/python bench/http_promo.py [--sizes 10000,1000000] [--connections 64]
                                         [--duration 10] [--rounds 3] [--issues N]
                                         [--drained 0.5] [--format xml|json]
                                         [--customers 1000] [--profile]
                                         [--database sqlite|postgres] [--processes N]

Set-up. For every pool size a database (a SQLite file, or with `--database postgres` a
fresh PostgreSQL database per pool, dropped afterwards) is seeded in process while no
server has it open: a single-use pool filled with that many random 12-character codes (issue order
unrelated to value order, as in a generated pool) through `services.promo.import_codes`,
100,000 codes per write transaction. With `--drained F` (default 0.5) the largest pool
is also copied and, once its server runs, F of its codes are marked issued (plain SQL, see
`drain`): a pool that has been in use for a while, which is where a search for the next
free code that walks past issued ones shows. Each database gets its own server
(`[[operations]] kind = "IssuePromoCode", mode = "from-pool"`), the customers through the
admin API and a short sequential warm-up of real issues, so every server is up at once.

Measurement. wrk POSTs `/v3/operations/sync` (`Authorization: SecretKey`, customers
round robin) to the servers in turn, `--rounds` times (each round starts with the next
pool), and the table shows each pool's median round: interleaving is what makes a 10%
comparison mean something on a box shared with other work (the load average is printed).
Every run makes the same number of issues at every pool, `--issues` (default: what
leaves the smallest pool a quarter full after all rounds). Each wrk thread stops itself
once it has its share (`--duration` is only an upper bound) and the rate is issues over
the time from the first request sent to the last answer read.

What "pool size" means: the codes the pool holds when wrk starts. The smallest pool is
never drained (an empty pool answers NoAvailablePromoCodesInPool, cheaper than an issue,
which would flatter the rate), and since every pool makes the same number of issues, the
pools differ only in their size (and the drained one in its history).

Correctness, per pool over all its runs: every answer is HTTP 200 with issueStatus Issued
and a code value; no value was handed out twice; every value answered is newly issued in
the database; the database holds at most one more issue per connection and run than
wrk counted (requests in flight when wrk stopped) plus socket errors; the admin API's
pool counts agree. A round whose answers stop coming more than a second before
`--duration` ends, with issues still to make, fails: the server stalled.

Prints a markdown table (also written to bench/results/http_promo[.<database>-p<N>].json),
the speed ratios
to the smallest pool, and whether the targets hold over every row: at least 3,000
issues/s, the same within 10% whatever the pool. `--profile` samples each server with
py-spy during its wrk runs and prints where the time goes (py-spy takes CPU from the
server and wrk on a small box: the rates of a profiled run are lower).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

import _harness as h
from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.services import promo
from pointkeeper.store import open_store

ENDPOINT = "bench"
OPERATION = "Issue"
POOL = "BENCH-POOL"
CODES_PER_TRANSACTION = 100_000
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_CHARS = 12
WARMUP_ISSUES = 50
# wrk's default 2 s would turn slow answers into socket errors, left out of the latency
# percentiles; the slowest case here (a drained pool on a slow plan) needs several seconds.
WRK_TIMEOUT_S = 60
SETTLE_LIMIT_S = 120
# No answer for this long while wrk still had issues to make is a stall, not slowness.
STALL_S = 1.0
# Issue 4's target on SQLite; issue 5's on PostgreSQL (with 1, 2 or 4 processes).
TARGET_ISSUES_PER_S = {"sqlite": 3_000, "postgres": 1_500}
TARGET_SPREAD = 0.10
CONTENT_TYPE = {"xml": "application/xml", "json": "application/json"}


def operation_toml(key: str) -> str:
    """`extra_toml` for `bench_server`: the endpoint and the from-pool issue operation."""
    return f"""
[[endpoints]]
id = {json.dumps(ENDPOINT)}
secret_key = {json.dumps(key)}

[[operations]]
name = {json.dumps(OPERATION)}
kind = "IssuePromoCode"
endpoints = [{json.dumps(ENDPOINT)}]
mode = "from-pool"
"""


def issue_body(answer_format: str, customer: str) -> str:
    if answer_format == "xml":
        return (
            f"<operation><customer><ids><customerNumber>{customer}</customerNumber></ids>"
            f"</customer><promoCode><pool><ids><externalId>{POOL}</externalId></ids></pool>"
            "</promoCode></operation>"
        )
    return json.dumps(
        {
            "customer": {"ids": {"customerNumber": customer}},
            "promoCode": {"pool": {"ids": {"externalId": POOL}}},
        },
        separators=(",", ":"),
    )


# --------------------------------------------------------------------------- seeding


def code_values(count: int, seed: int) -> list[str]:
    """`count` distinct random values, as a generated pool would hold: issue order (by
    id) is unrelated to value order, so looking a code up by value hits the whole index."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        for _ in range(count - len(found)):
            found["".join(rng.choices(CODE_ALPHABET, k=CODE_CHARS))] = None
    return list(found)


def seed_pool(url: str, size: int) -> float:
    """Creates the pool with `size` codes in a database no server has open yet; answers
    the seconds it took."""
    started = time.perf_counter()
    config = parse_config({"database": {"url": url}, "programs": [{"name": h.PROGRAM}]}, {})
    values = code_values(size, seed=size)
    store = open_store(DatabaseConfig(url=url), programs=config.programs)
    try:
        store.write_sync(promo.put_pool, POOL, values={"name": "Bench pool", "multi_use": False})
        for start in range(0, size, CODES_PER_TRANSACTION):
            rows = [
                promo.ImportRow(start + i + 1, value)
                for i, value in enumerate(values[start : start + CODES_PER_TRANSACTION])
            ]
            result = store.write_sync(promo.import_codes, POOL, rows)
            if result.imported != len(rows):
                raise h.BenchError(f"import refused {result.rejected[:3]}")
    finally:
        store.close()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- issuing

# wrk Lua. Request k of thread `id` is number k*THREADS + id, which picks the customer
# round robin. Every answer is checked for HTTP 200 and issueStatus Issued and its code
# value kept; a thread stops once it has `share` answers. wrk's main thread sleeps for the
# whole `-d` whatever its threads do, so a stopping thread leaves a marker file and the
# one that finds every marker sends wrk SIGINT, which ends that sleep (wrk then reports
# as usual). The threads also note when they sent their first request and read their
# last answer (monotonic clock, through LuaJIT's ffi): the rate is computed from those,
# not from wrk's runtime. `done` writes what the threads saw to `out`: "time <first sent>
# <last answer>", "bad <count> <first bad answer>" and "code <value>" lines.
ISSUE_LUA = """\
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
int getpid(void);
int kill(int pid, int signal);
]]
local timespec = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, timespec)  -- CLOCK_MONOTONIC, shared by the threads
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local function exists(path)
  local file = io.open(path, "r")
  if file then
    file:close()
  end
  return file ~= nil
end

local threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.headers["Authorization"] = "SecretKey " .. {key}
wrk.headers["Content-Type"] = {content_type}
wrk.headers["Accept"] = {content_type}

sent = 0
answered = 0
bad = 0
first_bad = ""
issued = {{}}
first_sent = 0
last_answer = 0
stopping = false

function request()
  if sent == 0 then
    first_sent = now()
  end
  local seq = sent * {threads} + id
  sent = sent + 1
  local customer = string.format({customer_format}, seq % {customers} + 1)
  return wrk.format(nil, nil, nil, string.format({body}, customer))
end

function response(status, headers, body)
  last_answer = now()
  answered = answered + 1
  local value = nil
  if status == 200 and string.find(body, {issued_mark}) then
    value = string.match(body, {value_pattern})
  end
  if value then
    issued[#issued + 1] = value
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.gsub(string.sub(body, 1, 400), "%s+", " ")
    end
  end
  if answered >= {share} and not stopping then
    stopping = true
    wrk.thread:stop()
    assert(io.open({out} .. ".stopped." .. id, "w")):close()
    for other = 0, {threads} - 1 do
      if not exists({out} .. ".stopped." .. other) then
        return
      end
    end
    ffi.C.kill(ffi.C.getpid(), 2)  -- SIGINT: every thread is done, end the run now
  end
end

function done(summary, latency, requests)
  local out = assert(io.open({out}, "w"))
  for _, thread in ipairs(threads) do
    out:write("time ", thread:get("first_sent"), " ", thread:get("last_answer"), "\\n")
    out:write("bad ", thread:get("bad"), " ", thread:get("first_bad"), "\\n")
    for _, value in ipairs(thread:get("issued")) do
      out:write("code ", value, "\\n")
    end
  end
  out:close()
end
"""

ISSUED_MARK = {
    "xml": "<issueStatus>Issued</issueStatus>",
    "json": '"issueStatus"%s*:%s*"Issued"',
}
# The first value in the answer is promoCode/ids/value.
VALUE_PATTERN = {"xml": "<value>([^<]+)</value>", "json": '"value"%s*:%s*"([^"]+)"'}


def write_issue_script(
    server: h.Server, key: str, answer_format: str, customers: int, share: int, out: Path
) -> Path:
    # Lua's string.format wants % doubled in the body template.
    body = issue_body(answer_format, "CUSTOMER").replace("%", "%%").replace("CUSTOMER", "%s")
    mark = ISSUED_MARK[answer_format]
    script = server.workdir / "issue.lua"
    script.write_text(
        ISSUE_LUA.format(
            key=h.lua_string(key),
            content_type=h.lua_string(CONTENT_TYPE[answer_format]),
            threads=h.WRK_THREADS,
            customer_format=h.lua_string(h.CUSTOMER_FORMAT),
            customers=customers,
            body=h.lua_string(body),
            # A plain find for XML, a pattern for JSON's optional spaces.
            issued_mark=h.lua_string(mark) + (", 1, true" if answer_format == "xml" else ""),
            value_pattern=h.lua_string(VALUE_PATTERN[answer_format]),
            share=share,
            out=h.lua_string(str(out)),
        )
    )
    return script


@dataclass(frozen=True)
class Seen:
    values: list[str]
    bad: int
    first_bad: list[str]
    seconds: float  # first request sent to last answer read, over all threads


def read_seen(path: Path) -> Seen:
    if not path.exists():
        raise h.BenchError(f"wrk's done() wrote nothing to {path}")
    values: list[str] = []
    bad = 0
    first_bad: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "time":
            start, end = (float(part) for part in rest.split())
            if start and end:
                starts.append(start)
                ends.append(end)
        elif kind == "code":
            values.append(rest)
        elif kind == "bad":
            count, _, first = rest.partition(" ")
            bad += int(count)
            if first:
                first_bad.append(first)
    if not starts:
        raise h.BenchError("no wrk thread got an answer")
    return Seen(values, bad, first_bad, max(ends) - min(starts))


def warm_up(
    server: h.Server, key: str, answer_format: str, count: int, customers: int
) -> list[str]:
    """`count` sequential issues through httpx: fails fast, with the answer, when the
    operation does not work; answers the values issued."""
    values: list[str] = []
    headers = {
        "Authorization": f"SecretKey {key}",
        "Content-Type": CONTENT_TYPE[answer_format],
        "Accept": CONTENT_TYPE[answer_format],
    }
    params = {"endpointId": ENDPOINT, "operation": OPERATION}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        for i in range(count):
            body = issue_body(answer_format, h.customer_number(i % customers + 1))
            answer = client.post("/v3/operations/sync", params=params, content=body)
            value = _issued_value(answer, answer_format)
            if value is None:
                raise h.BenchError(f"warm-up issue {i}: {answer.status_code} {answer.text[:500]}")
            values.append(value)
    return values


def _issued_value(answer: httpx.Response, answer_format: str) -> str | None:
    if answer.status_code != 200:
        return None
    if answer_format == "json":
        block = answer.json().get("promoCode") or {}
        if block.get("issueStatus") != "Issued":
            return None
        return (block.get("ids") or {}).get("value")
    text = answer.text
    if ISSUED_MARK["xml"] not in text:
        return None
    start = text.find("<value>")
    return text[start + 7 : text.find("</value>", start)] if start >= 0 else None


# --------------------------------------------------------------------------- checks


ISSUED_VALUES = (
    "SELECT c.value FROM promo_codes c JOIN promo_pools p ON p.id = c.pool_id"
    " WHERE p.external_id = ? AND c.issued_customer_id IS NOT NULL"
)


def issued_in_database(database: str) -> set[str]:
    return {row[0] for row in h.sql(database, ISSUED_VALUES, POOL)}


def issued_count(database: str) -> int:
    return int(h.sql(database, f"SELECT COUNT(*) FROM ({ISSUED_VALUES}) AS issued", POOL)[0][0])


def settle(database: str, quiet_s: float = 0.3) -> None:
    """Waits until the pool's issued count stops moving: the server still serves what
    wrk had in flight when it stopped, which must neither overlap the next run (another
    server's, sharing the CPUs) nor race the checks."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    last = issued_count(database)
    while True:
        time.sleep(quiet_s)
        count = issued_count(database)
        if count == last:
            return
        if time.monotonic() > deadline:
            name = database.rpartition("/")[2]
            raise h.BenchError(f"{name}: still issuing {SETTLE_LIMIT_S}s after wrk")
        last = count


def drain(database: str, total: int) -> float:
    """Marks the pool's first free codes issued until `total` are, in the order
    `first_free_code` hands them out; answers the seconds it took.

    Plain SQL, not the services: this only sets up the state of a pool that has been in
    use for a while, and issuing hundreds of thousands of codes one by one is what the
    benchmark measures, not what it can wait for. Runs while the pool's server is up but
    idle, through a connection of its own (SQLite allows a second writer that waits).
    """
    started = time.perf_counter()
    count = total - len(issued_in_database(database))
    if not h.sql(database, "SELECT id FROM customers WHERE id > ? LIMIT 1", 0):
        raise h.BenchError("drain: no customers yet")
    h.sql(
        database,
        "UPDATE promo_codes SET issued_customer_id = (SELECT MIN(id) FROM customers),"
        " issued_at = ? WHERE id IN"
        " (SELECT c.id FROM promo_codes c JOIN promo_pools p ON p.id = c.pool_id"
        "  WHERE p.external_id = ? AND c.issued_customer_id IS NULL"
        "  AND c.blocked_at IS NULL ORDER BY c.id LIMIT ?)",
        int(time.time() * 1000) - 86_400_000,
        POOL,
        count,
    )
    if h.is_postgres(database):
        # What autovacuum does soon after so large an update (migration 0005):
        # without it every issue walks past the drained codes' dead index entries.
        h.sql_outside_transaction(database, "VACUUM ANALYZE promo_codes")
    return time.perf_counter() - started


def pool_counts(server: h.Server) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {server.secrets.admin_token}"}
    answer = httpx.get(f"{server.base_url}/admin/v1/pools/{POOL}", headers=headers, timeout=60)
    if answer.status_code != 200:
        raise h.BenchError(f"GET pool: {answer.status_code} {answer.text[:300]}")
    counts = answer.json()["counts"]
    return {name: int(counts[name]) for name in ("available", "issued", "used", "blocked")}


# --------------------------------------------------------------------------- runs


@dataclass
class Target:
    """One pool on its own running server, and what its runs saw."""

    size: int
    database: str  # its URL
    prepared_s: float  # seeding the pool, or draining it
    server: h.Server
    key: str
    drain_to: int = 0
    issued_before: set[str] = field(default_factory=set)
    warmup: list[str] = field(default_factory=list)
    results: list[h.WrkResult] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    profiles: list[Path] = field(default_factory=list)

    @property
    def label(self) -> str:
        before = len(self.issued_before)
        return f"{self.size:,} ({before:,} issued before)" if before else f"{self.size:,}"

    @property
    def slug(self) -> str:
        return f"{self.size}-drained" if self.drain_to else str(self.size)


def prepare(target: Target, args: argparse.Namespace) -> None:
    """Customers, the drain if any, the issued codes before the runs and the warm-up."""
    h.create_customers(target.server, h.customer_numbers(args.customers))
    if target.drain_to:
        target.prepared_s = drain(target.database, target.drain_to)
        print(f"drained to {target.drain_to:,} issued in {target.prepared_s:.1f}s", file=sys.stderr)
    target.issued_before = issued_in_database(target.database)
    target.warmup = warm_up(target.server, target.key, args.format, WARMUP_ISSUES, args.customers)


def run_once(target: Target, args: argparse.Namespace, issues: int, round_no: int) -> None:
    server = target.server
    seen_path = server.workdir / f"seen.{round_no}.txt"
    share = -(-issues // h.WRK_THREADS)
    script = write_issue_script(server, target.key, args.format, args.customers, share, seen_path)
    profiler = None
    if args.profile:
        profile_path = server.workdir / f"pyspy.{round_no}.txt"
        profiler = h.start_profile(server, profile_path)
        target.profiles.append(profile_path)
    url = f"{server.base_url}/v3/operations/sync?endpointId={ENDPOINT}&operation={OPERATION}"
    try:
        result = h.run_wrk(url, args.connections, args.duration, script, WRK_TIMEOUT_S)
        settle(target.database)
    finally:
        if profiler is not None:
            h.stop_profile(profiler)
    seen = read_seen(seen_path)
    # Answers stopped coming long before --duration ended, with issues still to make:
    # the server sits on requests (the rate over the answers would hide it).
    silent_s = result.duration_s - seen.seconds
    if result.requests < issues and silent_s > STALL_S:
        raise h.BenchError(
            f"pool {target.label} round {round_no + 1}: {result.requests} of {issues} issues "
            f"answered in {seen.seconds:.2f}s, then no answer for the last {silent_s:.1f}s of "
            f"--duration {args.duration}: the server stopped answering with requests in flight"
        )
    target.results.append(result)
    target.seen.append(seen)
    print(
        f"pool {target.label} round {round_no + 1}: {result.requests / seen.seconds:,.0f} "
        f"issues/s ({result.requests} in {seen.seconds:.2f}s)",
        file=sys.stderr,
    )


def check(target: Target, connections: int) -> str:
    """Raises BenchError on any wrong answer, a code handed out twice or a mismatch with
    the database; answers the one-line summary."""
    requests = sum(r.requests for r in target.results)
    non_2xx = sum(r.non_2xx for r in target.results)
    bad = sum(s.bad for s in target.seen)
    if non_2xx or bad:
        first = [line for s in target.seen for line in s.first_bad][:1]
        raise h.BenchError(
            f"pool {target.label}: {bad} answers not 200/Issued ({non_2xx} non-2xx) out of "
            f"{requests}; first: {first}"
        )
    runs = [s.values for s in target.seen]
    if sum(map(len, runs)) != requests:
        raise h.BenchError(f"wrk counted {requests} answers, Lua kept {sum(map(len, runs))}")
    answered = target.warmup + [value for run in runs for value in run]
    twice = [value for value, n in Counter(answered).items() if n > 1]
    if twice:
        raise h.BenchError(f"{len(twice)} codes handed out twice, e.g. {twice[:5]}")
    new = issued_in_database(target.database) - target.issued_before
    missing = set(answered) - new
    if missing:
        raise h.BenchError(f"{len(missing)} answered codes not newly issued in the database")
    errors = sum(r.socket_error_count for r in target.results)
    ceiling = len(answered) + connections * len(runs) + errors
    if not len(answered) <= len(new) <= ceiling:
        raise h.BenchError(
            f"pool {target.label}: the database holds {len(new)} newly issued codes, "
            f"answers {len(answered)} (allowed up to {ceiling})"
        )
    counts = pool_counts(target.server)
    total = len(target.issued_before) + len(new)
    expected = {"available": target.size - total, "issued": total}
    if any(counts[name] != value for name, value in expected.items()):
        raise h.BenchError(f"pool {target.label}: admin counts {counts}, expected {expected}")
    summary = (
        f"pool {target.label}: {len(answered)} distinct codes answered Issued "
        f"({len(target.warmup)} warm-up + {requests} wrk), {len(new)} newly issued in "
        f"the database, admin counts {counts}"
    )
    return summary + (f", {errors} wrk socket errors" if errors else "")


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class IssueRow:
    pool: str
    pool_size: int
    issued_before: int  # codes of the pool already issued when the runs started
    connections: int
    issues_per_s: float  # the median round's
    p50_ms: float  # the median round's
    p99_ms: float  # the median round's
    server_peak_rss_mb: float
    rounds_issues_per_s: list[float]
    issues_per_round: list[int]
    prepared_s: float

    @classmethod
    def of(cls, target: Target, connections: int) -> IssueRow:
        rates = [r.requests / s.seconds for r, s in zip(target.results, target.seen, strict=True)]
        middle = sorted(range(len(rates)), key=rates.__getitem__)[len(rates) // 2]
        median = target.results[middle]
        return cls(
            pool=target.label,
            pool_size=target.size,
            issued_before=len(target.issued_before),
            connections=connections,
            issues_per_s=rates[middle],
            p50_ms=median.p50_ms,
            p99_ms=median.p99_ms,
            server_peak_rss_mb=target.server.peak_rss_mb(),
            rounds_issues_per_s=[round(rate, 1) for rate in rates],
            issues_per_round=[r.requests for r in target.results],
            prepared_s=target.prepared_s,
        )


def table(rows: list[IssueRow]) -> str:
    lines = [
        "| pool size | connections | issues/s | p50 ms | p99 ms | server peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.pool} | {r.connections} | {r.issues_per_s:,.0f} | {r.p50_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.server_peak_rss_mb:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def verdicts(
    rows: list[IssueRow], target_issues_per_s: int
) -> tuple[bool, bool, dict[str, float], list[str]]:
    """Both targets over every row, the drained pool included: a pool's speed should
    depend neither on how many codes it holds nor on how many it has handed out."""
    slowest = min(rows, key=lambda r: r.issues_per_s)
    fastest = max(rows, key=lambda r: r.issues_per_s)
    smallest = rows[0]
    ratios = {r.pool: r.issues_per_s / smallest.issues_per_s for r in rows[1:]}
    spread = 1 - slowest.issues_per_s / fastest.issues_per_s
    speed_ok = slowest.issues_per_s >= target_issues_per_s
    flat_ok = spread <= TARGET_SPREAD
    notes = [f"issues/s at {pool} / at {smallest.pool}: {x:.2f}" for pool, x in ratios.items()]
    notes += [
        f"Target >= {target_issues_per_s:,} issues/s: {'MET' if speed_ok else 'NOT MET'} "
        f"(slowest {slowest.issues_per_s:,.0f}/s, pool {slowest.pool})",
        f"Target the same within {TARGET_SPREAD:.0%} whatever the pool: "
        f"{'MET' if flat_ok else 'NOT MET'} (slowest {spread:.1%} below fastest)",
    ]
    return speed_ok, flat_ok, ratios, notes


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes) or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("sizes must be positive and increasing")
    return sizes


def _arguments() -> tuple[argparse.Namespace, int, int]:
    """The arguments, the issues per run and the codes to drain the largest pool to."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 1_000_000])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="upper bound per wrk run, s")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per pool, interleaved")
    parser.add_argument("--issues", type=int, help="issues per wrk run")
    parser.add_argument(
        "--drained",
        type=float,
        default=0.5,
        help="also measure a copy of the largest pool with this fraction issued (0: skip)",
    )
    parser.add_argument("--format", choices=("xml", "json"), default="xml")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="py-spy every wrk run")
    # One database per pool: an explicit --database-url could hold only one.
    h.add_setup_arguments(parser, explicit_url=False)
    args = parser.parse_args()
    args.setup = h.setup_from(args, parser)
    if args.connections < h.WRK_THREADS:
        parser.error(f"--connections must be at least {h.WRK_THREADS} (wrk threads)")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    smallest, largest = args.sizes[0], args.sizes[-1]
    # Per run: the issues plus at most one more per connection, in flight at the stop.
    per_run = (smallest * 3 // 4 - WARMUP_ISSUES) // args.rounds - args.connections
    issues: int = args.issues or per_run
    used = WARMUP_ISSUES + args.rounds * (issues + args.connections)
    if issues < h.WRK_THREADS or used > smallest * 9 // 10:
        parser.error(f"{args.rounds} rounds of {issues} issues do not fit a pool of {smallest:,}")
    drain_to = int(largest * args.drained)
    if not 0 <= args.drained < 1 or drain_to + used > largest * 9 // 10:
        parser.error(f"--drained {args.drained} leaves too few codes in the largest pool")
    return args, issues, drain_to


def main() -> int:
    args, issues, drain_to = _arguments()
    sizes: list[int] = args.sizes
    setup: h.Setup = args.setup
    h.require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="pointkeeper-promo-"))
    load_before = os.getloadavg()
    targets: list[Target] = []
    try:
        # Unwound in reverse: the servers stop before their databases are dropped.
        with ExitStack() as servers:
            databases: list[tuple[int, str, float, int]] = []
            for size in sizes:
                database = servers.enter_context(setup.fresh_database(workdir, f"promo-{size}"))
                seeding = seed_pool(database, size)
                print(f"seeded a pool of {size:,} codes in {seeding:.1f}s", file=sys.stderr)
                databases.append((size, database, seeding, 0))
            if drain_to:
                copy = servers.enter_context(
                    setup.copy_database(databases[-1][1], workdir, f"promo-{sizes[-1]}-drained")
                )
                databases.append((sizes[-1], copy, 0.0, drain_to))
            for size, database, seeding, drain in databases:
                key = secrets.token_urlsafe(24)
                server = servers.enter_context(setup.server(database, operation_toml(key)))
                targets.append(Target(size, database, seeding, server, key, drain_to=drain))
                prepare(targets[-1], args)
            for round_no in range(args.rounds):
                start = round_no % len(targets)
                for target in targets[start:] + targets[:start]:
                    run_once(target, args, issues, round_no)
            checks = [check(target, args.connections) for target in targets]
            rows = [IssueRow.of(target, args.connections) for target in targets]
            profiles: dict[str, list[str]] = {}
            for target in targets:
                if target.profiles:
                    h.RESULTS_DIR.mkdir(exist_ok=True)
                    merged = h.RESULTS_DIR / f"http_promo{setup.suffix}.{target.slug}.pyspy.txt"
                    merged.write_text("".join(p.read_text() for p in target.profiles if p.exists()))
                    profiles[target.label] = h.summarize_profile(merged)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()

    target_issues_per_s = TARGET_ISSUES_PER_S[setup.database]
    speed_ok, flat_ok, ratios, notes = verdicts(rows, target_issues_per_s)
    print(table(rows))
    print()
    for note in notes:
        print(f"- {note}")
    print("- issues/s per round: " + "; ".join(f"{r.pool}: {r.rounds_issues_per_s}" for r in rows))
    print(f"- ran on {setup.label}")
    print(
        f"- load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
        f"{os.cpu_count()} CPUs shared by the servers, wrk and whatever else runs"
    )
    print("\nCorrectness (every answer 200 + Issued, no code twice, database and admin agree):")
    for line in checks:
        print(f"- {line}")
    for label, lines in profiles.items():
        print(f"\npy-spy, pool {label}, all its runs:\n" + "\n".join(lines))
    payload: dict[str, Any] = {
        "rows": [asdict(r) for r in rows],
        "ratios_over_smallest": ratios,
        "target_issues_per_s": target_issues_per_s,
        "target_spread": TARGET_SPREAD,
        "speed_target_met": speed_ok,
        "flat_target_met": flat_ok,
        "rounds": args.rounds,
        "issues_per_run": issues,
        "warmup_issues": WARMUP_ISSUES,
        "duration_bound_s": args.duration,
        "format": args.format,
        "customers": args.customers,
        "checks": checks,
        "load_average_1m": {"before": load_before[0], "after": load_after[0]},
        "cpus": os.cpu_count(),
    }
    if profiles:
        payload["profiles"] = profiles
    summary = [
        h.Summary(
            f"IssuePromoCode, pool {row.pool}",
            row.issues_per_s,
            "issues/s",
            row.p50_ms,
            row.p99_ms,
            row.server_peak_rss_mb,
        )
        for row in rows
    ]
    path = h.write_json("http_promo", payload, setup, summary)
    print(f"\nwritten {h.shown(path)}")
    return 0


if __name__ == "__main__":
    h.run_main(main)
