"""Fixtures shared by every test level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper.app import create_app
from pointkeeper.config import Config, parse_config
from pointkeeper.domain.time import Instant

from . import databases

ADMIN_TOKEN = "admin-token-for-tests"
CP_TOKEN = "cp-token-for-tests"
JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef"
USER_PASSWORD = "web-password"
PROGRAM = "Loyalty program 1"


class FakeClock:
    """A clock the test moves by hand; starts at 2026-01-01 00:00 UTC."""

    def __init__(self, start: Instant = 1_767_225_600_000) -> None:
        self.now = start

    def __call__(self) -> Instant:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def config_data(tmp_path: Path, database_url: str | None = None, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "database": {"url": database_url or f"sqlite:///{tmp_path}/pointkeeper.db"},
        "jobs": {"enabled": False},
        "admin": {"tokens": [ADMIN_TOKEN]},
        "cp_extender": {
            "tokens": [CP_TOKEN],
            "jwt_secret": JWT_SECRET,
            "users": [{"name": "web", "password": USER_PASSWORD}],
        },
        "programs": [
            {
                "name": PROGRAM,
                "earning_description": "1 point per dollar",
                "redemption_description": "100 points = $1",
            }
        ],
    }
    for name, value in sections.items():
        data[name] = value
    return data


def make_config(tmp_path: Path, database_url: str | None = None, **sections: Any) -> Config:
    return parse_config(config_data(tmp_path, database_url, **sections), environ={})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[None]:
    reason = databases.unreachable_reason()
    if reason is not None:
        if databases.REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    databases.make_template()
    yield
    databases.drop_template()


@pytest.fixture
def postgres_url(postgres_template: None) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    url = databases.fresh_database()
    yield url
    databases.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that asks for it runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/pointkeeper.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``database_url`` for a module's shared server: a fresh database on each
    backend, kept for the module's tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/pointkeeper.db"
        return
    request.getfixturevalue("postgres_template")
    url = databases.fresh_database()
    try:
        yield url
    finally:
        databases.drop_database(url)


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return make_config(tmp_path, database_url)


@pytest.fixture
def client(config: Config, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(config, clock=clock)) as test_client:
        yield test_client


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def cp_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {CP_TOKEN}"}


def db_snapshot(config: Config) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table: to show that a refused request changed nothing."""
    import sqlite3

    if not config.database.url.startswith("sqlite:///"):
        return databases.rows_of_every_table(config.database.url)
    path = config.database.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in tables
        }
