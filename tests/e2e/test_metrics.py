"""Prometheus ``/metrics`` on a real server: product counters that count only
what committed, HTTP timings by route template (never a raw path), on SQLite
with one process and on PostgreSQL with ``--workers 2``, where the figures
of both processes add up whichever process answers the scrape; and on a
port of its own, away from the APIs.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pointkeeper.config import is_postgres

from .api import async_client, authorize, balance_check, earn, enroll, resolve
from .server import running_server

pytestmark = pytest.mark.slow

EARNS = 40
POINTS = 7


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


async def _traffic(client: httpx.AsyncClient) -> None:
    numbers = [f"M{n}" for n in range(4)]
    for number in numbers:
        await enroll(client, number)
    earned = await asyncio.gather(
        *(earn(client, numbers[n % 4], points=POINTS, reference=f"r-{n}") for n in range(EARNS))
    )
    assert [r.status_code for r in earned] == [204] * EARNS, earned[0].text
    # Refused: nothing of it may be counted.
    refused = await earn(client, "nobody", points=POINTS, reference="x")
    assert refused.status_code == 404
    held = await authorize(client, "M0", sale_id="S-1", points=5)
    assert held.status_code == 200, held.text
    confirmed = await resolve(client, "M0", auth_code=held.json()["AuthCode"], action="Confirm")
    assert confirmed.status_code == 204
    await balance_check(client, "M1")


def test_metrics_count_what_committed_by_route_template(tmp_path: Path, database_url: str) -> None:
    workers = 2 if is_postgres(database_url) else 1

    async def scenario(base_url: str) -> list[str]:
        async with async_client(base_url) as client:
            await _traffic(client)
            # Several scrapes, which with two processes any of them may answer.
            return [(await client.get("/metrics")).text for _ in range(4)]

    with running_server(
        tmp_path,
        database_url=database_url,
        workers=workers,
        sections={"metrics": {"serve": "main-port"}},
    ) as server:
        scrapes = asyncio.run(scenario(server.base_url))

    for text in scrapes:
        samples = _samples(text)
        credited = _value(samples, "pointkeeper_points_total", direction="credited", kind="Custom")
        assert credited == EARNS * POINTS
        debited = _value(
            samples, "pointkeeper_points_total", direction="debited", kind="RetailOrderPayment"
        )
        assert debited == 5
        assert _value(samples, "pointkeeper_holds_total", event="opened") == 1
        assert _value(samples, "pointkeeper_holds_total", event="confirmed") == 1
        earns = _value(
            samples,
            "http_server_request_duration_seconds_count",
            http_route="/Loyalty/Earn",
            http_request_method="POST",
            http_response_status_code="204",
        )
        assert earns == EARNS
        refusals = _value(
            samples,
            "http_server_request_duration_seconds_count",
            http_route="/Loyalty/Earn",
            http_response_status_code="404",
        )
        assert refusals == 1
        checks = _value(
            samples,
            "http_server_request_duration_seconds_count",
            http_route="/Loyalty/{id}/BalanceCheck",
        )
        assert checks == 1
        routes = {labels.get("http_route") for _, labels, _ in samples} - {None}
        # The admin API's templates come with their mount, no label holds a
        # customer number.
        assert "/admin/v1/customers/{customerNumber}" in routes
        assert not [route for route in routes if "M0" in route or "M1" in route]
        assert _value(samples, "pointkeeper_write_batch_size_count") >= 1
        assert _value(samples, "pointkeeper_commit_seconds_count") >= 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_on_a_port_of_their_own_are_not_on_the_api_port(tmp_path: Path) -> None:
    port = _free_port()

    async def scenario(base_url: str) -> tuple[int, str]:
        async with async_client(base_url) as client:
            await enroll(client, "M0")
            await earn(client, "M0", points=POINTS, reference="r")
            on_api = (await client.get("/metrics")).status_code
        async with httpx.AsyncClient() as own:
            answer: Any = await own.get(f"http://127.0.0.1:{port}/metrics")
        return on_api, answer.text

    sections = {"metrics": {"serve": "own-port", "host": "127.0.0.1", "port": port}}
    with running_server(tmp_path, sections=sections) as server:
        on_api, text = asyncio.run(scenario(server.base_url))
    assert on_api == 404
    samples = _samples(text)
    assert _value(samples, "pointkeeper_points_total", direction="credited") == POINTS
