"""/SSO/Login over HTTP: the failed-login throttle and what a JWT must carry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jwt
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


WEB = {"name": "web", "password": USER_PASSWORD}
POS = {"name": "pos", "password": OTHER_PASSWORD}
YEAR_SECONDS = 365 * 86_400


def users_config(
    tmp_path: Path, database_url: str | None, *users: dict[str, str], **cp_extender: Any
) -> Config:
    section = {"jwt_secret": JWT_SECRET, "users": list(users), **cp_extender}
    return make_config(tmp_path, database_url, cp_extender=section)


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return users_config(tmp_path, database_url, WEB, POS)


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
    config = users_config(
        tmp_path,
        database_url,
        WEB,
        login_failures_per_user_max=2,
        login_window_seconds=10,
        login_lockout_seconds=5,
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


def earn_status(client: TestClient, token: str) -> int:
    """400 (the empty body) when the token is good, 401 when it is not: the
    token is checked first, and the database is not reached either way."""
    answer = client.post("/Loyalty/Earn", json={}, headers={"Authorization": f"Bearer {token}"})
    status: int = answer.status_code
    return status


def signed(sub: str, *, exp: int) -> str:
    claims = {"sub": sub, "exp": exp, "iss": "pointkeeper", "aud": "cp-extender"}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def test_a_signed_token_for_an_unknown_user_is_not_authorized(
    client: TestClient, clock: FakeClock
) -> None:
    exp = clock.now // SECOND_MS + 60
    assert earn_status(client, signed("web", exp=exp)) == 400
    assert earn_status(client, signed("nobody", exp=exp)) == 401


def test_a_signed_token_past_the_configured_lifetime_is_not_authorized(
    client: TestClient, clock: FakeClock
) -> None:
    now_seconds = clock.now // SECOND_MS
    assert earn_status(client, signed("web", exp=now_seconds + 3600)) == 400
    assert earn_status(client, signed("web", exp=now_seconds + 10 * YEAR_SECONDS)) == 401


def test_a_token_of_a_user_removed_since_is_not_authorized(
    tmp_path: Path, clock: FakeClock
) -> None:
    with TestClient(create_app(users_config(tmp_path, None, WEB, POS), clock=clock)) as client:
        tokens = {
            user["name"]: login(client, user["name"], user["password"]).json()["APItoken"]
            for user in (WEB, POS)
        }
    with TestClient(create_app(users_config(tmp_path, None, WEB), clock=clock)) as client:
        assert earn_status(client, tokens["web"]) == 400
        assert earn_status(client, tokens["pos"]) == 401
