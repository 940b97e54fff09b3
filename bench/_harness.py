"""Shared pieces for pointkeeper's HTTP benchmarks.

A benchmark script builds a throwaway server with `bench_server()`, seeds data through
the admin API (`create_customers`), drives load with `run_wrk()` and reports with
`print_table()` / `write_json()`. Everything here is stdlib + httpx (+ asyncpg, the
project's own driver, for PostgreSQL) so the benchmarks run from the project's own venv;
the only outside tool is wrk.

Where it runs: `add_setup_arguments()` gives every script the same `--database
sqlite|postgres`, `--database-url`, `--processes N` (`pointkeeper serve --workers N`) and
the PostgreSQL pool sizes; `Setup.database()` makes a fresh database for it (on
PostgreSQL a `pointkeeper_bench_<random>` database on `BENCH_POSTGRES_SERVER`, dropped
afterwards) and `Setup.server()` starts the server on it. Every script also writes a
`summary` (`Summary` rows) into its JSON, which bench/run_postgres.py puts in one table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import httpx

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PROGRAM = "Bench program"
# printf-style so the same pattern works in Python (`%`) and in wrk Lua (`string.format`).
CUSTOMER_FORMAT = "BENCH-%06d"
WRK = "wrk"
WRK_THREADS = 2
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Where `--database postgres` creates its databases (any database of the server will do:
# it is only connected to for CREATE / DROP DATABASE).
POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432/test"
)
DATABASE_PREFIX = "pointkeeper_bench_"


class BenchError(RuntimeError):
    """A benchmark precondition or correctness check failed; the message says which."""


def no_answer(error: httpx.TimeoutException) -> str:
    """What a client timeout of the bench's own requests (set-up, checks) means."""
    request = error.request if error.__dict__.get("_request") else None
    what = f"{request.method} {request.url.path}" if request is not None else "a request"
    return f"{what}: no answer within the client's timeout ({error!r}): the server stalled"


# --------------------------------------------------------------------------- server


@dataclass(frozen=True)
class Secrets:
    admin_token: str
    bearer_token: str
    jwt_secret: str


@dataclass
class Server:
    """A running `pointkeeper serve` plus what a benchmark needs to talk to it."""

    base_url: str
    secrets: Secrets
    workdir: Path
    config: Path
    process: subprocess.Popen[bytes]
    log: Path
    processes: int = 1

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.pid)


def free_port() -> int:
    # Racy by nature (the port could be taken before the server binds) but fine on a
    # bench box; binding port 0 is the only portable way to ask the kernel for one.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pointkeeper_command() -> list[str]:
    """The console script next to this interpreter, else the module (works uninstalled)."""
    script = Path(sys.executable).parent / "pointkeeper"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pointkeeper.cli"]


def toml_str(value: str) -> str:
    # JSON string escaping is valid TOML basic-string escaping for what we write here.
    return json.dumps(value)


def write_config(
    workdir: Path,
    port: int,
    database_url: str | None,
    extra_toml: str = "",
    database_toml: str = "",
    server_toml: str = "",
) -> tuple[Path, Secrets]:
    """Write a minimal config with fresh random secrets; jobs off so they don't skew load.
    `database_toml` / `server_toml`: more keys of the [database] / [server] table
    (`Setup.database_toml()`, `Setup.server_toml()`)."""
    found = Secrets(
        admin_token=secrets.token_urlsafe(24),
        bearer_token=secrets.token_urlsafe(24),
        jwt_secret=secrets.token_urlsafe(32),
    )
    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    text = f"""\
[database]
url = {toml_str(url)}
{database_toml}
[server]
host = "127.0.0.1"
port = {port}
{server_toml}
[jobs]
enabled = false

[admin]
tokens = [{toml_str(found.admin_token)}]

[cp_extender]
tokens = [{toml_str(found.bearer_token)}]
jwt_secret = {toml_str(found.jwt_secret)}
users = []

[[programs]]
name = {toml_str(PROGRAM)}
"""
    config = workdir / "pointkeeper.toml"
    config.write_text(text + extra_toml)
    return config, found


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def server_environment() -> dict[str, str]:
    """This environment without POINTKEEPER_* variables: the configuration is the bench's
    file alone (POINTKEEPER_DATABASE_URL would move the server to another database, and
    an unknown POINTKEEPER_* section stops it from starting at all)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POINTKEEPER_")}


def migrate(config: Path, log: Path, command: list[str] | None = None) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [*(command or pointkeeper_command()), "migrate", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_environment(),
            check=False,
        )
    if done.returncode != 0:
        raise BenchError(f"pointkeeper migrate failed ({done.returncode}):\n{_log_tail(log)}")


def wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log: Path, processes: int = 1
) -> None:
    """Until /healthz answers 200 and `processes` processes of the server accept
    connections: with several workers the first answer only says that one is up."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    port = urlsplit(base_url).port
    assert port is not None
    healthy = False
    serving: list[int] = []
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(
                    f"server exited with {process.returncode} before /healthz:\n{_log_tail(log)}"
                )
            with contextlib.suppress(httpx.TransportError):  # not listening yet
                healthy = healthy or client.get(f"{base_url}/healthz").status_code == 200
            if healthy:
                serving = serving_processes(process.pid, port)
                if len(serving) >= processes:
                    return
            time.sleep(0.1)
    raise BenchError(
        f"/healthz {'200' if healthy else 'not 200'} and {len(serving)} of {processes} "
        f"processes accepting within {HEALTH_TIMEOUT_S:.0f}s:\n{_log_tail(log)}"
    )


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (any address)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT, state 0A is LISTEN.
            if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                found.add(fields[9])
    return found


def serving_processes(pid: int, port: int) -> list[int]:
    """The processes of pid's tree whose event loop watches the socket listening on
    `port`: uvicorn starts watching it only after the application's start-up, so these
    are the processes that take connections now. Linux only, like the rest of /proc."""
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    serving = []
    for each in _process_tree(pid):
        listening: set[str] = set()
        polls: list[str] = []
        try:
            for fd in Path(f"/proc/{each}/fd").iterdir():
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link in targets:
                    listening.add(fd.name)
                elif link == "anon_inode:[eventpoll]":
                    polls.append(fd.name)
            watched = set()
            for fd_name in polls:
                info = Path(f"/proc/{each}/fdinfo/{fd_name}").read_text()
                watched.update(re.findall(r"^tfd:\s+(\d+)", info, re.MULTILINE))
        except OSError:
            continue  # exited meanwhile
        if listening & watched:
            serving.append(each)
    return serving


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM for a graceful shutdown, SIGKILL after STOP_TIMEOUT_S.

    The server runs in its own session, so signalling its process group also reaches
    any workers it forked and nothing else.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


@contextlib.contextmanager
def bench_server(
    database_url: str | None = None,
    extra_toml: str = "",
    processes: int = 1,
    database_toml: str = "",
    server_toml: str = "",
    command: list[str] | None = None,
) -> Iterator[Server]:
    """Temp dir + config + migrated database + running server (`processes` worker
    processes, `pointkeeper serve --workers`; `command`: another installation's
    `pointkeeper`); all torn down on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="pointkeeper-bench-"))
    process: subprocess.Popen[bytes] | None = None
    log = workdir / "server.log"
    started = False
    try:
        port = free_port()
        config, found = write_config(
            workdir, port, database_url, extra_toml, database_toml, server_toml
        )
        migrate(config, log, command)
        serve = [*(command or pointkeeper_command()), "serve", "--config", str(config)]
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*serve, "--workers", str(processes)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=server_environment(),
                start_new_session=True,
            )
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, process, log, processes)
        started = True
        yield Server(base_url, found, workdir, config, process, log, processes)
    except BaseException:
        # The temp dir (and the log in it) is about to go: show the log first. Startup
        # errors already carry it in their message.
        if started:
            print(f"--- server log tail ---\n{_log_tail(log)}", file=sys.stderr)
        raise
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of pid plus its descendants, in MiB.

    With `--processes N` that is uvicorn's supervisor, its N workers and multiprocessing's
    helpers. Summing the tree over-counts shared pages, but it is what N processes cost;
    with a single process it is exactly that process's peak. PostgreSQL's own backends
    are not in it.
    """
    total_kb = 0
    for each in _process_tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue  # exited meanwhile
        match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
        if match:
            total_kb += int(match.group(1))
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time pid and its descendants have used so far, in seconds."""
    ticks = 0
    for each in _process_tree(pid):
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are 14 and 15.
        fields = stat.rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def maestra_toml(endpoint_id: str, secret_key: str, operations: dict[str, str]) -> str:
    """`extra_toml` for `bench_server`: one Maestra endpoint and the named operations
    (name -> kind) allowed on it."""
    text = f"""
[[endpoints]]
id = {toml_str(endpoint_id)}
secret_key = {toml_str(secret_key)}
"""
    for name, kind in operations.items():
        text += f"""
[[operations]]
name = {toml_str(name)}
kind = {toml_str(kind)}
endpoints = [{toml_str(endpoint_id)}]
"""
    return text


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = tasks.read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_process_tree(int(child)))
    return found


# --------------------------------------------------------------------------- where it runs


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _with_database(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


async def _postgres(
    url: str, statement: str, *params: Any, rows: bool = True
) -> list[tuple[Any, ...]]:
    import asyncpg  # the project's driver; only needed on PostgreSQL

    connection = await asyncpg.connect(url, timeout=10)
    try:
        if not rows:  # the simple protocol, which CREATE / DROP DATABASE need
            await connection.execute(statement, *params)
            return []
        return [tuple(row) for row in await connection.fetch(statement, *params)]
    finally:
        await connection.close()


def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """One statement with `?` parameters on the database of `url` (SQLite or PostgreSQL),
    in a transaction of its own; answers the rows. For set-up and checks beside a running
    server, not for load."""
    if is_postgres(url):
        parts = statement.split("?")
        numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        return asyncio.run(_postgres(url, numbered, *params))
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
    try:
        with connection:
            return connection.execute(statement, params).fetchall()
    finally:
        connection.close()


def sql_outside_transaction(url: str, statement: str) -> None:
    """One PostgreSQL statement that may not run in a transaction (VACUUM)."""
    asyncio.run(_postgres(url, statement, rows=False))


def create_postgres_database(server_url: str = POSTGRES_SERVER, template: str | None = None) -> str:
    """A new empty (or `template`'s copy) database named pointkeeper_bench_<random>;
    answers its URL."""
    name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}"
    statement = f"CREATE DATABASE {name}"
    if template is not None:
        # The template must have no other session: only before its server starts.
        statement += f" TEMPLATE {_database_name(template)} STRATEGY FILE_COPY"
    try:
        asyncio.run(_postgres(server_url, statement, rows=False))
    except OSError as error:
        raise BenchError(
            f"PostgreSQL at {redact_url(server_url)} does not answer ({error}); "
            "set BENCH_POSTGRES_SERVER or --postgres-server"
        ) from None
    return _with_database(server_url, name)


def drop_postgres_database(url: str, server_url: str = POSTGRES_SERVER) -> None:
    name = _database_name(url)
    if not name.startswith(DATABASE_PREFIX):
        raise BenchError(f"refusing to drop {name!r}: not a bench database")
    statement = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    asyncio.run(_postgres(server_url, statement, rows=False))


@dataclass(frozen=True)
class Setup:
    """What a benchmark runs on, from the command line (`add_setup_arguments`)."""

    database: str  # "sqlite" or "postgres"
    database_url: str | None  # an explicit database, kept as it is
    processes: int
    postgres_server: str = POSTGRES_SERVER
    writers: int | None = None  # [database] writers / connections_max, when given
    connections_max: int | None = None
    loop: str | None = None  # [server] loop, when given

    @property
    def label(self) -> str:
        processes = "1 process" if self.processes == 1 else f"{self.processes} processes"
        loop = f", {self.loop} loop" if self.loop else ""
        return f"{self.database}, {processes}{loop}"

    @property
    def suffix(self) -> str:
        """For result file names: empty for the default SQLite, 1 process, default loop."""
        loop = f".{self.loop}" if self.loop else ""
        if self.database == "sqlite" and self.processes == 1:
            return loop
        return f".{self.database}-p{self.processes}{loop}"

    def pool_config(self) -> dict[str, int]:
        """The [database] keys beyond the URL, for a store the benchmark opens itself."""
        found = {"writers": self.writers, "connections_max": self.connections_max}
        return {key: value for key, value in found.items() if value is not None}

    def database_toml(self) -> str:
        lines = []
        if self.writers is not None:
            lines.append(f"writers = {self.writers}")
        if self.connections_max is not None:
            lines.append(f"connections_max = {self.connections_max}")
        return "".join(f"{line}\n" for line in lines)

    def server_toml(self) -> str:
        return f"loop = {toml_str(self.loop)}\n" if self.loop else ""

    @contextlib.contextmanager
    def fresh_database(self, folder: Path, name: str = "bench") -> Iterator[str]:
        """The URL of a database for one server: `--database-url` as it is, else a new
        SQLite file `name`.db in `folder` (the caller's to remove) or a new PostgreSQL
        database, dropped on the way out."""
        if self.database_url is not None:
            yield self.database_url
        elif self.database == "sqlite":
            yield f"sqlite:///{folder / name}.db"
        else:
            url = create_postgres_database(self.postgres_server)
            try:
                yield url
            finally:
                drop_postgres_database(url, self.postgres_server)

    @contextlib.contextmanager
    def copy_database(self, source: str, folder: Path, name: str) -> Iterator[str]:
        """A copy of a database no server has open, dropped (PostgreSQL) on the way out."""
        if is_postgres(source):
            url = create_postgres_database(self.postgres_server, template=source)
            try:
                yield url
            finally:
                drop_postgres_database(url, self.postgres_server)
            return
        path = source.removeprefix("sqlite:///")
        target = folder / f"{name}.db"
        for extension in ("", "-wal"):  # the WAL, if a closed database left one behind
            if Path(f"{path}{extension}").exists():
                shutil.copyfile(f"{path}{extension}", f"{target}{extension}")
        yield f"sqlite:///{target}"

    def server(self, database_url: str | None, extra_toml: str = "") -> Any:
        """`bench_server` with this set-up's processes and pool sizes."""
        return bench_server(
            database_url, extra_toml, self.processes, self.database_toml(), self.server_toml()
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "database_url": redact_url(self.database_url) if self.database_url else None,
            "processes": self.processes,
            "writers": self.writers,
            "connections_max": self.connections_max,
            "loop": self.loop,
        }


def add_setup_arguments(parser: argparse.ArgumentParser, *, explicit_url: bool = True) -> None:
    """--database, --database-url (unless the script needs databases of its own),
    --processes, --postgres-server, --writers, --connections-max, --loop."""
    group = parser.add_argument_group("where it runs")
    group.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="sqlite: a file in a temp dir; postgres: a fresh database "
        f"{DATABASE_PREFIX}<random> on --postgres-server, dropped afterwards",
    )
    if explicit_url:
        group.add_argument(
            "--database-url",
            help="an existing database to use as it is, not dropped (sets --database)",
        )
    group.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes (pointkeeper serve --workers N); RSS and CPU count them all",
    )
    group.add_argument(
        "--postgres-server",
        default=POSTGRES_SERVER,
        help="where --database postgres creates its databases (env BENCH_POSTGRES_SERVER)",
    )
    group.add_argument("--writers", type=int, help="[database] writers (PostgreSQL)")
    group.add_argument(
        "--connections-max", type=int, help="[database] connections_max (PostgreSQL)"
    )
    group.add_argument(
        "--loop", choices=("asyncio", "uvloop"), help="[server] loop (default: the server's)"
    )


def setup_from(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, serves: bool = True
) -> Setup:
    """`serves`: --processes are server processes (else the script's own processes)."""
    url: str | None = getattr(args, "database_url", None)
    database = args.database
    if url is not None:
        database = "postgres" if is_postgres(url) else "sqlite"
        if not url.startswith("sqlite:///") and database == "sqlite":
            parser.error("--database-url must start with sqlite:/// or postgresql://")
    if not 1 <= args.processes <= 64:
        parser.error("--processes must be 1 to 64")
    if database == "sqlite" and args.processes > 1 and serves:
        parser.error("--processes above 1 needs PostgreSQL: serve --workers refuses SQLite")
    if database == "sqlite" and args.processes > 1:
        print(
            "warning: several processes on one SQLite file contend for its write lock",
            file=sys.stderr,
        )
    return Setup(
        database=database,
        database_url=url,
        processes=args.processes,
        postgres_server=args.postgres_server,
        writers=args.writers,
        connections_max=args.connections_max,
        loop=args.loop,
    )


# --------------------------------------------------------------------------- admin API


def customer_number(index: int) -> str:
    return CUSTOMER_FORMAT % index


def customer_numbers(count: int) -> list[str]:
    return [customer_number(i) for i in range(1, count + 1)]


async def _gather_limited(
    calls: Iterable[Callable[[], Awaitable[Any]]], concurrency: int
) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


def create_customers(server: Server, numbers: list[str], concurrency: int = 32) -> None:
    """PUT each customer enrolled in the bench program; any non-2xx aborts the bench."""
    headers = {"Authorization": f"Bearer {server.secrets.admin_token}"}

    async def run() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:

            def put(number: str) -> Callable[[], Awaitable[httpx.Response]]:
                return lambda: c.put(f"/admin/v1/customers/{number}", json={"program": PROGRAM})

            answers = await _gather_limited((put(n) for n in numbers), concurrency)
        bad = [(n, r) for n, r in zip(numbers, answers, strict=True) if not r.is_success]
        if bad:
            number, answer = bad[0]
            raise BenchError(
                f"{len(bad)} customer PUTs failed; first {number}: "
                f"{answer.status_code} {answer.text[:300]}"
            )

    asyncio.run(run())


def sum_point_balances(server: Server, numbers: list[str], concurrency: int = 32) -> int:
    """Sum of CP Extender PointBalance over the given customers."""
    headers = {"Authorization": f"Bearer {server.secrets.bearer_token}"}

    async def run() -> int:
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:

            def get(number: str) -> Callable[[], Awaitable[httpx.Response]]:
                return lambda: c.get(f"/Loyalty/{number}/BalanceCheck")

            answers = await _gather_limited((get(n) for n in numbers), concurrency)
        total = 0
        for number, answer in zip(numbers, answers, strict=True):
            if answer.status_code != 200:
                raise BenchError(f"BalanceCheck {number}: {answer.status_code} {answer.text[:300]}")
            total += int(answer.json()["Loyalty"]["PointBalance"])
        return total

    return asyncio.run(run())


# --------------------------------------------------------------------------- wrk


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


# Below this share of busy connections a wrk run is a stall, not a measurement.
BUSY_MIN = 0.7


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


def to_ms(value: str, unit: str) -> float:
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
        duration_s=to_ms(total.group(2), total.group(3)) / 1000,
        requests_per_s=float(rate.group(1)),
        p50_ms=to_ms(p50.group(1), p50.group(2)),
        p99_ms=to_ms(p99.group(1), p99.group(2)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        mean_ms=to_ms(mean.group(1), mean.group(2)),
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


# --------------------------------------------------------------------------- report


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


def table(rows: list[Row]) -> str:
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


def sqlite_wal_path(database_url: str) -> Path:
    """Where SQLite keeps the write-ahead log of the database at ``database_url``."""
    return Path(database_url.removeprefix("sqlite:///") + "-wal")


class PeakFileSize:
    """The largest size a file reaches while the block runs (polled in a
    thread; 0 when the file never exists): how far SQLite's WAL grows."""

    def __init__(self, path: Path, interval_s: float = 0.01) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak_bytes = 0

    def _poll(self) -> None:
        while not self._stop.wait(self._interval_s):
            with contextlib.suppress(OSError):
                self.peak_bytes = max(self.peak_bytes, self._path.stat().st_size)

    def __enter__(self) -> PeakFileSize:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1024 / 1024


def print_table(rows: list[Row], notes: Iterable[str] = ()) -> None:
    print(table(rows))
    for note in notes:
        print(f"\n{note}")


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


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def redact_url(url: str) -> str:
    """Drop a password from a database URL before it goes into results."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------- profile


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profile(server: Server, output: Path) -> subprocess.Popen[bytes] | None:
    py_spy = _py_spy()
    if py_spy is None:
        print("--profile: install py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return None
    command = [py_spy, "record", "-p", str(server.pid), "-f", "raw", "-o", str(output)]
    command += ["--rate", "200", "--nonblocking", "--threads"]
    if server.processes > 1:
        command.append("--subprocesses")  # the workers, not only uvicorn's supervisor
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy needs a moment to attach
    return profiler


def stop_profile(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes the profile and exits
    try:
        profiler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()


def summarize_profile(output: Path, top: int = 25) -> list[str]:
    """The thread split, self time and inclusive time of pointkeeper's functions."""
    if not output.exists() or not output.stat().st_size:
        return ["py-spy wrote nothing"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        # With --subprocesses each stack starts with the process chain, the sampled
        # process last: 'process PID:"command";' (a command may hold a ';').
        chain = re.match(r'(?:process \d+:"[^"]*";)+', stack)
        process = ""
        if chain is not None:
            process = "process " + re.findall(r"process (\d+):", chain.group(0))[-1] + " "
            stack = stack[chain.end() :]
        frames = stack.split(";")
        n = int(samples)
        total += n
        threads[process + frames[0].split(" (")[0] + " " + frames[0].rpartition(": ")[2]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            if "pointkeeper/" in frame:
                inclusive[frame] += n
    if not total:
        return ["py-spy: no samples"]
    lines = [f"{n / total:6.1%}  {name}" for name, n in threads.most_common(6)]
    lines.append("self time:")
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("inclusive, pointkeeper functions:")
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return lines


def run_main(main: Callable[[], int]) -> NoReturn:
    """Runs a benchmark's `main` as the script's exit status; a `BenchError` or a request
    that got no answer ends it with status 1 and the reason."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"BENCH FAILED: {error}", file=sys.stderr)
    except httpx.TimeoutException as error:
        print(f"BENCH FAILED: {no_answer(error)}", file=sys.stderr)
    sys.exit(1)
