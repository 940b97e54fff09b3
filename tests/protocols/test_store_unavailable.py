"""A database that cannot be written or reached: every API answers 503 with
``Retry-After`` (Maestra: ``InternalServerError`` with an ``errorId``), the
refused call changes nothing, ``/readyz`` reports it, and the server serves
again once the database does.

SQLite is made full (``max_page_count`` at the file's size: the same error
as a full disk); PostgreSQL read-only (``default_transaction_read_only``, as
a standby or an out-of-space guard would) or down (no connections allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.testclient import TestClient

from pointkeeper.app import create_app
from pointkeeper.config import Config
from pointkeeper.store import Store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import Tx
from tests import databases
from tests.conftest import FakeClock, admin_headers, cp_headers, db_snapshot
from tests.protocols.maestra.conftest import CHANGE, answer, call, maestra_config

# Each Earn grows the SQLite file by less than a page, so filling the pages
# left takes a few dozen; the bound keeps a store that never fills from
# looping on.
_fill_attempts_max = 500
_error_id = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return maestra_config(tmp_path, database_url)


@contextlib.contextmanager
def _serving(config: Config, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(config, clock=clock)) as test_client:
        enrolled = test_client.put(
            "/admin/v1/customers/C1", json={"program": "Loyalty program 1"}, headers=admin_headers()
        )
        assert enrolled.status_code == 200, enrolled.text
        yield test_client


@pytest.fixture
def client(config: Config, clock: FakeClock) -> Iterator[TestClient]:
    with _serving(config, clock) as test_client:
        yield test_client


@pytest.fixture
def postgres_config(tmp_path: Path, postgres_url: str) -> Config:
    return maestra_config(tmp_path, postgres_url)


def _store(client: TestClient) -> Store:
    store: Store = client.app.state.pointkeeper.ready_store  # type: ignore[attr-defined]
    return store


# -- the three APIs' writes, each new every time it is sent ---------------------

_sent = iter(range(1_000_000))


def _earn(client: TestClient) -> httpx.Response:
    body = {"CustomerNumber": "C1", "Points": 5, "Reason": "r" * 900, "Reference": next(_sent)}
    body["Reference"] = f"ref-{body['Reference']}"
    return client.post("/Loyalty/Earn", json=body, headers=cp_headers())


def _maestra_change(client: TestClient) -> httpx.Response:
    body = {
        "customer": {"ids": {"customerNumber": "C1"}},
        "balanceChanges": [{"changeAmount": 5, "comment": "c" * 900}],
    }
    return call(client, CHANGE, body, fmt="json", transaction_id=f"tx-{next(_sent)}")


def _admin_change(client: TestClient) -> httpx.Response:
    body = {"changeAmount": 5, "comment": "a" * 900, "transactionId": f"adm-{next(_sent)}"}
    return client.post("/admin/v1/customers/C1/balance-changes", json=body, headers=admin_headers())


Send = Callable[[TestClient], httpx.Response]
_WRITES: dict[str, tuple[Send, int]] = {
    "cp_extender": (_earn, 204),
    "maestra": (_maestra_change, 200),
    "admin": (_admin_change, 201),
}


def _check_unavailable(api: str, response: httpx.Response) -> None:
    """The API's "retry later": 503, Retry-After, an error id to find in the log."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    if api == "cp_extender":
        assert _error_id.search(response.json()["Message"]), response.text
    elif api == "maestra":
        tree = answer(response)
        assert tree["status"] == "InternalServerError"
        assert _error_id.fullmatch(tree["errorId"])
    else:
        error = response.json()["error"]
        assert _error_id.fullmatch(error["errorId"])


# -- making the database fail -----------------------------------------------------


def _set_max_pages(tx: Tx, pages: int | None) -> None:
    if pages is None:
        (pages,) = sql_connection(tx).execute("PRAGMA page_count").fetchone()
    sql_connection(tx).execute(f"PRAGMA max_page_count = {int(pages)}")


def _fill_until_refused(
    client: TestClient, config: Config, api: str
) -> tuple[httpx.Response, bool]:
    """On a SQLite file that may no longer grow, sends the API's write until
    one is refused; answers that answer and whether it left the database as
    it found it."""
    send, ok_status = _WRITES[api]
    for _ in range(_fill_attempts_max):
        before = db_snapshot(config)
        response = send(client)
        if response.status_code != ok_status:
            return response, db_snapshot(config) == before
    raise AssertionError(f"the full database took {_fill_attempts_max} writes")


async def _on_server(*statements: str) -> None:
    connection = await asyncpg.connect(databases.SERVER_URL)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _terminate(name: str) -> str:
    return (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


@contextlib.contextmanager
def _postgres(config: Config, *settings: str) -> Iterator[None]:
    """The test's PostgreSQL database with ``settings`` (ALTER DATABASE),
    every open connection to it ended so that new ones take them."""
    name = config.database.url.rsplit("/", 1)[1]
    asyncio.run(_on_server(*(f"ALTER DATABASE {name} {s}" for s in settings), _terminate(name)))
    try:
        yield
    finally:
        asyncio.run(
            _on_server(
                f"ALTER DATABASE {name} RESET ALL",
                f"ALTER DATABASE {name} ALLOW_CONNECTIONS true",
                _terminate(name),
            )
        )


# -- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("api", sorted(_WRITES))
def test_a_write_the_database_cannot_take_is_503_and_changes_nothing(
    client: TestClient, config: Config, api: str
) -> None:
    send, ok_status = _WRITES[api]
    store = _store(client)
    if config.database.url.startswith("sqlite:"):
        store.write_sync(_set_max_pages, None)
        refused, untouched = _fill_until_refused(client, config, api)
        _check_unavailable(api, refused)
        assert untouched, "the refused write left something behind"
        assert client.get("/readyz").status_code == 503
        store.write_sync(_set_max_pages, 1_000_000)
    else:
        with _postgres(config, "SET default_transaction_read_only = on"):
            before = db_snapshot(config)
            _check_unavailable(api, send(client))
            assert db_snapshot(config) == before
            # The database still answers a read: only the failed write tells.
            ready = client.get("/readyz")
            assert (ready.status_code, ready.json()) == (503, {"status": "database failing writes"})
    # The database takes writes again, and so does the server at once.
    assert send(client).status_code == ok_status


@pytest.mark.postgres
def test_a_database_that_is_down_is_503_on_every_api(
    postgres_config: Config, clock: FakeClock
) -> None:
    config = postgres_config
    with _serving(config, clock) as client:
        before = db_snapshot(config)
        with _postgres(config, "ALLOW_CONNECTIONS false"):
            for api, (send, _) in _WRITES.items():
                _check_unavailable(api, send(client))
            balance = client.get("/Loyalty/C1/BalanceCheck", headers=cp_headers())
            _check_unavailable("cp_extender", balance)
            customer = client.get("/admin/v1/customers/C1", headers=admin_headers())
            _check_unavailable("admin", customer)
            ready = client.get("/readyz")
            assert (ready.status_code, ready.json()) == (503, {"status": "database unavailable"})
        assert db_snapshot(config) == before
        for api, (send, ok_status) in _WRITES.items():
            assert send(client).status_code == ok_status, api
        assert client.get("/readyz").status_code == 200


@pytest.mark.postgres
def test_writes_after_the_database_dropped_every_connection_are_served(
    postgres_config: Config, clock: FakeClock
) -> None:
    """A restart or a failover ends the pool's idle connections: the next
    batch finds its connection dead before anything ran, and runs on a new
    one instead of answering "retry later"."""
    name = postgres_config.database.url.rsplit("/", 1)[1]
    with _serving(postgres_config, clock) as client:
        for api, (send, ok_status) in _WRITES.items():
            assert send(client).status_code == ok_status, api  # the pool's connections open
            asyncio.run(_on_server(_terminate(name)))
            assert send(client).status_code == ok_status, api
