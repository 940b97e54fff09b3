"""Where a benchmark runs, from its command line: `add_setup_arguments()` gives every
script the same `--database sqlite|postgres`, `--database-url`, `--processes N`
(`pointkeeper serve --workers N`), the PostgreSQL pool sizes and `--loop`;
`setup_from()` reads them into a `Setup`, which makes a fresh database
(`Setup.fresh_database`, on PostgreSQL a `pointkeeper_bench_<random>` database dropped
afterwards) and starts a server on it (`Setup.server`)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pointkeeper.config import is_postgres

from .configs import merged
from .databases import (
    DATABASE_PREFIX,
    POSTGRES_SERVER,
    create_postgres_database,
    drop_postgres_database,
    redact_url,
)
from .servers import Server, bench_server

__all__ = ["Setup", "add_setup_arguments", "setup_from"]


@dataclass(frozen=True)
class Setup:
    """What a benchmark runs on, from the command line (`add_setup_arguments`)."""

    database: str  # "sqlite" or "postgres"
    database_url: str | None  # an explicit database, kept as it is
    processes: int
    postgres_server: str = POSTGRES_SERVER
    writers: int | None = None  # [database] writers / connections_max, when given
    connections_max: int | None = None
    loop: str | None = None  # [server] loop, when given

    @property
    def label(self) -> str:
        processes = "1 process" if self.processes == 1 else f"{self.processes} processes"
        loop = f", {self.loop} loop" if self.loop else ""
        return f"{self.database}, {processes}{loop}"

    @property
    def suffix(self) -> str:
        """For result file names: empty for the default SQLite, 1 process, default loop."""
        loop = f".{self.loop}" if self.loop else ""
        if self.database == "sqlite" and self.processes == 1:
            return loop
        return f".{self.database}-p{self.processes}{loop}"

    def pool_config(self) -> dict[str, int]:
        """The [database] keys beyond the URL given on the command line."""
        found = {"writers": self.writers, "connections_max": self.connections_max}
        return {key: value for key, value in found.items() if value is not None}

    def settings(self) -> dict[str, Any]:
        """The configuration this set-up lays over a server's ([database] pool sizes,
        [server] loop)."""
        found: dict[str, Any] = {"database": self.pool_config()}
        if self.loop:
            found["server"] = {"loop": self.loop}
        return found

    @contextlib.contextmanager
    def fresh_database(self, folder: Path, name: str = "bench") -> Iterator[str]:
        """The URL of a database for one server: `--database-url` as it is, else a new
        SQLite file `name`.db in `folder` (the caller's to remove) or a new PostgreSQL
        database, dropped on the way out."""
        if self.database_url is not None:
            yield self.database_url
        elif self.database == "sqlite":
            yield f"sqlite:///{folder / name}.db"
        else:
            url = create_postgres_database(self.postgres_server)
            try:
                yield url
            finally:
                drop_postgres_database(url, self.postgres_server)

    @contextlib.contextmanager
    def copy_database(self, source: str, folder: Path, name: str) -> Iterator[str]:
        """A copy of a database no server has open, dropped (PostgreSQL) on the way out."""
        if is_postgres(source):
            url = create_postgres_database(self.postgres_server, template=source)
            try:
                yield url
            finally:
                drop_postgres_database(url, self.postgres_server)
            return
        path = source.removeprefix("sqlite:///")
        target = folder / f"{name}.db"
        for extension in ("", "-wal"):  # the WAL, if a closed database left one behind
            if Path(f"{path}{extension}").exists():
                shutil.copyfile(f"{path}{extension}", f"{target}{extension}")
        yield f"sqlite:///{target}"

    def server(
        self,
        database_url: str | None,
        settings: Mapping[str, Any] | None = None,
        *,
        command: list[str] | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Server]:
        """`bench_server` with this set-up's processes, pool sizes and loop, and
        `settings` laid over them."""
        return bench_server(
            database_url,
            settings=merged(self.settings(), settings or {}),
            processes=self.processes,
            command=command,
            environment=environment,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "database_url": redact_url(self.database_url) if self.database_url else None,
            "processes": self.processes,
            "writers": self.writers,
            "connections_max": self.connections_max,
            "loop": self.loop,
        }


def add_setup_arguments(parser: argparse.ArgumentParser, *, explicit_url: bool = True) -> None:
    """--database, --database-url (unless the script needs databases of its own),
    --processes, --postgres-server, --writers, --connections-max, --loop."""
    group = parser.add_argument_group("where it runs")
    group.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="sqlite: a file in a temp dir; postgres: a fresh database "
        f"{DATABASE_PREFIX}<random> on --postgres-server, dropped afterwards",
    )
    if explicit_url:
        group.add_argument(
            "--database-url",
            help="an existing database to use as it is, not dropped (sets --database)",
        )
    group.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes (pointkeeper serve --workers N); RSS and CPU count them all",
    )
    group.add_argument(
        "--postgres-server",
        default=POSTGRES_SERVER,
        help="where --database postgres creates its databases (env BENCH_POSTGRES_SERVER)",
    )
    group.add_argument("--writers", type=int, help="[database] writers (PostgreSQL)")
    group.add_argument(
        "--connections-max", type=int, help="[database] connections_max (PostgreSQL)"
    )
    group.add_argument(
        "--loop", choices=("asyncio", "uvloop"), help="[server] loop (default: the server's)"
    )


def setup_from(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, serves: bool = True
) -> Setup:
    """`serves`: --processes are server processes (else the script's own processes)."""
    url: str | None = getattr(args, "database_url", None)
    database = args.database
    if url is not None:
        database = "postgres" if is_postgres(url) else "sqlite"
        if not url.startswith("sqlite:///") and database == "sqlite":
            parser.error("--database-url must start with sqlite:/// or postgresql://")
    if not 1 <= args.processes <= 64:
        parser.error("--processes must be 1 to 64")
    if database == "sqlite" and args.processes > 1 and serves:
        parser.error("--processes above 1 needs PostgreSQL: serve --workers refuses SQLite")
    if database == "sqlite" and args.processes > 1:
        print(
            "warning: several processes on one SQLite file contend for its write lock",
            file=sys.stderr,
        )
    return Setup(
        database=database,
        database_url=url,
        processes=args.processes,
        postgres_server=args.postgres_server,
        writers=args.writers,
        connections_max=args.connections_max,
        loop=args.loop,
    )
