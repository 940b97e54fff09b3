"""``pointkeeper demo``: a ready server with no configuration to write.

A local data folder gets a demo configuration with fresh random secrets and
an SQLite database with a few customers and some history; the command
prints the URLs, the tokens and a ready-to-paste ``curl`` line per method.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pointkeeper.config import Config, load_config
from pointkeeper.domain.orders import PoolDiscount
from pointkeeper.domain.time import from_datetime, ms_per_day, now
from pointkeeper.secrets import new_secret
from pointkeeper.services import loyalty, promo
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.services.customers import put_customer
from pointkeeper.store import open_store

__all__ = ["PROGRAM", "DemoSecrets", "prepare_demo", "usage"]

PROGRAM = "Loyalty program 1"


class DemoSecrets:
    def __init__(self) -> None:
        self.admin_token = new_secret()
        self.cp_token = new_secret()
        self.jwt_secret = new_secret(32)
        self.user_password = new_secret(12)
        self.endpoint_key = new_secret()


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
    return f"""# pointkeeper demo configuration: made by `pointkeeper demo`, with random secrets.
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


def _seed(config: Config) -> None:
    store = open_store(
        config.database, programs=config.programs, order_statuses=config.order_statuses
    )
    try:
        at = now()
        if store.read_sync(lambda tx: tx.customer_by("customer_number", "CPOL-123185")):
            return
        for number, website_id in (("CPOL-123185", "web-1"), ("CPOL-200001", "web-2")):
            store.write_sync(
                put_customer, number, fields={"website_id": website_id}, program=PROGRAM, now=at
            )
        history = from_datetime(datetime(2015, 11, 29, 10, 15, tzinfo=UTC))
        store.write_sync(
            change_balance,
            customer_kind="customer_number",
            customer_value="CPOL-123185",
            request=BalanceChangeRequest(1404, comment="Opening balance", at=history),
            key_scope="demo",
            now=at,
        )
        store.write_sync(
            loyalty.earn,
            customer_number="CPOL-123185",
            points=100,
            reason="Facebook Share",
            reference="123456789",
            now=at,
        )
        store.write_sync(
            loyalty.authorize,
            customer_number="CPOL-123185",
            sale_id="WB-101-10444",
            points=1000,
            amount_units=None,
            location="Web Order",
            ttl_ms=7 * ms_per_day,
            now=at,
        )
        store.write_sync(
            loyalty.earn,
            customer_number="CPOL-200001",
            points=250,
            reason="Welcome bonus",
            reference="welcome",
            now=at,
        )
        store.write_sync(
            promo.put_pool,
            "WELCOME",
            values={
                "name": "Welcome codes",
                "description": "10% off the first order",
                "discount": PoolDiscount(percent=10),
            },
        )
        store.write_sync(promo.generate_codes, "WELCOME", count=100, pattern="WELCOME-XXXX-XXXX")
    finally:
        store.close()


def prepare_demo(folder: Path, port: int) -> tuple[Config, DemoSecrets | None]:
    """Writes the demo configuration unless one is there, and seeds the
    database once. Secrets are returned only when they were just made."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    secrets = None
    if not config_path.exists():
        secrets = DemoSecrets()
        config_path.write_text(_config_text(folder, port, secrets), encoding="utf-8")
        config_path.chmod(0o600)
    config = load_config(config_path, environ={})
    _seed(config)
    return config, secrets


# A cart of two lines for web-1, spending 200 of its points (docs/orders.md).
_cart = (
    '{"customer":{"ids":{"webSiteUserId":"web-1"}},"order":{"ids":{"websiteId":"DEMO-1001"},'
    '"lines":[{"lineNumber":1,"product":{"ids":{"website":"SKU-1"}},"basePricePerItem":"12.50",'
    '"quantity":2},{"lineNumber":2,"product":{"ids":{"website":"SKU-2"}},'
    '"basePricePerItem":"4.99","quantity":1}],"bonusPoints":[{"amount":200}]}}'
)


def usage(folder: Path, url: str, secrets: DemoSecrets | None) -> str:
    if secrets is None:
        return (
            f"pointkeeper demo at {url}\nSecrets are in {folder / 'config.toml'} "
            "(printed only when first made).\n"
        )
    cp = f"-H 'Authorization: Bearer {secrets.cp_token}' -H 'Content-Type: application/json'"
    admin = f"-H 'Authorization: Bearer {secrets.admin_token}'"
    maestra = f"-H 'Authorization: SecretKey {secrets.endpoint_key}'"
    return f"""pointkeeper demo at {url}  (configuration: {folder / "config.toml"})
admin token:        {secrets.admin_token}
CP Extender token:  {secrets.cp_token}
SSO user:           web / {secrets.user_password}
Admin API docs:     {url}/admin/docs

curl {url}/Connection/Status
curl -X POST {url}/SSO/Login -H 'Content-Type: application/json' -d '{{"UserName":"web","Password":"{secrets.user_password}"}}'
curl -X POST {url}/Loyalty/Earn {cp} -d '{{"CustomerNumber":"CPOL-123185","Points":100,"Reason":"Facebook Share","Reference":"demo-1"}}'
curl {url}/Loyalty/CPOL-123185/BalanceCheck {cp}
curl {url}/Loyalty/CPOL-123185/BalanceCheck {cp} -X GET -d '{{"startDate":"01/01/2015 00:00:00.000","endDate":"12/31/2030 23:59:59.999"}}'
curl -X POST {url}/Loyalty/Authorize {cp} -d '{{"Type":"loyalty","Ref":"CPOL-200001","SaleId":"WB-101-20000","RequestedPoints":50}}'
curl -X POST {url}/Authorize/Confirm {cp} -d '{{"Ref":"CPOL-200001","AuthCode":"<AuthCode from Authorize>"}}'
curl -X POST {url}/Authorize/Cancel {cp} -d '{{"Ref":"CPOL-200001","AuthCode":"<AuthCode from Authorize>"}}'
curl -X PUT {url}/admin/v1/customers/CPOL-300001 {admin} -H 'Content-Type: application/json' -d '{{"program":"{PROGRAM}","email":"ann@example.com"}}'
curl {url}/admin/v1/customers/CPOL-123185 {admin}
curl -X POST {url}/admin/v1/customers/CPOL-123185/balance-changes {admin} -H 'Content-Type: application/json' -d '{{"changeAmount":-4,"comment":"Manual correction"}}'
curl -X POST {url}/admin/v1/jobs/run {admin}

Maestra v3 operations (endpoint shop-web):
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.GetCustomerBalance' {maestra} -H 'Content-Type: application/xml' -d '<operation><customer><ids><webSiteUserId>web-1</webSiteUserId></ids></customer></operation>'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.ChangeCustomerBalance&transactionId=demo-1' {maestra} -H 'Content-Type: application/json' -d '{{"customer":{{"ids":{{"webSiteUserId":"web-1"}}}},"balanceChanges":[{{"changeAmount":50,"comment":"Goodwill"}}]}}'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.GetCustomerBalanceHistory' {maestra} -H 'Content-Type: application/json' -H 'Accept: application/json' -d '{{"customer":{{"ids":{{"customerNumber":"CPOL-123185"}}}},"page":{{"pageNumber":1,"itemsPerPage":10}}}}'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.RegisterCustomer' {maestra} -H 'Content-Type: application/xml' -d '<operation><customer><ids><webSiteUserId>web-9</webSiteUserId></ids><email>new@example.com</email><program>{PROGRAM}</program></customer></operation>'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.ExportBalanceUpdates' {maestra} -H 'Content-Type: application/xml' -d '<operation><sinceDateTimeUtc>2015-01-01 00:00</sinceDateTimeUtc><tillDateTimeUtc>2030-01-01 00:00</tillDateTimeUtc></operation>'
curl -X POST '{url}/v3/operations/async?endpointId=shop-web&operation=Website.ChangeCustomerBalance&transactionId=demo-async-1' {maestra} -H 'Content-Type: application/json' -d '{{"customer":{{"ids":{{"webSiteUserId":"web-2"}}}},"balanceChanges":[{{"changeAmount":5}}]}}'
curl '{url}/admin/v1/async-operations?transactionId=demo-async-1' {admin}
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.IssuePromoCode' {maestra} -H 'Content-Type: application/xml' -d '<operation><customer><ids><webSiteUserId>web-1</webSiteUserId></ids></customer></operation>'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.RedeemPromoCode' {maestra} -H 'Content-Type: application/xml' -d '<operation><customer><ids><webSiteUserId>web-1</webSiteUserId></ids></customer><promoCode><ids><value>[value from IssuePromoCode]</value></ids></promoCode></operation>'
curl {url}/admin/v1/pools/WELCOME {admin}
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.CalculateCart' {maestra} -H 'Content-Type: application/json' -d '{_cart}'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.CreateOrder&transactionId=demo-order-1' {maestra} -H 'Content-Type: application/json' -d '{_cart}'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.ChangeOrderStatus&transactionId=demo-return-1' {maestra} -H 'Content-Type: application/json' -d '{{"order":{{"ids":{{"websiteId":"DEMO-1001"}},"lines":[{{"lineNumber":1,"quantity":1,"status":{{"ids":{{"externalId":"Returned"}}}}}}]}}}}'
curl -X POST '{url}/v3/operations/sync?endpointId=shop-web&operation=Website.GetCustomerOrders' {maestra} -H 'Content-Type: application/json' -d '{{"customer":{{"ids":{{"webSiteUserId":"web-1"}}}}}}'
"""
