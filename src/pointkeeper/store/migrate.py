"""Schema migrations through Alembic, shared by every backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.ext.asyncio import create_async_engine

from pointkeeper.config import is_postgres, postgres_dsn
from pointkeeper.errors import StoreUnavailable

from .unreachable import OPEN_FAILURES, describe_open_failure

__all__ = ["migrate"]

_scripts = Path(__file__).with_name("migrations")


def _upgrade(connection: sa.Connection) -> None:
    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(_scripts))
    alembic_config.attributes["connection"] = connection
    command.upgrade(alembic_config, "head")


async def _migrate_postgres(database_url: str) -> None:
    # asyncpg reads the URL itself, as the store does, so that its query
    # parameters mean the same in both.
    dsn = postgres_dsn(database_url)
    engine = create_async_engine(
        "postgresql+asyncpg://", async_creator=lambda: asyncpg.connect(dsn)
    )
    try:
        async with engine.begin() as connection:
            # Two processes starting at once: the second waits here for the
            # first's migration, then finds nothing to do.
            await connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext('pointkeeper.migrate'))")
            )
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


def migrate(database_url: str) -> None:
    """Brings the schema to the newest revision; a no-op when it is there.
    Call it from a thread without a running event loop. A database that
    cannot be opened is a ``StoreUnavailable`` that says why in one line."""
    try:
        _migrate(database_url)
    except OPEN_FAILURES as exc:
        raise StoreUnavailable(describe_open_failure(database_url, exc)) from exc


def _migrate(database_url: str) -> None:
    if is_postgres(database_url):
        asyncio.run(_migrate_postgres(database_url))
        return
    Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            _upgrade(connection)
    finally:
        engine.dispose()
