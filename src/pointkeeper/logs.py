"""Structured (JSON lines) logs, each record carrying the request id.

The request id comes from the caller's ``X-Request-Id`` header when it is a
sane token, or is made up; it is echoed in the response's header.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import sys
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pointkeeper.metrics import RequestTimer

__all__ = ["RequestIdMiddleware", "configure_logging", "new_error_id", "request_id"]

_access = logging.getLogger("pointkeeper.access")

request_id: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "request_id", default=None
)
_sane_id = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_record_fields = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
# A made-up request id is this process's random prefix and a counter: unique
# enough to find a request in the logs, and far cheaper than uuid4 per request.
_id_prefix = os.urandom(4).hex().encode()
_id_counter = itertools.count(1)


def new_error_id() -> str:
    """The id an error answer carries and its log record repeats
    (``error_id``), so that an operator finds one from the other."""
    return uuid.uuid4().hex


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (current := request_id.get()) is not None:
            entry["requestId"] = current.decode()
        for key, value in vars(record).items():
            if key not in _record_fields:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = _JsonFormatter()
    formatter.converter = __import__("time").gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestIdMiddleware:
    """Sets the request id for the logs and echoes it as ``X-Request-Id``.

    It runs for every request, so it is kept to a loop over the headers and
    one bytes formatting.
    """

    def __init__(self, app: ASGIApp, *, timed: bool = False, access_log: bool = False) -> None:
        self.app = app
        # With metrics on the request is timed here too (``metrics.RequestTimer``),
        # and with the access log on it is logged here once it is answered.
        self.timed = timed
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timer = None
        if self.timed or self.access_log:
            timer = RequestTimer(scope["method"], counted=self.timed)
        current = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                current = value if _sane_id.fullmatch(value) else None
                break
        if current is None:
            current = b"%s-%d" % (_id_prefix, next(_id_counter))
        token = request_id.set(current)
        header = (b"x-request-id", current)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                if timer is not None:
                    timer.status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if timer is not None:
                route, seconds = timer.done(scope)
                if self.access_log:
                    # The route's template, never its path (ids) nor a header or body.
                    _access.info(
                        "request",
                        extra={
                            "method": scope["method"],
                            "route": route,
                            "status": timer.status,
                            "durationMs": round(seconds * 1000, 3),
                        },
                    )
            request_id.reset(token)
