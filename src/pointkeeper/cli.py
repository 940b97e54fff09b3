"""The ``pointkeeper`` command: demo | serve | worker | migrate | jobs |
config check | backup | copy, and the admin groups (segments, pools, codes,
import-codes)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pointkeeper.commands.store import config_option, echo_json, load, migrated, opened_store
from pointkeeper.config import Config, is_postgres

if TYPE_CHECKING:
    from pointkeeper.store import Store

_T = TypeVar("_T")

__all__ = [
    "backup",
    "config_check",
    "config_group",
    "demo",
    "jobs",
    "jobs_run",
    "main",
    "migrate",
    "serve",
    "worker",
]


def _serve(config: Config, *, workers: int = 1) -> None:
    from pointkeeper.app import create_app, tune_process
    from pointkeeper.logs import configure_logging
    from pointkeeper.serving import run_server

    configure_logging()
    if workers == 1:
        tune_process()
        run_server(config, create_app(config))
        return
    # Each worker process builds its own application from the same
    # configuration file and environment; they share the listening socket.
    run_server(config, "pointkeeper.app:create_app_from_environment", workers=workers)


def _run_on_own_loop(store: Store, work: Coroutine[Any, Any, _T]) -> _T:
    """Runs ``work`` on an event loop of its own, and lets go of the store's
    connections on that loop before it ends."""

    async def run() -> _T:
        try:
            return await work
        finally:
            await store.leave_loop()

    return asyncio.run(run())


@click.group()
@click.version_option(package_name="pointkeeper")
def main() -> None:
    """pointkeeper: loyalty points and promo codes behind the Maestra v3 and
    CP Extender APIs."""


@main.command()
@config_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (use PostgreSQL for more than one).",
)
def serve(config_path: str | None, workers: int) -> None:
    """Serve the APIs; periodic jobs run inside unless jobs.enabled is false."""
    config = load(config_path)
    if workers > 1 and not is_postgres(config.database.url):
        raise click.ClickException(
            "serve --workers needs PostgreSQL (database.url); SQLite serves from one process"
        )
    if workers > 1 and config_path:
        # The worker processes read the same file.
        os.environ["POINTKEEPER_CONFIG"] = str(Path(config_path).resolve())
    # A database that cannot be opened is said here, in one line, before any
    # server process starts.
    migrated(config)
    _serve(config, workers=workers)


@main.command()
@config_option
def migrate(config_path: str | None) -> None:
    """Bring the database schema to the newest version."""
    migrated(load(config_path))
    click.echo("database is at the newest schema")


@main.group()
def jobs() -> None:
    """Periodic jobs: hold timeouts, expiry, pending activation."""


@jobs.command("run")
@config_option
def jobs_run(config_path: str | None) -> None:
    """Run every due job once and print what each did."""
    from pointkeeper.domain import time
    from pointkeeper.jobs import run_jobs
    from pointkeeper.protocols.maestra.asynchronous import MaestraCalls

    config = load(config_path)
    with opened_store(config) as store:
        report = _run_on_own_loop(
            store,
            run_jobs(
                store,
                time.now,
                async_calls=MaestraCalls(config),
                retention_days=config.jobs.retention_days,
            ),
        )
    echo_json(
        {
            **dataclasses.asdict(report.ledger),
            "async_operations": report.async_operations,
            "pruned": report.pruned,
        }
    )


@main.command()
@config_option
def worker(config_path: str | None) -> None:
    """Run the periodic jobs and asynchronous calls in their own process (set
    jobs.enabled = false for the servers then)."""
    from pointkeeper.domain import time
    from pointkeeper.jobs import run_periodically
    from pointkeeper.logs import configure_logging
    from pointkeeper.protocols.maestra.asynchronous import MaestraCalls

    configure_logging()
    config = load(config_path)
    with opened_store(config) as store, contextlib.suppress(KeyboardInterrupt):
        jobs = run_periodically(store, time.now, config, async_calls=MaestraCalls(config))
        _run_on_own_loop(store, jobs)


@main.group("config")
def config_group() -> None:
    """The configuration file (pointkeeper.example.toml, docs/configuration.md)."""


@config_group.command("check")
@config_option
def config_check(config_path: str | None) -> None:
    """Check a configuration and print every error in it, one per line."""
    from pointkeeper.config import ConfigError, load_config

    try:
        load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    click.echo(f"{config_path or 'the defaults'}: ok")


@main.command()
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The new file to write the copy to (it must not exist).",
)
@config_option
def backup(target: Path, config_path: str | None) -> None:
    """Copy the SQLite database to a new file while the server runs."""
    from pointkeeper.errors import StoreError
    from pointkeeper.store.backup import backup_sqlite

    config = load(config_path)
    try:
        pages = backup_sqlite(config.database.url, target)
    except StoreError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"backed up {pages} pages to {target}")


@main.command()
@click.option(
    "--dir",
    "folder",
    default="pointkeeper-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder.",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=int,
    help="Port of a new demo configuration (an existing one keeps its own).",
)
@click.option("--no-serve", is_flag=True, help="Prepare the folder and print, do not serve.")
@click.option(
    "--reset",
    is_flag=True,
    help="Delete the demo's configuration and database first: fresh secrets and data.",
)
def demo(folder: Path, port: int, no_serve: bool, reset: bool) -> None:
    """Start a demo server: local SQLite, demo configuration and customers."""
    from pointkeeper.config import ConfigError
    from pointkeeper.demo import prepare_demo, usage

    try:
        prepared = prepare_demo(folder, port, reset=reset)
    except ConfigError as exc:
        raise click.ClickException("configuration: " + "\n  ".join(exc.problems)) from None
    config = prepared.config
    url = f"http://{config.server.host}:{config.server.port}"
    click.echo(usage(folder, url, prepared))
    sys.stdout.flush()
    if not no_serve:
        _serve(config)


from pointkeeper.commands.copy import copy  # noqa: E402
from pointkeeper.commands.promo import codes, import_codes, pools  # noqa: E402
from pointkeeper.commands.segments import segments  # noqa: E402 - groups register after main

main.add_command(segments)
main.add_command(copy)
main.add_command(pools)
main.add_command(codes)
main.add_command(import_codes)


if __name__ == "__main__":
    main()
