"""The CP Extender loyalty REST API: thin Starlette endpoints.

Checks run in the seed's order, the first failure answering: token, body
shape, customer exists, enrolled, balance.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pointkeeper.app import AppState
from pointkeeper.domain.ledger import HoldStatus
from pointkeeper.domain.time import ms_per_day, ms_per_second
from pointkeeper.errors import (
    Conflict,
    InsufficientBalance,
    InvalidRequest,
    NotEnrolled,
    NotFound,
    Overloaded,
    PointkeeperError,
)
from pointkeeper.protocols.body import BodyTooLarge, read_body
from pointkeeper.services import loyalty
from pointkeeper.services.reads import read_settled

from . import auth, wire

__all__ = ["cp_extender_routes"]

_log = logging.getLogger(__name__)
_json = "application/json"
_status_by_error: list[tuple[type[PointkeeperError], int]] = [
    (InvalidRequest, 400),
    (NotEnrolled, 400),
    (InsufficientBalance, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Overloaded, 503),
]
_default_history_ms = 365 * ms_per_day
Handler = Callable[[Request, AppState], Awaitable[Response]]


def _message(status: int, message: str) -> Response:
    return Response(orjson.dumps({"Message": message}), status, media_type=_json)


def _endpoint(handler: Handler, *, authorized: bool = True) -> Callable[[Request], Any]:
    """Wraps a handler with the token check and the error translation."""

    async def endpoint(request: Request) -> Response:
        state: AppState = request.app.state.pointkeeper
        if authorized and not auth.is_authorized(
            state.config.cp_extender, request.headers.get("authorization"), now=state.clock()
        ):
            return _message(401, "Not Authorized")
        try:
            return await handler(request, state)
        except BodyTooLarge:
            return _message(413, "Request body too large")
        except PointkeeperError as exc:
            status = next((s for kind, s in _status_by_error if isinstance(exc, kind)), 500)
            if status == 500:
                _log.error("store failure: %s", exc.message)
                return _message(500, "Internal Server Error")
            return _message(status, exc.message)
        except Exception:
            error_id = uuid.uuid4().hex
            _log.exception("unexpected failure", extra={"error_id": error_id})
            return _message(500, f"Internal Server Error ({error_id})")

    return endpoint


async def _json_body(request: Request, state: AppState) -> dict[str, Any]:
    body = await read_body(request, state.config.server.body_bytes_max)
    return wire.parse_json_object(body)


async def _status(request: Request, state: AppState) -> Response:
    return Response(b'{"Status":"Ok"}', media_type=_json)


async def _login(request: Request, state: AppState) -> Response:
    try:
        body = await _json_body(request, state)
    except InvalidRequest:
        return _message(401, "Not Authorized")
    config = state.config.cp_extender
    if config.jwt_secret is None or not auth.login(
        config, body.get("UserName"), body.get("Password")
    ):
        return _message(401, "Not Authorized")
    token = auth.issue_token(config, body["UserName"], now=state.clock())
    return Response(orjson.dumps({"APItoken": token}), media_type=_json)


async def _earn(request: Request, state: AppState) -> Response:
    customer_number, points, reason, reference = wire.parse_earn(await _json_body(request, state))
    await state.ready_store.write(
        loyalty.earn,
        customer_number=customer_number,
        points=points,
        reason=reason,
        reference=reference,
        now=state.clock(),
    )
    return Response(status_code=204)


async def _balance_check(request: Request, state: AppState) -> Response:
    body = await read_body(request, state.config.server.body_bytes_max)
    options = wire.parse_json_object(body) if body.strip() else {}
    options.update(request.query_params)
    now = state.clock()
    start = now - _default_history_ms
    end = now
    if options.get("startDate") is not None:
        start = wire.parse_date(options["startDate"], "startDate")
    if options.get("endDate") is not None:
        end = wire.parse_date(options["endDate"], "endDate")
    if start > end:
        raise InvalidRequest("startDate must not be after endDate", field="startDate")
    statement = await read_settled(
        state.ready_store,
        loyalty.statement,
        customer_number=request.path_params["id"],
        clock=state.clock,
        start=start,
        end=end,
    )
    return Response(wire.balance_check_body(statement, now=now), media_type=_json)


async def _authorize(request: Request, state: AppState) -> Response:
    body = await _json_body(request, state)
    customer_number, sale_id, points, amount, location = wire.parse_authorize(body)
    hold = await state.ready_store.write(
        loyalty.authorize,
        customer_number=customer_number,
        sale_id=sale_id,
        points=points,
        amount_units=amount,
        location=location,
        ttl_ms=state.config.cp_extender.hold_ttl_seconds * ms_per_second,
        now=state.clock(),
    )
    answer: dict[str, Any] = {
        key: body[key]
        for key in ("Type", "Ref", "SaleId", "RequestedAmount", "RequestedPoints", "Location")
        if key in body
    }
    answer["RequestedPoints"] = hold.points
    answer["AuthCode"] = hold.auth_code
    return Response(orjson.dumps(answer), media_type=_json)


def _resolve(target: str) -> Handler:
    async def handler(request: Request, state: AppState) -> Response:
        customer_number, auth_code = wire.parse_hold_reference(await _json_body(request, state))
        await state.ready_store.write(
            loyalty.resolve_authorization,
            customer_number=customer_number,
            auth_code=auth_code,
            target=target,
            now=state.clock(),
        )
        return Response(status_code=204)

    return handler


def cp_extender_routes() -> list[Route]:
    return [
        Route("/Connection/Status", _endpoint(_status, authorized=False), methods=["GET"]),
        Route("/SSO/Login", _endpoint(_login, authorized=False), methods=["POST"]),
        Route("/Loyalty/Earn", _endpoint(_earn), methods=["POST"]),
        Route("/Loyalty/{id}/BalanceCheck", _endpoint(_balance_check), methods=["GET", "POST"]),
        Route("/Loyalty/Authorize", _endpoint(_authorize), methods=["POST"]),
        Route("/Authorize/Confirm", _endpoint(_resolve(HoldStatus.CONFIRMED)), methods=["POST"]),
        Route("/Authorize/Cancel", _endpoint(_resolve(HoldStatus.CANCELLED)), methods=["POST"]),
    ]
