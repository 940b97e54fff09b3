"""Seeding a database in process, through the product's own store and services, while
no server has it open: far faster than the HTTP API for a million rows, and the rows
are exactly what the server itself would have written."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from pointkeeper.config import Config, parse_config
from pointkeeper.store import Store, open_store

from .configs import PROGRAM

__all__ = ["seeding_store"]


@contextlib.contextmanager
def seeding_store(
    url: str, pool_config: Mapping[str, int] | None = None
) -> Iterator[tuple[Store, Config]]:
    """The store of the database at `url` (migrated), with the bench program in it, and
    the configuration it was opened with; closed on the way out. `pool_config`: more
    [database] keys (`Setup.pool_config`)."""
    database = {"url": url, **(pool_config or {})}
    config = parse_config({"database": database, "programs": [{"name": PROGRAM}]}, {})
    store = open_store(
        config.database, programs=config.programs, order_statuses=config.order_statuses
    )
    try:
        yield store, config
    finally:
        store.close()
