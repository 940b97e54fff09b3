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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pointkeeper import limits
from pointkeeper.app_state import AppState
from pointkeeper.config import CpExtenderConfig
from pointkeeper.domain.ledger import HoldStatus
from pointkeeper.domain.time import ms_per_day, ms_per_second
from pointkeeper.errors import (
    Conflict,
    ErrorCode,
    InsufficientBalance,
    InvalidRequest,
    NotEnrolled,
    NotFound,
    Overloaded,
    PointkeeperError,
    StoreError,
)
from pointkeeper.logs import new_error_id
from pointkeeper.protocols.body import BodyTooLarge, ClientDisconnect, header, read_body
from pointkeeper.services import loyalty
from pointkeeper.services.reads import read_settled

from . import auth, wire, wording
from .throttle import LockedOut, LoginThrottle

__all__ = ["Answer", "Handler", "cp_extender_routes"]

_log = logging.getLogger(__name__)
_status_by_error: list[tuple[type[PointkeeperError], int]] = [
    (InvalidRequest, 400),
    (NotEnrolled, 400),
    (InsufficientBalance, 400),
    (NotFound, 404),
    (Conflict, 409),
]
_default_history_ms = 365 * ms_per_day
_json_headers = [(b"content-type", b"application/json")]

# A status and a JSON body (empty for 204).
Answer = tuple[int, bytes]
Handler = Callable[[Request, AppState], Awaitable[Answer]]
_no_content: Answer = (204, b"")


def _message(status: int, message: str) -> Answer:
    return status, orjson.dumps({"Message": message})


class _RetryLater(Exception):
    """Answered 429 with a Retry-After header, which no other answer has."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _Endpoint:
    """An ASGI endpoint: the token check, the handler, the error translation
    (in ``texts``, the endpoint's words for the codes it says its own way)."""

    def __init__(
        self,
        handler: Handler,
        *,
        authorized: bool = True,
        texts: Mapping[ErrorCode, str] = wording.TEXTS,
    ) -> None:
        self._handler = handler
        self._authorized = authorized
        self._texts = texts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # A 429 or 503 says the request changed nothing and may be sent
        # again: after this many seconds.
        retry_after = limits.retry_after_seconds
        try:
            answer = await self._answer(request, scope["app"].state.pointkeeper)
        except _RetryLater as exc:
            answer = _message(429, "Too many failed logins; retry later")
            retry_after = exc.seconds
        if answer is None:
            return  # the client has gone: no one to answer
        status, body = answer
        headers = [*_json_headers, (b"content-length", b"%d" % len(body))] if body else []
        if status in (429, 503):
            headers.append((b"retry-after", b"%d" % retry_after))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, request: Request, state: AppState) -> Answer | None:
        if self._authorized and not auth.is_authorized(
            state.config.cp_extender, header(request.scope, b"authorization"), now=state.clock()
        ):
            return _message(401, "Not Authorized")
        try:
            return await self._handler(request, state)
        except _RetryLater:
            raise
        except BodyTooLarge:
            return _message(413, "Request body too large")
        except ClientDisconnect:
            return None
        except Overloaded as exc:
            return _message(503, wording.message(exc, self._texts))
        except StoreError as exc:
            error_id = new_error_id()
            _log.warning("store unavailable: %s", exc.message, extra={"error_id": error_id})
            return _message(503, f"Service Unavailable; retry later ({error_id})")
        except PointkeeperError as exc:
            status = next((s for kind, s in _status_by_error if isinstance(exc, kind)), 500)
            if status == 500:
                return _unexpected(exc)
            return _message(status, wording.message(exc, self._texts))
        except Exception as exc:
            return _unexpected(exc)


def _unexpected(exc: Exception) -> Answer:
    error_id = new_error_id()
    _log.error("unexpected failure", exc_info=exc, extra={"error_id": error_id})
    return _message(500, f"Internal Server Error ({error_id})")


async def _json_body(request: Request, state: AppState) -> dict[str, Any]:
    body = await read_body(request.scope, request.receive, state.config.server.body_bytes_max)
    return wire.parse_json_object(body)


async def _status(request: Request, state: AppState) -> Answer:
    return 200, b'{"Status":"Ok"}'


def _login(throttle: LoginThrottle) -> Handler:
    """The login endpoint; ``throttle`` lives as long as the application."""

    async def handler(request: Request, state: AppState) -> Answer:
        try:
            body = await _json_body(request, state)
        except InvalidRequest:
            body = {}
        user_name, password = body.get("UserName"), body.get("Password")
        name = user_name if isinstance(user_name, str) else None
        client = request.scope.get("client")
        address: str | None = client[0] if client else None
        now = state.clock()
        # Checked before the password, so that a locked-out name or address
        # learns nothing, not even whether a guess was right.
        seconds = throttle.retry_after_seconds(user_name=name, address=address, now=now)
        if seconds is not None:
            raise _RetryLater(seconds)
        config = state.config.cp_extender
        if (
            name is None
            or config.jwt_secret is None
            or not auth.login(config, user_name=name, password=password)
        ):
            for locked in throttle.failed(user_name=name, address=address, now=now):
                _log_lockout(
                    config, locked=locked, user_name=name, address=address, throttle=throttle
                )
            return _message(401, "Not Authorized")
        throttle.succeeded(user_name=name)
        return 200, orjson.dumps({"APItoken": auth.issue_token(config, name, now=now)})

    return handler


def _log_lockout(
    config: CpExtenderConfig,
    *,
    locked: LockedOut,
    user_name: str | None,
    address: str | None,
    throttle: LoginThrottle,
) -> None:
    # The name field may hold a mistyped password: it is logged only when it
    # names a configured user, and the password field never is.
    user = user_name if user_name is not None and auth.is_user(config, user_name) else None
    _log.warning(
        "too many failed logins: %s locked out for %d s (user %s, client address %s)",
        locked,
        throttle.lockout_seconds,
        user or "<unknown user>",
        address or "<unknown>",
    )


def _throttle(config: CpExtenderConfig) -> LoginThrottle:
    return LoginThrottle(
        failures_per_user_max=config.login_failures_per_user_max,
        failures_per_address_max=config.login_failures_per_address_max,
        window_seconds=config.login_window_seconds,
        lockout_seconds=config.login_lockout_seconds,
    )


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


def cp_extender_routes(config: CpExtenderConfig) -> list[Route]:
    login = _login(_throttle(config))
    return [
        Route("/Connection/Status", _Endpoint(_status, authorized=False), methods=["GET"]),
        Route("/SSO/Login", _Endpoint(login, authorized=False), methods=["POST"]),
        Route("/Loyalty/Earn", _Endpoint(_earn), methods=["POST"]),
        Route(
            "/Loyalty/{id}/BalanceCheck",
            _Endpoint(_balance_check, texts=wording.BALANCE_CHECK_TEXTS),
            methods=["GET", "POST"],
        ),
        Route("/Loyalty/Authorize", _Endpoint(_authorize), methods=["POST"]),
        Route("/Authorize/Confirm", _Endpoint(_resolve(HoldStatus.CONFIRMED)), methods=["POST"]),
        Route("/Authorize/Cancel", _Endpoint(_resolve(HoldStatus.CANCELLED)), methods=["POST"]),
    ]
