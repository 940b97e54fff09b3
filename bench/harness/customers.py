"""The benchmarks' customers: their numbers, enrolling them through the admin API and
adding up their point balances through CP Extender (how a run's Earns are checked)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from .configs import PROGRAM
from .failures import BenchError
from .servers import Server

__all__ = [
    "CUSTOMER_FORMAT",
    "create_customers",
    "customer_number",
    "customer_numbers",
    "sum_point_balances",
]

# printf-style so the same pattern works in Python (`%`) and in wrk Lua (`string.format`).
CUSTOMER_FORMAT = "BENCH-%06d"


def customer_number(index: int) -> str:
    return CUSTOMER_FORMAT % index


def customer_numbers(count: int) -> list[str]:
    return [customer_number(i) for i in range(1, count + 1)]


async def _gather_limited(
    calls: Iterable[Callable[[], Awaitable[Any]]], concurrency: int
) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


def create_customers(server: Server, numbers: list[str], concurrency: int = 32) -> None:
    """PUT each customer enrolled in the bench program; any non-2xx aborts the bench."""
    headers = {"Authorization": f"Bearer {server.secrets.admin_token}"}

    async def run() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:

            def put(number: str) -> Callable[[], Awaitable[httpx.Response]]:
                return lambda: c.put(f"/admin/v1/customers/{number}", json={"program": PROGRAM})

            answers = await _gather_limited((put(n) for n in numbers), concurrency)
        bad = [(n, r) for n, r in zip(numbers, answers, strict=True) if not r.is_success]
        if bad:
            number, answer = bad[0]
            raise BenchError(
                f"{len(bad)} customer PUTs failed; first {number}: "
                f"{answer.status_code} {answer.text[:300]}"
            )

    asyncio.run(run())


def sum_point_balances(server: Server, numbers: list[str], concurrency: int = 32) -> int:
    """Sum of CP Extender PointBalance over the given customers."""
    headers = {"Authorization": f"Bearer {server.secrets.bearer_token}"}

    async def run() -> int:
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:

            def get(number: str) -> Callable[[], Awaitable[httpx.Response]]:
                return lambda: c.get(f"/Loyalty/{number}/BalanceCheck")

            answers = await _gather_limited((get(n) for n in numbers), concurrency)
        total = 0
        for number, answer in zip(numbers, answers, strict=True):
            if answer.status_code != 200:
                raise BenchError(f"BalanceCheck {number}: {answer.status_code} {answer.text[:300]}")
            total += int(answer.json()["Loyalty"]["PointBalance"])
        return total

    return asyncio.run(run())
