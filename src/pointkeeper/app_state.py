"""What the protocol adapters share in a running server: the configuration,
the clock, the store once the lifespan has opened it. Its own module, so
that the adapters and the application that wires them import it alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pointkeeper.config import Config
from pointkeeper.domain import time
from pointkeeper.domain.time import Instant
from pointkeeper.services.async_calls import CallRunner
from pointkeeper.store import Store

__all__ = ["AppState"]


@dataclass(kw_only=True)
class AppState:
    """What every protocol adapter needs: set up by the lifespan."""

    config: Config
    clock: Callable[[], Instant] = time.now
    # Runs the queued asynchronous calls (the Maestra adapter's), for the jobs.
    async_calls: CallRunner
    store: Store | None = field(default=None)
    # Set when an asynchronous call is queued, so the jobs run it soon.
    async_work: asyncio.Event = field(default_factory=asyncio.Event)
    # Why start-up failed, in one line, when the reason is one the server
    # expects (the database cannot be opened).
    startup_failure: str | None = None

    @property
    def ready_store(self) -> Store:
        assert self.store is not None, "the store opens in the application's lifespan"
        return self.store
