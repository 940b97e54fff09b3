"""The admin API's error answers: ``{"error": {"code", "message", "field"}}``.

Domain errors map to statuses here; request validation answers 400 (never
FastAPI's 422) and names the first field at fault.
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
from starlette.responses import Response

from pointkeeper.errors import (
    Conflict,
    InsufficientBalance,
    InvalidRequest,
    NotEnrolled,
    NotFound,
    Overloaded,
    PointkeeperError,
)

__all__ = ["error_response", "install_error_handlers"]

_log = logging.getLogger(__name__)

_status_by_error: tuple[tuple[type[PointkeeperError], int], ...] = (
    (InvalidRequest, 400),
    (NotFound, 404),
    (NotEnrolled, 400),
    (InsufficientBalance, 409),
    (Conflict, 409),
    (Overloaded, 503),
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
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _snake_case(name: str) -> str:
    return _camel_hump.sub("_", name).lower()


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PointkeeperError)
    status = next((s for kind, s in _status_by_error if isinstance(exc, kind)), 500)
    code = _snake_case(type(exc).__name__)
    if status == 500:
        _log.error("store failure: %s", exc.message)
        return error_response(500, code, "The store failed; try again later")
    headers = {"Retry-After": "1"} if status == 503 else None
    return error_response(status, code, exc.message, field=exc.field, headers=headers)


def _field(location: Sequence[Any]) -> str | None:
    # Locations start with where the value came from: ("body", "changeAmount").
    parts = [str(part) for part in location[1:]]
    return ".".join(parts) or None


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return error_response(400, "malformed_json", f"The body is not valid JSON: {detail}")
    field = _field(first["loc"])
    if field is None and first["loc"][:1] == ("body",):
        message = "The body must be a JSON object sent as application/json"
    elif first["type"] == "extra_forbidden":
        message = "Unknown field"
    else:
        message = first["msg"].removeprefix("Value error, ")
    return error_response(400, "invalid_request", message, field=field)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _code_by_status.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    _log.exception("admin request failed unexpectedly")
    return error_response(500, "internal_error", "Internal Server Error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PointkeeperError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
