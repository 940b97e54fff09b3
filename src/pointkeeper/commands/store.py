"""What every admin command group needs: the ``--config`` option and a
store opened from it, with errors turned into a message and exit code 1."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
import orjson

from pointkeeper.config import Config, ConfigError, load_config
from pointkeeper.errors import PointkeeperError, StoreError
from pointkeeper.store import Store

__all__ = ["config_option", "echo_json", "load", "migrated", "opened_store", "refusal"]

_T = TypeVar("_T")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="POINTKEEPER_CONFIG",
    help="TOML configuration file (default: POINTKEEPER_CONFIG).",
)


def load(config_path: str | None) -> Config:
    """The configuration, or the command ends naming every wrong key. Without
    a file the defaults apply, and the command says where its database is,
    so that none is made in the current folder unnoticed."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException("configuration: " + "\n  ".join(exc.problems)) from None
    if config_path is None:
        click.echo(
            "No configuration file (--config or POINTKEEPER_CONFIG): using the defaults,"
            f" database {config.database.url}",
            err=True,
        )
    return config


@contextlib.contextmanager
def opened_store(config: Config) -> Iterator[Store]:
    """The configured store, migrated and with its reference data written,
    as ``pointkeeper serve`` opens it; closed on the way out. A domain
    refusal inside the block ends the command with its message."""
    from pointkeeper.protocols.maestra.kinds import action_templates
    from pointkeeper.store import open_store

    store = _checked(
        lambda: open_store(
            config.database,
            programs=config.programs,
            order_statuses=config.order_statuses,
            operation_templates=action_templates(config.operations),
        )
    )
    try:
        yield store
    except PointkeeperError as exc:
        raise click.ClickException(refusal(exc)) from None
    finally:
        store.close()


def refusal(error: PointkeeperError) -> str:
    """A refusal as the CLI says it: in the admin API's words and names (the
    commands do what its endpoints do), the field in brackets."""
    # Loaded only when a command is refused: the CLI starts without FastAPI.
    from pointkeeper.protocols.admin import wording

    field = wording.field(error)
    return wording.message(error) + ("" if field is None else f" ({field})")


def migrated(config: Config) -> None:
    """Brings the configured database to the newest schema, or the command
    ends saying in one line why it cannot be opened."""
    from pointkeeper.store.migrate import migrate

    _checked(lambda: migrate(config.database.url))


def _checked(open_database: Callable[[], _T]) -> _T:
    # A database that cannot be reached or opened ends the command with the
    # reason's one line, as click prints it: "Error: database: ...".
    try:
        return open_database()
    except StoreError as exc:
        raise click.ClickException(f"database: {exc.message}") from None


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value).decode())
