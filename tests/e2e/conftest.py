"""A real server process shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import ServerProcess, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("server")) as process:
        yield process
