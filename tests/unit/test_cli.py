"""The pointkeeper command: migrate and jobs run (the demo: test_demo.py)."""

from __future__ import annotations

import json
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
