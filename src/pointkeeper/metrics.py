"""Prometheus metrics: what is counted, the HTTP middleware that times every
request, and the ``/metrics`` exposition (``[metrics]`` in the
configuration).

Under ``serve --workers N`` every process writes its own files in
``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_client``'s multiprocess mode,
chosen before anything here is imported: ``prepare_multiprocess``), and a
scrape reads them all through a fresh collector; the files of a process
that has died are let go of at the next scrape, so its gauges no longer
count.

What a unit of work counts (points credited, codes issued) is counted only
once its transaction commits: ``count`` inside a write records the event,
the group commit adds it after the commit (``deferred`` / ``flush``), and a
write rolled back counts nothing. Outside a write (a command) it counts at
once.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from starlette.types import Scope

__all__ = [
    "Event",
    "RequestTimer",
    "active_requests",
    "async_backlog",
    "async_failures",
    "commit_seconds",
    "count",
    "database_errors",
    "deferred",
    "exposition",
    "flush",
    "holds",
    "job_runs",
    "job_seconds",
    "observe",
    "points",
    "prepare_multiprocess",
    "promo_codes",
    "request_duration",
    "route_template",
    "serve_on_own_port",
    "write_batch_size",
    "write_queue_depth",
]

_directory_variable = "PROMETHEUS_MULTIPROC_DIR"
# OpenTelemetry's default buckets for http.server.request.duration.
_duration_buckets = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

request_duration = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, by route template (never the raw path).",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=_duration_buckets,
)
active_requests = Gauge(
    "http_server_active_requests",
    "HTTP requests being served now.",
    ["http_request_method"],
    multiprocess_mode="livesum",
)
points = Counter(
    "pointkeeper_points",
    "Points moved, by direction (credited, debited, expired, refunded) and change kind.",
    ["direction", "kind"],
)
holds = Counter(
    "pointkeeper_holds",
    "Authorization holds by what became of them (opened, confirmed, cancelled, expired).",
    ["event"],
)
promo_codes = Counter(
    "pointkeeper_promo_codes",
    "Promo codes issued and redeemed, by pool.",
    ["event", "pool"],
)
write_batch_size = Histogram(
    "pointkeeper_write_batch_size",
    "Writes committed together in one group-commit batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
commit_seconds = Histogram(
    "pointkeeper_commit_seconds",
    "Time one group-commit batch spent committing.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
write_queue_depth = Gauge(
    "pointkeeper_write_queue_depth",
    "Writes waiting for a batch.",
    multiprocess_mode="livesum",
)
async_backlog = Gauge(
    "pointkeeper_async_calls_backlog",
    "Asynchronous Maestra calls queued and not yet done, as the last job run saw them.",
    multiprocess_mode="max",
)
async_failures = Counter(
    "pointkeeper_async_call_failures",
    "Asynchronous calls that failed for good, or failed once and wait to be tried again.",
    ["outcome"],
)
job_runs = Counter("pointkeeper_job_runs", "Runs of each periodic job.", ["job"])
job_seconds = Histogram(
    "pointkeeper_job_run_seconds",
    "How long one run of each job took.",
    ["job"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
)
database_errors = Counter(
    "pointkeeper_database_errors",
    "Writes the database failed (answered 503 or as an internal error).",
    ["operation"],
)

# (metric, labels, amount) counted by a write, added once it commits.
Event = tuple[Any, dict[str, str], float]
_pending: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "pointkeeper_metric_events", default=None
)


# Each metric's child per label values: ``labels()`` checks its arguments
# every time, which on every request adds up. The values are few (kinds,
# pools, routes), so the cache stays small.
_children: dict[tuple[int, tuple[tuple[str, str], ...]], Any] = {}


def _child(metric: Any, labels: dict[str, str]) -> Any:
    key = (id(metric), tuple(labels.items()))
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(**labels) if labels else metric
    return child


def count(metric: Any, amount: float = 1, **labels: str) -> None:
    """Adds ``amount`` to a counter: at the commit of the write it is
    counted in, or at once outside a write."""
    if amount <= 0:
        return
    events = _pending.get()
    if events is None:
        _child(metric, labels).inc(amount)
    else:
        events.append((metric, labels, amount))


def observe(metric: Any, value: float, **labels: str) -> None:
    _child(metric, labels).observe(value)


@contextlib.contextmanager
def deferred() -> Iterator[list[Event]]:
    """The events the code inside counts, held back for ``flush``."""
    events: list[Event] = []
    token = _pending.set(events)
    try:
        yield events
    finally:
        _pending.reset(token)


def flush(events: list[Event]) -> None:
    for metric, labels, amount in events:
        _child(metric, labels).inc(amount)


def prepare_multiprocess(folder: Path) -> None:
    """Makes ``folder`` the empty directory every worker process writes its
    metrics to; call it before the workers start (they inherit it)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[_directory_variable] = str(folder)


_live_file = re.compile(r"gauge_live\w*_(\d+)\.db$")


def _let_go_of_dead_processes(folder: str) -> None:
    pids = set()
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        found = _live_file.search(path)
        if found is not None:
            pids.add(int(found[1]))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's


def exposition() -> tuple[bytes, str]:
    """The metrics in the text format, and its content type: this process's,
    or with several processes every process's, read afresh."""
    folder = os.environ.get(_directory_variable)
    if folder is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    _let_go_of_dead_processes(folder)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _EveryProcess:
    """A collector of every process's files, read afresh at each scrape."""

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def collect(self) -> Iterator[Any]:
        _let_go_of_dead_processes(self._folder)
        collector = multiprocess.MultiProcessCollector(None, path=self._folder)  # type: ignore[no-untyped-call]
        yield from collector.collect()  # type: ignore[no-untyped-call]


def serve_on_own_port(host: str, port: int) -> None:
    """Serves ``/metrics`` on a port of its own, from a thread of this
    process (with several processes, the supervisor's)."""
    folder = os.environ.get(_directory_variable)
    registry = REGISTRY
    if folder is not None:
        registry = CollectorRegistry()
        registry.register(_EveryProcess(folder))
    start_http_server(port, addr=host, registry=registry)


def route_template(scope: Scope) -> str:
    """The matched route's template (``/Loyalty/{customerNumber}/BalanceCheck``),
    under the mount it was found in; ``unmatched`` when none matched, so that
    no raw path (with customer numbers in it) ever becomes a label."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}"


class RequestTimer:
    """Times one HTTP request: for ``http_server_request_duration_seconds``
    and ``http_server_active_requests`` when ``counted``, and for the access
    log. Driven by the one middleware every request passes anyway
    (``logs.RequestIdMiddleware``), so that timing adds no layer of its own."""

    __slots__ = ("_active", "_method", "_started", "status")

    def __init__(self, method: str, *, counted: bool) -> None:
        self._method = method
        self._active = None
        if counted:
            self._active = _child(active_requests, {"http_request_method": method})
            self._active.inc()
        self._started = time.perf_counter()
        self.status = 500  # a request that ends before its answer started

    def done(self, scope: Scope) -> tuple[str, float]:
        """Ends the timing; answers the route template and the seconds taken."""
        seconds = time.perf_counter() - self._started
        route = route_template(scope)
        if self._active is not None:
            self._active.dec()
            labels = {
                "http_request_method": self._method,
                "http_route": route,
                "http_response_status_code": str(self.status),
            }
            _child(request_duration, labels).observe(seconds)
        return route, seconds
