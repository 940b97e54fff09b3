"""Refuses request bodies over ``server.body_bytes_max`` with 413, without
reading them whole: a declared ``Content-Length`` over the limit is refused
before the first byte is read, and a streamed body is counted as it comes.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

__all__ = ["BodyLimit"]


class _TooLarge(Exception):
    """Raised into the application from ``receive`` once the limit is passed."""


def _too_large(body_bytes_max: int) -> tuple[int, str, str]:
    return 413, "payload_too_large", f"The request body is over {body_bytes_max} bytes"


class BodyLimit:
    """Pure ASGI middleware. When a streamed body passes the limit, the
    application's own answer to the failed read is dropped and 413 is sent
    in its place."""

    def __init__(self, app: ASGIApp, *, body_bytes_max: int) -> None:
        self.app = app
        self._body_bytes_max = body_bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, code, message = _too_large(self._body_bytes_max)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self._body_bytes_max:
            await error_response(status, code=code, message=message)(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._body_bytes_max:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await error_response(status, code=code, message=message)(scope, receive, send)
