"""A real server process shared by the tests of one module, once per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import databases

from .server import ServerProcess, running_server


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


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str
) -> Iterator[ServerProcess]:
    # On PostgreSQL, two processes behind the one port (``serve --workers 2``):
    # the requests of a burst land on both, as they would in production.
    workers = 1 if module_database_url.startswith("sqlite:") else 2
    folder = tmp_path_factory.mktemp("server")
    with running_server(folder, database_url=module_database_url, workers=workers) as process:
        yield process
