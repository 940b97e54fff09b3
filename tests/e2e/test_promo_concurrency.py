"""Simultaneous IssuePromoCode calls over real HTTP against one server
process: each single-use code goes to exactly one customer, on SQLite and on
PostgreSQL.

The shared ``server`` fixture's configuration has no Maestra endpoints or
operations, so this module starts its own server: the database is prepared
through the services first (a pool of codes and the customers), then
``pointkeeper serve`` runs on it with an IssuePromoCode operation.
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

from pointkeeper.services import promo
from pointkeeper.services.customers import put_customer

from .api import async_client
from .database import opened_store, select
from .server import running_server

pytestmark = pytest.mark.slow

ENDPOINT = "shop-web"
KEY = "key-shop-web"
OPERATION = "IssueWelcome"
POOL = "welcome"
CODES = 50
CUSTOMERS = 120


_sections: dict[str, Any] = {
    "endpoints": [{"id": ENDPOINT, "secret_key": KEY}],
    "operations": [
        {
            "name": OPERATION,
            "kind": "IssuePromoCode",
            "mode": "from-pool",
            "pool": POOL,
            "endpoints": [ENDPOINT],
        },
    ],
}


def _prepare(database_url: str) -> None:
    """A pool of ``CODES`` codes and ``CUSTOMERS`` customers, before the server runs."""
    with opened_store(database_url) as store:
        store.write_sync(promo.put_pool, POOL, values={"name": "Welcome", "multi_use": False})
        rows = [promo.ImportRow(n, f"WELCOME-{n:03d}") for n in range(1, CODES + 1)]
        assert store.write_sync(promo.import_codes, POOL, rows).imported == CODES
        for n in range(CUSTOMERS):
            store.write_sync(put_customer, f"C{n:03d}", fields={}, program=None, now=0)


@contextmanager
def _promo_server(folder: Path, database_url: str) -> Iterator[str]:
    with running_server(folder, sections=_sections, database_url=database_url) as server:
        yield server.base_url


async def _issue(client: httpx.AsyncClient, customer: str) -> tuple[str, dict[str, object]]:
    response = await client.post(
        "/v3/operations/sync",
        params={"endpointId": ENDPOINT, "operation": OPERATION},
        json={"customer": {"ids": {"customerNumber": customer}}},
        headers={"Authorization": f"SecretKey {KEY}"},
    )
    assert response.status_code == 200, response.text
    tree = response.json()
    assert tree["status"] == "Success", tree
    block: dict[str, object] = tree["promoCode"]
    return customer, block


def test_simultaneous_issues_hand_each_code_to_exactly_one_customer(
    tmp_path: Path, database_url: str
) -> None:
    _prepare(database_url)
    customers = [f"C{n:03d}" for n in range(CUSTOMERS)]

    async def scenario(base_url: str) -> list[tuple[str, dict[str, object]]]:
        async with async_client(base_url) as client:
            return list(await asyncio.gather(*(_issue(client, c) for c in customers)))

    with _promo_server(tmp_path, database_url) as base_url:
        answers = asyncio.run(scenario(base_url))

    statuses = Counter(block["issueStatus"] for _, block in answers)
    assert statuses == {"Issued": CODES, "NoAvailablePromoCodesInPool": CUSTOMERS - CODES}
    given: dict[str, str] = {}
    for customer, block in answers:
        if block["issueStatus"] == "Issued":
            ids = block["ids"]
            assert isinstance(ids, dict)
            given[customer] = ids["value"]
        else:
            assert block == {
                "issueStatus": "NoAvailablePromoCodesInPool",
                "pool": {"ids": {"externalId": POOL}},
            }
    assert len(set(given.values())) == CODES

    with opened_store(database_url) as store:
        rows = select(
            store,
            "SELECT c.value, k.customer_number FROM promo_codes c"
            " LEFT JOIN customers k ON k.id = c.issued_customer_id",
        )
    holders = dict(rows)
    assert len(holders) == CODES
    # Every code went to one customer, the very one whose answer named it.
    assert holders == {value: customer for customer, value in given.items()}
