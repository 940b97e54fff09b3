"""SQLite's ``?`` placeholders become PostgreSQL's ``$n``, and only those:
a ``?`` inside a literal, a quoted name or a comment stays as it is."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from pointkeeper.store.postgres_tx import postgres_placeholders


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT ? , ?", "SELECT $1 , $2"),
        ("SELECT '?', ?", "SELECT '?', $1"),
        ("SELECT 'it''s ?', ? WHERE a = ?", "SELECT 'it''s ?', $1 WHERE a = $2"),
        ('SELECT "odd?name" FROM t WHERE b = ?', 'SELECT "odd?name" FROM t WHERE b = $1'),
        ("SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"),
        ("SELECT /* a ? here */ ?", "SELECT /* a ? here */ $1"),
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_only_placeholders_are_numbered(sqlite: str, postgres: str) -> None:
    assert postgres_placeholders(sqlite) == postgres


@pytest.mark.postgres
def test_postgresql_runs_the_translated_statement(postgres_url: str) -> None:
    async def fetch() -> tuple[object, ...]:
        connection = await asyncpg.connect(postgres_url)
        try:
            sql = "SELECT 'a?b' AS literal, ?::int AS bound, ?::text AS text"
            return tuple(await connection.fetchrow(postgres_placeholders(sql), 7, "x?"))
        finally:
            await connection.close()

    assert asyncio.run(fetch()) == ("a?b", 7, "x?")
