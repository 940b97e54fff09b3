"""``pointkeeper demo``: a ready server with no configuration to write.

A local data folder gets a demo configuration with fresh random secrets and
an SQLite database with a few customers and some history; every run prints
the URLs, the tokens and a ready-to-paste ``curl`` line per method, read
back from that configuration and database. ``--reset`` deletes both and
starts over, in a folder the demo made only.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pointkeeper import limits
from pointkeeper.config import Config, ConfigError, load_config
from pointkeeper.domain.orders import PoolDiscount
from pointkeeper.domain.time import Instant, from_datetime, ms_per_day, now
from pointkeeper.secrets import new_secret
from pointkeeper.services import loyalty, promo
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.services.customers import find_customer, put_customer
from pointkeeper.store import Store, open_store
from pointkeeper.store.tx import Tx

__all__ = [
    "PROGRAM",
    "Demo",
    "DemoSecrets",
    "DemoValues",
    "prepare_demo",
    "usage",
]

PROGRAM = "Loyalty program 1"

# Every configuration the demo writes opens with this line: a folder whose
# config.toml does not is someone else's, and the demo leaves it alone.
_first_line = "# pointkeeper demo configuration: made by `pointkeeper demo`, with random secrets."
_config_name = "config.toml"
# The files of the demo's SQLite database, the only others --reset deletes.
_database_names = ("pointkeeper.db", "pointkeeper.db-wal", "pointkeeper.db-shm")

# The customer the Confirm, Cancel and promo code lines act for (web-1).
_customer_number = "CPOL-123185"
# Two codes of the WELCOME pool issued to web-1, one of them used: the Redeem
# line takes an unused one, the cancellation line a used one. The store finds
# a code by its value only, so these values are the demo's own.
_demo_codes = ("WELCOME-DEMO-0001", "WELCOME-DEMO-0002")
# The secrets a demo configuration holds: two tokens, the JWT secret, the
# SSO user's password and the endpoint key.
_secrets_count = 5


@dataclass(frozen=True, slots=True)
class DemoSecrets:
    """The plain secrets of a demo configuration, as written in it."""

    admin_token: str
    cp_token: str
    jwt_secret: str
    user_password: str
    endpoint_key: str

    @classmethod
    def fresh(cls) -> DemoSecrets:
        return cls(
            admin_token=new_secret(),
            cp_token=new_secret(),
            jwt_secret=new_secret(32),
            user_password=new_secret(12),
            endpoint_key=new_secret(),
        )


@dataclass(frozen=True, slots=True)
class DemoValues:
    """What the curl lines need from the demo data as it is now; None where
    nothing is left for a line (a hold confirmed, say)."""

    confirm_auth_code: str | None
    cancel_auth_code: str | None
    unused_code: str | None
    used_code: str | None


@dataclass(frozen=True, slots=True)
class Demo:
    """A prepared demo folder: what to serve, and what to print."""

    config: Config
    secrets: DemoSecrets
    values: DemoValues


_operations = (
    ("Website.ExportBalanceUpdates", "ExportBalanceChanges"),
    ("Website.GetCustomerBalance", "GetCustomerBalance"),
    ("Website.GetCustomerBalanceHistory", "GetCustomerBalanceHistory"),
    ("Website.ChangeCustomerBalance", "ChangeCustomerBalance"),
    ("Website.RegisterCustomer", "RegisterCustomer"),
    ("Website.EditCustomer", "EditCustomer"),
    ("Website.RedeemPromoCode", "RedeemPromoCode"),
    ("Website.CancelPromoCodeRedemption", "CancelPromoCodeRedemption"),
    ("Website.CalculateCart", "CalculateCart"),
    ("Website.CreateOrder", "CreateOrder"),
    ("Website.ChangeOrderStatus", "ChangeOrderStatus"),
    ("Website.GetCustomerOrders", "GetCustomerOrders"),
)
_issue_operation = (
    '\n[[operations]]\nname = "Website.IssuePromoCode"\nkind = "IssuePromoCode"\n'
    'endpoints = ["shop-web"]\nmode = "from-pool"\npool = "WELCOME"\n'
)


def _operations_text() -> str:
    return _issue_operation + "".join(
        f'\n[[operations]]\nname = "{name}"\nkind = "{kind}"\nendpoints = ["shop-web"]\n'
        for name, kind in _operations
    )


def _config_text(folder: Path, port: int, secrets: DemoSecrets) -> str:
    return f"""{_first_line}
[database]
url = "sqlite:///{folder.resolve()}/pointkeeper.db"

[server]
host = "127.0.0.1"
port = {port}

[jobs]
enabled = true
interval_seconds = 60

[admin]
tokens = ["{secrets.admin_token}"]

[cp_extender]
tokens = ["{secrets.cp_token}"]
jwt_secret = "{secrets.jwt_secret}"
users = [{{ name = "web", password = "{secrets.user_password}" }}]

[[programs]]
name = "{PROGRAM}"
earning_description = "1 point per dollar"
redemption_description = "100 points = $1"
balance_type = "Points"
order_bonus_pending_days = 14

[programs.orders]
points_earned_per_currency_unit = 1
points_payable_share_max = 50

[[endpoints]]
id = "shop-web"
secret_key = "{secrets.endpoint_key}"
{_operations_text()}"""


def _seed_points(store: Store, at: Instant) -> None:
    for number, website_id in ((_customer_number, "web-1"), ("CPOL-200001", "web-2")):
        store.write_sync(
            put_customer, number, fields={"website_id": website_id}, program=PROGRAM, now=at
        )
    history = from_datetime(datetime(2015, 11, 29, 10, 15, tzinfo=UTC))
    store.write_sync(
        change_balance,
        customer_kind="customer_number",
        customer_value=_customer_number,
        request=BalanceChangeRequest(1404, comment="Opening balance", at=history),
        key_scope="demo",
        now=at,
    )
    for number, points, reason, reference in (
        (_customer_number, 100, "Facebook Share", "123456789"),
        ("CPOL-200001", 250, "Welcome bonus", "welcome"),
    ):
        store.write_sync(
            loyalty.earn,
            customer_number=number,
            points=points,
            reason=reason,
            reference=reference,
            now=at,
        )
    # Two open holds: one for the Confirm line, one for the Cancel line.
    for sale_id, points in (("WB-101-10444", 1000), ("WB-101-10445", 100)):
        store.write_sync(
            loyalty.authorize,
            customer_number=_customer_number,
            sale_id=sale_id,
            points=points,
            amount_units=None,
            location="Web Order",
            ttl_ms=7 * ms_per_day,
            now=at,
        )


def _seed_codes(store: Store, at: Instant) -> None:
    store.write_sync(
        promo.put_pool,
        "WELCOME",
        values={
            "name": "Welcome codes",
            "description": "10% off the first order",
            "discount": PoolDiscount(percent=10),
        },
    )
    rows = [promo.ImportRow(row, value) for row, value in enumerate(_demo_codes, start=1)]
    store.write_sync(promo.import_codes, "WELCOME", rows)
    for value in _demo_codes:
        request = promo.IssueRequest(
            mode="by-value",
            customer_kind="website_id",
            customer_value="web-1",
            value=value,
            pool="WELCOME",
            point_of_contact=None,
            at=None,
            available_from=None,
            available_till=None,
        )
        store.write_sync(promo.issue_code, request, now=at)
    store.write_sync(
        promo.redeem_code,
        customer_kind="website_id",
        customer_value="web-1",
        value=_demo_codes[1],
        point_of_contact=None,
        at=at,
    )
    store.write_sync(promo.generate_codes, "WELCOME", count=100, pattern="WELCOME-XXXX-XXXX")


def _demo_values(tx: Tx, *, at: Instant) -> DemoValues:
    """The open holds and web-1's demo codes as the database has them now."""
    customer = find_customer(tx, "customer_number", _customer_number)
    holds = [
        hold.auth_code
        for hold in tx.open_holds(customer.id, limit=limits.open_holds_max)
        if not hold.is_due(at)
    ]
    codes = [tx.code(value) for value in _demo_codes]
    usable = [
        code
        for code in codes
        if code is not None and code.issued_customer_id == customer.id and code.blocked_at is None
    ]
    return DemoValues(
        confirm_auth_code=holds[0] if holds else None,
        cancel_auth_code=holds[1] if len(holds) > 1 else None,
        unused_code=next((code.value for code in usable if code.used_at is None), None),
        used_code=next((code.value for code in usable if code.used_at is not None), None),
    )


def _seeded_values(config: Config) -> DemoValues:
    """Seeds the database unless the demo customers are there already, and
    reads what the curl lines need."""
    store = open_store(
        config.database, programs=config.programs, order_statuses=config.order_statuses
    )
    try:
        if not store.read_sync(lambda tx: tx.customer_by("customer_number", _customer_number)):
            at = now()
            _seed_points(store, at)
            _seed_codes(store, at)
        return store.read_sync(_demo_values, at=now())
    finally:
        store.close()


def _made_by_demo(config_path: Path) -> bool:
    with config_path.open(encoding="utf-8", errors="replace") as file:
        return file.readline(len(_first_line) + 2).rstrip("\r\n") == _first_line


def _refuse_foreign(config_path: Path) -> None:
    if config_path.exists() and not _made_by_demo(config_path):
        raise ConfigError(
            f"{config_path} was not written by `pointkeeper demo`; the demo leaves it alone"
            " (choose another --dir)"
        )


def _reset(folder: Path) -> None:
    """Deletes the demo's configuration and database, and nothing else."""
    config_path = folder / _config_name
    _refuse_foreign(config_path)
    database = [folder / name for name in _database_names]
    if not config_path.exists() and any(path.exists() for path in database):
        raise ConfigError(
            f"{folder} has a database but no demo configuration: it may not be the demo's,"
            " so --reset leaves it alone (delete it yourself)"
        )
    for path in database:
        path.unlink(missing_ok=True)
    # The configuration goes last: until then it marks the folder as the
    # demo's, so a reset cut short can be run again.
    config_path.unlink(missing_ok=True)


def _write_config(config_path: Path, text: str) -> None:
    # Made private to its owner from the first byte, and never over a file.
    descriptor = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _read_secrets(config_path: Path) -> DemoSecrets:
    with config_path.open("rb") as file:
        data = tomllib.load(file)
    found: list[object] = []
    # A demo configuration edited by hand may have lost a secret.
    with contextlib.suppress(KeyError, IndexError, TypeError):
        cp_extender = data["cp_extender"]
        found = [
            data["admin"]["tokens"][0],
            cp_extender["tokens"][0],
            cp_extender["jwt_secret"],
            cp_extender["users"][0]["password"],
            data["endpoints"][0]["secret_key"],
        ]
    texts = [value for value in found if isinstance(value, str)]
    if len(texts) != _secrets_count:
        raise ConfigError(
            f"{config_path} lacks the demo's secrets; `pointkeeper demo --reset` starts over"
        )
    admin_token, cp_token, jwt_secret, user_password, endpoint_key = texts
    return DemoSecrets(
        admin_token=admin_token,
        cp_token=cp_token,
        jwt_secret=jwt_secret,
        user_password=user_password,
        endpoint_key=endpoint_key,
    )


def prepare_demo(folder: Path, port: int, *, reset: bool = False) -> Demo:
    """Writes the demo configuration unless one is there (after deleting it
    and the database with ``reset``), seeds the database once, and reads
    back the secrets and the values the curl lines use."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / _config_name
    if reset:
        _reset(folder)
    else:
        _refuse_foreign(config_path)
    if not config_path.exists():
        _write_config(config_path, _config_text(folder, port, DemoSecrets.fresh()))
    # Loaded first: a configuration edited into bad TOML is refused by key.
    config = load_config(config_path, environ={})
    return Demo(config, _read_secrets(config_path), _seeded_values(config))


# A cart of two lines for web-1, spending 200 of its points (docs/orders.md).
_cart = (
    '{"customer":{"ids":{"webSiteUserId":"web-1"}},"order":{"ids":{"websiteId":"DEMO-1001"},'
    '"lines":[{"lineNumber":1,"product":{"ids":{"website":"SKU-1"}},"basePricePerItem":"12.50",'
    '"quantity":2},{"lineNumber":2,"product":{"ids":{"website":"SKU-2"}},'
    '"basePricePerItem":"4.99","quantity":1}],"bonusPoints":[{"amount":200}]}}'
)


def _or_note(value: str | None, line: Callable[[str], str], note: str) -> str:
    """The curl line for ``value``, or a note saying what the demo data has
    no more of (a hold confirmed already, say)."""
    if value is None:
        return f"# {note}: `pointkeeper demo --reset` starts over"
    return line(value)


def _cp_lines(url: str, secrets: DemoSecrets, values: DemoValues) -> list[str]:
    cp = f"-H 'Authorization: Bearer {secrets.cp_token}' -H 'Content-Type: application/json'"
    admin = f"-H 'Authorization: Bearer {secrets.admin_token}'"

    def resolve(path: str) -> Callable[[str], str]:
        return lambda auth_code: (
            f"curl -X POST {url}{path} {cp}"
            f""" -d '{{"Ref":"{_customer_number}","AuthCode":"{auth_code}"}}'"""
        )

    return [
        f"curl {url}/Connection/Status",
        f"""curl -X POST {url}/SSO/Login -H 'Content-Type: application/json' -d '{{"UserName":"web","Password":"{secrets.user_password}"}}'""",
        f"""curl -X POST {url}/Loyalty/Earn {cp} -d '{{"CustomerNumber":"{_customer_number}","Points":100,"Reason":"Facebook Share","Reference":"demo-1"}}'""",
        f"curl {url}/Loyalty/{_customer_number}/BalanceCheck {cp}",
        f"""curl {url}/Loyalty/{_customer_number}/BalanceCheck {cp} -X GET -d '{{"startDate":"01/01/2015 00:00:00.000","endDate":"12/31/2030 23:59:59.999"}}'""",
        f"""curl -X POST {url}/Loyalty/Authorize {cp} -d '{{"Type":"loyalty","Ref":"CPOL-200001","SaleId":"WB-101-20000","RequestedPoints":50}}'""",
        _or_note(
            values.confirm_auth_code,
            resolve("/Authorize/Confirm"),
            f"Authorize/Confirm: {_customer_number} has no open hold left",
        ),
        _or_note(
            values.cancel_auth_code,
            resolve("/Authorize/Cancel"),
            f"Authorize/Cancel: {_customer_number} has no second open hold left",
        ),
        f"""curl -X PUT {url}/admin/v1/customers/CPOL-300001 {admin} -H 'Content-Type: application/json' -d '{{"program":"{PROGRAM}","email":"ann@example.com"}}'""",
        f"curl {url}/admin/v1/customers/{_customer_number} {admin}",
        f"""curl -X POST {url}/admin/v1/customers/{_customer_number}/balance-changes {admin} -H 'Content-Type: application/json' -d '{{"changeAmount":-4,"comment":"Manual correction"}}'""",
        f"curl -X POST {url}/admin/v1/jobs/run {admin}",
    ]


def _maestra_lines(url: str, secrets: DemoSecrets, values: DemoValues) -> list[str]:
    sync = f"{url}/v3/operations/sync?endpointId=shop-web&operation=Website."
    maestra = f"-H 'Authorization: SecretKey {secrets.endpoint_key}'"
    admin = f"-H 'Authorization: Bearer {secrets.admin_token}'"
    xml = f"{maestra} -H 'Content-Type: application/xml'"
    json = f"{maestra} -H 'Content-Type: application/json'"
    web_1 = "<customer><ids><webSiteUserId>web-1</webSiteUserId></ids></customer>"

    def promo_code(operation: str) -> Callable[[str], str]:
        return lambda value: (
            f"curl -X POST '{sync}{operation}' {xml} -d '<operation>{web_1}"
            f"<promoCode><ids><value>{value}</value></ids></promoCode></operation>'"
        )

    return [
        f"curl -X POST '{sync}GetCustomerBalance' {xml} -d '<operation>{web_1}</operation>'",
        f"""curl -X POST '{sync}ChangeCustomerBalance&transactionId=demo-1' {json} -d '{{"customer":{{"ids":{{"webSiteUserId":"web-1"}}}},"balanceChanges":[{{"changeAmount":50,"comment":"Goodwill"}}]}}'""",
        f"""curl -X POST '{sync}GetCustomerBalanceHistory' {json} -H 'Accept: application/json' -d '{{"customer":{{"ids":{{"customerNumber":"{_customer_number}"}}}},"page":{{"pageNumber":1,"itemsPerPage":10}}}}'""",
        f"curl -X POST '{sync}RegisterCustomer' {xml} -d '<operation><customer><ids><webSiteUserId>web-9</webSiteUserId></ids><email>new@example.com</email><program>{PROGRAM}</program></customer></operation>'",
        f"""curl -X POST '{sync}EditCustomer' {json} -d '{{"customer":{{"ids":{{"webSiteUserId":"web-1"}},"firstName":"Ann","lastName":"Lee"}}}}'""",
        f"curl -X POST '{sync}ExportBalanceUpdates' {xml} -d '<operation><sinceDateTimeUtc>2015-01-01 00:00</sinceDateTimeUtc><tillDateTimeUtc>2030-01-01 00:00</tillDateTimeUtc></operation>'",
        f"""curl -X POST '{url}/v3/operations/async?endpointId=shop-web&operation=Website.ChangeCustomerBalance&transactionId=demo-async-1' {json} -d '{{"customer":{{"ids":{{"webSiteUserId":"web-2"}}}},"balanceChanges":[{{"changeAmount":5}}]}}'""",
        f"curl '{url}/admin/v1/async-operations?transactionId=demo-async-1' {admin}",
        f"curl -X POST '{sync}IssuePromoCode' {xml} -d '<operation>{web_1}</operation>'",
        _or_note(
            values.unused_code,
            promo_code("RedeemPromoCode"),
            "RedeemPromoCode: web-1 has no unused demo code left",
        ),
        _or_note(
            values.used_code,
            promo_code("CancelPromoCodeRedemption"),
            "CancelPromoCodeRedemption: web-1 has no used demo code left",
        ),
        f"curl {url}/admin/v1/pools/WELCOME {admin}",
        f"curl -X POST '{sync}CalculateCart' {json} -d '{_cart}'",
        f"curl -X POST '{sync}CreateOrder&transactionId=demo-order-1' {json} -d '{_cart}'",
        f"""curl -X POST '{sync}ChangeOrderStatus&transactionId=demo-return-1' {json} -d '{{"order":{{"ids":{{"websiteId":"DEMO-1001"}},"lines":[{{"lineNumber":1,"quantity":1,"status":{{"ids":{{"externalId":"Returned"}}}}}}]}}}}'""",
        f"""curl -X POST '{sync}GetCustomerOrders' {json} -d '{{"customer":{{"ids":{{"webSiteUserId":"web-1"}}}}}}'""",
    ]


def usage(folder: Path, url: str, demo: Demo) -> str:
    """The URLs, the tokens and a curl line per method, in an order that
    works when pasted one after another."""
    secrets = demo.secrets
    lines = [
        f"pointkeeper demo at {url}  (configuration: {folder / _config_name})",
        f"admin token:        {secrets.admin_token}",
        f"CP Extender token:  {secrets.cp_token}",
        f"SSO user:           web / {secrets.user_password}",
        f"Admin API docs:     {url}/admin/docs",
        "",
        *_cp_lines(url, secrets, demo.values),
        "",
        "Maestra v3 operations (endpoint shop-web):",
        *_maestra_lines(url, secrets, demo.values),
    ]
    return "\n".join(lines) + "\n"
