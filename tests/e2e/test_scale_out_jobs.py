"""The queue of asynchronous Maestra calls under contention (SPEC §5): on
one PostgreSQL database, several ``pointkeeper worker`` processes take
calls for many customers at once, and servers write to the same customers
meanwhile. Every call runs once and soon, and no process's jobs fail on the
way (an operator is alerted by every error line).

``test_scale_out.py`` holds the steady case; these are the crowded ones.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from .api import earn, enroll
from .async_calls import (
    SECTIONS,
    Call,
    check_each_take_counted,
    check_ran_once,
    queue,
    stored,
    wait_until_credited,
)
from .cluster import Cluster, cluster_clients, running_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

_servers = 4
_jobs_off = {"jobs": {"enabled": False}}
_in_flight_max = 64


async def _queue_all(clients: list[httpx.AsyncClient], plan: list[Call]) -> None:
    gate = asyncio.Semaphore(_in_flight_max)

    async def one(n: int, call: Call) -> httpx.Response:
        async with gate:
            return await queue(clients[n % len(clients)], call)

    responses = await asyncio.gather(*(one(n, call) for n, call in enumerate(plan)))
    for response in responses:
        assert response.status_code == 200, response.text


# -- a backlog taken by several workers at once ----------------------------

_backlog_customers = [f"C-BACKLOG-{n:02d}" for n in range(16)]
_backlog_calls = 800
_backlog_workers = 4
_backlog_interval_seconds = 0.05


def test_backlog_taken_by_several_workers_at_once_runs_without_failed_jobs(
    tmp_path: Path, postgres_url: str
) -> None:
    """Calls for many customers queue up while no process runs the jobs (the
    workers were down, say); then four workers start at once, each taking
    batches of calls from the queue. Each call runs once, and no worker
    reports a failed run: a batch that meets a customer another worker holds
    should leave that call for later, not fail the whole batch again and
    again until the store gives up ("The database is busy")."""
    plan = [
        Call(f"backlog-{n:03d}", _backlog_customers[n % len(_backlog_customers)], n % 9 + 1)
        for n in range(_backlog_calls)
    ]

    async def fill(cluster: Cluster) -> None:
        async with cluster_clients(cluster) as clients:
            for n, customer in enumerate(_backlog_customers):
                await enroll(clients[n % _servers], customer)
            await _queue_all(clients, plan)

    async def drain(cluster: Cluster) -> int:
        async with cluster_clients(cluster) as clients:
            await wait_until_credited(cluster, clients[0], plan)
            return await check_ran_once(clients, plan)

    with running_cluster(
        tmp_path, database_url=postgres_url, sections=SECTIONS, overrides=_jobs_off
    ) as cluster:
        asyncio.run(fill(cluster))
        cluster.start_workers(_backlog_workers, interval_seconds=_backlog_interval_seconds)
        attempts = asyncio.run(drain(cluster))
        check_each_take_counted(cluster, attempts)


# -- a customer kept busy meanwhile ----------------------------------------

_busy_customer = "C-BUSY"
_busy_others = ["C-CALM-0", "C-CALM-1"]
_busy_clients = 4
_busy_seconds = 5.0
_busy_calls = 12
_busy_queue_after_seconds = 0.5
_busy_workers = 2
# From queueing to done, for calls the workers take every 0.2 s: ample on
# a loaded machine, and less than the load lasts.
_busy_done_seconds_max = 3.0


async def _keep_busy(client: httpx.AsyncClient, index: int, deadline: float) -> int:
    """Earns on the busy customer one after another until the deadline."""
    n = 0
    while time.monotonic() < deadline:
        response = await earn(client, _busy_customer, points=1, reference=f"B{index}-{n}")
        assert response.status_code == 204, response.text
        n += 1
    return n


async def _all_done(client: httpx.AsyncClient, plan: list[Call]) -> bool:
    records = await asyncio.gather(*(stored(client, call.transaction_id) for call in plan))
    return all(calls and calls[0]["status"] == "done" for calls in records)


def test_calls_run_while_one_of_their_customers_is_busy(tmp_path: Path, postgres_url: str) -> None:
    """Two workers run calls for three customers, one of whom the four
    servers keep busy with Earns meanwhile: every call is done within
    moments, the busy customer's too, and no job fails."""
    customers = [_busy_others[0], _busy_customer, _busy_others[1]]
    plan = [Call(f"busy-{n:02d}", customers[n % len(customers)], n + 1) for n in range(_busy_calls)]

    async def scenario(cluster: Cluster) -> tuple[float, int]:
        async with cluster_clients(cluster) as clients:
            for customer in customers:
                await enroll(clients[0], customer)
            deadline = time.monotonic() + _busy_seconds
            load = [
                asyncio.create_task(_keep_busy(clients[n % _servers], n, deadline))
                for n in range(_busy_clients)
            ]
            await asyncio.sleep(_busy_queue_after_seconds)
            queued_at = time.monotonic()
            await _queue_all(clients, plan)
            while not await _all_done(clients[0], plan) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            waited = time.monotonic() - queued_at
            earns = sum(await asyncio.gather(*load))
            for call in plan:
                (record,) = await stored(clients[1], call.transaction_id)
                assert record["status"] == "done", record
                assert record["result"]["status"] == "Success", record
        return waited, earns

    with running_cluster(
        tmp_path,
        database_url=postgres_url,
        sections=SECTIONS,
        overrides=_jobs_off,
        workers=_busy_workers,
    ) as cluster:
        waited, earns = asyncio.run(scenario(cluster))
        cluster.check_workers_running()
        errors = cluster.error_lines()
    print(f"calls done after {waited:.2f} s, {earns} Earns meanwhile")
    assert waited < _busy_done_seconds_max
    assert not errors, errors
