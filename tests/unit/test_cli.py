"""The pointkeeper command: migrate, jobs run and the demo's preparation."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from pointkeeper.cli import main


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "pointkeeper.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n[[programs]]\nname = "P"\n'
    )
    return path


def test_migrate_and_jobs_run(tmp_path: Path) -> None:
    runner = CliRunner()
    config = str(_config(tmp_path))
    migrated = runner.invoke(main, ["migrate", "--config", config])
    assert migrated.exit_code == 0, migrated.output
    ran = runner.invoke(main, ["jobs", "run", "--config", config])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output) == {
        "holds_expired": 0,
        "lots_expired": 0,
        "points_expired": 0,
        "credits_activated": 0,
        "async_operations": 0,
        "pruned": 0,
    }


def test_a_wrong_configuration_stops_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nport = 'eighty'\n")
    result = CliRunner().invoke(main, ["migrate", "--config", str(path)])
    assert result.exit_code == 1
    assert "server.port" in result.output


def test_the_demo_prepares_a_folder_with_secrets_and_history(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--no-serve"])
    assert result.exit_code == 0, result.output
    config = (folder / "config.toml").read_text()
    admin_token = config.split('[admin]\ntokens = ["', 1)[1].split('"', 1)[0]
    assert f"admin token:        {admin_token}" in result.output
    assert "curl http://127.0.0.1:8080/Loyalty/CPOL-123185/BalanceCheck" in result.output
    assert "/v3/operations/sync?endpointId=shop-web" in result.output
    with sqlite3.connect(folder / "pointkeeper.db") as db:
        (changes,) = db.execute("SELECT COUNT(*) FROM balance_changes").fetchone()
    assert changes == 3
    again = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--no-serve"])
    assert again.exit_code == 0
    assert admin_token not in again.output  # secrets are printed only when made
    with sqlite3.connect(folder / "pointkeeper.db") as db:
        assert db.execute("SELECT COUNT(*) FROM balance_changes").fetchone() == (changes,)
