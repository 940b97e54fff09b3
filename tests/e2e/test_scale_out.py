"""Scale-out on PostgreSQL (SPEC §5): four ``pointkeeper serve`` processes
on four ports share one database, and the clients spread their requests
over them as a load balancer would. What one process guarantees must hold
across processes:

* Authorize, Confirm and Cancel on one account never overdraw it, and the
  balance is exactly what the acknowledged calls make it; a refusal is
  "No Balance Remaining", never "retry later";
* IssuePromoCode from one single-use pool hands each code out once;
* every asynchronous Maestra call runs exactly once, however many servers
  and workers take calls from the queue and to whichever servers a call's
  copies are sent;
* ``kill -9`` of one server under load loses no acknowledged Earn, and an
  Earn retried on another server is credited once.

Each test starts its own servers on a fresh database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .api import authorize, balance_check, earn, enroll, resolve
from .async_calls import (
    SECTIONS,
    Call,
    check_each_take_counted,
    check_ran_once,
    queue,
    wait_until_credited,
)
from .cluster import Cluster, cluster_clients, running_cluster
from .database import opened_store, select
from .server import admin_headers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

_endpoint = "shop-web"
_key = "key-shop-web"
_maestra_headers = {"Authorization": f"SecretKey {_key}"}
_servers = 4


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


# -- Authorize / Confirm / Cancel on one account --------------------------

_seed_points = 1_000
_authorizations = 80


def _requested(n: int) -> int:
    """From 20 to 80 points: together far more than the account holds."""
    return 20 + (n * 37) % 61


@dataclass
class _Holds:
    """Holds granted in a burst: sale id → (auth code, points); and the
    points of the refused requests."""

    granted: dict[str, tuple[str, int]] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(points for _, points in self.granted.values())


async def _authorize_burst(clients: list[httpx.AsyncClient], customer: str, prefix: str) -> _Holds:
    sales = {f"{prefix}-{n}": _requested(n) for n in range(_authorizations)}
    responses = await asyncio.gather(
        *(
            authorize(clients[n % _servers], customer, sale_id=sale, points=points)
            for n, (sale, points) in enumerate(sales.items())
        )
    )
    holds = _Holds()
    for (sale, points), response in zip(sales.items(), responses, strict=True):
        if response.status_code == 200:
            answer = response.json()
            assert answer["SaleId"] == sale and answer["RequestedPoints"] == points, answer
            holds.granted[sale] = (answer["AuthCode"], points)
        else:
            assert response.status_code == 400, (response.status_code, response.text)
            assert response.json() == {"Message": "No Balance Remaining"}
            holds.refused.append(points)
    codes = {code for code, _ in holds.granted.values()}
    assert len(codes) == len(holds.granted) and all(codes)
    return holds


async def _race_confirm_and_cancel(
    clients: list[httpx.AsyncClient], customer: str, holds: _Holds
) -> dict[str, int]:
    """Confirm on one server and Cancel on another, at once, for every hold;
    answers the confirmed holds' points by sale."""
    sales = list(holds.granted)
    calls = []
    for n, sale in enumerate(sales):
        code = holds.granted[sale][0]
        calls.append(resolve(clients[n % _servers], customer, auth_code=code, action="Confirm"))
        calls.append(
            resolve(clients[(n + 1) % _servers], customer, auth_code=code, action="Cancel")
        )
    responses = await asyncio.gather(*calls)
    confirmed: dict[str, int] = {}
    for n, sale in enumerate(sales):
        pair = (responses[2 * n].status_code, responses[2 * n + 1].status_code)
        assert pair in ((204, 409), (409, 204)), (sale, pair)
        if pair == (204, 409):
            confirmed[sale] = holds.granted[sale][1]
    return confirmed


async def _confirm_twice(clients: list[httpx.AsyncClient], customer: str, holds: _Holds) -> None:
    """Every hold confirmed on two servers at once: both succeed, once."""
    responses = await asyncio.gather(
        *(
            resolve(clients[(n + shift) % _servers], customer, auth_code=code, action="Confirm")
            for n, (code, _) in enumerate(holds.granted.values())
            for shift in (0, 2)
        )
    )
    assert _statuses(responses) == {204: 2 * len(holds.granted)}


def test_authorizations_on_one_account_never_overdraw_across_servers(
    tmp_path: Path, postgres_url: str
) -> None:
    customer = "CPOL-SCALE-AUTH"

    async def scenario(cluster: Cluster) -> None:
        async with cluster_clients(cluster) as clients:
            await enroll(clients[0], customer)
            seed = await earn(clients[1], customer, points=_seed_points, reference="seed")
            assert seed.status_code == 204

            # 1. A burst of authorizations: they reserve no more than there is.
            first = await _authorize_burst(clients, customer, "SALE-A")
            assert 0 < first.points <= _seed_points
            loyalty = await balance_check(clients[2], customer)
            assert loyalty["PointBalance"] == _seed_points
            assert loyalty["OpenAuthorizations"] == first.points
            assert loyalty["AvailablePointBalance"] == _seed_points - first.points
            # The available balance only shrank during the burst, so each
            # refused request asked more than what is left at its end.
            assert first.refused
            assert min(first.refused) > _seed_points - first.points

            # 2. Confirm races Cancel for each of those holds while a second
            # burst of authorizations takes the points the cancels free.
            confirmed, second = await asyncio.gather(
                _race_confirm_and_cancel(clients, customer, first),
                _authorize_burst(clients, customer, "SALE-B"),
            )
            spent = sum(confirmed.values())
            assert spent + second.points <= _seed_points
            loyalty = await balance_check(clients[3], customer)
            assert loyalty["PointBalance"] == _seed_points - spent
            assert loyalty["OpenAuthorizations"] == second.points
            assert loyalty["AvailablePointBalance"] == _seed_points - spent - second.points

            # 3. The second burst's holds are confirmed, each on two servers.
            await _confirm_twice(clients, customer, second)
            spent += second.points
            confirmed.update({sale: points for sale, (_, points) in second.granted.items()})

            loyalty = await balance_check(clients[0], customer)
        assert loyalty["PointBalance"] == _seed_points - spent
        assert loyalty["OpenAuthorizations"] == 0
        assert loyalty["AvailablePointBalance"] == _seed_points - spent
        history = loyalty["History"]
        assert not [row for row in history if row.get("Activity") == "Pending Charge"]
        redemptions = {
            row["Document"]: -row["PointAmount"]
            for row in history
            if row.get("Activity") == "Redemption"
        }
        assert redemptions == confirmed
        assert len(history) == 1 + len(confirmed)
        assert sum(row["PointAmount"] for row in history) == loyalty["PointBalance"]

    with running_cluster(tmp_path, database_url=postgres_url) as cluster:
        asyncio.run(scenario(cluster))
        assert not cluster.error_lines(), cluster.error_lines()


_refusals = 200


def test_authorizations_refused_across_servers_are_refused_not_busy(
    tmp_path: Path, postgres_url: str
) -> None:
    """A burst of authorizations none of which fits the balance: each is
    answered "No Balance Remaining", however the four servers' writes on the
    account interleave, and none "retry later" (503).

    Each refusal rolls its request's savepoint back, and with it the
    account's row lock; a writer that still believes it holds a lock takes
    the next one NOWAIT, meets another server's, and retries until the
    store gives up."""
    customer = "CPOL-SCALE-REFUSED"

    async def scenario(cluster: Cluster) -> list[httpx.Response]:
        async with cluster_clients(cluster) as clients:
            await enroll(clients[0], customer)
            seed = await earn(clients[1], customer, points=100, reference="seed")
            assert seed.status_code == 204
            responses = await asyncio.gather(
                *(
                    authorize(clients[n % _servers], customer, sale_id=f"SALE-{n}", points=101)
                    for n in range(_refusals)
                )
            )
            loyalty = await balance_check(clients[2], customer)
        assert loyalty["PointBalance"] == loyalty["AvailablePointBalance"] == 100
        return list(responses)

    with running_cluster(tmp_path, database_url=postgres_url) as cluster:
        responses = asyncio.run(scenario(cluster))
    assert _statuses(responses) == {400: _refusals}, [
        (r.status_code, r.text) for r in responses if r.status_code != 400
    ][:3]
    assert {r.json()["Message"] for r in responses} == {"No Balance Remaining"}


# -- IssuePromoCode from one single-use pool ------------------------------

_issue_operation = "IssueWelcome"
_pool = "welcome"
_codes = 50
_promo_customers = 120

_promo_sections: dict[str, Any] = {
    "endpoints": [{"id": _endpoint, "secret_key": _key}],
    "operations": [
        {
            "name": _issue_operation,
            "kind": "IssuePromoCode",
            "mode": "from-pool",
            "pool": _pool,
            "endpoints": [_endpoint],
        },
    ],
}


async def _prepare_pool(client: httpx.AsyncClient, customers: list[str]) -> None:
    response = await client.put(
        f"/admin/v1/pools/{_pool}", json={"name": "Welcome"}, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    codes = [f"WELCOME-{n:03d}" for n in range(1, _codes + 1)]
    response = await client.post(
        f"/admin/v1/pools/{_pool}/codes", json={"codes": codes}, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": _codes, "rejected": []}
    responses = await asyncio.gather(
        *(
            client.put(f"/admin/v1/customers/{customer}", json={}, headers=admin_headers())
            for customer in customers
        )
    )
    assert set(_statuses(responses)) <= {200, 201}, _statuses(responses)


async def _issue(client: httpx.AsyncClient, customer: str) -> dict[str, Any]:
    response = await client.post(
        "/v3/operations/sync",
        params={"endpointId": _endpoint, "operation": _issue_operation},
        json={"customer": {"ids": {"customerNumber": customer}}},
        headers=_maestra_headers,
    )
    assert response.status_code == 200, response.text
    tree = response.json()
    assert tree["status"] == "Success", tree
    block: dict[str, Any] = tree["promoCode"]
    return block


def test_issues_from_one_pool_across_servers_hand_each_code_out_once(
    tmp_path: Path, postgres_url: str
) -> None:
    customers = [f"P{n:03d}" for n in range(_promo_customers)]

    async def scenario(cluster: Cluster) -> list[dict[str, Any]]:
        async with cluster_clients(cluster) as clients:
            await _prepare_pool(clients[0], customers)
            blocks = await asyncio.gather(
                *(_issue(clients[n % _servers], c) for n, c in enumerate(customers))
            )
            response = await clients[1].get(f"/admin/v1/pools/{_pool}", headers=admin_headers())
        assert response.status_code == 200, response.text
        assert response.json()["counts"] == {
            "available": 0,
            "issued": _codes,
            "used": 0,
            "blocked": 0,
        }
        return list(blocks)

    with running_cluster(tmp_path, database_url=postgres_url, sections=_promo_sections) as cluster:
        blocks = asyncio.run(scenario(cluster))
        assert not cluster.error_lines(), cluster.error_lines()

    statuses = Counter(block["issueStatus"] for block in blocks)
    assert statuses == {"Issued": _codes, "NoAvailablePromoCodesInPool": _promo_customers - _codes}
    given: dict[str, str] = {}
    for customer, block in zip(customers, blocks, strict=True):
        if block["issueStatus"] == "Issued":
            given[customer] = block["ids"]["value"]
        else:
            assert block == {
                "issueStatus": "NoAvailablePromoCodesInPool",
                "pool": {"ids": {"externalId": _pool}},
            }
    assert len(set(given.values())) == _codes
    with opened_store(postgres_url) as store:
        holders = dict(
            select(
                store,
                "SELECT c.value, k.customer_number FROM promo_codes c"
                " LEFT JOIN customers k ON k.id = c.issued_customer_id",
            )
        )
    # Every code went to one customer, the very one whose answer named it.
    assert holders == {value: customer for customer, value in given.items()}


# -- asynchronous calls ------------------------------------------------------

_async_customers = [f"C-ASYNC-{n}" for n in range(4)]
_async_calls = 160
_async_in_flight_max = 64
_async_conflicts = 8
_async_workers = 2


def _async_plan() -> list[Call]:
    return [
        Call(f"async-{n:03d}", _async_customers[n % len(_async_customers)], n % 9 + 1)
        for n in range(_async_calls)
    ]


async def _queue_everywhere(clients: list[httpx.AsyncClient], plan: list[Call]) -> None:
    """Each call to two servers, as a client whose first try timed out would
    send it again through the load balancer: the even calls' copies at the
    same moment, the odd calls' second copies after every first one. Every
    copy is answered Success. Then a few calls are sent again with another
    amount: refused, whichever server they reach."""
    gate = asyncio.Semaphore(_async_in_flight_max)

    async def one(client: httpx.AsyncClient, call: Call) -> httpx.Response:
        async with gate:
            return await queue(client, call)

    def server(n: int, copy: int) -> httpx.AsyncClient:
        # Copy 1 goes to the server two along from copy 0's.
        return clients[(n + n // _servers + 2 * copy) % _servers]

    sends = []
    for n, call in enumerate(plan):
        sends.append(one(server(n, 0), call))
        if n % 2 == 0:
            sends.append(one(server(n, 1), call))
    sends += [one(server(n, 1), call) for n, call in enumerate(plan) if n % 2]
    responses = await asyncio.gather(*sends)
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "Success"}

    changed = [
        (server(n, n % 2), dataclasses.replace(call, amount=call.amount + 100))
        for n, call in enumerate(plan[:_async_conflicts])
    ]
    responses = await asyncio.gather(*(one(client, call) for client, call in changed))
    for response in responses:
        assert response.status_code == 409, response.text
        assert response.json()["status"] == "ProtocolError", response.text


@pytest.mark.parametrize("servers_run_jobs", [True, False], ids=["servers+workers", "workers"])
def test_async_calls_run_once_across_servers_and_workers(
    tmp_path: Path, postgres_url: str, servers_run_jobs: bool
) -> None:
    """With ``servers_run_jobs`` the four servers run the jobs too, each at
    once when a call reaches it; else only the two workers do, each every
    0.2 s."""
    plan = _async_plan()

    async def scenario(cluster: Cluster) -> int:
        async with cluster_clients(cluster) as clients:
            for n, customer in enumerate(_async_customers):
                await enroll(clients[n % _servers], customer)
            await _queue_everywhere(clients, plan)
            await wait_until_credited(cluster, clients[0], plan)
            return await check_ran_once(clients, plan)

    jobs = {"jobs": {"enabled": servers_run_jobs, "interval_seconds": 0.2}}
    with running_cluster(
        tmp_path,
        database_url=postgres_url,
        sections=SECTIONS,
        overrides=jobs,
        workers=_async_workers,
    ) as cluster:
        attempts = asyncio.run(scenario(cluster))
        handled = check_each_take_counted(cluster, attempts)
    if not servers_run_jobs:
        assert sum(count for name, count in handled.items() if name.startswith("server")) == 0


# -- kill -9 of one server under write load ------------------------------

_crash_customer = "CPOL-SCALE-CRASH"
_crash_clients = 8
_load_seconds = 3.0
_kill_after_seconds = 1.5
_earns_per_client_max = 20_000
_victim = 2
_replays_max = 100


@dataclass
class _Earns:
    answered: dict[str, int] = field(default_factory=dict)
    # Sent, maybe committed, never answered, and not answered on a retry.
    unknown: dict[str, int] = field(default_factory=dict)
    # Answered on another server after the first one broke off.
    retried: set[str] = field(default_factory=set)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)


async def _earn_anywhere(
    clients: list[httpx.AsyncClient], first: int, reference: str, points: int, out: _Earns
) -> None:
    """Sends the Earn to server ``first`` (or the next live one), and when
    its answer does not come, again with the same Reference to the next."""
    broke_off = False
    for shift in range(_servers):
        index = (first + shift) % _servers
        if index in out.dead:
            continue
        try:
            response = await earn(
                clients[index], _crash_customer, points=points, reference=reference
            )
        except httpx.TransportError:
            out.dead.add(index)
            out.unknown[reference] = points
            broke_off = True
            continue
        out.unknown.pop(reference, None)
        if response.status_code == 204:
            out.answered[reference] = points
            if broke_off:
                out.retried.add(reference)
        else:
            out.refused.append((reference, response.status_code, response.text))
        return


async def _earn_load(
    clients: list[httpx.AsyncClient], index: int, deadline: float, out: _Earns
) -> None:
    for n in range(_earns_per_client_max):
        if time.monotonic() >= deadline:
            return
        points = (index * 31 + n) % 50 + 1
        await _earn_anywhere(clients, index + n, f"C{index}-{n}", points, out)


async def _load_and_kill(cluster: Cluster) -> _Earns:
    out = _Earns()
    async with cluster_clients(cluster) as clients:
        await enroll(clients[0], _crash_customer)
        deadline = time.monotonic() + _load_seconds
        loads = [
            asyncio.create_task(_earn_load(clients, index, deadline, out))
            for index in range(_crash_clients)
        ]
        await asyncio.sleep(_kill_after_seconds)
        # In a thread, so that the clients keep sending while it happens.
        await asyncio.to_thread(cluster.servers[_victim].kill)
        await asyncio.gather(*loads)
    return out


async def _credited(client: httpx.AsyncClient) -> dict[str, list[int]]:
    """Every history row's points by Document; checks the balance is their sum."""
    loyalty = await balance_check(client, _crash_customer)
    rows: dict[str, list[int]] = {}
    for row in loyalty["History"]:
        assert "Activity" not in row, row
        rows.setdefault(row["Document"], []).append(row["PointAmount"])
    assert loyalty["PointBalance"] == sum(sum(points) for points in rows.values())
    return rows


async def _send_again(cluster: Cluster, earns: dict[str, int]) -> None:
    async with cluster_clients(cluster) as clients:
        responses = await asyncio.gather(
            *(
                earn(clients[n % _servers], _crash_customer, points=points, reference=reference)
                for n, (reference, points) in enumerate(earns.items())
            )
        )
    assert all(response.status_code == 204 for response in responses), _statuses(responses)


def test_sigkill_of_one_server_loses_no_answered_earn(tmp_path: Path, postgres_url: str) -> None:
    with running_cluster(tmp_path, database_url=postgres_url) as cluster:
        out = asyncio.run(_load_and_kill(cluster))
        assert not out.refused, out.refused[:5]
        assert out.dead == {_victim}
        assert len(out.answered) > 100, "the load did not get going before the kill"
        assert out.retried, "no Earn was sent again after the kill"

        # What the survivors show: every answered Earn, each once.
        survivor = cluster.servers[(_victim + 1) % _servers]

        async def credited() -> dict[str, list[int]]:
            async with cluster_clients(cluster) as clients:
                return await _credited(clients[(_victim + 1) % _servers])

        rows = asyncio.run(credited())
        assert all(len(points) == 1 for points in rows.values()), "an Earn was credited twice"
        credited_once = {reference: points[0] for reference, points in rows.items()}
        lost = {r: p for r, p in out.answered.items() if credited_once.get(r) != p}
        assert not lost, f"{len(lost)} Earns answered 204 are missing, e.g. {list(lost)[:5]}"
        assert set(credited_once) <= set(out.answered) | set(out.unknown)
        assert survivor.running()

        # The victim comes back on the same database; the Earns whose answer
        # never came are sent again, and some answered ones replayed: each
        # is credited once.
        cluster.servers[_victim].start()
        asyncio.run(_send_again(cluster, out.unknown))
        asyncio.run(_send_again(cluster, dict(list(out.answered.items())[:_replays_max])))
        expected = out.answered | out.unknown
        rows = asyncio.run(credited())
        assert rows == {reference: [points] for reference, points in expected.items()}
        assert not cluster.error_lines(), cluster.error_lines()
    print(
        f"{len(out.answered)} answered ({len(out.retried)} after a retry),"
        f" {len(out.unknown)} unknown"
    )
