"""Exactly once across a crash: asynchronous Maestra calls (``/v3/operations/async``)
survive ``kill -9`` of the server that is executing them.

200 ChangeCustomerBalance calls of +1, each with its own transactionId:

1. are sent by several clients to a server whose jobs execute them as they
   arrive; the server gets SIGKILL mid-load;
2. a server with the jobs off shows the state the crash left: every call
   answered Success is stored, and the credits are exactly those of the
   calls marked ``done``; the calls whose answer was lost are sent again,
   as a client would;
3. a server with the jobs on starts on that queue and gets SIGKILL as soon
   as the database shows its first finished batch, while it is executing
   the rest; the state is checked again;
4. a last server finishes the queue: the balance is exactly +200, the
   history holds 200 actions and every call is ``done`` once.

``tests/e2e/server.py`` writes a fixed configuration (no endpoints, no
operations, jobs off), so this file starts its own server. On SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pointkeeper.store import Store
from tests.e2e.database import opened_store, select
from tests.e2e.server import PROGRAM, ServerProcess, admin_headers

pytestmark = pytest.mark.slow

_endpoint = "shop-web"
_key = "key-shop-web"
_change = "ChangeBalance"
_history = "GetHistory"
_customer = "C-ASYNC"

_calls = 200
_senders = 8
_kill_after_answers = 80
_start_seconds_max = 30.0
_finish_seconds_max = 60.0


# The Maestra parts of the configuration; the rest is the e2e default.
_sections: dict[str, Any] = {
    "endpoints": [{"id": _endpoint, "secret_key": _key}],
    "operations": [
        {"name": _change, "kind": "ChangeCustomerBalance", "endpoints": [_endpoint]},
        {"name": _history, "kind": "GetCustomerBalanceHistory", "endpoints": [_endpoint]},
    ],
}


def _start(server: ServerProcess, *, jobs: bool, wait: bool = True) -> None:
    server.start(overrides={"jobs": {"enabled": jobs, "interval_seconds": 0.2}}, wait=wait)


_credit = json.dumps(
    {"customer": {"ids": {"customerNumber": _customer}}, "balanceChanges": [{"changeAmount": 1}]}
).encode()


async def _queue(client: httpx.AsyncClient, transaction_id: str) -> httpx.Response:
    return await client.post(
        "/v3/operations/async",
        params={"endpointId": _endpoint, "operation": _change, "transactionId": transaction_id},
        content=_credit,
        headers={"Content-Type": "application/json", "Authorization": f"SecretKey {_key}"},
    )


@dataclass
class _Sent:
    answered: set[str] = field(default_factory=set)
    lost: set[str] = field(default_factory=set)
    refused: list[tuple[str, int, str]] = field(default_factory=list)


async def _send_all(client: httpx.AsyncClient, ids: list[str], out: _Sent) -> None:
    """Sends ``ids`` one after another, until the first broken connection."""
    for index, transaction_id in enumerate(ids):
        try:
            response = await _queue(client, transaction_id)
        except httpx.TransportError:
            # This one and every later one: sent or not, the answer never came.
            out.lost.update(ids[index:])
            return
        if response.status_code == 200 and response.json() == {"status": "Success"}:
            out.answered.add(transaction_id)
        else:
            out.refused.append((transaction_id, response.status_code, response.text))


async def _queue_and_kill(server: ServerProcess, ids: list[str]) -> _Sent:
    out = _Sent()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        senders = [
            asyncio.create_task(_send_all(client, ids[index::_senders], out))
            for index in range(_senders)
        ]
        while len(out.answered) < _kill_after_answers and not all(s.done() for s in senders):
            await asyncio.sleep(0.001)
        # In a thread, so that the senders keep sending while it happens.
        await asyncio.to_thread(server.kill)
        await asyncio.gather(*senders)
    return out


async def _stored(base_url: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each transactionId's stored calls, as the admin API shows them."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:

        async def one(transaction_id: str) -> list[dict[str, Any]]:
            response = await client.get(
                "/admin/v1/async-operations",
                params={"transactionId": transaction_id},
                headers=admin_headers(),
            )
            assert response.status_code == 200, response.text
            calls: list[dict[str, Any]] = response.json()
            return calls

        found = await asyncio.gather(*(one(transaction_id) for transaction_id in ids))
    return dict(zip(ids, found, strict=True))


def _balance(client: httpx.Client) -> int:
    response = client.get(f"/admin/v1/customers/{_customer}", headers=admin_headers())
    assert response.status_code == 200, response.text
    balance: int = response.json()["balances"]["pointBalance"]
    return balance


def _actions_count(client: httpx.Client) -> int:
    response = client.post(
        "/v3/operations/sync",
        params={"endpointId": _endpoint, "operation": _history},
        json={"customer": {"ids": {"customerNumber": _customer}}, "page": {"itemsPerPage": 1}},
        headers={"Authorization": f"SecretKey {_key}"},
    )
    assert response.status_code == 200, response.text
    count: int = response.json()["customerActionsCount"]
    return count


@dataclass
class _State:
    stored: dict[str, list[dict[str, Any]]]
    done: int
    queued: int


def _check_after_crash(server: ServerProcess, ids: list[str]) -> _State:
    """With the jobs off, so that nothing moves: no call is stored twice, and
    the credits are exactly those of the calls marked done."""
    stored = asyncio.run(_stored(server.base_url, ids))
    assert all(len(calls) <= 1 for calls in stored.values())
    statuses = [calls[0]["status"] for calls in stored.values() if calls]
    assert set(statuses) <= {"done", "queued"}, statuses
    done = statuses.count("done")
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        assert _balance(client) == done
        assert _actions_count(client) == done
    return _State(stored, done, statuses.count("queued"))


def _done_in_database(store: Store) -> int:
    """Read straight from the database while the server writes it (SQLite's
    WAL lets a reader in), to catch the server in the middle of its work."""
    ((count,),) = select(store, "SELECT count(*) FROM async_operations WHERE status = 'done'")
    return int(count)


def _kill_at_first_progress(server: ServerProcess, done_before: int) -> None:
    # Opened first: the store's start-up (migrations) is slower than a batch.
    with opened_store(server.database_url) as store:
        _start(server, jobs=True, wait=False)
        deadline = time.monotonic() + _start_seconds_max
        while time.monotonic() < deadline and server.running():
            if _done_in_database(store) > done_before:
                break
            time.sleep(0.001)
        server.kill()


def test_async_calls_run_exactly_once_across_sigkill(tmp_path: Path, database_url: str) -> None:
    ids = [f"async-{n:03d}" for n in range(_calls)]
    server = ServerProcess(tmp_path, sections=_sections, database_url=database_url)
    try:
        # 1. Sent while executed; killed mid-load.
        _start(server, jobs=True)
        response = httpx.put(
            f"{server.base_url}/admin/v1/customers/{_customer}",
            json={"program": PROGRAM},
            headers=admin_headers(),
        )
        assert response.status_code in (200, 201), response.text
        sent = asyncio.run(_queue_and_kill(server, ids))
        assert not sent.refused, sent.refused[:5]
        assert len(sent.answered) >= _kill_after_answers

        # 2. What the crash left; the lost answers are sent again.
        _start(server, jobs=False)
        first = _check_after_crash(server, ids)
        missing = [tid for tid in sent.answered if not first.stored[tid]]
        assert not missing, f"answered Success but not stored: {missing[:5]}"
        retry = _Sent()

        async def resend() -> None:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
                await _send_all(client, sorted(sent.lost), retry)

        asyncio.run(resend())
        assert retry.answered == sent.lost, retry.refused[:5]
        server.stop()

        # 3. Killed while executing the queue.
        _kill_at_first_progress(server, first.done)
        _start(server, jobs=False)
        second = _check_after_crash(server, ids)
        assert all(second.stored.values()), "a call answered Success is not stored"
        server.stop()
        print(
            f"first crash: {len(sent.answered)} answered, {len(sent.lost)} lost, "
            f"{first.done} done; second crash: {second.done} done, {second.queued} queued"
        )
        assert second.done >= first.done

        # 4. Finished.
        _start(server, jobs=True)
        with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
            deadline = time.monotonic() + _finish_seconds_max
            while _balance(client) < _calls and time.monotonic() < deadline:
                time.sleep(0.1)
            # A moment more, in case anything would run twice.
            time.sleep(0.5)
            assert _balance(client) == _calls
            assert _actions_count(client) == _calls
        final = asyncio.run(_stored(server.base_url, ids))
        assert all(len(calls) == 1 for calls in final.values())
        not_done = {tid: calls[0]["status"] for tid, calls in final.items()}
        not_done = {tid: status for tid, status in not_done.items() if status != "done"}
        assert not not_done, not_done
        assert all(calls[0]["result"]["status"] == "Success" for calls in final.values())
    except BaseException:
        print(server.log_tail())
        raise
    finally:
        server.stop()
