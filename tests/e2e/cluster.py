"""Several ``pointkeeper serve`` processes on their own ports sharing one
PostgreSQL database, optionally with ``pointkeeper worker`` processes beside
them: the scale-out deployment of SPEC §5, with the test as the load
balancer that spreads requests over the servers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from .api import async_client
from .server import ServerProcess, WorkerProcess

__all__ = ["Cluster", "cluster_clients", "running_cluster"]

servers_default = 4
_error_line = re.compile(r'"level":\s*"(error|critical)"')
_error_lines_max = 20


class Cluster:
    """``servers`` servers (and ``workers`` workers) on ``database_url``,
    each with a folder of its own under ``folder`` for its configuration
    and logs."""

    def __init__(
        self,
        folder: Path,
        *,
        database_url: str,
        sections: dict[str, Any] | None = None,
        servers: int = servers_default,
        workers: int = 0,
    ) -> None:
        assert database_url.startswith("postgresql://"), "only PostgreSQL is shared"
        self.servers = [
            ServerProcess(
                _made(folder / f"server-{index}"), sections=sections, database_url=database_url
            )
            for index in range(servers)
        ]
        self._folder = folder
        self._sections = sections
        self._database_url = database_url
        self.workers: list[WorkerProcess] = []
        self._workers_at_start = workers

    @property
    def base_urls(self) -> list[str]:
        return [server.base_url for server in self.servers]

    def start(self, *, overrides: dict[str, Any] | None = None) -> None:
        """Starts every process at once (start-up is mostly imports, which
        then overlap) and waits until every server is healthy."""
        for server in self.servers:
            server.start(overrides=overrides, wait=False)
        self.start_workers(self._workers_at_start)
        for server in self.servers:
            server.wait_healthy()

    def start_workers(self, count: int, *, interval_seconds: float = 0.2) -> None:
        """``count`` more workers, started at once, each running the jobs
        every ``interval_seconds``."""
        for _ in range(count):
            folder = _made(self._folder / f"worker-{len(self.workers)}")
            worker = WorkerProcess(
                folder,
                sections=self._sections,
                database_url=self._database_url,
                interval_seconds=interval_seconds,
            )
            self.workers.append(worker)
            worker.start()

    def stop(self) -> None:
        for process in [*self.servers, *self.workers]:
            process.stop()

    def check_workers_running(self) -> None:
        for worker in self.workers:
            worker.check_running()

    def error_lines(self) -> list[str]:
        """The error log lines of every process, every start: a process that
        ran into the others (a failed job, an unexpected exception) says so
        there even when the clients saw nothing wrong."""
        lines: list[str] = []
        for process in [*self.servers, *self.workers]:
            for log in sorted(process.folder.glob("*.log")):
                text = log.read_text(encoding="utf-8", errors="replace")
                lines += [
                    f"{log}: {line}" for line in text.splitlines() if _error_line.search(line)
                ]
        return lines[:_error_lines_max]

    def async_calls_handled(self) -> dict[str, int]:
        """By process: the asynchronous calls its jobs handled (ran, or put
        back to be tried later), as its "jobs ran" log lines report them."""
        handled: dict[str, int] = {}
        for process in [*self.servers, *self.workers]:
            count = 0
            for log in process.folder.glob("*.log"):
                for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                    if '"jobs ran"' in line:
                        count += json.loads(line)["report"]["async_operations"]
            handled[process.folder.name] = count
        return handled

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {process.folder.name}:\n{process.log_tail()}"
            for process in [*self.servers, *self.workers]
        )


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def running_cluster(
    folder: Path,
    *,
    database_url: str,
    sections: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    workers: int = 0,
) -> Iterator[Cluster]:
    """A started cluster, stopped on the way out; the logs' tails are
    printed when the block fails."""
    cluster = Cluster(folder, database_url=database_url, sections=sections, workers=workers)
    try:
        cluster.start(overrides=overrides)
        yield cluster
    except BaseException:
        print(cluster.log_tails())
        raise
    finally:
        cluster.stop()


@asynccontextmanager
async def cluster_clients(cluster: Cluster) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per server, in the servers' order."""
    clients = [async_client(url) for url in cluster.base_urls]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()
