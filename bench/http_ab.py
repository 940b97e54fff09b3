"""One benchmark on several servers side by side, in short turns: a before/after
comparison that holds on a machine whose speed drifts.

    .venv/bin/python bench/http_ab.py --scenario earn|authorize|issue-promo|export \
        --variant before=/tmp/pk-before/.venv/bin/pointkeeper \
        --variant after=.venv/bin/pointkeeper \
        [--variant after-uvloop=.venv/bin/pointkeeper,loop=uvloop]
        [--rounds 16] [--duration 4] [--connections 64]
        [--database sqlite|postgres] [--processes N]
        [the scenario's options: --scenario NAME --help]

Every variant's server is up at once (idle ones cost nothing); each round gives every
variant one turn, the order turning every round, so a slow minute hits all of them
alike where one long run each would have caught it in one. A variant is
NAME=POINTKEEPER[,KEY=VALUE...]: the `pointkeeper` of an installation (another
checkout's .venv, say) and configuration of its own, `KEY` a [server] key or
`TABLE.KEY` (`database.wal_bytes_max=16777216`), handed to that server as its
POINTKEEPER_* environment, so the installation itself reads them.

The scenarios are the benchmarks' own, through their own code (set-up, wrk scripts,
checks), with their defaults:

- earn: bench/http_earn.py's Earn run, 1000 customers round robin, a fresh script per
  turn (References never repeat); the ledger is not summed per turn.
- authorize: bench/http_authorize.py on one hot account (`--balance`, `--points-max`),
  every turn checked as that benchmark checks its run (no hold lost or doubled, no
  overdraw).
- issue-promo: bench/http_promo.py's from-pool IssuePromoCode (XML), `--issues` per turn
  from one pool of `--pool-size` codes seeded once and copied for every variant (so all
  start from the same pool), every answer checked and, at the end, the database and the
  admin counts.
- export: bench/http_export.py's ExportBalanceChanges of the whole seeded year (`--size`
  actions seeded once through the services and copied for every variant), one export a
  turn in `--format`, counted and checked complete as it streams; no latency
  percentiles (one request), `--duration` and `--connections` play no part.

Prints one table: per variant the median over the rounds of its throughput, of its
ratio to the first variant in the same round (after/before, when the first is the
before), of p50 / p99 and of the server CPU per request (issue, action); peak RSS over
the whole run. Also written to bench/results/http_ab.<scenario>[...].json.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import http_authorize
import http_earn
import http_export
import http_promo
from harness.customers import create_customers, customer_numbers
from harness.failures import BenchError, run_main
from harness.measure import cpu_seconds
from harness.report import Summary, shown, write_json
from harness.servers import Server
from harness.setup import Setup, add_setup_arguments, setup_from
from harness.wrk import WRK_THREADS, check_busy, require_wrk
from pointkeeper.config import ConfigError, parse_config
from pointkeeper.secrets import new_secret

# wrk's default 2 s would make a slow answer a socket error, left out of the percentiles.
WRK_TIMEOUT_S = 10


@dataclass(frozen=True)
class Variant:
    name: str
    command: list[str]  # its `pointkeeper`
    environment: dict[str, str]  # its POINTKEEPER_* configuration


def _variant(text: str) -> Variant:
    """NAME=POINTKEEPER[,KEY=VALUE...]; checked against this tree's configuration model,
    which an older installation's keys are expected to be a part of."""
    name, _, rest = text.partition("=")
    command, *settings = rest.split(",")
    if not name or not command:
        raise argparse.ArgumentTypeError(f"{text!r}: want NAME=POINTKEEPER[,KEY=VALUE...]")
    environment = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        table, _, key = key.rpartition(".")
        environment[f"POINTKEEPER_{table or 'server'}_{key}".upper()] = value
    try:
        parse_config({}, environment)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    return Variant(name, [command], environment)


@dataclass(frozen=True)
class Turn:
    throughput: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_us: float  # of the server, per request (issue, action)


@dataclass
class _Context:
    """What every scenario works with: the arguments, the set-up and a temp folder."""

    args: argparse.Namespace
    setup: Setup
    folder: Path

    def server(
        self, stack: contextlib.ExitStack, variant: Variant, url: str, settings: Any = None
    ) -> Server:
        return stack.enter_context(
            self.setup.server(
                url, settings, command=variant.command, environment=variant.environment
            )
        )


class Scenario:
    """What a benchmark gives the runner: its options, a server per variant ready for
    turns, one turn, and the checks at the end."""

    unit = "requests/s"  # of throughput
    each = "request"  # what one request is, for "server CPU per ..."

    def __init__(self, context: _Context) -> None:
        self.context = context

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The scenario's own options."""

    def start(self, stack: contextlib.ExitStack, variant: Variant) -> Server:
        """The variant's server, ready for turns (stopped when `stack` unwinds)."""
        raise NotImplementedError

    def turn(self, server: Server, round_no: int) -> Turn:
        raise NotImplementedError

    def checks(self) -> list[str]:
        """What was checked, once every turn is over (raises BenchError on a failure)."""
        return []

    def turns(self) -> str:
        """What one turn is, for the notes under the table."""
        args = self.context.args
        return f"{args.duration} s turns, {args.connections} connections"


class _Earn(Scenario):
    each = "Earn"

    def __init__(self, context: _Context) -> None:
        super().__init__(context)
        self.urls: dict[int, str] = {}  # by server pid

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--customers", type=int, default=1000)

    def start(self, stack: contextlib.ExitStack, variant: Variant) -> Server:
        context = self.context
        url = stack.enter_context(context.setup.fresh_database(context.folder, variant.name))
        server = context.server(stack, variant, url)
        create_customers(server, customer_numbers(context.args.customers))
        self.urls[server.pid] = url
        return server

    def turn(self, server: Server, round_no: int) -> Turn:
        args = self.context.args
        # A fresh script each turn: the same Reference again would be a replay.
        script = http_earn.write_earn_script(server, args.customers)
        url = self.urls[server.pid]
        run = http_earn.earn_run(
            server, url, script, args.connections, args.duration, WRK_TIMEOUT_S
        )
        check_busy(f"Earn round {round_no + 1}", run.result, args.connections)
        if run.result.non_2xx:
            raise BenchError(f"Earn: {run.result.non_2xx} non-2xx answers")
        result = run.result
        return Turn(result.requests_per_s, result.p50_ms, result.p99_ms, run.cpu_us_per_earn)


class _Authorize(Scenario):
    each = "Authorize"

    def __init__(self, context: _Context) -> None:
        super().__init__(context)
        self.found: list[str] = []

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        http_authorize.add_authorize_arguments(parser)

    def start(self, stack: contextlib.ExitStack, variant: Variant) -> Server:
        context = self.context
        url = stack.enter_context(context.setup.fresh_database(context.folder, variant.name))
        server = context.server(stack, variant, url)
        http_authorize.prepare_account(server, context.args.balance)
        return server

    def turn(self, server: Server, round_no: int) -> Turn:
        measured = http_authorize.measure(server, self.context.args)
        self.found += measured.notes
        result = measured.result
        cpu_us = measured.server_cpu_s * 1e6 / max(result.requests, 1)
        return Turn(result.requests_per_s, result.p50_ms, result.p99_ms, cpu_us)

    def checks(self) -> list[str]:
        return [f"{len(self.found)} checked turns, e.g. {self.found[0]}"] if self.found else []


class _IssuePromo(Scenario):
    unit, each = "issues/s", "issue"

    def __init__(self, context: _Context) -> None:
        super().__init__(context)
        self.pool: http_promo.Pool | None = None
        self.targets: dict[int, http_promo.Target] = {}  # by server pid
        self.names: dict[int, str] = {}  # the variants', by server pid

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--pool-size", type=int, default=1_000_000)
        parser.add_argument("--issues", type=int, default=4000, help="issues per turn")
        parser.add_argument("--format", choices=("xml", "json"), default="xml")
        parser.add_argument("--customers", type=int, default=1000)
        parser.set_defaults(profile=False)  # http_promo.run_once's option

    def _seeded(self, stack: contextlib.ExitStack) -> http_promo.Pool:
        """One pool for all variants, seeded the first time it is asked for."""
        if self.pool is None:
            context, size = self.context, self.context.args.pool_size
            args = context.args
            # Every turn may issue a code more per connection than asked (in flight at
            # the stop); an empty pool answers something cheaper than an issue.
            used = http_promo.WARMUP_ISSUES + args.rounds * (args.issues + args.connections)
            if used > size * 9 // 10:
                raise BenchError(
                    f"{args.rounds} rounds of {args.issues} issues need a pool "
                    f"of more than {used * 10 // 9:,} codes (--pool-size)"
                )
            url = stack.enter_context(context.setup.fresh_database(context.folder, "pool"))
            self.pool = http_promo.Pool(size, url, http_promo.seed_pool(url, size))
        return self.pool

    def start(self, stack: contextlib.ExitStack, variant: Variant) -> Server:
        context, pool = self.context, self._seeded(stack)
        copy = stack.enter_context(
            context.setup.copy_database(pool.database, context.folder, f"pool-{variant.name}")
        )
        target = http_promo.start_target(
            stack,
            context.setup,
            http_promo.Pool(pool.size, copy, pool.prepared_s),
            context.args,
            command=variant.command,
            environment=variant.environment,
        )
        self.targets[target.server.pid] = target
        self.names[target.server.pid] = variant.name
        return target.server

    def turn(self, server: Server, round_no: int) -> Turn:
        target, args = self.targets[server.pid], self.context.args
        cpu_before = cpu_seconds(server.pid)
        http_promo.run_once(target, args, args.issues, round_no)
        used = cpu_seconds(server.pid) - cpu_before
        result, seen = target.results[-1], target.seen[-1]
        cpu_us = used * 1e6 / max(result.requests, 1)
        return Turn(result.requests / seen.seconds, result.p50_ms, result.p99_ms, cpu_us)

    def checks(self) -> list[str]:
        connections = self.context.args.connections
        return [
            f"{self.names[pid]}: {http_promo.check(target, connections)}"
            for pid, target in self.targets.items()
        ]


class _Export(Scenario):
    unit, each = "actions/s", "action"

    def __init__(self, context: _Context) -> None:
        super().__init__(context)
        self.seeded: str | None = None  # the database every variant gets a copy of
        self.keys: dict[int, str] = {}  # by server pid

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--size", type=int, default=1_000_000, help="actions seeded")
        parser.add_argument("--format", choices=("xml", "json"), default="xml")
        parser.add_argument("--customers", type=int, default=10_000)

    def _seed(self, stack: contextlib.ExitStack) -> str:
        if self.seeded is None:
            context, args = self.context, self.context.args
            url = stack.enter_context(context.setup.fresh_database(context.folder, "export"))
            step_ms = http_export.step_for(args.size)
            http_export.grow(url, context.setup.pool_config(), args.size, args.customers, step_ms)
            self.seeded = url
        return self.seeded

    def start(self, stack: contextlib.ExitStack, variant: Variant) -> Server:
        context, seeded = self.context, self._seed(stack)
        copy = stack.enter_context(
            context.setup.copy_database(seeded, context.folder, f"export-{variant.name}")
        )
        key = new_secret()
        server = context.server(stack, variant, copy, http_export.export_settings(key))
        self.keys[server.pid] = key
        return server

    def turn(self, server: Server, round_no: int) -> Turn:
        args = self.context.args
        export = http_export.stream_export(server, self.keys[server.pid], args.format, args.size)
        cpu_us = export.server_cpu_s * 1e6 / args.size
        return Turn(args.size / export.seconds, None, None, cpu_us)

    def checks(self) -> list[str]:
        return ["every export streamed exactly the seeded count and ended complete"]

    def turns(self) -> str:
        args = self.context.args
        return f"one {args.format} export of {args.size:,} actions a turn"


SCENARIOS: dict[str, type[Scenario]] = {
    "earn": _Earn,
    "authorize": _Authorize,
    "issue-promo": _IssuePromo,
    "export": _Export,
}


def _arguments() -> tuple[argparse.Namespace, Setup]:
    """--scenario first, then the options, the scenario's own among them."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--scenario", choices=tuple(SCENARIOS), required=True)
    known, _ = first.parse_known_args()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], parents=[first])
    parser.add_argument("--variant", action="append", type=_variant, required=True)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk turn")
    parser.add_argument("--connections", type=int, default=64)
    SCENARIOS[known.scenario].add_arguments(parser)
    add_setup_arguments(parser, explicit_url=False)
    args = parser.parse_args()
    if args.connections < WRK_THREADS:
        parser.error(f"--connections must be at least {WRK_THREADS} (wrk threads)")
    names = [variant.name for variant in args.variant]
    if len(set(names)) != len(names) or args.rounds < 1:
        parser.error("variant names must differ, and --rounds be at least 1")
    return args, setup_from(args, parser)


def _run_rounds(scenario: Scenario, servers: dict[str, Server], rounds: int) -> dict[str, Any]:
    """Every variant's turns, the order turning each round."""
    turns: dict[str, list[Turn]] = {name: [] for name in servers}
    names = list(servers)
    for round_no in range(rounds):
        start = round_no % len(names)
        for name in names[start:] + names[:start]:
            turns[name].append(scenario.turn(servers[name], round_no))
    return turns


@dataclass(frozen=True)
class Line:
    variant: str
    throughput: float
    ratio: float  # median of the per-round ratios to the first variant
    p50_ms: float | None
    p99_ms: float | None
    cpu_us: float
    server_peak_rss_mb: float
    throughputs: list[float]


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _lines(turns: dict[str, list[Turn]], servers: dict[str, Server]) -> list[Line]:
    first = turns[next(iter(turns))]
    lines = []
    for name, own in turns.items():
        rates = [turn.throughput for turn in own]
        ratios = [a.throughput / b.throughput for a, b in zip(own, first, strict=True)]
        lines.append(
            Line(
                name,
                statistics.median(rates),
                statistics.median(ratios),
                _median([turn.p50_ms for turn in own]),
                _median([turn.p99_ms for turn in own]),
                statistics.median(turn.cpu_us for turn in own),
                servers[name].peak_rss_mb(),
                [round(rate, 1) for rate in rates],
            )
        )
    return lines


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print(lines: list[Line], scenario: Scenario, notes: list[str]) -> None:
    print(
        f"| variant | {scenario.unit} | ratio to {lines[0].variant} | p50 ms | p99 ms "
        f"| server CPU per {scenario.each} us | server peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for line in lines:
        print(
            f"| {line.variant} | {line.throughput:,.0f} | {line.ratio:.3f} "
            f"| {_figure(line.p50_ms)} | {_figure(line.p99_ms)} | {line.cpu_us:,.1f} "
            f"| {line.server_peak_rss_mb:.1f} |"
        )
    for note in notes:
        print(f"\n{note}")


def main() -> int:
    args, setup = _arguments()
    require_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="pointkeeper-ab-") as folder,
        contextlib.ExitStack() as stack,
    ):
        scenario = SCENARIOS[args.scenario](_Context(args, setup, Path(folder)))
        servers = {variant.name: scenario.start(stack, variant) for variant in args.variant}
        turns = _run_rounds(scenario, servers, args.rounds)
        checks = scenario.checks()
        lines = _lines(turns, servers)
    how = f"{args.scenario}: {args.rounds} rounds, {scenario.turns()}"
    notes = [f"{how}, {setup.label}; medians of the rounds"]
    notes += [f"Checked: {line}" for line in checks]
    _print(lines, scenario, notes)
    summary = [Summary(line.variant, line.throughput, scenario.unit) for line in lines]
    payload = {"lines": [asdict(line) for line in lines], "checks": checks, **vars(args)}
    payload["variant"] = [asdict(variant) for variant in args.variant]
    path = write_json(f"http_ab.{args.scenario}", payload, setup, summary)
    print(f"\nwritten {shown(path)}")
    return 0


if __name__ == "__main__":
    run_main(main)
