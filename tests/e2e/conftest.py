"""A real server process shared by the tests of one module, once per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import ServerProcess, running_server


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
