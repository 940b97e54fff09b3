"""Concurrent CP Extender calls over real HTTP against one server process.

Each test uses its own customer, so the tests share the module's server.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from .api import async_client, authorize, balance_check, earn, enroll, resolve
from .server import ServerProcess

pytestmark = pytest.mark.slow


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def test_simultaneous_authorizations_never_reserve_more_than_available(
    server: ServerProcess,
) -> None:
    customer = "CPOL-E2E-AUTH"
    attempts = 40

    async def scenario() -> None:
        async with async_client(server.base_url) as client:
            await enroll(client, customer)
            assert (await earn(client, customer, points=1000, reference="seed")).status_code == 204
            responses = await asyncio.gather(
                *(
                    authorize(client, customer, sale_id=f"SALE-{n}", points=100)
                    for n in range(attempts)
                )
            )
            granted = [r for r in responses if r.status_code == 200]
            refused = [r for r in responses if r.status_code != 200]
            assert len(granted) == 10, _statuses(responses)
            assert len(refused) == attempts - 10
            for response in refused:
                assert response.status_code == 400
                assert response.json() == {"Message": "No Balance Remaining"}
            codes = {response.json()["AuthCode"] for response in granted}
            assert len(codes) == 10 and all(codes)

            loyalty = await balance_check(client, customer)
            assert loyalty["PointBalance"] == 1000
            assert loyalty["OpenAuthorizations"] == 1000
            assert loyalty["AvailablePointBalance"] == 0
            charges = [row for row in loyalty["History"] if row.get("Activity") == "Pending Charge"]
            assert len(charges) == 10
            assert {row["PointAmount"] for row in charges} == {100}
            granted_sales = {response.json()["SaleId"] for response in granted}
            assert {row["Document"] for row in charges} == granted_sales

    asyncio.run(scenario())


def test_simultaneous_earns_are_all_credited(server: ServerProcess) -> None:
    customer = "CPOL-E2E-EARN"
    earns = {f"EARN-{n}": n % 97 + 1 for n in range(300)}

    async def scenario() -> None:
        async with async_client(server.base_url) as client:
            await enroll(client, customer)
            responses = await asyncio.gather(
                *(
                    earn(client, customer, points=points, reference=reference)
                    for reference, points in earns.items()
                )
            )
            assert _statuses(responses) == {204: len(earns)}

            loyalty = await balance_check(client, customer)
            assert loyalty["PointBalance"] == sum(earns.values())
            assert loyalty["AvailablePointBalance"] == sum(earns.values())
            history = loyalty["History"]
            assert len(history) == len(earns)
            assert {row["Document"]: row["PointAmount"] for row in history} == earns
            assert all("Activity" not in row for row in history)

    asyncio.run(scenario())


def test_racing_confirm_and_cancel_resolve_each_hold_once(server: ServerProcess) -> None:
    customer = "CPOL-E2E-RESOLVE"
    holds = 5
    racers = 20

    async def race(client: httpx.AsyncClient, auth_code: str) -> str:
        """Confirms and cancels interleaved; answers which kind won."""
        calls = [
            resolve(client, customer, auth_code=auth_code, action=action)
            for _ in range(racers)
            for action in ("Confirm", "Cancel")
        ]
        responses = await asyncio.gather(*calls)
        confirms = Counter(r.status_code for r in responses[0::2])
        cancels = Counter(r.status_code for r in responses[1::2])
        if confirms == {204: racers}:
            assert cancels == {409: racers}, (confirms, cancels)
            return "confirmed"
        assert confirms == {409: racers} and cancels == {204: racers}, (confirms, cancels)
        return "cancelled"

    async def scenario() -> None:
        async with async_client(server.base_url) as client:
            await enroll(client, customer)
            assert (await earn(client, customer, points=1000, reference="seed")).status_code == 204
            codes = []
            for n in range(holds):
                response = await authorize(client, customer, sale_id=f"SALE-{n}", points=100)
                assert response.status_code == 200, response.text
                codes.append(response.json()["AuthCode"])
            outcomes = await asyncio.gather(*(race(client, code) for code in codes))

            confirmed = outcomes.count("confirmed")
            loyalty = await balance_check(client, customer)
            assert loyalty["OpenAuthorizations"] == 0
            assert loyalty["PointBalance"] == 1000 - 100 * confirmed
            assert loyalty["AvailablePointBalance"] == 1000 - 100 * confirmed
            history = loyalty["History"]
            redemptions = [row for row in history if row.get("Activity") == "Redemption"]
            assert len(redemptions) == confirmed
            assert all(row["PointAmount"] == -100 for row in redemptions)
            assert not [row for row in history if row.get("Activity") == "Pending Charge"]
            assert sum(row["PointAmount"] for row in history) == loyalty["PointBalance"]

    asyncio.run(scenario())


def test_one_reference_sent_many_times_at_once_is_credited_once(server: ServerProcess) -> None:
    customer = "CPOL-E2E-REPLAY"
    copies = 50

    async def scenario() -> None:
        async with async_client(server.base_url) as client:
            await enroll(client, customer)
            responses = await asyncio.gather(
                *(earn(client, customer, points=250, reference="ONCE") for _ in range(copies))
            )
            assert _statuses(responses) == {204: copies}

            loyalty = await balance_check(client, customer)
            assert loyalty["PointBalance"] == 250
            assert [(row["Document"], row["PointAmount"]) for row in loyalty["History"]] == [
                ("ONCE", 250)
            ]

    asyncio.run(scenario())
