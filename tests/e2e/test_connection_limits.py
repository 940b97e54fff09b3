"""What one client can do to a real server before any route runs: headers
bounded in size (431), in time (408) with the body, idle connections closed,
the number of connections capped (503) -- on every API, on SQLite with one
process and on PostgreSQL with ``serve --workers 2``, on either event loop. Each test is bounded
in time: a server that waits for ever fails it instead of hanging the run.
"""

from __future__ import annotations

import json
import os
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import CP_TOKEN, ServerProcess, running_server

pytestmark = pytest.mark.slow

_header_bytes_max = 16 * 1024  # the default
_timeout_seconds = 1.0  # the test server's header and body timeouts
_keep_alive_seconds = 1.0
_connections_max = 40
# A server may close a connection this much after its bound, at most.
_slack_seconds = 2.0
_answer_seconds_max = 5.0

_OPTIONS = {
    "header_timeout_seconds": _timeout_seconds,
    "body_timeout_seconds": _timeout_seconds,
    "keep_alive_seconds": _keep_alive_seconds,
    "connections_max": _connections_max,
}
_MAESTRA = {
    "endpoints": [{"id": "shop", "secret_key": "shop-key"}],
    "operations": [{"name": "Balance", "kind": "GetCustomerBalance", "endpoints": ["shop"]}],
}
# A request of each API (the path and the start of its head).
_REQUESTS = {
    "healthz": b"GET /healthz HTTP/1.1\r\n",
    "cp_extender": b"POST /Loyalty/Earn HTTP/1.1\r\nContent-Length: 2\r\n",
    "maestra": b"POST /v3/operations/sync?endpointId=shop&operation=Balance HTTP/1.1\r\n",
    "admin": b"GET /admin/v1/customers/C1 HTTP/1.1\r\n",
}


# The bounds live in the protocol, over the loop's transports: both loops
# the configuration offers must keep them.
@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    module_database_url: str,
) -> Iterator[ServerProcess]:
    workers = 1 if module_database_url.startswith("sqlite:") else 2
    with running_server(
        tmp_path_factory.mktemp("limits"),
        sections=_MAESTRA,
        database_url=module_database_url,
        workers=workers,
        server_options={**_OPTIONS, "loop": request.param},
    ) as process:
        yield process


def _connect(server: ServerProcess) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=_answer_seconds_max)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _status(connection: socket.socket) -> int:
    """The status of the next answer on the connection (0 when it closes first)."""
    head = b""
    while b"\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            return 0
        head += chunk
    return int(head.split(b" ", 2)[1])


def _read_answer(connection: socket.socket) -> tuple[int, bytes]:
    """One whole answer (its status and body), read by its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return int(lines[0].split(b" ", 2)[1]), body


def _closed_within(connection: socket.socket, seconds: float) -> tuple[int, float]:
    """(status answered or 0, seconds) until the server closes the connection."""
    started = time.monotonic()
    connection.settimeout(seconds)
    status = _status(connection)
    while connection.recv(4096):
        pass
    return status, time.monotonic() - started


@pytest.mark.parametrize("api", sorted(_REQUESTS))
def test_a_head_over_the_bound_is_431_on_every_api(server: ServerProcess, api: str) -> None:
    with _connect(server) as connection:
        filler = b"x-filler: " + b"a" * _header_bytes_max + b"\r\n"
        connection.sendall(_REQUESTS[api] + b"host: test\r\n" + filler + b"\r\n{}")
        assert _status(connection) == 431


@pytest.mark.parametrize("pieces", [1, 3], ids=["at once", "in pieces"])
def test_a_head_just_under_the_bound_is_served(server: ServerProcess, pieces: int) -> None:
    filler = b"x-filler: " + b"a" * (_header_bytes_max - 1024) + b"\r\n"
    head = b"GET /Connection/Status HTTP/1.1\r\nhost: test\r\n" + filler + b"\r\n"
    size = len(head) // pieces + 1
    with _connect(server) as connection:
        for start in range(0, len(head), size):
            connection.sendall(head[start : start + size])
            time.sleep(0.05)  # each piece arrives on its own
        assert _read_answer(connection) == (200, b'{"Status":"Ok"}')


def test_a_header_streamed_for_ever_is_cut_at_the_bound(server: ServerProcess) -> None:
    """A header line that never ends is refused once it passes the bound,
    not held in memory while it grows."""
    sent = 0
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nx-slow: ")
        try:
            while sent < 8 * _header_bytes_max:
                connection.sendall(b"a" * 512)
                sent += 512
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server has answered and closed
        assert _closed_within(connection, _answer_seconds_max)[0] == 431
    assert sent < 4 * _header_bytes_max


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /healthz HTTP/1.1\r\nhost: te"],
    ids=["nothing", "half a head"],
)
def test_a_head_that_does_not_come_ends_the_connection(server: ServerProcess, sent: bytes) -> None:
    with _connect(server) as connection:
        connection.sendall(sent)
        status, seconds = _closed_within(connection, _timeout_seconds + _slack_seconds)
    # Nothing asked, nothing answered; half a request is told why.
    assert status == (408 if sent else 0)
    assert seconds < _timeout_seconds + _slack_seconds


def test_a_body_shorter_than_its_length_ends_the_connection(server: ServerProcess) -> None:
    head = (
        b"POST /Loyalty/Earn HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + CP_TOKEN.encode() + b"\r\ncontent-length: 100\r\n\r\n"
    )
    with _connect(server) as connection:
        connection.sendall(head + b'{"CustomerNumber": "C1"')
        status, seconds = _closed_within(connection, _timeout_seconds + _slack_seconds)
    assert status == 408
    assert seconds < _timeout_seconds + _slack_seconds


def test_an_idle_keep_alive_connection_is_closed(server: ServerProcess) -> None:
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        assert _read_answer(connection)[0] == 200
        status, seconds = _closed_within(connection, _keep_alive_seconds + _slack_seconds)
    assert (status, seconds < _keep_alive_seconds + _slack_seconds) == (0, True)


def test_slow_clients_do_not_slow_the_others(server: ServerProcess) -> None:
    """Half-sent requests wait on their own timers; everyone else is served."""
    slow = [_connect(server) for _ in range(_connections_max // 4)]
    try:
        for connection in slow:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nhost: te")
        started = time.monotonic()
        for _ in range(20):
            with _connect(server) as connection:
                connection.sendall(b"GET /Connection/Status HTTP/1.1\r\nhost: test\r\n\r\n")
                assert _read_answer(connection)[0] == 200
        assert time.monotonic() - started < _answer_seconds_max
    finally:
        for connection in slow:
            connection.close()


def test_connections_past_the_cap_are_refused_at_once(tmp_path: Path) -> None:
    """The cap is per process: one process (on SQLite) shows it."""
    with running_server(tmp_path, server_options=_OPTIONS) as server:
        held = [_connect(server) for _ in range(_connections_max)]
        try:
            time.sleep(0.2)  # every one of them accepted
            with _connect(server) as refused:
                refused.sendall(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
                status, body = _read_answer(refused)
            assert status == 503, body
        finally:
            for connection in held:
                connection.close()
        time.sleep(0.2)  # the server has seen them go
        with _connect(server) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
            status, body = _read_answer(connection)
        assert (status, json.loads(body)) == (200, {"status": "ok"})


def _mapped_files(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # gone meanwhile
        return ""


def test_the_configured_loop_serves(server: ServerProcess) -> None:
    """``server.loop`` reaches every process: uvloop is loaded only when asked."""
    wanted = tomllib.loads(server.config_path.read_text())["server"]["loop"]
    assert _uses_uvloop(server) == (wanted == "uvloop")


def test_the_automatic_loop_follows_the_database(tmp_path: Path, module_database_url: str) -> None:
    """By default SQLite (one process) is served on asyncio's loop, PostgreSQL on uvloop."""
    on_postgres = not module_database_url.startswith("sqlite:")
    workers = 2 if on_postgres else 1
    with running_server(tmp_path, database_url=module_database_url, workers=workers) as server:
        assert _uses_uvloop(server) == on_postgres


def _uses_uvloop(server: ServerProcess) -> bool:
    """Whether the server's processes run on uvloop (all of them, or none)."""
    group = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _process_group(int(entry.name)) == server.pid
    ]
    # With workers, the serving processes are the ones multiprocessing spawned
    # (not the supervisor, nor multiprocessing's resource tracker).
    serving = [pid for pid in group if server.workers == 1 or b"spawn_main" in _command(pid)]
    loaded = {pid: "uvloop/loop" in _mapped_files(pid) for pid in serving}
    assert len(serving) == server.workers and len(set(loaded.values())) == 1, loaded
    return next(iter(loaded.values()))


def _process_group(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
