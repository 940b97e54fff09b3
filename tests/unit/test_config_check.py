"""``pointkeeper config check``: every error of a file at once, one line
each, named by its TOML path or by the environment variable that set it;
and a command without a configuration says where its database is."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pointkeeper.cli import main

_bad_files: list[tuple[str, str, list[str]]] = [
    (
        "wrong types and an unknown key",
        '[server]\nport = "eighty"\nprot = 1\n',
        ["server.port: Input should be a valid integer", "server.prot: Extra inputs"],
    ),
    (
        "bad values in lists",
        '[[programs]]\nname = "a"\ncredit_lifetime_days = 0\n'
        '[[operations]]\nname = "x"\nkind = "Nope"\n',
        ["programs[0].credit_lifetime_days:", "operations[0].kind:"],
    ),
    (
        "sections that disagree",
        '[[programs]]\nname = "a"\n[[programs]]\nname = "a"\n'
        '[[operations]]\nname = "x"\nkind = "GetCustomerBalance"\nendpoints = ["nowhere"]\n'
        '[cp_extender]\nusers = [{ name = "u", password = "p" }]\n',
        [
            "programs: two programs share a name",
            "operations[0].endpoints: unknown endpoint 'nowhere'",
            "cp_extender.jwt_secret: required when cp_extender.users is set",
        ],
    ),
    (
        "an order rule out of range and a bad amount",
        '[[programs]]\nname = "a"\n[programs.orders]\npoints_payable_share_max = 101\n'
        'earning_order_total_min = "1.001"\nmultipliers = { "shelf:x" = 2 }\n',
        [
            "programs[0].orders.points_payable_share_max:",
            "programs[0].orders.earning_order_total_min: must be an amount",
            "programs[0].orders.multipliers: 'shelf:x'",
        ],
    ),
    (
        "a status of no known effect",
        '[order_statuses]\nLost = "vanished"\n',
        ["order_statuses.Lost:"],
    ),
    ("not TOML", "[server\nport = 1\n", ["bad.toml"]),
]


@pytest.mark.parametrize(
    ("why", "text", "expected"), _bad_files, ids=[entry[0] for entry in _bad_files]
)
def test_every_error_of_a_file_is_printed_at_once(
    tmp_path: Path, why: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)], env={})
    assert result.exit_code == 1
    lines = result.output.splitlines()
    for wanted in expected:
        assert any(wanted in line for line in lines), (wanted, lines)
    assert len(lines) == len(expected)


def test_an_error_set_by_the_environment_names_its_variable(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text("[server]\nport = 9000\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["config", "check", "--config", str(path)],
        env={"POINTKEEPER_SERVER_PORT": "many", "POINTKEEPER_SERVR_HOST": "x"},
    )
    assert result.exit_code == 1
    # The variables' own errors first, then what they set, as the model read it.
    assert result.output.splitlines() == [
        "POINTKEEPER_SERVR_HOST: no such configuration section",
        "POINTKEEPER_SERVER_PORT (server.port): Input should be a valid integer,"
        " unable to parse string as an integer",
    ]


def test_a_good_file_is_ok(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('[server]\nport = 9000\n[[programs]]\nname = "a"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)], env={})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{path}: ok"


def test_a_command_without_a_configuration_says_where_its_database_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["migrate"], env={"POINTKEEPER_CONFIG": None})
    assert result.exit_code == 0, result.output
    assert "No configuration file" in result.output
    assert "sqlite:///./pointkeeper-data/pointkeeper.db" in result.output


def test_start_up_warns_of_apis_no_secret_opens_and_of_short_secrets() -> None:
    from pointkeeper.config import parse_config, secret_warnings

    bare = parse_config({}, environ={})
    assert secret_warnings(bare) == [
        "admin.tokens: none configured, the admin API refuses every call",
        "cp_extender.tokens: none configured (and no users), the CP Extender API refuses"
        " every call",
        "endpoints: none configured, the Maestra API refuses every call",
    ]
    weak = parse_config(
        {
            "admin": {"tokens": ["a-long-enough-admin-token", "short"]},
            "cp_extender": {
                "tokens": ["a-long-enough-cp-token-1"],
                "jwt_secret": "x" * 32,
                "users": [{"name": "web", "password": "pw"}],
            },
            "endpoints": [{"id": "shop", "secret_key": "a-long-enough-key-12"}],
        },
        environ={},
    )
    assert secret_warnings(weak) == [
        "admin.tokens: a secret shorter than 16 characters",
        "cp_extender.users[0].password: a secret shorter than 16 characters",
    ]
