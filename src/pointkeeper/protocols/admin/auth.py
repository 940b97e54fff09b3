"""The admin bearer token, checked before anything else of a request is
read, so that a caller without one learns nothing about bodies or ids.

Only the API documentation (the OpenAPI document and its viewers) is open
without a token: it holds no data.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from pointkeeper.secrets import SecretSet

from .errors import error_response

__all__ = ["AdminAuth", "bearer_token"]


def bearer_token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _route_path(scope: Scope) -> str:
    # Mounted at /admin, the path still carries the prefix; root_path names it.
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path.removeprefix(root_path) if root_path else path


class AdminAuth:
    """Pure ASGI middleware: 401 unless ``Authorization: Bearer <token>``
    names one of ``tokens``."""

    def __init__(self, app: ASGIApp, *, tokens: SecretSet, public_paths: Collection[str]) -> None:
        self.app = app
        self._tokens = tokens
        self._public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in self._public_paths:
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope).get("authorization"))
        if token is None or token not in self._tokens:
            response = error_response(
                401,
                code="unauthorized",
                message="Not Authorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
