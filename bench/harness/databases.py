"""The databases a benchmark runs on, beside the server: a statement for set-up and
checks (`sql`) on SQLite or PostgreSQL, and throwaway PostgreSQL databases
(`pointkeeper_bench_<random>`, created and dropped on `BENCH_POSTGRES_SERVER`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pointkeeper.config import is_postgres, postgres_dsn
from pointkeeper.store.postgres_tx import postgres_placeholders

from .failures import BenchError

__all__ = [
    "DATABASE_PREFIX",
    "POSTGRES_SERVER",
    "create_postgres_database",
    "drop_postgres_database",
    "redact_url",
    "sql",
    "sql_outside_transaction",
]

# Where `--database postgres` creates its databases (any database of the server will do:
# it is only connected to for CREATE / DROP DATABASE).
POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432/test"
)
DATABASE_PREFIX = "pointkeeper_bench_"


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _with_database(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def redact_url(url: str) -> str:
    """Drop a password from a database URL before it goes into results."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def _postgres(
    url: str, statement: str, *params: Any, rows: bool = True
) -> list[tuple[Any, ...]]:
    import asyncpg  # the project's driver; only needed on PostgreSQL

    connection = await asyncpg.connect(postgres_dsn(url), timeout=10)
    try:
        if not rows:  # the simple protocol, which CREATE / DROP DATABASE need
            await connection.execute(statement, *params)
            return []
        return [tuple(row) for row in await connection.fetch(statement, *params)]
    finally:
        await connection.close()


def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """One statement with `?` parameters on the database of `url` (SQLite or PostgreSQL),
    in a transaction of its own; answers the rows. For set-up and checks beside a running
    server, not for load."""
    if is_postgres(url):
        return asyncio.run(_postgres(url, postgres_placeholders(statement), *params))
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
    try:
        with connection:
            return connection.execute(statement, params).fetchall()
    finally:
        connection.close()


def sql_outside_transaction(url: str, statement: str) -> None:
    """One PostgreSQL statement that may not run in a transaction (VACUUM)."""
    asyncio.run(_postgres(url, statement, rows=False))


def create_postgres_database(server_url: str = POSTGRES_SERVER, template: str | None = None) -> str:
    """A new empty (or `template`'s copy) database named pointkeeper_bench_<random>;
    answers its URL."""
    name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}"
    statement = f"CREATE DATABASE {name}"
    if template is not None:
        # The template must have no other session: only before its server starts.
        statement += f" TEMPLATE {_database_name(template)} STRATEGY FILE_COPY"
    try:
        asyncio.run(_postgres(server_url, statement, rows=False))
    except OSError as error:
        raise BenchError(
            f"PostgreSQL at {redact_url(server_url)} does not answer ({error}); "
            "set BENCH_POSTGRES_SERVER or --postgres-server"
        ) from None
    return _with_database(server_url, name)


def drop_postgres_database(url: str, server_url: str = POSTGRES_SERVER) -> None:
    name = _database_name(url)
    if not name.startswith(DATABASE_PREFIX):
        raise BenchError(f"refusing to drop {name!r}: not a bench database")
    statement = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    asyncio.run(_postgres(server_url, statement, rows=False))
