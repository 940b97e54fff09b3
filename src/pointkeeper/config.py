"""The configuration: one TOML file, single values overridden by
``POINTKEEPER_<SECTION>_<KEY>`` environment variables, validated whole.

Loading does no I/O beyond reading the file; a wrong file stops start-up
with a ``ConfigError`` that names every wrong key at once, each by its TOML
path or by the environment variable that set it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pointkeeper import limits
from pointkeeper.money import money_cents
from pointkeeper.secrets import SecretSet

__all__ = [
    "AdminConfig",
    "Config",
    "ConfigError",
    "CpExtenderConfig",
    "DatabaseConfig",
    "EndpointConfig",
    "JobsConfig",
    "LogsConfig",
    "MetricsConfig",
    "OperationConfig",
    "OrderEffect",
    "OrderRulesConfig",
    "ProgramConfig",
    "ServerConfig",
    "UserConfig",
    "is_postgres",
    "load_config",
    "parse_config",
    "postgres_dsn",
    "secret_warnings",
]

_env_prefix = "POINTKEEPER_"
_table_sections = ("database", "server", "metrics", "logs", "jobs", "admin", "cp_extender")


class ConfigError(Exception):
    """The configuration cannot be used: ``problems`` says why, one line
    each, named by the key."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _secrets(values: list[str]) -> SecretSet:
    if not isinstance(values, list | tuple):
        # A lone string would otherwise be taken as a list of its characters
        # (each one character a valid token), a number would not be read.
        raise ValueError('must be a list of strings, such as ["a-long-token"]')
    if any(not isinstance(value, str) or not value for value in values):
        raise ValueError("every secret must be a non-empty string")
    return SecretSet(values)


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgresql://", "postgres://"))


def postgres_dsn(database_url: str) -> str:
    """The URL as asyncpg reads it, query parameters (sslmode=...) included."""
    return "postgresql://" + database_url.split("://", 1)[1]


class DatabaseConfig(_Section):
    url: str = "sqlite:///./pointkeeper-data/pointkeeper.db"
    # PostgreSQL only: write batches in flight at once per process, and the
    # size of each process's pool (writers, readers and exports); a command
    # line call (the CLI, start-up) opens one more connection while it runs.
    writers: int = Field(2, ge=1, le=16)
    connections_max: int = Field(8, ge=2, le=200)
    # A write that cannot start within this long is answered 503 (retry later).
    write_wait_seconds_max: float = Field(limits.write_wait_seconds_max_default, gt=0, le=600)
    # SQLite only: the write-ahead log is started over once it grows past this.
    wal_bytes_max: int = Field(limits.sqlite_wal_bytes_max_default, ge=1024 * 1024, le=1024**3)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not (url.startswith("sqlite:///") or is_postgres(url)):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url

    @model_validator(mode="after")
    def _room_for_readers(self) -> DatabaseConfig:
        if self.connections_max <= self.writers:
            raise ValueError("connections_max must be more than writers")
        return self


class LogsConfig(_Section):
    # One JSON line per request (logger pointkeeper.access): request id,
    # method, route template, status and duration; never a header or body.
    access_log: bool = False


class MetricsConfig(_Section):
    """Prometheus ``/metrics``: off, on the server's own port, or on a port of
    its own (``host``/``port``), so that it need not be public."""

    # SPEC §5 has /metrics beside /healthz and /readyz: on by default.
    serve: Literal["off", "main-port", "own-port"] = "main-port"
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=1, le=65_535)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    body_bytes_max: int = Field(limits.body_bytes_max_default, ge=1024, le=1024**3)
    # Bounds of every connection, whatever the API (see ``pointkeeper.serving``).
    header_bytes_max: int = Field(limits.header_bytes_max_default, ge=1024, le=1024**2)
    header_timeout_seconds: float = Field(limits.header_timeout_seconds_default, gt=0, le=3600)
    body_timeout_seconds: float = Field(limits.body_timeout_seconds_default, gt=0, le=3600)
    keep_alive_seconds: float = Field(limits.keep_alive_seconds_default, gt=0, le=3600)
    connections_max: int = Field(limits.connections_max_default, ge=1, le=1_000_000)
    # Connections the kernel may hold before the server accepts them (the
    # system's net.core.somaxconn caps it).
    backlog: int = Field(limits.backlog_default, ge=64, le=1_000_000)
    # "auto": asyncio on SQLite, where uvloop lets some requests wait seconds
    # once the one process is saturated; uvloop on PostgreSQL, where asyncpg
    # costs less CPU on it (docs/decisions.md, "Event loop").
    loop: Literal["auto", "asyncio", "uvloop"] = "auto"


class JobsConfig(_Section):
    enabled: bool = True
    interval_seconds: float = Field(limits.jobs_interval_seconds_default, gt=0, le=86_400)
    # How long a transactionId's answer and a finished asynchronous call are
    # kept; after it the same transactionId is a new call.
    retention_days: int = Field(limits.retention_days_default, ge=1, le=3_650)


class AdminConfig(_Section):
    tokens: SecretSet = Field(default_factory=lambda: SecretSet(()))

    _hash = field_validator("tokens", mode="before")(classmethod(lambda cls, v: _secrets(v)))


class UserConfig(_Section):
    name: str = Field(min_length=1)
    password: SecretSet

    _hash = field_validator("password", mode="before")(
        classmethod(lambda cls, v: _secrets([v]) if isinstance(v, str) else v)
    )


class CpExtenderConfig(_Section):
    tokens: SecretSet = Field(default_factory=lambda: SecretSet(()))
    jwt_secret: str | None = Field(None, min_length=32, repr=False)
    # Bounded so that every instant made from them fits the 64-bit columns.
    hold_ttl_seconds: int = Field(limits.hold_ttl_seconds_default, ge=1, le=365 * 86_400)
    sso_token_ttl_seconds: int = Field(limits.sso_token_ttl_seconds_default, ge=1, le=365 * 86_400)
    users: tuple[UserConfig, ...] = ()
    # The throttle of /SSO/Login (docs/decisions.md).
    login_failures_per_user_max: int = Field(
        limits.login_failures_per_user_max_default, ge=1, le=limits.login_failures_max
    )
    login_failures_per_address_max: int = Field(
        limits.login_failures_per_address_max_default, ge=1, le=limits.login_failures_max
    )
    login_window_seconds: int = Field(
        limits.login_window_seconds_default, ge=1, le=limits.login_seconds_max
    )
    login_lockout_seconds: int = Field(
        limits.login_lockout_seconds_default, ge=1, le=limits.login_seconds_max
    )

    _hash = field_validator("tokens", mode="before")(classmethod(lambda cls, v: _secrets(v)))


def _cents(value: object) -> int:
    """A money amount of the configuration ("10.00", 10), in cents."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('must be an amount such as "10.00"')
    cents = money_cents(str(value))
    if cents is None:
        raise ValueError('must be an amount with at most two decimals, such as "10.00"')
    return cents


class OrderRulesConfig(_Section):
    """A program's rules for retail orders (docs/orders.md)."""

    points_earned_per_currency_unit: int = Field(0, ge=0, le=1_000_000)
    points_payable_share_max: int = Field(100, ge=0, le=100)
    earning_order_total_min: int = 0
    excluded_products: tuple[str, ...] = ()
    multipliers: dict[str, int] = Field(default_factory=dict)

    _money = field_validator("earning_order_total_min", mode="before")(
        classmethod(lambda cls, v: _cents(v))
    )

    @field_validator("multipliers")
    @classmethod
    def _known_targets(cls, multipliers: dict[str, int]) -> dict[str, int]:
        for target, factor in multipliers.items():
            kind, _, name = target.partition(":")
            if kind not in ("category", "product") or not name:
                raise ValueError(f'{target!r}: must be "category:<name>" or "product:<id>"')
            if not 0 <= factor <= 100:
                raise ValueError(f"{target!r}: must be a whole number from 0 to 100")
        return multipliers


class ProgramConfig(_Section):
    name: str = Field(min_length=1, max_length=limits.id_chars_max)
    earning_description: str = ""
    redemption_description: str = ""
    balance_type: str = "Points"
    credit_lifetime_days: int | None = Field(None, ge=1, le=36_500)
    order_bonus_pending_days: int | None = Field(None, ge=0, le=3_650)
    # Not in the seed: how many points one currency unit of an Authorize
    # RequestedAmount costs ("100 points = $1").
    points_per_currency_unit: int = Field(100, ge=1, le=1_000_000)
    orders: OrderRulesConfig = Field(default_factory=lambda: OrderRulesConfig())


class EndpointConfig(_Section):
    id: str = Field(min_length=1, max_length=limits.id_chars_max)
    secret_key: SecretSet

    _hash = field_validator("secret_key", mode="before")(
        classmethod(lambda cls, v: _secrets([v]) if isinstance(v, str) else v)
    )


OrderEffect = Literal["paid", "cancelled", "returned"]


class OperationConfig(BaseModel):
    """A named Maestra operation; kind-specific settings stay as extra keys
    and are validated by the operation kind that reads them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=limits.id_chars_max)
    kind: Literal[
        "ExportBalanceChanges",
        "IssuePromoCode",
        "RedeemPromoCode",
        "CancelPromoCodeRedemption",
        "GetCustomerBalance",
        "GetCustomerBalanceHistory",
        "ChangeCustomerBalance",
        "RegisterCustomer",
        "EditCustomer",
        "CalculateCart",
        "CalculateAuthorizedCart",
        "CalculateUnauthorizedCart",
        "CreateOrder",
        "SaveOfflineOrder",
        "ChangeOrderStatus",
        "UpdateOrderItemsStatus",
        "GetCustomerOrders",
    ]
    endpoints: tuple[str, ...] = ()
    mode: Literal["by-value", "by-value-or-create", "from-pool"] | None = None
    pool: str | None = None


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    server: ServerConfig = ServerConfig()
    metrics: MetricsConfig = MetricsConfig()
    logs: LogsConfig = LogsConfig()
    jobs: JobsConfig = JobsConfig()
    admin: AdminConfig = AdminConfig()
    cp_extender: CpExtenderConfig = CpExtenderConfig()
    programs: tuple[ProgramConfig, ...] = ()
    endpoints: tuple[EndpointConfig, ...] = ()
    operations: tuple[OperationConfig, ...] = ()
    # An order status of the project's vocabulary -> what it does to the
    # lines moved to it.
    order_statuses: dict[str, OrderEffect] = Field(
        default_factory=lambda: dict[str, OrderEffect](
            Paid="paid", Cancelled="cancelled", Returned="returned"
        )
    )

    def program(self, name: str) -> ProgramConfig | None:
        return next((p for p in self.programs if p.name == name), None)


def secret_warnings(config: Config) -> list[str]:
    """What an operator should hear at start: an API no secret opens, and
    secrets short enough to guess."""
    warnings = []
    if not len(config.admin.tokens):
        warnings.append("admin.tokens: none configured, the admin API refuses every call")
    if not len(config.cp_extender.tokens) and not config.cp_extender.users:
        warnings.append(
            "cp_extender.tokens: none configured (and no users), the CP Extender API"
            " refuses every call"
        )
    if not config.endpoints:
        warnings.append("endpoints: none configured, the Maestra API refuses every call")
    named = [
        ("admin.tokens", config.admin.tokens),
        ("cp_extender.tokens", config.cp_extender.tokens),
        *(
            (f"cp_extender.users[{index}].password", user.password)
            for index, user in enumerate(config.cp_extender.users)
        ),
        *(
            (f"endpoints[{index}].secret_key", endpoint.secret_key)
            for index, endpoint in enumerate(config.endpoints)
        ),
    ]
    warnings.extend(
        f"{name}: a secret shorter than {limits.secret_chars_warning_min} characters"
        for name, secret_set in named
        if secret_set.shortest is not None and secret_set.shortest < limits.secret_chars_warning_min
    )
    return warnings


def _reference_problems(config: Config) -> list[str]:
    """What the sections say of each other that does not hold."""
    problems = []
    names = [program.name for program in config.programs]
    if len(set(names)) != len(names):
        problems.append("programs: two programs share a name")
    endpoint_ids = [endpoint.id for endpoint in config.endpoints]
    if len(set(endpoint_ids)) != len(endpoint_ids):
        problems.append("endpoints: two endpoints share an id")
    operation_names = [operation.name for operation in config.operations]
    if len(set(operation_names)) != len(operation_names):
        problems.append("operations: two operations share a name")
    for index, operation in enumerate(config.operations):
        problems.extend(
            f"operations[{index}].endpoints: unknown endpoint {endpoint!r}"
            for endpoint in operation.endpoints
            if endpoint not in endpoint_ids
        )
    if config.cp_extender.users and not config.cp_extender.jwt_secret:
        problems.append("cp_extender.jwt_secret: required when cp_extender.users is set")
    return problems


def _env_value(raw: str) -> Any:
    """An override is read as a TOML value where it parses as one
    (numbers, booleans, arrays), and as a plain string otherwise."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(
    data: dict[str, Any], environ: Mapping[str, str], problems: list[str]
) -> dict[tuple[str, str], str]:
    """Writes the overrides into ``data``; answers which variable set each
    (section, key), and adds what is wrong with them to ``problems``."""
    sources: dict[tuple[str, str], str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(_env_prefix):
            continue
        rest = name[len(_env_prefix) :].lower()
        section = next((s for s in _table_sections if rest.startswith(s + "_")), None)
        if section is None:
            if rest != "config":
                problems.append(f"{name}: no such configuration section")
            continue
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            problems.append(f"{section}: must be a table")
            continue
        key = rest[len(section) + 1 :]
        table[key] = _env_value(raw)
        sources[section, key] = name
    return sources


def _location(error: Any) -> str:
    """``programs[0].name``: the TOML path of a model error."""
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "(top level)"


def _problem(error: Any, sources: Mapping[tuple[str, str], str]) -> str:
    where = _location(error)
    loc = error["loc"]
    variable = sources.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
    if variable is not None:
        where = f"{variable} ({where})"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def parse_config(data: dict[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    problems: list[str] = []
    sources = _apply_env(data, os.environ if environ is None else environ, problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem(error, sources) for error in exc.errors())
        raise ConfigError(*problems) from None
    problems.extend(_reference_problems(config))
    if problems:
        raise ConfigError(*problems)
    return config


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Reads ``path`` (or ``POINTKEEPER_CONFIG``); no file at all means defaults."""
    env = os.environ if environ is None else environ
    path = path or env.get("POINTKEEPER_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return parse_config(data, env)
