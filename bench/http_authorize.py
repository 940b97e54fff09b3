"""CP Extender `POST /Loyalty/Authorize` on one hot account, and no overdraw.

    .venv/bin/python bench/http_authorize.py [--connections 64] [--duration 10]
                                             [--balance 1000000000] [--points-max 10]
                                             [--database sqlite|postgres] [--processes N]
                                             [--database-url postgresql://...]

Every request is for the same customer, credited `--balance` points through the admin
API: wrk hammers Authorize with a distinct SaleId per request (a run nonce, the wrk
thread and a counter) for 1 to `--points-max` points, so every answer is a new hold on
the same ledger and the writers (processes, PostgreSQL connections) all contend for that
customer's row lock. The Lua script checks every answer: 200 with the points asked and an
AuthCode, or 400 "No Balance Remaining" (only expected with a `--balance` small enough
to run dry, e.g. 20000); anything else fails the run.

Then the checks, through BalanceCheck as the API reports it:
- PointBalance did not move (a hold debits nothing until Confirm);
- OpenAuthorizations grew by the sum of the points answered 200, plus at most what was
  in flight when wrk stopped (one request per connection and socket error, at most
  `--points-max` each): the holds are exactly the answers, none lost or doubled;
- AvailablePointBalance dropped by exactly that growth and is PointBalance minus
  OpenAuthorizations, never below zero: no overdraw;
- one Pending Charge per answered hold (same in-flight allowance), every AuthCode distinct;
- a 400 only once the balance was nearly spent (less than `--points-max` left);
- the connections were busy most of the run (`harness.wrk.check_busy`), not waiting on a
  stalled server.

Prints a markdown table (also bench/results/http_authorize[.<database>-p<N>].json).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.customers import create_customers, customer_number
from harness.failures import BenchError, run_main
from harness.measure import cpu_seconds
from harness.report import Row, Summary, print_table, rows_json, shown, write_json
from harness.servers import Server
from harness.setup import Setup, add_setup_arguments, setup_from
from harness.wrk import WRK_THREADS, WrkResult, check_busy, lua_string, require_wrk, run_wrk

CUSTOMER = customer_number(1)
REFUSAL = "No Balance Remaining"
SETTLE_LIMIT_S = 60

# Request k of thread `id` asks for (k*THREADS + id) % points_max + 1 points. `response`
# keeps the points and AuthCode of every 200, counts the refusals and the first other
# answer; `done` writes them to `out`: "ok <answers> <points>", "refused <count>",
# "bad <count> <first>" and "code <AuthCode>" lines, per thread.
AUTHORIZE_LUA = """\
local threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. {token}
wrk.headers["Content-Type"] = "application/json"

local counter = 0
ok = 0
points = 0
refused = 0
bad = 0
first_bad = ""
codes = {{}}

function request()
  local seq = counter * {threads} + id
  counter = counter + 1
  local body = string.format(
    '{{"Type":"Loyalty","Ref":%s,"SaleId":"%s-%d-%d","RequestedPoints":%d,"Location":"bench"}}',
    {customer}, {run}, id, counter, seq % {points_max} + 1)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 then
    local asked = tonumber(string.match(body, '"RequestedPoints":(%d+)'))
    local code = string.match(body, '"AuthCode":"([^"]+)"')
    if asked and code then
      ok = ok + 1
      points = points + asked
      codes[#codes + 1] = code
      return
    end
  elseif status == 400 and string.find(body, {refusal}, 1, true) then
    refused = refused + 1
    return
  end
  bad = bad + 1
  if first_bad == "" then
    first_bad = status .. " " .. string.gsub(string.sub(body, 1, 300), "%s+", " ")
  end
end

function done(summary, latency, requests)
  local out = assert(io.open({out}, "w"))
  for _, thread in ipairs(threads) do
    out:write("ok ", thread:get("ok"), " ", thread:get("points"), "\\n")
    out:write("refused ", thread:get("refused"), "\\n")
    out:write("bad ", thread:get("bad"), " ", thread:get("first_bad"), "\\n")
    for _, code in ipairs(thread:get("codes")) do
      out:write("code ", code, "\\n")
    end
  end
  out:close()
end
"""


def write_authorize_script(server: Server, points_max: int, out: Path) -> Path:
    script = server.workdir / "authorize.lua"
    script.write_text(
        AUTHORIZE_LUA.format(
            token=lua_string(server.secrets.bearer_token),
            threads=WRK_THREADS,
            # A JSON string inside the Lua string: the customer number with its quotes.
            customer=lua_string(lua_string(CUSTOMER)),
            run=lua_string(secrets.token_hex(4)),
            points_max=points_max,
            refusal=lua_string(REFUSAL),
            out=lua_string(str(out)),
        )
    )
    return script


@dataclass(frozen=True)
class Seen:
    ok: int
    points: int
    refused: int
    bad: int
    first_bad: list[str]
    codes: list[str]


def read_seen(path: Path) -> Seen:
    if not path.exists():
        raise BenchError(f"wrk's done() wrote nothing to {path}")
    ok = points = refused = bad = 0
    first_bad: list[str] = []
    codes: list[str] = []
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "ok":
            answers, total = rest.split()
            ok += int(answers)
            points += int(total)
        elif kind == "refused":
            refused += int(rest)
        elif kind == "bad":
            count, _, first = rest.partition(" ")
            bad += int(count)
            if first:
                first_bad.append(first)
        elif kind == "code":
            codes.append(rest)
    return Seen(ok, points, refused, bad, first_bad, codes)


# --------------------------------------------------------------------------- the API


def credit(server: Server, points: int) -> None:
    headers = {"Authorization": f"Bearer {server.secrets.admin_token}"}
    answer = httpx.post(
        f"{server.base_url}/admin/v1/customers/{CUSTOMER}/balance-changes",
        json={"changeAmount": points, "comment": "bench balance"},
        headers=headers,
        timeout=30,
    )
    if answer.status_code != 201:
        raise BenchError(f"credit: {answer.status_code} {answer.text[:300]}")


@dataclass(frozen=True)
class Figures:
    point_balance: int
    open_authorizations: int
    available: int
    pending_charges: int


def figures(server: Server) -> Figures:
    headers = {"Authorization": f"Bearer {server.secrets.bearer_token}"}
    answer = httpx.get(
        f"{server.base_url}/Loyalty/{CUSTOMER}/BalanceCheck", headers=headers, timeout=120
    )
    if answer.status_code != 200:
        raise BenchError(f"BalanceCheck: {answer.status_code} {answer.text[:300]}")
    loyalty: dict[str, Any] = answer.json()["Loyalty"]
    charges = sum(1 for row in loyalty["History"] if row.get("Activity") == "Pending Charge")
    return Figures(
        int(loyalty["PointBalance"]),
        int(loyalty["OpenAuthorizations"]),
        int(loyalty["AvailablePointBalance"]),
        charges,
    )


def settle(server: Server, quiet_s: float = 0.5) -> Figures:
    """The figures once they stop moving: the server still answers what wrk had in
    flight when it stopped."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    last = figures(server)
    while True:
        time.sleep(quiet_s)
        now = figures(server)
        if now == last:
            return now
        if time.monotonic() > deadline:
            raise BenchError(f"holds still changing {SETTLE_LIMIT_S}s after wrk stopped")
        last = now


def check(
    before: Figures, after: Figures, seen: Seen, result: WrkResult, args: argparse.Namespace
) -> list[str]:
    """Raises BenchError on a wrong answer, a lost or doubled hold or an overdraw;
    answers the summary lines."""
    problems = []
    if seen.bad:
        first = seen.first_bad[:1]
        problems.append(f"{seen.bad} answers neither 200 nor {REFUSAL!r}; first {first}")
    answered = seen.ok + seen.refused + seen.bad
    if answered != result.requests:
        problems.append(f"wrk counted {result.requests} answers, Lua saw {answered}")
    twice = [code for code, n in Counter(seen.codes).items() if n > 1]
    if twice or len(seen.codes) != seen.ok:
        problems.append(f"{len(seen.codes)} AuthCodes for {seen.ok} holds, {len(twice)} twice")
    in_flight = args.connections + result.socket_error_count
    held = after.open_authorizations - before.open_authorizations
    holds = after.pending_charges - before.pending_charges
    if after.point_balance != before.point_balance:
        problems.append(f"PointBalance moved {before.point_balance} -> {after.point_balance}")
    if not seen.points <= held <= seen.points + in_flight * args.points_max:
        problems.append(
            f"OpenAuthorizations grew by {held}, the 200 answers hold {seen.points} points "
            f"(allowed up to {in_flight * args.points_max} more in flight)"
        )
    if before.available - after.available != held:
        problems.append(
            f"AvailablePointBalance dropped by {before.available - after.available}, "
            f"OpenAuthorizations grew by {held}"
        )
    if after.available != after.point_balance - after.open_authorizations or after.available < 0:
        problems.append(
            f"overdraw: available {after.available}, balance {after.point_balance}, "
            f"open authorizations {after.open_authorizations}"
        )
    if not seen.ok <= holds <= seen.ok + in_flight:
        problems.append(f"{holds} new Pending Charges for {seen.ok} holds answered")
    if seen.refused and after.available >= args.points_max:
        problems.append(f"{seen.refused} refusals with {after.available} points still available")
    if problems:
        raise BenchError("Authorize on one account: " + "; ".join(problems))
    lines = [
        f"Authorize correctness: {seen.ok} holds answered 200 ({seen.points} points, every "
        f"AuthCode distinct), OpenAuthorizations +{held}, AvailablePointBalance "
        f"-{before.available - after.available} to {after.available}, PointBalance "
        f"unchanged at {after.point_balance}, {holds} new Pending Charges"
    ]
    if seen.refused:
        lines.append(f"{seen.refused} answers {REFUSAL!r} once the balance ran dry")
    return lines


AUTHORIZE_PATH = "/Loyalty/Authorize"


def _arguments() -> tuple[argparse.Namespace, Setup]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk")
    add_authorize_arguments(parser)
    add_setup_arguments(parser)
    args = parser.parse_args()
    setup = setup_from(args, parser)
    if args.connections < WRK_THREADS:
        parser.error(f"--connections must be at least {WRK_THREADS} (wrk threads)")
    if args.balance < 1 or args.points_max < 1:
        parser.error("--balance and --points-max must be positive")
    return args, setup


def add_authorize_arguments(parser: argparse.ArgumentParser) -> None:
    """--balance and --points-max (also the A/B runner's, bench/http_ab.py)."""
    parser.add_argument(
        "--balance", type=int, default=1_000_000_000, help="points credited before the run"
    )
    parser.add_argument("--points-max", type=int, default=10, help="points per Authorize, 1..N")


def prepare_account(server: Server, balance: int) -> None:
    """The one customer every Authorize is for, credited `balance` points."""
    create_customers(server, [CUSTOMER])
    credit(server, balance)


@dataclass(frozen=True)
class Measured:
    row: Row
    result: WrkResult
    seen: Seen
    before: Figures
    after: Figures
    notes: list[str]  # what the checks found
    server_cpu_s: float  # during the wrk run


def measure(server: Server, args: argparse.Namespace) -> Measured:
    """One wrk run of Authorize on the account, checked (`check`, `check_busy`)."""
    before = figures(server)  # more than --balance on a reused database
    seen_path = server.workdir / "seen.txt"
    seen_path.unlink(missing_ok=True)  # a previous run's (the A/B runner measures in turns)
    script = write_authorize_script(server, args.points_max, seen_path)
    cpu_before = cpu_seconds(server.pid)
    result = run_wrk(f"{server.base_url}{AUTHORIZE_PATH}", args.connections, args.duration, script)
    server_cpu_s = cpu_seconds(server.pid) - cpu_before
    row = Row.of(
        f"POST {AUTHORIZE_PATH} (one account)", args.connections, result, server.peak_rss_mb()
    )
    after = settle(server)
    seen = read_seen(seen_path)
    notes = check(before, after, seen, result, args)
    check_busy(row.benchmark, result, args.connections)
    return Measured(row, result, seen, before, after, notes, server_cpu_s)


def _report(measured: Measured, args: argparse.Namespace, setup: Setup) -> None:
    row, result, seen = measured.row, measured.result, measured.seen
    notes = [*measured.notes, f"Ran on {setup.label}"]
    if result.socket_error_count:
        notes.append(f"socket errors: {result.socket_errors}")
    print_table([row], notes)
    path = write_json(
        "http_authorize",
        {
            "rows": rows_json([row]),
            "duration_s": args.duration,
            "balance": args.balance,
            "points_max": args.points_max,
            "holds_answered": seen.ok,
            "points_answered": seen.points,
            "refused": seen.refused,
            "before": asdict(measured.before),
            "after": asdict(measured.after),
            "socket_errors": result.socket_errors,
            "checks": notes,
        },
        setup,
        [Summary.of(row)],
    )
    print(f"\nwritten {shown(path)}")


def main() -> int:
    args, setup = _arguments()
    require_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-authorize-") as folder,
        setup.fresh_database(Path(folder)) as url,
        setup.server(url) as server,
    ):
        prepare_account(server, args.balance)
        measured = measure(server, args)
    _report(measured, args, setup)
    return 0


if __name__ == "__main__":
    run_main(main)
