"""CP Extender bearer tokens without HTTP: what a signed token must carry."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from pointkeeper import limits
from pointkeeper.config import CpExtenderConfig, parse_config
from pointkeeper.protocols.cp_extender import auth
from tests.conftest import CP_TOKEN, JWT_SECRET, FakeClock

NOW_SECONDS = FakeClock().now // 1000
TTL_SECONDS = 3600
SKEW_SECONDS = limits.sso_clock_skew_seconds_max
YEAR_SECONDS = 365 * 86_400


def make_config(*user_names: str) -> CpExtenderConfig:
    users = [{"name": name, "password": f"{name}-password"} for name in user_names]
    data = {"cp_extender": {"tokens": [CP_TOKEN], "jwt_secret": JWT_SECRET, "users": users}}
    return parse_config(data, environ={}).cp_extender


def bearer(claims: dict[str, Any], secret: str = JWT_SECRET) -> bytes:
    signed = {"iss": "pointkeeper", "aud": "cp-extender", **claims}
    return b"Bearer " + jwt.encode(signed, secret, algorithm="HS256").encode()


def authorized(header: bytes, config: CpExtenderConfig | None = None) -> bool:
    return auth.is_authorized(config or make_config("web"), header, now=FakeClock().now)


def test_the_public_names_exist() -> None:
    assert all(hasattr(auth, name) for name in auth.__all__)


def test_an_issued_token_and_a_permanent_token_are_authorized() -> None:
    config = make_config("web")
    token = auth.issue_token(config, "web", now=FakeClock().now)
    assert authorized(f"Bearer {token}".encode(), config)
    assert authorized(f"Bearer {CP_TOKEN}".encode(), config)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"sub": "web", "exp": NOW_SECONDS + TTL_SECONDS}, True),
        ({"sub": "web", "exp": NOW_SECONDS + TTL_SECONDS, "iat": NOW_SECONDS}, True),
        # Another clock may run a little ahead of ours.
        ({"sub": "web", "exp": NOW_SECONDS + TTL_SECONDS + SKEW_SECONDS}, True),
        ({"sub": "web", "exp": NOW_SECONDS + 1, "iat": NOW_SECONDS + SKEW_SECONDS}, True),
        ({"sub": "nobody", "exp": NOW_SECONDS + 60}, False),
        ({"sub": "WEB", "exp": NOW_SECONDS + 60}, False),
        ({"sub": "web\ud800", "exp": NOW_SECONDS + 60}, False),
        ({"sub": "web", "exp": NOW_SECONDS + TTL_SECONDS + SKEW_SECONDS + 1}, False),
        ({"sub": "web", "exp": NOW_SECONDS + 10 * YEAR_SECONDS}, False),
        ({"sub": "web", "exp": NOW_SECONDS + 60, "iat": NOW_SECONDS + SKEW_SECONDS + 1}, False),
        ({"sub": "web", "exp": NOW_SECONDS + 60, "iat": "yesterday"}, False),
        ({"sub": "web", "exp": NOW_SECONDS}, False),
        ({"sub": "web", "exp": True}, False),
        ({"sub": "web", "exp": NOW_SECONDS + 60.5}, False),
        ({"exp": NOW_SECONDS + 60}, False),
    ],
)
def test_a_signed_token_must_name_a_user_and_keep_to_the_lifetime(
    claims: dict[str, Any], expected: bool
) -> None:
    assert authorized(bearer(claims)) is expected


def test_a_token_signed_with_another_secret_is_not_authorized() -> None:
    claims = {"sub": "web", "exp": NOW_SECONDS + 60}
    assert not authorized(bearer(claims, secret="another-secret-0123456789abcdef-xyz"))


def test_a_token_answers_to_the_users_of_now() -> None:
    header = bearer({"sub": "pos", "exp": NOW_SECONDS + 60})
    assert authorized(header, make_config("web", "pos"))
    assert not authorized(header, make_config("web"))
