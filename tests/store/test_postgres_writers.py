"""The PostgreSQL store's writers: every queued write is answered."""

from __future__ import annotations

import asyncio

import pytest

from pointkeeper.config import DatabaseConfig
from pointkeeper.store import open_store
from pointkeeper.store.postgres import PostgresStore
from pointkeeper.store.tx import Tx

pytestmark = pytest.mark.postgres


def _lookup(tx: Tx) -> int | None:
    return tx.program_id("none")


def test_writes_queued_while_a_writer_hands_back_its_connection_are_answered(
    postgres_url: str,
) -> None:
    """Each burst lands just after the one writer answered the last and is
    handing its connection back to the pool: the writer must take it."""
    store = open_store(DatabaseConfig(url=postgres_url, writers=1, connections_max=2))
    assert isinstance(store, PostgresStore)

    async def bursts() -> None:
        try:
            for _ in range(200):
                writes = asyncio.gather(*(store.write(_lookup) for _ in range(3)))
                assert await asyncio.wait_for(writes, timeout=5) == [None, None, None]
        finally:
            await store.leave_loop()

    try:
        asyncio.run(bursts())
    finally:
        store.close()
