"""An admin request that fails in a way no handler expects: 500 with an error
id that the log repeats, and the keep-alive connection stays open (it used
to be dropped: Starlette's last-resort handler answers and raises again).
Served by the real server stack, as ``pointkeeper serve`` runs it."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

from pointkeeper.app import create_app
from pointkeeper.serving import uvicorn_config
from tests.conftest import ADMIN_TOKEN, make_config

_start_seconds_max = 10.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """The application, with an admin route that fails as a bug would, on a
    real server in a thread; answers its port."""
    config = make_config(tmp_path)
    app = create_app(config)
    admin = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
    assert isinstance(admin, FastAPI)

    @admin.get("/v1/failing")
    async def failing() -> None:
        raise RuntimeError("a bug")

    server = uvicorn.Server(uvicorn_config(app, config, port=0))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + _start_seconds_max
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    thread.join(_start_seconds_max)


def _answer(connection: socket.socket, request: bytes) -> tuple[int, bytes]:
    connection.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(v.split(b":")[1]) for v in lines if v.lower().startswith(b"content-length"))
    while len(body) < length:
        body += connection.recv(65536)
    return int(lines[0].split(b" ")[1]), body


def test_an_unexpected_failure_is_500_with_an_error_id_and_keeps_the_connection(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    auth = b"authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
    with socket.create_connection(("127.0.0.1", served), timeout=_start_seconds_max) as connection:
        status, body = _answer(
            connection, b"GET /admin/v1/failing HTTP/1.1\r\nhost: test\r\n" + auth + b"\r\n"
        )
        assert status == 500
        error = orjson.loads(body)["error"]
        assert (error["code"], error["message"]) == ("internal_error", "Internal Server Error")
        # The same connection serves the next request.
        assert _answer(connection, b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")[0] == 200
    logged = [r for r in caplog.records if getattr(r, "error_id", None) == error["errorId"]]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "a bug" not in body.decode()
