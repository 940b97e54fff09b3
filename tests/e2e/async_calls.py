"""Asynchronous Maestra calls (``/v3/operations/async``) of
ChangeCustomerBalance for the scale-out tests, and the checks that each ran
exactly once: the balances, each customer's actions by transactionId, and
the queue's record of each call."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from .cluster import Cluster
from .server import admin_headers

__all__ = [
    "SECTIONS",
    "Call",
    "balances",
    "check_ran_once",
    "expected_balances",
    "queue",
    "stored",
    "wait_until_credited",
]

_endpoint = "shop-web"
_key = "key-shop-web"
_headers = {"Authorization": f"SecretKey {_key}"}
_change_operation = "ChangeBalance"
_history_operation = "GetHistory"
_finish_seconds_max = 60.0
# After the last call is done: long enough for several job runs of every
# process, in which a call run twice would show.
_settle_seconds = 1.0

# The Maestra parts of the configuration of every server and worker.
SECTIONS: dict[str, Any] = {
    "endpoints": [{"id": _endpoint, "secret_key": _key}],
    "operations": [
        {"name": _change_operation, "kind": "ChangeCustomerBalance", "endpoints": [_endpoint]},
        {"name": _history_operation, "kind": "GetCustomerBalanceHistory", "endpoints": [_endpoint]},
    ],
}


@dataclass(frozen=True)
class Call:
    """One call: ``amount`` points for ``customer`` under ``transaction_id``."""

    transaction_id: str
    customer: str
    amount: int


async def queue(client: httpx.AsyncClient, call: Call) -> httpx.Response:
    body = {
        "customer": {"ids": {"customerNumber": call.customer}},
        "balanceChanges": [{"changeAmount": call.amount, "comment": call.transaction_id}],
    }
    return await client.post(
        "/v3/operations/async",
        params={
            "endpointId": _endpoint,
            "operation": _change_operation,
            "transactionId": call.transaction_id,
        },
        json=body,
        headers=_headers,
    )


def _customers(plan: list[Call]) -> list[str]:
    return sorted({call.customer for call in plan})


def expected_balances(plan: list[Call]) -> dict[str, int]:
    expected = dict.fromkeys(_customers(plan), 0)
    for call in plan:
        expected[call.customer] += call.amount
    return expected


async def balances(client: httpx.AsyncClient, customers: list[str]) -> dict[str, int]:
    found = {}
    for customer in customers:
        response = await client.get(f"/admin/v1/customers/{customer}", headers=admin_headers())
        assert response.status_code == 200, response.text
        found[customer] = response.json()["balances"]["pointBalance"]
    return found


async def _history(client: httpx.AsyncClient, customer: str) -> list[tuple[str, int]]:
    """(transactionId, points) of each of the customer's actions."""
    response = await client.post(
        "/v3/operations/sync",
        params={"endpointId": _endpoint, "operation": _history_operation},
        json={"customer": {"ids": {"customerNumber": customer}}, "page": {"itemsPerPage": 1000}},
        headers=_headers,
    )
    assert response.status_code == 200, response.text
    tree = response.json()
    assert tree["customerActionsCount"] == len(tree["customerActions"])
    return [
        (
            action["ids"]["transactionId"],
            sum(change["changeAmount"] for change in action["customerBalanceChanges"]),
        )
        for action in tree["customerActions"]
    ]


async def stored(client: httpx.AsyncClient, transaction_id: str) -> list[dict[str, Any]]:
    """The queue's records of the calls made with ``transaction_id``."""
    response = await client.get(
        "/admin/v1/async-operations",
        params={"transactionId": transaction_id},
        headers=admin_headers(),
    )
    assert response.status_code == 200, response.text
    calls: list[dict[str, Any]] = response.json()
    return calls


async def wait_until_credited(
    cluster: Cluster, client: httpx.AsyncClient, plan: list[Call]
) -> None:
    """Until every customer's balance is what the calls make it, then a while more."""
    expected = expected_balances(plan)
    customers = list(expected)
    deadline = time.monotonic() + _finish_seconds_max
    while await balances(client, customers) != expected and time.monotonic() < deadline:
        cluster.check_workers_running()
        await asyncio.sleep(0.1)
    await asyncio.sleep(_settle_seconds)


async def check_ran_once(clients: list[httpx.AsyncClient], plan: list[Call]) -> int:
    """The ledger and the queue show each call run once, whichever server
    is asked; answers the attempts the queue counted."""
    expected = expected_balances(plan)
    assert await balances(clients[-1], list(expected)) == expected
    for n, customer in enumerate(expected):
        actions = await _history(clients[n % len(clients)], customer)
        mine = {call.transaction_id: call.amount for call in plan if call.customer == customer}
        assert Counter(tid for tid, _ in actions) == dict.fromkeys(mine, 1)
        assert dict(actions) == mine
    records = await asyncio.gather(
        *(stored(clients[n % len(clients)], call.transaction_id) for n, call in enumerate(plan))
    )
    attempts = 0
    for call, calls in zip(plan, records, strict=True):
        assert len(calls) == 1, (call, calls)
        (record,) = calls
        assert record["status"] == "done", record
        assert record["result"]["status"] == "Success", record
        attempts += record["attempts"]
    return attempts


def check_each_take_counted(cluster: Cluster, attempts: int) -> dict[str, int]:
    """The processes' logs are free of errors, and the calls they took from
    the queue add up to the attempts the queue counted: a call taken by two
    processes would count one too many. Answers the count per process."""
    cluster.check_workers_running()
    errors = cluster.error_lines()
    handled = cluster.async_calls_handled()
    print(f"async calls handled by process: {handled}")
    assert not errors, f"{len(errors)} error lines, the first: {errors[0][:3000]}"
    # A failed run's report is never logged, so this holds only without errors.
    assert sum(handled.values()) == attempts
    return handled
