"""Bearer tokens of the CP Extender API: permanent tokens from the
configuration, or signed, expiring tokens from ``POST /SSO/Login``."""

from __future__ import annotations

import hmac
from typing import Any, TypeGuard

import jwt

from pointkeeper import limits
from pointkeeper.config import CpExtenderConfig
from pointkeeper.domain.time import Instant, ms_per_second

__all__ = ["is_authorized", "is_user", "issue_token", "login"]

_issuer = "pointkeeper"
_audience = "cp-extender"
_algorithm = "HS256"


def _bearer(header: bytes | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_authorized(config: CpExtenderConfig, header: bytes | None, *, now: Instant) -> bool:
    token = _bearer(header)
    if token is None:
        return False
    if token in config.tokens:
        return True
    if config.jwt_secret is None or token.count(".") != 2:
        return False
    try:
        claims = jwt.decode(
            token,
            config.jwt_secret,
            algorithms=[_algorithm],
            audience=_audience,
            issuer=_issuer,
            # The times are checked below against the server's clock, so
            # that they are testable.
            options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return False
    return _claims_hold(config, claims, now=now)


def _claims_hold(config: CpExtenderConfig, claims: dict[str, Any], *, now: Instant) -> bool:
    """A well-signed token still answers to the configuration of now: it
    outlives neither its user's removal nor the configured lifetime, whether
    that was shortened since or the token was signed for longer."""
    now_seconds = now // ms_per_second
    skew = limits.sso_clock_skew_seconds_max
    expires, issued = claims.get("exp"), claims.get("iat", now_seconds)
    if not _is_int(expires) or not _is_int(issued):
        return False
    return (
        now < expires * ms_per_second
        and expires <= now_seconds + config.sso_token_ttl_seconds + skew
        and issued <= now_seconds + skew
        and is_user(config, claims.get("sub"))
    )


def _is_int(value: object) -> TypeGuard[int]:
    # JSON's true is a Python int too.
    return isinstance(value, int) and not isinstance(value, bool)


def is_user(config: CpExtenderConfig, name: object) -> bool:
    """Whether ``name`` names a configured user now."""
    if not isinstance(name, str):
        return False
    # A JWT's claims are read by the json module, which lets lone surrogates
    # through; they must compare unequal, not fail to encode.
    candidate = name.encode(errors="surrogatepass")
    found = False
    for user in config.users:
        found |= hmac.compare_digest(user.name.encode(), candidate)
    return found


def login(config: CpExtenderConfig, *, user_name: object, password: object) -> bool:
    if not isinstance(user_name, str) or not isinstance(password, str):
        return False
    found = False
    for user in config.users:
        name_matches = hmac.compare_digest(user.name.encode(), user_name.encode())
        found |= name_matches and password in user.password
    return found


def issue_token(config: CpExtenderConfig, user_name: str, *, now: Instant) -> str:
    assert config.jwt_secret is not None
    claims = {
        "sub": user_name,
        "iss": _issuer,
        "aud": _audience,
        "iat": now // 1000,
        "exp": now // 1000 + config.sso_token_ttl_seconds,
    }
    return jwt.encode(claims, config.jwt_secret, algorithm=_algorithm)
