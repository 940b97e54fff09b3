"""Schema migrations through Alembic, shared by every backend."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

__all__ = ["migrate", "sqlalchemy_url"]

_scripts = Path(__file__).with_name("migrations")


def sqlalchemy_url(database_url: str) -> str:
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def migrate(database_url: str) -> None:
    """Brings the schema to the newest revision; a no-op when it is there."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            alembic_config = AlembicConfig()
            alembic_config.set_main_option("script_location", str(_scripts))
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
    finally:
        engine.dispose()
