"""Configuration: the spec's keys, overrides, and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pointkeeper.config import ConfigError, load_config, parse_config

SPEC_EXAMPLE = """
[database]
url = "sqlite:///./pointkeeper-data/pointkeeper.db"

[server]
host = "127.0.0.1"
port = 8080
body_bytes_max = 1048576

[jobs]
enabled = true
interval_seconds = 60

[admin]
tokens = ["admin-token"]

[cp_extender]
tokens = ["permanent-token"]
jwt_secret = "0123456789abcdef0123456789abcdef"
hold_ttl_seconds = 604800
users = [{ name = "web", password = "pw" }]

[[programs]]
name = "Loyalty program 1"
earning_description = "1 point per dollar"
redemption_description = "100 points = $1"
balance_type = "Points"
credit_lifetime_days = 365
order_bonus_pending_days = 0

[[endpoints]]
id = "shop-web"
secret_key = "secret"

[[operations]]
name = "Website.ExportBalanceUpdates"
kind = "ExportBalanceChanges"
endpoints = ["shop-web"]

[[operations]]
name = "Website.IssuePromoCode"
kind = "IssuePromoCode"
endpoints = ["shop-web"]
mode = "from-pool"
pool = "WELCOME"
"""


def test_the_spec_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "pointkeeper.toml"
    path.write_text(SPEC_EXAMPLE)
    config = load_config(path, environ={})
    assert config.server.port == 8080
    assert config.programs[0].credit_lifetime_days == 365
    assert config.operations[1].mode == "from-pool"
    assert config.operations[1].pool == "WELCOME"
    assert "admin-token" in config.admin.tokens
    assert "permanent-token" in config.cp_extender.tokens
    assert "pw" in config.cp_extender.users[0].password
    assert "secret" in config.endpoints[0].secret_key


def test_secrets_are_not_kept_in_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "pointkeeper.toml"
    path.write_text(SPEC_EXAMPLE)
    config = load_config(path, environ={})
    shown = repr(config)
    for secret in ("admin-token", "permanent-token", "0123456789abcdef", 'secret"', "pw'"):
        assert secret not in shown


def test_environment_overrides_single_values() -> None:
    config = parse_config(
        {},
        {
            "POINTKEEPER_SERVER_PORT": "9000",
            "POINTKEEPER_JOBS_ENABLED": "false",
            "POINTKEEPER_DATABASE_URL": "sqlite:////tmp/x.db",
            "POINTKEEPER_ADMIN_TOKENS": '["a", "b"]',
        },
    )
    assert (config.server.port, config.jobs.enabled) == (9000, False)
    assert config.database.url == "sqlite:////tmp/x.db"
    assert "b" in config.admin.tokens


def test_the_login_throttle_has_defaults_and_takes_overrides() -> None:
    defaults = parse_config({}, {}).cp_extender
    assert (
        defaults.login_failures_per_user_max,
        defaults.login_failures_per_address_max,
        defaults.login_window_seconds,
        defaults.login_lockout_seconds,
    ) == (5, 20, 60, 60)
    config = parse_config(
        {"cp_extender": {"login_failures_per_user_max": 3}},
        {
            "POINTKEEPER_CP_EXTENDER_LOGIN_FAILURES_PER_ADDRESS_MAX": "50",
            "POINTKEEPER_CP_EXTENDER_LOGIN_WINDOW_SECONDS": "600",
            "POINTKEEPER_CP_EXTENDER_LOGIN_LOCKOUT_SECONDS": "900",
        },
    ).cp_extender
    assert (
        config.login_failures_per_user_max,
        config.login_failures_per_address_max,
        config.login_window_seconds,
        config.login_lockout_seconds,
    ) == (3, 50, 600, 900)


@pytest.mark.parametrize(
    ("data", "environ", "named"),
    [
        ({"server": {"port": "eighty"}}, {}, "server.port"),
        ({"server": {"prot": 1}}, {}, "server.prot"),
        ({"database": {"url": "mysql://x"}}, {}, "database.url"),
        (
            {"programs": [{"name": "a", "credit_lifetime_days": 0}]},
            {},
            "programs[0].credit_lifetime_days",
        ),
        ({"programs": [{"name": "a"}, {"name": "a"}]}, {}, "programs"),
        ({"operations": [{"name": "x", "kind": "Nope"}]}, {}, "operations[0].kind"),
        (
            {"operations": [{"name": "x", "kind": "GetCustomerBalance", "endpoints": ["nowhere"]}]},
            {},
            "operations[0].endpoints",
        ),
        (
            {"cp_extender": {"users": [{"name": "u", "password": "p"}]}},
            {},
            "cp_extender.jwt_secret",
        ),
        ({"cp_extender": {"jwt_secret": "short"}}, {}, "cp_extender.jwt_secret"),
        (
            {"cp_extender": {"login_failures_per_user_max": 0}},
            {},
            "cp_extender.login_failures_per_user_max",
        ),
        (
            {"cp_extender": {"login_lockout_seconds": 86_401}},
            {},
            "cp_extender.login_lockout_seconds",
        ),
        ({"admin": {"tokens": [""]}}, {}, "admin.tokens"),
        ({"admin": {"tokens": 5}}, {}, "admin.tokens"),
        ({"cp_extender": {"hold_ttl_seconds": 10**30}}, {}, "cp_extender.hold_ttl_seconds"),
        (
            {"programs": [{"name": "a", "credit_lifetime_days": 10**20}]},
            {},
            "programs[0].credit_lifetime_days",
        ),
        # A lone string would be a list of one-character tokens.
        ({"admin": {"tokens": "a-long-token"}}, {}, "admin.tokens"),
        ({}, {"POINTKEEPER_CP_EXTENDER_TOKENS": "a-long-token"}, "cp_extender.tokens"),
        ({"database": {"writers": 8, "connections_max": 8}}, {}, "connections_max"),
        ({}, {"POINTKEEPER_SERVR_PORT": "1"}, "POINTKEEPER_SERVR_PORT"),
        ({}, {"POINTKEEPER_SERVER_PORT": "x"}, "server.port"),
    ],
)
def test_a_wrong_configuration_names_the_key(
    data: dict[str, object], environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        parse_config(data, environ)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_config(tmp_path / "nope.toml", environ={})


def test_a_broken_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_config(path, environ={})
