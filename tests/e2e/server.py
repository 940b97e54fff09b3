"""Real ``pointkeeper serve`` and ``pointkeeper worker`` processes for
end-to-end tests.

A server runs as a child process on a free port of 127.0.0.1 with its own
TOML configuration under the test's temporary folder, on the SQLite file in
that folder or on a database URL it is given (PostgreSQL, which several
servers and workers may share). Its output goes to a log file in the folder,
shown when start-up fails.

Each child leads a process group of its own: ``serve --workers N`` forks
its workers, and a SIGKILL must reach them too, as a machine's crash would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "ADMIN_TOKEN",
    "CP_TOKEN",
    "PROGRAM",
    "ServerProcess",
    "WorkerProcess",
    "admin_headers",
    "cp_headers",
    "running_server",
]

ADMIN_TOKEN = "admin-token-for-e2e-tests"
CP_TOKEN = "cp-token-for-e2e-tests"
JWT_SECRET = "jwt-secret-for-e2e-tests-0123456789"
PROGRAM = "Loyalty program 1"

_start_seconds_max = 30.0
_stop_seconds_max = 10.0
_poll_seconds = 0.05
_log_tail_chars_max = 4_000


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def cp_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {CP_TOKEN}"}


def _free_port() -> int:
    # Another process could take the port between here and the server's bind;
    # on a test machine that is rare enough, and start-up would fail loudly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string of printable text is a valid TOML basic string.
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _toml(data: dict[str, Any]) -> str:
    """Tables of scalars and arrays of tables of scalars: all a config needs."""
    lines: list[str] = []
    for section, body in data.items():
        tables = body if isinstance(body, list) else [body]
        header = f"[[{section}]]" if isinstance(body, list) else f"[{section}]"
        for table in tables:
            lines.append(header)
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
            lines.append("")
    return "\n".join(lines)


def config_data(folder: Path, *, port: int, database_url: str | None = None) -> dict[str, Any]:
    return {
        "database": {"url": database_url or f"sqlite:///{folder}/pointkeeper.db"},
        "server": {"host": "127.0.0.1", "port": port},
        "jobs": {"enabled": False},
        "admin": {"tokens": [ADMIN_TOKEN]},
        "cp_extender": {
            "tokens": [CP_TOKEN],
            "jwt_secret": JWT_SECRET,
            "users": [{"name": "web", "password": "web-password"}],
        },
        "programs": [
            {
                "name": PROGRAM,
                "earning_description": "1 point per dollar",
                "redemption_description": "100 points = $1",
            }
        ],
    }


def _environment() -> dict[str, str]:
    # The test's configuration file is the whole configuration.
    return {k: v for k, v in os.environ.items() if not k.startswith("POINTKEEPER_")}


class _Child:
    """A ``pointkeeper`` command run as the leader of a new process group."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self._name = name
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self._name}-{self.starts}.log"

    @property
    def config_path(self) -> Path:
        return self.folder / f"{self._name}.toml"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _spawn(self, data: dict[str, Any], *arguments: str) -> None:
        assert self._process is None, f"the {self._name} is already running"
        self.starts += 1
        self.config_path.write_text(_toml(data), encoding="utf-8")
        command = [sys.executable, "-m", "pointkeeper.cli", *arguments]
        command += ["--config", str(self.config_path)]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_environment(),
                cwd=self.folder,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _exited(self) -> bool:
        """True (and forgotten) when the child has ended by itself."""
        if self._process is not None and self._process.poll() is not None:
            self._kill_group()
            self._process = None
            return True
        return False

    def _kill_group(self) -> None:
        assert self._process is not None
        # The leader may be gone already while a forked worker lives on.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Terminates gracefully; kills the whole group when that takes too long."""
        if self._process is None:
            return
        self._process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(_stop_seconds_max)
        # Whatever the leader left behind goes with it.
        self._kill_group()
        self._process.wait(_stop_seconds_max)
        self._process = None

    def kill(self) -> None:
        """SIGKILL to every process of the group: no shutdown handler runs,
        as in a crash or power cut."""
        if self._process is None:
            return
        self._kill_group()
        self._process.wait(_stop_seconds_max)
        self._process = None

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return text[-_log_tail_chars_max:]


class ServerProcess(_Child):
    """One folder for the configuration and logs (and the SQLite file,
    unless ``database_url`` names another database); ``start`` may be called
    again after ``stop`` or ``kill`` to bring a new server up on the same
    database. ``sections`` are configuration sections beside the defaults
    (Maestra endpoints and operations, say), ``server_options`` keys of the
    ``[server]`` section; ``workers`` above 1 runs ``serve --workers N``:
    that many processes behind one port."""

    def __init__(
        self,
        folder: Path,
        *,
        sections: dict[str, Any] | None = None,
        database_url: str | None = None,
        workers: int = 1,
        server_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(folder, "server")
        assert workers >= 1
        self._sections = sections or {}
        self._server_options = server_options or {}
        self.database_url = database_url or f"sqlite:///{folder}/pointkeeper.db"
        self.workers = workers
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, overrides: dict[str, Any] | None = None, wait: bool = True) -> str:
        """Starts the server, with ``overrides`` replacing whole sections for
        this start, and waits until ``/healthz`` answers 200 unless told not to."""
        self.port = _free_port()
        defaults = config_data(self.folder, port=self.port, database_url=self.database_url)
        defaults["server"].update(self._server_options)
        data = {**defaults, **self._sections, **(overrides or {})}
        self._spawn(data, "serve", "--workers", str(self.workers))
        if wait:
            self.wait_healthy()
        return self.base_url

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + _start_seconds_max
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._exited():
                    raise RuntimeError(f"the server exited during start-up:\n{self.log_tail()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(_poll_seconds)
        self.kill()
        raise RuntimeError(f"the server did not become healthy in time:\n{self.log_tail()}")


class WorkerProcess(_Child):
    """``pointkeeper worker`` on a database the servers share: the periodic
    jobs and the queued asynchronous calls, every ``interval_seconds``."""

    def __init__(
        self,
        folder: Path,
        *,
        database_url: str,
        sections: dict[str, Any] | None = None,
        interval_seconds: float = 0.2,
    ) -> None:
        super().__init__(folder, "worker")
        self.database_url = database_url
        self._sections = sections or {}
        self._interval_seconds = interval_seconds

    def start(self) -> None:
        defaults = config_data(self.folder, port=0, database_url=self.database_url)
        jobs = {"jobs": {"enabled": True, "interval_seconds": self._interval_seconds}}
        self._spawn({**defaults, **self._sections, **jobs}, "worker")

    def check_running(self) -> None:
        """Fails with the log when the worker has ended by itself."""
        if self._exited():
            raise RuntimeError(f"the worker exited:\n{self.log_tail()}")


@contextmanager
def running_server(
    folder: Path,
    *,
    sections: dict[str, Any] | None = None,
    database_url: str | None = None,
    workers: int = 1,
    server_options: dict[str, Any] | None = None,
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        folder,
        sections=sections,
        database_url=database_url,
        workers=workers,
        server_options=server_options,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
