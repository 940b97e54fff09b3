"""The admin API's error answers: ``{"error": {"code", "message", "field"}}``
(and ``errorId``, also in the log, on a 500 or 503).

Domain errors map to statuses here; request validation answers 400 (never
FastAPI's 422) and names the first field at fault; a store that cannot serve
now answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pointkeeper import limits
from pointkeeper.errors import (
    Conflict,
    InsufficientBalance,
    InvalidRequest,
    NotEnrolled,
    NotFound,
    PointkeeperError,
    StoreError,
)
from pointkeeper.logs import new_error_id

from . import wording

__all__ = ["UnexpectedErrors", "error_response", "install_error_handlers"]

_log = logging.getLogger(__name__)

_status_by_error: tuple[tuple[type[PointkeeperError], int], ...] = (
    (InvalidRequest, 400),
    (NotFound, 404),
    (NotEnrolled, 400),
    (InsufficientBalance, 409),
    (Conflict, 409),
    (StoreError, 503),
)
_code_by_status = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
_camel_hump = re.compile(r"(?<!^)(?=[A-Z])")


def error_response(
    status: int,
    *,
    code: str,
    message: str,
    field: str | None = None,
    error_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "field": field}
    if error_id is not None:
        error["errorId"] = error_id
    return Response(orjson.dumps({"error": error}), status, headers, media_type="application/json")


def _snake_case(name: str) -> str:
    # The wire's code is the refusal's kind (its class), as the API has
    # always answered; the wording says which refusal of the kind it is.
    return _camel_hump.sub("_", name).lower()


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PointkeeperError)
    status = next((s for kind, s in _status_by_error if isinstance(exc, kind)), 500)
    code = _snake_case(type(exc).__name__)
    if status == 500:
        return _unexpected(exc)
    if status == 503:
        error_id = new_error_id()
        _log.warning("store unavailable: %s", exc.message, extra={"error_id": error_id})
        return error_response(
            503,
            code=code,
            message="The database cannot serve this now; retry later",
            error_id=error_id,
            headers={"Retry-After": str(limits.retry_after_seconds)},
        )
    return error_response(status, code=code, message=wording.message(exc), field=wording.field(exc))


def _unexpected(exc: Exception) -> Response:
    error_id = new_error_id()
    _log.error("admin request failed unexpectedly", exc_info=exc, extra={"error_id": error_id})
    return error_response(
        500, code="internal_error", message="Internal Server Error", error_id=error_id
    )


def _field(location: Sequence[Any]) -> str | None:
    # Locations start with where the value came from: ("body", "changeAmount").
    parts = [str(part) for part in location[1:]]
    return ".".join(parts) or None


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return error_response(
            400, code="malformed_json", message=f"The body is not valid JSON: {detail}"
        )
    field = _field(first["loc"])
    if field is None and first["loc"][:1] == ("body",):
        message = "The body must be a JSON object sent as application/json"
    elif first["type"] == "extra_forbidden":
        message = "Unknown field"
    else:
        message = first["msg"].removeprefix("Value error, ")
    return error_response(400, code="invalid_request", message=message, field=field)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _code_by_status.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code=code, message=str(exc.detail), headers=exc.headers)


class UnexpectedErrors:
    """Pure ASGI middleware: answers an exception no handler took with a 500
    that names its error id. Starlette's own last resort for ``Exception``
    answers and then raises again, and the server closes the connection at
    that: a keep-alive client would lose it for one failed request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return  # the body never came whole: no request, and no one to answer
        except Exception as exc:
            if started:  # too late for another answer: the server ends the connection
                raise
            await _unexpected(exc)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PointkeeperError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
