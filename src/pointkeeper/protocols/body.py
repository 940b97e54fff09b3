"""Reading a request's headers and body straight from the ASGI scope, under
the configured size limit."""

from __future__ import annotations

from starlette.types import Receive, Scope

__all__ = ["BodyTooLarge", "ClientDisconnect", "header", "read_body"]


class BodyTooLarge(Exception):
    """The body is over ``server.body_bytes_max``; answered with 413."""


class ClientDisconnect(Exception):
    """The client went away (or was sent away) before its body was whole:
    what arrived is not a request, and there is no one to answer."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a header; ``name`` in lower case, as ASGI gives them."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def read_body(scope: Scope, receive: Receive, body_bytes_max: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_bytes_max:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > body_bytes_max:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
