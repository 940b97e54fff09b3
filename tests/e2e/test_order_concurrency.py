"""Simultaneous CreateOrder calls over real HTTP: one customer's points are
never overdrawn, and one single-use coupon is used by exactly one order, on
SQLite and on PostgreSQL (two server processes there).

The module starts its own server with the order operations; customers,
points and the coupon's pool come through the admin API.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from pointkeeper.config import is_postgres

from .api import async_client
from .database import opened_store, select
from .server import PROGRAM, admin_headers, running_server

pytestmark = pytest.mark.slow

ENDPOINT = "shop-web"
KEY = "key-shop-web"
CREATE = "CreateOrder"
ORDERS = 50
BALANCE = 5_000
POINTS_PER_ORDER = 200
SHOPPERS = 20

_sections: dict[str, Any] = {
    "endpoints": [{"id": ENDPOINT, "secret_key": KEY}],
    "operations": [{"name": CREATE, "kind": "CreateOrder", "endpoints": [ENDPOINT]}],
    "programs": [
        {
            "name": PROGRAM,
            "earning_description": "5 points per 1.00",
            "redemption_description": "100 points = 1.00",
            "order_bonus_pending_days": 14,
            "orders": {"points_earned_per_currency_unit": 5, "points_payable_share_max": 50},
        }
    ],
}


@contextmanager
def _order_server(folder: Path, database_url: str) -> Iterator[str]:
    workers = 2 if is_postgres(database_url) else 1
    with running_server(
        folder, sections=_sections, database_url=database_url, workers=workers
    ) as server:
        yield server.base_url


async def _admin(client: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    response = await client.request(method, f"/admin/v1{path}", json=body, headers=admin_headers())
    assert response.status_code in (200, 201), response.text


async def _create(
    client: httpx.AsyncClient, transaction_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/v3/operations/sync",
        params={"endpointId": ENDPOINT, "operation": CREATE, "transactionId": transaction_id},
        json=body,
        headers={"Authorization": f"SecretKey {KEY}"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _order(
    customer: str, *, points: int = 0, coupon: str | None = None, total: str | None = None
) -> dict[str, Any]:
    return {
        "customer": {"ids": {"customerNumber": customer}},
        "order": {
            "lines": [
                {
                    "lineNumber": 1,
                    "product": {"ids": {"sku": "A"}},
                    "basePricePerItem": "10.00",
                    "quantity": 1,
                }
            ],
            "bonusPoints": [{"amount": points}] if points else None,
            "coupons": None if coupon is None else [{"ids": {"code": coupon}}],
            "totalPrice": total,
        },
    }


def test_simultaneous_orders_never_overdraw_one_customer(tmp_path: Path, database_url: str) -> None:
    async def scenario(base_url: str) -> list[dict[str, Any]]:
        async with async_client(base_url) as client:
            await _admin(client, "PUT", "/customers/C1", {"program": PROGRAM})
            await _admin(client, "POST", "/customers/C1/balance-changes", {"changeAmount": BALANCE})
            body = _order("C1", points=POINTS_PER_ORDER)
            return list(
                await asyncio.gather(*(_create(client, f"t-{n}", body) for n in range(ORDERS)))
            )

    with _order_server(tmp_path, database_url) as base_url:
        answers = asyncio.run(scenario(base_url))

    processed = [a for a in answers if a["status"] == "Success"]
    refused = [a for a in answers if a["status"] == "ValidationError"]
    assert len(processed) + len(refused) == ORDERS
    # 5,000 points pay for exactly 25 orders of 200, whatever the order of arrival.
    assert len(processed) == BALANCE // POINTS_PER_ORDER
    assert all(a["order"]["processingStatus"] == "Processed" for a in processed)
    assert {a["validationMessages"][0]["location"] for a in refused} == {
        "/operation/order/bonusPoints/bonusPointsItem/amount"
    }
    with opened_store(database_url) as store:
        (row,) = select(
            store,
            "SELECT COUNT(*), SUM(spent) FROM orders",
        )
        lots = select(store, "SELECT SUM(remaining), MIN(remaining) FROM lots")
        payments = select(
            store,
            "SELECT COUNT(*), SUM(change_amount) FROM balance_changes"
            " WHERE kind = 'RetailOrderPayment'",
        )
    assert row == (len(processed), BALANCE)
    assert payments == [(len(processed), -BALANCE)]
    # What is left is the pending bonuses (8.00 paid a time, 5 points a unit).
    assert lots == [(40 * len(processed), 0)]


def test_one_single_use_coupon_goes_to_exactly_one_order(tmp_path: Path, database_url: str) -> None:
    shoppers = [f"S{n:02d}" for n in range(SHOPPERS)]

    async def scenario(base_url: str) -> list[tuple[str, dict[str, Any]]]:
        async with async_client(base_url) as client:
            for shopper in shoppers:
                await _admin(client, "PUT", f"/customers/{shopper}", {"program": PROGRAM})
            await _admin(
                client, "PUT", "/pools/ONCE", {"name": "Once", "discount": {"amount": "2.00"}}
            )
            await _admin(client, "POST", "/pools/ONCE/codes", {"codes": [{"value": "ONCE-1"}]})

            async def one(shopper: str) -> tuple[str, dict[str, Any]]:
                body = _order(shopper, coupon="ONCE-1", total="8.00")
                return shopper, await _create(client, f"t-{shopper}", body)

            return list(await asyncio.gather(*(one(s) for s in shoppers)))

    with _order_server(tmp_path, database_url) as base_url:
        answers = asyncio.run(scenario(base_url))

    outcomes = Counter(answer["order"]["processingStatus"] for _, answer in answers)
    assert outcomes == {"Processed": 1, "PriceHasBeenChanged": SHOPPERS - 1}
    (winner,) = [s for s, a in answers if a["order"]["processingStatus"] == "Processed"]
    for shopper, answer in answers:
        (info,) = answer["order"]["couponsInfo"]
        expected = "CanBeUsed" if shopper == winner else "Used"
        assert info["coupon"]["status"] == expected, (shopper, answer)
    with opened_store(database_url) as store:
        holders = select(
            store,
            "SELECT k.customer_number, c.used_at IS NOT NULL FROM promo_codes c"
            " JOIN customers k ON k.id = c.issued_customer_id",
        )
        uses = select(store, "SELECT COUNT(*) FROM order_coupons")
        orders = select(store, "SELECT COUNT(*) FROM orders")
    assert holders == [(winner, True)]
    assert uses == [(1,)]
    assert orders == [(1,)]
