"""The databases tests run on: a fresh SQLite file, or a fresh PostgreSQL
database cloned from one migrated template per test session.

PostgreSQL is the one of ``PK_TEST_POSTGRES`` (by default the
local server, trust auth, database ``test``). Where none answers, its tests
skip with the reason; with ``PK_TEST_POSTGRES_REQUIRED=1`` (CI)
they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import asyncpg

from pointkeeper.store.migrate import migrate

SERVER_URL = os.environ.get("PK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRED = os.environ.get("PK_TEST_POSTGRES_REQUIRED") == "1"
# One per test session, so that sessions running side by side keep apart.
_TEMPLATE = f"pointkeeper_test_template_{os.getpid()}"


def database_url(name: str) -> str:
    return SERVER_URL.rsplit("/", 1)[0] + "/" + name


async def _run(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def unreachable_reason() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        asyncio.run(_run(SERVER_URL, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {SERVER_URL} is not reachable ({exc})"
    return None


def make_template() -> None:
    """Migrates a template database that every test's database copies."""
    asyncio.run(
        _run(
            SERVER_URL,
            f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)",
            f"CREATE DATABASE {_TEMPLATE}",
        )
    )
    migrate(database_url(_TEMPLATE))


def drop_template() -> None:
    asyncio.run(_run(SERVER_URL, f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)"))


def fresh_database() -> str:
    name = f"pointkeeper_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_run(SERVER_URL, f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE} STRATEGY FILE_COPY"))
    return database_url(name)


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_run(SERVER_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _rows_of_every_table(url: str) -> dict[str, list[tuple[Any, ...]]]:
    connection = await asyncpg.connect(url)
    try:
        tables = [
            row[0]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' ORDER BY table_name"
            )
        ]
        return {
            table: [
                tuple(row) for row in await connection.fetch(f"SELECT * FROM {table} ORDER BY 1")
            ]
            for table in tables
        }
    finally:
        await connection.close()


def rows_of_every_table(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return asyncio.run(_rows_of_every_table(url))
