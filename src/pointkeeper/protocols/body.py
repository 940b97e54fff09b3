"""Reading a request body under the configured size limit."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["BodyTooLarge", "read_body"]


class BodyTooLarge(Exception):
    """The body is over ``server.body_bytes_max``; answered with 413."""


async def read_body(request: Request, body_bytes_max: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_bytes_max:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > body_bytes_max:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
