"""Wires configuration, store and protocols into one ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pointkeeper import limits, metrics
from pointkeeper.app_state import AppState
from pointkeeper.config import Config, load_config, secret_warnings
from pointkeeper.domain import time
from pointkeeper.domain.time import Instant
from pointkeeper.errors import StoreError
from pointkeeper.jobs import run_periodically
from pointkeeper.logs import RequestIdMiddleware, configure_logging
from pointkeeper.protocols.admin import create_admin_app
from pointkeeper.protocols.cp_extender import cp_extender_routes
from pointkeeper.protocols.maestra.asynchronous import MaestraCalls
from pointkeeper.protocols.maestra.kinds import action_templates
from pointkeeper.protocols.maestra.routes import maestra_routes
from pointkeeper.store import open_store
from pointkeeper.store.tx import Tx

__all__ = ["create_app", "create_app_from_environment", "tune_process"]

_log = logging.getLogger(__name__)


async def _healthz(request: Request) -> Response:
    state: AppState = request.app.state.pointkeeper
    if state.store is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def _readyz(request: Request) -> Response:
    """Ready when the database answers now: for a load balancer, which should
    send no traffic to a process that cannot reach it."""
    state: AppState = request.app.state.pointkeeper
    if state.store is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await asyncio.wait_for(state.store.read(_ping), limits.ready_seconds_max)
    except Exception as exc:  # whatever the reason, this process cannot serve now
        _log.warning("not ready: the database does not answer: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    if state.store.write_failures.seen_within(limits.ready_write_failure_seconds):
        return JSONResponse({"status": "database failing writes"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def _metrics(request: Request) -> Response:
    body, content_type = await asyncio.to_thread(metrics.exposition)
    return Response(body, media_type=content_type)


class _StartupFailureInOneLine:
    """The server logs what the application says when its start-up fails,
    and Starlette says the whole traceback; a reason the server expects (see
    ``AppState.startup_failure``) is said in its one line instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        state: AppState = scope["app"].state.pointkeeper

        async def send_in_one_line(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and state.startup_failure:
                message = {**message, "message": state.startup_failure}
            await send(message)

        await self.app(scope, receive, send_in_one_line)


def _ping(tx: Tx) -> None:
    tx.ping()


def tune_process() -> None:
    """Process-wide settings a serving process wants."""
    # The SQLite commit thread needs the GIL for a moment after each fsync
    # while the event loop holds it; the default 5 ms switch interval would
    # add up to 5 ms to every batch, which shows directly in p99 latency.
    sys.setswitchinterval(0.0005)


def create_app_from_environment() -> Starlette:
    """The application of ``POINTKEEPER_CONFIG`` and the environment: what
    each process of ``pointkeeper serve --workers N`` builds."""
    configure_logging()
    tune_process()
    return create_app(load_config(None))


def create_app(config: Config, *, clock: Callable[[], Instant] = time.now) -> Starlette:
    state = AppState(config=config, clock=clock, async_calls=MaestraCalls(config))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for warning in secret_warnings(config):
            _log.warning("configuration: %s", warning)
        try:
            store = await asyncio.to_thread(
                open_store,
                config.database,
                programs=config.programs,
                order_statuses=config.order_statuses,
                operation_templates=action_templates(config.operations),
            )
        except StoreError as exc:
            state.startup_failure = f"database: {exc.message}"
            raise
        state.store = store
        # Everything loaded so far (frameworks, schemas, configuration) lives
        # as long as the process. Frozen, it is left out of every later
        # collection: measured, full collections went from ~50 ms pauses,
        # the whole of the p99 latency, to a fraction of that.
        gc.collect()
        gc.freeze()
        jobs = None
        if config.jobs.enabled:
            jobs = asyncio.create_task(
                run_periodically(
                    store, clock, config, async_calls=state.async_calls, wake=state.async_work
                )
            )
        try:
            yield
        finally:
            if jobs is not None:
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jobs
            await store.leave_loop()
            state.store = None
            await asyncio.to_thread(store.close)

    routes = [
        Route("/healthz", _healthz),
        Route("/readyz", _readyz),
        *([Route("/metrics", _metrics)] if config.metrics.serve == "main-port" else []),
        *cp_extender_routes(config.cp_extender),
        *maestra_routes(),
        Mount("/admin", app=create_admin_app(state)),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(_StartupFailureInOneLine),
            Middleware(
                RequestIdMiddleware,
                timed=config.metrics.serve != "off",
                access_log=config.logs.access_log,
            ),
        ],
    )
    app.state.pointkeeper = state
    return app
