"""Starting and stopping a throwaway `pointkeeper serve` for a benchmark.

`bench_server()` makes a temp dir, writes a configuration there (fresh random secrets,
jobs off, one program; `configs`), migrates the database, starts the server in a session
of its own and waits until every one of its processes takes connections; on the way out
it stops the server and removes the temp dir. `command` serves from another
installation (another checkout's venv), which is how an A/B comparison runs a "before".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pointkeeper.secrets import new_secret

from .configs import PROGRAM, merged, write_config
from .failures import BenchError
from .measure import peak_rss_mb, serving_processes

__all__ = [
    "Secrets",
    "Server",
    "bench_server",
    "pointkeeper_command",
    "server_environment",
]

HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Secrets:
    admin_token: str
    bearer_token: str
    jwt_secret: str

    @classmethod
    def fresh(cls) -> Secrets:
        return cls(new_secret(), new_secret(), new_secret(32))


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


def _free_port() -> int:
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


def _base_config(port: int, database_url: str, found: Secrets) -> dict[str, Any]:
    """A minimal configuration; jobs off so that they do not skew the load."""
    return {
        "database": {"url": database_url},
        "server": {"host": "127.0.0.1", "port": port},
        "jobs": {"enabled": False},
        "admin": {"tokens": [found.admin_token]},
        "cp_extender": {
            "tokens": [found.bearer_token],
            "jwt_secret": found.jwt_secret,
            "users": [],
        },
        "programs": [{"name": PROGRAM}],
    }


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def server_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without POINTKEEPER_* variables, plus `overrides`: the
    configuration is the bench's file and what the caller chose alone
    (POINTKEEPER_DATABASE_URL would move the server to another database, and an unknown
    POINTKEEPER_* section stops it from starting at all)."""
    found = {k: v for k, v in os.environ.items() if not k.startswith("POINTKEEPER_")}
    return {**found, **(overrides or {})}


def _migrate(config: Path, log: Path, command: list[str], env: dict[str, str]) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [*command, "migrate", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise BenchError(f"pointkeeper migrate failed ({done.returncode}):\n{_log_tail(log)}")


def _wait_healthy(
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


def _stop(process: subprocess.Popen[bytes]) -> None:
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
    *,
    settings: Mapping[str, Any] | None = None,
    processes: int = 1,
    command: list[str] | None = None,
    environment: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Temp dir + config + migrated database + running server, all torn down on exit.

    `database_url`: else a SQLite file in the temp dir. `settings`: configuration laid
    over the minimal one (`configs.merged`). `processes`: `pointkeeper serve --workers`.
    `command`: another installation's `pointkeeper`. `environment`: POINTKEEPER_*
    overrides, read by the server itself (and so the way to set what only that
    installation knows)."""
    workdir = Path(tempfile.mkdtemp(prefix="pointkeeper-bench-"))
    process: subprocess.Popen[bytes] | None = None
    log = workdir / "server.log"
    found = Secrets.fresh()
    started = False
    command = command or pointkeeper_command()
    env = server_environment(environment)
    try:
        port = _free_port()
        url = database_url or f"sqlite:///{workdir / 'bench.db'}"
        config = workdir / "pointkeeper.toml"
        write_config(config, merged(_base_config(port, url, found), settings or {}))
        _migrate(config, log, command, env)
        serve = [*command, "serve", "--config", str(config), "--workers", str(processes)]
        with log.open("ab") as out:
            process = subprocess.Popen(
                serve,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, process, log, processes)
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
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
