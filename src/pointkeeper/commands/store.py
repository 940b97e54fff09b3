"""What every admin command group needs: the ``--config`` option and a
store opened from it, with errors turned into a message and exit code 1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click
import orjson

from pointkeeper.config import Config, ConfigError, load_config
from pointkeeper.errors import PointkeeperError
from pointkeeper.store import Store

__all__ = ["config_option", "echo_json", "load", "opened_store"]

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="POINTKEEPER_CONFIG",
    help="TOML configuration file (default: POINTKEEPER_CONFIG).",
)


def load(config_path: str | None) -> Config:
    """The configuration, or the command ends naming the wrong key."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@contextlib.contextmanager
def opened_store(config: Config) -> Iterator[Store]:
    """The configured store, migrated and with its reference data written,
    as ``pointkeeper serve`` opens it; closed on the way out. A domain
    refusal inside the block ends the command with its message."""
    from pointkeeper.services.reference import sync_reference_data
    from pointkeeper.store import open_store

    try:
        store = open_store(config.database)
    except Exception as exc:
        # A missing folder, a damaged file, a failing migration: the command
        # ends with the reason's first line instead of a traceback.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"database: {reason}") from None
    try:
        store.context.update(store.write_sync(sync_reference_data, config.programs))
        yield store
    except PointkeeperError as exc:
        field = f" ({exc.field})" if exc.field else ""
        raise click.ClickException(f"{exc.message}{field}") from None
    finally:
        store.close()


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value).decode())
