"""The HTTP server: uvicorn (httptools; asyncio's loop or uvloop, as
``server.loop`` says) with the bounds a server on an open network needs,
which uvicorn leaves out.

Without them one unauthenticated client could hold the server: a header
line streamed for ever grows in memory, a connection that sends nothing (or
half a request, or a body shorter than its ``Content-Length``) stays open
for ever, and enough of those use up the process's file descriptors. Here:

* a request's line and headers together are at most ``header_bytes_max``
  (431 past it, counted as they arrive, before they are whole);
* they must arrive within ``header_timeout_seconds`` of the connection's
  start or of the request's first byte (408), the body within
  ``body_timeout_seconds`` of the headers (408), and an idle keep-alive
  connection is closed after ``keep_alive_seconds``;
* at most ``connections_max`` connections are open at once per process; one
  more is answered 503 and closed at once. The file limit is raised at start
  as far as the system allows, and the cap kept under it.

The limits apply before any route runs, so they hold on every API alike.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import tempfile
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from pointkeeper import metrics
from pointkeeper.config import Config, ServerConfig, is_postgres

__all__ = ["ConnectionLimits", "GuardedHttpToolsProtocol", "run_server", "uvicorn_config"]

_log = logging.getLogger(__name__)

# File descriptors kept for what is not a client connection: the listening
# socket, database connections and files, the log.
_descriptors_reserved = 64
# uvicorn's exit status when start-up fails.
_startup_failure_status = 3


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_bytes_max: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    connections_max: int

    @classmethod
    def of(cls, server: ServerConfig, *, connections_max: int | None = None) -> ConnectionLimits:
        return cls(
            header_bytes_max=server.header_bytes_max,
            header_timeout_seconds=server.header_timeout_seconds,
            body_timeout_seconds=server.body_timeout_seconds,
            connections_max=server.connections_max if connections_max is None else connections_max,
        )


class _UvicornConfig(uvicorn.Config):
    """uvicorn's configuration with the limits its protocol reads: it is what
    each protocol instance is given, and what ``--workers`` hands to each
    process it starts."""

    def __init__(self, app: Any, *, connection_limits: ConnectionLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.connection_limits = connection_limits


class _HeadTooLarge(Exception):
    """Raised from a parser callback once a request's head passes its bound."""


class _Deadlines:
    """The deadlines of one process's connections, checked every
    ``_sweep_seconds`` by one timer: a timer per request (two, with the body)
    cost the raw endpoint a fifth of its rate, an attribute costs nothing."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server_state: ServerState) -> None:
        self._loop = loop
        self._connections = server_state.connections
        self._handle = loop.call_later(_sweep_seconds, self._sweep)

    def _sweep(self) -> None:
        now = self._loop.time()
        for connection in list(self._connections):
            deadline = getattr(connection, "deadline", None)
            if deadline is not None and now >= deadline:
                assert isinstance(connection, GuardedHttpToolsProtocol)
                connection.timed_out()
        self._handle = self._loop.call_later(_sweep_seconds, self._sweep)


# How often the deadlines are checked: a connection may outlive its bound by
# up to this much.
_sweep_seconds = 0.5
# One sweep per server (a test process may run several, one after another).
_deadlines: weakref.WeakKeyDictionary[ServerState, _Deadlines] = weakref.WeakKeyDictionary()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of this module."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, _UvicornConfig)
        self._limits = config.connection_limits
        # Between requests and until a request's headers are whole, the
        # bytes that arrive belong to a head: counted as chunks while it is
        # unfinished (what the parser holds), exactly once it is whole.
        self._reading_head = True
        self._head_chunk_bytes = 0
        self._chunk_bytes = 0
        self._heads_completed = 0
        # When (loop time) the head or the body now awaited is overdue.
        self.deadline: float | None = None
        if server_state not in _deadlines:
            _deadlines[server_state] = _Deadlines(self.loop, server_state)

    # -- the connection --------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.connections_max:
            self._refuse(503, "Too many connections; retry later")
            return
        self.deadline = self.loop.time() + self._limits.header_timeout_seconds

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but for the bounds: a head too large is 431, not 400.
        self._unset_keepalive_if_required()
        heads_before, reading_before = self._heads_completed, self._reading_head
        self._chunk_bytes = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse(431, "Request header fields too large")
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if reading_before and self._reading_head and self._heads_completed == heads_before:
            # All of this chunk belongs to one unfinished head: count it now,
            # while the parser holds it, not once the head is whole.
            self._head_chunk_bytes += len(data)
            if self._head_chunk_bytes > self._limits.header_bytes_max:
                self._refuse(431, "Request header fields too large")

    # -- parser callbacks ------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_chunk_bytes = 0
        if self.deadline is None:
            self.deadline = self.loop.time() + self._limits.header_timeout_seconds

    def on_headers_complete(self) -> None:
        # The head may have ended within a chunk that also held a body: only
        # then is it measured exactly, field by field.
        if self._head_chunk_bytes + self._chunk_bytes > self._limits.header_bytes_max:
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if self._head_chunk_bytes + size > self._limits.header_bytes_max:
                raise _HeadTooLarge
        self._reading_head = False
        self._heads_completed += 1
        super().on_headers_complete()
        self.deadline = self.loop.time() + self._limits.body_timeout_seconds

    def on_message_complete(self) -> None:
        self.deadline = None
        self._reading_head = True
        self._head_chunk_bytes = 0
        super().on_message_complete()

    # -- the bounds --------------------------------------------------------

    def timed_out(self) -> None:
        """The head or body awaited has not come in time: ends the connection."""
        self.deadline = None
        if self.transport.is_closing():
            return
        if (self._reading_head and self._head_chunk_bytes == 0) or self._answering():
            # Nothing asked yet (a connection opened ahead of need), or an
            # answer under way: nothing to say, the connection just ends.
            self._close()
        else:
            self._refuse(408, "Request timeout")

    def _answering(self) -> bool:
        """True while an answer has begun and not ended (``cycle`` is the
        last request's, which may have been answered long ago)."""
        cycle = self.cycle
        return cycle is not None and cycle.response_started and not cycle.response_complete

    def _refuse(self, status: int, message: str) -> None:
        """Answers ``status`` (unless an answer is under way) and ends the connection."""
        if not self._answering():
            body = message.encode()
            retry = b"retry-after: 1\r\n" if status == 503 else b""
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n%s\r\n%s"
                % (status, HTTPStatus(status).phrase.encode(), len(body), retry, body)
            )
        self._close()

    def _close(self) -> None:
        self.deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A request still being read or answered sees the client gone.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def _raise_file_limit(wanted: int) -> int:
    """Raises this process's open-file limit towards ``wanted`` as far as the
    hard limit allows; answers the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            _log.warning("could not raise the open-file limit above %d", soft)
    return soft


def _event_loop(config: Config) -> str:
    """The event loop ``server.loop`` names, with "auto" chosen by the database."""
    if config.server.loop != "auto":
        return config.server.loop
    return "uvloop" if is_postgres(config.database.url) else "asyncio"


def uvicorn_config(app: Any, config: Config, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration of ``app`` (an application, or with
    ``factory=True`` an import string) under the server's bounds."""
    server = config.server
    wanted = server.connections_max + _descriptors_reserved
    connections_max = max(
        1, min(server.connections_max, _raise_file_limit(wanted) - _descriptors_reserved)
    )
    if connections_max < server.connections_max:
        _log.warning(
            "server.connections_max lowered to %d: the open-file limit allows no more",
            connections_max,
        )
    defaults: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "loop": _event_loop(config),
        "http": GuardedHttpToolsProtocol,
        "ws": "none",
        "access_log": False,
        "log_config": None,
        # Forwarded headers are trusted only when an operator says so
        # (docs/deployment.md); reading them costs every request.
        "proxy_headers": False,
        "timeout_keep_alive": server.keep_alive_seconds,
        # A connection the queue has no room for waits for the client to
        # try again, a second or more: the listen queue holds as many as
        # the server would accept.
        "backlog": server.backlog,
        "timeout_graceful_shutdown": 10,
    }
    return _UvicornConfig(
        app,
        connection_limits=ConnectionLimits.of(server, connections_max=connections_max),
        **{**defaults, **options},
    )


def run_server(config: Config, app: Any, *, workers: int = 1) -> None:
    """Serves ``app`` until stopped; with ``workers`` above 1, ``app`` is the
    import string of a factory each process calls (they share the port)."""
    if workers > 1 and config.metrics.serve != "off":
        # One folder for every worker's metrics, emptied of an earlier run's.
        folder = Path(tempfile.gettempdir()) / f"pointkeeper-metrics-{config.server.port}"
        metrics.prepare_multiprocess(folder)
    if config.metrics.serve == "own-port":
        metrics.serve_on_own_port(config.metrics.host, config.metrics.port)
    if workers == 1:
        server = uvicorn.Server(uvicorn_config(app, config))
        server.run()
        if not server.started:
            sys.exit(_startup_failure_status)
        return
    options = uvicorn_config(app, config, factory=True, workers=workers)
    Multiprocess(options, sockets=[options.bind_socket()]).run()
