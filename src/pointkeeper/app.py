"""Wires configuration, store and protocols into one ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from pointkeeper.config import Config, load_config
from pointkeeper.domain import time
from pointkeeper.domain.time import Instant
from pointkeeper.jobs import run_periodically
from pointkeeper.logs import RequestIdMiddleware, configure_logging
from pointkeeper.services.reference import sync_reference_data
from pointkeeper.store import Store, open_store
from pointkeeper.store.tx import Tx

__all__ = ["AppState", "create_app", "create_app_from_environment", "tune_process"]

_log = logging.getLogger(__name__)
_ready_seconds_max = 2.0


@dataclass
class AppState:
    """What every protocol adapter needs: set up by the lifespan."""

    config: Config
    clock: Callable[[], Instant] = time.now
    store: Store | None = field(default=None)
    # Set when an asynchronous call is queued, so the jobs run it soon.
    async_work: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready_store(self) -> Store:
        assert self.store is not None, "the store opens in the application's lifespan"
        return self.store


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
        await asyncio.wait_for(state.store.read(_ping), _ready_seconds_max)
    except Exception:  # whatever the reason, this process cannot serve now
        _log.warning("not ready: the database does not answer", exc_info=True)
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})


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
    # Imported here so that the protocol packages may import AppState.
    from pointkeeper.protocols.admin import create_admin_app
    from pointkeeper.protocols.cp_extender import cp_extender_routes
    from pointkeeper.protocols.maestra.routes import maestra_routes

    state = AppState(config=config, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await asyncio.to_thread(open_store, config.database)
        context = await store.write(sync_reference_data, config.programs)
        store.context.update(context)
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
                run_periodically(store, clock, config, wake=state.async_work)
            )
        try:
            yield
        finally:
            if jobs is not None:
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jobs
            state.store = None
            await asyncio.to_thread(store.close)

    routes = [
        Route("/healthz", _healthz),
        Route("/readyz", _readyz),
        *cp_extender_routes(config.cp_extender),
        *maestra_routes(),
        Mount("/admin", app=create_admin_app(state)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(RequestIdMiddleware)])
    app.state.pointkeeper = state
    return app
