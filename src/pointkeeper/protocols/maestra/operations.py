"""The operation kinds answered as one unit of work: each reads its request
into plain values (refusing bad ones with their location), and gives the
work that runs in one transaction and answers the result tree.

The streamed ``ExportBalanceChanges`` lives in ``export``.
"""

from __future__ import annotations

from typing import Any

from pointkeeper import limits
from pointkeeper.config import OperationConfig
from pointkeeper.domain.customers import Customer
from pointkeeper.domain.time import Instant
from pointkeeper.errors import InvalidRequest
from pointkeeper.services.accounts import Account, account, action_page, change_account
from pointkeeper.services.adjustments import BalanceChangeRequest
from pointkeeper.services.customers import edit_customer, register_customer
from pointkeeper.store.tx import ActionChangeRow, Tx

from .dates import format_date
from .fields import Fields
from .prepared import Kind, Prepared

__all__ = ["CUSTOMER_KINDS", "action_trees"]

_history_page_items_default = 100


def _customer_ids(customer: Customer) -> dict[str, Any]:
    return {
        "customerId": customer.id,
        "mindboxId": customer.id,
        "customerNumber": customer.customer_number,
        "webSiteUserId": customer.website_id,
    }


def _account_tree(shown: Account) -> dict[str, Any]:
    figures = shown.balances
    return {
        "customer": {"ids": _customer_ids(shown.customer)},
        "balances": [
            {
                "totalValue": figures.point_balance,
                "availableValue": figures.available,
                "blockedValue": figures.blocked,
                "balanceType": {
                    "ids": {"systemName": shown.balance_type},
                    "name": shown.balance_type,
                },
            }
        ],
    }


def _get_balance(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    kind, value = fields.customer("customer")

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        return _account_tree(account(tx, customer_kind=kind, customer_value=value, now=now))

    return Prepared(work, changes_state=False)


def action_trees(
    rows: list[ActionChangeRow],
    templates: dict[int, tuple[str, str]],
    points_of_contact: dict[int, str],
) -> list[dict[str, Any]]:
    """Customer actions in the export's shape (seed 000), from their changes."""
    actions: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for row in rows:
        if current is None or current["ids"]["customerActionId"] != row.action_id:
            system_name, name = templates[row.template_id]
            current = {
                "ids": {"customerActionId": row.action_id, "transactionId": row.transaction_id},
                "actionTemplate": {"systemName": system_name, "name": name},
                "dateTimeUtc": format_date(row.date_time_utc),
                "pointOfContact": None
                if row.point_of_contact_id is None
                else {"ids": {"externalId": points_of_contact[row.point_of_contact_id]}},
                "customer": {"ids": {"customerId": row.customer_id, "webSiteId": row.website_id}},
                "customerBalanceChanges": [],
            }
            actions.append(current)
        current["customerBalanceChanges"].append(
            {
                "changeAmount": row.change_amount,
                "expirationDateTimeUtc": None
                if row.expires_at is None
                else format_date(row.expires_at),
                "balanceChangeKind": {"systemName": row.kind},
            }
        )
    return actions


def _get_history(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    kind, value = fields.customer("customer")
    page = fields.child("page")
    if page is None:
        raise InvalidRequest("is required", field=fields.where("page"))
    given_since, till, number, per_page = page.paging(per_page_default=_history_page_items_default)
    since = 0 if given_since is None else given_since

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        page = action_page(
            tx,
            customer_kind=kind,
            customer_value=value,
            since=since,
            till=till,
            page_number=number,
            per_page=per_page,
            now=now,
        )
        return {
            "customerActionsCount": page.actions_total,
            "customerActions": action_trees(page.rows, page.templates, page.points_of_contact),
        }

    return Prepared(work, changes_state=False)


def _change_balance(
    fields: Fields, operation: OperationConfig, transaction_id: str | None
) -> Prepared:
    kind, value = fields.customer("customer")
    point_of_contact = fields.identifier("pointOfContact", "ids", "externalId")
    changes: list[BalanceChangeRequest] = []
    for change in fields.items(
        "balanceChanges", item="balanceChange", limit=limits.balance_changes_per_request_max
    ):
        # The ledger's bounds; zero is refused by the ledger, with its reason.
        amount = change.integer(
            "changeAmount",
            required=True,
            minimum=-limits.points_per_request_max,
            maximum=limits.points_per_request_max,
        )
        assert amount is not None
        changes.append(
            BalanceChangeRequest(
                change_amount=amount,
                comment=change.text("comment"),
                expires_at=change.date("expirationDateTimeUtc"),
                point_of_contact=point_of_contact,
                transaction_id=transaction_id,
            )
        )
    if not changes:
        raise InvalidRequest(
            "at least one balanceChange is required", field=fields.where("balanceChanges")
        )

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        # Actions made by an operation carry its name as their template.
        changed = change_account(
            tx,
            customer_kind=kind,
            customer_value=value,
            changes=changes,
            template=operation.name,
            now=now,
        )
        return _account_tree(changed)

    return Prepared(work, changes_state=True)


def _customer_values(customer: Fields, *, with_ids: bool) -> tuple[dict[str, Any], str | None]:
    """The customer's fields as the domain names them, and the program named.
    A registration takes its ids from ``customer/ids`` too; an edit finds the
    customer by them, and changes only what stands beside them."""
    values: dict[str, Any] = {}
    ids = customer.child("ids") if with_ids else None
    for wire_name, kind in (
        ("customerNumber", "customer_number"),
        ("webSiteUserId", "website_id"),
        ("webSiteId", "website_id"),
        ("email", "email"),
        ("mobilePhone", "mobile_phone"),
    ):
        for source in (ids, customer):
            if source is not None and source.has(wire_name):
                values[kind] = source.identifier(wire_name)
    for wire_name, name in (("firstName", "first_name"), ("lastName", "last_name")):
        if customer.has(wire_name):
            values[name] = customer.text(wire_name, chars_max=limits.id_chars_max)
    if customer.has("status"):
        values["status"] = customer.identifier("status")
    return values, customer.identifier("program")


def _register(fields: Fields, operation: OperationConfig, transaction_id: str | None) -> Prepared:
    customer = fields.child("customer")
    if customer is None:
        raise InvalidRequest("is required", field=fields.where("customer"))
    values, program = _customer_values(customer, with_ids=True)

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        created = register_customer(tx, fields=values, program=program, now=now)
        return {"customer": {"ids": _customer_ids(created)}}

    return Prepared(work, changes_state=True)


def _edit(fields: Fields, operation: OperationConfig, transaction_id: str | None) -> Prepared:
    kind, value = fields.customer("customer")
    customer = fields.child("customer")
    assert customer is not None
    values, program = _customer_values(customer, with_ids=False)

    def work(tx: Tx, now: Instant) -> dict[str, Any]:
        edited = edit_customer(tx, kind=kind, value=value, fields=values, program=program, now=now)
        return {"customer": {"ids": _customer_ids(edited)}}

    return Prepared(work, changes_state=True)


CUSTOMER_KINDS: dict[str, Kind] = {
    "GetCustomerBalance": _get_balance,
    "GetCustomerBalanceHistory": _get_history,
    "ChangeCustomerBalance": _change_balance,
    "RegisterCustomer": _register,
    "EditCustomer": _edit,
}
