"""A database that cannot be opened is said in one line by every command,
as a user runs them (real processes), and by the server's start-up."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pointkeeper.app import create_app
from tests import databases
from tests.conftest import make_config

_command_seconds_max = 60

# Every command that opens the database, as a user would type it.
_COMMANDS = [
    ["migrate"],
    ["serve"],
    ["serve", "--workers", "2"],
    ["jobs", "run"],
    ["worker"],
    ["pools", "put", "WELCOME", "--name", "Welcome"],
    ["segments", "put", "VIP", "--name", "VIP"],
]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(tmp_path: Path, database_url: str, command: list[str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "pointkeeper.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pointkeeper.cli", *command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=_command_seconds_max,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )


def _said_in_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", _COMMANDS, ids=" ".join)
def test_an_unreachable_postgresql_is_one_line(tmp_path: Path, command: list[str]) -> None:
    port = _closed_port()
    result = _run(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/test", command)
    expected = f"Error: database: could not connect to 127.0.0.1:{port} (connection refused)"
    assert _said_in_one_line(result) == expected


@pytest.mark.parametrize("command", [["migrate"], ["serve"], ["jobs", "run"]], ids=" ".join)
def test_a_sqlite_file_that_cannot_be_made_is_one_line(tmp_path: Path, command: list[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _run(tmp_path, f"sqlite:///{blocker}/pointkeeper.db", command)
    line = _said_in_one_line(result)
    assert line.startswith(f"Error: database: could not open {blocker}/pointkeeper.db (")


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["migrate"], ["serve"]], ids=" ".join)
def test_a_postgresql_that_refuses_the_login_is_one_line(
    tmp_path: Path, command: list[str], postgres_template: None
) -> None:
    url = databases.database_url("no_such_database_here")
    result = _run(tmp_path, url, command)
    line = _said_in_one_line(result)
    assert line.startswith("Error: database: PostgreSQL at 127.0.0.1:5432 refused the connection:")
    assert "no_such_database_here" in line


async def _start(app: Any) -> list[dict[str, Any]]:
    """Runs the application's start-up as a server does; answers what it said."""
    said: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        try:
            return next(messages)
        except StopIteration:
            await asyncio.Event().wait()  # a server would send shutdown later
            raise AssertionError("unreachable") from None

    async def send(message: dict[str, Any]) -> None:
        said.append(message)

    with pytest.raises(Exception, match="could not connect"):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return said


def test_a_server_process_that_cannot_open_the_database_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    """What each process of ``serve --workers N`` logs when the database
    goes away between the command's check and its own start-up."""
    port = _closed_port()
    config = make_config(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/test")
    said = asyncio.run(_start(create_app(config)))
    assert said == [
        {
            "type": "lifespan.startup.failed",
            "message": f"database: could not connect to 127.0.0.1:{port} (connection refused)",
        }
    ]
