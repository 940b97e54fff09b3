"""A real ``pointkeeper serve`` process for end-to-end tests.

The server runs as a child process on a free port of 127.0.0.1 with its own
TOML configuration and SQLite file under the test's temporary folder. Its
output goes to a log file next to the database, shown when start-up fails.
"""

from __future__ import annotations

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


def config_data(folder: Path, *, port: int) -> dict[str, Any]:
    return {
        "database": {"url": f"sqlite:///{folder}/pointkeeper.db"},
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


class ServerProcess:
    """One database folder; ``start`` may be called again after ``stop`` or
    ``kill`` to bring a new server up on the same database. ``sections`` are
    configuration sections beside the defaults (Maestra endpoints and
    operations, say)."""

    def __init__(self, folder: Path, *, sections: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self._sections = sections or {}
        self.port = 0
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / f"server-{self.starts}.log"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, *, overrides: dict[str, Any] | None = None, wait: bool = True) -> str:
        """Starts the server, with ``overrides`` replacing whole sections for
        this start, and waits until ``/healthz`` answers 200 unless told not to."""
        assert self._process is None, "the server is already running"
        self.port = _free_port()
        self.starts += 1
        config_path = self.folder / "pointkeeper.toml"
        data = {**config_data(self.folder, port=self.port), **self._sections, **(overrides or {})}
        config_path.write_text(_toml(data), encoding="utf-8")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("POINTKEEPER_")}
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pointkeeper.cli", "serve", "--config", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                cwd=self.folder,
            )
        if wait:
            self.wait_healthy()
        return self.base_url

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + _start_seconds_max
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    self._process = None
                    raise RuntimeError(f"the server exited during start-up:\n{self.log_tail()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(_poll_seconds)
        self.kill()
        raise RuntimeError(f"the server did not become healthy in time:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminates the server gracefully; kills it when that takes too long."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(_stop_seconds_max)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(_stop_seconds_max)
        self._process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash or power cut."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(_stop_seconds_max)
        self._process = None

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return text[-_log_tail_chars_max:]


@contextmanager
def running_server(
    folder: Path, *, sections: dict[str, Any] | None = None
) -> Iterator[ServerProcess]:
    server = ServerProcess(folder, sections=sections)
    server.start()
    try:
        yield server
    finally:
        server.stop()
