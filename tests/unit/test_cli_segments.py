"""``pointkeeper segments``: the same service functions as the admin API, run
on the configured SQLite database (no server), printing JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pointkeeper.cli import main
from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.services.customers import put_customer
from pointkeeper.store import open_store

NOW = 1_767_225_600_000


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pointkeeper.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/pointkeeper.db"\n\n'
        '[[programs]]\nname = "Loyalty program 1"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def customers(tmp_path: Path, config_file: Path) -> list[str]:
    """C1, C2, C3 in the configured database, written as the server would."""
    numbers = ["C1", "C2", "C3"]
    config = parse_config({"programs": [{"name": "Loyalty program 1"}]}, {})
    store = open_store(
        DatabaseConfig(url=f"sqlite:///{tmp_path}/pointkeeper.db"), programs=config.programs
    )
    try:
        for number in numbers:
            store.write_sync(put_customer, number, fields={}, program=None, now=NOW)
    finally:
        store.close()
    return numbers


def run(config_file: Path | None, *args: str, env: dict[str, str] | None = None) -> Result:
    options = [] if config_file is None else ["--config", str(config_file)]
    return CliRunner(env=env).invoke(main, ["segments", *args, *options])


def ok(result: Result) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"


def test_the_group_is_listed_in_the_main_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "segments" in result.stdout


def test_put_creates_renames_and_show_prints_the_segment(
    config_file: Path, customers: list[str]
) -> None:
    created = ok(run(config_file, "put", "VIP", "--name", "Very important"))
    assert created == {"externalId": "VIP", "name": "Very important", "memberCount": 0}
    ok(run(config_file, "add", "VIP", "C1", "C2"))
    renamed = ok(run(config_file, "put", "VIP", "--name", "Gold"))
    assert renamed == {"externalId": "VIP", "name": "Gold", "memberCount": 2}
    assert ok(run(config_file, "show", "VIP")) == renamed


def test_add_counts_new_members_and_is_idempotent(config_file: Path, customers: list[str]) -> None:
    ok(run(config_file, "put", "VIP", "--name", "VIP"))
    assert ok(run(config_file, "add", "VIP", "C1", "C2", "C1")) == {"added": 2, "memberCount": 2}
    assert ok(run(config_file, "add", "VIP", "C2", "C3")) == {"added": 1, "memberCount": 3}
    assert ok(run(config_file, "add", "VIP", "C3")) == {"added": 0, "memberCount": 3}


def test_add_with_an_unknown_customer_adds_nobody(config_file: Path, customers: list[str]) -> None:
    ok(run(config_file, "put", "VIP", "--name", "VIP"))
    refused(
        run(config_file, "add", "VIP", "C1", "GHOST"),
        "Customers not found: GHOST (customerNumbers)",
    )
    assert ok(run(config_file, "show", "VIP"))["memberCount"] == 0


def test_remove_is_idempotent(config_file: Path, customers: list[str]) -> None:
    ok(run(config_file, "put", "VIP", "--name", "VIP"))
    ok(run(config_file, "add", "VIP", "C1"))
    assert ok(run(config_file, "remove", "VIP", "C1")) == {"removed": True}
    assert ok(run(config_file, "remove", "VIP", "C1")) == {"removed": False}
    assert ok(run(config_file, "show", "VIP"))["memberCount"] == 0


@pytest.mark.parametrize(
    "args",
    [("show", "NOPE"), ("add", "NOPE", "C1"), ("remove", "NOPE", "C1")],
)
def test_an_unknown_segment_is_an_error(
    config_file: Path, customers: list[str], args: tuple[str, ...]
) -> None:
    refused(run(config_file, *args), "Segment not found (externalId)")


def test_removing_an_unknown_customer_is_an_error(config_file: Path, customers: list[str]) -> None:
    ok(run(config_file, "put", "VIP", "--name", "VIP"))
    refused(run(config_file, "remove", "VIP", "GHOST"), "Customer not found (customerNumber)")


def test_an_empty_name_is_refused(config_file: Path) -> None:
    refused(
        run(config_file, "put", "VIP", "--name", ""),
        "must be 1 to 1000 characters (name)",
    )


@pytest.mark.parametrize(
    "args",
    [("put", "VIP"), ("add", "VIP"), ("remove", "VIP"), ("show",), ("frobnicate",)],
)
def test_missing_arguments_are_usage_errors(config_file: Path, args: tuple[str, ...]) -> None:
    result = run(config_file, *args)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr


def test_an_unreadable_configuration_is_reported(tmp_path: Path) -> None:
    result = run(tmp_path / "missing.toml", "show", "VIP")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: configuration: ")
    assert "missing.toml" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_configuration_may_come_from_the_environment(
    config_file: Path, customers: list[str]
) -> None:
    env = {"POINTKEEPER_CONFIG": str(config_file)}
    created = ok(run(None, "put", "VIP", "--name", "VIP", env=env))
    assert created == {"externalId": "VIP", "name": "VIP", "memberCount": 0}
    assert ok(run(config_file, "show", "VIP")) == created


def test_a_database_that_cannot_be_opened_is_reported(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database" * 1000)
    config_file = tmp_path / "pointkeeper.toml"
    config_file.write_text(f'[database]\nurl = "sqlite:///{damaged}"\n', encoding="utf-8")
    result = run(config_file, "show", "VIP")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: database: ")
    assert len(result.stderr.splitlines()) == 1
