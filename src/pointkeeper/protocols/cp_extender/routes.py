"""The CP Extender loyalty REST API: thin endpoints under Starlette's router.

Checks run in the seed's order, the first failure answering: token, body
shape, customer exists, enrolled, balance.

Each handler answers a status and a JSON body, and ``_Endpoint`` sends them
as raw ASGI messages: these are the hottest paths of the server, and
Starlette's per-request Response and exception wrappers cost them a tenth
of their time for nothing they use (measured with wrk).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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
from pointkeeper.protocols.body import BodyTooLarge, header, read_body
from pointkeeper.services import loyalty
from pointkeeper.services.reads import read_settled

from . import auth, wire

__all__ = ["cp_extender_routes"]

_log = logging.getLogger(__name__)
_status_by_error: list[tuple[type[PointkeeperError], int]] = [
    (InvalidRequest, 400),
    (NotEnrolled, 400),
    (InsufficientBalance, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Overloaded, 503),
]
_default_history_ms = 365 * ms_per_day
_json_headers = [(b"content-type", b"application/json")]

# A status and a JSON body (empty for 204).
Answer = tuple[int, bytes]
Handler = Callable[[Request, AppState], Awaitable[Answer]]
_no_content: Answer = (204, b"")


def _message(status: int, message: str) -> Answer:
    return status, orjson.dumps({"Message": message})


class _Endpoint:
    """An ASGI endpoint: the token check, the handler, the error translation."""

    def __init__(self, handler: Handler, *, authorized: bool = True) -> None:
        self._handler = handler
        self._authorized = authorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        status, body = await self._answer(request, scope["app"].state.pointkeeper)
        headers = [*_json_headers, (b"content-length", b"%d" % len(body))] if body else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, request: Request, state: AppState) -> Answer:
        if self._authorized and not auth.is_authorized(
            state.config.cp_extender, header(request.scope, b"authorization"), now=state.clock()
        ):
            return _message(401, "Not Authorized")
        try:
            return await self._handler(request, state)
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


async def _json_body(request: Request, state: AppState) -> dict[str, Any]:
    body = await read_body(request.scope, request.receive, state.config.server.body_bytes_max)
    return wire.parse_json_object(body)


async def _status(request: Request, state: AppState) -> Answer:
    return 200, b'{"Status":"Ok"}'


async def _login(request: Request, state: AppState) -> Answer:
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
    return 200, orjson.dumps({"APItoken": token})


async def _earn(request: Request, state: AppState) -> Answer:
    customer_number, points, reason, reference = wire.parse_earn(await _json_body(request, state))
    await state.ready_store.write(
        loyalty.earn,
        customer_number=customer_number,
        points=points,
        reason=reason,
        reference=reference,
        now=state.clock(),
    )
    return _no_content


async def _balance_check(request: Request, state: AppState) -> Answer:
    customer_number = wire.parse_balance_check_id(request.path_params["id"])
    body = await read_body(request.scope, request.receive, state.config.server.body_bytes_max)
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
        customer_number=customer_number,
        clock=state.clock,
        start=start,
        end=end,
    )
    return 200, wire.balance_check_body(statement, now=now)


async def _authorize(request: Request, state: AppState) -> Answer:
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
    return 200, orjson.dumps(answer)


def _resolve(target: str) -> Handler:
    async def handler(request: Request, state: AppState) -> Answer:
        customer_number, auth_code = wire.parse_hold_reference(await _json_body(request, state))
        await state.ready_store.write(
            loyalty.resolve_authorization,
            customer_number=customer_number,
            auth_code=auth_code,
            target=target,
            now=state.clock(),
        )
        return _no_content

    return handler


def cp_extender_routes() -> list[Route]:
    return [
        Route("/Connection/Status", _Endpoint(_status, authorized=False), methods=["GET"]),
        Route("/SSO/Login", _Endpoint(_login, authorized=False), methods=["POST"]),
        Route("/Loyalty/Earn", _Endpoint(_earn), methods=["POST"]),
        Route("/Loyalty/{id}/BalanceCheck", _Endpoint(_balance_check), methods=["GET", "POST"]),
        Route("/Loyalty/Authorize", _Endpoint(_authorize), methods=["POST"]),
        Route("/Authorize/Confirm", _Endpoint(_resolve(HoldStatus.CONFIRMED)), methods=["POST"]),
        Route("/Authorize/Cancel", _Endpoint(_resolve(HoldStatus.CANCELLED)), methods=["POST"]),
    ]
