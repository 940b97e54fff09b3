"""/SSO/Login over HTTP: the failed-login throttle and what a JWT must carry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pointkeeper.app import create_app
from pointkeeper.config import Config
from tests.conftest import JWT_SECRET, USER_PASSWORD, FakeClock, make_config

SECOND_MS = 1_000
OTHER_PASSWORD = "pos-password"
# The defaults: 5 failures per name, 20 per address, in 60 s; locked 60 s.
USER_FAILURES_MAX = 5
ADDRESS_FAILURES_MAX = 20
LOCKOUT_SECONDS = 60


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    users = [
        {"name": "web", "password": USER_PASSWORD},
        {"name": "pos", "password": OTHER_PASSWORD},
    ]
    return make_config(
        tmp_path,
        database_url,
        cp_extender={"jwt_secret": JWT_SECRET, "users": users},
    )


def login(client: TestClient, name: Any, password: Any) -> Any:
    return client.post("/SSO/Login", json={"UserName": name, "Password": password})


def from_address(client: TestClient, address: str) -> TestClient:
    """Another caller of the same application (its lifespan already runs)."""
    return TestClient(client.app, client=(address, 40000))


def assert_throttled(answer: Any, retry_after: int = LOCKOUT_SECONDS) -> None:
    assert answer.status_code == 429
    assert answer.json() == {"Message": "Too many failed logins; retry later"}
    assert answer.headers["retry-after"] == str(retry_after)


def lock_out(client: TestClient, name: str) -> None:
    for _ in range(USER_FAILURES_MAX):
        assert login(client, name, "wrong").status_code == 401


def lockout_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "too many failed logins" in r.getMessage()]


def test_wrong_passwords_past_the_bound_are_429_with_retry_after(client: TestClient) -> None:
    lock_out(client, "web")
    assert_throttled(login(client, "web", "wrong"))


def test_the_right_password_of_a_locked_name_waits_for_the_lockout_to_end(
    client: TestClient, clock: FakeClock
) -> None:
    lock_out(client, "web")
    assert_throttled(login(client, "web", USER_PASSWORD))
    assert_throttled(login(from_address(client, "10.0.0.2"), "web", USER_PASSWORD))
    clock.advance((LOCKOUT_SECONDS - 1) * SECOND_MS)
    assert_throttled(login(client, "web", USER_PASSWORD), retry_after=1)
    clock.advance(SECOND_MS)
    assert login(client, "web", USER_PASSWORD).status_code == 200


def test_a_locked_name_leaves_another_name_from_another_address_alone(
    client: TestClient,
) -> None:
    lock_out(client, "web")
    other = from_address(client, "10.0.0.2")
    assert login(other, "pos", "wrong").status_code == 401
    assert login(other, "pos", OTHER_PASSWORD).status_code == 200


def test_an_address_is_locked_out_across_many_user_names(client: TestClient) -> None:
    for i in range(ADDRESS_FAILURES_MAX):
        assert login(client, f"guess-{i}", "wrong").status_code == 401
    assert_throttled(login(client, "web", USER_PASSWORD))
    assert_throttled(client.post("/SSO/Login", content=b"not json"))
    assert login(from_address(client, "10.0.0.2"), "web", USER_PASSWORD).status_code == 200


def test_a_success_clears_the_names_failures(client: TestClient) -> None:
    for _ in range(2):
        for _ in range(USER_FAILURES_MAX - 1):
            assert login(client, "web", "wrong").status_code == 401
        assert login(client, "web", USER_PASSWORD).status_code == 200


def test_the_configured_bounds_apply(tmp_path: Path, database_url: str, clock: FakeClock) -> None:
    config = make_config(
        tmp_path,
        database_url,
        cp_extender={
            "jwt_secret": JWT_SECRET,
            "users": [{"name": "web", "password": USER_PASSWORD}],
            "login_failures_per_user_max": 2,
            "login_window_seconds": 10,
            "login_lockout_seconds": 5,
        },
    )
    with TestClient(create_app(config, clock=clock)) as client:
        assert login(client, "web", "wrong").status_code == 401
        clock.advance(10 * SECOND_MS)
        assert [login(client, "web", "wrong").status_code for _ in range(2)] == [401, 401]
        assert_throttled(login(client, "web", USER_PASSWORD), retry_after=5)
        clock.advance(5 * SECOND_MS)
        assert login(client, "web", USER_PASSWORD).status_code == 200


def test_one_log_line_per_lockout_without_the_password_or_an_unknown_name(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    typed_in_the_name_field = "my-Secret-passw0rd"
    for _ in range(USER_FAILURES_MAX + 3):
        login(client, typed_in_the_name_field, "the-password-field")
    assert lockout_lines(caplog) == [
        f"too many failed logins: user name locked out for {LOCKOUT_SECONDS} s"
        " (user <unknown user>, client address testclient)"
    ]
    assert "my-Secret-passw0rd" not in caplog.text
    assert "the-password-field" not in caplog.text


def test_a_lockout_of_a_configured_user_names_the_user_but_not_the_password(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(USER_FAILURES_MAX + 3):
        login(client, "web", "a-wrong-guess")
    [line] = lockout_lines(caplog)
    assert "(user web, client address testclient)" in line
    assert "a-wrong-guess" not in caplog.text
